"""Infrastructure providers: ``provision``, ``destroy`` and ``refresh`` behind one interface.

``get_provider(resource)`` picks the implementation from the row's ``provider``
column. Real ones: ``s3`` (buckets, boto3) and ``postgres`` (databases,
psycopg). Sandboxes and deployments use ``external``: an outside system that
is told what to do (optional signed HTTP call) and reports back by webhook.
"""

from __future__ import annotations

from typing import Any

from .base import Provider, ProviderError, ProviderUnavailable
from .external import ExternalProvider
from .postgres import PostgresProvider
from .s3 import S3Provider

__all__ = ["Provider", "ProviderError", "ProviderUnavailable", "get_provider", "PROVIDERS"]

PROVIDERS: dict[str, type[Provider]] = {
    S3Provider.name: S3Provider,
    PostgresProvider.name: PostgresProvider,
    ExternalProvider.name: ExternalProvider,
}


def get_provider(resource: Any) -> Provider:
    try:
        return PROVIDERS[resource.provider]()
    except KeyError:
        raise ProviderUnavailable(f"Unknown provider {resource.provider!r}.") from None
