"""Fixtures: sigma9-sim in a thread, on US-equity sessions at a chosen moment, and a paper
check run against it over TCP with the simulator's clock as the check's clock.

The check reads the session and builds the time stop's goodAfterTime from its clock; giving
it the simulator's clock keeps both sides on one moment, as a paper account and its trader's
PC clock are (roughly) on one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from backend.broker.paper_check.runner import Options, RunReport, run_paper_check
from backend.core.exit_plan import EntryParams, ExitParams
from backend.sim import SimThread
from tests.sim.conftest import quiet_config

REGULAR = datetime(2026, 12, 2, 15, 0, tzinfo=timezone.utc)
"""A Wednesday, 10:00 US/Eastern."""
PRE_MARKET = datetime(2026, 12, 2, 12, 0, tzinfo=timezone.utc)
"""The same Wednesday, 07:00 US/Eastern."""
CLIENT_ID = 909


def start_sim(at: datetime, **config) -> SimThread:
    sim = SimThread(quiet_config(sessions="us_equity", **config)).start()
    sim.set_time(at)
    sim.set_price("AAPL", "100.00")
    return sim


@pytest.fixture
def regular_sim() -> Iterator[SimThread]:
    sim = start_sim(REGULAR)
    yield sim
    sim.stop()


@pytest.fixture
def pre_market_sim() -> Iterator[SimThread]:
    sim = start_sim(PRE_MARKET)
    yield sim
    sim.stop()


def sim_clock(sim: SimThread):
    return lambda: datetime.fromtimestamp(sim.now(), timezone.utc)


async def run_check(sim: SimThread, capture: Path, **options) -> tuple[RunReport, list[str]]:
    """Run a whole check against ``sim``; returns its report and every line it printed."""
    lines: list[str] = []
    base = Options(port=sim.port, client_id=CLIENT_ID, capture=capture, timeout=5.0,
                   settle=0.3, connect_timeout=5.0)
    run = await run_paper_check(replace(base, **options), ExitParams(), EntryParams(),
                                out=lines.append, now=sim_clock(sim))
    return run, lines


def open_orders(sim: SimThread) -> list[dict]:
    return [o for o in sim.orders(CLIENT_ID)
            if o["status"] not in ("Filled", "Cancelled", "Inactive")]
