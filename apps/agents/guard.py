"""The prompt guard: every piece of external content is screened before it reaches an agent.

``inspect(text)`` is pure (no I/O): it normalises the text (NFKC, invisible
and bidi characters removed, homoglyphs folded to Latin, embedded base64
decoded) and scores it against rules in five families —

* ``prompt_injection``: instruction-override phrasing, fake role markers;
* ``jailbreak``: role-play without rules, "developer mode", DAN;
* ``secret_leak``: requests to reveal the system prompt, keys, tokens, env;
* ``obfuscation``: zero-width, bidi and tag characters, mixed-script words,
  base64 payloads (a decoded payload is scored like plain text);
* ``oversized``: more than ``AGENT_GUARD_MAX_INPUT_CHARS`` characters;

plus ``pii`` and ``toxicity`` as low-weight signals. Rule weights combine
as ``1 − Π(1 − wᵢ)``; ≥ 0.8 → ``blocked``, ≥ 0.4 → ``flagged``, else
``allowed``. A phrase inside quotes in text that is plainly *about* prompts
("what does 'ignore previous instructions' do?") weighs less — people may
discuss attacks. ``screen(...)`` runs ``inspect`` and writes a
``PromptGuardLog`` row (redacted excerpt) for anything not allowed, and for
allowed input when ``log_allowed`` is set.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings

from apps.core.masking import redact

DETECTOR = "colony-rules-v1"
BLOCK_AT = 0.8
FLAG_AT = 0.4

_INVISIBLE = re.compile("[\u200b-\u200f\u2060-\u2064\ufeff\u00ad]")
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
_TAGS = re.compile("[\U000e0000-\U000e007f]")
# Cyrillic / Greek letters that look like Latin ones
_HOMOGLYPHS = str.maketrans(
    {
        "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
        "І": "I", "Ѕ": "S", "Ј": "J", "А": "A", "В": "B", "Е": "E", "К": "K", "М": "M", "Н": "H", "О": "O", "Р": "P", "С": "C", "Т": "T",
        "Х": "X", "Ι": "I", "Ο": "O", "Α": "A", "Β": "B", "Ε": "E", "Κ": "K", "Μ": "M", "Ν": "N", "Ρ": "P",
        "Τ": "T", "Χ": "X", "ο": "o", "α": "a", "ε": "e", "ι": "i", "ν": "v", "ρ": "p",
    }
)  # fmt: skip
_LATIN = re.compile(r"[A-Za-z]")
_FOREIGN_LOOKALIKE = re.compile("[\u0400-\u04ff\u0370-\u03ff]")
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])([A-Za-z0-9+/]{24,}={0,2})(?![A-Za-z0-9+/=])")

_OVERRIDE_VERBS = r"(?:ignore|disregard|forget|override|bypass|skip|drop|abandon|neglect)"
_PRIOR = r"(?:all|any|every|the|your|my|these|those|previous|prior|above|earlier|preceding|original|initial|existing|system)"
_RULES = (
    r"(?:instructions?|rules?|prompts?|directions?|guidelines?|guardrails?|constraints?|restrictions?|"
    r"directives?|policies|programming|system\s+prompt|safety\s+(?:rules|filters?))"
)


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    weight: float
    pattern: re.Pattern[str]


def _r(name: str, category: str, weight: float, pattern: str) -> Rule:
    return Rule(name, category, weight, re.compile(pattern, re.I | re.S))


RULES: tuple[Rule, ...] = (
    _r(
        "override",
        "prompt_injection",
        0.9,
        rf"\b{_OVERRIDE_VERBS}\b(?:\W+\w+){{0,3}}?\W+{_PRIOR}\b(?:\W+\w+){{0,3}}?\W+{_RULES}",
    ),
    _r("override_short", "prompt_injection", 0.85, rf"\b{_OVERRIDE_VERBS}\s+(?:all\s+)?{_RULES}\b"),
    _r(
        "new_instructions",
        "prompt_injection",
        0.6,
        r"\b(?:new|updated|real|actual|true)\s+(?:system\s+)?instructions?\s*[:\-]",
    ),
    _r(
        "from_now_on",
        "prompt_injection",
        0.6,
        r"\bfrom\s+now\s+on,?\s+(?:you|your|the\s+assistant)\s+(?:will|must|are|shall|should|only)\b",
    ),
    _r(
        "role_marker",
        "prompt_injection",
        0.85,
        r"(?:<\|?\s*(?:im_start|im_end|system|endoftext)\s*\|?>|\[/?(?:system|inst)\]|^\s*#{2,}\s*(?:system|assistant)\s*:|</?system>)",
    ),
    _r(
        "you_are_now",
        "jailbreak",
        0.8,
        r"\byou\s+are\s+(?:now|no\s+longer)\b(?:\W+\w+){0,4}?\W+(?:dan|unrestricted|unfiltered|jailbroken|evil|uncensored|free|bound|an?\s+ai\s+without)",
    ),
    _r(
        "no_rules_roleplay",
        "jailbreak",
        0.85,
        r"\b(?:act|behave|respond|pretend|roleplay|role-play|play)\b(?:\W+\w+){0,6}?\W+(?:without|with\s+no|free\s+of|ignoring)\s+(?:any\s+)?(?:rules|limits|limitations|filters?|restrictions|guidelines|censorship|ethics|morals?)",
    ),
    _r(
        "dan",
        "jailbreak",
        0.8,
        r"\b(?:do\s+anything\s+now|DAN\s+mode|developer\s+mode\s+(?:enabled|on|activated)|jailbreak(?:ed)?\s+mode|god\s+mode)\b",
    ),
    _r(
        "hypothetical_unlock",
        "jailbreak",
        0.5,
        r"\b(?:stay\s+in\s+character|never\s+break\s+character|you\s+have\s+been\s+freed|opposite\s+mode)\b",
    ),
    _r(
        "reveal_prompt",
        "secret_leak",
        0.85,
        r"\b(?:reveal|print|show|display|repeat|output|dump|leak|tell\s+me|give\s+me|what\s+(?:is|are)|share|copy|paste|write\s+out|recite)\b(?:\W+\w+){0,5}?\W+(?:system\s+prompt|initial\s+prompt|hidden\s+(?:prompt|instructions)|your\s+(?:instructions|rules|prompt)|the\s+(?:instructions|prompt)\s+(?:above|you\s+were\s+given))",
    ),
    _r(
        "reveal_secret",
        "secret_leak",
        0.85,
        r"\b(?:reveal|print|show|display|output|dump|leak|tell\s+me|give\s+me|send|post|share|exfiltrate|echo|list|read\s+out|respond\s+with|reply\s+with|answer\s+with)\b(?:\W+\w+){0,5}?\W+(?:api[\s_-]?keys?|secret[\s_-]?keys?|private[\s_-]?keys?|access[\s_-]?tokens?|auth(?:entication)?[\s_-]?tokens?|passwords?|credentials|env(?:ironment)?\s+(?:variables|vars)|\.env\b|ssh\s+keys?|bearer\s+tokens?|seed\s+phrase)",
    ),
    _r(
        "exfil_url",
        "secret_leak",
        0.5,
        r"\b(?:send|post|upload|forward|exfiltrate)\b(?:\W+\w+){0,6}?\W+(?:to|at)\s+https?://",
    ),
    _r(
        "dangerous_exec",
        "prompt_injection",
        0.5,
        r"(?:rm\s+-rf\s+/|curl\s+[^|\n]+\|\s*(?:ba)?sh|:\(\)\{\s*:\|:&\s*\};:)",
    ),
    _r("pii_card", "pii", 0.2, r"\b(?:\d[ -]?){15,16}\b"),
    _r("toxic", "toxicity", 0.5, r"\b(?:kill\s+yourself|kys)\b"),
)
_DISCUSSION = re.compile(
    r"\b(?:what\s+(?:is|does|are)|how\s+(?:do|does|can|should|to)|explain|example|e\.g\.|such\s+as|attackers?|"
    r"defend|detect\w*|regex|phrase|mitigat\w*|prevent\w*|phrases?\s+like|called|means?|research|paper|blog|article|talk)\b",
    re.I,
)
_QUOTED = re.compile(r"[\"“”'‘’`]([^\"“”'‘’`]{6,240})[\"“”'‘’`]")


@dataclass
class GuardResult:
    verdict: str
    score: float
    categories: list[str] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    text: str = ""  # the normalised text (what would reach the model when not blocked)

    @property
    def is_blocked(self) -> bool:
        return self.verdict == "blocked"


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _TAGS.sub("", _BIDI.sub("", _INVISIBLE.sub("", text)))
    return text.translate(_HOMOGLYPHS)


def _mixed_script_words(text: str) -> int:
    count = 0
    for word in re.findall(r"\w{3,}", text):
        if _LATIN.search(word) and _FOREIGN_LOOKALIKE.search(word):
            count += 1
    return count


def _decoded_payloads(text: str) -> list[str]:
    out = []
    for match in _BASE64.finditer(text):
        blob = match.group(1)
        if len(blob) % 4:
            blob += "=" * (-len(blob) % 4)
        try:
            raw = base64.b64decode(blob, validate=True)
        except (binascii.Error, ValueError):
            continue
        try:
            decoded = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        printable = sum(ch.isprintable() or ch.isspace() for ch in decoded)
        if decoded and printable / len(decoded) > 0.95 and re.search(r"[A-Za-z]{3,}\s+[A-Za-z]{2,}", decoded):
            out.append(decoded)
    return out


def _match_rules(text: str, *, discussion: bool) -> list[tuple[Rule, float]]:
    quoted = [m.span(1) for m in _QUOTED.finditer(text)] if discussion else []
    hits = []
    for rule in RULES:
        best = 0.0
        for match in rule.pattern.finditer(text):
            weight = rule.weight
            inside = any(a <= match.start() and match.end() <= b for a, b in quoted)
            if inside and rule.category in ("prompt_injection", "jailbreak", "secret_leak"):
                weight *= 0.3  # a quoted example in a text about prompts, not an instruction
            best = max(best, weight)
        if best:
            hits.append((rule, best))
    return hits


def inspect(text: str | None) -> GuardResult:
    text = text or ""
    if len(text) > settings.AGENT_GUARD_MAX_INPUT_CHARS:
        return GuardResult("blocked", 1.0, ["oversized"], ["oversized"], "")
    weights: list[tuple[str, str, float]] = []
    if _TAGS.search(text):
        weights.append(("tag_characters", "obfuscation", 0.9))
    if _BIDI.search(text):
        weights.append(("bidi_controls", "obfuscation", 0.45))
    if len(_INVISIBLE.findall(text)) >= 2:
        weights.append(("zero_width", "obfuscation", 0.45))
    mixed = _mixed_script_words(text)
    if mixed:
        weights.append(("homoglyphs", "obfuscation", min(0.7, 0.3 + 0.15 * mixed)))
    clean = normalise(text)
    discussion = bool(_DISCUSSION.search(clean))
    for rule, weight in _match_rules(clean, discussion=discussion):
        weights.append((rule.name, rule.category, weight))
    for payload in _decoded_payloads(clean):
        inner = _match_rules(normalise(payload), discussion=False)
        if inner:
            weights.append(("base64_payload", "obfuscation", 0.6))
            weights.extend((f"base64:{rule.name}", rule.category, weight) for rule, weight in inner)
    if not weights:
        return GuardResult("allowed", 0.0, [], [], clean)
    score = 1.0 - math.prod(1.0 - w for _, _, w in weights)
    categories = sorted({c for _, c, _ in weights})
    verdict = "blocked" if score >= BLOCK_AT else "flagged" if score >= FLAG_AT else "allowed"
    return GuardResult(verdict, round(score, 3), categories, [n for n, _, _ in weights], clean)


def excerpt(text: str, limit: int = 500) -> str:
    """What the log keeps: secrets masked, invisible characters shown, at most ``limit`` characters."""
    shown = _TAGS.sub("⟨tag⟩", _BIDI.sub("⟨bidi⟩", _INVISIBLE.sub("⟨zw⟩", text or "")))
    shown = redact(shown)
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def screen(
    text: str | None,
    *,
    source: str,
    network: Any,
    agent: Any = None,
    author: Any = None,
    source_ref: str | None = None,
    log_allowed: bool = False,
) -> GuardResult:
    """Inspect ``text`` and log the verdict (``PromptGuardLog``); blocked content must be dropped."""
    result = inspect(text)
    if result.verdict != "allowed" or log_allowed:
        from .models import PromptGuardLog

        PromptGuardLog.objects.create(
            network_id=getattr(network, "pk", network),
            agent=agent,
            author=author if getattr(author, "pk", None) else None,
            source=source,
            source_ref=(source_ref or "")[:200] or None,
            verdict=result.verdict,
            categories=result.categories,
            score=Decimal(str(result.score)).quantize(Decimal("0.001")),
            excerpt=excerpt(text or ""),
            detector=DETECTOR,
        )
    return result
