"""The upstream web client (``upstream_12923e4``), modelled from its algorithm as written.

Source: the OpenSyncParty Jellyfin web plugin at commit 12923e4
(``clients/web-plugin``: the playback, state and websocket modules), whose
behaviour issue 14 of this project records, measured on the real JavaScript in
a browser (a guest starts about 1.5 s behind and takes about 23 s to come
within 0.5 s):

- clock: one offset, an exponential moving average ``0.6 * old + 0.4 * new`` of
  ``server_ts + rtt / 2 - receive_time``; a ping every 3 s;
- the host's player plays, pauses and seeks at once on the user's click; the
  host ignores the scheduled play the server sends back to it;
- a seek is announced only on ``seeked`` (when the host's seek has landed), with
  the position the player then reports; a pause while the player says it is
  buffering is not sent;
- the host sends ``state_update {position, play_state}`` once a second (not while
  buffering or seeking), position as the player reports it;
- viewers run a scheduled play or pause *in place* (no seek to the command's
  position), and a seek by jumping to its position;
- the viewers' drift loop runs at 1 Hz: ``drift = expected - actual`` with
  ``expected = last position + (server now - its server_ts)``; nothing inside a
  40 ms dead zone, a jump at 2.5 s or more, otherwise
  ``rate = clamp(1 + 0.5 * drift, 0.95, 1.05)``.

It talks to the real :class:`~opensyncparty_core.SessionServer` through the same
calls as :class:`~opensyncparty_core.SyncClient`, so the simulator drives both.
"""

from __future__ import annotations

from opensyncparty_core import (
    ClientHello,
    Pause,
    Ping,
    Play,
    PlayerAction,
    PlayerEvent,
    PlayerStatus,
    PlayState,
    Pong,
    Ready,
    RoomClosed,
    RoomState,
    Seek,
    ServerMessage,
    SetRate,
    StateUpdate,
    SyncOutput,
)

__all__ = ["UpstreamClient"]

EMA_KEEP = 0.6
PING_INTERVAL_MS = 3_000.0
STATE_UPDATE_MS = 1_000.0
DRIFT_LOOP_MS = 1_000.0
DEAD_ZONE_S = 0.04
SEEK_THRESHOLD_S = 2.5
GAIN = 0.5
MIN_RATE, MAX_RATE = 0.95, 1.05
SEEK_DEBOUNCE_MS = 500.0


class UpstreamClient:
    """The upstream web client's algorithm (see the module docstring)."""

    def __init__(self) -> None:
        self.client_id: str | None = None
        self.room_id: str | None = None
        self.host_id: str | None = None
        self._offset: float | None = None
        self._pinged_at: dict[int, float] = {}
        self._next_ping: float | None = None
        self._next_loop: float | None = None
        self._pending: tuple[float, PlayerEvent] | None = None  # (server target, command)
        self._last_sync: tuple[float, float, bool] | None = None  # position, server ts, playing
        self._status: PlayerStatus | None = None
        self._rate = 1.0
        self._seek_unsent = False
        self._last_seek_sent = float("-inf")
        self._last_update = float("-inf")

    @property
    def is_host(self) -> bool:
        return self.room_id is not None and self.host_id == self.client_id

    def _server_now(self, now: float) -> float:
        return now + (self._offset or 0.0)

    # -- the SyncClient calls -----------------------------------------------

    def receive(self, message: ServerMessage, now: float) -> list[SyncOutput]:
        if self._offset is None and message.ts is not None:
            self._offset = message.ts - now
        if isinstance(message, Pong):
            payload = message.payload
            client_ts = payload.get("client_ts") if isinstance(payload, dict) else None
            sent = self._pinged_at.pop(client_ts, None) if isinstance(client_ts, int) else None
            if sent is not None:
                sample = message.server_ts + (now - sent) / 2.0 - now
                self._offset = EMA_KEEP * (self._offset or sample) + (1 - EMA_KEEP) * sample
            return []
        if isinstance(message, ClientHello):
            self.client_id = message.client_id
            self._next_ping = now
            return []
        if isinstance(message, RoomState):
            self.room_id, self.host_id = message.room, message.host_id
            playing = message.play_state == "playing"
            self._last_sync = (message.position, float(message.server_ts), playing)
            self._next_loop = now + DRIFT_LOOP_MS
            return []
        if isinstance(message, RoomClosed) and message.room == self.room_id:
            self.room_id = self.host_id = None
            self._last_sync = self._pending = None
            return self._set_rate(1.0, now)
        if isinstance(message, PlayerEvent) and message.room == self.room_id:
            if self.is_host:
                return []  # the host played at the click: its scheduled play is ignored
            target = message.target_server_ts
            self._pending = (float(target if target is not None else 0), message)
            return self.handle_timer(now)
        if (
            isinstance(message, StateUpdate)
            and message.room == self.room_id
            and not self.is_host
            and message.server_ts is not None
        ):
            playing = message.play_state == "playing"
            self._last_sync = (message.position, float(message.server_ts), playing)
        return []

    def ready(self, now: float) -> list[SyncOutput]:
        if self.room_id is None:
            return []
        out: list[SyncOutput] = [Ready(room=self.room_id, ts=round(now))]
        if self._last_sync is not None and not self.is_host:
            position, _, playing = self._last_sync
            out.append(Play(position, now) if playing else Pause(position, now))
        return out

    def left(self, now: float) -> list[SyncOutput]:
        self.room_id = self.host_id = None
        return self._set_rate(1.0, now)

    def observe(self, status: PlayerStatus, now: float) -> list[SyncOutput]:
        self._status = status
        if not self.is_host or self.room_id is None:
            return []
        settled = not status.buffering
        if self._seek_unsent and settled and now - self._last_seek_sent >= SEEK_DEBOUNCE_MS:
            # ``seeked``: the seek has landed; announce where the player is.
            self._seek_unsent = False
            self._last_seek_sent = now
            event = PlayerEvent(
                room=self.room_id, action="seek", position=status.position, ts=round(now)
            )
            return [event]
        if settled and now - self._last_update >= STATE_UPDATE_MS:
            self._last_update = now
            play_state: PlayState = "paused" if status.paused else "playing"
            return [
                StateUpdate(
                    room=self.room_id,
                    position=status.position,
                    play_state=play_state,
                    ts=round(now),
                )
            ]
        return []

    def player_event(self, action: PlayerAction, position: float, now: float) -> list[SyncOutput]:
        if not self.is_host or self.room_id is None:
            return []
        status = self._status
        if action == "seek":
            self._seek_unsent = True
            return []
        if action == "pause" and status is not None and status.buffering:
            return []  # upstream reads a pause during buffering as the buffering's own
        return [PlayerEvent(room=self.room_id, action=action, position=position, ts=round(now))]

    def next_deadline(self) -> float | None:
        deadlines = [d for d in (self._next_ping, self._next_loop) if d is not None]
        if self._pending is not None:
            deadlines.append(self._pending[0] - (self._offset or 0.0))
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> list[SyncOutput]:
        out: list[SyncOutput] = []
        if self._next_ping is not None and now >= self._next_ping:
            client_ts = round(now)
            self._pinged_at[client_ts] = now
            out.append(Ping(payload={"client_ts": client_ts}, ts=client_ts))
            self._next_ping = now + PING_INTERVAL_MS
        if self._pending is not None and self._server_now(now) >= self._pending[0]:
            target, message = self._pending
            self._pending = None
            out += self._run(message, target, now)
        if self._next_loop is not None and now >= self._next_loop:
            self._next_loop = now + DRIFT_LOOP_MS
            out += self._drift_loop(now)
        return out

    # -- internals ----------------------------------------------------------

    def _run(self, message: PlayerEvent, target: float, now: float) -> list[SyncOutput]:
        status = self._status
        here = status.position if status is not None else 0.0
        position = message.position if message.position is not None else here
        if message.action == "play":
            self._last_sync = (position, target, True)
            return [Play(here, now)]  # in place
        if message.action == "pause":
            self._last_sync = (position, target, False)
            return [*self._set_rate(1.0, now), Pause(here, now)]  # in place
        playing = self._last_sync[2] if self._last_sync is not None else False
        stamp = message.server_ts if message.server_ts is not None else target
        self._last_sync = (position, float(stamp), playing)
        return [Seek(position, now)]

    def _drift_loop(self, now: float) -> list[SyncOutput]:
        status, sync = self._status, self._last_sync
        if self.is_host or sync is None or status is None or not sync[2]:
            return self._set_rate(1.0, now)
        if status.buffering:
            return []
        if status.paused:
            return self._set_rate(1.0, now)
        position, server_ts, _ = sync
        expected = position + max(0.0, self._server_now(now) - server_ts) / 1000.0
        drift = expected - status.position
        if abs(drift) < DEAD_ZONE_S:
            return self._set_rate(1.0, now)
        if abs(drift) >= SEEK_THRESHOLD_S:
            return [Seek(expected, now), *self._set_rate(1.0, now)]
        return self._set_rate(min(max(1.0 + GAIN * drift, MIN_RATE), MAX_RATE), now)

    def _set_rate(self, rate: float, now: float) -> list[SyncOutput]:
        if rate == self._rate:
            return []
        self._rate = rate
        return [SetRate(rate, now)]
