from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.core.exceptions import ValidationError
from django.db import transaction

from apps.core.exceptions import DomainError

from . import invites
from .services import unique_handle


def _request_network(request):
    from apps.core.tenancy import request_network

    return request_network(request)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        return invites.signup_open(_request_network(request))

    def populate_username(self, request, user) -> None:
        """No usernames: set the home network and a handle instead."""
        network = _request_network(request)
        if network is not None and not user.network_id:
            user.network = network
        if not user.handle and user.network_id:
            user.handle = unique_handle(network=user.network, seed=(user.email or "user").split("@")[0])

    def save_user(self, request, user, form, commit=True):
        network = _request_network(request)
        if not getattr(form, "colony_signup_checked", False):
            # our signup forms check the network and invite code in clean(); any other
            # form (the social signup form) is held to the same rule without a code
            try:
                invites.check_signup_allowed(network=network, invite_code=None, email=user.email)
            except DomainError as exc:
                raise ValidationError(exc.message, code=exc.code) from exc
        user.network = network
        with transaction.atomic():
            user = super().save_user(request, user, form, commit=False)
            if not user.handle:
                user.handle = unique_handle(network=network, seed=(user.email or "").split("@")[0])
            if commit:
                user.save()
                code = (form.cleaned_data.get("invite_code") or "").strip().upper() or None
                invites.redeem(network=network, invite_code=code, user=user)
        return user

    def get_client_ip(self, request) -> str:
        """allauth's rate limits (login, login_failed, signup…) key on the one resolver."""
        from django.core.exceptions import PermissionDenied

        from apps.core.clientip import client_ip

        ip = client_ip(request)
        if not ip:
            raise PermissionDenied("Unable to determine client IP address")
        return ip

    def get_login_stages(self) -> list[str]:
        return [*super().get_login_stages(), "apps.accounts.stages.OTPAuthenticateStage"]

    # --- login history hooks (the receivers record the ordinary events) ---------

    def pre_authenticate(self, request, **credentials) -> None:
        """allauth's ``login_failed`` rate limit tripping = a temporary lockout, recorded.

        A request that resolves no network (a fresh database before
        ``bootstrap_colony``, a host naming none and no default) signs nobody
        in: a form error (``no_network``), never a crash.
        """
        from apps.core.tenancy import NO_NETWORK_MESSAGE

        if _request_network(request) is None:
            raise ValidationError(NO_NETWORK_MESSAGE, code="no_network")
        try:
            super().pre_authenticate(request, **credentials)
        except ValidationError:
            from .receivers import record_lockout

            record_lockout(request, email=credentials.get("email"))
            raise

    def pre_login(self, request, user, **kwargs):
        from .receivers import record_refused_login

        if user.is_active and (user.is_suspended or user.state == "deleted" or user.is_ai):
            from allauth.account.internal.stagekit import clear_login

            reason = "suspended" if user.is_suspended else ("agent" if user.is_ai else user.state)
            record_refused_login(request, user, reason=reason)
            clear_login(request)
            return self.respond_user_inactive(request, user)
        if user.is_active and not kwargs.get("signup") and kwargs.get("email_verification") == "mandatory":
            from allauth.account.utils import has_verified_email

            if not has_verified_email(user, kwargs.get("email")):
                record_refused_login(request, user, reason="email_not_verified")
        return super().pre_login(request, user, **kwargs)


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        network = _request_network(request)
        return invites.signup_open(network) and not network.invite_only

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        network = _request_network(request)
        if network is not None:
            user.network = network
            if not user.handle:
                user.handle = unique_handle(
                    network=network, seed=(data.get("username") or user.email or "user").split("@")[0]
                )
        return user
