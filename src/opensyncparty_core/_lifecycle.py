"""Room lifecycle: creating, joining and leaving rooms, listing them, and who hosts them.

Every change of membership or of host goes through this module, so the
notices it implies (``room_state``, ``participants_update``, ``client_left``,
``host_changed``, ``room_closed``, the one ``room_list`` per event) are
decided in one place. When a host leaves for good, the room's
:class:`~opensyncparty_core.HandoverPolicy` decides between closing and
handing over. Playback rules are ``_playback.py``'s; a leave only calls into
it when it releases a pending play.
"""

from __future__ import annotations

from collections import deque

from ._handover import HANDOVER_POLICIES
from ._messages import (
    ClientLeft,
    CreateRoom,
    HostChanged,
    JoinRoom,
    LeaveRoom,
    ListRooms,
    ParticipantsUpdate,
    RoomClosed,
    TransferHost,
)
from ._playback import scheduled_play
from ._rules import check_position, clean_room_name
from ._state import Outgoing, ServerState, _Client, _Room, refuse
from ._validation import quote

__all__ = ["RoomLifecycle"]


class RoomLifecycle:
    """Handlers of the room messages: list, create, join, leave, ``transfer_host``."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def on_list_rooms(self, client: _Client, _msg: ListRooms, now: int) -> list[Outgoing]:
        return [self._state.out(client.inbox(), self._state.room_list(now))]

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
        handover = (
            config.handover_policy if msg.handover is None else HANDOVER_POLICIES[msg.handover]
        )
        room = _Room(
            id=room_id,
            name=name,
            host_id=client.id,
            media_id=msg.media_id,
            position=start_pos,
            play_state="paused",
            last_state_ts=now,
            position_ts=now,
            members={client.id: client},
            ready={client.id},
            handover=handover,
            chat_history=deque(maxlen=config.chat_history_size),
        )
        room.refresh_recipients()
        state.rooms[room.id] = room
        client.room = room
        out.append(state.out(client.inbox(), state.room_state(room, client.id, now)))
        state.broadcast_room_list(now, out)
        return out

    def on_join_room(self, client: _Client, msg: JoinRoom, now: int) -> list[Outgoing]:
        state = self._state
        room = state.rooms.get(msg.room)
        if room is None:
            refuse(f"Room '{msg.room}' not found", "ROOM_NOT_FOUND")
        if client.room is room:
            return [state.out(client.inbox(), state.room_state(room, client.id, now))]
        # Members away within their resume grace keep their seat.
        if len(room.members) >= state.config.max_room_size:
            refuse(f"Room is full ({state.config.max_room_size} members)", "ROOM_FULL")
        out: list[Outgoing] = []
        if client.room is not None:
            self.leave(client, now, out)
        room.members[client.id] = client
        room.ready.discard(client.id)
        room.refresh_recipients()
        client.room = room
        self.welcome(client, room, now, out)
        others = tuple(c for c in room.everyone if c != client.conn)
        if others:
            update = ParticipantsUpdate(
                room=room.id, participant_count=room.participant_count(), ts=now, server_ts=now
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

    def on_transfer_host(self, client: _Client, msg: TransferHost, now: int) -> list[Outgoing]:
        state = self._state
        room = state.member_room(client, msg.room)
        if room.host_id != client.id:
            refuse("Only the host can transfer the host role", "NOT_HOST")
        target = room.members.get(msg.client_id)
        if target is None or target.conn is None:
            refuse(
                f"Client '{quote(msg.client_id)}' is not a connected member of this room",
                "TRANSFER_TARGET_INVALID",
            )
        out: list[Outgoing] = []
        if target is not client:
            self.hand_over(room, target.id, now, out)
        return out

    def welcome(self, client: _Client, room: _Room, now: int, out: list[Outgoing]) -> None:
        """``room_state`` to a member who arrives (join or resume), then the chat history."""
        state = self._state
        out.append(state.out(client.inbox(), state.room_state(room, client.id, now)))
        out.extend(Outgoing(client.inbox(), text) for text in room.chat_history)

    def hand_over(self, room: _Room, new_host: str, now: int, out: list[Outgoing]) -> None:
        room.host_id = new_host
        room.refresh_recipients()
        if room.everyone:
            changed = HostChanged(room=room.id, host_id=new_host, ts=now, server_ts=now)
            out.append(self._state.out(room.everyone, changed))

    def leave(self, client: _Client, now: int, out: list[Outgoing]) -> None:
        """Take ``client`` out of its room for good and report it.

        The caller sends the ``room_list``.
        """
        state = self._state
        room = client.room
        assert room is not None
        client.room = None
        del room.members[client.id]
        room.ready.discard(client.id)
        room.refresh_recipients()
        successor = None
        if room.host_id == client.id and room.members:
            present = [c.id for c in room.members.values() if c.conn is not None]
            away = [c.id for c in room.members.values() if c.conn is None]
            successor = room.handover.successor(present + away)
            if successor is None:
                self._close(room, now, out)
                return
        if not room.members:
            self._close(room, now, out)
            return
        if room.everyone:
            left = ClientLeft(
                room=room.id,
                client=client.id,
                participant_count=room.participant_count(),
                ts=now,
                server_ts=now,
            )
            out.append(state.out(room.everyone, left))
        if successor is not None:
            self.hand_over(room, successor, now, out)
        # Nobody left to wait for: a pending play fires now (spec 8.2).
        if room.pending_play is not None and room.all_ready():
            scheduled_play(state, room, room.pending_play.position, now, out)

    def _close(self, room: _Room, now: int, out: list[Outgoing]) -> None:
        room.pending_play = None
        del self._state.rooms[room.id]
        for member in room.members.values():
            member.room = None
            if member.conn is None:
                member.missed_close = room.id
        if room.everyone:
            closed = RoomClosed(room=room.id, ts=now, server_ts=now)
            out.append(self._state.out(room.everyone, closed))
