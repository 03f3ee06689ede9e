"""Waiting helpers shared by the integration tests: wait for a condition, never for time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(predicate: Callable[[], object], timeout: float = 5.0,
                     what: str = "condition") -> None:
    """Poll ``predicate`` on the running loop until truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def until(predicate: Callable[[], object], timeout: float = 5.0,
          what: str = "condition") -> None:
    """``eventually`` for plain threads (no running loop): poll the simulator's state from
    the test thread until ``predicate`` is truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
