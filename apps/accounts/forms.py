from __future__ import annotations

from allauth.account.forms import SignupForm as AllauthSignupForm
from django import forms

from apps.core.exceptions import DomainError

from . import invites


class SignupForm(AllauthSignupForm):
    """Email + password, plus an invite code on invite-only networks."""

    invite_code = forms.CharField(
        max_length=32,
        required=False,
        label="Invite code",
        widget=forms.TextInput(attrs={"placeholder": "XXXX-XXXX", "autocomplete": "off"}),
    )

    def clean(self):
        cleaned = super().clean()
        request = getattr(self, "request", None)
        network = getattr(request, "network", None) if request is not None else None
        try:
            invites.check_signup_allowed(
                network=network,
                invite_code=(cleaned.get("invite_code") or "").strip().upper() or None,
                email=cleaned.get("email"),
            )
        except DomainError as exc:
            self.add_error("invite_code" if exc.field else None, exc.message)
        return cleaned
