"""API docs work offline: Swagger UI and ReDoc load pinned assets from our own static files."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client

from tests.browser import console_errors, requested_urls, wait_for_css

PAGES = ("/api/v1/docs/", "/api/v1/redoc/")


class _Assets(HTMLParser):
    """Every URL a page loads by itself: script/img/iframe src, link href, CSS url()."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag in {"script", "img", "iframe", "source", "audio", "video", "embed"} and values.get("src"):
            self.urls.append(values["src"])
        if tag == "link" and values.get("href"):
            self.urls.append(values["href"])
        if tag == "object" and values.get("data"):
            self.urls.append(values["data"])
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style:
            self.urls.extend(css_urls(data))


def css_urls(css: str) -> list[str]:
    return re.findall(r"""url\(\s*['"]?([^'")\s]+)""", css) + re.findall(r"""@import\s+['"]([^'"]+)""", css)


def external(urls: list[str], host: str = "testserver") -> list[str]:
    """URLs that leave our host (http(s) elsewhere, or protocol-relative)."""
    out = []
    for url in urls:
        parts = urlsplit(url)
        if url.startswith("//") or (parts.scheme in {"http", "https"} and parts.hostname != host):
            out.append(url)
    return out


def page_assets(client: Client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, path
    parser = _Assets()
    parser.feed(response.content.decode())
    return parser.urls


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_docs_page_loads_no_asset_from_outside_our_host(path):
    client = Client()
    assets = page_assets(client, path)
    assert assets, "the page loads its assets"
    assert external(assets) == []
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        response = client.get(asset)
        assert response.status_code == 200, asset  # pinned copies served by us
        if asset.endswith(".css"):
            body = b"".join(response.streaming_content) if response.streaming else response.content
            nested = [urljoin(asset, u) for u in css_urls(body.decode()) if not u.startswith("data:")]
            assert external(nested) == [], asset


@pytest.mark.django_db
def test_the_external_asset_check_catches_a_cdn_link():
    html = '<link rel="stylesheet" href="https://fonts.googleapis.com/css2"><script src="//cdn.example/x.js"></script>'
    parser = _Assets()
    parser.feed(
        html + '<style>@import "https://x.example/a.css"; b { background: url(/static/ok.png) }</style>'
    )
    assert external(parser.urls) == [
        "https://fonts.googleapis.com/css2",
        "//cdn.example/x.js",
        "https://x.example/a.css",
    ]


def _outside(urls: list[str], base: str) -> list[str]:
    return [u for u in urls if not u.startswith((base + "/", "data:", "blob:", "about:"))]


@pytest.mark.live
@pytest.mark.timeout(900)  # the first browser test may install Chromium
def test_swagger_ui_renders_the_operation_list_in_a_browser_offline(chromium, live_asgi):
    chromium.get(live_asgi.url + "/api/v1/docs/")
    operations = wait_for_css(chromium, ".opblock-summary-path", timeout=120, count=5)
    paths = [op.get_attribute("data-path") for op in operations]
    assert all(path.startswith("/api/v1/") for path in paths), paths
    fetched = requested_urls(chromium)
    assert live_asgi.url + "/api/v1/schema/" in fetched
    assert any("/static/drf_spectacular_sidecar/swagger-ui-dist/" in url for url in fetched)
    assert _outside(fetched, live_asgi.url) == []
    assert console_errors(chromium) == []


@pytest.mark.live
@pytest.mark.timeout(900)
def test_redoc_renders_in_a_browser_offline(chromium, live_asgi):
    chromium.get(live_asgi.url + "/api/v1/redoc/")
    wait_for_css(chromium, "[data-section-id^='tag/']", timeout=120, count=5)
    assert _outside(requested_urls(chromium), live_asgi.url) == []


@pytest.mark.django_db
@pytest.mark.parametrize("path", PAGES)
def test_docs_pages_may_load_nothing_from_another_origin(path):
    """ReDoc's bundle renders a remote logo <img>: the page's CSP keeps the browser from fetching it."""
    policy = Client().get(path)["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["default-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert "http" not in policy
