"""With or without orjson (the ``speedups`` extra), the same text goes on the wire.

``_json.fast_dumps`` / ``fast_loads`` use orjson where it agrees with the
standard library and fall back to it elsewhere; these tests hold the two
pairs to the same results, value by value and text by text, including the
places where orjson alone would differ.
"""

from __future__ import annotations

import importlib
import json
import math
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core import _json
from tests.core.strategies import json_values

# orjson is a dev dependency: without it these lines fail, they do not skip.
fast_dumps: Callable[[Any], str] = _json.fast_dumps
fast_loads: Callable[[str], Any] = _json.fast_loads

# What orjson alone gets wrong, each next to values that must take the fast path.
AWKWARD = [
    1.5e-7,  # orjson: 1.5e-7, Python: 1.5e-07
    [0.0001, 1e-05, 5e-324],  # orjson: 0.00001 for 1e-05
    [1.2e-9, 9.9e-6, 1e-10, 1e-4],
    1e16,
    -0.0,
    2**64,  # orjson refuses integers over 64 bits
    -(2**63) - 1,
    "é",  # orjson writes it raw, we escape it
    {"\x7f": False},  # DEL: ASCII, yet escaped by the standard library, not by orjson
    "\ud800",  # a lone surrogate: orjson refuses it
    {"e-4": "3e-4", "x": "1e-7"},  # looks like a short exponent: falls back, same text
    {"media_id": None},
    "null",
    {"a": [1, 2, {"b": True}]},
]


def outcome(function: Callable[[Any], Any], value: Any) -> tuple[str, Any]:
    """The result of ``function(value)``, or the type of error it raised."""
    try:
        return "ok", function(value)
    except (ValueError, TypeError, RecursionError) as exc:
        return "error", type(exc)


def same_value(a: Any, b: Any) -> bool:
    # Equal and of the same types all the way down (1 == 1.0 is not enough on the wire).
    return json.dumps(a) == json.dumps(b) and repr(a) == repr(b)


@pytest.mark.parametrize("value", AWKWARD)
def test_awkward_values_encode_to_the_standard_text(value: Any) -> None:
    assert fast_dumps(value) == _json.std_dumps(value)


@given(json_values)
def test_any_value_encodes_to_the_same_text(value: Any) -> None:
    assert fast_dumps(value) == _json.std_dumps(value)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_any_float_encodes_to_the_same_text(value: float) -> None:
    assert fast_dumps([value, {"p": value}]) == _json.std_dumps([value, {"p": value}])


@pytest.mark.parametrize("value", [math.nan, math.inf, {1: 2}, {"a": object()}, b"x"])
def test_values_without_json_are_refused_alike(value: Any) -> None:
    assert outcome(fast_dumps, value) == outcome(_json.std_dumps, value)


@given(json_values)
def test_any_text_decodes_to_the_same_value(value: Any) -> None:
    for text in (_json.std_dumps(value), json.dumps(value, ensure_ascii=False, indent=1)):
        assert same_value(fast_loads(text), _json.std_loads(text))


@pytest.mark.parametrize(
    "text",
    [
        "12345678901234567890123",  # orjson alone: a float
        '{"position": 18446744073709551616}',
        '"\\ud800"',  # orjson alone: refused
        '{"a": 1, "b": 2, "a": 3}',
        "1E5",
        "-0",
        "[1e-400]",
        " {} ",
    ],
)
def test_awkward_texts_decode_to_the_standard_value(text: str) -> None:
    assert same_value(fast_loads(text), _json.std_loads(text))


@pytest.mark.parametrize(
    "text", ["NaN", "[Infinity]", "1e400", "", "{", "{} x", "\ufeff{}", "[" * 5000, '"\x01"']
)
def test_bad_texts_are_refused_alike(text: str) -> None:
    assert outcome(fast_loads, text)[0] == outcome(_json.std_loads, text)[0] == "error"


@given(st.text(alphabet='{}[]",:0123456789.eE-+ tnulrfase\\u', max_size=30))
def test_any_text_is_accepted_or_refused_alike(text: str) -> None:
    fast, std = outcome(fast_loads, text), outcome(_json.std_loads, text)
    assert fast[0] == std[0]
    if fast[0] == "ok":
        assert same_value(fast[1], std[1])


@pytest.fixture
def without_orjson(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setitem(sys.modules, "orjson", None)  # import orjson now fails
    yield importlib.reload(_json)
    monkeypatch.undo()
    importlib.reload(_json)


def test_orjson_is_used_when_installed() -> None:
    assert _json.dumps is _json.fast_dumps
    assert _json.loads is _json.fast_loads


def test_the_standard_library_is_used_without_orjson(without_orjson: Any) -> None:
    assert without_orjson.dumps is without_orjson.std_dumps
    assert without_orjson.loads is without_orjson.std_loads
    assert without_orjson.dumps({"x": 1.5e-7}) == '{"x":1.5e-07}'
