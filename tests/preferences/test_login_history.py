"""The read side of LoginHistory: the user's own list, the staff admin, retention."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from apps.preferences import services
from apps.preferences.loginhistory import record_login_event
from apps.preferences.models import LoginHistory
from tests.accounts.factories import UserFactory
from tests.preferences.factories import LoginHistoryFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/account/login-history/"


def test_list_shows_only_own_events_newest_first(user_client, user, other_user, network):
    LoginHistory.objects.all().delete()
    older = LoginHistoryFactory(user=user, event="login_failed", method=None)
    newer = LoginHistoryFactory(user=user, event="login")
    LoginHistoryFactory(user=other_user)
    LoginHistoryFactory(user=UserFactory(network=network))  # same network, someone else
    response = user_client.get(URL)
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    assert ids == [str(newer.pk), str(older.pk)]
    first = response.json()["results"][0]
    assert first["event"] == "login"
    assert first["ip"] == "203.0.113.7"
    assert first["device_label"] == "Chrome on Linux"


def test_list_is_cursor_paginated(user_client, user):
    LoginHistory.objects.all().delete()
    LoginHistoryFactory.create_batch(5, user=user)
    page = user_client.get(URL, {"page_size": 2}).json()
    assert len(page["results"]) == 2
    assert page["next"]
    seen = [row["id"] for row in page["results"]]
    while page["next"]:
        page = user_client.get(page["next"]).json()
        seen += [row["id"] for row in page["results"]]
    assert len(seen) == len(set(seen)) == 5


def test_list_runs_constant_queries(user_client, user, django_assert_max_num_queries):
    LoginHistoryFactory.create_batch(30, user=user)
    with django_assert_max_num_queries(8):
        response = user_client.get(URL, {"page_size": 40})
    assert len(response.json()["results"]) >= 30


def test_writer_records_request_details():
    user = UserFactory()
    from django.test import RequestFactory

    request = RequestFactory().get("/", HTTP_USER_AGENT="UA/1.0", REMOTE_ADDR="198.51.100.4")
    row = record_login_event(
        event="login_failed", request=request, attempted_email="X@Example.com", network=user.network
    )
    assert (row.ip, row.user_agent, row.attempted_email, row.user) == (
        "198.51.100.4",
        "UA/1.0",
        "x@example.com",
        None,
    )


def test_prune_deletes_rows_past_retention_only(user, settings):
    old = LoginHistoryFactory(user=user)
    recent = LoginHistoryFactory(user=user)
    LoginHistory.objects.filter(pk=old.pk).update(
        created_at=timezone.now() - timedelta(days=settings.LOGIN_HISTORY_RETENTION_DAYS + 1)
    )
    assert services.prune_login_history(batch_size=1) >= 1
    assert not LoginHistory.objects.filter(pk=old.pk).exists()
    assert LoginHistory.objects.filter(pk=recent.pk).exists()
    assert services.prune_login_history() == 0


@pytest.fixture
def staff_client(network):
    staff = UserFactory(network=network, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


def test_admin_changelist_filters_and_searches_in_constant_queries(
    staff_client, user, django_assert_max_num_queries
):
    LoginHistoryFactory.create_batch(20, user=user)
    LoginHistoryFactory(user=user, event="locked_out", ip="192.0.2.55")
    url = "/admin/preferences/loginhistory/"
    with django_assert_max_num_queries(15):
        assert staff_client.get(url).status_code == 200
    assert staff_client.get(url, {"event__exact": "locked_out"}).status_code == 200
    response = staff_client.get(url, {"q": "192.0.2.55"})
    assert response.status_code == 200
    assert b"192.0.2.55" in response.content
    assert staff_client.get(url, {"q": user.email}).status_code == 200
    assert staff_client.get(url, {"network__id__exact": str(user.network_id)}).status_code == 200


def test_admin_is_read_only(staff_client, user):
    row = LoginHistoryFactory(user=user)
    assert staff_client.get("/admin/preferences/loginhistory/add/").status_code == 403
    response = staff_client.post(f"/admin/preferences/loginhistory/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert LoginHistory.objects.filter(pk=row.pk).exists()
