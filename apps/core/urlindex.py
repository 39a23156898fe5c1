"""URL resolution by first path segment: an API request tries only the routes that can match it.

Django's ``URLResolver`` tries its patterns in order, and an ``include()`` with an
empty prefix tries every pattern inside it: under ``/api/v1/`` that is every route
of every domain listed before the one asked for — hundreds of regular expressions
and ~0.4–1.3 ms of CPU per request, growing with each domain added.

``indexed_path("api/v1/", patterns)`` is a drop-in ``path(prefix, include(patterns))``
whose ``resolve`` first reads the request's first segment (up to ``/`` or ``.``) and
hands over to a sub-resolver holding only the patterns that can match it: those
whose literal first segment is that one, and every pattern whose first segment is
not a literal (a converter, a regex group), in their original order — so the
first match, and the ``ResolverMatch``, are exactly the plain resolver's. An
empty-prefix ``include()`` inside is filtered the same way (recursively), keeping
its namespace and default kwargs. Reversing, system checks and the schema read
``url_patterns``, which are untouched. A path once resolved is remembered (its
match depends on the path alone; each request gets its own copy of it, up to
2,048 paths, then the memo starts over); a 404 is not remembered.
"""

from __future__ import annotations

import re
import threading
from typing import Any

from django.urls import ResolverMatch, URLPattern, URLResolver
from django.urls.exceptions import Resolver404
from django.urls.resolvers import RegexPattern, RoutePattern

#: a key for patterns whose first segment is not a literal: tried for every request
_ANY = object()
_REQUEST_KEY = re.compile(r"[^/.]*")
_REGEX_LITERAL = re.compile(r"[A-Za-z0-9_\-]*")


def _pattern_key(pattern: Any) -> Any:
    """The literal first segment a pattern's remaining path must start with, or ``_ANY``."""
    if isinstance(pattern, RoutePattern):
        route = str(pattern._route)
        head = _REQUEST_KEY.match(route).group()
        if "<" in head:
            return _ANY
        return head
    if isinstance(pattern, RegexPattern):
        regex = str(pattern._regex)
        if not regex.startswith("^") or regex.startswith("^(?"):
            return _ANY
        body = regex[1:]
        head = _REGEX_LITERAL.match(body).group()
        rest = body[len(head) :]
        if rest == "" or rest[0] in "/$" or rest.startswith(r"\."):
            return head
        return _ANY
    return _ANY  # LocalePrefixPattern, custom patterns


def _keys(entry: URLPattern | URLResolver) -> set[Any]:
    """The first segments ``entry`` can match: one literal, the keys inside an empty-prefix include, or ``_ANY``."""
    key = _pattern_key(entry.pattern)
    if isinstance(entry, URLResolver) and key == "" and _empty_prefix(entry):
        keys: set[Any] = set()
        for inner in entry.url_patterns:
            keys |= _keys(inner)
        return keys or {_ANY}
    return {key}


def _empty_prefix(resolver: URLResolver) -> bool:
    """An include whose remaining path is the same as its parent's (``path("", include(...))``)."""
    pattern = resolver.pattern
    if isinstance(pattern, RoutePattern):
        return str(pattern._route) == ""
    if isinstance(pattern, RegexPattern):
        return str(pattern._regex) in ("", "^")
    return False


def _only(entries: list, key: str) -> list:
    """``entries`` that can match a remaining path whose first segment is ``key``, in order."""
    kept = []
    for entry in entries:
        keys = _keys(entry)
        if _ANY not in keys and key not in keys:
            continue
        if isinstance(entry, URLResolver) and _empty_prefix(entry):
            entry = URLResolver(
                entry.pattern,
                _only(list(entry.url_patterns), key),
                entry.default_kwargs,
                entry.app_name,
                entry.namespace,
            )
        kept.append(entry)
    return kept


class IndexedResolver(URLResolver):
    """A ``URLResolver`` that resolves through a per-first-segment sub-resolver (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._subs: dict[str, URLResolver] | None = None
        self._any: URLResolver | None = None
        self._build_lock = threading.Lock()
        self._memo: dict[str, ResolverMatch] = {}

    def _sub(self, patterns: list) -> URLResolver:
        return URLResolver(self.pattern, patterns, self.default_kwargs, self.app_name, self.namespace)

    def _build(self) -> dict[str, URLResolver]:
        with self._build_lock:
            if self._subs is None:
                entries = list(self.url_patterns)
                literal: set[str] = set()
                for entry in entries:
                    literal |= {k for k in _keys(entry) if k is not _ANY}
                self._any = self._sub(_only(entries, "\0"))  # only the non-literal patterns
                self._subs = {key: self._sub(_only(entries, key)) for key in literal}
        return self._subs

    def resolve(self, path: Any) -> Any:
        path = str(path)
        known = self._memo.get(path)
        if known is not None:
            return _copy_match(known)
        match = self.pattern.match(path)
        if not match:
            raise Resolver404({"path": path})
        subs = self._subs if self._subs is not None else self._build()
        key = _REQUEST_KEY.match(match[0]).group()
        resolved = (subs.get(key) or self._any).resolve(path)
        if len(self._memo) >= _MEMO_SIZE:
            self._memo.clear()
        self._memo[path] = resolved
        return _copy_match(resolved)


#: paths resolved lately (a match depends on the path alone); cleared when full
_MEMO_SIZE = 2048


def _copy_match(match: ResolverMatch) -> ResolverMatch:
    """A request's own ``ResolverMatch`` (views may change its kwargs) of a memoised one."""
    return ResolverMatch(
        match.func,
        match.args,
        dict(match.kwargs),
        match.url_name,
        match.app_names,
        match.namespaces,
        match.route,
        match.tried,
        dict(match.captured_kwargs),
        dict(match.extra_kwargs),
    )


def indexed_path(route: str, patterns: list, name: str | None = None) -> IndexedResolver:
    """``path(route, include(patterns))``, resolved by first segment."""
    return IndexedResolver(RoutePattern(route, name=name, is_endpoint=False), patterns)
