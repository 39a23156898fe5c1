"""User text → safe HTML (Markdown rendered on write, sanitised by nh3) and @mentions.

Posts and chat messages store ``body`` as typed and ``body_html`` rendered
here once, on write; readers never render.
"""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

#: ``@handle`` where a handle is ``[a-z0-9_]{3,30}`` (User.handle), not inside a word or an email
MENTION = re.compile(r"(?<![\w@.])@([A-Za-z0-9_]{3,30})(?![\w@])")

_TAGS = {
    "a", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5", "h6",
    "hr", "i", "li", "ol", "p", "pre", "s", "strong", "table", "tbody", "td", "th", "thead",
    "tr", "ul",
}  # fmt: skip
_ATTRIBUTES = {"a": {"href", "title"}, "code": {"class"}, "th": {"align"}, "td": {"align"}}


@lru_cache(maxsize=1)
def _renderer() -> MarkdownIt:
    # commonmark without raw HTML, plus tables and strikethrough; links are made by nh3's rel
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable(
        ["table", "strikethrough"]
    )


def render_markdown(text: str) -> str:
    """Markdown → sanitised HTML (no raw HTML, safe URL schemes, ``rel="noopener nofollow"``)."""
    if not text:
        return ""
    html = _renderer().render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener nofollow ugc",
    ).strip()


def mentioned_handles(text: str, *, limit: int = 20) -> list[str]:
    """Distinct lower-cased ``@handles`` in order of appearance (at most ``limit``)."""
    seen: list[str] = []
    for match in MENTION.finditer(text or ""):
        handle = match.group(1).lower()
        if handle not in seen:
            seen.append(handle)
            if len(seen) >= limit:
                break
    return seen
