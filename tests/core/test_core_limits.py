"""String length limits: what a client may make the server store or send back.

Each limit is a :class:`Config` field, checked when the message is decoded:
a longer string gets an ``error`` naming the field and is neither stored nor
echoed. Room names are the exception the specification makes: they are cut.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest

from opensyncparty_core import Config, RemoteProtocolError, decode_client_message
from tests.core.harness import (
    Party,
    create_room,
    errors,
    join_room,
    party,
    player_event,
    ready_msg,
    received,
    state_update,
    types,
)

JELLYFIN_ITEM_ID = "8f2e9c4b1a7d4e6f9b0c3d5e7f9a1b2c"  # 32 hex digits, as Jellyfin sends


def _refused_with(p: Party, sender: str, message: dict[str, Any]) -> str:
    before = (tuple(p.server.room(r) for r in p.server.room_ids), p.server.client_ids)
    out = p.send(sender, message)
    assert [o.recipients for o in out] == [(sender,)], out
    assert (tuple(p.server.room(r) for r in p.server.room_ids), p.server.client_ids) == before
    (text,) = errors(out, sender)
    return text


def _room_messages(room: str) -> list[dict[str, Any]]:
    return [
        join_room(room),
        ready_msg(room),
        player_event(room, "pause", 1),
        state_update(room, 1),
        {"type": "leave_room", "room": room},
    ]


def test_defaults_fit_uuid_room_ids_and_jellyfin_item_ids_with_room_to_spare() -> None:
    config = Config()
    assert config.max_id_length == 64 >= 36
    assert config.max_media_id_length == 128 >= len(JELLYFIN_ITEM_ID)


def test_a_room_id_over_max_id_length_is_an_error_naming_the_field() -> None:
    p = party()
    _, host, _ = p.room_with(1)
    for message in _room_messages("r" * 65):
        assert _refused_with(p, host, message) == "Field 'room' is longer than 64 characters"


def test_a_room_id_of_exactly_max_id_length_reaches_the_session_rules() -> None:
    p = party()
    client = p.connect()
    room = "r" * 64
    assert errors(p.send(client, join_room(room)), client) == [f"Room '{room}' not found"]


def test_a_media_id_over_the_limit_creates_no_room_and_reaches_nobody() -> None:
    p = party()
    creator, bystander = p.connect(), p.connect()
    message = create_room(name="film", media_id="m" * 129)
    text = _refused_with(p, creator, message)
    assert text == "Field 'payload.media_id' is longer than 128 characters"
    assert p.server.room_ids == ()
    assert received(p.last, bystander) == []


def test_a_media_id_over_the_limit_in_ready_is_an_error() -> None:
    p = party()
    room, _, (guest,) = p.room_with(1, ready=False)
    message = {"type": "ready", "room": room, "payload": {"media_id": "m" * 129}}
    assert "'payload.media_id'" in _refused_with(p, guest, message)
    assert guest not in p.server.room(room).ready_clients


@pytest.mark.parametrize("media_id", [JELLYFIN_ITEM_ID, "m" * 128, ""])
def test_a_media_id_within_the_limit_is_stored_and_echoed_unchanged(media_id: str) -> None:
    p = party()
    host, guest = p.connect(), p.connect()
    room = p.create(host, media_id=media_id)
    assert p.server.room(room).media_id == media_id
    (listing,) = [m for m in received(p.last, guest) if m["type"] == "room_list"]
    assert listing["payload"][0]["media_id"] == media_id
    p.send(guest, join_room(room))
    assert received(p.last, guest)[0]["payload"]["media_id"] == media_id
    ready = {"type": "ready", "room": room, "payload": {"media_id": media_id}}
    assert p.send(guest, ready) == []
    assert guest in p.server.room(room).ready_clients


def test_string_limits_are_configurable() -> None:
    config = attrs.evolve(Config(), max_id_length=36, max_media_id_length=32)
    p = party(config)
    client = p.connect()
    assert "'room'" in _refused_with(p, client, join_room("r" * 37))
    assert "'payload.media_id'" in _refused_with(p, client, create_room(media_id="m" * 33))
    room = p.create(client, media_id=JELLYFIN_ITEM_ID)
    assert len(room) == 36
    assert types(p.send(client, join_room(room))) == ["room_state"]


@pytest.mark.parametrize("field", ["max_id_length", "max_media_id_length"])
@pytest.mark.parametrize("value", [0, -1, 1.5j])
def test_a_string_limit_must_be_positive(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        Config(**{field: value})


def test_decode_client_message_applies_the_given_config() -> None:
    text = json.dumps(join_room("r" * 10))
    assert decode_client_message(text).type == "join_room"
    with pytest.raises(RemoteProtocolError, match="'room' is longer than 9"):
        decode_client_message(text, attrs.evolve(Config(), max_id_length=9))


def test_a_huge_room_name_is_cut_to_max_room_name_length_as_the_specification_says() -> None:
    p = party()
    host, bystander = p.connect(), p.connect()
    room = p.create(host, name="n" * 60_000)
    assert p.server.room(room).name == "n" * 100
    (listing,) = [m for m in received(p.last, bystander) if m["type"] == "room_list"]
    assert listing["payload"][0]["name"] == "n" * 100
    assert max(len(o.text) for o in p.last) < 500


@pytest.mark.parametrize(
    "message",
    [
        {"type": "x" * 60_000},
        player_event("R", "x" * 60_000, 1),
        {"type": "ping", "payload": {"k" * 60_000: float("nan")}},
    ],
)
def test_an_error_quotes_at_most_64_characters_of_what_the_client_sent(
    message: dict[str, Any],
) -> None:
    p = party()
    room, host, _ = p.room_with(1)
    if message.get("room") == "R":
        message = {**message, "room": room}
    text = _refused_with(p, host, message)
    assert "x" * 63 in text or "k" * 50 in text
    assert len(text) < 64 + 60
