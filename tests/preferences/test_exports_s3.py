"""With S3 storage the download URL is a presigned S3 URL (S3 faked by a moto server)."""

import io
import zipfile
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
from django.core.files.storage import default_storage

from apps.preferences.models import DataExport
from tests.live import free_port

pytestmark = pytest.mark.django_db

BUCKET = "colony-test-exports"


@pytest.fixture
def s3_storage(settings):
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
        Bucket=BUCKET
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "querystring_auth": True,
                "signature_version": "s3v4",
            },
        },
    }
    yield endpoint
    server.stop()


def test_ready_export_links_to_a_presigned_s3_url(
    s3_storage, user_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        export_id = user_client.post("/api/v1/account/exports/").json()["id"]
    export = DataExport.objects.get(pk=export_id)
    assert export.status == "ready"
    assert default_storage.exists(export.file.name)

    url = user_client.get(f"/api/v1/account/exports/{export_id}/").json()["download_url"]
    assert url.startswith(s3_storage)
    query = parse_qs(urlparse(url).query)
    assert "X-Amz-Signature" in query
    assert 0 < int(query["X-Amz-Expires"][0]) <= 7 * 24 * 3600

    response = httpx.get(url)
    assert response.status_code == 200
    assert "profile.json" in zipfile.ZipFile(io.BytesIO(response.content)).namelist()
