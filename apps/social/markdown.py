"""Post bodies: Markdown (markdown-it-py, raw HTML off) → sanitised HTML (nh3).

``render`` also returns what the rules need: the ``@handle`` mentions (outside
code and links; rendered as profile links) and the number of links (Markdown
links, autolinks and bare ``http(s)://`` URLs), which new accounts are limited on.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt
from markdown_it.token import Token

MENTION = re.compile(r"(?<![\w@/.])@([A-Za-z0-9_]{3,30})(?![\w@])")
BARE_URL = re.compile(r"\bhttps?://[^\s<>()]+", re.I)
ALLOWED_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "s", "code", "pre", "blockquote",
    "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title", "class"}, "ol": {"start"}, "th": {"align"}, "td": {"align"}}


@dataclass
class Rendered:
    html: str
    mentions: list[str] = field(default_factory=list)  # lower-cased handles, first-seen order
    link_count: int = 0


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def _split_mentions(token: Token, mentions: list[str]) -> list[Token]:
    """A text token → text / mention-link tokens."""
    out: list[Token] = []
    text, last = token.content, 0
    for match in MENTION.finditer(text):
        handle = match.group(1).lower()
        if handle not in mentions:
            mentions.append(handle)
        if match.start() > last:
            out.append(Token("text", "", 0, content=text[last : match.start()]))
        link = Token("link_open", "a", 1, attrs={"href": f"/@{handle}", "class": "mention"})
        out += [link, Token("text", "", 0, content=match.group(0)), Token("link_close", "a", -1)]
        last = match.end()
    if last == 0:
        return [token]
    if last < len(text):
        out.append(Token("text", "", 0, content=text[last:]))
    return out


def render(body: str) -> Rendered:
    md = _parser()
    tokens = md.parse(body or "")
    mentions: list[str] = []
    links = 0
    for block in tokens:
        if block.type != "inline" or not block.children:
            continue
        children: list[Token] = []
        in_link = 0
        for child in block.children:
            if child.type == "link_open":
                in_link += 1
                links += 1
                children.append(child)
            elif child.type == "link_close":
                in_link -= 1
                children.append(child)
            elif child.type == "text" and not in_link:
                links += len(BARE_URL.findall(child.content))
                children.extend(_split_mentions(child, mentions))
            else:
                children.append(child)
        block.children = children
    html = md.renderer.render(tokens, md.options, {})
    clean = nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="nofollow ugc noopener noreferrer",
    )
    return Rendered(html=clean, mentions=mentions, link_count=links)
