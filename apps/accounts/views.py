from __future__ import annotations

from allauth.account.stages import LoginStageController
from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from .stages import STAGE_KEY


class OTPCodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        label="Authentication code",
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )


@login_required
def profile(request: HttpRequest) -> HttpResponse:
    return render(request, "account/profile.html")


def two_factor_authenticate(request: HttpRequest) -> HttpResponse:
    """The login stage page: a TOTP or backup code completes the login."""
    from . import twofactor

    stage = LoginStageController.enter(request, STAGE_KEY)
    if stage is None:
        return redirect("account_login")
    form = OTPCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            twofactor.verify_login_code(
                request=request, user=stage.login.user, code=form.cleaned_data["code"]
            )
        except twofactor.TwoFactorError as exc:
            form.add_error("code", exc.message)
        else:
            return stage.exit()
    return render(request, "account/2fa_authenticate.html", {"form": form})
