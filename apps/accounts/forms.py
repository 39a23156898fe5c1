from __future__ import annotations

from typing import Any

from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from allauth.headless.account.inputs import SignupInput as AllauthSignupInput
from django import forms
from django.contrib.auth.hashers import make_password
from django.utils.crypto import get_random_string

from apps.core.exceptions import DomainError

from . import invites

INVITE_CODE_MAX_LENGTH = 32


class InviteCodeSignupMixin:
    """The network + invite-code rule, shared by the browser form and the headless input.

    The network is the request's (``NetworkMiddleware``: host, else default).
    Invite-only networks need a valid code; closed networks refuse signups.
    """

    #: read by AccountAdapter.save_user: this form applied the rule
    colony_signup_checked = False

    def clean_invite_code(self) -> str:
        return (self.cleaned_data.get("invite_code") or "").strip().upper()

    def check_network_rule(self, cleaned: dict[str, Any]) -> None:
        request = context.request
        network = getattr(request, "network", None) if request is not None else None
        try:
            invites.check_signup_allowed(
                network=network,
                invite_code=cleaned.get("invite_code") or None,
                email=cleaned.get("email"),
            )
        except DomainError as exc:
            error = forms.ValidationError(exc.message, code=exc.code)
            if exc.field and exc.field in self.fields:  # type: ignore[attr-defined]
                self.add_error(exc.field, error)  # type: ignore[attr-defined]
            else:
                self.add_error(None, error)  # type: ignore[attr-defined]
            return
        self.colony_signup_checked = True

    def try_save(self, request):
        """A code used up between the check and the save (a concurrent signup) is the same field error.

        An address that already has an account creates nothing (allauth mails its owner);
        the password is hashed all the same, so both answers take as long (no timing oracle).
        """
        if getattr(self, "account_already_exists", False):
            make_password(self.cleaned_data.get("password1") or get_random_string(20))
        try:
            return super().try_save(request)  # type: ignore[misc]
        except invites.InviteInvalid as exc:
            self.add_error("invite_code", forms.ValidationError(exc.message, code=exc.code))  # type: ignore[attr-defined]
            return None, self.invalid_response(request)

    def invalid_response(self, request):
        raise NotImplementedError


class SignupForm(InviteCodeSignupMixin, AllauthSignupForm):
    """Browser signup: email + password, plus an invite code on invite-only networks."""

    invite_code = forms.CharField(
        max_length=INVITE_CODE_MAX_LENGTH,
        required=False,
        label="Invite code",
        widget=forms.TextInput(attrs={"placeholder": "XXXX-XXXX", "autocomplete": "off"}),
    )

    def clean(self):
        cleaned = super().clean()
        self.check_network_rule(cleaned)
        return cleaned

    def invalid_response(self, request):
        from allauth.account import app_settings as account_settings
        from django.shortcuts import render

        template = f"account/signup.{account_settings.TEMPLATE_EXTENSION}"
        return render(request, template, {"form": self}, status=200)


class SignupInput(InviteCodeSignupMixin, AllauthSignupInput):
    """Headless signup (``/_allauth/{browser|app}/v1/auth/signup``) with ``invite_code``."""

    invite_code = forms.CharField(max_length=INVITE_CODE_MAX_LENGTH, required=False)

    def clean(self):
        cleaned = super().clean()
        self.check_network_rule(cleaned)
        return cleaned

    def invalid_response(self, request):
        # headless wraps whatever try_save returns into an auth response: answer with the
        # field error at once instead (AccountMiddleware returns ImmediateHttpResponse's)
        from allauth.core.exceptions import ImmediateHttpResponse
        from allauth.headless.internal.restkit.response import ErrorResponse

        raise ImmediateHttpResponse(ErrorResponse(request, input=self))
