"""Who is calling, from Redis: a user with its network, for sessions and API keys alike.

Session requests (cookie or ``X-Session-Token``) and API-key requests load
their user and network here instead of from PostgreSQL. Layout (60 s, raw
pickles written by this module):

* ``colony:principal:user:<user id>`` — ``b"<network id>\\n" + pickle(user)``
  (the user row alone, no related objects);
* ``colony:principal:network:<network id>`` — ``pickle(network)``;
* ``colony:principal:session:<session key>`` — the session's user id.

A warm session request reads its session, the user, its network and the
user's ``security_state`` (``apps.accounts.selectors``, the Django cache
entry) in one Lua round trip (``load_session``, run by
``apps.accounts.session_store``): the session's entry names no user Redis
could read, so a pointer ``colony:principal:session:<session key>`` → user
id (60 s, written by ``load_user``'s round trip on the way in) says whose
entries to read along with it. The pointer is only a hint: the user id in
the session's own data must match it, or the user is loaded the normal way
(``load_user``, its own round trip). The API-key script
(``apps.apikeys.hotpath``) reads the same two entries in its own single
round trip. A cold entry is loaded with one SQL query (user JOIN network,
built once) and written back.

Invalidation (``apps.accounts.receivers``-style fan-out in ``connect()``):
a user's entry is dropped on its ``post_save`` (except last-login/last-seen
touches), ``post_delete`` and the bulk ``users_changed`` signal; a network's
on its ``post_save``/``post_delete`` — at once and again on commit, so a
request that re-read the old row mid-transaction cannot keep it. Anything
that bypasses those (a raw ``UPDATE``) shows within the 60 s TTL.
"""

from __future__ import annotations

import pickle  # noqa: S403 — our own cache entries, written by this module
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.cache.backends.redis import RedisSerializer
from django.core.exceptions import ValidationError
from django.db import connection, transaction

from apps.core.nearcache import ABSENT, near
from apps.core.redis import Script, get_redis, key

TTL = 60

_serializer = RedisSerializer()  # the Django cache's value format (security state)

USER_PREFIX = key("principal", "user", "")
NETWORK_PREFIX = key("principal", "network", "")

SESSION_PREFIX = key("principal", "session", "")

#: Lua shared by the scripts that read a user entry ``u``: sets ``n`` to its network's
#: entry (false without ``u``); the network id is the user entry's first line (ids have
#: no newline; the pickle comes after it)
NETWORK_OF_USER_LUA = f"""
local n = false
if u then
  local nl = string.find(u, '\\n', 1, true)
  n = redis.call('GET', '{NETWORK_PREFIX}' .. string.sub(u, 1, nl - 1))
end
"""

# KEYS[1] user entry, KEYS[2] security-state entry, KEYS[3] (optional) the session's
# pointer to set to ARGV[1] (the user id) for ARGV[2] seconds
_SESSION_SCRIPT = Script(
    f"""
if KEYS[3] then redis.call('SET', KEYS[3], ARGV[1], 'EX', tonumber(ARGV[2])) end
local u = redis.call('GET', KEYS[1])
local sec = redis.call('GET', KEYS[2])
{NETWORK_OF_USER_LUA}
return {{u, n, sec}}
"""
)


@lru_cache(maxsize=1)
def _session_load_script() -> Script:
    # KEYS[1] the session's cache entry, KEYS[2] its pointer
    sec_head, sec_tail = security_key_affixes()
    return Script(
        f"""
local s = redis.call('GET', KEYS[1])
if not s then return {{false}} end
local uid = redis.call('GET', KEYS[2])
if not uid then return {{s}} end
local u = redis.call('GET', '{USER_PREFIX}' .. uid)
local sec = redis.call('GET', '{sec_head}' .. uid .. '{sec_tail}')
{NETWORK_OF_USER_LUA}
return {{s, uid, u, n, sec}}
"""
    )


@lru_cache(maxsize=1)
def security_key_affixes() -> tuple[str, str]:
    """The Django cache's name of a user's security-state entry, around the user id (for Lua)."""
    from django.core.cache import cache

    from .selectors import security_cache_key

    head, _, tail = cache.make_key(security_cache_key("\0")).partition("\0")
    return head, tail


@dataclass(frozen=True, slots=True)
class Prefetched:
    """The principal entries read with a session, for the user its pointer named."""

    user_id: str
    user_raw: bytes | None
    network_raw: bytes | None
    security_raw: bytes | None


def load_session(cache_key: str, session_key: str) -> tuple[bytes | None, Prefetched | None]:
    """The session's cache entry (raw) and, when its pointer is set, that user's entries.

    From this process's copies (``apps.core.nearcache``) when they hold all
    of it — no round trip — else one round trip, whose replies are kept.
    """
    pointer = session_pointer_key(session_key)
    generation = near.begin()
    if generation is not None:
        local = _near_session(cache_key, pointer)
        if local is not None:
            return local
    reply = _session_load_script()(keys=[cache_key, pointer], args=[], raw=True)
    if generation is not None:
        near.put(_session_entries(reply, cache_key, pointer), generation)
    if reply[0] is None or len(reply) < 5:
        return reply[0], None
    return reply[0], Prefetched(reply[1].decode(), reply[2], reply[3], reply[4])


def _near_session(cache_key: str, pointer: str) -> tuple[bytes | None, Prefetched | None] | None:
    """What ``load_session``'s script would answer, from the copies alone; None if any is missing."""
    raw = near.get(cache_key)
    if raw is None:
        return None
    if raw is ABSENT:
        return None, None
    uid = near.get(pointer)
    if uid is None:
        return None
    if uid is ABSENT:
        return raw, None
    uid = uid.decode()
    found = near_principal(uid)
    if found is None:
        return None
    return raw, Prefetched(uid, *(None if value is ABSENT else value for value in found))


def _session_entries(reply: list[Any], cache_key: str, pointer: str) -> dict[str, Any]:
    """The Redis keys ``load_session``'s script read, with what it found (None: absent)."""
    entries: dict[str, Any] = {cache_key: reply[0]}
    if reply[0] is None:
        return entries
    if len(reply) < 5:
        entries[pointer] = None
        return entries
    entries[pointer] = reply[1]
    entries.update(principal_entries(reply[1].decode(), reply[2], reply[3], reply[4]))
    return entries


def network_key_of(user_raw: bytes) -> str:
    """The key of the network entry a user entry names (its first line)."""
    return NETWORK_PREFIX + user_raw[: user_raw.index(b"\n")].decode()


def near_principal(uid: str) -> tuple[Any, Any, Any] | None:
    """A user's (user, network, security state) entries from the near copies — ``ABSENT`` where
    Redis has none — or None when a copy is missing (the caller reads Redis)."""
    user_raw = near.get(USER_PREFIX + uid)
    security_raw = near.get(_security_cache_key(uid))
    if user_raw is None or security_raw is None:
        return None
    network_raw: Any = ABSENT
    if user_raw is not ABSENT:
        network_raw = near.get(network_key_of(user_raw))
        if network_raw is None:
            return None
    return user_raw, network_raw, security_raw


def principal_entries(uid: str, user_raw: Any, network_raw: Any, security_raw: Any) -> dict[str, Any]:
    """A user's principal entries as read from Redis (None: absent), keyed for ``near.put``."""
    entries = {USER_PREFIX + uid: user_raw, _security_cache_key(uid): security_raw}
    if user_raw is not None:
        entries[network_key_of(user_raw)] = network_raw
    return entries


def session_pointer_key(session_key: str) -> str:
    return SESSION_PREFIX + session_key


def user_key(user_id: Any) -> str:
    return USER_PREFIX + str(user_id)


def network_key(network_id: Any) -> str:
    return NETWORK_PREFIX + str(network_id)


# --- encoding ------------------------------------------------------------------------


def encode_user(user: Any) -> bytes:
    """The user row alone (its cached network is stored under its own key)."""
    fields_cache = user._state.fields_cache
    user._state.fields_cache = {}
    try:
        blob = pickle.dumps(user, protocol=pickle.HIGHEST_PROTOCOL)
    finally:
        user._state.fields_cache = fields_cache
    return str(user.network_id).encode() + b"\n" + blob


def decode_user(raw: bytes) -> Any:
    return pickle.loads(raw[raw.index(b"\n") + 1 :])  # noqa: S301 — written by encode_user


def encode_network(network: Any) -> bytes:
    return pickle.dumps(network, protocol=pickle.HIGHEST_PROTOCOL)


def decode_network(raw: bytes) -> Any:
    return pickle.loads(raw)  # noqa: S301 — written by encode_network


# --- loading -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _user_with_network_sql() -> tuple[str, list[str], list[str], list[tuple[int, Any]]]:
    from apps.networks.models import Network

    from .models import User

    quote = connection.ops.quote_name
    fields = [*User._meta.concrete_fields, *Network._meta.concrete_fields]
    user_fields = [f.attname for f in User._meta.concrete_fields]
    network_fields = [f.attname for f in Network._meta.concrete_fields]
    # what the ORM applies to raw column values (JSON decoding, …)
    converters = [(i, f.from_db_value) for i, f in enumerate(fields) if hasattr(f, "from_db_value")]
    columns = [f"u.{quote(f.column)}" for f in User._meta.concrete_fields] + [
        f"n.{quote(f.column)}" for f in Network._meta.concrete_fields
    ]
    network_fk = quote(User._meta.get_field("network").column)
    # identifiers come from model metadata (quoted); the only value is a parameter
    sql = (
        f"SELECT {', '.join(columns)} FROM {quote(User._meta.db_table)} u "  # noqa: S608
        f"JOIN {quote(Network._meta.db_table)} n ON n.{quote(Network._meta.pk.column)} = u.{network_fk} "
        f"WHERE u.{quote(User._meta.pk.column)} = %s"
    )
    return sql, user_fields, network_fields, converters


def user_with_network(user_id: Any) -> Any:
    """The user with its network from PostgreSQL, in one query built once (None if gone).

    Equivalent to ``User.objects.select_related("network").filter(pk=…).first()``
    without compiling the ORM query each time.
    """
    from apps.networks.models import Network

    from .models import User

    sql, user_fields, network_fields, converters = _user_with_network_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_id])
        row = cursor.fetchone()
    if row is None:
        return None
    row = list(row)
    for index, convert in converters:
        row[index] = convert(row[index], None, connection)
    split = len(user_fields)
    user = User.from_db(connection.alias, user_fields, row[:split])
    user.network = Network.from_db(connection.alias, network_fields, row[split:])
    return user


def store(user: Any, *, user_entry: bool = True, network_entry: bool = True) -> None:
    """Cache a freshly loaded user and/or its network (one pipelined round trip)."""
    pipe = get_redis().pipeline(transaction=False)
    if user_entry:
        pipe.set(user_key(user.pk), encode_user(user), ex=TTL)
    if network_entry:
        pipe.set(network_key(user.network_id), encode_network(user.network), ex=TTL)
    pipe.execute()


def assemble(user_raw: bytes | None, network_raw: bytes | None, user_id: Any) -> Any:
    """A user bound to its network from the two cached entries; SQL for the missing ones."""
    if user_raw is not None and network_raw is not None:
        user = decode_user(user_raw)
        user.network = decode_network(network_raw)
        return user
    user = user_with_network(user_id)
    if user is not None:
        store(user, user_entry=user_raw is None, network_entry=network_raw is None)
    return user


def load_user(user_id: Any, *, session_key: str | None = None) -> Any:
    """The user with its network and, memoised for this request, its security state.

    One Redis round trip when warm (else one query for what is missing); None
    if the user is gone. The state goes to ``selectors.remember_security_state``,
    so the request reads it once, whoever asks (2FA policy, session checks,
    ``has_2fa``, organization policies). With ``session_key``, the same round
    trip points that session at this user, so its next request reads all of
    it with the session (``load_session``).
    """
    keys = [user_key(user_id), _security_cache_key(user_id)]
    args: list[Any] = []
    if session_key:
        keys.append(session_pointer_key(session_key))
        args = [str(user_id), TTL]
    user_raw, network_raw, security_raw = _SESSION_SCRIPT(keys=keys, args=args, raw=True)
    return _bound(assemble(user_raw, network_raw, user_id), security_raw)


def _bound(user: Any, security_raw: bytes | None) -> Any:
    if user is not None and security_raw is not None:
        remember_security_raw(user.pk, security_raw)
    return user


def _session_principal(session: Any, user_id: Any) -> Any:
    """The session's user: from what its load prefetched when it names this user, else ``load_user``."""
    if not hasattr(session, "prefetched_principal"):  # another session engine: no pointer
        return load_user(user_id)
    prefetched = session.prefetched_principal
    if prefetched is not None and prefetched.user_id == str(user_id):
        return _bound(assemble(prefetched.user_raw, prefetched.network_raw, user_id), prefetched.security_raw)
    return load_user(user_id, session_key=session.session_key)


def decode_cache_value(raw: bytes) -> Any:
    """A Django cache entry's value from its raw bytes (the session entry read by ``load_session``)."""
    return _serializer.loads(raw)


def remember_security_raw(user_id: Any, raw: bytes) -> None:
    """Hand a prefetched security-state entry (the Django cache's bytes) to this request's memo."""
    from . import selectors

    try:
        state = _serializer.loads(raw)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, TypeError):
        return  # unreadable: security_state() reads (and rewrites) it the normal way
    selectors.remember_security_state(user_id, state)


def session_user(session: Any) -> Any:
    """``django.contrib.auth.get_user`` for ``session``, with the user from the cache.

    Same rules: the backend named in the session must still be configured,
    the user must pass its ``user_can_authenticate`` (active), and the
    session's auth hash must match the user's password hash (else the
    session is flushed). Backends with their own ``get_user`` are asked as
    Django would.
    """
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, load_backend
    from django.contrib.auth.backends import ModelBackend
    from django.contrib.auth.models import AnonymousUser
    from django.utils.crypto import constant_time_compare

    from .models import User

    try:
        user_id = User._meta.pk.to_python(session[SESSION_KEY])
        backend_path = session[BACKEND_SESSION_KEY]
    except (KeyError, ValidationError):
        return AnonymousUser()
    if backend_path not in settings.AUTHENTICATION_BACKENDS:
        return AnonymousUser()
    backend = load_backend(backend_path)
    if type(backend).get_user is ModelBackend.get_user:
        user = _session_principal(session, user_id)
        if user is not None and not backend.user_can_authenticate(user):
            user = None
    else:
        user = backend.get_user(user_id)
    if user is None:
        return AnonymousUser()
    session_hash = session.get(HASH_SESSION_KEY)
    if session_hash and constant_time_compare(session_hash, user.get_session_auth_hash()):
        return user
    if session_hash and any(
        constant_time_compare(session_hash, fallback) for fallback in user.get_session_auth_fallback_hash()
    ):
        session.cycle_key()
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        return user
    session.flush()
    return AnonymousUser()


def _security_cache_key(user_id: Any) -> str:
    head, tail = security_key_affixes()
    return f"{head}{user_id}{tail}"


def near_prefixes() -> list[str]:
    """The key prefixes this process keeps near copies of for sessions and principals."""
    from django.contrib.sessions.backends.cached_db import KEY_PREFIX as SESSION_KEY_PREFIX
    from django.core.cache import cache

    return [
        USER_PREFIX,
        NETWORK_PREFIX,
        SESSION_PREFIX,
        security_key_affixes()[0],
        cache.make_key(SESSION_KEY_PREFIX),
    ]


# --- invalidation ----------------------------------------------------------------------


def _delete_now_and_on_commit(names: list[str]) -> None:
    if not names:
        return
    client = get_redis()
    client.delete(*names)
    if connection.in_atomic_block:
        transaction.on_commit(lambda: client.delete(*names))


def forget_users(user_ids: Iterable[Any]) -> None:
    ids = [uid for uid in user_ids if uid is not None]
    for start in range(0, len(ids), 500):
        _delete_now_and_on_commit([user_key(uid) for uid in ids[start : start + 500]])


def forget_networks(network_ids: Iterable[Any]) -> None:
    _delete_now_and_on_commit([network_key(nid) for nid in network_ids if nid is not None])


#: saved on every login / request: they never change what a principal may do
IRRELEVANT_USER_FIELDS = frozenset({"last_login", "last_seen_at", "updated_at"})


def connect() -> None:
    """Wire the invalidation (called once from ``AccountsConfig.ready``)."""
    from django.db.models.signals import post_delete, post_save

    near.track(*near_prefixes())

    from apps.networks.models import Network

    from .models import User
    from .signals import users_changed

    def user_saved(
        sender: Any, instance: Any, created: bool = False, update_fields: Any = None, **kw: Any
    ) -> None:
        if created or (update_fields and set(update_fields) <= IRRELEVANT_USER_FIELDS):
            return
        forget_users([instance.pk])

    def user_deleted(sender: Any, instance: Any, **kw: Any) -> None:
        forget_users([instance.pk])

    def users_bulk_changed(sender: Any, user_ids: Iterable[Any], **kw: Any) -> None:
        forget_users(user_ids)

    def network_changed(sender: Any, instance: Any, created: bool = False, **kw: Any) -> None:
        if not created:
            forget_networks([instance.pk])

    post_save.connect(user_saved, sender=User, weak=False, dispatch_uid="principals.user_saved")
    post_delete.connect(user_deleted, sender=User, weak=False, dispatch_uid="principals.user_deleted")
    users_changed.connect(users_bulk_changed, weak=False, dispatch_uid="principals.users_changed")
    post_save.connect(network_changed, sender=Network, weak=False, dispatch_uid="principals.network_saved")
    post_delete.connect(
        network_changed, sender=Network, weak=False, dispatch_uid="principals.network_deleted"
    )
