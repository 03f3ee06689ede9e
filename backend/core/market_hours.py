"""US-equity trading sessions on a clock: a fact both the OMS and the simulator need.

Why here, and pure: the OMS refuses entries outside regular hours and tells the trader
which exit legs can act right now; the simulator holds orders as IB does outside regular
hours (warning 399, ``docs/simulator.md``). Both read the same calendar, which is a fact
about the exchange rather than an assumption about IB, so sharing it does not let the
simulator confirm the OMS's beliefs.

The sessions, in US/Eastern (IB's "regular trading hours" for NYSE/NASDAQ stocks, and the
extended hours IB offers for stocks: ibkr.com "Extended Hours Trading"):

| session | from | to |
|---|---|---|
| PRE_MARKET | 04:00 | 09:30 |
| REGULAR | 09:30 | 16:00 |
| AFTER_HOURS | 16:00 | 20:00 |
| CLOSED | 20:00 | 04:00, and all of Saturday and Sunday |

Not modelled: exchange holidays and early closes (13:00 on some half days). On such a day
this calendar says REGULAR while IB is closed; the OMS would let a signal through and IB
would hold its entry with warning 399. Documented in docs/oca.md.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from enum import Enum
from zoneinfo import ZoneInfo

EASTERN = ZoneInfo("America/New_York")


class Session(Enum):
    PRE_MARKET = "pre-market"
    REGULAR = "regular hours"
    AFTER_HOURS = "after hours"
    CLOSED = "closed"

    @property
    def is_regular(self) -> bool:
        return self is Session.REGULAR

    @property
    def is_extended(self) -> bool:
        """Pre-market or after hours: only orders IB honours outsideRth for can act."""
        return self in (Session.PRE_MARKET, Session.AFTER_HOURS)


SESSION_BOUNDS: tuple[tuple[time, time, Session], ...] = (
    (time(4, 0), time(9, 30), Session.PRE_MARKET),
    (time(9, 30), time(16, 0), Session.REGULAR),
    (time(16, 0), time(20, 0), Session.AFTER_HOURS),
)
"""Weekday sessions as data: [start, end) in US/Eastern; anything else is CLOSED."""

REGULAR_OPEN = time(9, 30)
REGULAR_CLOSE = time(16, 0)


def always_regular(moment: datetime) -> Session:
    """The calendar of a market that never closes: sigma9-sim's default "always open"."""
    _eastern(moment)
    return Session.REGULAR


CALENDARS: dict[str, Callable[[datetime], Session]] = {}
"""Session calendars by the name ``[entry] market_hours`` gives (filled in below)."""


def calendar(name: str) -> Callable[[datetime], Session]:
    try:
        return CALENDARS[name]
    except KeyError:
        raise ValueError(f"unknown market-hours calendar {name!r}; "
                         f"known: {', '.join(sorted(CALENDARS))}") from None


def _eastern(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("market_hours needs a timezone-aware moment")
    return moment.astimezone(EASTERN)


def _is_weekday(day: datetime) -> bool:
    return day.weekday() < 5


def session_at(moment: datetime) -> Session:
    """The US-equity session a timezone-aware moment falls in."""
    local = _eastern(moment)
    if not _is_weekday(local):
        return Session.CLOSED
    clock = local.time()
    for start, end, session in SESSION_BOUNDS:
        if start <= clock < end:
            return session
    return Session.CLOSED


def _at(local_day: datetime, at: time) -> datetime:
    """``at`` on the Eastern calendar day of ``local_day``, zone-correct across DST."""
    return datetime(local_day.year, local_day.month, local_day.day, at.hour, at.minute,
                    tzinfo=EASTERN)


def next_regular_open(moment: datetime) -> datetime:
    """The first regular-hours open strictly after ``moment`` unless it is exactly the open.

    During regular hours this is the next trading day's open: the question it answers is
    "when will an order held outside regular hours be placed at the exchange" (IB's 399).
    """
    local = _eastern(moment)
    candidate = _at(local, REGULAR_OPEN)
    if local > candidate or not _is_weekday(local):
        candidate = _at(local + timedelta(days=1), REGULAR_OPEN)
    while not _is_weekday(candidate):
        candidate = _at(candidate + timedelta(days=1), REGULAR_OPEN)
    return candidate


def regular_close(moment: datetime) -> datetime:
    """The regular-hours close of the trading day ``moment`` is in, or of the next one.

    Outside a trading day (a weekend, or after the close) this is the next trading day's
    close, so "DAY orders expire at" always names a moment not yet passed.
    """
    local = _eastern(moment)
    close = _at(local, REGULAR_CLOSE)
    if _is_weekday(local) and local < close:
        return close
    return _at(next_regular_open(moment), REGULAR_CLOSE)


CALENDARS.update({"us_equity": session_at, "always_open": always_regular})
