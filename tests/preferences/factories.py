from __future__ import annotations

from datetime import timedelta

import factory
from django.utils import timezone

from apps.preferences.models import AccountDeletionRequest, DataExport, LoginHistory
from tests.accounts.factories import UserFactory


class LoginHistoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoginHistory

    user = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("user.network")
    event = LoginHistory.Event.LOGIN
    method = LoginHistory.Method.PASSWORD
    ip = "203.0.113.7"
    user_agent = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"


class DataExportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DataExport

    user = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("user.network")
    status = DataExport.Status.FAILED


class DeletionRequestFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccountDeletionRequest

    user = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("user.network")
    requested_by = factory.SelfAttribute("user")
    scheduled_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


def make_agent(*, owner):
    """An AI user owned by ``owner`` (tests.accounts.factories.AgentFactory passes ``verified`` to the model)."""
    from apps.accounts.models import User

    return User.objects.create(
        network=owner.network,
        email=None,
        handle=f"agent_{owner.pk.hex[-8:]}",
        is_ai=True,
        agent_status="active",
        agent_owner_user=owner,
    )
