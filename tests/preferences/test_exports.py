"""Data exports: request → Celery build (eager here) → zip in storage → authenticated download."""

import io
import json
import zipfile
from datetime import timedelta

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from apps.organizations.models import Organization, OrganizationMember
from apps.preferences import services
from apps.preferences.models import DataExport, UserSettings
from apps.preferences.services import exports as export_services
from tests.accounts.factories import UserFactory
from tests.preferences.factories import DataExportFactory, LoginHistoryFactory
from tests.preferences.helpers import logged_in_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]

URL = "/api/v1/account/exports/"


@pytest.fixture
def build(django_capture_on_commit_callbacks):
    """POST an export and run the enqueued build (eager Celery) on commit."""

    def run(client):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(URL)

    return run


def _zip(export: DataExport) -> zipfile.ZipFile:
    with default_storage.open(export.file.name, "rb") as fh:
        return zipfile.ZipFile(io.BytesIO(fh.read()))


def test_export_builds_a_zip_of_json_sections(build, user_client, user, network):
    UserSettings.objects.create(network=network, user=user, timezone="Asia/Tokyo")
    LoginHistoryFactory.create_batch(3, user=user)
    org = Organization.objects.create(network=network, name="Acme", slug="acme")
    OrganizationMember.objects.create(network=network, organization=org, user=user, role="admin")
    response = build(user_client)
    assert response.status_code == 201
    assert response.json()["status"] == "queued"
    export = DataExport.objects.get(pk=response.json()["id"])
    assert (export.status, export.progress, export.network_id) == ("ready", 100, user.network_id)
    archive = _zip(export)
    assert set(archive.namelist()) == {
        "manifest.json",
        "profile.json",
        "settings.json",
        "preferences.json",
        "login_history.json",
        "organization_memberships.json",
        "sessions.json",
    }
    profile = json.loads(archive.read("profile.json"))
    assert (profile["email"], profile["handle"]) == (user.email, user.handle)
    assert json.loads(archive.read("settings.json"))["timezone"] == "Asia/Tokyo"
    assert json.loads(archive.read("preferences.json")) is None
    assert len(json.loads(archive.read("login_history.json"))) >= 3
    memberships = json.loads(archive.read("organization_memberships.json"))
    assert memberships == [
        {
            "organization": {"id": str(org.pk), "name": "Acme", "slug": "acme"},
            "role": "admin",
            "status": "active",
            "joined_at": None,
        }
    ]
    assert json.loads(archive.read("sessions.json"))  # the session of user_client's login
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["sections"][0] == "profile" and manifest["export_id"] == str(export.pk)


def test_ready_export_offers_a_download_valid_for_the_ttl(build, user_client, user, settings):
    export_id = build(user_client).json()["id"]
    body = user_client.get(f"{URL}{export_id}/").json()
    assert body["status"] == "ready"
    assert body["progress"] == 100
    assert body["download_url"] == f"http://testserver{URL}{export_id}/download/"
    expires = DataExport.objects.get(pk=export_id).expires_at
    assert timedelta(days=settings.DATA_EXPORT_TTL_DAYS) - (expires - timezone.now()) < timedelta(minutes=1)
    download = user_client.get(body["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"] == "application/zip"
    assert "attachment" in download["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content)))
    assert "profile.json" in archive.namelist()
    strict = user_client.get(body["download_url"], HTTP_ACCEPT="application/zip")
    assert strict.status_code == 200


def test_progress_moves_forward_while_building(build, user_client):
    seen = []

    def probe(user):
        seen.append(DataExport.objects.get(user=user).progress)
        return {"probe": True}

    export_services.register_export_section("zz_probe")(probe)
    try:
        export_id = build(user_client).json()["id"]
    finally:
        export_services._SECTIONS[:] = [s for s in export_services._SECTIONS if s[0] != "zz_probe"]
    assert 0 < seen[0] < 100
    assert "zz_probe.json" in _zip(DataExport.objects.get(pk=export_id)).namelist()


def test_second_export_while_one_is_in_flight_is_409(user_client, user):
    assert user_client.post(URL).status_code == 201  # not built: on_commit callbacks not run
    response = user_client.post(URL)
    assert response.status_code == 409
    assert response.json()["code"] == "export_in_progress"
    assert DataExport.objects.filter(user=user).count() == 1


def test_more_than_five_exports_a_day_is_429(build, user_client, user):
    for _ in range(5):
        assert build(user_client).status_code == 201
    response = user_client.post(URL)
    assert response.status_code == 429
    assert response["Retry-After"]


def test_failing_section_marks_the_export_failed(build, user_client):
    def broken(user):
        raise OSError("disk full")

    export_services.register_export_section("zz_broken")(broken)
    try:
        export_id = build(user_client).json()["id"]
    finally:
        export_services._SECTIONS[:] = [s for s in export_services._SECTIONS if s[0] != "zz_broken"]
    export = DataExport.objects.get(pk=export_id)
    assert export.status == "failed"
    assert "disk full" in export.error
    body = user_client.get(f"{URL}{export_id}/").json()
    assert body["download_url"] is None
    assert "disk full" not in body["error"]
    assert user_client.get(f"{URL}{export_id}/download/").status_code == 404
    assert user_client.post(URL).status_code == 201  # a failed export does not block a new one


def test_building_twice_is_harmless(build, user_client):
    export_id = build(user_client).json()["id"]
    first = DataExport.objects.get(pk=export_id)
    assert services.build_export(export_id=export_id) is None
    again = DataExport.objects.get(pk=export_id)
    assert (again.status, again.file.name, again.expires_at) == ("ready", first.file.name, first.expires_at)


def test_expired_export_is_gone(build, user_client):
    export_id = build(user_client).json()["id"]
    name = DataExport.objects.get(pk=export_id).file.name
    DataExport.objects.filter(pk=export_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert user_client.get(f"{URL}{export_id}/").json()["download_url"] is None
    assert user_client.get(f"{URL}{export_id}/download/").status_code == 410
    assert services.expire_exports() == 1
    export = DataExport.objects.get(pk=export_id)
    assert (export.status, export.file.name or None) == ("expired", None)
    assert not default_storage.exists(name)
    assert user_client.get(f"{URL}{export_id}/download/").status_code == 410
    assert services.expire_exports() == 0


def test_stuck_export_is_failed_by_the_expiry_job(user_client, user):
    export_id = user_client.post(URL).json()["id"]
    DataExport.objects.filter(pk=export_id).update(updated_at=timezone.now() - timedelta(days=1))
    services.expire_exports()
    assert DataExport.objects.get(pk=export_id).status == "failed"


def test_exports_of_others_are_404(build, user_client, network):
    other = UserFactory(network=network)
    other_client, _ = logged_in_client(other)
    theirs = build(other_client).json()["id"]
    assert user_client.get(f"{URL}{theirs}/").status_code == 404
    assert user_client.get(f"{URL}{theirs}/download/").status_code == 404
    assert theirs not in [row["id"] for row in user_client.get(URL).json()["results"]]


def test_list_is_own_newest_first_in_constant_queries(user_client, user, django_assert_max_num_queries):
    rows = DataExportFactory.create_batch(6, user=user)
    DataExportFactory(user=UserFactory(network=user.network))
    with django_assert_max_num_queries(8):
        response = user_client.get(URL)
    assert [row["id"] for row in response.json()["results"]] == [str(r.pk) for r in reversed(rows)]


def test_fields_in_the_body_are_400_and_create_nothing(user_client, user):
    response = user_client.post(URL, {"status": "ready", "progress": 100}, format="json")
    assert response.status_code == 400
    assert set(response.json()) >= {"status", "progress"}
    assert not DataExport.objects.filter(user=user).exists()
    assert user_client.post(URL, {}, format="json").status_code == 201


def test_anonymous_is_refused(api_client):
    assert api_client.post(URL).status_code in (401, 403)
    assert api_client.get(URL).status_code in (401, 403)


def test_file_missing_from_storage_is_410_not_500(build, user_client):
    export_id = build(user_client).json()["id"]
    default_storage.delete(DataExport.objects.get(pk=export_id).file.name)
    response = user_client.get(f"{URL}{export_id}/download/")
    assert response.status_code == 410
    assert response.json()["code"] == "export_expired"
