"""The JSON reader measures depth before the C decoder runs, whatever the recursion limit."""

from __future__ import annotations

import sys

import pytest

from apps.core.parsers import UnsafeJSON, _too_deep, loads


@pytest.fixture
def high_recursion_limit():
    # what Hypothesis does while it runs a test: the C decoder would then overflow the C stack
    previous = sys.getrecursionlimit()
    sys.setrecursionlimit(1_000_000)
    yield
    sys.setrecursionlimit(previous)


def test_fifty_thousand_nested_arrays_are_refused_before_decoding(high_recursion_limit):
    with pytest.raises(UnsafeJSON) as exc:
        loads("[" * 50_000 + "]" * 50_000)
    assert exc.value.code == "json_too_deep"


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        ("[" * 64 + "]" * 64, False),
        ("[" * 65 + "]" * 65, True),
        ('["' + "[" * 100 + '"]', False),  # brackets inside a string do not nest
        ('["\\"' + "[" * 100 + '"]', False),  # nor after an escaped quote
        ('["\\\\"' + "," + "[" * 65 + "]" * 65 + "]", True),  # an escaped backslash ends the string
    ],
)
def test_depth_is_read_from_the_text(text, deep):
    assert _too_deep(text, 64) is deep


def test_a_shallow_document_parses():
    assert loads('{"a": [1, {"b": "[[["}]}') == {"a": [1, {"b": "[[["}]}
