from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from apps.invites import codes
from apps.invites.models import InviteCode, InviteWaitlist, InviteWaveConfig
from tests.networks.factories import NetworkFactory


class WaitlistFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InviteWaitlist

    network = factory.SubFactory(NetworkFactory)
    email = factory.Sequence(lambda n: f"wait{n}@example.com")
    name = factory.Sequence(lambda n: f"Waiter {n}")
    position = factory.Sequence(lambda n: n + 1)
    priority_score = factory.SelfAttribute("position")
    referral_code = factory.Sequence(lambda n: f"ref{n:07d}")
    email_verified_at = factory.LazyFunction(timezone.now)


class InviteCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InviteCode

    network = factory.SubFactory(NetworkFactory)
    code = factory.LazyFunction(codes.new_code)
    kind = "staff"
    max_uses = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=14))


class WaveFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InviteWaveConfig

    network = factory.SubFactory(NetworkFactory)
    name = factory.Sequence(lambda n: f"Wave {n}")
    wave_number = factory.Sequence(lambda n: n + 1)
    scheduled_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    invite_count = 10
