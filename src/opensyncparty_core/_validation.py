"""Field checks the client decoder applies before it builds a message.

Everything a client can make the server store or send back is bounded here:
string lengths (each limit a :class:`Config` field), the non-finite numbers
JSON cannot carry, and the client text quoted in an ``error``. Like
``_messages.py``, this module knows the wire format, never the session rules.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from ._config import Config
from ._errors import RemoteProtocolError

DEFAULT_CONFIG = Config()

INVALID_FORMAT = "Invalid message format"

MAX_QUOTED = 64
"""Longest piece of client text (a type, an action, a field path) quoted in an error."""


def quote(text: str) -> str:
    """``text`` cut to :data:`MAX_QUOTED` code points, to be quoted in an error."""
    return text if len(text) <= MAX_QUOTED else text[: MAX_QUOTED - 1] + "…"


_NON_FINITE = object()
"""Stands for NaN, ±Infinity or an overflowing number in :func:`non_finite_error`."""


def _lenient_float(text: str) -> object:
    value = float(text)
    return _NON_FINITE if math.isinf(value) else value


_lenient_decode = json.JSONDecoder(
    parse_constant=lambda _name: _NON_FINITE, parse_float=_lenient_float
).decode


def non_finite_error(text: str) -> str:
    """The error for ``text``, which the strict decoder refused.

    Names the first field holding ``NaN``, ``Infinity`` or a number like
    ``1e400`` if that is all that is wrong; "Invalid message format" otherwise.
    Only refused text gets here, so valid messages pay nothing for it.
    """
    try:
        obj = _lenient_decode(text)
    except (ValueError, RecursionError):
        return INVALID_FORMAT
    if type(obj) is not dict or type(obj.get("type")) is not str:
        return INVALID_FORMAT
    stack: list[tuple[str, Any]] = [(_cut(key), value) for key, value in reversed(obj.items())]
    while stack:
        path, value = stack.pop()
        if value is _NON_FINITE:
            return f"Field '{quote(path)}' must be a finite number"
        if type(value) is dict:
            stack.extend((_cut(f"{path}.{k[:MAX_QUOTED]}"), v) for k, v in reversed(value.items()))
        elif type(value) is list:
            stack.extend((_cut(f"{path}[{i}]"), v) for i, v in reversed(list(enumerate(value))))
    return INVALID_FORMAT


def _cut(path: str) -> str:
    # Only MAX_QUOTED characters are ever shown: keeping more would let long
    # keys over many children cost memory quadratic in the message size.
    return path[: MAX_QUOTED + 1]


_MEDIA_ID_TYPES = frozenset(("create_room", "ready"))


def check_lengths(obj: Mapping[str, Any], config: Config) -> None:
    """Refuse any string field longer than its limit, before a decoder stores it.

    Room names are not checked: the specification cuts them to
    ``config.max_room_name_length`` (:func:`clean_room_name`) rather than refusing them.
    """
    room = obj.get("room")
    if type(room) is str and len(room) > config.max_id_length:
        raise RemoteProtocolError(f"Field 'room' is longer than {config.max_id_length} characters")
    payload = obj.get("payload")
    if obj["type"] in _MEDIA_ID_TYPES and type(payload) is dict:
        media_id = payload.get("media_id")
        if type(media_id) is str and len(media_id) > config.max_media_id_length:
            raise RemoteProtocolError(
                f"Field 'payload.media_id' is longer than {config.max_media_id_length} characters"
            )
