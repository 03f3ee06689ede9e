"""The simulator's clock: wall time plus an offset that tests may advance.

Advancing the clock is how a test makes a goodAfterTime or a TimeCondition
come due without sleeping for minutes.
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

    def utcnow(self) -> datetime:
        return datetime.fromtimestamp(self.now(), timezone.utc)
