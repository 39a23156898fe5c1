from rest_framework import pagination


class CursorPagination(pagination.CursorPagination):
    """Time-ordered lists: UUIDv7 ids order by creation, so ``-id`` is newest first."""

    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"
    ordering = "-id"


class AscendingCursorPagination(CursorPagination):
    ordering = "id"
