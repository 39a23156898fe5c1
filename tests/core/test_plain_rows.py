"""Lists read plain rows where the serializer reads only columns: the same output, no model instances."""

from __future__ import annotations

import json

import pytest
from django.db.models import F
from rest_framework import serializers

from apps.core.api import plain_rows
from apps.core.renderers import JSONRenderer
from apps.core.serializers import FastReadMixin
from apps.projects.api.serializers import ProjectSerializer
from apps.projects.models import Project
from tests.organizations.factories import OrganizationFactory
from tests.projects.factories import OrgProjectFactory, ProjectFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/projects/"


class WithMethodField(FastReadMixin, serializers.ModelSerializer):
    shout = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ("id", "name", "shout")

    def get_shout(self, obj: Project) -> str:
        return obj.name.upper()


class WithOwnListSerializer(FastReadMixin, serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ("id", "name")
        list_serializer_class = serializers.ListSerializer


class PlainModelSerializer(serializers.ModelSerializer):
    class Meta:
        model = Project
        fields = ("id", "name")


def _projects(user, network, count: int) -> None:
    org = OrganizationFactory(network=network, owner=user)
    for i in range(count):
        ProjectFactory(owner_user=user, description=f"Zoë's app {i}\u2028", default_branch="main")
        OrgProjectFactory(owner_organization=org, visibility="network")


def test_the_list_is_what_the_instances_serialize_to(user_client, user, network):
    _projects(user, network, 3)
    body = user_client.get(URL).json()
    instances = Project.objects.filter(network=network).order_by("-id")
    expected = json.loads(JSONRenderer().render(ProjectSerializer(instances, many=True).data))
    assert body["results"] == expected
    assert len(expected) == 6 and all(row["owner_user"] or row["owner_organization"] for row in expected)


def test_pages_follow_the_cursor_over_rows(user_client, user, network):
    _projects(user, network, 3)
    seen, url = [], f"{URL}?page_size=4"
    while url:
        body = user_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == [
        str(pk) for pk in Project.objects.filter(network=network).order_by("-id").values_list("pk", flat=True)
    ]
    back = user_client.get(user_client.get(f"{URL}?page_size=4").json()["next"]).json()["previous"]
    assert [row["id"] for row in user_client.get(back).json()["results"]] == seen[:4]


def test_rows_carry_the_columns_and_every_ordering_key():
    rows = plain_rows(Project.objects.order_by("-created_at", "slug"), ProjectSerializer)
    assert rows._fields[0] == "id"
    assert {"created_at", "slug", "owner_user_id", "github_token_hint"} <= set(rows._fields)
    assert "github_token" not in rows._fields and "network_id" not in rows._fields


@pytest.mark.parametrize(
    ("serializer", "queryset"),
    [
        pytest.param(PlainModelSerializer, lambda: Project.objects.all(), id="not a planned serializer"),
        pytest.param(WithMethodField, lambda: Project.objects.all(), id="a method field reads the instance"),
        pytest.param(WithOwnListSerializer, lambda: Project.objects.all(), id="its own list serializer"),
        pytest.param(
            ProjectSerializer, lambda: Project.objects.order_by(F("name").desc()), id="expression order"
        ),
        pytest.param(
            ProjectSerializer, lambda: Project.objects.order_by("owner_user__handle"), id="related order"
        ),
        pytest.param(ProjectSerializer, lambda: Project.objects.values("id"), id="already values"),
        pytest.param(
            ProjectSerializer, lambda: Project.objects.all().union(Project.objects.all()), id="union"
        ),
    ],
)
def test_anything_else_keeps_its_instances(serializer, queryset):
    qs = queryset()
    assert plain_rows(qs, serializer) is qs


def test_the_list_builds_no_model_instance(user_client, user, network, monkeypatch):
    _projects(user, network, 2)
    detail = f"{URL}{Project.objects.filter(network=network).values_list('pk', flat=True).first()}/"
    built = []
    original = Project.from_db.__func__

    def counting(cls, *args, **kwargs):
        built.append(cls)
        return original(cls, *args, **kwargs)

    monkeypatch.setattr(Project, "from_db", classmethod(counting))
    assert len(user_client.get(URL).json()["results"]) == 4
    assert built == []
    assert user_client.get(detail).status_code == 200
    assert built == [Project]  # a detail read still loads its instance


@pytest.mark.parametrize("count", [2, 25])
def test_the_list_query_count_does_not_grow(user_client, user, network, count, django_assert_max_num_queries):
    _projects(user, network, count)
    user_client.get(URL)  # warm the principal and policy caches
    with django_assert_max_num_queries(2):
        response = user_client.get(URL)
    assert len(response.json()["results"]) == 2 * count


# --- time stamps read as the API's text ---------------------------------------------------------


@pytest.mark.parametrize(
    "micro", [0, 120000, 5, 999999], ids=["whole-second", "trailing-zeros", "leading-zeros", "full"]
)
def test_time_stamps_read_as_text_print_exactly_as_drf_prints_them(user_client, user, network, micro):
    import datetime

    _projects(user, network, 1)
    stamp = datetime.datetime(2026, 12, 6, 21, 20, 1, micro, tzinfo=datetime.UTC)
    Project.objects.filter(network=network).update(created_at=stamp, updated_at=stamp)
    body = user_client.get(URL).json()
    instances = Project.objects.filter(network=network).order_by("-id")
    expected = json.loads(JSONRenderer().render(ProjectSerializer(instances, many=True).data))
    assert body["results"] == expected
    assert {row["created_at"] for row in body["results"]} == {stamp.isoformat().replace("+00:00", "Z")}


def test_in_another_time_zone_the_rows_are_formatted_by_the_serializer(user, network):
    from django.utils import timezone

    _projects(user, network, 2)
    queryset = Project.objects.filter(network=network).order_by("-id")
    with timezone.override("Europe/Paris"):
        rows = list(plain_rows(queryset, ProjectSerializer))
        from_rows = ProjectSerializer(rows, many=True).data
        from_instances = ProjectSerializer(list(queryset), many=True).data
    assert from_rows == from_instances
    assert from_rows[0]["created_at"].endswith("+01:00")


def test_the_loader_rewrites_utc_text_and_loads_anything_else_as_psycopg_does():
    import datetime

    from django.db import connection

    from apps.core.db import iso_text_timestamps

    sql = (
        "SELECT '2026-12-06 21:20:01.12+00'::timestamptz, '2026-12-06 21:20:01+00'::timestamptz,"
        " '0999-01-02 03:04:05.000001+00'::timestamptz"
    )
    with iso_text_timestamps(), connection.cursor() as cursor:
        cursor.execute(sql)
        assert cursor.fetchone() == (
            "2026-12-06T21:20:01.120000Z",
            "2026-12-06T21:20:01Z",
            "0999-01-02T03:04:05.000001Z",
        )
        cursor.execute("SET LOCAL TIME ZONE 'Asia/Kolkata'")
        cursor.execute("SELECT '2026-12-06 21:20:01+00'::timestamptz")
        (value,) = cursor.fetchone()
    assert isinstance(value, datetime.datetime)  # +05:30: not the API's text, loaded as a datetime
    assert value == datetime.datetime(2026, 12, 6, 21, 20, 1, tzinfo=datetime.UTC)
    with connection.cursor() as cursor:  # outside the block: datetimes as ever
        cursor.execute("SELECT '2026-12-06 21:20:01+00'::timestamptz")
        assert isinstance(cursor.fetchone()[0], datetime.datetime)
