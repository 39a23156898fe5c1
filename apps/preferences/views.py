"""Browser page for the email-change link (link scanners only GET: confirming needs the POST)."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from apps.accounts.selectors import session_passed_mfa
from apps.core.exceptions import DomainError

from . import services
from .services.email_change import change_for_token


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def email_change_confirm_page(request: HttpRequest, token: str) -> HttpResponse:
    if not session_passed_mfa(request.user, request.session):  # same rule as the API's 2FA gate
        return redirect_to_login(request.get_full_path())
    change = change_for_token(user=request.user, token=token)
    if change is None:  # unknown, or another account's: the same 404
        raise Http404("Unknown link.")
    context = {"change": change, "error": None, "done": False}
    if change.confirmed_at:
        context["error"] = "This link was already used."
    elif change.cancelled_at:
        context["error"] = "This change was cancelled."
    elif change.expires_at <= timezone.now():
        context["error"] = "This link has expired; request the change again."
    elif request.method == "POST":
        try:
            services.confirm_email_change(
                actor=request.user, token=token, current_session_key=request.session.session_key
            )
        except DomainError as exc:
            context["error"] = exc.message
        else:
            context["done"] = True
    status = 400 if context["error"] else 200
    return render(request, "preferences/email_change_confirm.html", context, status=status)
