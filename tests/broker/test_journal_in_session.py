"""A journal that fills up while trading: one sentence, the session carries on, nothing lost.

The trading core runs whole against sigma9-sim over TCP. The journal's disk then fills up:
its SQLite connection answers every COMMIT with SQLITE_FULL, as SQLite does when the disk
is full (a proxy at the sqlite3 boundary only: ``max_page_count`` cannot fill every table's
pages at once; tests/core/test_journal.py uses it for one write). A stop is then placed:
the broker has it, the OrderManager's slot fails to journal it, and headless mode's
``ConsoleReporter`` prints the journal's sentence, not a traceback. Restarted on the same
journal (with room again), the core reads the order back from the broker, so the record
the full disk refused is not lost.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from decimal import Decimal

import pytest

from backend.sim import SimThread
from frontend.errors import ConsoleReporter
from tests.helpers import eventually
from tests.oms.conftest import CLIENT_ID, build_core, make_settings, regular_hours_sim

pytestmark = pytest.mark.asyncio


@pytest.fixture
def sim() -> Iterator[SimThread]:
    yield from regular_hours_sim()


class FullDisk:
    """The journal's sqlite3 connection, with a disk that is full while ``full`` is set."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.full = True

    def execute(self, sql: str, *args):
        if sql == "COMMIT" and self.full:
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorname = "SQLITE_FULL"
            raise error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


async def test_a_full_journal_mid_session_is_one_line_and_nothing_is_lost(sim, tmp_path):
    path = tmp_path / "journal.sqlite3"
    settings = make_settings(sim, path)
    err = io.StringIO()
    core = build_core(sim, settings)
    await core.start()
    reporter = ConsoleReporter(err).install()
    disk = FullDisk(core.journal._conn)
    core.journal._conn = disk  # type: ignore[assignment]
    try:

        stop_id = await core.connector.place_stop_order("AAPL", 100, Decimal("90.00"))

        await eventually(lambda: {o["order_id"]: o["status"] for o in sim.orders(CLIENT_ID)}
                         .get(int(stop_id)) == "PreSubmitted",
                         what="the stop working at the broker")
        await eventually(lambda: err.getvalue(), what="the sentence on the console")
        first = err.getvalue().splitlines()[0]
        assert first.startswith(f"sigma9: journal write failed: the journal at {path} could "
                                f"not store order {stop_id}: the disk is full")
        assert "Traceback" not in err.getvalue()
        assert stop_id not in {r.order_id for r in core.journal.orders()}
        assert core.connector.is_connected(), "the session carries on"
    finally:
        disk.full = False
        reporter.uninstall()
        await core.stop()

    restarted = build_core(sim, settings)
    await restarted.start()
    try:
        journalled = {r.order_id: r for r in restarted.journal.orders()}
        assert stop_id in journalled, "read back from the broker on restart"
        assert (journalled[stop_id].quantity, journalled[stop_id].stop_price) == (
            100, Decimal("90.00"))
    finally:
        await restarted.stop()
