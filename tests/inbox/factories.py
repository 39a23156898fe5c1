from __future__ import annotations

import uuid

import factory
from django.utils import timezone

from apps.inbox.models import InboxItem
from tests.accounts.factories import UserFactory


class InboxItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InboxItem

    recipient = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("recipient.network")
    kind = "mention"
    target_type = "message"
    target_id = factory.LazyFunction(uuid.uuid4)
    title = factory.Sequence(lambda n: f"Item {n}")
    last_event_at = factory.LazyFunction(timezone.now)
