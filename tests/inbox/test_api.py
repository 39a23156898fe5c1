"""/api/v1/inbox-items/: the caller's own items only, filters, state changes, constant SQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.inbox.models import InboxItem
from tests.accounts.factories import UserFactory

from .factories import InboxItemFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/inbox-items/"


def _ids(response):
    return [row["id"] for row in response.json()["results"]]


def test_list_shows_only_my_items_newest_activity_first(user_client, user, network):
    old = InboxItemFactory(recipient=user, last_event_at=timezone.now() - timedelta(hours=2))
    new = InboxItemFactory(recipient=user)
    InboxItemFactory(recipient=UserFactory(network=network))  # someone else's
    response = user_client.get(URL)
    assert response.status_code == 200
    assert _ids(response) == [str(new.pk), str(old.pk)]
    row = response.json()["results"][0]
    assert row["is_read"] is False and row["actor_count"] == 1 and row["kind"] == "mention"


def test_filters(user_client, user):
    now = timezone.now()
    unread = InboxItemFactory(recipient=user)
    read = InboxItemFactory(recipient=user, read_at=now)
    archived = InboxItemFactory(recipient=user, archived_at=now, read_at=now)
    snoozed = InboxItemFactory(recipient=user, snoozed_until=now + timedelta(days=1))
    action = InboxItemFactory(recipient=user, kind="org_invite", requires_action=True, action_state="pending")
    done = InboxItemFactory(recipient=user, kind="org_invite", requires_action=True, action_state="done")

    def ids(query):
        return set(_ids(user_client.get(URL + query)))

    assert ids("") == {str(i.pk) for i in (unread, read, action, done)}
    assert ids("?filter=unread") == {str(i.pk) for i in (unread, action, done)}
    assert ids("?filter=archived") == {str(archived.pk)}
    assert ids("?filter=action") == {str(action.pk)}
    assert ids("?kind=org_invite") == {str(action.pk), str(done.pk)}
    assert str(snoozed.pk) not in ids("?filter=all")


def test_bad_filters_are_400(user_client):
    assert user_client.get(URL + "?filter=everything").status_code == 400
    response = user_client.get(URL + "?kind=nope")
    assert response.status_code == 400 and "kind" in response.json()


@pytest.mark.parametrize("size", [5, 40])
def test_list_runs_constant_queries(user_client, user, network, size, django_assert_max_num_queries):
    actors = UserFactory.create_batch(3, network=network)
    for n in range(size):
        InboxItemFactory(recipient=user, actor=actors[n % 3])
    with django_assert_max_num_queries(6):
        response = user_client.get(URL + "?page_size=50")
    assert len(response.json()["results"]) == size


def test_cursor_pages_through_everything(user_client, user):
    items = [InboxItemFactory(recipient=user) for _ in range(7)]
    seen, url = [], URL + "?page_size=3"
    while url:
        body = user_client.get(url).json()
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert sorted(seen) == sorted(str(i.pk) for i in items)


def test_read_unread_archive_unarchive(user_client, user):
    item = InboxItemFactory(recipient=user)
    base = f"{URL}{item.pk}/"
    assert user_client.post(base + "read/").json()["is_read"] is True
    assert user_client.post(base + "read/").status_code == 200  # idempotent
    assert user_client.post(base + "unread/").json()["is_read"] is False
    body = user_client.post(base + "archive/").json()
    assert body["is_archived"] is True and body["is_read"] is True
    assert user_client.post(base + "unarchive/").json()["is_archived"] is False


def test_another_users_item_is_404_and_unchanged(user_client, network):
    theirs = InboxItemFactory(recipient=UserFactory(network=network))
    for verb in ("read", "unread", "archive", "unarchive"):
        assert user_client.post(f"{URL}{theirs.pk}/{verb}/").status_code == 404
    assert user_client.get(f"{URL}{theirs.pk}/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.read_at is None and theirs.archived_at is None


def test_snooze_hides_until_then(user_client, user):
    item = InboxItemFactory(recipient=user)
    until = timezone.now() + timedelta(hours=3)
    response = user_client.post(f"{URL}{item.pk}/snooze/", {"until": until.isoformat()}, format="json")
    assert response.status_code == 200
    assert _ids(user_client.get(URL)) == []
    assert user_client.get(URL + "unread-count/").json() == {"unread_count": 0}
    InboxItem.objects.filter(pk=item.pk).update(snoozed_until=timezone.now() - timedelta(seconds=1))
    assert _ids(user_client.get(URL)) == [str(item.pk)]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"until": "soon"},
        {"until": "2001-01-01T00:00:00Z"},
        {"until": "2999-01-01T00:00:00Z"},
        {"until": None},
    ],
)
def test_bad_snooze_is_400(user_client, user, body):
    item = InboxItemFactory(recipient=user)
    response = user_client.post(f"{URL}{item.pk}/snooze/", body, format="json")
    assert response.status_code == 400
    assert "until" in response.json()


def test_snoozing_an_archived_item_is_409(user_client, user):
    item = InboxItemFactory(recipient=user, archived_at=timezone.now())
    until = (timezone.now() + timedelta(hours=1)).isoformat()
    assert user_client.post(f"{URL}{item.pk}/snooze/", {"until": until}, format="json").status_code == 409


def test_unarchive_when_a_newer_item_is_open_is_409(user_client, user):
    old = InboxItemFactory(recipient=user, archived_at=timezone.now())
    InboxItemFactory(recipient=user, kind=old.kind, target_type=old.target_type, target_id=old.target_id)
    response = user_client.post(f"{URL}{old.pk}/unarchive/")
    assert response.status_code == 409 and response.json()["code"] == "newer_item_exists"


def test_unread_count(user_client, user):
    InboxItemFactory.create_batch(3, recipient=user)
    InboxItemFactory(recipient=user, read_at=timezone.now())
    InboxItemFactory(recipient=user, archived_at=timezone.now())
    assert user_client.get(URL + "unread-count/").json() == {"unread_count": 3}


def test_mark_all_read_in_batches_says_when_complete(user_client, user, settings):
    settings.INBOX_MARK_ALL_READ_BATCH = 4
    settings.INBOX_MARK_ALL_READ_BATCHES = 2
    items = [
        InboxItemFactory(recipient=user, last_event_at=timezone.now() - timedelta(minutes=n))
        for n in range(11)
    ]
    other = InboxItemFactory(recipient=UserFactory(network=user.network))
    first = user_client.post(URL + "mark-all-read/", {}, format="json").json()
    assert first == {"updated": 8, "complete": False}
    # newest first: the 8 most recent are read
    assert set(InboxItem.objects.filter(read_at__isnull=False).values_list("pk", flat=True)) == {
        i.pk for i in items[:8]
    }
    assert user_client.post(URL + "mark-all-read/", {}, format="json").json() == {
        "updated": 3,
        "complete": True,
    }
    other.refresh_from_db()
    assert other.read_at is None


def test_mark_all_read_before_a_time_leaves_newer_items(user_client, user):
    cutoff = timezone.now() - timedelta(minutes=5)
    old = InboxItemFactory(recipient=user, last_event_at=cutoff - timedelta(minutes=1))
    new = InboxItemFactory(recipient=user)
    body = user_client.post(URL + "mark-all-read/", {"before": cutoff.isoformat()}, format="json").json()
    assert body == {"updated": 1, "complete": True}
    old.refresh_from_db(), new.refresh_from_db()
    assert old.read_at is not None and new.read_at is None
    assert user_client.post(URL + "mark-all-read/", {"kind": "nope"}, format="json").status_code == 400


def test_api_key_needs_inbox_scopes(api_client, user):
    from tests.apikeys.factories import issue_key

    item = InboxItemFactory(recipient=user)
    reader = issue_key(user, scopes=["inbox:read"]).token
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {reader}")
    assert api_client.get(URL).status_code == 200
    assert api_client.post(f"{URL}{item.pk}/read/").status_code == 403
    writer = issue_key(user, scopes=["inbox:write"]).token
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {writer}")
    assert api_client.post(f"{URL}{item.pk}/read/").status_code == 200
    none = issue_key(user, scopes=["posts:read"]).token
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {none}")
    assert api_client.get(URL).status_code == 403


def test_anonymous_is_401(api_client):
    assert api_client.get(URL).status_code in (401, 403)
