"""Storage buckets against a real S3 API (moto server): create → ready, objects, usage, delete."""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError

from apps.projects import services
from apps.projects.models import StorageBucket
from apps.projects.providers.s3 import S3Provider, iam_user_name

from .conftest import s3_admin
from .factories import ProjectFactory

pytestmark = pytest.mark.django_db


def _create(client, project, django_capture_on_commit_callbacks, **body):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/projects/{project.pk}/storage-buckets/", {"name": "assets", **body}, format="json"
        )
    assert response.status_code == 202, response.json()
    return StorageBucket.objects.get(pk=response.json()["id"])


def _bucket_client(endpoint: str, bucket: StorageBucket):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=bucket.access_key_id,
        aws_secret_access_key=bucket.secret_access_key,
    )


def test_bucket_is_created_in_s3_with_its_own_encrypted_credentials(
    moto_s3, user, user_client, django_capture_on_commit_callbacks
):
    project = ProjectFactory(owner_user=user)
    bucket = _create(user_client, project, django_capture_on_commit_callbacks)
    assert bucket.status == "ready", bucket.status_detail
    assert bucket.bucket_name.startswith("colony-test-assets-") and len(bucket.bucket_name) <= 63
    assert bucket.endpoint_url == moto_s3
    names = [b["Name"] for b in s3_admin(moto_s3).list_buckets()["Buckets"]]
    assert bucket.bucket_name in names
    # the stored key is the bucket's own IAM user, not the platform's
    assert bucket.access_key_id and bucket.access_key_id != "platform-key"
    keys = s3_admin(moto_s3, "iam").list_access_keys(UserName=iam_user_name(bucket.bucket_name))
    assert [k["AccessKeyId"] for k in keys["AccessKeyMetadata"]] == [bucket.access_key_id]
    raw = StorageBucket._meta.get_field("secret_access_key").raw_ciphertext(
        StorageBucket.objects.get(pk=bucket.pk)
    )
    assert raw and bucket.secret_access_key.encode() not in raw

    body = user_client.get(f"/api/v1/storage-buckets/{bucket.pk}/").json()
    assert body["status"] == "ready"
    assert "secret_access_key" not in body and "access_key_id" not in body
    assert bucket.secret_access_key not in str(body) and bucket.access_key_id not in str(body)
    assert body["secret_access_key_hint"] == f"…{bucket.secret_access_key[-4:]}"


def test_objects_are_listed_and_usage_refreshed_by_the_hourly_job(
    moto_s3, user, user_client, django_capture_on_commit_callbacks
):
    from apps.projects.tasks import refresh_bucket_usage

    bucket = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    s3 = _bucket_client(moto_s3, bucket)
    s3.put_object(Bucket=bucket.bucket_name, Key="a.txt", Body=b"hello")
    s3.put_object(Bucket=bucket.bucket_name, Key="img/b.bin", Body=b"x" * 1000)

    objects = services.list_bucket_objects(bucket=bucket)
    assert sorted((o["key"], o["size"]) for o in objects) == [("a.txt", 5), ("img/b.bin", 1000)]
    assert [o["key"] for o in services.list_bucket_objects(bucket=bucket, prefix="img/")] == ["img/b.bin"]

    assert refresh_bucket_usage.delay().get() == 1
    bucket.refresh_from_db()
    assert (bucket.size_bytes, bucket.object_count) == (1005, 2)
    assert bucket.usage_refreshed_at is not None


def test_delete_empties_and_removes_the_bucket_and_its_user(
    moto_s3, user, user_client, django_capture_on_commit_callbacks
):
    bucket = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    _bucket_client(moto_s3, bucket).put_object(Bucket=bucket.bucket_name, Key="k", Body=b"v")
    with django_capture_on_commit_callbacks(execute=True):
        response = user_client.delete(f"/api/v1/storage-buckets/{bucket.pk}/")
    assert response.status_code == 202 and response.json()["status"] == "deleting"
    bucket.refresh_from_db()
    assert bucket.status == "deleted"
    assert bucket.access_key_id is None and bucket.secret_access_key_hint == ""
    with pytest.raises(ClientError):
        s3_admin(moto_s3).head_bucket(Bucket=bucket.bucket_name)
    with pytest.raises(ClientError):
        s3_admin(moto_s3, "iam").get_user(UserName=iam_user_name(bucket.bucket_name))
    # deleting again is a state conflict, and destroying twice at the provider is harmless
    assert user_client.delete(f"/api/v1/storage-buckets/{bucket.pk}/").status_code == 409
    S3Provider().destroy(bucket)


def test_public_read_bucket_gets_a_public_policy(
    moto_s3, user, user_client, django_capture_on_commit_callbacks
):
    bucket = _create(
        user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks, public_read=True
    )
    policy = s3_admin(moto_s3).get_bucket_policy(Bucket=bucket.bucket_name)["Policy"]
    assert '"Principal": "*"' in policy or '"Principal":"*"' in policy


def test_provisioning_twice_is_idempotent(moto_s3, user, user_client, django_capture_on_commit_callbacks):
    bucket = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    from apps.projects.tasks import provision_resource

    assert provision_resource.delay("storagebucket", str(bucket.pk)).get() == "skipped"
    result = S3Provider().provision(bucket)  # a redelivered provider call replaces the key
    keys = s3_admin(moto_s3, "iam").list_access_keys(UserName=iam_user_name(bucket.bucket_name))
    assert [k["AccessKeyId"] for k in keys["AccessKeyMetadata"]] == [result["access_key_id"]]


def test_an_unreachable_store_fails_the_bucket(
    settings, user, user_client, django_capture_on_commit_callbacks
):
    from tests.live import free_port

    settings.PROJECT_STORAGE_ENDPOINT_URL = f"http://127.0.0.1:{free_port()}"
    settings.PROJECT_STORAGE_ACCESS_KEY_ID = "k"
    settings.PROJECT_STORAGE_SECRET_ACCESS_KEY = "s"
    bucket = _create(user_client, ProjectFactory(owner_user=user), django_capture_on_commit_callbacks)
    assert bucket.status == "failed"
    assert "unreachable" in bucket.status_detail
