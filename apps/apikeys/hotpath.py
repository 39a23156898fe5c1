"""The API-key hot path in one Redis round trip.

A warm request runs one Lua script that returns the cached principal (the
key record and its user with the network, pickled) *and* does the per-key
bookkeeping — rate-limit INCR, usage HINCRBY, the once-a-minute last-used
guard — so authentication costs one Redis round trip, an HMAC and no SQL.

Cache layout (60 s, dropped on key changes and on user/network saves):
* ``colony:apikeys:principal:<prefix>`` — base64(pickle((KeyRecord, ApiKey)))
  where the ApiKey instance carries its user and the user's network
  or ``""`` for an unknown prefix;
* ``colony:apikeys:kid:<prefix>`` — the key id, which names the counters.

A cold request loads both from PostgreSQL (one query for the key, one for
the user with its network), caches them, and counts with ``usage.admit``.
Counting happens before the secret is compared, so a wrong secret for a
real prefix counts as a request of that key (and as an error).
"""

from __future__ import annotations

import base64
import pickle  # noqa: S403 — our own cache entries, written by this module
import time
from dataclasses import dataclass
from typing import Any

from apps.core.redis import get_redis, key

from . import selectors, usage

PRINCIPAL_TTL = 60

_SCRIPT_TEMPLATE = """
local blob = redis.call('GET', KEYS[1])
if not blob then return {false, 0, 0} end
local kid = redis.call('GET', KEYS[2])
if (not kid) or blob == '' then return {blob, 0, 0} end
local now = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local window_start = now - now % window
local hour = now - now % 3600
local rl = '@RL@' .. kid .. ':' .. window_start
local count = redis.call('INCR', rl)
redis.call('EXPIRE', rl, window + 1)
local hash = '@USAGE@' .. hour
redis.call('HINCRBY', hash, kid .. ':r', 1)
redis.call('EXPIRE', hash, @USAGE_TTL@)
redis.call('SADD', '@HOURS@', hour)
local touch = 0
if count > limit then
  redis.call('HINCRBY', hash, kid .. ':t', 1)
elseif redis.call('SET', '@LAST_USED@' .. kid, '1', 'NX', 'EX', @LAST_USED_TTL@) then
  touch = 1
end
return {blob, count, touch}
"""


def _script_source() -> str:
    # constant key prefixes are baked in: fewer arguments to encode per call
    replacements = {
        "@RL@": key("rl", "apikey:"),
        "@USAGE@": key("{apikeys}", "usage", ""),
        "@USAGE_TTL@": str(usage.USAGE_TTL_SECONDS),
        "@HOURS@": usage.HOURS,
        "@LAST_USED@": key("apikeys", "last-used", ""),
        "@LAST_USED_TTL@": str(usage.LAST_USED_INTERVAL),
    }
    source = _SCRIPT_TEMPLATE
    for marker, value in replacements.items():
        source = source.replace(marker, value)
    return source


_script_cache: dict[int, Any] = {}


def principal_key(prefix: str) -> str:
    return key("apikeys", "principal", prefix)


def kid_key(prefix: str) -> str:
    return key("apikeys", "kid", prefix)


def _script() -> Any:
    client = get_redis()
    script = _script_cache.get(id(client))
    if script is None:
        script = _script_cache[id(client)] = client.register_script(_script_source())
    return script


@dataclass(frozen=True, slots=True)
class Principal:
    record: selectors.KeyRecord | None
    api_key: Any  # ApiKey bound to its user and network (unsaved-looking, no queries)
    admission: usage.Admission | None

    @property
    def user(self) -> Any:
        return self.api_key.user if self.api_key is not None else None


def _encode(record: selectors.KeyRecord, api_key: Any) -> str:
    return base64.b64encode(pickle.dumps((record, api_key), protocol=pickle.HIGHEST_PROTOCOL)).decode()


def _decode(blob: str) -> tuple[selectors.KeyRecord, Any]:
    return pickle.loads(base64.b64decode(blob))  # noqa: S301 — written by _encode above


def load(prefix: str) -> Principal:
    """The key and its user for ``prefix``, with this request counted when the key exists."""
    rate = usage.key_rate()
    now = int(time.time())
    blob, count, touch = _script()(
        keys=[principal_key(prefix), kid_key(prefix)], args=[now, rate.limit, rate.window]
    )
    if blob == "":
        return Principal(None, None, None)
    if blob is not None and int(count) > 0:
        record, api_key = _decode(blob)
        admission = usage.Admission(
            allowed=int(count) <= rate.limit,
            retry_after=rate.retry_after(now),
            hour=usage.current_hour(now),
            touch_last_used=bool(touch),
        )
        return Principal(record, api_key, admission)
    return _load_cold(prefix)


def _load_cold(prefix: str) -> Principal:
    record = selectors.key_record(prefix)
    client = get_redis()
    if record is None:
        client.set(principal_key(prefix), "", ex=PRINCIPAL_TTL)
        return Principal(None, None, None)
    user = selectors.user_with_network(record.user_id)
    if user is None:
        return Principal(record, None, None)  # the key's user is gone: refused
    pipe = client.pipeline(transaction=False)
    api_key = record.to_instance(user=user)
    pipe.set(principal_key(prefix), _encode(record, api_key), ex=PRINCIPAL_TTL)
    pipe.set(kid_key(prefix), record.id, ex=PRINCIPAL_TTL)
    pipe.execute()
    return Principal(record, api_key, usage.admit(record.id))


def forget(prefixes: list[str]) -> None:
    if prefixes:
        names = [principal_key(p) for p in prefixes] + [kid_key(p) for p in prefixes]
        get_redis().delete(*names)
