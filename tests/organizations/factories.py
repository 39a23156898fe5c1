"""Organization factories; every row follows its parent's network.

``OrganizationFactory`` also creates the 1:1 settings and security policy
(as ``services.create_organization`` does). Pass ``owner=user`` to add an
owner membership in the same call; ``settings__members_can_invite=True``
and ``security_policy__require_2fa=True`` set the 1:1 rows' fields. ``OrganizationMemberFactory`` takes the
organization's network; its user defaults to a new user of that network.
"""

from __future__ import annotations

import factory
from django.utils import timezone

from apps.organizations.models import (
    Organization,
    OrganizationMember,
    OrganizationSecurityPolicy,
    OrganizationSettings,
)
from tests.accounts.factories import UserFactory
from tests.networks.factories import NetworkFactory


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        skip_postgeneration_save = True

    network = factory.SubFactory(NetworkFactory)
    name = factory.Sequence(lambda n: f"Org {n}")
    slug = factory.Sequence(lambda n: f"org-{n}")

    @factory.post_generation
    def settings(self, create, extracted, **kwargs):
        if create:
            OrganizationSettings.objects.create(network=self.network, organization=self, **kwargs)

    @factory.post_generation
    def security_policy(self, create, extracted, **kwargs):
        if create:
            OrganizationSecurityPolicy.objects.create(network=self.network, organization=self, **kwargs)

    @factory.post_generation
    def owner(self, create, extracted, **kwargs):
        if create and extracted is not None:
            OrganizationMemberFactory(organization=self, user=extracted, role="owner")


class OrganizationMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = OrganizationMember

    organization = factory.SubFactory(OrganizationFactory)
    network = factory.SelfAttribute("organization.network")
    user = factory.SubFactory(UserFactory, network=factory.SelfAttribute("..organization.network"))
    role = "member"
    status = "active"
    joined_at = factory.LazyFunction(timezone.now)
