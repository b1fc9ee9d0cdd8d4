"""Deterministic id sources for tests and simulations.

The server takes its id source as an argument so that nothing inside it is
random. Production code passes ``lambda: str(uuid.uuid4())``; tests pass one
of these, whose output is the same on every run.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable

__all__ = ["seeded_uuid4s"]


def seeded_uuid4s(seed: int = 0) -> Callable[[], str]:
    """Return an id source yielding well-formed UUID4 strings from a seeded PRNG.

    Two sources with the same seed yield the same sequence.
    """
    rng = random.Random(seed)

    def next_id() -> str:
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))

    return next_id
