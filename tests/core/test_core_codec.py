"""Codec round trips: every message class encodes to text that decodes to an equal object.

A ``player_event`` or ``state_update`` payload is kept whole on decoding (the
server relays every key a host sent), so a decoded message's ``payload`` is the
wire payload: the client's own keys plus the ones the typed fields encode.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from opensyncparty_core import (
    ClientHello,
    ClientLeft,
    ClientMessage,
    CreateRoom,
    Error,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    ParticipantsUpdate,
    Ping,
    PlayerEvent,
    PlayState,
    Pong,
    Ready,
    RoomClosed,
    RoomList,
    RoomState,
    RoomSummary,
    ServerMessage,
    StateUpdate,
    decode_client_message,
    decode_server_message,
    encode,
)
from tests.core.strategies import (
    finite_floats,
    ids,
    json_values,
    numbers,
    payload_extras,
    timestamps,
)

optional_ts = st.none() | timestamps
optional_text = st.none() | st.text(max_size=30)
_PLAY_STATES: tuple[PlayState, ...] = ("playing", "paused")
play_states = st.sampled_from(_PLAY_STATES)

client_messages: st.SearchStrategy[ClientMessage] = st.one_of(
    st.builds(ListRooms, ts=optional_ts),
    st.builds(
        CreateRoom,
        name=optional_text,
        start_pos=numbers,
        media_id=optional_text,
        ts=optional_ts,
    ),
    st.builds(JoinRoom, room=ids, ts=optional_ts),
    st.builds(Ready, room=ids, media_id=optional_text, ts=optional_ts),
    st.builds(LeaveRoom, room=st.none() | ids, ts=optional_ts),
    st.builds(Ping, payload=json_values, ts=optional_ts),
)

server_messages: st.SearchStrategy[ServerMessage] = st.one_of(
    st.builds(ClientHello, client_id=ids, ts=timestamps, server_ts=timestamps),
    st.builds(
        RoomList,
        rooms=st.lists(
            st.builds(
                RoomSummary,
                id=ids,
                name=st.text(max_size=30),
                count=st.integers(0, 100),
                media_id=optional_text,
            ),
            max_size=4,
        ).map(tuple),
        ts=timestamps,
        server_ts=timestamps,
    ),
    st.builds(
        RoomState,
        room=ids,
        client=ids,
        name=st.text(max_size=30),
        host_id=ids,
        position=finite_floats,
        play_state=play_states,
        participant_count=st.integers(0, 100),
        media_id=optional_text,
        ts=timestamps,
        server_ts=timestamps,
    ),
    st.builds(
        ParticipantsUpdate,
        room=ids,
        participant_count=st.integers(0, 100),
        ts=timestamps,
        server_ts=timestamps,
    ),
    st.builds(
        ClientLeft,
        room=ids,
        client=ids,
        participant_count=st.integers(0, 100),
        ts=timestamps,
        server_ts=timestamps,
    ),
    st.builds(RoomClosed, room=ids, ts=timestamps, server_ts=timestamps),
    st.builds(Pong, payload=json_values, ts=timestamps, server_ts=timestamps),
    st.builds(Error, message=st.text(max_size=40), ts=timestamps, server_ts=timestamps),
)


@settings(max_examples=200)
@given(client_messages)
def test_client_message_round_trips(message: ClientMessage) -> None:
    assert decode_client_message(encode(message)) == message


@settings(max_examples=200)
@given(server_messages)
def test_server_message_round_trips(message: ServerMessage) -> None:
    assert decode_server_message(encode(message)) == message


player_event_extras = payload_extras(frozenset({"action", "position", "target_server_ts"}))
state_update_extras = payload_extras(frozenset({"position", "play_state"}))


@st.composite
def player_events(draw: st.DrawFn, *, from_server: bool) -> tuple[PlayerEvent, dict[str, Any]]:
    """A player_event and the extra payload keys it was built with."""
    action = draw(st.sampled_from(["play", "pause", "seek"]))
    position = draw(numbers if action == "seek" else st.none() | numbers)
    extras = draw(player_event_extras)
    message = PlayerEvent(
        room=draw(ids),
        action=action,  # type: ignore[arg-type]
        position=position,
        target_server_ts=draw(optional_ts) if from_server else None,
        client=draw(st.none() | ids) if from_server else None,
        payload=extras,
        ts=draw(optional_ts),
        server_ts=draw(optional_ts) if from_server else None,
    )
    return message, extras


@st.composite
def state_updates(draw: st.DrawFn, *, from_server: bool) -> tuple[StateUpdate, dict[str, Any]]:
    extras = draw(state_update_extras)
    message = StateUpdate(
        room=draw(ids),
        position=draw(numbers),
        play_state=draw(play_states),
        client=draw(st.none() | ids) if from_server else None,
        payload=extras,
        ts=draw(optional_ts),
        server_ts=draw(optional_ts) if from_server else None,
    )
    return message, extras


def _wire_payload(message: PlayerEvent | StateUpdate, extras: dict[str, Any]) -> dict[str, Any]:
    if isinstance(message, StateUpdate):
        return {**extras, "position": message.position, "play_state": message.play_state}
    payload: dict[str, Any] = {**extras, "action": message.action}
    if message.position is not None:
        payload["position"] = message.position
    if message.target_server_ts is not None:
        payload["target_server_ts"] = message.target_server_ts
    return payload


@settings(max_examples=200)
@given(st.one_of(player_events(from_server=True), state_updates(from_server=True)))
def test_relayed_host_message_round_trips_with_its_extra_payload_keys(
    built: tuple[PlayerEvent | StateUpdate, dict[str, Any]],
) -> None:
    message, extras = built
    decoded = decode_server_message(encode(message))
    assert decoded == attrs.evolve(message, payload=_wire_payload(message, extras))


@settings(max_examples=200)
@given(st.one_of(player_events(from_server=False), state_updates(from_server=False)))
def test_host_message_round_trips_through_the_client_decoder(
    built: tuple[PlayerEvent | StateUpdate, dict[str, Any]],
) -> None:
    message, extras = built
    decoded = decode_client_message(encode(message))
    assert decoded == attrs.evolve(message, payload=_wire_payload(message, extras))


@settings(max_examples=100)
@given(st.one_of(player_events(from_server=True), state_updates(from_server=True)))
def test_decoded_host_message_is_a_fixed_point_of_the_codec(
    built: tuple[PlayerEvent | StateUpdate, dict[str, Any]],
) -> None:
    once = decode_server_message(encode(built[0]))
    assert decode_server_message(encode(once)) == once


def test_client_decoder_ignores_what_only_the_server_may_set() -> None:
    text = json.dumps(
        {
            "type": "player_event",
            "room": "r",
            "client": "someone",
            "server_ts": 5,
            "payload": {"action": "pause", "target_server_ts": 9},
        }
    )
    decoded = decode_client_message(text)
    assert isinstance(decoded, PlayerEvent)
    assert (decoded.client, decoded.server_ts, decoded.target_server_ts) == (None, None, None)


@settings(max_examples=200)
@given(st.one_of(client_messages, server_messages))
def test_encoding_is_compact_ascii_json_with_the_wire_type(
    message: ClientMessage | ServerMessage,
) -> None:
    text = encode(message)
    assert text.isascii()
    obj = json.loads(text)
    assert obj["type"] == message.type
    assert text == json.dumps(obj, separators=(",", ":"))
    assert None not in (obj.get(k, 0) for k in ("room", "client", "payload", "ts", "server_ts"))
