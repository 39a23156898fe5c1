"""Ensure the default network and an admin user exist (idempotent).

The admin's credentials come from COLONY_ADMIN_EMAIL / COLONY_ADMIN_PASSWORD
(read by settings) or are generated and printed once, on creation only.
"""

from __future__ import annotations

import secrets

from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from apps.accounts.models import User
from apps.networks.services import ensure_default_network


class Command(BaseCommand):
    help = "Create the default network and the first admin user when missing."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        network = ensure_default_network(
            name=settings.DEFAULT_NETWORK_NAME,
            slug=settings.DEFAULT_NETWORK_SLUG,
            invite_only=settings.DEFAULT_NETWORK_INVITE_ONLY,
        )
        self.stdout.write(f"Default network: {network.name} ({network.slug})")
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("Admin user exists.")
            return
        email = settings.COLONY_ADMIN_EMAIL.lower()
        password = settings.COLONY_ADMIN_PASSWORD or secrets.token_urlsafe(15)
        user = User.objects.create_superuser(email=email, password=password, network=network, handle="admin")
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        self.stdout.write(self.style.SUCCESS("Created the admin user (shown once):"))
        self.stdout.write(f"  email:    {email}")
        if settings.COLONY_ADMIN_PASSWORD:
            self.stdout.write("  password: (from COLONY_ADMIN_PASSWORD)")
        else:
            self.stdout.write(f"  password: {password}")
