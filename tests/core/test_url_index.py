"""``/api/v1/`` resolved by first segment gives exactly what Django's plain resolver gives, for every route."""

from __future__ import annotations

import itertools

import pytest
from django.urls import Resolver404, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

from apps.core.urlindex import IndexedResolver, indexed_path
from config.urls import api_v1

SAMPLES = ("01a23c7e-5a47-745c-b40a-2e4414fe106a", "7", "json", "some-slug", "a/b")


def _indexed() -> IndexedResolver:
    (resolver,) = [p for p in get_resolver().url_patterns if isinstance(p, IndexedResolver)]
    return resolver


def _plain() -> URLResolver:
    return URLResolver(RoutePattern("api/v1/", is_endpoint=False), api_v1)


def _api_paths() -> set[str]:
    """Every reversible API route, its parameters filled with sample values of each kind."""
    paths: set[str] = set()

    def walk(resolver: URLResolver, prefix: str) -> None:
        reverse_dict = resolver.reverse_dict
        for key in list(reverse_dict):
            for possibilities, _pattern, _defaults, _converters in reverse_dict.getlist(key):
                for template, params in possibilities:
                    for values in itertools.product(SAMPLES, repeat=len(params)):
                        paths.add(prefix + template % dict(zip(params, values, strict=True)))
        for namespace_prefix, sub in resolver.namespace_dict.values():
            walk(sub, prefix + namespace_prefix)

    walk(_plain(), "api/v1/")
    return paths


def _outcome(resolver: URLResolver, path: str):
    try:
        match = resolver.resolve(path)
    except Resolver404:
        return None
    return (match.func, match.args, match.kwargs, match.url_name, match.namespaces, match.route)


def test_every_api_route_resolves_as_the_plain_resolver_does():
    indexed, plain = _indexed(), _plain()
    paths = _api_paths()
    assert len(paths) > 300  # every domain's routes, not an empty walk
    resolved = 0
    for path in sorted(paths):
        expected = _outcome(plain, path)
        assert _outcome(indexed, path) == expected, path
        resolved += expected is not None
    assert resolved > 300


@pytest.mark.parametrize(
    "path",
    [
        "api/v1/",
        "api/v1/.json",
        "api/v1/nothing/",
        "api/v1/me",
        "api/v1/me/extra/",
        "api/v1/projects.json",
        "api/v1/projects/not-a-uuid/",
        "api/v1//",
        "api/v1/ME/",
        "api/v1/projects/01a23c7e-5a47-745c-b40a-2e4414fe106a/../",
    ],
)
def test_unknown_and_odd_paths_match_the_plain_resolver(path):
    assert _outcome(_indexed(), path) == _outcome(_plain(), path)


def test_a_route_whose_first_segment_is_a_converter_is_tried_for_every_request():
    def view(request, **kwargs):  # pragma: no cover - never called
        return None

    from django.urls import include, path, re_path

    patterns = [
        path("fixed/", view, name="fixed"),
        path("", include([path("<slug:kind>/items/", view, name="by-kind")])),
        re_path(r"^(?P<code>[a-z]{3})/$", view, name="code"),
        path("fixed/<int:n>/", view, name="fixed-n"),
    ]
    indexed = indexed_path("x/", patterns)
    plain = URLResolver(RoutePattern("x/", is_endpoint=False), patterns)
    for candidate in ("x/fixed/", "x/fixed/items/", "x/abc/", "x/fixed/3/", "x/zzz/items/", "x/nope/"):
        assert _outcome(indexed, candidate) == _outcome(plain, candidate), candidate
    assert indexed.resolve("x/fixed/items/").url_name == "by-kind"
    assert indexed.resolve("x/abc/").url_name == "code"


def test_regex_first_segments_are_read_only_when_literal():
    from apps.core.urlindex import _ANY, _pattern_key

    assert _pattern_key(RegexPattern(r"^projects/$")) == "projects"
    assert _pattern_key(RegexPattern(r"^projects\.(?P<format>[a-z0-9]+)/?$")) == "projects"
    assert _pattern_key(RegexPattern(r"^$")) == ""
    assert _pattern_key(RegexPattern(r"^(?P<pk>[^/.]+)/$")) is _ANY
    assert _pattern_key(RegexPattern(r"^pro.ects/$")) is _ANY  # an unescaped dot is not literal
    assert _pattern_key(RegexPattern(r"projects/$")) is _ANY  # unanchored: may match anywhere
    assert _pattern_key(RoutePattern("me/")) == "me"
    assert _pattern_key(RoutePattern("<uuid:pk>/")) is _ANY


def test_a_remembered_path_resolves_the_same_and_each_request_gets_its_own_match():
    indexed, plain = _indexed(), _plain()
    path = "api/v1/projects/01a23c7e-5a47-745c-b40a-2e4414fe106a/"
    first = indexed.resolve(path)
    assert path in indexed._memo
    second = indexed.resolve(path)
    assert _outcome(indexed, path) == _outcome(plain, path)
    assert second is not first and second.kwargs == first.kwargs
    second.kwargs["pk"] = "changed by a view"
    assert indexed.resolve(path).kwargs == first.kwargs  # the memo is not what the view changed
    with pytest.raises(Resolver404):
        indexed.resolve("api/v1/nothing/")
    assert "api/v1/nothing/" not in indexed._memo


def test_remembered_paths_still_resolve_every_route_as_the_plain_resolver_does():
    test_every_api_route_resolves_as_the_plain_resolver_does()  # the first pass filled the memo
    test_every_api_route_resolves_as_the_plain_resolver_does()
