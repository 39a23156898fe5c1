import base64
import json
from uuid import UUID

from django.db.models import Q
from rest_framework import pagination
from rest_framework.exceptions import NotFound as DRFNotFound
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


class CursorPagination(pagination.CursorPagination):
    """Time-ordered lists: UUIDv7 ids order by creation, so ``-id`` is newest first."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = "-id"


class AscendingCursorPagination(CursorPagination):
    ordering = "id"


class KeysetPagination(pagination.BasePagination):
    """Keyset ("seek") pages over any ordering that ends in the unique ``id``.

    The view orders the queryset (``("-hot_rank", "-id")``, ``("-rank", "-id")`` for an
    annotated search rank, ``("id",)`` for a thread); every key has the same
    direction. The opaque cursor holds the last row's key values, and the next page
    is ``WHERE first <= v AND (first < v OR id < last_id)`` (mirrored ascending): the
    first key bounds the index scan, so a deep page costs what the first one does.
    Only forward links (``next``); feeds are read forwards.
    """

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    cursor_query_param = "cursor"
    invalid_cursor_message = "Invalid cursor"

    def paginate_queryset(self, queryset, request, view=None):  # type: ignore[override]
        self.request = request
        self.page_size_now = self._page_size(request)
        ordering = [str(o) for o in queryset.query.order_by]
        if not ordering or ordering[-1].lstrip("-") not in ("id", "pk"):
            raise TypeError("KeysetPagination needs an ordering that ends in id")
        descending = ordering[0].startswith("-")
        if any(o.startswith("-") != descending for o in ordering):
            raise TypeError("KeysetPagination needs every key in the same direction")
        self.keys = [o.lstrip("-") for o in ordering]
        if len(self.keys) > 2:
            raise TypeError("KeysetPagination orders by at most one key before id")
        raw = request.query_params.get(self.cursor_query_param)
        if raw:
            try:
                values = json.loads(base64.urlsafe_b64decode(raw.encode() + b"=" * (-len(raw) % 4)))
                if not isinstance(values, list) or len(values) != len(self.keys):
                    raise ValueError
                values[-1] = UUID(values[-1])
            except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise DRFNotFound(self.invalid_cursor_message) from exc
            op, eq = ("lt", "lte") if descending else ("gt", "gte")
            if len(self.keys) == 1:
                queryset = queryset.filter(**{f"id__{op}": values[0]})
            else:
                first, value = self.keys[0], values[0]
                queryset = queryset.filter(**{f"{first}__{eq}": value}).filter(
                    Q(**{f"{first}__{op}": value}) | Q(**{f"id__{op}": values[-1]})
                )
        rows = list(queryset[: self.page_size_now + 1])
        self.has_next = len(rows) > self.page_size_now
        self.page = rows[: self.page_size_now]
        return self.page

    def _page_size(self, request) -> int:
        try:
            size = int(request.query_params.get(self.page_size_query_param, self.page_size))
        except (TypeError, ValueError):
            return self.page_size
        return max(1, min(size, self.max_page_size))

    def _cursor(self, row) -> str:
        values = [getattr(row, key) for key in self.keys]
        values[-1] = str(values[-1])
        packed = json.dumps(values, default=str).encode()
        return base64.urlsafe_b64encode(packed).decode().rstrip("=")

    def get_next_link(self) -> str | None:
        if not self.has_next or not self.page:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self._cursor(self.page[-1]))

    def get_paginated_response(self, data):
        return Response({"next": self.get_next_link(), "previous": None, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return [
            {"name": self.cursor_query_param, "required": False, "in": "query", "schema": {"type": "string"},
             "description": "The `next` link's cursor."},
            {"name": self.page_size_query_param, "required": False, "in": "query",
             "schema": {"type": "integer", "minimum": 1, "maximum": self.max_page_size}},
        ]  # fmt: skip
