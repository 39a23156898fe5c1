"""The API-key hot path in one Redis round trip.

A warm request runs one Lua script that compares the presented secret's
HMAC with the cached key's, and then either

* **the secret matched** — returns the key record, its user and network
  (``apps.accounts.principals``, the same entries session requests read) and
  the user's security state, *and* charges the key: rate-limit INCR, usage
  HINCRBY, the once-a-minute last-used guard; or
* **it did not** (or the prefix is unknown) — charges nothing of the key and
  counts the failure in two fixed windows of their own, per client IP and
  per prefix (``apps.core.ratelimit`` buckets ``apikey-fail:ip:<ip>`` and
  ``apikey-fail:prefix:<prefix>``). Failures past
  ``API_KEY_FAILURE_RATE_PER_IP`` / ``API_KEY_FAILURE_RATE_PER_PREFIX``
  answer 429 instead of 401. A right secret is always judged on the key's
  own budget only: knowing a key's prefix lets nobody lock the key out.

The HMAC (keyed with ``API_KEY_PEPPER``) is computed in Python before the
call, so the comparison in Redis sees only digests; Python compares again
with ``hmac.compare_digest`` before trusting the record.

Cache layout (60 s; raw bytes written by this module):
* ``colony:apikeys:principal:<prefix>`` —
  ``b"<user id>\\n<key id>\\n<secret hash>\\n" + pickle(KeyRecord)``, or ``""``
  for an unknown prefix. Dropped on every key change (create, revoke,
  rotate, admin save); the user's and network's entries are dropped on their
  own changes (``principals``), so a suspension or a revoke takes effect at once.

A cold request loads what is missing from PostgreSQL (one query for the
key, one for the user with its network), caches it, and counts with
``usage.admit`` once the secret matched.
"""

from __future__ import annotations

import hmac
import pickle  # noqa: S403 — our own cache entries, written by this module
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings

from apps.accounts import principals
from apps.core import ratelimit
from apps.core.nearcache import ABSENT, near
from apps.core.ratelimit import Rate
from apps.core.redis import Script, get_redis, key

from . import selectors, usage

PRINCIPAL_TTL = 60
MATCHED, FAILED, COLD = 2, 1, 0

_SCRIPT_TEMPLATE = """
local rec = redis.call('GET', KEYS[1])
if not rec then return {0} end
local uid, kid, hash
if rec ~= '' then
  local a = string.find(rec, '\\n', 1, true)
  local b = string.find(rec, '\\n', a + 1, true)
  local c = string.find(rec, '\\n', b + 1, true)
  uid = string.sub(rec, 1, a - 1)
  kid = string.sub(rec, a + 1, b - 1)
  hash = string.sub(rec, b + 1, c - 1)
end
if rec == '' or hash ~= ARGV[4] then
  local fail_window = tonumber(ARGV[5])
  local by_ip = redis.call('INCR', KEYS[2])
  redis.call('EXPIRE', KEYS[2], fail_window + 1)
  local by_prefix = redis.call('INCR', KEYS[3])
  redis.call('EXPIRE', KEYS[3], fail_window + 1)
  return {1, by_ip, by_prefix}
end
local u = redis.call('GET', '@USER@' .. uid)
@NETWORK_OF_USER@
local sec = redis.call('GET', '@SEC_HEAD@' .. uid .. '@SEC_TAIL@')
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local window_start = now - now % window
local hour = now - now % 3600
local rl = '@RL@' .. kid .. ':' .. window_start
local count = redis.call('INCR', rl)
redis.call('EXPIRE', rl, window + 1)
local hash_name = '@USAGE@' .. hour
redis.call('HINCRBY', hash_name, kid .. ':r', 1)
redis.call('EXPIRE', hash_name, @USAGE_TTL@)
redis.call('SADD', '@HOURS@', hour)
local touch = 0
if count > limit then
  redis.call('HINCRBY', hash_name, kid .. ':t', 1)
elseif redis.call('SET', '@LAST_USED@' .. kid, '1', 'NX', 'EX', @LAST_USED_TTL@) then
  touch = 1
end
return {2, rec, u, n, sec, count, touch}
"""


@lru_cache(maxsize=1)
def _script() -> Script:
    # constant key prefixes are baked in: fewer arguments to encode per call
    sec_head, sec_tail = principals.security_key_affixes()
    replacements = {
        "@RL@": key("rl", "apikey:"),
        "@USAGE@": key("{apikeys}", "usage", ""),
        "@USAGE_TTL@": str(usage.USAGE_TTL_SECONDS),
        "@HOURS@": usage.HOURS,
        "@LAST_USED@": key("apikeys", "last-used", ""),
        "@LAST_USED_TTL@": str(usage.LAST_USED_INTERVAL),
        "@USER@": principals.USER_PREFIX,
        "@NETWORK_OF_USER@": principals.NETWORK_OF_USER_LUA,
        "@SEC_HEAD@": sec_head,
        "@SEC_TAIL@": sec_tail,
    }
    source = _SCRIPT_TEMPLATE
    for marker, value in replacements.items():
        source = source.replace(marker, value)
    return Script(source)


def principal_key(prefix: str) -> str:
    return key("apikeys", "principal", prefix)


def failure_buckets(prefix: str, ip: str | None) -> tuple[str, str]:
    """The ``apps.core.ratelimit`` buckets a failed attempt counts in (peek/reset work on them)."""
    return f"apikey-fail:ip:{ip or 'unknown'}", f"apikey-fail:prefix:{prefix}"


def failure_rates() -> tuple[Rate, Rate]:
    """(per IP, per prefix); both fixed windows of the same length."""
    by_ip = Rate.parse(settings.API_KEY_FAILURE_RATE_PER_IP)
    by_prefix = Rate.parse(settings.API_KEY_FAILURE_RATE_PER_PREFIX)
    if by_ip.window != by_prefix.window:
        by_prefix = Rate(
            limit=max(1, by_prefix.limit * by_ip.window // by_prefix.window), window=by_ip.window
        )
    return by_ip, by_prefix


@dataclass(frozen=True, slots=True)
class Failure:
    """A wrong secret or an unknown prefix: nothing of any key was charged."""

    throttled: bool  # past the per-IP or per-prefix failure rate
    retry_after: int


@dataclass(frozen=True, slots=True)
class Principal:
    record: selectors.KeyRecord | None
    api_key: Any  # ApiKey bound to its user and network (unsaved-looking, no queries)
    admission: usage.Admission | None
    failure: Failure | None = None
    #: what the script read (Redis key → raw value), for the near cache
    kept: dict[str, Any] | None = None

    @property
    def user(self) -> Any:
        return self.api_key.user if self.api_key is not None else None


def encode_record(record: selectors.KeyRecord) -> bytes:
    """The lookup fields for the script, then the record and its ApiKey instance (no relations)."""
    head = f"{record.user_id}\n{record.id}\n{record.secret_hash}\n".encode()
    return head + pickle.dumps((record, record.to_instance()), protocol=pickle.HIGHEST_PROTOCOL)


def _decode(raw: bytes) -> tuple[selectors.KeyRecord, Any]:
    third = raw.index(b"\n", raw.index(b"\n", raw.index(b"\n") + 1) + 1)
    return pickle.loads(raw[third + 1 :])  # noqa: S301 — written by encode_record


def decode_record(raw: bytes) -> selectors.KeyRecord:
    return _decode(raw)[0]


def load(prefix: str, *, secret_hash: str, ip: str | None) -> Principal:
    """The key of ``prefix`` if ``secret_hash`` is its secret's, counted; else the failure, counted.

    With the key's record, user, network and security state all in this
    process's near cache (``apps.core.nearcache``) and the secret matching,
    no round trip: the key is charged by ``usage.meter``. Anything else —
    a copy missing, an unknown prefix, a wrong secret — takes the script.
    """
    generation = near.begin()
    if generation is not None:
        warm = _near_load(prefix, secret_hash)
        if warm is not None:
            return warm
    principal = _load_by_script(prefix, secret_hash=secret_hash, ip=ip)
    if generation is not None and principal.kept is not None:
        near.put(principal.kept, generation)
    return principal


def _near_load(prefix: str, secret_hash: str) -> Principal | None:
    record_raw = near.get(principal_key(prefix))
    if record_raw is None or record_raw is ABSENT or not record_raw:
        return None
    user_id, key_id, cached_hash = record_raw.split(b"\n", 3)[:3]
    if not hmac.compare_digest(cached_hash, secret_hash.encode()):
        return None  # judged and counted by the script
    found = principals.near_principal(user_id.decode())
    if found is None or ABSENT in found[:2]:  # a copy missing, or the user / network gone
        return None
    user_raw, network_raw, security_raw = found
    record, api_key = _decode(record_raw)
    if not hmac.compare_digest(secret_hash, record.secret_hash):
        return None
    admission = usage.meter.admit(key_id.decode())
    user = principals.assemble(user_raw, network_raw, record.user_id)
    if security_raw is not ABSENT:
        principals.remember_security_raw(user.pk, security_raw)
    api_key.user = user
    api_key.network = user.network
    return Principal(record, api_key, admission)


def _load_by_script(prefix: str, *, secret_hash: str, ip: str | None) -> Principal:
    rate = usage.key_rate()
    fail_ip, fail_prefix = failure_rates()
    now = int(time.time())
    ip_bucket, prefix_bucket = failure_buckets(prefix, ip)
    reply = _script()(
        keys=[
            principal_key(prefix),
            key("rl", ip_bucket, fail_ip.window_start(now)),
            key("rl", prefix_bucket, fail_prefix.window_start(now)),
        ],
        args=[now, rate.limit, rate.window, secret_hash, fail_ip.window],
        raw=True,
    )
    status = int(reply[0])
    if status == FAILED:
        return _failed(int(reply[1]), int(reply[2]), now)
    if status == COLD:
        return _load_cold(prefix, secret_hash=secret_hash, ip=ip)
    _, record_raw, user_raw, network_raw, security_raw, count, touch = reply
    record, api_key = _decode(record_raw)
    kept = {principal_key(prefix): record_raw}
    if user_raw is not None:
        kept.update(principals.principal_entries(str(record.user_id), user_raw, network_raw, security_raw))
    if not hmac.compare_digest(secret_hash, record.secret_hash):  # the script compared; trust nothing
        return Principal(None, None, None, Failure(throttled=False, retry_after=0))
    admission = usage.Admission(
        allowed=int(count) <= rate.limit,
        retry_after=rate.retry_after(now),
        hour=usage.current_hour(now),
        touch_last_used=bool(touch),
    )
    user = principals.assemble(user_raw, network_raw, record.user_id)
    if user is None:
        return Principal(record, None, admission)  # the key's user is gone: refused
    if security_raw is not None:
        principals.remember_security_raw(user.pk, security_raw)
    api_key.user = user
    api_key.network = user.network
    return Principal(record, api_key, admission, kept=kept)


def _failed(by_ip: int, by_prefix: int, now: int) -> Principal:
    fail_ip, fail_prefix = failure_rates()
    throttled = by_ip > fail_ip.limit or by_prefix > fail_prefix.limit
    return Principal(None, None, None, Failure(throttled=throttled, retry_after=fail_ip.retry_after(now)))


def _count_failure(prefix: str, ip: str | None) -> Principal:
    fail_ip, fail_prefix = failure_rates()
    ip_bucket, prefix_bucket = failure_buckets(prefix, ip)
    now = int(time.time())
    pipe = get_redis().pipeline(transaction=False)
    for bucket, rate in ((ip_bucket, fail_ip), (prefix_bucket, fail_prefix)):
        name = key("rl", bucket, rate.window_start(now))
        pipe.incr(name)
        pipe.expire(name, rate.window + 1)
    by_ip, _, by_prefix, _ = pipe.execute()
    return _failed(int(by_ip), int(by_prefix), now)


def _load_cold(prefix: str, *, secret_hash: str, ip: str | None) -> Principal:
    record = selectors.key_record(prefix)
    client = get_redis()
    if record is None:
        client.set(principal_key(prefix), "", ex=PRINCIPAL_TTL)
        return _count_failure(prefix, ip)
    client.set(principal_key(prefix), encode_record(record), ex=PRINCIPAL_TTL)
    if not hmac.compare_digest(secret_hash, record.secret_hash):
        return _count_failure(prefix, ip)
    user = principals.load_user(record.user_id)
    if user is None:
        return Principal(record, None, None)  # the key's user is gone: refused
    return Principal(record, record.to_instance(user=user), usage.admit(record.id))


def forget(prefixes: list[str]) -> None:
    if prefixes:
        get_redis().delete(*[principal_key(p) for p in prefixes])


def reset_failures(prefix: str, ip: str | None) -> None:
    """Clear the failure windows of a prefix and an address (support tooling, tests)."""
    fail_ip, fail_prefix = failure_rates()
    ip_bucket, prefix_bucket = failure_buckets(prefix, ip)
    ratelimit.reset(ip_bucket, fail_ip)
    ratelimit.reset(prefix_bucket, fail_prefix)
