"""Shared test configuration.

Hypothesis profiles: ``dev`` (default) for local runs, ``ci`` for CI and
``fuzz`` for the long core fuzz, chosen with the ``HYPOTHESIS_PROFILE``
environment variable. None uses a deadline:
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
# The long fuzz, run by hand (see tests/core/test_core_fuzz.py): tests that opt in
# with ``examples()`` run this many inputs.
settings.register_profile(
    "fuzz",
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
