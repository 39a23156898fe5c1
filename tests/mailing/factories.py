from __future__ import annotations

import factory

from apps.mailing.models import EmailCampaign, EmailSend, EmailSuppression
from apps.preferences.models import UserSettings
from tests.accounts.factories import UserFactory
from tests.networks.factories import NetworkFactory


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailCampaign

    network = factory.SubFactory(NetworkFactory)
    name = factory.Sequence(lambda n: f"Campaign {n}")
    kind = "product"
    subject = "Hello {{ first_name }}"
    from_name = "Colony"
    from_email = "news@colony.local"
    html_body = "<p>Hi {{ name }}, <a href='{{ unsubscribe_url }}'>unsubscribe</a></p>"
    audience = factory.LazyFunction(lambda: {"source": "users"})
    rate_per_second = 100
    batch_size = 50


class SendFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailSend

    campaign = factory.SubFactory(CampaignFactory)
    network = factory.SelfAttribute("campaign.network")
    email = factory.Sequence(lambda n: f"send{n}@example.com")
    status = "sent"
    ses_message_id = factory.Sequence(lambda n: f"msg-{n:08d}")


class SuppressionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = EmailSuppression

    network = factory.SubFactory(NetworkFactory)
    email = factory.Sequence(lambda n: f"supp{n}@example.com")
    scope = "campaigns"
    reason = "manual"


def opted_in_user(network, **kwargs):
    user = UserFactory(network=network, **kwargs)
    UserSettings.objects.create(user=user, network=network, marketing_emails=True)
    return user
