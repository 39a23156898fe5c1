"""The second factor as an allauth login stage (django-otp devices).

A login whose user has a confirmed TOTP device stops here: no session is
authenticated until a TOTP or backup code is accepted, in the browser
(``/accounts/2fa/authenticate/``) and in the headless flow
(``POST /_allauth/{client}/v1/auth/2fa/authenticate``).
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
        self.state["required"] = True
        return headed_redirect_response(self.urlname), True
