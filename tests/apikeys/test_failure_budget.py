"""Wrong secrets are counted apart from the key they name (issue 7 §5).

Before: 620 requests with a real prefix and a bad secret spent the real key's
own budget, and the real key then got 429. Now failures count per client IP
and per prefix, and the key is charged only after its secret matched.
"""

from __future__ import annotations

import pytest
from django.test import Client

from apps.apikeys import usage
from apps.core.ratelimit import peek

from .factories import bearer, issue_key

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def _wrong(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


@pytest.fixture
def tight(settings):
    settings.API_KEY_RATE_LIMIT_PER_MINUTE = 5
    settings.API_KEY_FAILURE_RATE_PER_IP = "10/m"
    settings.API_KEY_FAILURE_RATE_PER_PREFIX = "1000/m"


def test_a_wrong_secret_on_a_real_prefix_never_locks_the_real_key_out(user, tight):
    issued = issue_key(user)
    attacker = Client(REMOTE_ADDR="192.0.2.66")
    codes = [attacker.get(ME, **bearer(_wrong(issued.token))).status_code for _ in range(30)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}  # the guesser is throttled
    assert peek(usage.rate_bucket(issued.api_key.pk), usage.key_rate()) == 0  # the key: nothing charged
    owner = Client(REMOTE_ADDR="198.51.100.7")
    assert [owner.get(ME, **bearer(issued.token)).status_code for _ in range(5)] == [200] * 5
    assert owner.get(ME, **bearer(issued.token)).status_code == 429  # its own budget, spent by itself


def test_failures_per_prefix_throttle_guessers_from_many_addresses(user, settings, tight):
    settings.API_KEY_FAILURE_RATE_PER_PREFIX = "10/m"
    issued = issue_key(user)
    codes = [
        Client(REMOTE_ADDR=f"192.0.2.{n}").get(ME, **bearer(_wrong(issued.token))).status_code
        for n in range(1, 21)
    ]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    # the right secret is judged on the key's budget only, even from a guessing address
    assert Client(REMOTE_ADDR="192.0.2.20").get(ME, **bearer(issued.token)).status_code == 200
