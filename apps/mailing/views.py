"""Browser page behind the unsubscribe link in every campaign (GET shows, only POST acts)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.views.decorators.http import require_http_methods

from . import services


@require_http_methods(["GET", "POST"])
def unsubscribe_page(request: HttpRequest, token: str) -> HttpResponse:
    """Link scanners prefetch GETs, so a GET only shows the confirm button; the POST unsubscribes."""
    row = services.token_row(token=token)
    done = False
    if request.method == "POST" and row is not None:
        services.unsubscribe(token=token)
        done = True
    return TemplateResponse(
        request,
        "mailing/unsubscribe.html",
        {"row": row, "done": done or bool(row and row.used_at), "network": row.network if row else None},
    )
