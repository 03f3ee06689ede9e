"""The simulator's clock: wall time plus an offset that tests may advance or set.

Advancing the clock is how a test makes a goodAfterTime or a TimeCondition
come due without sleeping for minutes; setting it is how a test (or a replay of
a capture taken at a known time) puts the simulator in a given trading session,
which ``sessions.SessionRules`` reads from this clock. The clock keeps running
at wall speed from the moment it is set.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone


class SimClock:
    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds

    def set(self, moment: datetime) -> None:
        """Make ``now()`` read ``moment`` (timezone-aware) from here on."""
        if moment.tzinfo is None:
            raise ValueError("SimClock.set needs a timezone-aware datetime")
        self.offset = moment.timestamp() - time.time()

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), timezone.utc)
