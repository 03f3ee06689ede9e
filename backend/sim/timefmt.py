"""IB's date-time spellings, parsed into aware UTC datetimes.

IB accepts ``YYYYMMDD HH:MM:SS <tz>``, ``YYYYMMDD-HH:MM:SS`` (UTC, API >= 10.18)
and, with warning 2174, a zone-less ``YYYYMMDD HH:MM:SS`` that TWS reads in
its login time zone. The simulator's login time zone is UTC.
"""

from __future__ import annotations

import functools
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class TimeFormatError(ValueError):
    pass


@functools.lru_cache(maxsize=4096)
def parse_ib_time(text: str) -> tuple[datetime, bool]:
    """Return (aware UTC datetime, had_zone). Cached: a goodAfterTime, goodTillDate or time
    condition is read on every matching pass, and the answer (immutable) never changes;
    a bad spelling raises each time, as it is not cached."""
    text = " ".join(text.strip().split())
    if not text:
        raise TimeFormatError("empty time")
    try:
        if "-" in text[:9] and len(text) >= 17 and text[8] == "-":
            stamp = datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S")
            return stamp.replace(tzinfo=timezone.utc), True
        parts = text.split(" ", 2)
        stamp = datetime.strptime(parts[0] + " " + parts[1], "%Y%m%d %H:%M:%S")
    except (ValueError, IndexError):
        raise TimeFormatError(f"{text!r} is not 'YYYYMMDD HH:MM:SS [zone]'") from None
    if len(parts) == 3:
        try:
            zone = ZoneInfo(parts[2])
        except (ZoneInfoNotFoundError, ValueError):
            raise TimeFormatError(f"unknown time zone {parts[2]!r}") from None
        return stamp.replace(tzinfo=zone).astimezone(timezone.utc), True
    return stamp.replace(tzinfo=timezone.utc), False


def format_ib_time(moment: float) -> str:
    """``20261121 14:03:00 UTC``: the form execDetails and bars carry here."""
    return datetime.fromtimestamp(moment, timezone.utc).strftime("%Y%m%d %H:%M:%S") + " UTC"
