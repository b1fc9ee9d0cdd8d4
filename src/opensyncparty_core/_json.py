"""JSON text in and out: the standard library, or orjson when it is installed.

orjson (the ``speedups`` extra) is several times faster, but it does not
write or read exactly what :mod:`json` does, and the wire must not change
with an optional package. So orjson's answer is used only where it is the
standard library's; everything else is redone by the standard library:

- encoding: orjson writes non-ASCII characters raw (we escape them: a lone
  surrogate from a client must stay encodable), floats from 1e-5 to 1e-9
  its own way (``0.00001`` and ``1e-7`` for ``1e-05`` and ``1e-07``; every
  other float is written alike) and NaN as ``null`` (we refuse it), and
  refuses integers beyond 64 bits and lone surrogates. Its output is kept
  only if it is ASCII and holds no ``null``, no one-digit negative exponent
  and no ``0.0000``, which is the common case; a string that merely looks
  like one of those costs a second encoding, nothing more.
- decoding: orjson reads integers beyond 64 bits as floats and refuses lone
  surrogates. Text that orjson refuses, or whose value holds a float of
  2**63 or more in magnitude (maybe such an integer), is decoded by the
  standard library, which gives the value or the error.

Regular expressions would cost more than orjson saves: the checks are
substring tests on the output and a walk of the (small) decoded value.

``dumps`` and ``loads`` are the chosen pair; both pairs are importable for
the tests that check they agree. Decoding refuses NaN, infinities (including
``1e400``) and ill-formed text with :class:`ValueError` (or
:class:`RecursionError` for absurd nesting), whichever implementation runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

__all__ = ["dumps", "loads", "std_dumps", "std_loads"]

# ensure_ascii: a lone surrogate from a client ("\ud800" is valid JSON) must be
# re-escaped, or the UTF-8 encoding of the frame would fail for every recipient.
std_dumps: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=True, separators=(",", ":"), allow_nan=False
).encode


def _reject_constant(name: str) -> float:
    # NaN and Infinity are not JSON; Python accepts them unless told not to.
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e400 parses to inf; it could never be re-encoded
        raise ValueError("number out of range")
    return value


_decoder = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_decode = _decoder.decode
# The C scanner behind decode(): one call, no whitespace regexes. Used when the
# text is exactly one JSON value (what clients send); decode() handles the rest.
_scan: Callable[[str, int], tuple[Any, int]] = _decoder.scan_once  # type: ignore[attr-defined]


def std_loads(text: str) -> Any:
    """Decode ``text`` with the standard library."""
    try:
        value, end = _scan(text, 0)
    except StopIteration:
        end = -1
    if end != len(text):
        value = _decode(text)
    return value


dumps: Callable[[Any], str] = std_dumps
"""Compact ASCII JSON of a value; :class:`ValueError` or :class:`TypeError` if it has none."""
loads: Callable[[str], Any] = std_loads
"""The value of JSON ``text``; :class:`ValueError` or :class:`RecursionError` if it has none."""

try:
    import orjson
except ImportError:  # pragma: no cover - exercised where orjson is absent
    pass
else:
    _orjson_dumps = orjson.dumps
    _orjson_loads = orjson.loads
    _OrjsonError = orjson.JSONEncodeError
    _OrjsonDecodeError = orjson.JSONDecodeError
    # Types the standard library refuses are passed to ``default``, which refuses them too.
    _OPTIONS = (
        orjson.OPT_PASSTHROUGH_DATACLASS
        | orjson.OPT_PASSTHROUGH_DATETIME
        | orjson.OPT_PASSTHROUGH_SUBCLASS
    )
    _INT64 = 2.0**63

    def _refuse(value: Any) -> Any:
        raise TypeError(type(value).__name__)

    def fast_dumps(value: Any) -> str:
        """:func:`std_dumps`, by orjson where it gives the same text."""
        try:
            data = _orjson_dumps(value, default=_refuse, option=_OPTIONS)
        except _OrjsonError:
            return std_dumps(value)
        # DEL is ASCII, yet the standard library escapes it (\u007f) and orjson does not.
        if not data.isascii() or b"\x7f" in data or b"null" in data or b"0.0000" in data:
            return std_dumps(value)
        # A one-digit negative exponent (1e-7) is orjson's; in a UUID "e-" is not one.
        at = data.find(b"e-")
        while at >= 0:
            if data[at + 2 : at + 3].isdigit() and not data[at + 3 : at + 4].isalnum():
                return std_dumps(value)
            at = data.find(b"e-", at + 2)
        return data.decode("ascii")

    def _exact(value: Any) -> bool:
        """False if ``value`` holds a float orjson may have made of a long integer."""
        if type(value) is float:
            return -_INT64 < value < _INT64
        if type(value) is not dict and type(value) is not list:
            return True
        stack = [value]
        while stack:
            container = stack.pop()
            for item in container.values() if type(container) is dict else container:
                kind = type(item)
                if kind is float:
                    if not -_INT64 < item < _INT64:
                        return False
                elif kind is dict or kind is list:
                    stack.append(item)
        return True

    def fast_loads(text: str) -> Any:
        """:func:`std_loads`, by orjson where it gives the same value."""
        try:
            value = _orjson_loads(text)
        except _OrjsonDecodeError:
            return std_loads(text)
        return value if _exact(value) else std_loads(text)

    dumps = fast_dumps
    loads = fast_loads
