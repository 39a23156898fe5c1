"""Browser page behind the invitation link (link scanners only GET: joining needs the POST)."""

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
from .audit import audit_context


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    if not session_passed_mfa(request.user, request.session):  # the API's 2FA gate, for pages
        return redirect_to_login(request.get_full_path())
    invitation = services.invitation_for_token(token=token, network_id=request.user.network_id)
    if invitation is None:  # unknown, spent, revoked or another network's: the same 404
        raise Http404("Unknown invitation.")
    context = {
        "invitation": invitation,
        "organization": invitation.organization,
        "error": None,
        "done": False,
    }
    if invitation.invite_expires_at is None or invitation.invite_expires_at <= timezone.now():
        context["error"] = "This invitation has expired; ask for a new one."
    elif (request.user.email or "").lower() != invitation.invite_email:
        context["error"] = (
            f"This invitation was sent to {invitation.invite_email}; sign in with that address."
        )
    elif request.method == "POST":
        try:
            services.accept_invitation(user=request.user, token=token, via=audit_context(request))
        except DomainError as exc:
            context["error"] = exc.message
        else:
            context["done"] = True
    return render(request, "organizations/invitation.html", context, status=400 if context["error"] else 200)
