"""Shared test configuration.

Hypothesis profiles: ``dev`` (default) for local runs, ``ci`` for CI, chosen
with the ``HYPOTHESIS_PROFILE`` environment variable. Neither uses a deadline:
the core takes its clock as an argument, so wall time says nothing about it.
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile("dev", max_examples=100, deadline=None)
settings.register_profile(
    "ci",
    max_examples=200,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
