"""Playback rules: host commands, state reports, readiness and scheduled plays.

Everything about *when members play what* lives here: the ready gate, the
pending-play deadline, the relay of pause and seek with their lead time, and
the state-update filter (whose pure rule is in ``_rules.py``). Who is in which
room is ``_lifecycle.py``'s business; this module only reads membership.
"""

from __future__ import annotations

import attrs

from ._messages import PlayerEvent, Ready, StateUpdate, encode_relay
from ._rules import check_position, state_update_drop_reason
from ._state import Outgoing, PendingPlay, ServerState, _Client, _Room

__all__ = ["Playback", "scheduled_play"]


def scheduled_play(
    state: ServerState, room: _Room, position: float, now: int, out: list[Outgoing]
) -> None:
    """Every member, host included, plays ``position`` at ``now + play_schedule_ms``."""
    target = now + state.config.play_schedule_ms
    room.position = position
    room.position_ts = target
    room.play_state = "playing"
    room.pending_play = None
    play = PlayerEvent(
        room=room.id,
        action="play",
        position=position,
        target_server_ts=target,
        ts=now,
        server_ts=target,
    )
    if room.everyone:  # every member may be away (resume grace)
        out.append(state.out(room.everyone, play))


@attrs.define(eq=False)
class _PendingPlayTimer:
    """Forces a pending play when the ready wait runs out, unless it was superseded."""

    state: ServerState
    room: _Room
    pending: PendingPlay

    def live(self) -> bool:
        room = self.room
        return self.state.rooms.get(room.id) is room and room.pending_play is self.pending

    def fire(self, now: int, out: list[Outgoing]) -> None:
        scheduled_play(self.state, self.room, self.pending.position, now, out)


class Playback:
    """Handlers of ``ready``, ``player_event`` and ``state_update``."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def on_ready(self, client: _Client, msg: Ready, now: int) -> list[Outgoing]:
        room = self._state.member_room(client, msg.room)
        room.ready.add(client.id)
        out: list[Outgoing] = []
        if room.pending_play is not None and room.all_ready():
            scheduled_play(self._state, room, room.pending_play.position, now, out)
        return out

    def on_player_event(self, client: _Client, msg: PlayerEvent, now: int) -> list[Outgoing]:
        state = self._state
        room = state.host_room(client, msg.room)
        position = room.position if msg.position is None else msg.position
        check_position(position, "payload.position", state.config)
        room.position = position
        room.last_state_ts = room.last_command_ts = room.position_ts = now
        out: list[Outgoing] = []
        if msg.action == "play":
            room.play_state = "playing"
            if room.all_ready():
                scheduled_play(state, room, position, now, out)
            else:
                pending = PendingPlay(position=position, created_at=now)
                room.pending_play = pending
                deadline = now + state.config.max_ready_wait_ms
                state.timers.schedule(deadline, _PendingPlayTimer(state, room, pending))
            return out
        if msg.action == "pause":
            room.play_state = "paused"
        room.pending_play = None
        if room.guests:
            target = now + state.config.control_schedule_ms
            payload = dict(msg.payload)
            payload["target_server_ts"] = target
            text = encode_relay("player_event", room.id, client.id, payload, now, target)
            out.append(Outgoing(room.guests, text))
        return out

    def on_state_update(self, client: _Client, msg: StateUpdate, now: int) -> list[Outgoing]:
        state = self._state
        room = state.host_room(client, msg.room)
        config = state.config
        check_position(msg.position, "payload.position", config)
        dropped = state_update_drop_reason(
            now=now,
            position=msg.position,
            play_state=msg.play_state,
            room_position=room.position,
            room_play_state=room.play_state,
            last_state_ts=room.last_state_ts,
            last_command_ts=room.last_command_ts,
            config=config,
        )
        if dropped is not None:
            return []
        room.position = msg.position
        room.play_state = msg.play_state
        room.last_state_ts = room.position_ts = now
        if not room.guests:
            return []
        # The host's payload is relayed with every key it sent (spec 8.4).
        text = encode_relay("state_update", room.id, client.id, msg.payload, now, now)
        return [Outgoing(room.guests, text)]
