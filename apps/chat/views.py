"""``/chat/``: the web chat page (plain JavaScript over the REST API and ``/ws/``)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie


@login_required
@ensure_csrf_cookie
def chat_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    context = {
        "chat_config": {
            "userId": str(user.pk),
            "handle": user.handle,
            "displayName": user.display_name,
            "maxChars": settings.CHAT_MESSAGE_MAX_CHARS,
            "typingInterval": settings.CHAT_TYPING_INTERVAL_SECONDS,
        }
    }
    return render(request, "chat/index.html", context)
