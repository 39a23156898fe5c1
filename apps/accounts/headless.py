"""allauth-headless views of our own (mounted before allauth's in ``headless_urls``).

* ``auth/signup`` — allauth's SignupView with our input: headless builds its
  signup input from ``BaseSignupForm``, not ``ACCOUNT_FORMS``, so the network
  and invite-code rule is added here (``invite_code`` in the JSON body).
* ``auth/2fa/authenticate`` — the ``mfa_otp_authenticate`` login stage:
  ``{"code": "123456"}`` (TOTP) or a backup code completes the pending login.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.headless.account.views import SignupView as AllauthSignupView
from allauth.headless.base.response import ForbiddenResponse
from allauth.headless.base.views import AuthenticationStageAPIView
from allauth.headless.internal.restkit import inputs
from allauth.headless.internal.restkit.response import APIResponse, ErrorResponse
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse, HttpResponseBase

from apps.core.exceptions import RateLimited

from . import twofactor
from .forms import SignupInput
from .stages import OTPAuthenticateStage


class SignupView(AllauthSignupView):
    input_class = {"POST": SignupInput}

    def handle(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # a closed network answers 403 before the input is validated (as allauth does after)
        if request.method == "POST" and not get_account_adapter().is_open_for_signup(request):
            return ForbiddenResponse(request)
        return super().handle(request, *args, **kwargs)


class OTPAuthenticateInput(inputs.Input):
    code = inputs.CharField(max_length=32)


class OTPAuthenticateView(AuthenticationStageAPIView):
    input_class = OTPAuthenticateInput
    stage_class = OTPAuthenticateStage
    input: OTPAuthenticateInput

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = self.stage.login.user
        try:
            twofactor.verify_login_code(request=request, user=user, code=self.input.cleaned_data["code"])
        except RateLimited as exc:
            response = APIResponse(
                request,
                errors=[{"message": exc.message, "code": exc.code, "param": "code"}],
                status=HTTPStatus.TOO_MANY_REQUESTS,
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        except twofactor.TwoFactorError as exc:
            error = ValidationError(exc.message, code=exc.code)
            self.input.add_error("code", error)
            return ErrorResponse(request, input=self.input)
        return self.respond_next_stage()
