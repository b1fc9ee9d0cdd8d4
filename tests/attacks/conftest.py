"""Attacks run on asyncio and on trio, like every transport test."""

from tests.transports.conftest import anyio_backend

__all__ = ["anyio_backend"]
