"""Campaign content: per-recipient variables ``{{ name }}`` and nothing else.

No template language (no tags, filters, attribute access): a campaign is
data, never code. Unknown variables are refused when the content is saved.
In HTML, values are escaped; ``{{ unsubscribe_url }}`` is the recipient's
one-click page.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from django.utils.html import escape, strip_tags

from apps.core.exceptions import ValidationFailed

VARIABLES: dict[str, str] = {
    "email": "the recipient's address",
    "name": "display name (users) or name given on the waitlist",
    "first_name": "the first word of name",
    "handle": "the user's handle (empty for waitlist entries)",
    "network_name": "the network's name",
    "unsubscribe_url": "the recipient's unsubscribe page",
}
_PLACEHOLDER = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}")
_TAG = re.compile(r"\{%|%\}|\{#")
CONTENT_FIELDS = ("subject", "preheader", "html_body", "text_body")


def check_content(fields: Mapping[str, str | None]) -> None:
    """400 naming the field for an unknown variable or template syntax."""
    for field, text in fields.items():
        if not text:
            continue
        if _TAG.search(text):
            raise ValidationFailed(
                "Template tags are not allowed; use {{ variable }} only.", field=field, code="template_syntax"
            )
        for match in _PLACEHOLDER.finditer(text):
            name = match.group(1)
            if name not in VARIABLES:
                raise ValidationFailed(
                    f"Unknown template variable {{{{ {name} }}}}; use one of: {', '.join(VARIABLES)}.",
                    field=field,
                    code="unknown_variable",
                )


def render(text: str, values: Mapping[str, str], *, html: bool = False) -> str:
    if not text or "{{" not in text:
        return text or ""
    if html:
        return _PLACEHOLDER.sub(lambda m: escape(values.get(m.group(1), "")), text)
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), ""), text)


def text_from_html(html: str) -> str:
    """The plain-text part when a campaign gives none."""
    text = re.sub(r"(?i)<br\s*/?>|</p>|</h[1-6]>|</li>|</tr>", "\n", html)
    text = strip_tags(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
