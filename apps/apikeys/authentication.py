"""``Authorization: Bearer col_<prefix>_<secret>`` (implemented with the API keys issue)."""

from __future__ import annotations

from rest_framework import authentication


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        return None

    def authenticate_header(self, request) -> str:
        return self.keyword
