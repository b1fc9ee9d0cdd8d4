"""Resume after a blip: a disconnected client's place is kept for a grace period.

Theory of operation. With ``Config.resume_grace_ms`` > 0 every connection gets
a single-use ``resume_token`` in its ``client_hello``, drawn from the injected
id source. A disconnect then does not leave: the client is *away* (its record
has no connection), its room goes on and the others see a
``participants_update``. If a new connection sends ``resume`` with that token
within the grace period, it takes the away record over: same client id, same
room, host role kept; it gets a ``client_hello`` with its restored id and a
fresh token, then ``room_state`` and the chat history. When the grace period
runs out, the client leaves for good and its room's handover policy applies.

A token works once, only while its client is away, and never after the grace
period. With a grace of 0 none of this exists: no token, and a disconnect is
the original leave.
"""

from __future__ import annotations

import attrs

from ._lifecycle import RoomLifecycle
from ._messages import ClientHello, ParticipantsUpdate, Resume, RoomClosed
from ._state import Outgoing, ServerState, _Client, _Room, refuse

__all__ = ["Resumption"]


@attrs.define(eq=False)
class _GraceTimer:
    """Ends an away client's grace, unless it resumed (or went away again) since."""

    resumption: Resumption
    client: _Client
    token: str

    def live(self) -> bool:
        client = self.client
        return client.conn is None and client.resume_token == self.token

    def fire(self, now: int, out: list[Outgoing]) -> None:
        self.resumption.expire(self.client, now, out)


class Resumption:
    """Away clients, their tokens and the ``resume`` handler."""

    def __init__(self, state: ServerState, lifecycle: RoomLifecycle) -> None:
        self._state = state
        self._lifecycle = lifecycle

    def issue_token(self, client: _Client) -> str | None:
        """Give ``client`` a fresh token (``None`` when resuming is off)."""
        state = self._state
        if state.config.resume_grace_ms == 0:
            return None
        token = state.new_id()
        state.tokens[token] = client
        client.resume_token = token
        return token

    def away(self, client: _Client, now: int, out: list[Outgoing]) -> None:
        """``client`` lost its connection: keep its place until the grace period ends."""
        state = self._state
        assert client.resume_token is not None
        client.conn = None
        deadline = client.away_until = now + state.config.resume_grace_ms
        state.timers.schedule(deadline, _GraceTimer(self, client, client.resume_token))
        room = client.room
        if room is not None:
            room.refresh_recipients()
            self._count_changed(room, (), now, out)

    def expire(self, client: _Client, now: int, out: list[Outgoing]) -> None:
        """The grace period is over: ``client`` is gone for good."""
        state = self._state
        assert client.resume_token is not None
        del state.tokens[client.resume_token]
        client.resume_token = None
        del state.by_id[client.id]
        if client.room is not None:
            self._lifecycle.leave(client, now, out)
            state.broadcast_room_list(now, out)

    def on_resume(self, fresh: _Client, msg: Resume, now: int) -> list[Outgoing]:
        state = self._state
        former = state.tokens.get(msg.token)
        # The grace ends at its deadline even if the embedder's timer is late.
        if former is None or former.conn is not None or now >= former.away_until:
            refuse("Invalid or expired resume token", "RESUME_TOKEN_INVALID")
        if fresh.room is not None:
            refuse("Resume before creating or joining a room", "RESUME_IN_ROOM")
        new_token = state.new_id()
        conn = fresh.conn
        assert conn is not None
        assert fresh.resume_token is not None
        # The fresh identity of this connection is dropped for the former one.
        del state.tokens[fresh.resume_token]
        del state.by_id[fresh.id]
        del state.tokens[msg.token]
        state.tokens[new_token] = former
        state.clients[conn] = former
        former.conn = conn
        former.resume_token = new_token
        former.tokens, former.refilled_at = fresh.tokens, fresh.refilled_at
        former.rate_error_at = fresh.rate_error_at
        if fresh.user_name is not None:
            former.user_id, former.user_name = fresh.user_id, fresh.user_name
        former.authenticated = former.authenticated or fresh.authenticated
        hello = ClientHello(client_id=former.id, ts=now, server_ts=now, resume_token=new_token)
        out = [state.out(former.inbox(), hello)]
        if former.missed_close is not None:
            closed = RoomClosed(room=former.missed_close, ts=now, server_ts=now)
            out.append(state.out(former.inbox(), closed))
            former.missed_close = None
        room = former.room
        if room is not None:
            room.refresh_recipients()
            self._lifecycle.welcome(former, room, now, out)
            self._count_changed(room, former.inbox(), now, out)
        return out

    def _count_changed(
        self, room: _Room, skip: tuple[str, ...], now: int, out: list[Outgoing]
    ) -> None:
        """A member went away or came back: the others and the room list hear of it."""
        state = self._state
        others = tuple(c for c in room.everyone if c not in skip)
        if others:
            update = ParticipantsUpdate(
                room=room.id, participant_count=room.participant_count(), ts=now, server_ts=now
            )
            out.append(state.out(others, update))
        state.broadcast_room_list(now, out)
