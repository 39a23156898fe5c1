from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.db import transaction

from . import invites
from .services import unique_handle


def _request_network(request):
    return getattr(request, "network", None)


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        network = _request_network(request)
        return bool(network is not None and network.signup_enabled and network.status == "active")

    def populate_username(self, request, user) -> None:
        """No usernames: set the home network and a handle instead."""
        network = _request_network(request)
        if network is not None and not user.network_id:
            user.network = network
        if not user.handle and user.network_id:
            user.handle = unique_handle(network=user.network, seed=(user.email or "user").split("@")[0])

    def save_user(self, request, user, form, commit=True):
        network = _request_network(request)
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

    def get_login_stages(self) -> list[str]:
        return [*super().get_login_stages(), "apps.accounts.stages.OTPAuthenticateStage"]


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin) -> bool:
        network = _request_network(request)
        return bool(
            network is not None
            and network.signup_enabled
            and network.status == "active"
            and not network.invite_only
        )

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
