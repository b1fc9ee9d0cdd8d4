"""A small deterministic simulator of a watch party.

It runs the real :class:`~opensyncparty_core.SessionServer` and real
:class:`~opensyncparty_core.SyncClient` objects on a virtual clock, over a
modelled network, with modelled clocks and media players, and measures how far
each viewer's playback is from the host's. It has no dependency on the core
beyond its public behaviour: any object with the client's methods can be
simulated (see :mod:`benchmarks.syncsim.baseline`).
"""

from .baseline import BASELINE_CONFIG, EmaClock, baseline_client
from .models import LinkModel, PlayerModel, SimPlayer
from .sim import Scenario, ScriptStep, SimResult, Stats, run, summarize

__all__ = [
    "BASELINE_CONFIG",
    "EmaClock",
    "LinkModel",
    "PlayerModel",
    "Scenario",
    "ScriptStep",
    "SimPlayer",
    "SimResult",
    "Stats",
    "baseline_client",
    "run",
    "summarize",
]
