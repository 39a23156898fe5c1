"""Sessions as Django's ``cached_db`` engine keeps them, loaded with their principal in one round trip.

``SESSION_ENGINE = "apps.accounts.session_store"``. The cache entry and the
database row are ``cached_db``'s own (same keys, same fallback, same
writes), so sessions stored before and after read alike. Only ``load``
differs: it reads the session's cache entry *and*, when the session's
pointer names a user, that user's principal entries (user, network,
security state) in the same Lua call (``principals.load_session``), and
keeps them on the store for ``principals.session_user``, which uses them
only if the session's own data names the same user. A warm session request
is then one Redis round trip instead of two. A cache miss or a cache error
is ``cached_db``'s path (the database, then the cache).
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import cached_db

from . import principals


class SessionStore(cached_db.SessionStore):
    #: what ``load`` read along with the session (``principals.Prefetched``), or None
    prefetched_principal: principals.Prefetched | None = None

    def load(self) -> dict[str, Any]:
        self.prefetched_principal = None
        try:
            raw, prefetched = principals.load_session(self._cache.make_key(self.cache_key), self.session_key)
        except Exception:  # noqa: BLE001 — as cached_db: a cache that fails is read past, the database answers
            raw = prefetched = None
        if raw is not None:
            try:
                data = principals.decode_cache_value(raw)
            except Exception:  # noqa: BLE001 — an unreadable entry: cached_db reads the database instead
                data = None
            if isinstance(data, dict):
                self.prefetched_principal = prefetched
                return data
        return super().load()
