"""Short seeded simulations: real server, real clients, virtual time (no wall clock)."""

from __future__ import annotations

import attrs
from benchmarks.syncsim import (
    REALISTIC_PLAYER,
    LinkModel,
    Scenario,
    ScriptStep,
    UpstreamClient,
    run,
    summarize,
)

from opensyncparty_core._sync_client import SyncClient

BROADBAND = Scenario(
    name="broadband-short",
    viewers=2,
    link=LinkModel(rtt_ms=(20.0, 80.0), jitter=0.15, asymmetry=0.1, tail_ms=3.0),
    duration_s=60.0,
    script=(ScriptStep(5.0, "play"), ScriptStep(35.0, "seek", 300.0)),
)


def test_realistic_players_stay_closer_than_with_the_upstream_client() -> None:
    ours = summarize([run(BROADBAND, SyncClient, seed=seed) for seed in (1, 2)])
    upstream = summarize([run(BROADBAND, UpstreamClient, seed=seed) for seed in (1, 2)])
    assert BROADBAND.player == REALISTIC_PLAYER
    assert ours.p50_ms < 20.0
    assert ours.p95_ms * 5 < upstream.p95_ms
    assert ours.never_converged == 0


def test_a_viewer_with_a_200_ppm_clock_stays_in_sync() -> None:
    """200 ppm is 12 ms a minute: without skew tracking and drift control it would show."""
    skewed = attrs.evolve(
        BROADBAND, name="skew", viewers=1, skews_ppm=(0.0, 200.0), duration_s=120.0
    )
    stats = summarize([run(skewed, SyncClient, seed=3)])
    assert stats.p50_ms <= 20.0


def test_viewers_join_once_the_room_exists_at_any_round_trip() -> None:
    far = attrs.evolve(
        BROADBAND, name="far", link=LinkModel(rtt_ms=(1_500.0, 2_000.0)), duration_s=20.0,
        script=(ScriptStep(12.0, "play"),),
    )  # fmt: skip
    result = run(far, SyncClient, seed=4)
    # Every viewer started with the host: each play yields one start per viewer.
    assert len(result.start_errors) == far.viewers


def test_simulation_is_a_function_of_its_seed() -> None:
    first = run(BROADBAND, SyncClient, seed=7)
    again = run(BROADBAND, SyncClient, seed=7)
    other = run(BROADBAND, SyncClient, seed=8)
    assert first.samples == again.samples
    assert first.samples != other.samples
