"""Room chat, wire-compatible with the OpenWatchParty server.

A member's ``chat_message`` goes to every connected member of its room, the
sender included, with the sender's id and display name; the room keeps the
last ``Config.chat_history_size`` of them (already encoded) for joiners.
Chat counts against the rate limit like any message (the server checks that
before dispatching here).
"""

from __future__ import annotations

from ._messages import ChatMessage, encode
from ._state import Outgoing, ServerState, _Client, refuse

__all__ = ["Chat", "default_username"]


def default_username(client_id: str) -> str:
    """The chat name of a client that gave none: short, and stable for its id."""
    return f"Guest {client_id[:4]}"


class Chat:
    """Handler of ``chat_message``."""

    def __init__(self, state: ServerState) -> None:
        self._state = state

    def on_chat_message(self, client: _Client, msg: ChatMessage, now: int) -> list[Outgoing]:
        state = self._state
        room = state.rooms.get(msg.room)
        if room is None:
            refuse(f"Room '{msg.room}' not found", "ROOM_NOT_FOUND")
        if client.room is not room:
            refuse(f"You are not in room '{msg.room}'", "NOT_ROOM_MEMBER")
        if not msg.text.strip():
            refuse("Chat message is empty", "CHAT_MESSAGE_EMPTY")
        limit = state.config.max_chat_length
        if len(msg.text) > limit:
            refuse(f"Chat message is longer than {limit} characters", "CHAT_MESSAGE_TOO_LONG")
        username = client.user_name if client.user_name else default_username(client.id)
        text = encode(
            ChatMessage(
                room=room.id,
                text=msg.text,
                client=client.id,
                username=username,
                ts=now,
                server_ts=now,
            )
        )
        room.chat_history.append(text)
        return [Outgoing(room.everyone, text)]
