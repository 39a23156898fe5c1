"""The anonymous waitlist: double opt-in, no enumeration, honeypot, rate limit, positions, referrals."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from apps.invites import services
from apps.invites.models import InviteWaitlist

from .factories import WaitlistFactory

pytestmark = pytest.mark.django_db
JOIN = "/api/v1/waitlist/"


def _join(email, client=None, ip="203.0.113.1", **extra):
    client = client or APIClient(REMOTE_ADDR=ip)
    return client.post(JOIN, {"email": email, **extra}, format="json", REMOTE_ADDR=ip)


def _token_from_mail(kind: str = "confirm") -> str:
    match = re.search(rf"/waitlist/{kind}/([^/\s]+)/", mail.outbox[-1].body)
    assert match, mail.outbox[-1].body
    return match.group(1)


def _verify(token: str):
    return APIClient().post("/api/v1/waitlist/verify/", {"token": token}, format="json")


def test_join_then_confirm_gives_position_and_a_status_token(network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _join("Ann@Example.com", name="Ann")
    assert response.status_code == 202
    entry = InviteWaitlist.objects.get()
    assert (entry.email, entry.position, entry.email_verified_at) == ("ann@example.com", 1, None)
    assert mail.outbox[0].to == ["ann@example.com"]
    standing = _verify(_token_from_mail())
    assert standing.status_code == 200, standing.json()
    data = standing.json()
    assert (data["position"], data["ahead"], data["status"]) == (1, 0, "waiting")
    assert data["referral_url"].endswith(f"?ref={entry.referral_code}")
    me = APIClient().get(f"/api/v1/waitlist/me/?token={data['token']}")
    assert me.status_code == 200 and me.json()["position"] == 1 and me.json()["token"] is None


def test_a_known_email_gets_the_same_answer_and_nothing_is_stored_twice(
    network, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        new = _join("same@example.com")
    InviteWaitlist.objects.update(last_mailed_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        known = _join("same@example.com", ip="203.0.113.2")
    assert (new.status_code, new.json()) == (known.status_code, known.json())
    assert InviteWaitlist.objects.count() == 1
    assert len(mail.outbox) == 2 and all(
        m.to == ["same@example.com"] for m in mail.outbox
    )  # only the owner learns


def test_a_filled_honeypot_answers_the_same_and_stores_nothing(network):
    response = _join("bot@example.com", website="http://spam.example")
    assert response.status_code == 202 and response.json() == _join("real@example.com").json()
    assert list(InviteWaitlist.objects.values_list("email", flat=True)) == ["real@example.com"]


def test_five_joins_an_hour_per_ip(network):
    codes = [_join(f"p{i}@example.com", ip="198.51.100.9").status_code for i in range(6)]
    assert codes == [202] * 5 + [429]
    assert _join("other@example.com", ip="198.51.100.10").status_code == 202
    assert InviteWaitlist.objects.count() == 6


@pytest.mark.parametrize("email", ["not-an-email", "", "a@", "x" * 300 + "@example.com"])
def test_a_malformed_email_is_a_400(network, email):
    response = _join(email)
    assert response.status_code == 400 and "email" in response.json()
    assert not InviteWaitlist.objects.exists()


def test_a_confirmation_token_works_once_and_expires(network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _join("once@example.com")
    token = _token_from_mail()
    assert _verify(token).status_code == 200
    reused = _verify(token)
    assert reused.status_code == 400 and reused.json()["code"] == "token_invalid"
    with django_capture_on_commit_callbacks(execute=True):
        _join("late@example.com")
    InviteWaitlist.objects.filter(email="late@example.com").update(verify_expires_at=timezone.now())
    assert _verify(_token_from_mail()).json()["code"] == "token_invalid"
    assert _verify("made-up").status_code == 400


def test_the_verify_link_page_confirms_only_on_post(network, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _join("page@example.com")
    token = _token_from_mail()
    assert Client().get(f"/waitlist/confirm/{token}/").status_code == 200  # a mail scanner's prefetch
    assert InviteWaitlist.objects.get().email_verified_at is None
    response = Client().post(f"/waitlist/confirm/{token}/")
    assert b"You are number" in response.content
    assert InviteWaitlist.objects.get().email_verified_at is not None


def test_positions_are_unique_under_concurrent_joins(transactional_db, network):
    errors: list[Exception] = []

    def join(i: int) -> None:
        try:
            services.join_waitlist(network=network, email=f"c{i}@example.com", ip=f"192.0.2.{i}")
        except Exception as exc:  # noqa: BLE001 — collected and asserted below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=join, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(InviteWaitlist.objects.values_list("position", flat=True)) == list(range(1, 9))


def _confirmed_referral(network, referrer, email, ip):
    services.join_waitlist(network=network, email=email, ip=ip, referral_code=referrer.referral_code)
    entry = InviteWaitlist.objects.get(email=email)
    token = "t-" + email
    from apps.core.tokens import hash_token

    InviteWaitlist.objects.filter(pk=entry.pk).update(verify_token_hash=hash_token(token))
    services.verify_waitlist_email(network=network, token=token)
    return entry


def test_confirmed_referrals_move_the_referrer_up_to_the_cap(network, settings):
    settings.WAITLIST_REFERRAL_BOOST, settings.WAITLIST_REFERRAL_CAP = 10, 2
    WaitlistFactory.reset_sequence(0)
    ahead = [WaitlistFactory(network=network) for _ in range(30)]
    referrer = WaitlistFactory(network=network, position=31, priority_score=31, ip_hash="")
    services.join_waitlist(
        network=network, email="unconfirmed@example.com", ip="10.0.0.1", referral_code=referrer.referral_code
    )
    referrer.refresh_from_db()
    assert referrer.verified_referral_count == 0  # not confirmed yet: does not count
    for i in range(3):
        _confirmed_referral(network, referrer, f"friend{i}@example.com", f"10.0.1.{i}")
    referrer.refresh_from_db()
    assert referrer.verified_referral_count == 3
    assert referrer.priority_score == 31 - 10 * 2  # capped at two referrals
    assert services.people_ahead(referrer) == 11  # positions 1–11 (a tie on score goes by position)
    assert len(ahead) == 30


def test_self_referrals_are_ignored(network):
    referrer = WaitlistFactory(
        network=network, email="me@example.com", ip_hash=services.waitlist.ip_hash("10.9.9.9")
    )
    _confirmed_referral(network, referrer, "me+alt@example.com", "10.1.1.1")  # the same address with a tag
    _confirmed_referral(network, referrer, "friend@example.com", "10.9.9.9")  # the same IP
    referrer.refresh_from_db()
    assert referrer.verified_referral_count == 0
    assert not InviteWaitlist.objects.filter(referred_by=referrer).exists()


def test_a_referral_code_of_another_network_is_ignored(network, other_network):
    foreign = WaitlistFactory(network=other_network)
    response = _join("cross@example.com", referral_code=foreign.referral_code)
    assert response.status_code == 202
    assert InviteWaitlist.objects.get(email="cross@example.com").referred_by is None


def test_repair_scores_recounts_drift(network, settings):
    settings.WAITLIST_REFERRAL_BOOST, settings.WAITLIST_REFERRAL_CAP = 10, 20
    referrer = WaitlistFactory(network=network, position=50, priority_score=50)
    WaitlistFactory(network=network, referred_by=referrer)
    InviteWaitlist.objects.filter(pk=referrer.pk).update(verified_referral_count=7, priority_score=0)
    assert services.repair_scores() >= 1
    referrer.refresh_from_db()
    assert (referrer.verified_referral_count, referrer.priority_score) == (1, 40)
