"""The client side of synchronised playback, sans-IO.

Theory of operation. A :class:`SyncClient` sits between one connection to the
session server and one media player. The embedding code reports four things,
always with the local clock reading ``now`` (milliseconds, float, any
monotonic origin):

- :meth:`SyncClient.receive`: a decoded server message;
- :meth:`SyncClient.observe`: the player's status, a few times a second;
- :meth:`SyncClient.player_event`: a play, pause or seek the player reported;
- :meth:`SyncClient.handle_timer`: the time :meth:`SyncClient.next_deadline` asked for.

Each returns a list of outputs, to be carried out in order: protocol messages
(typed message objects, not text: send ``encode(message)``) and player
commands (:class:`Play`, :class:`Pause`, :class:`Seek`, :class:`SetRate`),
each meant for the instant ``at`` (the ``now`` of the call that returned it).
Rooms are the embedder's business: it sends ``create_room`` / ``join_room``
itself and calls :meth:`SyncClient.ready` once the media is loaded; the
client follows whatever ``room_state`` it is given.

The room's *timeline* is a line: position ``p`` at server time ``T``, playing
or paused. Every command, relayed ``state_update`` and ``room_state`` moves
it. Server instants are turned into local ones with the clock estimate of
``_clock_sync`` (ping/pong, see there for the estimator and its error bound).

- Scheduled commands run when the estimated server clock reaches their
  ``target_server_ts``, never before; a late one runs at once, at the
  position the timeline has reached (a pause, at its own position).
- A viewer (non-host) steers its player onto the timeline (see
  :class:`SyncConfig` for the controller). The host is the reference: it
  only runs the scheduled commands and reports its position in
  ``state_update`` messages that the server's filters will relay: about one
  a second while playing, each at least 0.6 s further on, none during the
  server's cooldown after a command. They leave from :meth:`SyncClient.observe`,
  which brings the fresh position they need, rather than from a timer.
- The player's position is estimated from the last few observations, each
  carried forward to ``now`` with the rates this client commanded, and the
  median taken: HLS players report positions that jitter by tens of ms.
- Players start late after a play or a seek. The lag is measured on each
  start and the next start aims that much further ahead (``learn_start_lead``).
- Echo suppression: the play/pause/seek events that result from a command of
  this client, and pauses while the player is buffering, are never sent as
  host commands.

Wire extensions (ignored by other clients, relayed unchanged by the server):
a ``seek`` and a ``state_update`` from this host carry ``at_server_ts``, the
estimated server instant at which ``position`` held on the host, so viewers
need not assume it held when the server relayed it; a ``seek`` carries
``play_state`` as the original web client's did.
"""

from __future__ import annotations

import bisect
import collections
import statistics
from typing import Any, TypeAlias

import attrs

from ._clock_sync import ClockEstimator, ClockModel, ClockSample
from ._config import Config
from ._messages import (
    ClientHello,
    HostChanged,
    Ping,
    PlayerAction,
    PlayerEvent,
    Pong,
    Ready,
    RoomClosed,
    RoomState,
    ServerMessage,
    StateUpdate,
)

__all__ = [
    "Pause",
    "Play",
    "PlayerCommand",
    "PlayerStatus",
    "Seek",
    "SetRate",
    "SyncClient",
    "SyncConfig",
    "SyncOutput",
]

# --------------------------------------------------------------------------
# Values in and out
# --------------------------------------------------------------------------


@attrs.frozen
class Play:
    """Start playing from ``position`` (seconds) at local instant ``at``."""

    position: float
    at: float


@attrs.frozen
class Pause:
    """Pause at ``position`` (seconds; seek there if the player is elsewhere) at ``at``."""

    position: float
    at: float


@attrs.frozen
class Seek:
    """Jump to ``position`` (seconds) at ``at``, keeping the play/pause state."""

    position: float
    at: float


@attrs.frozen
class SetRate:
    """Set the playback rate (1.0 is normal speed) at ``at``."""

    rate: float
    at: float


PlayerCommand: TypeAlias = Play | Pause | Seek | SetRate
"""An action for the local player."""

SyncOutput: TypeAlias = PlayerCommand | Ping | Ready | PlayerEvent | StateUpdate
"""What :class:`SyncClient` methods return: player commands and messages to send."""


@attrs.frozen
class PlayerStatus:
    """What the player reports.

    ``buffering`` means "should be playing but not advancing": stalled, seeking
    or starting (HTML5 ``waiting`` / ``seeking``).
    """

    position: float
    paused: bool
    rate: float = 1.0
    buffering: bool = False


def _rate_bound(_inst: Any, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0.0:
        raise ValueError(f"SyncConfig.{attribute.name} must be positive, got {value!r}")


@attrs.frozen(kw_only=True)
class SyncConfig:
    """Behaviour of :class:`SyncClient` (seconds for positions, ms for times).

    The drift controller. ``drift`` is the estimated player position minus the
    timeline's, positive when ahead. Outside a correction, nothing happens
    until ``|drift| > dead_zone_enter``; a correction sets the rate to
    ``1 - drift / correction_time`` (clamped to ``[min_rate, max_rate]``), a
    proportional controller that removes drift with time constant
    ``correction_time``, and ends once ``|drift| < dead_zone_exit``. At
    ``|drift| >= seek_threshold`` it seeks instead.

    Why these defaults. The hysteresis (enter at 20 ms, exit at 5 ms) keeps
    the rate at exactly 1.0 most of the time, yet ends each correction near
    zero instead of at the edge of the dead zone as a single 40 ms zone does.
    A 1 s time constant with a 7-sample median position filter (about 1.75 s
    of reports at 4 Hz, carried forward with the commanded rate so the filter
    adds no lag to the loop) corrects in a few seconds without overshoot.
    Rates stay within ±5%, where pitch-preserving playback is not noticed. A
    seek (done as a held start, see ``seek_margin``) freezes the picture for
    about half a second and skips content, so it is kept for drifts that
    nudging would take over 10 s to absorb (0.5 s at 5%): in practice the
    aftermath of a buffering stall. The original's 2.5 s left a viewer off
    by up to 2.5 s for up to 50 s. Measured in ``benchmarks/sync_accuracy.py``.
    """

    dead_zone_enter: float = 0.020
    dead_zone_exit: float = 0.005
    correction_time: float = attrs.field(default=1.0, validator=_rate_bound)
    min_rate: float = attrs.field(default=0.95, validator=_rate_bound)
    max_rate: float = attrs.field(default=1.05, validator=_rate_bound)
    seek_threshold: float = 0.5
    seek_margin: float = 0.5
    """A seek while playing waits paused this far ahead and plays when the timeline
    gets there, so the player's seek time (if shorter) costs no accuracy. 0: plain seek."""
    rate_step: float = 0.002
    """Smaller rate changes are not sent (players round rates anyway)."""
    position_filter: int = attrs.field(default=7, validator=_rate_bound)
    """Observations whose median estimates the player position (1: trust the last one)."""
    min_observations: int = attrs.field(default=3, validator=_rate_bound)
    """Observations needed after a play, seek or stall before the position is trusted."""
    learn_start_lead: bool = True
    """Measure how late the player starts and aim that far ahead next time."""
    max_start_lead: float = 1.0
    stamp_positions: bool = True
    """Add ``at_server_ts`` to this host's seeks and state updates (see the module docstring)."""
    state_update_interval_ms: float = 1_000.0
    """Host: least spacing of ``state_update`` messages while playing."""
    state_update_min_advance: float = 0.6
    """Host: least position advance between updates; the server drops advances under 0.5 s."""
    join_wait_ms: float = 1_500.0
    """A viewer joining a playing room waits this long for the host's next
    ``state_update`` (fresh and stamped) before starting from ``room_state``."""
    seek_announce_timeout_ms: float = 3_000.0
    """Host: a seek while playing is announced once the player plays again (with its
    filtered position), or after this long regardless."""
    echo_window_ms: float = 2_000.0
    """A player event this soon after a matching command is its echo."""
    echo_tolerance: float = 1.0
    """Seconds between a command's position and its echo's."""
    server: Config = attrs.field(factory=Config)
    """The server's timings (play lead, cooldown) this client plans around."""

    def __attrs_post_init__(self) -> None:
        if not self.min_rate <= 1.0 <= self.max_rate:
            raise ValueError("SyncConfig needs min_rate <= 1.0 <= max_rate")
        if not 0.0 <= self.dead_zone_exit <= self.dead_zone_enter:
            raise ValueError("SyncConfig needs 0 <= dead_zone_exit <= dead_zone_enter")


# --------------------------------------------------------------------------
# Internal records
# --------------------------------------------------------------------------


@attrs.frozen
class _Timeline:
    """The room's playback as a line: ``position`` at server time ``server_ts``."""

    position: float
    server_ts: float
    playing: bool

    def at(self, server_now: float) -> float:
        if not self.playing or server_now <= self.server_ts:
            return self.position
        return self.position + (server_now - self.server_ts) / 1000.0


@attrs.frozen
class _Scheduled:
    action: PlayerAction
    target: float
    """Server ms at which the command runs."""
    timeline: _Timeline
    """The timeline from then on."""


@attrs.frozen
class _Echo:
    action: str
    position: float
    until: float


# Seconds: a report this far from the filtered position is a jump, not noise
# (HLS players misreport by tens of ms, a segment boundary by a few hundred).
_JUMP = 1.0


class SyncClient:
    """One viewer's (or the host's) side of synchronised playback.

    :param config: controller and host behaviour; defaults as documented in
        :class:`SyncConfig`.
    :param clock: the server clock estimator; a :class:`ClockEstimator` with
        default parameters if omitted.

    Times are local milliseconds (``now``); positions are seconds.
    """

    def __init__(self, config: SyncConfig | None = None, clock: ClockModel | None = None) -> None:
        self.config: SyncConfig = config if config is not None else SyncConfig()
        """The behaviour in force."""
        self.clock: ClockModel = clock if clock is not None else ClockEstimator()
        """The server clock estimate, fed with every ``pong``."""
        self.client_id: str | None = None
        """This client's id, from ``client_hello``."""
        self.room_id: str | None = None
        """The room this client is in, from ``room_state``; ``None`` outside a room."""
        self.host_id: str | None = None
        """The host of that room."""
        self._crude_offset: float | None = None
        self._pings: dict[int, float] = {}
        self._next_ping: float | None = None
        self._timeline: _Timeline | None = None
        self._pending: _Scheduled | None = None
        # Own player.
        self._observations: collections.deque[tuple[float, float]] = collections.deque(
            maxlen=self.config.position_filter
        )
        self._rate = 1.0
        self._rate_log: list[tuple[float, float]] = [(float("-inf"), 1.0)]
        self._status: PlayerStatus | None = None
        self._correcting = False
        self._lead = 0.0
        self._lead_count = 0
        self._lead_probe = False
        self._echoes: list[_Echo] = []
        # Host.
        self._last_update_at: float | None = None
        self._last_sent_position: float | None = None
        self._cooldown_until: float = float("-inf")  # server ms
        self._unsent_seek: tuple[float, float] | None = None  # (position, local time)
        self._join_by: float | None = None  # joined a playing room: start by then at the latest
        self._now = float("-inf")  # latest local time seen; only to seed the clock conversion

    # ------------------------------------------------------------------
    # Read-only views
    # ------------------------------------------------------------------

    @property
    def is_host(self) -> bool:
        """Whether this client hosts its room."""
        return self.room_id is not None and self.host_id == self.client_id

    @property
    def rate(self) -> float:
        """The playback rate last commanded."""
        return self._rate

    @property
    def start_lead(self) -> float:
        """Seconds a play aims ahead of the timeline, to make up for the player's start lag."""
        return self._lead

    def server_time(self, now: float) -> float | None:
        """Estimated server clock (ms) at local time ``now``; ``None`` before any estimate."""
        offset = self.clock.offset(now)
        if offset is None:
            offset = self._crude_offset
        return None if offset is None else now + offset

    def expected_position(self, now: float) -> float | None:
        """Where the room's timeline is at local time ``now``, or ``None`` outside a room."""
        server_now = self.server_time(now)
        if self._timeline is None or server_now is None:
            return None
        return self._timeline.at(server_now)

    def player_position(self, now: float) -> float | None:
        """The filtered estimate of the local player's position at ``now``, if there is one."""
        status = self._status
        if status is None or status.paused or status.buffering:
            return None if status is None else status.position
        if len(self._observations) < min(self.config.min_observations, self.config.position_filter):
            return None
        return statistics.median(p + self._advance(t, now) for t, p in self._observations)

    def drift(self, now: float) -> float | None:
        """Player position minus timeline position (seconds), when both are known."""
        expected = self.expected_position(now)
        actual = self.player_position(now)
        if expected is None or actual is None:
            return None
        return actual - expected

    # ------------------------------------------------------------------
    # Events in
    # ------------------------------------------------------------------

    def receive(self, message: ServerMessage, now: float) -> list[SyncOutput]:
        """A message from the server (as :func:`decode_server_message` returns it)."""
        self._now = max(self._now, now)
        if self._crude_offset is None:
            # Good to a one-way delay: enough to act before the first pong.
            self._crude_offset = None if message.ts is None else message.ts - now
        if isinstance(message, Pong):
            self._on_pong(message, now)
            return []
        if isinstance(message, ClientHello):
            self.client_id = message.client_id
            if self._next_ping is None:
                self._next_ping = now
            return []
        if isinstance(message, RoomState):
            return self._on_room_state(message, now)
        if isinstance(message, HostChanged):
            # Extension: the host role moved; is_host follows host_id.
            if message.room == self.room_id:
                self.host_id = message.host_id
            return []
        if isinstance(message, RoomClosed):
            return self._leave(now) if message.room == self.room_id else []
        if isinstance(message, PlayerEvent) and message.room == self.room_id:
            return self._on_command(message, now)
        if isinstance(message, StateUpdate) and message.room == self.room_id:
            return self._on_state_update(message, now)
        return []

    def ready(self, now: float) -> list[SyncOutput]:
        """The player has loaded the room's media: tell the server, and join the timeline."""
        self._now = max(self._now, now)
        if self.room_id is None:
            return []
        out: list[SyncOutput] = [Ready(room=self.room_id, ts=round(now))]
        if self._timeline is None or self._pending is not None:
            return out
        if self._timeline.playing and not self.is_host:
            # room_state's position is the room's last known one, up to a second old
            # and not stamped: the host's next state_update says where it really is.
            self._join_by = now + self.config.join_wait_ms
            return out
        return out + self._join(now)

    def _join(self, now: float) -> list[SyncOutput]:
        """Put the player on the timeline (after a join, with no command pending)."""
        self._join_by = None
        timeline = self._timeline
        expected = self.expected_position(now)
        if timeline is None or expected is None:
            return []
        if timeline.playing:
            return self._seek_playing(now)
        return self._command(Pause(expected, now), now)

    def left(self, now: float) -> list[SyncOutput]:
        """This client left its room (it sent ``leave_room``); forget the room."""
        self._now = max(self._now, now)
        return self._leave(now)

    def observe(self, status: PlayerStatus, now: float) -> list[SyncOutput]:
        """The player's status at ``now``. Call a few times a second (4 Hz is plenty)."""
        self._now = max(self._now, now)
        previous = self._status
        self._status = status
        if (
            previous is None
            or status.paused
            or status.buffering
            or previous.paused != status.paused
            or previous.buffering != status.buffering
        ):
            # A discontinuity: positions before it say nothing about positions after.
            self._observations.clear()
        if not status.paused and not status.buffering:
            predicted = self.player_position(now)
            if predicted is not None and abs(status.position - predicted) > _JUMP:
                self._observations.clear()  # a seek nobody told us about
            self._observations.append((now, status.position))
        out: list[SyncOutput] = []
        if self._lead_probe:
            self._measure_start_lag(now)
        if self.room_id is None or self._pending is not None:
            return out
        if self.is_host:
            out += self._host_update(now)
        else:
            out += self._steer(now)
        return out

    def player_event(self, action: PlayerAction, position: float, now: float) -> list[SyncOutput]:
        """The player reported a play, pause or seek (by the user or by one of our commands).

        Echoes of this client's commands and pauses while buffering are
        dropped; anything else from the host's player becomes a command.
        A viewer's own actions are not sent (only the host controls the room).
        """
        self._now = max(self._now, now)
        self._echoes = [e for e in self._echoes if e.until >= now]
        for i, echo in enumerate(self._echoes):
            if (
                echo.action == action
                and abs(echo.position - position) <= self.config.echo_tolerance
            ):
                del self._echoes[i]
                return []
        status = self._status
        if action == "pause" and status is not None and status.buffering:
            return []
        if not self.is_host or self.room_id is None:
            return []
        return self._host_command(action, position, now)

    def next_deadline(self) -> float | None:
        """The local time at which :meth:`handle_timer` must be called, if any."""
        deadlines = [] if self._next_ping is None else [self._next_ping]
        if self._join_by is not None:
            deadlines.append(self._join_by)
        if self._pending is not None:
            local = self._to_local(self._pending.target)
            if local is not None:
                deadlines.append(local)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> list[SyncOutput]:
        """Run what is due at ``now``: pings and scheduled commands (early calls are harmless)."""
        self._now = max(self._now, now)
        out: list[SyncOutput] = []
        if self._next_ping is not None and now >= self._next_ping:
            client_ts = round(now)
            while client_ts in self._pings:  # two pings in one ms: keep them apart
                client_ts += 1
            self._pings[client_ts] = now
            # Unanswered pings are forgotten, so a lost pong never leaks memory.
            self._pings = {k: v for k, v in self._pings.items() if now - v < 30_000.0}
            out.append(Ping(payload={"client_ts": client_ts}, ts=round(now)))
            self._next_ping = now + self.clock.ping_interval()
        if self._join_by is not None and now >= self._join_by:
            out += self._join(now)  # no state_update came: room_state's position it is
        pending = self._pending
        if pending is not None:
            # Compared in local time, as next_deadline computes it, so a call at the
            # deadline always runs the command.
            local_target = self._to_local(pending.target)
            server_now = self.server_time(now)
            if local_target is not None and server_now is not None and now >= local_target:
                self._pending = None
                out += self._execute(pending, max(server_now, pending.target), now)
        return out

    # ------------------------------------------------------------------
    # Server messages
    # ------------------------------------------------------------------

    def _on_pong(self, message: Pong, now: float) -> None:
        payload = message.payload
        client_ts = payload.get("client_ts") if isinstance(payload, dict) else None
        if type(client_ts) is not int:
            return
        sent = self._pings.pop(client_ts, None)
        if sent is not None:
            self.clock.add(ClockSample(sent=sent, received=now, server_ts=message.server_ts))

    def _on_room_state(self, message: RoomState, now: float) -> list[SyncOutput]:
        self.client_id = message.client
        self.room_id = message.room
        self.host_id = message.host_id
        self._pending = self._join_by = None
        self._timeline = _Timeline(
            message.position, float(message.server_ts), message.play_state == "playing"
        )
        self._last_sent_position = message.position
        return self._set_rate(1.0, now)

    def _leave(self, now: float) -> list[SyncOutput]:
        self.room_id = self.host_id = None
        self._timeline = self._pending = None
        self._unsent_seek = self._join_by = None
        self._correcting = False
        return self._set_rate(1.0, now)

    def _on_command(self, message: PlayerEvent, now: float) -> list[SyncOutput]:
        server_now = self.server_time(now)
        target = message.target_server_ts
        if target is None:
            target = message.server_ts
        if target is None:
            target = round(server_now) if server_now is not None else 0
        timeline = self._timeline if self._timeline is not None else _Timeline(0.0, target, False)
        position = message.position if message.position is not None else timeline.at(target)
        if message.action == "play":
            after = _Timeline(position, float(target), True)
            # The play's target is the server's receive time plus the lead: the cooldown is exact.
            self._cooldown_until = (
                target
                - self.config.server.play_schedule_ms
                + self.config.server.command_cooldown_ms
            )
        elif message.action == "pause":
            after = _Timeline(position, float(target), False)
        else:
            play_state = message.payload.get("play_state")
            playing = timeline.playing if play_state is None else play_state == "playing"
            stamp = message.payload.get("at_server_ts")
            if playing and isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
                after = _Timeline(position, float(stamp), True)
            else:
                after = _Timeline(position, float(target), playing)
        self._pending = _Scheduled(message.action, float(target), after)
        self._join_by = None  # the command says where to be
        self._correcting = False
        self._last_sent_position = position
        out = self._set_rate(1.0, now)
        return out + self.handle_timer(now)

    def _on_state_update(self, message: StateUpdate, now: float) -> list[SyncOutput]:
        if self.is_host or self._pending is not None:
            return []
        stamp = message.payload.get("at_server_ts")
        if isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
            at = float(stamp)
        elif message.server_ts is not None:
            at = float(message.server_ts)
        else:
            return []
        playing = message.play_state == "playing"
        previous = self._timeline
        self._timeline = _Timeline(message.position, at, playing)
        if self._join_by is not None:
            return self._join(now)
        if previous is not None and previous.playing == playing:
            return []
        # The play state changed without a command (some hosts do that): follow at once.
        self._correcting = False
        expected = self.expected_position(now)
        assert expected is not None
        out = self._set_rate(1.0, now)
        if playing:
            return out + self._command(Play(expected + self._lead, now), now)
        return out + self._command(Pause(expected, now), now)

    def _execute(self, pending: _Scheduled, server_now: float, now: float) -> list[SyncOutput]:
        self._timeline = timeline = pending.timeline
        position = timeline.at(server_now)
        command: PlayerCommand
        if pending.action == "play":
            command = Play(position + self._lead, now)
        elif pending.action == "pause":
            command = Pause(position, now)
        elif timeline.playing:
            return self._seek_playing(now)
        else:
            command = Seek(position, now)
        return self._command(command, now)

    def _seek_playing(self, now: float) -> list[SyncOutput]:
        """Join the playing timeline from wherever the player is.

        A plain seek lands late by the player's seek time, which varies from one
        seek to the next. Instead the player waits, paused, ``seek_margin``
        ahead, and plays when the timeline gets there: a scheduled play.
        """
        timeline = self._timeline
        server_now = self.server_time(now)
        assert timeline is not None
        assert server_now is not None
        target = timeline.at(server_now) + self.config.seek_margin
        out = self._set_rate(1.0, now)
        if self.config.seek_margin <= 0.0:
            return out + self._command(Seek(target, now), now)
        start = timeline.server_ts + (target - timeline.position) * 1000.0
        self._pending = _Scheduled("play", start, timeline)
        return out + self._command(Pause(target, now), now)

    # ------------------------------------------------------------------
    # Player
    # ------------------------------------------------------------------

    def _command(self, command: PlayerCommand, now: float) -> list[SyncOutput]:
        """Issue ``command`` to the player, expecting its echo."""
        until = now + self.config.echo_window_ms
        self._echoes = [e for e in self._echoes if e.until >= now]  # unreported echoes expire
        if isinstance(command, Play):
            self._echoes += [_Echo("play", command.position, until)]
            self._echoes += [_Echo("seek", command.position, until)]
            self._lead_probe = self.config.learn_start_lead
        elif isinstance(command, Pause):
            self._echoes += [_Echo("pause", command.position, until)]
            self._echoes += [_Echo("seek", command.position, until)]
        elif isinstance(command, Seek):
            self._echoes += [_Echo("seek", command.position, until)]
        self._observations.clear()
        self._correcting = False
        return [command]

    def _set_rate(self, rate: float, now: float) -> list[SyncOutput]:
        if rate == self._rate:
            return []
        # Keep the observations' positions comparable: they are carried forward with this log.
        self._rate = rate
        self._rate_log.append((now, rate))
        if len(self._rate_log) > 64:
            del self._rate_log[:-32]
        return [SetRate(rate, now)]

    def _advance(self, since: float, now: float) -> float:
        """Media seconds played from local ``since`` to ``now`` at the commanded rates."""
        log = self._rate_log
        i = max(0, bisect.bisect_right(log, (since, float("inf"))) - 1)
        total = 0.0
        start = since
        while i < len(log):
            rate = log[i][1]
            end = log[i + 1][0] if i + 1 < len(log) else now
            end = min(end, now)
            if end > start:
                total += (end - start) * rate
                start = end
            i += 1
        return total / 1000.0

    def _measure_start_lag(self, now: float) -> None:
        drift = self.drift(now)
        if drift is None or self._pending is not None:
            return
        self._lead_probe = False
        if abs(drift) < self.config.seek_threshold:
            # A start that lands ``drift`` ahead of the timeline aimed that much too far.
            # A running mean of the lags seen, then a slow average that can follow change.
            self._lead_count += 1
            gain = max(1.0 / self._lead_count, 0.2)
            lead = self._lead - gain * drift
            self._lead = min(max(lead, 0.0), self.config.max_start_lead)

    def _steer(self, now: float) -> list[SyncOutput]:
        timeline = self._timeline
        status = self._status
        if timeline is None or not timeline.playing or status is None:
            return []
        if status.paused or status.buffering:
            return []
        drift = self.drift(now)
        if drift is None:
            return []
        config = self.config
        if abs(drift) >= config.seek_threshold:
            return self._seek_playing(now)
        if not self._correcting:
            if abs(drift) <= config.dead_zone_enter:
                return []
            self._correcting = True
        if abs(drift) < config.dead_zone_exit:
            self._correcting = False
            return self._set_rate(1.0, now)
        # Rounded (players keep a few digits anyway) before clamping, so bounds hold exactly.
        rate = round(1.0 - drift / config.correction_time, 4)
        rate = min(max(rate, config.min_rate), config.max_rate)
        if abs(rate - self._rate) < config.rate_step:
            return []
        return self._set_rate(rate, now)

    # ------------------------------------------------------------------
    # Host
    # ------------------------------------------------------------------

    def _host_command(self, action: PlayerAction, position: float, now: float) -> list[SyncOutput]:
        assert self.room_id is not None
        server_now = self.server_time(now)
        self._unsent_seek = None
        self._pending = None
        self._observations.clear()  # the user moved the player: older reports are void
        ts = round(now)
        playing = self._timeline is not None and self._timeline.playing
        if action != "seek":
            self._mark_command(position, now)
        if action == "play":
            # Hold the player where it is: everyone, this host included, starts at the target.
            event = PlayerEvent(room=self.room_id, action="play", position=position, ts=ts)
            return [event, *self._command(Pause(position, now), now)]
        if action == "pause":
            self._timeline = _Timeline(position, server_now or 0.0, False)
            return [PlayerEvent(room=self.room_id, action="pause", position=position, ts=ts)]
        if playing and self.config.stamp_positions:
            # A playing player takes a while to seek: announce the seek once it plays again,
            # stamped with where it really is, or viewers would aim ahead of the host.
            self._unsent_seek = (position, now)
            return []
        return [self._seek_event(position, playing, now)]

    def _mark_command(self, position: float, now: float) -> None:
        """A command leaves now: the server ignores our state updates for its cooldown."""
        server_now = self.server_time(now)
        rtt = self.clock.best_rtt()
        if server_now is not None:
            # The server's command time is about half a round trip away.
            arrival = server_now + (rtt / 2.0 if rtt is not None else 0.0)
            self._cooldown_until = arrival + self.config.server.command_cooldown_ms + 100.0
        self._last_sent_position = position

    def _seek_event(self, position: float, playing: bool, now: float) -> PlayerEvent:
        assert self.room_id is not None
        self._mark_command(position, now)
        server_now = self.server_time(now)
        payload: dict[str, Any] = {"play_state": "playing" if playing else "paused"}
        if self.config.stamp_positions and server_now is not None:
            payload["at_server_ts"] = round(server_now)
        self._timeline = _Timeline(position, server_now or 0.0, playing)
        self._observations.clear()
        return PlayerEvent(
            room=self.room_id,
            action="seek",
            position=round(position, 3),
            payload=payload,
            ts=round(now),
        )

    def _host_update(self, now: float) -> list[SyncOutput]:
        timeline = self._timeline
        status = self._status
        if self._unsent_seek is not None and status is not None:
            target, since = self._unsent_seek
            if status.paused or now - since >= self.config.seek_announce_timeout_ms:
                self._unsent_seek = None
                return [self._seek_event(target, not status.paused, now)]
            # The filtered position, not the first report: one glitchy report would
            # put every viewer off by its error.
            position = None if status.buffering else self.player_position(now)
            if position is None:
                return []
            self._unsent_seek = None
            return [self._seek_event(position, True, now)]
        if timeline is None or not timeline.playing or status is None:
            return []
        if status.paused or status.buffering:
            return []
        config = self.config
        if self._last_update_at is not None and (
            now - self._last_update_at < config.state_update_interval_ms
        ):
            return []
        server_now = self.server_time(now)
        position = self.player_position(now)
        if server_now is None or position is None or server_now < self._cooldown_until:
            return []
        last = self._last_sent_position
        if last is not None and 0.0 <= position - last < config.state_update_min_advance:
            return []
        assert self.room_id is not None
        self._last_update_at = now
        self._last_sent_position = position
        # The host's report becomes its own timeline too, as it does for every viewer.
        self._timeline = _Timeline(position, server_now, True)
        payload = {"at_server_ts": round(server_now)} if config.stamp_positions else {}
        update = StateUpdate(
            room=self.room_id,
            position=round(position, 3),
            play_state="playing",
            payload=payload,
            ts=round(now),
        )
        return [update]

    def _to_local(self, server_ts: float) -> float | None:
        """The local instant at which the estimated server clock reads ``server_ts``."""
        offset = self.clock.offset(self._now)
        if offset is None:
            return None if self._crude_offset is None else server_ts - self._crude_offset
        # The offset moves by ppm of the time between: one refinement is exact enough.
        refined = self.clock.offset(server_ts - offset)
        return server_ts - (offset if refined is None else refined)
