"""The server clock estimator: sample arithmetic, the min-RTT filter, skew, schedule, bounds."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from opensyncparty_core._clock_sync import ClockConfig, ClockEstimator, ClockSample

SERVER_MINUS_LOCAL = 1_700_000_000_000.0 - 123_456.789
# Offsets near 1.7e12 ms are floats with a resolution of 2**-12 ms; the estimator adds and
# subtracts a few of them, so a comparison allows a few units in the last place.
FLOAT_SLACK = 8 * math.ulp(SERVER_MINUS_LOCAL)


def _exchange(
    send: float, up: float, down: float, offset: float = SERVER_MINUS_LOCAL, skew_ppm: float = 0.0
) -> ClockSample:
    """A ping sent at local ``send`` taking ``up`` ms out and ``down`` ms back (local ms)."""
    at_server = send + up
    server_clock = at_server + offset + skew_ppm * 1e-6 * at_server
    return ClockSample(sent=send, received=send + up + down, server_ts=math.floor(server_clock))


def test_sample_offset_is_server_reading_minus_round_trip_midpoint() -> None:
    sample = ClockSample(sent=1000.0, received=1040.0, server_ts=5020)
    assert sample.rtt == 40.0
    assert sample.offset == 5020.5 - 1020.0
    assert sample.error == 20.5


def test_no_estimate_before_any_sample() -> None:
    clock = ClockEstimator()
    assert clock.offset(0.0) is None
    assert clock.error_bound(0.0) is None
    assert clock.best_rtt() is None


def test_estimate_rests_on_the_fastest_round_trip() -> None:
    clock = ClockEstimator()
    # Slow exchanges with all their delay on the way back: each is off by ~ -rtt/2.
    for i in range(5):
        clock.add(_exchange(1000.0 * i, up=2.0, down=150.0))
    clock.add(_exchange(5000.0, up=4.0, down=4.0))
    for i in range(6, 10):
        clock.add(_exchange(1000.0 * i, up=2.0, down=150.0))
    # The slow samples are far worse than the fast one: none joins the average.
    assert [s.rtt for s in clock.used(9500.0)] == [8.0]
    offset = clock.offset(9500.0)
    assert offset is not None
    assert abs(offset - SERVER_MINUS_LOCAL) <= 1.0


def test_ema_like_averaging_would_be_worse_than_min_rtt() -> None:
    clock = ClockEstimator()
    samples = [_exchange(500.0 * i, up=1.0 + 40.0 * (i % 3), down=1.0) for i in range(12)]
    for s in samples:
        clock.add(s)
    mean_error = abs(sum(s.offset for s in samples) / len(samples) - SERVER_MINUS_LOCAL)
    offset = clock.offset(6000.0)
    assert offset is not None
    assert abs(offset - SERVER_MINUS_LOCAL) < mean_error


def test_skew_is_measured_and_carried_forward() -> None:
    clock = ClockEstimator()
    for i in range(40):
        clock.add(_exchange(2000.0 * i, up=0.5, down=0.5, skew_ppm=200.0))
    assert clock.skew_ppm == pytest.approx(200.0, abs=20.0)
    assert abs(clock.skew_ppm - 200.0) <= clock.skew_bound_ppm
    # The bound is a worst case (every sample off by its full error): it needs fast exchanges.
    assert clock.skew_bound_ppm < 100.0
    later = 2000.0 * 39 + 30_000.0
    offset = clock.offset(later)
    assert offset is not None
    true = SERVER_MINUS_LOCAL + 200e-6 * later
    assert abs(offset - true) <= 1.5


def test_no_skew_fit_before_the_history_spans_long_enough() -> None:
    clock = ClockEstimator(ClockConfig(min_skew_span_ms=20_000.0))
    for i in range(10):
        clock.add(_exchange(1000.0 * i, up=10.0, down=10.0, skew_ppm=200.0))
    assert clock.skew_ppm == 0.0
    assert clock.skew_bound_ppm == clock.config.max_skew_ppm


def test_ping_schedule_bursts_then_backs_off_while_stable() -> None:
    config = ClockConfig()
    clock = ClockEstimator(config)
    intervals = []
    for i in range(12):
        clock.add(_exchange(1000.0 * i, up=10.0, down=10.0))
        intervals.append(clock.ping_interval())
    assert intervals[: config.burst_count - 1] == [config.burst_interval_ms] * (
        config.burst_count - 1
    )
    assert intervals == sorted(intervals)
    assert intervals[-1] == config.max_interval_ms


def test_ping_schedule_tightens_when_the_estimate_moves() -> None:
    clock = ClockEstimator()
    for i in range(12):
        clock.add(_exchange(1000.0 * i, up=10.0, down=10.0))
    # The server clock steps by 50 ms: fresh samples disagree with the old estimate.
    clock.add(_exchange(12_000.0, up=1.0, down=1.0, offset=SERVER_MINUS_LOCAL + 50.0))
    assert clock.ping_interval() == clock.config.min_interval_ms


def test_sample_with_negative_round_trip_is_ignored() -> None:
    clock = ClockEstimator()
    clock.add(ClockSample(sent=100.0, received=90.0, server_ts=5))
    assert clock.offset(100.0) is None


def test_old_samples_are_forgotten() -> None:
    clock = ClockEstimator(ClockConfig(max_age_ms=10_000.0))
    clock.add(_exchange(0.0, up=1.0, down=1.0))
    clock.add(_exchange(20_000.0, up=30.0, down=30.0))
    assert [s.sent for s in clock.samples] == [20_000.0]


def _run_exchanges(
    config: ClockConfig, skew_ppm: float, exchanges: list[tuple[float, float, float]], probe: float
) -> None:
    clock = ClockEstimator(config)
    now = 0.0
    for gap, up, down in exchanges:
        now += gap
        sample = _exchange(now, up, down, skew_ppm=skew_ppm)
        clock.add(sample)
        now = sample.received
        at = now + probe
        used = clock.used(at)
        offset = clock.offset(at)
        bound = clock.error_bound(at)
        assert used
        assert offset is not None
        assert bound is not None
        # The true offset at local time ``at``, for the skewed server clock of _exchange.
        error = abs(offset - (SERVER_MINUS_LOCAL + skew_ppm * 1e-6 * at))
        residual_skew = abs(skew_ppm - clock.skew_ppm) * 1e-6
        limit = max(_sample_error(s, skew_ppm) + residual_skew * abs(at - s.local) for s in used)
        assert error <= limit + FLOAT_SLACK
        assert error <= bound + FLOAT_SLACK
        if config.combine == 1:
            # NTP's filter: half the best round trip plus the skew accumulated since it.
            best = used[0]
            assert (
                error
                <= _sample_error(best, skew_ppm)
                + residual_skew * abs(at - best.local)
                + FLOAT_SLACK
            )


def _sample_error(sample: ClockSample, skew_ppm: float) -> float:
    """Largest error of ``sample.offset`` against the true offset at ``sample.local``.

    The server read its clock up to ``rtt / 2`` (local ms) away from the round trip's
    midpoint; over that span the offset itself moves by the skew, so the reading is off by
    up to ``rtt / 2 * (1 + |skew|)``, plus 0.5 ms for the integer ``server_ts``.
    """
    return sample.rtt / 2.0 * (1.0 + abs(skew_ppm) * 1e-6) + 0.5


_EXCHANGES = st.lists(
    st.tuples(
        st.floats(min_value=50.0, max_value=10_000.0),  # gap before the ping
        st.floats(min_value=0.0, max_value=200.0),  # uplink delay
        st.floats(min_value=0.0, max_value=200.0),  # downlink delay
    ),
    min_size=1,
    max_size=40,
)


@given(
    skew_ppm=st.floats(min_value=-300.0, max_value=300.0),
    exchanges=_EXCHANGES,
    probe=st.floats(min_value=0.0, max_value=60_000.0),
)
def test_best_sample_error_is_within_half_its_rtt_plus_accumulated_skew(
    skew_ppm: float, exchanges: list[tuple[float, float, float]], probe: float
) -> None:
    """With ``combine=1`` (the NTP filter) the error is at most half the best sample's RTT
    (+ 0.5 ms server rounding) plus the skew not corrected times its age; the estimator's
    own bound (which assumes |skew| <= max_skew_ppm) holds too."""
    _run_exchanges(ClockConfig(combine=1), skew_ppm, exchanges, probe)


@given(
    skew_ppm=st.floats(min_value=-300.0, max_value=300.0),
    exchanges=_EXCHANGES,
    probe=st.floats(min_value=0.0, max_value=60_000.0),
)
def test_averaged_estimate_error_is_within_its_samples_bounds(
    skew_ppm: float, exchanges: list[tuple[float, float, float]], probe: float
) -> None:
    """The default averages the few best samples: its error is at most the largest of their
    half RTTs plus the skew accumulated since each, and within :meth:`error_bound`."""
    _run_exchanges(ClockConfig(), skew_ppm, exchanges, probe)


def test_bound_counts_the_skew_over_half_a_round_trip() -> None:
    """A regression case: one exchange with all its delay on the way back, skewed clocks."""
    for config in (ClockConfig(combine=1), ClockConfig()):
        _run_exchanges(config, 66.0, [(124.78, 0.0, 45.0)], 3.0)


def test_noise_is_not_mistaken_for_skew() -> None:
    clock = ClockEstimator()
    for i in range(32):
        jitter = (7.0 * i) % 5.0  # deterministic, zero-skew, a few ms of asymmetry noise
        clock.add(_exchange(3000.0 * i, up=10.0 + jitter, down=10.0))
    assert clock.skew_ppm == 0.0
