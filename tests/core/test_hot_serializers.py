"""Hot serializers (apps.core.serializers): fields built once per class, output exactly DRF's."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from apps.accounts.api import MeSerializer, UserSerializer
from apps.core.api import NetworkScopedRelatedField
from apps.core.serializers import FastReadMixin, FieldsOnceMixin
from apps.projects.api.serializers import ProjectSerializer
from apps.projects.models import Project
from tests.accounts.factories import UserFactory


def drf_output(serializer: serializers.Serializer, instance) -> dict:
    """What DRF's own ``Serializer.to_representation`` makes of ``instance``."""
    return serializers.Serializer.to_representation(serializer, instance)


@pytest.mark.django_db
def test_me_and_user_output_is_exactly_drfs(user):
    user.bio = ""
    user.last_seen_at = None
    for serializer_class in (MeSerializer, UserSerializer):
        serializer = serializer_class(user)
        assert serializer.data == drf_output(serializer_class(user), user)


@pytest.mark.django_db
def test_project_rows_are_exactly_drfs_whatever_the_values(user):
    with_token = Project(
        network=user.network, name="A", slug="a", owner_user=user, created_by=user, github_token="ghp_secret"
    )
    with_token.save()
    bare = Project(network=user.network, name="B", slug="b", owner_user=user, repo_url=None)
    bare.save()
    bare.owner_user = None  # a null foreign key
    bare.status = Project.Status.ARCHIVED  # an enum member, not its string
    bare.created_at = datetime.datetime(2024, 5, 1, 12, 30, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
    rows = [with_token, bare, *Project.objects.filter(pk__in=[with_token.pk, bare.pk])]
    many = ProjectSerializer(rows, many=True)
    assert many.data == [drf_output(ProjectSerializer(row), row) for row in rows]
    assert "ghp_secret" not in str(many.data)


@pytest.mark.django_db
def test_another_time_zone_is_honoured(user):
    with timezone.override(zoneinfo.ZoneInfo("America/New_York")):
        data = MeSerializer(user).data
        assert data["created_at"] == drf_output(MeSerializer(user), user)["created_at"]
        assert data["created_at"].endswith(("-04:00", "-05:00"))


@pytest.mark.django_db
def test_dicts_defaults_and_method_fields_fall_back_to_drf():
    class Row(FastReadMixin, serializers.Serializer):
        name = serializers.CharField()
        count = serializers.IntegerField(default=7)
        flag = serializers.BooleanField(required=False)
        shout = serializers.SerializerMethodField()

        def get_shout(self, obj) -> str:
            return str(obj["name"]).upper()

    row = {"name": "x"}
    assert Row(row).data == {"name": "x", "count": 7, "shout": "X"}
    assert Row(row).data == drf_output(Row(row), row)


def test_fields_are_built_once_per_class_and_bound_per_instance():
    class Thing(FieldsOnceMixin, serializers.Serializer):
        name = serializers.CharField()
        tags = serializers.ListField(child=serializers.CharField())

    first, second = Thing(context={"n": 1}), Thing(context={"n": 2})
    assert first.fields["name"] is not second.fields["name"]
    assert first.fields["name"].parent is first and second.fields["name"].parent is second
    # a child field sees its own instance's context, not the first one's
    assert first.fields["tags"].child.context == {"n": 1}
    assert second.fields["tags"].child.context == {"n": 2}
    assert "_fields_template" in Thing.__dict__


@pytest.mark.django_db
def test_copied_related_fields_are_scoped_by_their_own_request(user, other_user):
    """A body FK field of a copied field set filters by THIS request's network."""

    class Pick(FieldsOnceMixin, serializers.Serializer):
        who = NetworkScopedRelatedField(queryset=type(user).objects.all())

    factory = APIRequestFactory()
    mine = Pick(data={"who": str(user.pk)}, context={"network": user.network, "request": factory.get("/")})
    assert mine.is_valid(), mine.errors
    theirs = Pick(
        data={"who": str(user.pk)}, context={"network": other_user.network, "request": factory.get("/")}
    )
    assert not theirs.is_valid()
    assert "does not exist" in str(theirs.errors["who"][0])
    other = UserFactory(network=other_user.network)
    assert Pick(data={"who": str(other.pk)}, context={"network": other_user.network}).is_valid()


@pytest.mark.django_db
def test_a_row_serializer_is_compiled_once_per_class_and_a_dict_still_gets_drfs_rules(user):
    assert (
        ProjectSerializer(Project(network=user.network, name="A", slug="a")).data["name"] == "A"
    )  # plans it
    plan = ProjectSerializer.__dict__["_compiled_read"]
    project = Project.objects.create(
        network=user.network, name="B", slug="b", owner_user=user, created_by=user
    )
    assert ProjectSerializer(project).data == drf_output(ProjectSerializer(project), project)
    assert ProjectSerializer.__dict__["_compiled_read"] is plan  # not re-planned per instance
    as_dict = {"id": project.pk, "name": "B", "slug": "b", "owner_user": project.owner_user}
    partial = ProjectSerializer(as_dict).data  # no attribute access on a dict: per-field DRF rules
    assert partial["name"] == "B" and partial["owner_user"] == user.pk


@pytest.mark.django_db
def test_a_compiled_plan_does_not_pin_the_first_request(user):
    class Named(FastReadMixin, serializers.ModelSerializer):
        class Meta:
            model = Project
            fields = ("name", "created_at", "status")

    factory = APIRequestFactory()
    row = Project(network=user.network, name="A", slug="a")
    assert Named(row, context={"request": factory.get("/")}).data["name"] == "A"
    _, datetime_fields, _ = Named.__dict__["_compiled_read"]
    assert all(field.parent is None and field.context == {} for field in datetime_fields)


@pytest.mark.django_db
def test_a_read_binds_only_the_fields_its_plan_reads_per_instance(user):
    """A read builds the per-instance steps (nested, method fields) alone; the whole field set stays lazy."""

    class Owner(FastReadMixin, serializers.ModelSerializer):
        class Meta:
            model = type(user)
            fields = ("id", "handle")

    class WithNested(FastReadMixin, serializers.ModelSerializer):
        owner = serializers.SerializerMethodField()

        class Meta:
            model = type(user)
            fields = ("id", "email", "owner", "created_at")

        def get_owner(self, obj):
            assert self.context["marker"] == "mine"  # the bound field sees this instance's context
            return Owner(obj, context=self.context).data

    assert WithNested(user, context={"marker": "mine"}).data["id"] == str(user.pk)  # plans the class
    serializer = WithNested(user, context={"marker": "mine"})
    assert serializer.data == drf_output(WithNested(user, context={"marker": "mine"}), user)
    assert "fields" not in serializer.__dict__
    assert list(serializer.fields) == ["id", "email", "owner", "created_at"]  # still there when asked for
    me = MeSerializer(user)
    assert me.data == drf_output(MeSerializer(user), user) and "fields" not in me.__dict__


@pytest.mark.django_db
def test_a_nested_serializer_of_columns_is_read_inline_with_drfs_output(user, network):
    from apps.accounts.api import NetworkSummarySerializer

    plan = MeSerializer(user)._class_plan()
    assert "network" not in plan[2]  # compiled into the parent's read, not a per-instance step
    me = MeSerializer(user).data
    assert me["network"] == {"id": str(network.pk), "name": network.name, "slug": network.slug}
    assert me == drf_output(MeSerializer(user), user)
    assert MeSerializer(user).data["network"] == NetworkSummarySerializer(network).data

    class Holder:  # no network at all: DRF's rules for the whole row
        pass

    class WithMissing(FastReadMixin, serializers.Serializer):
        network = NetworkSummarySerializer(read_only=True, allow_null=True)

    assert WithMissing(type("Row", (), {"network": None})()).data == {"network": None}
    assert WithMissing(Holder()).data == drf_output(WithMissing(Holder()), Holder())
