"""Chat rows for tests. Conversations are made through the services (they own the rules);
``MessageFactory`` writes rows directly (seq taken from the conversation) for bulk set-ups."""

from __future__ import annotations

import factory
from django.db.models import F
from django.utils import timezone

from apps.chat import services
from apps.chat.models import Conversation, Message
from tests.accounts.factories import UserFactory


def direct(a, b=None) -> Conversation:
    b = b or UserFactory(network=a.network)
    conversation, _ = services.get_or_create_direct(actor=a, other=b)
    return conversation


def group(owner, *members, title: str = "Team") -> Conversation:
    return services.create_group(actor=owner, title=title, members=list(members))


def send(user, conversation, body: str = "hello", **kwargs) -> Message:
    return services.send_message(actor=user, conversation=conversation, body=body, **kwargs)


class MessageFactory(factory.django.DjangoModelFactory):
    """A stored message without the service (no rate limit, no broadcast): for page-size tests."""

    class Meta:
        model = Message

    conversation = None
    network = factory.SelfAttribute("conversation.network")
    sender = None
    body = factory.Sequence(lambda n: f"message {n}")
    body_html = factory.LazyAttribute(lambda o: f"<p>{o.body}</p>")

    @factory.lazy_attribute
    def seq(self):
        Conversation.objects.filter(pk=self.conversation.pk).update(
            last_message_seq=F("last_message_seq") + 1, last_message_at=timezone.now()
        )
        return Conversation.objects.values_list("last_message_seq", flat=True).get(pk=self.conversation.pk)
