"""The second factor as an allauth login stage (django-otp devices).

A login whose user has a confirmed TOTP device stops here: no session is
authenticated until a TOTP or backup code is accepted, in the browser
(``/accounts/2fa/authenticate/``) and in the headless flow
(``POST /_allauth/{client}/v1/auth/2fa/authenticate``; allauth's 401 lists
the pending flow ``mfa_otp_authenticate``).
"""

from __future__ import annotations

from allauth.account.stages import LoginStage
from allauth.core.internal.httpkit import headed_redirect_response

from .selectors import has_confirmed_totp

STAGE_KEY = "mfa_otp_authenticate"


class OTPAuthenticateStage(LoginStage):
    key = STAGE_KEY
    urlname = "account_2fa_authenticate"

    def handle(self):
        user = self.login.user
        if user is None or not has_confirmed_totp(user):
            return None, True
        if not self.state.get("challenged"):
            from apps.preferences.loginhistory import record_login_event

            self.state["challenged"] = True
            record_login_event(
                event="mfa_challenge",
                request=self.request,
                user=user,
                method=login_method(self.request, user),
            )
        return headed_redirect_response(self.urlname), True


def login_method(request, user) -> str | None:
    """password / social / code, from allauth's authentication records of this session."""
    from allauth.account.internal.flows.login import get_authentication_records

    for record in reversed(get_authentication_records(request, user)):
        method = record.get("method")
        if method == "password":
            return "password"
        if method == "socialaccount":
            return "social"
        if method == "code":
            return "code"
    return None
