"""Browser pages allauth does not provide: the 2FA login stage, 2FA management, profile."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from allauth.account.stages import LoginStageController
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.views.decorators.http import require_http_methods

from apps.core.exceptions import DomainError, RateLimited

from . import selectors, twofactor
from .stages import STAGE_KEY

_SHOW_ONCE_KEY = "colony_backup_codes_once"


class OTPCodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Authentication code",
        help_text="The 6-digit code from your authenticator app, or a backup code.",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}
        ),
    )

    #: the page's status: a service error answers 400, 409 or 429
    status = 200
    retry_after: int | None = None


def _submit_code(request: HttpRequest, form: OTPCodeForm, submit: Callable[[str], Any]) -> tuple[bool, Any]:
    """Run ``submit(code)`` for a valid POST; a service error is shown on the code field instead."""
    if request.method != "POST" or not form.is_valid():
        return False, None
    try:
        return True, submit(form.cleaned_data["code"])
    except DomainError as exc:
        form.add_error("code", exc.message)
        form.status = exc.status_code
        if isinstance(exc, RateLimited):
            form.retry_after = exc.retry_after
        return False, None


def _render_code_form(request, template: str, form: OTPCodeForm, context: dict | None = None):
    response = render(request, template, {"form": form, **(context or {})}, status=form.status)
    if form.retry_after:
        response["Retry-After"] = str(form.retry_after)
    return response


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return render(request, "account/profile.html", {"two_factor": selectors.two_factor_status(request.user)})


def two_factor_authenticate(request: HttpRequest) -> HttpResponse:
    """The login stage page: a TOTP or backup code completes the login."""
    stage = LoginStageController.enter(request, STAGE_KEY)
    if stage is None:
        return redirect("account_login")
    form = OTPCodeForm(request.POST or None)
    done, _ = _submit_code(
        request,
        form,
        lambda code: twofactor.verify_login_code(request=request, user=stage.login.user, code=code),
    )
    if done:
        return stage.exit()
    return _render_code_form(request, "mfa/authenticate.html", form)


@login_required
def two_factor_verify(request: HttpRequest) -> HttpResponse:
    """A session signed in before 2FA was turned on elsewhere passes the second factor here."""
    done = _safe_next(request, reverse("account_profile"))
    if selectors.session_passed_mfa(request.user, request.session):
        return redirect(done)
    form = OTPCodeForm(request.POST or None)
    verified, _ = _submit_code(
        request,
        form,
        lambda code: twofactor.verify_session(
            request=request, session=request.session, user=request.user, code=code
        ),
    )
    if verified:
        return redirect(done)
    return _render_code_form(request, "mfa/verify.html", form, {"next": done})


@login_required
def two_factor_index(request: HttpRequest) -> HttpResponse:
    return render(request, "mfa/index.html", {"status": selectors.two_factor_status(request.user)})


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_totp(request: HttpRequest) -> HttpResponse:
    """POST without a code starts enrolment; GET shows the QR code; POST with a code confirms."""
    if selectors.has_confirmed_totp(request.user):
        return redirect("account_2fa")
    if request.method == "POST" and "code" not in request.POST:
        if not selectors.recently_authenticated(request.user, request.session):
            url = reverse("account_reauthenticate")
            return redirect(f"{url}?{urlencode({'next': reverse('account_2fa')})}")
        try:
            twofactor.begin_totp_enrolment(user=request.user)
        except DomainError as exc:
            messages.error(request, exc.message)
            return redirect("account_2fa")
        return redirect("account_2fa_totp")
    enrolment = twofactor.pending_enrolment(user=request.user)
    if enrolment is None:
        return redirect("account_2fa")
    form = OTPCodeForm(request.POST or None)
    form.fields["code"].help_text = "The 6-digit code your authenticator app shows now."
    confirmed, codes = _submit_code(
        request,
        form,
        lambda code: twofactor.confirm_totp(
            user=request.user, code=code, request=request, session=request.session
        ),
    )
    if confirmed:
        request.session[_SHOW_ONCE_KEY] = codes
        messages.success(request, "Two-factor authentication is on.")
        return redirect("account_2fa_backup_codes")
    return _render_code_form(request, "mfa/totp_enrol.html", form, {"enrolment": enrolment})


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_backup_codes(request: HttpRequest) -> HttpResponse:
    """Fresh backup codes are shown once; regenerating needs a current code."""
    if not selectors.has_confirmed_totp(request.user):
        return redirect("account_2fa")
    form = OTPCodeForm(request.POST or None)
    regenerated, codes = _submit_code(
        request,
        form,
        lambda code: twofactor.regenerate_backup_codes(user=request.user, code=code, request=request),
    )
    if regenerated:
        request.session[_SHOW_ONCE_KEY] = codes
        messages.success(request, "New backup codes created; the old ones no longer work.")
        return redirect("account_2fa_backup_codes")
    codes = request.session.pop(_SHOW_ONCE_KEY, None) if request.method == "GET" else None
    context = {"codes": codes, "status": selectors.two_factor_status(request.user)}
    response = _render_code_form(request, "mfa/backup_codes.html", form, context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def two_factor_disable(request: HttpRequest) -> HttpResponse:
    if not selectors.has_confirmed_totp(request.user):
        return redirect("account_2fa")
    form = OTPCodeForm(request.POST or None)
    disabled, _ = _submit_code(
        request,
        form,
        lambda code: twofactor.disable_two_factor(user=request.user, code=code, request=request),
    )
    if disabled:
        messages.success(request, "Two-factor authentication is off.")
        return redirect("account_2fa")
    return _render_code_form(request, "mfa/disable.html", form)
