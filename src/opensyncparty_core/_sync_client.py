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

- A scheduled play runs when the estimated server clock reaches its
  ``target_server_ts``, never before (early by the player's start lag, so
  its picture starts then); a late one runs at once, at the position the
  timeline has reached. A pause or seek never waits for its target: the
  host's player paused or seeked at its user's click, a trip before the
  server relayed it, so a seek runs on receipt and a pause when the player
  reaches the pause position (at once if past it).
- A player that seeks to keyframes cannot seek back to a pause position: it
  pauses in place there; one whose seek back landed before it plays on to it.
- A viewer (non-host) steers its player onto the timeline (see
  :class:`SyncConfig` for the controller). The host is the reference: it
  only runs the scheduled commands and reports its position in
  ``state_update`` messages that the server's filters will relay: about one
  a second while playing, each at least 0.6 s further on, none during the
  server's cooldown after a command. They leave from :meth:`SyncClient.observe`,
  which brings the fresh position they need, rather than from a timer.
- The player's position is estimated from the last few observations, each
  carried forward from when it was sampled to ``now`` with the rates this
  client commanded, and the median taken; it is the *presented* position
  (output latency taken off). See ``_drift``.
- Players start late after a play. The lag is measured on each start and
  later plays run that much early, so the picture starts on time without a
  seek. A player held a little ahead of its start waits; a little behind, it
  plays and the rate catches up; a seek is a visible hitch.
- A host seek while playing is announced at the click with its target and
  the instant the room plays it (``at_server_ts`` in the future, ``play_state``
  "playing"): every member, host included, seeks at once, holds, and starts
  then (see ``_seek_start``). A host whose player snaps to keyframes instead
  announces a held seek (``play_state`` "paused") and, once its own seek has
  landed, a play from there.
- Seeks that land before their target (keyframes) and slow seeks are learned
  from each landing; held starts aim past the snap and wait for the landing.
- A viewer joining a playing room starts in place at once (a held start,
  as above) when ``room_state`` says when its position held
  (``state.server_ts``); from an old server, whose ``room_state`` does not,
  it waits for the host's next ``state_update`` (``join_wait_ms`` at most).
- Echo suppression: the play/pause/seek events that result from a command of
  this client are never sent as host commands. Any other event of the host's
  player is the user's and is sent, a pause during a stall included: a user's
  command is never dropped.

Wire extensions (ignored by other clients, relayed unchanged by the server):
a ``seek`` and a ``state_update`` from this host carry ``at_server_ts``, the
estimated server instant at which ``position`` held on the host, so viewers
need not assume it held when the server relayed it (on a seek while playing,
a future instant: when the room starts from ``position``); a ``seek`` carries
``play_state`` as the original web client's did.
"""

from __future__ import annotations

from typing import Any

import attrs

from ._clock_sync import ClockEstimator, ClockModel
from ._drift import MAX_SNAP, DriftController
from ._host_stall import HostStall, StallChange
from ._messages import (
    ClientHello,
    HostChanged,
    PlayerAction,
    PlayerEvent,
    Pong,
    Ready,
    RoomClosed,
    RoomState,
    ServerMessage,
    StateUpdate,
)
from ._pausing import command_instant, pause_position, walk_instant
from ._schedule import Echoes, Scheduled, Timeline, due, plan_start, start_instant
from ._seek_start import announced_start, seek_start, start_missed, starts_together
from ._sync_clock import ServerClock
from ._sync_values import (
    Pause,
    Play,
    PlayerCommand,
    PlayerStatus,
    Seek,
    SetRate,
    SyncConfig,
    SyncOutput,
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


class SyncClient:
    """One viewer's (or the host's) side of synchronised playback.

    :param config: controller and host behaviour; defaults as documented in
        :class:`SyncConfig`.
    :param clock: the server clock estimator; a :class:`ClockEstimator` with
        default parameters if omitted.

    Times are local milliseconds (``now``); positions are seconds. The client
    composes three parts, each sans-IO: the server clock (``_sync_clock``),
    the player and its drift controller (``_drift``) and the timeline and
    command schedule (``_schedule``); what is left here is one handler per
    message and the host's duties.
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
        self._clock = ServerClock(self.clock)
        self._player = DriftController(self.config)
        self._echoes = Echoes(self.config.echo_window_ms, self.config.echo_tolerance, MAX_SNAP)
        self._timeline: Timeline | None = None
        self._pending: Scheduled | None = None
        # Host.
        self._last_update_at: float | None = None
        self._last_sent_position: float | None = None
        self._cooldown_until: float = float("-inf")  # server ms
        self._unsent_seek: tuple[float, float] | None = None  # (position, local time)
        self._join_by: float | None = None  # joined a playing room: start by then at the latest
        self._state_stamped = False  # room_state said when its position held (state.server_ts)
        self._joining = False  # _pending is this viewer's held start onto a playing room
        self._paused_by_seek = False  # a room pause made this player seek to the pause position
        self._stall = HostStall()

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
        return self._player.rate

    @property
    def start_lead(self) -> float:
        """Seconds a play runs early, to make up for the player's start lag."""
        return self._player.lead

    def server_time(self, now: float) -> float | None:
        """Estimated server clock (ms) at local time ``now``; ``None`` before any estimate."""
        return self._clock.server_time(now)

    def expected_position(self, now: float) -> float | None:
        """Where the room's timeline is at local time ``now``, or ``None`` outside a room."""
        server_now = self.server_time(now)
        if self._timeline is None or server_now is None:
            return None
        return self._timeline.at(server_now)

    def player_position(self, now: float) -> float | None:
        """The filtered estimate of the position the local player presents at ``now``."""
        return self._player.position(now)

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
        self._clock.tick(now)
        self._clock.seen(message.ts, now)
        if isinstance(message, Pong):
            self._clock.on_pong(message, now)
            return []
        if isinstance(message, ClientHello):
            self.client_id = message.client_id
            self._clock.start(now)
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
        self._clock.tick(now)
        if self.room_id is None:
            return []
        out: list[SyncOutput] = [Ready(room=self.room_id, ts=round(now))]
        if self._timeline is None or self._pending is not None:
            return out
        if self._timeline.playing and not self.is_host and not self._state_stamped:
            # An old server's room_state gives the room's last known position, up to a
            # second old and not stamped: the host's next state_update says where it is.
            self._join_by = now + self.config.join_wait_ms
            return out
        return out + self._join(now)

    def left(self, now: float) -> list[SyncOutput]:
        """This client left its room (it sent ``leave_room``); forget the room."""
        self._clock.tick(now)
        return self._leave(now)

    def observe(self, status: PlayerStatus, now: float) -> list[SyncOutput]:
        """The player's status at ``now``. Call a few times a second (4 Hz is plenty).

        Give :attr:`PlayerStatus.sampled_at` when the position was read earlier than
        ``now`` (a latched ``timeupdate``), and :attr:`PlayerStatus.output_latency` when
        the player knows it: both are optional and make the estimate exact.
        """
        self._clock.tick(now)
        player = self._player
        player.observe(status, now)
        out: list[SyncOutput] = []
        if player.lead_probe:
            drift = self.drift(now)
            if drift is not None and self._pending is None:
                player.measure_start(drift)
        if self.room_id is None:
            return out
        landed = player.learn_landing(status, now)
        if self._pending is not None:
            if landed and self._pending.announced and self._missed(status.position, now):
                out += self._missed_start(status.position, now)
            elif landed and self._pending.held:
                out += self._replan_held_start(status.position, now)
            return out
        if self.is_host:
            out += self._host_update(now)
        elif landed:
            out += self._walk_to_pause(status.position, now)
        else:
            out += self._steer(now)
        return out

    def player_event(self, action: PlayerAction, position: float, now: float) -> list[SyncOutput]:
        """The player reported a play, pause or seek (by the user or by one of our commands).

        Echoes of this client's commands are dropped; anything else from the
        host's player becomes a command, a pause during a buffering stall too.
        A viewer's own actions are not sent (only the host controls the room).
        """
        self._clock.tick(now)
        if self._echoes.take(action, position, now):
            return []
        # A stall is not a pause (HTML5 reports it as ``waiting``): a pause that is not
        # an echo is the user's, even mid-stall, and must reach the room.
        if not self.is_host or self.room_id is None:
            return []
        return self._host_command(action, position, now)

    def next_deadline(self) -> float | None:
        """The local time at which :meth:`handle_timer` must be called, if any."""
        next_ping = self._clock.next_ping
        deadlines = [] if next_ping is None else [next_ping]
        if self._join_by is not None:
            deadlines.append(self._join_by)
        if self._pending is not None:
            local = self._due(self._pending)
            if local is not None:
                deadlines.append(local)
        return min(deadlines, default=None)

    def handle_timer(self, now: float) -> list[SyncOutput]:
        """Run what is due at ``now``: pings and scheduled commands (early calls are harmless)."""
        self._clock.tick(now)
        out: list[SyncOutput] = []
        ping = self._clock.poll(now)
        if ping is not None:
            out.append(ping)
        if self._join_by is not None and now >= self._join_by:
            out += self._join(now)  # no state_update came: room_state's position it is
        pending = self._pending
        if pending is not None:
            # Compared in local time, as next_deadline computes it, so a call at the
            # deadline always runs the command.
            local_target = self._due(pending)
            server_now = self.server_time(now)
            if local_target is not None and server_now is not None and now >= local_target:
                hold = self._player.hold
                if (
                    pending.action == "play"
                    and hold is not None
                    # The same sum as the deadline's (see _due), so a call at it goes on.
                    and now < hold[1] + self.config.seek_announce_timeout_ms
                ):
                    # A play while the player is still seeking would start it late, or
                    # seek again: wait for the landing (see _replan_held_start).
                    self._timeline = pending.timeline
                    self._pending = attrs.evolve(pending, held=True)
                else:
                    self._pending = None
                    self._joining = False
                    out += self._execute(pending, server_now, now)
        return out

    # ------------------------------------------------------------------
    # Server messages
    # ------------------------------------------------------------------

    def _on_room_state(self, message: RoomState, now: float) -> list[SyncOutput]:
        self.client_id = message.client
        self.room_id = message.room
        self.host_id = message.host_id
        self._pending = self._join_by = None
        self._joining = False
        # Extension: state.server_ts is when position held (maybe a scheduled play's
        # future target); an old server's room_state has only its sending time.
        stamp = message.state_server_ts
        self._state_stamped = stamp is not None
        self._timeline = Timeline(
            message.position,
            float(message.server_ts if stamp is None else stamp),
            message.play_state == "playing",
        )
        self._last_sent_position = message.position
        return list(self._player.set_rate(1.0, now))

    def _leave(self, now: float) -> list[SyncOutput]:
        self.room_id = self.host_id = None
        self._timeline = self._pending = None
        self._unsent_seek = self._join_by = None
        self._joining = False
        self._stall.reset()
        self._player.stop_correcting()
        return list(self._player.set_rate(1.0, now))

    def _on_command(self, message: PlayerEvent, now: float) -> list[SyncOutput]:
        server_now = self.server_time(now)
        announced = announced_start(message, server_now)
        if announced is not None:
            self._join_by = None  # the seek says where to be
            return self._hold_for_start(announced, now)
        target = message.target_server_ts
        if target is None:
            target = message.server_ts
        if target is None:
            target = round(server_now) if server_now is not None else 0
        timeline = self._timeline if self._timeline is not None else Timeline(0.0, target, False)
        position = message.position if message.position is not None else timeline.at(target)
        if message.action == "play":
            after = Timeline(position, float(target), True)
            # The play's target is the server's receive time plus the lead: the cooldown is exact.
            self._cooldown_until = (
                target
                - self.config.server.play_schedule_ms
                + self.config.server.command_cooldown_ms
            )
        elif message.action == "pause":
            after = Timeline(position, float(target), False)
        else:
            play_state = message.payload.get("play_state")
            playing = timeline.playing if play_state is None else play_state == "playing"
            stamp = message.payload.get("at_server_ts")
            if playing and isinstance(stamp, (int, float)) and not isinstance(stamp, bool):
                after = Timeline(position, float(stamp), True)
            else:
                after = Timeline(position, float(target), playing)
        self._pending = Scheduled(message.action, self._run_at(message, target, now), after)
        self._paused_by_seek = False
        self._stall.reset()
        self._join_by = None  # the command says where to be
        self._joining = False
        self._player.stop_correcting()
        self._last_sent_position = position
        out: list[SyncOutput] = [*self._player.set_rate(1.0, now)]
        return out + self.handle_timer(now)

    def _on_state_update(self, message: StateUpdate, now: float) -> list[SyncOutput]:
        if self.is_host or (self._pending is not None and not self._joining):
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
        self._timeline = timeline = Timeline(message.position, at, playing)
        if self._join_by is not None:
            return self._join(now)
        pending = self._pending
        if pending is not None:
            # Joining: the host's stamped report is fresher than room_state's position
            # (the server stamps that on receipt, a trip late): start on it, same hold.
            self._joining = False
            if playing:
                held = pending.timeline.line(pending.target)
                self._pending = attrs.evolve(
                    pending, target=timeline.reaches(held), timeline=timeline
                )
                self._joining = True
                return []
            self._pending = None
        if previous is not None and previous.playing == playing:
            return []
        # The play state changed without a command (a host's stall, or a host that does
        # that): follow at once.
        self._player.stop_correcting()
        expected = self.expected_position(now)
        assert expected is not None
        out: list[SyncOutput] = [*self._player.set_rate(1.0, now)]
        if not playing:
            return out + self._command(Pause(self._stall_pause_position(expected, now), now), now)
        # Resumed a trip ago: start as a late play would, without a seek if held close.
        holding = self._held()
        config = self.config
        start = plan_start(
            expected + self._player.lead,
            holding,
            config.start_tolerance,
            config.seek_threshold,
            True,
        )
        if start.kind == "play":
            return out + self._command(Play(start.position, now), now)
        if start.kind == "wait" and holding is not None:
            self._pending = Scheduled("play", timeline.reaches(holding), timeline)
            return out
        return out + self._seek_playing(now)

    # ------------------------------------------------------------------
    # Scheduled commands and starts
    # ------------------------------------------------------------------

    def _held(self) -> float | None:
        """Where the player holds, paused and settled; ``None`` if it does not."""
        status = self._player.status
        if status is None or not status.paused or status.buffering:
            return None
        return status.position

    def _due(self, pending: Scheduled) -> float | None:
        hold = self._player.hold
        return due(
            pending,
            self._clock.to_local,
            self._player.lead,
            None if hold is None else hold[1],
            self.config.seek_announce_timeout_ms,
            start_instant(pending, self._held(), self.config.seek_threshold),
        )

    def _join(self, now: float) -> list[SyncOutput]:
        """Put the player on the timeline (after a join, with no command pending)."""
        self._join_by = None
        timeline = self._timeline
        expected = self.expected_position(now)
        if timeline is None or expected is None:
            return []
        if timeline.playing:
            out = self._seek_playing(now)
            self._joining = self._pending is not None
            return out
        return self._command(Pause(expected, now), now)

    def _execute(self, pending: Scheduled, server_now: float, now: float) -> list[SyncOutput]:
        self._timeline = timeline = pending.timeline
        status = self._player.status
        command: PlayerCommand
        if pending.action == "play":
            held = self._held()
            start = server_now + self._player.lead * 1000.0
            if held is None:
                position = timeline.at(max(start, pending.target))
            else:
                # Due when the timeline reaches the held position (start_instant): on its line.
                allowed = start_instant(pending, held, self.config.seek_threshold)
                position = timeline.line(max(start, allowed))
            plan = plan_start(
                position,
                held,
                self.config.start_tolerance,
                self.config.seek_threshold,
                timeline.playing,
            )
            if plan.kind == "wait":
                self._pending = Scheduled("play", start + plan.seconds * 1000.0, timeline)
                return []
            if plan.kind == "rejoin":
                return self._seek_playing(now)  # too far behind: a held start, not a late one
            return self._command(Play(plan.position, now), now)
        position = timeline.at(max(server_now, pending.target))
        if pending.action == "pause":
            command = Pause(self._pause_position(position, now), now)
            self._paused_by_seek = status is not None and not status.paused
        elif timeline.playing:
            return self._seek_playing(now)
        elif status is not None and not status.paused:
            command = Pause(position, now)  # the room holds (a host seeking): so does this player
        else:
            command = Seek(position, now)
        return self._command(command, now)

    def _run_at(self, message: PlayerEvent, target: float, now: float) -> float:
        """When to run ``message`` (see ``_pausing``): a play at its target, the rest sooner."""
        player = self._player
        status = player.status
        playing = status is not None and not status.paused
        return command_instant(
            message.action,
            float(target),
            self.server_time(now),
            player.decoded(now) if playing else None,
            message.position,
            player.rate,
            self.config.seek_threshold,
        )

    def _pause_position(self, position: float, now: float) -> float:
        """Where to pause for a room paused at ``position`` (see ``_pausing``)."""
        status = self._player.status
        here = None if status is None or status.paused else self._player.decoded(now)
        config = self.config
        return pause_position(
            position, here, self._player.snap, config.start_tolerance, config.seek_threshold
        )

    def _stall_pause_position(self, position: float, now: float) -> float:
        """Where to pause for a room that paused at ``position`` without a command (the
        host's stall): in place if a little ahead, since the room resumes a trip before
        this viewer hears of it and the next start waits for it (no seek either way)."""
        status = self._player.status
        here = None if status is None or status.paused else self._player.decoded(now)
        if here is not None and 0.0 <= here - position < self.config.seek_threshold:
            return here
        return self._pause_position(position, now)

    def _walk_to_pause(self, landed: float, now: float) -> list[SyncOutput]:
        """A room pause made the player seek back and it landed before the pause position
        (on a keyframe; the host holds at that position): it plays there and pauses."""
        timeline = self._timeline
        server_now = self.server_time(now)
        walk, self._paused_by_seek = self._paused_by_seek, False
        if timeline is None or timeline.playing or server_now is None or not walk:
            return []
        player = self._player
        reach = walk_instant(landed, timeline.position, server_now, player.lead, MAX_SNAP)
        if reach is None:
            return []
        out = self._command(Play(landed, now), now)
        player.lead_probe = False  # not a start of the room's: nothing to learn
        self._pending = Scheduled("pause", reach, timeline)
        return out

    def _seek_playing(self, now: float) -> list[SyncOutput]:
        """Join the playing timeline from wherever the player is.

        A plain seek lands late by the player's seek time, which varies from one
        seek to the next. Instead the player waits, paused, ahead (``seek_margin``,
        or more for slow seeks and keyframe snaps), and plays when the timeline
        gets there: a scheduled play.
        """
        timeline = self._timeline
        server_now = self.server_time(now)
        assert timeline is not None
        assert server_now is not None
        player = self._player
        out: list[SyncOutput] = [*player.set_rate(1.0, now)]
        if self.config.seek_margin <= 0.0:
            target = timeline.at(server_now) + self.config.seek_margin
            return out + self._command(Seek(target, now), now)
        # Far enough ahead that the seek lands (keyframe snap included) before the timeline.
        margin = max(self.config.seek_margin, player.seek_time * 1.5 / 1000.0 + 0.2)
        target = timeline.at(server_now) + margin + player.snap
        self._pending = Scheduled("play", timeline.reaches(target), timeline, held=True)
        return out + self._command(Pause(target, now), now)

    def _hold_for_start(self, timeline: Timeline, now: float) -> list[SyncOutput]:
        """Seek to where ``timeline`` starts, hold there, and play when it reaches the landing.

        The start waits for the seek to land (see :meth:`_replan_held_start`); a landing
        past the start rejoins the moving timeline further ahead.
        """
        self._timeline = timeline
        self._pending = Scheduled("play", timeline.server_ts, timeline, held=True, announced=True)
        self._joining = False
        self._player.stop_correcting()
        out: list[SyncOutput] = [*self._player.set_rate(1.0, now)]
        return out + self._command(Pause(timeline.position, now), now)

    def _replan_held_start(self, landed: float, now: float) -> list[SyncOutput]:
        """The held player's seek has landed at ``landed``: start when the timeline gets there.

        Players that seek to keyframes land before the target (HLS: by up to a segment);
        one that landed behind the timeline rejoins further ahead (the snap is learned).
        """
        pending = self._pending
        if pending is None:
            return []
        self._timeline = timeline = pending.timeline
        start = timeline.reaches(landed)
        server_now = self.server_time(now)
        if server_now is not None and start < server_now + self._player.lead * 1000.0:
            return self._seek_playing(now)
        self._pending = Scheduled("play", start, timeline, held=False)
        return []

    def _command(self, command: PlayerCommand, now: float) -> list[SyncOutput]:
        """Issue ``command`` to the player, expecting its echo."""
        self._echoes.expect(command, now)
        self._player.commanded(command, now)
        return [command]

    def _steer(self, now: float) -> list[SyncOutput]:
        timeline = self._timeline
        status = self._player.status
        if timeline is None or not timeline.playing or status is None:
            return []
        if status.paused or status.buffering:
            return []
        drift = self.drift(now)
        if drift is None:
            return []
        change = self._player.correction(drift, now)
        if change is None:
            return self._seek_playing(now)
        return list(change)

    # ------------------------------------------------------------------
    # Host
    # ------------------------------------------------------------------

    def _host_command(self, action: PlayerAction, position: float, now: float) -> list[SyncOutput]:
        assert self.room_id is not None
        server_now = self.server_time(now)
        self._unsent_seek = None
        self._pending = None
        self._stall.reset()
        self._player.forget()  # the user moved the player: older reports are void
        ts = round(now)
        playing = self._timeline is not None and self._timeline.playing
        if action != "seek":
            self._mark_command(position, now)
        if action == "play":
            # Hold the player where it is: everyone, this host included, starts at the target.
            event = PlayerEvent(room=self.room_id, action="play", position=position, ts=ts)
            return [event, *self._command(Pause(position, now), now)]
        if action == "pause":
            self._timeline = Timeline(position, server_now or 0.0, False)
            return [PlayerEvent(room=self.room_id, action="pause", position=position, ts=ts)]
        if playing and server_now is not None and starts_together(self.config, self._player.snap):
            player = self._player
            timeline = seek_start(position, server_now, self.config, player.seek_time, player.lead)
            event = self._seek_event(position, True, now, at=timeline.server_ts)
            return [event, *self._hold_for_start(timeline, now)]
        if playing:
            # Announced at the click, so every viewer seeks at once, in parallel with this
            # host; the room holds (``play_state`` paused) and this player too. Once its
            # seek has landed (on a keyframe, maybe before the target) a play from there
            # starts everyone together, as any play does.
            self._unsent_seek = (position, now)
            event = self._seek_event(position, False, now)
            return [event, *self._command(Pause(position, now), now)]
        return [self._seek_event(position, playing, now)]

    def _missed(self, landed: float, now: float) -> bool:
        """Whether this host's seek landed too late for the start it announced."""
        server_now = self.server_time(now)
        assert self._pending is not None
        timeline = self._pending.timeline
        return server_now is None or start_missed(timeline, landed, server_now, self._player.lead)

    def _missed_start(self, landed: float, now: float) -> list[SyncOutput]:
        """The seek landed at ``landed``, too late for the start it announced.

        The host's picture is the room's reference: rather than chase its own
        announced start (a seek more), it holds where it is and sends a play from
        there (everyone starts ``play_schedule_ms`` later, as after any play). A
        viewer that landed late rejoins the timeline ahead; one that landed on a
        keyframe well before the target waits, held, for the host's word: the host
        snaps to the same keyframe on the same media and sends that play, or its
        next ``state_update`` says where the room is.
        """
        pending = self._pending
        assert pending is not None
        if not self.is_host:
            snapped = pending.timeline.position - landed > self.config.start_tolerance
            if not snapped:
                return self._replan_held_start(landed, now)
            server_now = self.server_time(now)
            assert server_now is not None
            # At the latest, it rejoins the announced timeline (see _execute's plan).
            wait = server_now + self.config.seek_announce_timeout_ms
            self._pending = Scheduled("play", wait, pending.timeline)
            self._joining = True  # a state_update moves its start (see _on_state_update)
            return []
        assert self.room_id is not None
        self._pending = None
        start = round(landed, 3)
        self._mark_command(start, now)
        return [PlayerEvent(room=self.room_id, action="play", position=start, ts=round(now))]

    def _mark_command(self, position: float, now: float) -> None:
        """A command leaves now: the server ignores our state updates for its cooldown."""
        server_now = self.server_time(now)
        rtt = self._clock.best_rtt()
        if server_now is not None:
            # The server's command time is about half a round trip away.
            arrival = server_now + (rtt / 2.0 if rtt is not None else 0.0)
            self._cooldown_until = arrival + self.config.server.command_cooldown_ms + 100.0
        self._last_sent_position = position

    def _seek_event(
        self, position: float, playing: bool, now: float, at: float | None = None
    ) -> PlayerEvent:
        """The seek to send; ``position`` holds at server time ``at`` (default: now)."""
        assert self.room_id is not None
        self._mark_command(position, now)
        server_now = self.server_time(now)
        at = server_now if at is None else at
        payload: dict[str, Any] = {"play_state": "playing" if playing else "paused"}
        if self.config.stamp_positions and at is not None:
            payload["at_server_ts"] = round(at)
        self._timeline = Timeline(position, at or 0.0, playing)
        self._player.forget()
        return PlayerEvent(
            room=self.room_id,
            action="seek",
            position=round(position, 3),
            payload=payload,
            ts=round(now),
        )

    def _host_update(self, now: float) -> list[SyncOutput]:
        timeline = self._timeline
        status = self._player.status
        if self._unsent_seek is not None and status is not None:
            target, since = self._unsent_seek
            landed = (
                status.paused
                and not status.buffering
                and target - MAX_SNAP <= status.position <= target + self.config.echo_tolerance
            )
            if not landed and now - since < self.config.seek_announce_timeout_ms:
                return []
            self._unsent_seek = None
            start = round(status.position if landed else target, 3)
            self._mark_command(start, now)
            assert self.room_id is not None
            play = PlayerEvent(room=self.room_id, action="play", position=start, ts=round(now))
            return [play]
        if timeline is None or not timeline.playing or status is None:
            return []
        server_now = self.server_time(now)
        if self.config.announce_stalls and server_now is not None:
            # In the server's cooldown the announcement would be dropped: not a stall yet.
            change = (
                self._stall.observe(status, now) if server_now >= self._cooldown_until else None
            )
            if change is not None:
                return [self._stall_update(change, server_now, now)]
        if status.paused or status.buffering:
            return []
        config = self.config
        if self._last_update_at is not None and (
            now - self._last_update_at < config.state_update_interval_ms
        ):
            return []
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
        self._timeline = Timeline(position, server_now, True)
        payload = {"at_server_ts": round(server_now)} if config.stamp_positions else {}
        update = StateUpdate(
            room=self.room_id,
            position=round(position, 3),
            play_state="playing",
            payload=payload,
            ts=round(now),
        )
        return [update]

    def _stall_update(self, change: StallChange, server_now: float, now: float) -> StateUpdate:
        """The host's stall begins or ends: room state, stamped when the position held."""
        assert self.room_id is not None
        self._last_update_at = now
        self._last_sent_position = change.position
        stamp = server_now - (now - change.sampled_at)
        return StateUpdate(
            room=self.room_id,
            position=round(change.position, 3),
            play_state="playing" if change.playing else "paused",
            payload={"at_server_ts": round(stamp)} if self.config.stamp_positions else {},
            ts=round(now),
        )
