"""Storage buckets in any S3-compatible store (AWS, moto, Ceph…) through boto3.

Each bucket gets its own IAM user whose inline policy reaches only that
bucket; its access key is what the row stores (encrypted) and what sandboxes
and deployments receive. The platform's own credentials
(``PROJECT_STORAGE_*``) are used only to create and delete.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings

from .base import Provider, ProviderError

_BOTO_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"})
_DELETE_BATCH = 1000


def client(service: str, *, access_key_id: str | None = None, secret_access_key: str | None = None) -> Any:
    return boto3.client(
        service,
        endpoint_url=settings.PROJECT_STORAGE_ENDPOINT_URL,
        region_name=settings.PROJECT_STORAGE_REGION,
        aws_access_key_id=access_key_id or settings.PROJECT_STORAGE_ACCESS_KEY_ID or None,
        aws_secret_access_key=secret_access_key or settings.PROJECT_STORAGE_SECRET_ACCESS_KEY or None,
        config=_BOTO_CONFIG,
    )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def iam_user_name(bucket_name: str) -> str:
    return bucket_name[:64]


def _bucket_policy(bucket_name: str) -> dict[str, Any]:
    arn = f"arn:aws:s3:::{bucket_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
                "Resource": [arn],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{arn}/*"],
            },
        ],
    }


def _public_read_policy(bucket_name: str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PublicRead",
                "Effect": "Allow",
                "Principal": "*",
                "Action": ["s3:GetObject"],
                "Resource": [f"arn:aws:s3:::{bucket_name}/*"],
            }
        ],
    }


class S3Provider(Provider):
    name = "s3"

    def provision(self, resource: Any) -> dict[str, Any]:
        bucket_name = resource.bucket_name
        s3 = client("s3")
        try:
            kwargs: dict[str, Any] = {"Bucket": bucket_name}
            region = settings.PROJECT_STORAGE_REGION
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            try:
                s3.create_bucket(**kwargs)
            except ClientError as exc:
                if _code(exc) != "BucketAlreadyOwnedByYou":
                    raise
            if resource.public_read:
                s3.put_bucket_policy(Bucket=bucket_name, Policy=json.dumps(_public_read_policy(bucket_name)))
            access_key_id, secret_access_key = self._issue_credentials(bucket_name)
        except ClientError as exc:
            raise ProviderError(f"S3 refused: {_code(exc) or 'error'}") from exc
        except BotoCoreError as exc:
            raise ProviderError(f"S3 unreachable: {type(exc).__name__}") from exc
        return {
            "provider_ref": iam_user_name(bucket_name),
            "access_key_id": access_key_id,
            "secret_access_key": secret_access_key,
            "region": settings.PROJECT_STORAGE_REGION,
            "endpoint_url": settings.PROJECT_STORAGE_ENDPOINT_URL,
        }

    def _issue_credentials(self, bucket_name: str) -> tuple[str, str]:
        iam = client("iam")
        user_name = iam_user_name(bucket_name)
        try:
            iam.create_user(UserName=user_name, Tags=[{"Key": "colony:bucket", "Value": bucket_name}])
        except ClientError as exc:
            if _code(exc) != "EntityAlreadyExists":
                raise
        iam.put_user_policy(
            UserName=user_name,
            PolicyName="bucket-access",
            PolicyDocument=json.dumps(_bucket_policy(bucket_name)),
        )
        # a retried provisioning replaces the key it may have issued before
        for key in iam.list_access_keys(UserName=user_name).get("AccessKeyMetadata", []):
            iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
        created = iam.create_access_key(UserName=user_name)["AccessKey"]
        return created["AccessKeyId"], created["SecretAccessKey"]

    def destroy(self, resource: Any) -> None:
        bucket_name = resource.bucket_name
        try:
            self._empty_and_delete(bucket_name)
            self._delete_user(iam_user_name(bucket_name))
        except ClientError as exc:
            raise ProviderError(f"S3 refused: {_code(exc) or 'error'}") from exc
        except BotoCoreError as exc:
            raise ProviderError(f"S3 unreachable: {type(exc).__name__}") from exc

    def _empty_and_delete(self, bucket_name: str) -> None:
        s3 = client("s3")
        try:
            paginator = s3.get_paginator("list_object_versions")
            for page in paginator.paginate(Bucket=bucket_name):
                items = [
                    {"Key": item["Key"], "VersionId": item["VersionId"]}
                    for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                ]
                for start in range(0, len(items), _DELETE_BATCH):
                    s3.delete_objects(
                        Bucket=bucket_name,
                        Delete={"Objects": items[start : start + _DELETE_BATCH], "Quiet": True},
                    )
            s3.delete_bucket(Bucket=bucket_name)
        except ClientError as exc:
            if _code(exc) != "NoSuchBucket":
                raise

    def _delete_user(self, user_name: str) -> None:
        iam = client("iam")
        try:
            for key in iam.list_access_keys(UserName=user_name).get("AccessKeyMetadata", []):
                iam.delete_access_key(UserName=user_name, AccessKeyId=key["AccessKeyId"])
            for policy in iam.list_user_policies(UserName=user_name).get("PolicyNames", []):
                iam.delete_user_policy(UserName=user_name, PolicyName=policy)
            iam.delete_user(UserName=user_name)
        except ClientError as exc:
            if _code(exc) != "NoSuchEntity":
                raise

    def refresh(self, resource: Any) -> dict[str, Any]:
        size = count = 0
        try:
            paginator = client("s3").get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=resource.bucket_name):
                for item in page.get("Contents", []):
                    size += int(item.get("Size", 0))
                    count += 1
        except ClientError as exc:
            raise ProviderError(f"S3 refused: {_code(exc) or 'error'}") from exc
        except BotoCoreError as exc:
            raise ProviderError(f"S3 unreachable: {type(exc).__name__}") from exc
        return {"size_bytes": size, "object_count": count}

    def list_objects(self, resource: Any, *, prefix: str = "", limit: int = 1000) -> list[dict[str, Any]]:
        """Up to ``limit`` objects (key, size, last_modified) of the bucket."""
        try:
            response = client("s3").list_objects_v2(
                Bucket=resource.bucket_name, Prefix=prefix, MaxKeys=max(1, min(limit, 1000))
            )
        except ClientError as exc:
            raise ProviderError(f"S3 refused: {_code(exc) or 'error'}") from exc
        except BotoCoreError as exc:
            raise ProviderError(f"S3 unreachable: {type(exc).__name__}") from exc
        return [
            {"key": item["Key"], "size": int(item.get("Size", 0)), "last_modified": item.get("LastModified")}
            for item in response.get("Contents", [])
        ]
