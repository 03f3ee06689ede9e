"""The US-equity session calendar: a table of moments, each with its session and next open."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from backend.core.market_hours import (
    EASTERN,
    Session,
    next_regular_open,
    regular_close,
    session_at,
)


def et(y, mo, d, h, mi, s=0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=EASTERN)


# 2026-08-24 is a Monday (EDT, UTC-4); 2026-12-03 a Thursday (EST, UTC-5).
SESSIONS = [
    (et(2026, 8, 24, 3, 59, 59), Session.CLOSED),
    (et(2026, 8, 24, 4, 0), Session.PRE_MARKET),
    (et(2026, 8, 24, 9, 29, 59), Session.PRE_MARKET),
    (et(2026, 8, 24, 9, 30), Session.REGULAR),
    (et(2026, 8, 24, 15, 59, 59), Session.REGULAR),
    (et(2026, 8, 24, 16, 0), Session.AFTER_HOURS),
    (et(2026, 8, 24, 19, 59, 59), Session.AFTER_HOURS),
    (et(2026, 8, 24, 20, 0), Session.CLOSED),
    (et(2026, 8, 22, 12, 0), Session.CLOSED),        # Saturday noon
    (et(2026, 8, 23, 12, 0), Session.CLOSED),        # Sunday noon
    (datetime(2026, 12, 3, 14, 30, tzinfo=timezone.utc), Session.REGULAR),   # 09:30 EST
    (datetime(2026, 12, 3, 14, 29, tzinfo=timezone.utc), Session.PRE_MARKET),
    (datetime(2026, 8, 24, 13, 30, tzinfo=timezone.utc), Session.REGULAR),   # 09:30 EDT
]


@pytest.mark.parametrize(("moment", "expected"), SESSIONS, ids=lambda v: str(v))
def test_session_at(moment, expected):
    assert session_at(moment) is expected


OPENS = [
    (et(2026, 8, 24, 8, 0), et(2026, 8, 24, 9, 30)),     # pre-market: today's open
    (et(2026, 8, 24, 9, 30), et(2026, 8, 24, 9, 30)),    # exactly the open
    (et(2026, 8, 24, 10, 0), et(2026, 8, 25, 9, 30)),    # during the day: tomorrow's
    (et(2026, 8, 28, 17, 0), et(2026, 8, 31, 9, 30)),    # Friday evening: Monday
    (et(2026, 8, 29, 9, 0), et(2026, 8, 31, 9, 30)),     # Saturday: Monday
    (et(2026, 3, 6, 18, 0), et(2026, 3, 9, 9, 30)),      # across the DST change (Mar 8)
]


@pytest.mark.parametrize(("moment", "expected"), OPENS, ids=lambda v: str(v))
def test_next_regular_open(moment, expected):
    opened = next_regular_open(moment)
    assert opened == expected
    assert session_at(opened) is Session.REGULAR


def test_dst_open_is_0930_local_on_both_sides():
    assert next_regular_open(et(2026, 3, 6, 18, 0)).utcoffset().total_seconds() == -4 * 3600
    assert next_regular_open(et(2026, 3, 6, 8, 0)).utcoffset().total_seconds() == -5 * 3600


CLOSES = [
    (et(2026, 8, 24, 8, 0), et(2026, 8, 24, 16, 0)),
    (et(2026, 8, 24, 15, 0), et(2026, 8, 24, 16, 0)),
    (et(2026, 8, 24, 16, 0), et(2026, 8, 25, 16, 0)),
    (et(2026, 8, 28, 18, 0), et(2026, 8, 31, 16, 0)),
    (et(2026, 8, 30, 10, 0), et(2026, 8, 31, 16, 0)),
]


@pytest.mark.parametrize(("moment", "expected"), CLOSES, ids=lambda v: str(v))
def test_regular_close(moment, expected):
    assert regular_close(moment) == expected


def test_naive_moment_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        session_at(datetime(2026, 8, 24, 10, 0))


def test_extended_and_regular_flags():
    assert Session.PRE_MARKET.is_extended and Session.AFTER_HOURS.is_extended
    assert Session.REGULAR.is_regular and not Session.REGULAR.is_extended
    assert not Session.CLOSED.is_extended and not Session.CLOSED.is_regular
