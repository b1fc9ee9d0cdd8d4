"""A small deterministic simulator of a watch party.

It runs the real :class:`~opensyncparty_core.SessionServer` and real
:class:`~opensyncparty_core.SyncClient` objects on a virtual clock, over a
modelled network, with modelled clocks and media players, and measures how far
what each viewer sees is from what the host sees. Any object with the
client's calls can be simulated: :mod:`benchmarks.syncsim.upstream` models the
upstream web client, :mod:`benchmarks.syncsim.baseline` the earlier hybrid.
"""

from .baseline import BASELINE_CONFIG, EmaClock, baseline_client
from .models import IDEAL_PLAYER, REALISTIC_PLAYER, LinkModel, PlayerModel, SimPlayer
from .sim import Scenario, ScriptStep, SimClient, SimResult, run
from .stats import Stats, convergence_times, percentile, summarize
from .upstream import UpstreamClient

__all__ = [
    "BASELINE_CONFIG",
    "IDEAL_PLAYER",
    "REALISTIC_PLAYER",
    "EmaClock",
    "LinkModel",
    "PlayerModel",
    "Scenario",
    "ScriptStep",
    "SimClient",
    "SimPlayer",
    "SimResult",
    "Stats",
    "UpstreamClient",
    "baseline_client",
    "convergence_times",
    "percentile",
    "run",
    "summarize",
]
