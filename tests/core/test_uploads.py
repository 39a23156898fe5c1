"""Uploads (apps/core/uploads.py): sniffed types, limits, EXIF stripped, two-step, purge."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from apps.core import uploads
from apps.core.exceptions import ValidationFailed
from apps.core.models import Upload
from tests.accounts.factories import UserFactory

from .uploads_helpers import EXE, HTML, PDF, jpeg_with_exif, png

pytestmark = pytest.mark.django_db


def _post_file(client, data: bytes, name: str, **extra):
    return client.post(
        "/api/v1/uploads/", {"file": SimpleUploadedFile(name, data), **extra}, format="multipart"
    )


def test_image_upload_is_ready_measured_and_stripped_of_exif(user_client, user):
    response = _post_file(user_client, jpeg_with_exif((64, 32)), "holiday.jpg")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["kind"], body["mime"]) == ("ready", "image", "image/jpeg")
    assert (body["width"], body["height"]) == (64, 32)
    upload = Upload.objects.get(pk=body["id"])
    assert upload.uploader == user and upload.network_id == user.network_id
    with default_storage.open(upload.file.name, "rb") as handle:
        stored = Image.open(io.BytesIO(handle.read()))
        assert not stored.getexif()
    assert upload.file.name.endswith(".jpg") and "holiday" not in upload.file.name


def test_exif_orientation_is_applied_before_it_is_dropped(user):
    upload = uploads.ingest_upload(
        actor=user, fileobj=io.BytesIO(jpeg_with_exif((64, 32), orientation=6)), filename="r.jpg"
    )
    assert (upload.width, upload.height) == (32, 64)


def test_type_comes_from_the_bytes_not_the_name(user_client):
    response = _post_file(user_client, png(), "notes.pdf")
    assert response.status_code == 201
    assert response.json()["mime"] == "image/png"


@pytest.mark.parametrize("data,name", [(EXE, "setup.jpg"), (HTML, "page.txt")])
def test_disallowed_content_is_a_400_and_nothing_is_stored(user_client, data, name):
    response = _post_file(user_client, data, name)
    assert response.status_code == 400
    assert response.json()["code"] in ("type_not_allowed",)
    assert "file" in response.json()
    assert not Upload.objects.exists()


def test_plain_utf8_text_is_a_file(user_client):
    response = _post_file(user_client, "héllo wörld\n".encode(), "a.txt")
    assert response.status_code == 201
    assert response.json()["mime"] == "text/plain"


def test_declared_kind_must_match_the_content(user_client):
    response = _post_file(user_client, PDF, "doc.pdf", kind="image")
    assert response.status_code == 400
    assert response.json()["code"] == "type_mismatch"


def test_oversized_upload_is_refused_per_kind(user_client, settings):
    settings.UPLOAD_MAX_BYTES = {**settings.UPLOAD_MAX_BYTES, "file": 20}
    response = _post_file(user_client, PDF, "doc.pdf")
    assert response.status_code == 400
    assert response.json()["code"] == "too_large"
    assert not Upload.objects.exists()


def test_image_with_too_many_pixels_is_refused(user, settings):
    settings.UPLOAD_MAX_IMAGE_PIXELS = 100
    with pytest.raises(ValidationFailed) as exc:
        uploads.ingest_upload(actor=user, fileobj=io.BytesIO(png((20, 20))), filename="big.png")
    assert exc.value.code == "image_too_large"


def test_corrupt_image_is_refused(user):
    data = png()[:40]
    with pytest.raises(ValidationFailed) as exc:
        uploads.ingest_upload(actor=user, fileobj=io.BytesIO(data), filename="x.png")
    assert exc.value.code == "image_unreadable"


def test_two_step_upload_with_local_storage_completes_with_the_file(user_client):
    start = user_client.post(
        "/api/v1/uploads/", {"kind": "file", "mime": "application/pdf", "size_bytes": len(PDF)}
    )
    assert start.status_code == 201, start.json()
    body = start.json()
    assert body["status"] == "pending" and body["presigned_post"] is None
    missing = user_client.post(f"/api/v1/uploads/{body['id']}/complete/", {}, format="multipart")
    assert missing.status_code == 400
    done = user_client.post(
        f"/api/v1/uploads/{body['id']}/complete/",
        {"file": SimpleUploadedFile("d.pdf", PDF)},
        format="multipart",
    )
    assert done.status_code == 200, done.json()
    assert done.json()["status"] == "ready" and done.json()["url"]
    again = user_client.post(
        f"/api/v1/uploads/{body['id']}/complete/",
        {"file": SimpleUploadedFile("d.pdf", PDF)},
        format="multipart",
    )
    assert again.status_code == 409


def test_two_step_content_not_matching_the_declared_type_is_rejected(user_client):
    start = user_client.post(
        "/api/v1/uploads/", {"kind": "image", "mime": "image/png", "size_bytes": 100}
    ).json()
    done = user_client.post(
        f"/api/v1/uploads/{start['id']}/complete/",
        {"file": SimpleUploadedFile("d.png", jpeg_with_exif())},
        format="multipart",
    )
    assert done.status_code == 400
    assert done.json()["upload"]["status"] == "rejected"
    upload = Upload.objects.get(pk=start["id"])
    assert upload.status == "rejected" and not upload.file.name


@pytest.mark.parametrize(
    "body,field",
    [
        ({"kind": "image", "mime": "text/html", "size_bytes": 10}, "mime"),
        ({"kind": "video", "mime": "video/mp4", "size_bytes": 10**12}, "size_bytes"),
        ({"kind": "sticker", "mime": "image/png", "size_bytes": 10}, "kind"),
        ({"kind": "image", "mime": "image/png", "size_bytes": 0}, "size_bytes"),
    ],
)
def test_bad_two_step_starts_are_400_with_the_field(user_client, body, field):
    response = user_client.post("/api/v1/uploads/", body)
    assert response.status_code == 400
    assert field in response.json()
    assert not Upload.objects.exists()


def test_someone_elses_upload_is_404(user_client, network):
    stranger = UserFactory(network=network)
    upload = uploads.ingest_upload(actor=stranger, fileobj=io.BytesIO(PDF), filename="a.pdf")
    assert user_client.get(f"/api/v1/uploads/{upload.pk}/").status_code == 404


def test_consume_uploads_attaches_once_and_only_the_uploaders(user, network):
    upload = uploads.ingest_upload(actor=user, fileobj=io.BytesIO(PDF), filename="a.pdf")
    stranger = UserFactory(network=network)
    with pytest.raises(ValidationFailed):
        uploads.consume_uploads(actor=stranger, uploads=[upload])
    with pytest.raises(ValidationFailed):
        uploads.consume_uploads(actor=user, uploads=[upload], kinds=["image"])
    uploads.consume_uploads(actor=user, uploads=[upload], kinds=["file"])
    with pytest.raises(ValidationFailed):
        uploads.consume_uploads(actor=user, uploads=[upload])
    upload.refresh_from_db()
    assert upload.consumed_at is not None and upload.expires_at is None


def test_purge_removes_stale_pending_and_unattached_uploads_but_keeps_attached(user):
    stale = uploads.start_upload(actor=user, kind="file", mime="application/pdf", size_bytes=10)
    unattached = uploads.ingest_upload(actor=user, fileobj=io.BytesIO(PDF), filename="a.pdf")
    attached = uploads.ingest_upload(actor=user, fileobj=io.BytesIO(PDF), filename="b.pdf")
    uploads.consume_uploads(actor=user, uploads=[attached])
    fresh = uploads.start_upload(actor=user, kind="file", mime="application/pdf", size_bytes=10)
    name = unattached.file.name
    later = timezone.now() + timedelta(hours=25)
    Upload.objects.filter(pk=fresh.pk).update(expires_at=later + timedelta(hours=1))
    from apps.core.tasks import purge_stale_uploads

    assert purge_stale_uploads.delay().get() == 0  # the task wraps the service; nothing stale yet
    assert uploads.purge_stale_uploads(now=later) == 2
    assert set(Upload.objects.values_list("pk", flat=True)) == {attached.pk, fresh.pk}
    assert not default_storage.exists(name)
    assert stale.pk not in set(Upload.objects.values_list("pk", flat=True))


def test_upload_rate_limit_comes_from_network_settings(user_client, network):
    network.settings = {"rate_limits": {"uploads": "2/h"}}
    network.save()
    assert _post_file(user_client, PDF, "a.pdf").status_code == 201
    assert _post_file(user_client, PDF, "b.pdf").status_code == 201
    response = _post_file(user_client, PDF, "c.pdf")
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
