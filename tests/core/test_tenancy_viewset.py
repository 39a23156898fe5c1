"""The tenancy base: a scoped model behind NetworkScopedViewSet."""

import pytest

from tests.testapp.models import Widget

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.testapp.urls")]


@pytest.fixture
def widgets(network, other_network):
    mine = Widget.objects.create(network=network, name="mine")
    theirs = Widget.objects.create(network=other_network, name="theirs")
    return mine, theirs


def test_list_shows_only_own_network_rows(user_client, widgets):
    response = user_client.get("/api/v1/widgets/")
    assert response.status_code == 200
    assert [row["name"] for row in response.json()["results"]] == ["mine"]


@pytest.mark.parametrize("method", ["get", "patch", "put", "delete"])
def test_other_network_row_is_404(user_client, widgets, method):
    _, theirs = widgets
    response = getattr(user_client, method)(f"/api/v1/widgets/{theirs.pk}/", {"name": "x"}, format="json")
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.name == "theirs"


def test_missing_and_foreign_rows_answer_identically(user_client, widgets):
    import uuid

    _, theirs = widgets
    foreign = user_client.get(f"/api/v1/widgets/{theirs.pk}/")
    missing = user_client.get(f"/api/v1/widgets/{uuid.uuid4()}/")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json() == missing.json()


def test_create_sets_network_from_principal(user_client, user, other_network):
    response = user_client.post(
        "/api/v1/widgets/", {"name": "new", "network": str(other_network.pk)}, format="json"
    )
    assert response.status_code == 201
    assert Widget.objects.get(pk=response.json()["id"]).network_id == user.network_id


def test_fk_to_other_network_row_is_400_does_not_exist(user_client, widgets):
    mine, theirs = widgets
    response = user_client.post(
        "/api/v1/widgets/", {"name": "child", "parent": str(theirs.pk)}, format="json"
    )
    assert response.status_code == 400
    assert "does not exist" in response.json()["parent"][0]
    ok = user_client.post("/api/v1/widgets/", {"name": "child", "parent": str(mine.pk)}, format="json")
    assert ok.status_code == 201


def test_fk_error_for_foreign_row_matches_missing_row(user_client, widgets):
    import uuid

    _, theirs = widgets
    missing_id = uuid.uuid4()
    foreign = user_client.post(
        "/api/v1/widgets/", {"name": "c", "parent": str(theirs.pk)}, format="json"
    ).json()
    missing = user_client.post(
        "/api/v1/widgets/", {"name": "c", "parent": str(missing_id)}, format="json"
    ).json()
    assert foreign["parent"][0].replace(str(theirs.pk), "?") == missing["parent"][0].replace(
        str(missing_id), "?"
    )


def test_anonymous_is_401(api_client, widgets):
    assert api_client.get("/api/v1/widgets/").status_code in (401, 403)


def test_suspended_network_is_403_network_suspended(user_client, network, widgets):
    network.status = "suspended"
    network.save()
    response = user_client.get("/api/v1/widgets/")
    assert response.status_code == 403
    assert response.json()["code"] == "network_suspended"


def test_list_runs_constant_queries(user_client, network, django_assert_max_num_queries):
    Widget.objects.bulk_create([Widget(network=network, name=f"w{i}") for i in range(30)])
    with django_assert_max_num_queries(6):
        response = user_client.get("/api/v1/widgets/?page_size=30")
    assert len(response.json()["results"]) == 30


def test_viewset_overriding_get_queryset_is_refused_at_import():
    from apps.core.api import NetworkScopedViewSet

    with pytest.raises(TypeError, match="scope_queryset"):

        class Leaky(NetworkScopedViewSet):
            def get_queryset(self):
                return Widget.objects.all()
