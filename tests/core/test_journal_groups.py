"""The journal's grouped writes (``journal_tx``): a batch commits once, deferred writes wait
for their flush, and a failure inside a group loses nothing the journal did not refuse.

Durability is read through a second SQLite connection to the same file: what it sees is
committed; the journal's own connection also sees its open transaction.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from backend.core.journal import Journal, JournalError
from backend.core.models import OrderRecord, OrderStatus, OrderType, Side


def _order(order_id: str, quantity: int = 100) -> OrderRecord:
    return OrderRecord(order_id=order_id, symbol="AAPL", side=Side.BUY,
                       order_type=OrderType.LIMIT, quantity=quantity,
                       limit_price=Decimal("100.00"), signal_id="sig")


def _committed_orders(path: Path) -> list[str]:
    """Order ids another connection can read: what is committed."""
    other = sqlite3.connect(str(path))
    try:
        return [row[0] for row in other.execute("SELECT order_id FROM orders ORDER BY rowid")]
    finally:
        other.close()


def _count_transactions(journal: Journal) -> list[str]:
    begins: list[str] = []
    journal._conn.set_trace_callback(
        lambda sql: begins.append(sql) if sql.startswith("BEGIN") else None)
    return begins


class _CommitFails:
    """The sqlite3 connection, except that one COMMIT fails as a full disk makes it fail."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = True

    def execute(self, sql: str, *args):
        if sql == "COMMIT" and self.armed:
            self.armed = False
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]
            raise error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_a_batch_is_one_transaction_committed_at_its_end(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        begins = _count_transactions(j)
        with j.batch():
            for n in range(4):
                j.upsert_order(_order(str(n)))
                j.record_status_change(str(n), None, OrderStatus.PENDING)
            j.record_event("legs_sent", {"signal_id": "sig"})
            with j.batch():  # nested: only the outermost commits
                j.upsert_order(_order("4"))
            assert _committed_orders(path) == [], "nothing committed before the batch ends"
            assert len(j.orders()) == 5, "the journal reads its own open transaction"
        assert _committed_orders(path) == ["0", "1", "2", "3", "4"]
        assert len(begins) == 1


def test_a_batch_whose_body_raises_still_commits_what_it_wrote(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        with pytest.raises(RuntimeError), j.batch():
            j.upsert_order(_order("1"))
            raise RuntimeError("the send failed")
        assert _committed_orders(path) == ["1"]


def test_a_write_that_fails_in_a_batch_is_undone_alone(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        with j.batch():
            j.upsert_order(_order("1"))
            with pytest.raises(JournalError, match="does not fit"):
                j.upsert_order(_order("2", quantity=10**30))
            j.upsert_order(_order("3"))
        assert _committed_orders(path) == ["1", "3"]
        j.upsert_order(_order("4"))  # the refused one is not replayed (its data was bad)
        assert _committed_orders(path) == ["1", "3", "4"]


def test_a_batch_whose_commit_fails_is_kept_whole_for_the_next_write(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        real = j._conn
        j._conn = _CommitFails(real)  # type: ignore[assignment]
        with pytest.raises(JournalError, match="the disk is full"), j.batch():
            j.upsert_order(_order("1"))
            j.upsert_order(_order("2"))
        assert not real.in_transaction and _committed_orders(path) == []
        j.upsert_order(_order("3"))
        j._conn = real
        assert _committed_orders(path) == ["1", "2", "3"], "kept, then written whole"


def _scheduler() -> tuple[list[Callable[[], None]], Callable[[Callable[[], None]], bool]]:
    due: list[Callable[[], None]] = []

    def schedule(flush: Callable[[], None]) -> bool:
        due.append(flush)
        return True

    return due, schedule


def test_deferred_writes_wait_for_their_flush_and_share_one_transaction(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        due, j.schedule_flush = _scheduler()
        begins = _count_transactions(j)
        for n in range(8):
            with j.deferred():
                j.upsert_order(_order(str(n % 4)))
                j.record_status_change(str(n % 4), None, OrderStatus.PENDING)
        assert len(due) == 1, "one flush scheduled for the whole group"
        assert _committed_orders(path) == []
        due[0]()
        assert _committed_orders(path) == ["0", "1", "2", "3"]
        assert len(begins) == 1


def test_a_durable_write_commits_the_deferred_ones_before_it(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        due, j.schedule_flush = _scheduler()
        with j.deferred():
            j.upsert_order(_order("1"))
        j.upsert_order(_order("2"))  # not deferred: durable when it returns
        assert _committed_orders(path) == ["1", "2"]
        due[0]()  # the late flush finds nothing to do
        assert _committed_orders(path) == ["1", "2"]


def test_deferred_writes_are_durable_at_once_without_a_scheduler(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        j.schedule_flush = lambda flush: False  # no running loop
        with j.deferred():
            j.upsert_order(_order("1"))
        assert _committed_orders(path) == ["1"]


def test_close_commits_the_deferred_writes(tmp_path):
    path = tmp_path / "journal.sqlite3"
    j = Journal(path)
    _due, j.schedule_flush = _scheduler()
    with j.deferred():
        j.upsert_order(_order("1"))
    j.close()
    assert _committed_orders(path) == ["1"]


def test_a_failed_flush_is_reported_and_keeps_its_writes_for_the_next_write(tmp_path,
                                                                             monkeypatch):
    reported: list[BaseException] = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, exc, tb: reported.append(exc))
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        due, j.schedule_flush = _scheduler()
        real = j._conn
        j._conn = _CommitFails(real)  # type: ignore[assignment]
        with j.deferred():
            j.upsert_order(_order("1"))
        due[0]()  # not raised (nobody to raise to on a timer): reported as a slot's failure
        assert [str(e).split(": the disk")[0] for e in reported] == [
            f"the journal at {path} could not store order 1"]
        assert not real.in_transaction and _committed_orders(path) == []
        j._conn = real
        j.upsert_order(_order("2"))
        assert _committed_orders(path) == ["1", "2"]
