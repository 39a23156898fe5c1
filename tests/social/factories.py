"""Social factories; every row follows its parent's network.

``PostFactory`` writes rows directly (rendered body, no counters); tests of the
rules go through ``apps.social.services``.
"""

from __future__ import annotations

import factory

from apps.social.markdown import render
from apps.social.models import Block, Community, CommunityMember, Follow, Post, Tag
from tests.accounts.factories import UserFactory
from tests.networks.factories import NetworkFactory


class CommunityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Community

    network = factory.SubFactory(NetworkFactory)
    owner_user = factory.SubFactory(UserFactory, network=factory.SelfAttribute("..network"))
    slug = factory.Sequence(lambda n: f"community-{n}")
    name = factory.Sequence(lambda n: f"Community {n}")
    visibility = "public"


class CommunityMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CommunityMember

    community = factory.SubFactory(CommunityFactory)
    network = factory.SelfAttribute("community.network")
    user = factory.SubFactory(UserFactory, network=factory.SelfAttribute("..community.network"))
    role = "member"
    status = "active"


class PostFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Post

    network = factory.SelfAttribute("author.network")
    author = factory.SubFactory(UserFactory)
    owner_user = factory.SelfAttribute("author")
    body = factory.Sequence(lambda n: f"post number {n}")
    body_html = factory.LazyAttribute(lambda o: render(o.body).html)
    hot_rank = 0.137


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag

    network = factory.SubFactory(NetworkFactory)
    slug = factory.Sequence(lambda n: f"tag_{n}")
    name = factory.SelfAttribute("slug")


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Follow

    follower = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("follower.network")


class BlockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Block

    blocker = factory.SubFactory(UserFactory)
    network = factory.SelfAttribute("blocker.network")
    blocked = factory.SubFactory(UserFactory, network=factory.SelfAttribute("..blocker.network"))
