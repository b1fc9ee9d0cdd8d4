"""Room lifecycle: creating, joining and leaving rooms, and listing them.

Every change of membership goes through this module, so the notices it
implies (``room_state``, ``participants_update``, ``client_left``,
``room_closed``, the one ``room_list`` per event) are decided in one place.
Playback rules are ``_playback.py``'s; a leave only calls into it when it
releases a pending play.
"""

from __future__ import annotations

from ._messages import (
    ClientLeft,
    CreateRoom,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    ParticipantsUpdate,
    RoomClosed,
)
from ._playback import scheduled_play
from ._rules import check_position, clean_room_name
from ._state import Outgoing, ServerState, _Client, _Room, refuse

__all__ = ["RoomLifecycle"]


class RoomLifecycle:
    """Handlers of ``list_rooms``, ``create_room``, ``join_room``, ``leave_room``."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def on_list_rooms(self, client: _Client, _msg: ListRooms, now: int) -> list[Outgoing]:
        return [self._state.out((client.id,), self._state.room_list(now))]

    def on_create_room(self, client: _Client, msg: CreateRoom, now: int) -> list[Outgoing]:
        state = self._state
        config = state.config
        start_pos = check_position(msg.start_pos, "payload.start_pos", config)
        name = clean_room_name(msg.name, config)
        # Before the leave: a misbehaving id source must not leave half a change.
        room_id = state.new_id()
        out: list[Outgoing] = []
        if client.room is not None:
            self.leave(client, now, out)
        room = _Room(
            id=room_id,
            name=name,
            host_id=client.id,
            media_id=msg.media_id,
            position=start_pos,
            play_state="paused",
            last_state_ts=now,
            position_ts=now,
            members={client.id: None},
            ready={client.id},
        )
        room.refresh_recipients()
        state.rooms[room.id] = room
        client.room = room
        out.append(state.out((client.id,), state.room_state(room, client.id, now)))
        state.broadcast_room_list(now, out)
        return out

    def on_join_room(self, client: _Client, msg: JoinRoom, now: int) -> list[Outgoing]:
        state = self._state
        room = state.rooms.get(msg.room)
        if room is None:
            refuse(f"Room '{msg.room}' not found", "ROOM_NOT_FOUND")
        if client.room is room:
            return [state.out((client.id,), state.room_state(room, client.id, now))]
        if len(room.members) >= state.config.max_room_size:
            refuse(f"Room is full ({state.config.max_room_size} members)", "ROOM_FULL")
        out: list[Outgoing] = []
        if client.room is not None:
            self.leave(client, now, out)
        room.members[client.id] = None
        room.ready.discard(client.id)
        room.refresh_recipients()
        client.room = room
        out.append(state.out((client.id,), state.room_state(room, client.id, now)))
        others = tuple(c for c in room.everyone if c != client.id)
        if others:
            update = ParticipantsUpdate(
                room=room.id, participant_count=len(room.members), ts=now, server_ts=now
            )
            out.append(state.out(others, update))
        state.broadcast_room_list(now, out)
        return out

    def on_leave_room(self, client: _Client, _msg: LeaveRoom, now: int) -> list[Outgoing]:
        if client.room is None:
            return []
        out: list[Outgoing] = []
        self.leave(client, now, out)
        self._state.broadcast_room_list(now, out)
        return out

    def leave(self, client: _Client, now: int, out: list[Outgoing]) -> None:
        """Take ``client`` out of its room and report it; the caller sends ``room_list``."""
        state = self._state
        room = client.room
        assert room is not None
        client.room = None
        del room.members[client.id]
        room.ready.discard(client.id)
        room.refresh_recipients()
        was_host = room.host_id == client.id
        if was_host or not room.members:
            room.pending_play = None
            del state.rooms[room.id]
            for member_id in room.members:
                state.clients[member_id].room = None
            if room.everyone:
                closed = RoomClosed(room=room.id, ts=now, server_ts=now)
                out.append(state.out(room.everyone, closed))
            return
        left = ClientLeft(
            room=room.id,
            client=client.id,
            participant_count=len(room.members),
            ts=now,
            server_ts=now,
        )
        out.append(state.out(room.everyone, left))
        # Nobody left to wait for: a pending play fires now (spec 8.2).
        if room.pending_play is not None and room.all_ready():
            scheduled_play(state, room, room.pending_play.position, now, out)
