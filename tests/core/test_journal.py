"""The SQLite journal: exact round trips, idempotent fills, persistence, versioning, errors."""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from backend.core import journal as journal_module
from backend.core.journal import DUPLICATE, SCHEMA_VERSION, Journal, JournalError
from backend.core.models import (
    FillRecord,
    LegRole,
    OrderRecord,
    OrderStatus,
    OrderType,
    Side,
)
from backend.strategies.signal import Signal

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)


class Clock:
    """A clock that advances one second per reading, so recorded times are predictable."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@pytest.fixture
def journal():
    with Journal(":memory:", clock=Clock()) as j:
        yield j


def _signal(sid: str = "sig42", symbol: str = "AAPL") -> Signal:
    return Signal(id=sid, symbol=symbol, reference_price=Decimal("187.37"),
                  atr=Decimal("0.433"), timestamp=T0, reason="gap up", score=2.5)


ORDERS = [
    OrderRecord(order_id="101", symbol="AAPL", side=Side.BUY, order_type=OrderType.MARKET,
                quantity=100, status=OrderStatus.FILLED, role=LegRole.ENTRY, filled=100,
                avg_fill_price=Decimal("187.4133"), signal_id="sig42",
                broker_status="Filled", message="Fill 100.0@187.41",
                updated_at=T0 + timedelta(seconds=2)),
    OrderRecord(order_id="102", symbol="AAPL", side=Side.SELL, order_type=OrderType.STOP,
                quantity=100, status=OrderStatus.PENDING, role=LegRole.SAFETY_STOP,
                stop_price=Decimal("183.620"), parent_id="101", oca_group="S9-sig42",
                signal_id="sig42", broker_status="PreSubmitted", message="",
                updated_at=datetime(2026, 1, 5, 9, 30, tzinfo=timezone(timedelta(hours=-5)))),
    OrderRecord(order_id="104", symbol="AAPL", side=Side.SELL, order_type=OrderType.TRAIL,
                quantity=100, status=OrderStatus.PARTIAL_FILL, role=LegRole.PROFIT_HARVESTER,
                filled=40, avg_fill_price=Decimal("192.30"), stop_price=Decimal("192.34"),
                trail_amount=Decimal("0.65"), parent_id="101", oca_group="S9-sig42",
                signal_id="sig42", broker_status="Submitted"),
    OrderRecord(order_id="201", symbol="MSFT", side=Side.BUY, order_type=OrderType.STOP_LIMIT,
                quantity=7, limit_price=Decimal("410.05"), stop_price=Decimal("410.00"),
                signal_id="sig43", status=OrderStatus.ERROR, message="rejected: 201"),
]


def _fill(exec_id: str = "e1", order_id: str = "101", symbol: str = "AAPL",
          side: Side = Side.BUY, quantity: int = 100, price: str = "187.41",
          commission: str = "0", realized: str | None = None) -> FillRecord:
    return FillRecord(exec_id=exec_id, order_id=order_id, symbol=symbol, side=side,
                      quantity=quantity, price=Decimal(price), time=T0,
                      commission=Decimal(commission),
                      realized_pnl=None if realized is None else Decimal(realized))


# ---------------------------------------------------------------- opening and versioning

def test_memory_journal_is_at_current_schema(journal):
    assert journal.schema_version == SCHEMA_VERSION == len(journal_module.MIGRATIONS)


def test_file_journal_creates_folders_wal_and_version(tmp_path):
    # Arrange
    path = tmp_path / "deep" / "er" / "journal.sqlite3"

    # Act
    Journal(path).close()

    # Assert
    assert path.is_file()
    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        raw.close()


def test_existing_empty_database_is_migrated(tmp_path):
    path = tmp_path / "old.sqlite3"
    sqlite3.connect(path).close()  # version 0, no tables

    with Journal(path) as j:
        assert j.schema_version == SCHEMA_VERSION
        assert j.orders() == []


def test_failed_migration_leaves_version_and_tables_untouched(tmp_path, monkeypatch):
    path = tmp_path / "j.sqlite3"
    monkeypatch.setattr(journal_module, "MIGRATIONS",
                        (("CREATE TABLE good (x)", "CREATE TABLE broken ("),))
    monkeypatch.setattr(journal_module, "SCHEMA_VERSION", 1)

    with pytest.raises(JournalError, match=str(path)):
        Journal(path)

    raw = sqlite3.connect(path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
        assert raw.execute("SELECT name FROM sqlite_master").fetchall() == []
    finally:
        raw.close()


def test_journal_from_newer_sigma9_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    raw = sqlite3.connect(path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()

    with pytest.raises(JournalError, match="newer Sigma9"):
        Journal(path)


def _directory(tmp_path: Path) -> Path:
    return tmp_path


def _under_a_file(tmp_path: Path) -> Path:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    return blocker / "journal.sqlite3"


def _not_a_database(tmp_path: Path) -> Path:
    path = tmp_path / "notes.txt"
    path.write_text("this is plainly not an SQLite file, " * 50)
    return path


@pytest.mark.parametrize(("make_path", "fragment"), [
    (_directory, "it is a directory"),
    (_under_a_file, "folder cannot be created"),
    (_not_a_database, "not a database"),
], ids=["directory", "parent-is-a-file", "not-a-database"])
def test_bad_path_raises_one_readable_sentence(tmp_path, make_path, fragment):
    path = make_path(tmp_path)

    with pytest.raises(JournalError) as info:
        Journal(path)

    message = str(info.value)
    assert message.startswith(f"cannot open the journal at {path}")
    assert fragment in message
    assert "\n" not in message


def test_closed_journal_refuses_use_and_close_is_idempotent():
    j = Journal(":memory:")
    j.close()
    j.close()

    with pytest.raises(JournalError, match="closed"):
        j.orders()
    with pytest.raises(JournalError, match="closed"):
        j.record_event("alert", {})


# ---------------------------------------------------------------- signals

def test_signal_outcome_round_trip(journal):
    journal.record_signal(_signal("a"), "accepted")
    journal.record_signal(_signal("b", "MSFT"), "refused", "not connected")

    assert journal.signal_outcome("a") == "accepted"
    assert journal.signal_outcome("b") == "refused"
    assert journal.signal_outcome("never") is None
    rows = journal.signals()
    assert [r["signal_id"] for r in rows] == ["a", "b"]
    assert rows[1]["outcome_reason"] == "not connected"
    first = rows[0]
    assert (first["symbol"], first["action"], first["reason"], first["score"]) == (
        "AAPL", "BUY", "gap up", 2.5)
    assert first["reference_price"] == Decimal("187.37")
    assert first["atr"] == Decimal("0.433")
    assert first["timestamp"] == T0
    assert first["duplicates"] == 0


def test_duplicate_never_overwrites_the_decision(journal):
    journal.record_signal(_signal(), "accepted")

    journal.record_signal(_signal(), DUPLICATE)
    journal.record_signal(_signal(), DUPLICATE)

    assert journal.signal_outcome("sig42") == "accepted"
    (row,) = journal.signals()
    assert row["duplicates"] == 2
    assert row["updated_at"] > row["recorded_at"]


def test_later_decision_replaces_earlier(journal):
    journal.record_signal(_signal(), "accepted")

    journal.record_signal(_signal(), "failed", "send raised")

    (row,) = journal.signals()
    assert (row["outcome"], row["outcome_reason"]) == ("failed", "send raised")


# ---------------------------------------------------------------- orders

@pytest.mark.parametrize("record", ORDERS, ids=[o.order_id for o in ORDERS])
def test_order_round_trips_exactly(journal, record):
    journal.upsert_order(record)

    (stored,) = journal.orders()

    assert stored == record
    for name in ("avg_fill_price", "limit_price", "stop_price", "trail_amount"):
        assert str(getattr(stored, name)) == str(getattr(record, name))  # exact text kept
    assert stored.updated_at == record.updated_at
    if record.updated_at is not None:
        assert stored.updated_at.utcoffset() == record.updated_at.utcoffset()


def test_upsert_replaces_by_order_id_and_keeps_first_position(journal):
    # Arrange
    for record in ORDERS:
        journal.upsert_order(record)
    filled_stop = OrderRecord(**{**ORDERS[1].__dict__, "status": OrderStatus.FILLED,
                                 "filled": 100, "avg_fill_price": Decimal("183.58")})

    # Act
    journal.upsert_order(filled_stop)

    # Assert
    stored = journal.orders()
    assert [o.order_id for o in stored] == ["101", "102", "104", "201"]
    assert stored[1] == filled_stop


def test_orders_filter_by_signal(journal):
    for record in ORDERS:
        journal.upsert_order(record)

    assert [o.order_id for o in journal.orders("sig42")] == ["101", "102", "104"]
    assert journal.orders("sig43") == [ORDERS[3]]
    assert journal.orders("nobody") == []


def test_status_history_in_order_with_clock_times(journal):
    journal.record_status_change("102", None, OrderStatus.PENDING, "PreSubmitted", "")
    journal.record_status_change("102", OrderStatus.PENDING, OrderStatus.FILLED, "Filled",
                                 "stopped out")
    journal.record_status_change("999", None, OrderStatus.PENDING, "Submitted", "")

    assert journal.status_history("102") == [
        (None, OrderStatus.PENDING, "PreSubmitted", "", T0 + timedelta(seconds=1)),
        (OrderStatus.PENDING, OrderStatus.FILLED, "Filled", "stopped out",
         T0 + timedelta(seconds=2)),
    ]
    assert journal.status_history("nothing") == []


# ---------------------------------------------------------------- fills and P&L

def test_fill_round_trips_and_is_idempotent(journal):
    fill = _fill(commission="1.00", realized="0")

    assert journal.record_fill(fill) is True
    assert journal.record_fill(fill) is False

    assert journal.fills() == [fill]


def test_commission_report_updates_the_stored_fill(journal):
    journal.record_fill(_fill("e2", "102", side=Side.SELL, price="183.58"))

    journal.record_fill(_fill("e2", "102", side=Side.SELL, price="183.58", commission="1.02",
                              realized="-384.52"))

    (stored,) = journal.fills()
    assert stored.commission == Decimal("1.02")
    assert stored.realized_pnl == Decimal("-384.52")


def test_replay_without_report_keeps_known_commission(journal):
    journal.record_fill(_fill(commission="1.00", realized="0"))

    journal.record_fill(_fill())  # reconnect replays the execution before its report

    (stored,) = journal.fills()
    assert (stored.commission, stored.realized_pnl) == (Decimal("1.00"), Decimal("0"))


def test_fills_filter_by_order(journal):
    journal.record_fill(_fill("e1", "101"))
    journal.record_fill(_fill("e2", "102", side=Side.SELL))
    journal.record_fill(_fill("e3", "102", side=Side.SELL))

    assert [f.exec_id for f in journal.fills("102")] == ["e2", "e3"]
    assert journal.fills("nope") == []


def test_realized_pnl_and_commissions_are_exact_sums(journal):
    # Arrange: AAPL round trip in two exits, an MSFT loss, an unreported MSFT fill.
    journal.record_fill(_fill("a1", "101", "AAPL", Side.BUY, 100, "187.41", "1.00", "0"))
    journal.record_fill(_fill("a2", "104", "AAPL", Side.SELL, 40, "192.30", "1.00", "193.20"))
    journal.record_fill(_fill("a3", "104", "AAPL", Side.SELL, 60, "192.10", "1.00", "278.40"))
    journal.record_fill(_fill("m1", "202", "MSFT", Side.SELL, 7, "405.11", "1.00", "-36.35"))
    journal.record_fill(_fill("m2", "203", "MSFT", Side.SELL, 3, "405.00"))

    # Assert: 193.20 + 278.40 - 36.35 = 435.25; commissions 4 x 1.00
    assert journal.realized_pnl() == Decimal("435.25")
    assert journal.realized_pnl("AAPL") == Decimal("471.60")
    assert journal.realized_pnl("MSFT") == Decimal("-36.35")
    assert journal.realized_pnl("TSLA") == Decimal(0)
    assert journal.commissions() == Decimal("4.00")
    assert journal.commissions("AAPL") == Decimal("3.00")


# ---------------------------------------------------------------- events

def test_events_round_trip_with_rich_payloads(journal):
    journal.record_event("refused", {"signal": "sig42", "code": "max_positions"})
    journal.record_event("reprotect", {"symbol": "AAPL", "stop": Decimal("183.62"),
                                       "role": LegRole.SAFETY_STOP, "at": T0,
                                       "legs": {"b", "a"}, "order": ORDERS[1]})
    journal.record_event("refused", {"signal": "sig43"})

    everything = journal.events()
    refusals = journal.events("refused")

    assert [e["kind"] for e in everything] == ["refused", "reprotect", "refused"]
    assert [e["payload"]["signal"] for e in refusals] == ["sig42", "sig43"]
    payload = everything[1]["payload"]
    assert payload["stop"] == "183.62"
    assert payload["role"] == "safety_stop"
    assert payload["at"] == T0.isoformat()
    assert payload["legs"] == ["a", "b"]
    assert payload["order"]["order_id"] == "102"
    assert everything[0]["at"] == T0 + timedelta(seconds=1)


def test_unstorable_event_payload_raises_journal_error(journal):
    with pytest.raises(JournalError, match="alert event"):
        journal.record_event("alert", {"thing": object()})
    assert journal.events() == []


# ---------------------------------------------------------------- persistence

def test_everything_survives_close_and_reopen(tmp_path):
    # Arrange
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        j.record_signal(_signal(), "accepted")
        for record in ORDERS:
            j.upsert_order(record)
        j.record_status_change("101", None, OrderStatus.FILLED, "Filled", "")
        j.record_fill(_fill(commission="1.00", realized="0"))
        j.record_event("alert", {"text": "unprotected MSFT"})

    # Act
    with Journal(path) as reopened:
        # Assert
        assert reopened.schema_version == SCHEMA_VERSION
        assert reopened.signal_outcome("sig42") == "accepted"
        assert reopened.orders() == ORDERS
        assert reopened.status_history("101")[0][1] is OrderStatus.FILLED
        assert reopened.fills() == [_fill(commission="1.00", realized="0")]
        assert reopened.events("alert")[0]["payload"] == {"text": "unprotected MSFT"}
        assert reopened.commissions() == Decimal("1.00")


# ---------------------------------------------------------------- bad files, tried deliberately
# Each bad journal is refused (or a failed write reported) in one sentence naming the file,
# and left exactly as it was: nothing half-written, no record lost.

def _one_sentence(message: str) -> None:
    assert message and "\n" not in message and "Traceback" not in message
    assert ". " not in message, f"more than one sentence: {message!r}"


def _filled_journal(path: Path, orders: int = 60) -> None:
    with Journal(path) as j:
        for n in range(orders):
            j.upsert_order(OrderRecord(order_id=str(1000 + n), symbol="AAPL", side=Side.BUY,
                                       order_type=OrderType.LIMIT, quantity=100,
                                       limit_price=Decimal("187.50"), message="x" * 200))


def test_journal_is_created_owner_only_in_folders_created_owner_only(tmp_path):
    path = tmp_path / "new" / "deeper" / "journal.sqlite3"

    with Journal(path) as j:
        j.record_event("alert", {"text": "the -wal file exists now"})
        wal = path.with_name(path.name + "-wal")
        assert wal.exists()
        assert wal.stat().st_mode & 0o777 == 0o600

    assert path.stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "new").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "new" / "deeper").stat().st_mode & 0o777 == 0o700


def test_an_existing_journal_readable_by_others_is_tightened(tmp_path):
    path = tmp_path / "journal.sqlite3"
    _filled_journal(path, orders=1)
    path.chmod(0o644)

    Journal(path).close()

    assert path.stat().st_mode & 0o777 == 0o600


def test_garbage_bytes_are_refused_and_left_as_they_were(tmp_path):
    path = tmp_path / "journal.sqlite3"
    garbage = bytes(range(256)) * 64
    path.write_bytes(garbage)

    with pytest.raises(JournalError) as info:
        Journal(path)

    message = str(info.value)
    _one_sentence(message)
    assert message.startswith(f"cannot open the journal at {path}: it is not a database")
    assert path.read_bytes() == garbage


def test_a_damaged_journal_is_refused_at_open_not_mid_session(tmp_path):
    # A valid header over damaged pages opened fine before and failed at some later write.
    path = tmp_path / "journal.sqlite3"
    _filled_journal(path)
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page:3 * page] = b"\xde\xad\xbe\xef" * (page // 4)
    path.write_bytes(bytes(data))

    with pytest.raises(JournalError) as info:
        Journal(path)

    message = str(info.value)
    _one_sentence(message)
    assert message.startswith(f"cannot open the journal at {path}: the file is damaged")
    assert path.read_bytes() == bytes(data), "a damaged journal is never touched"


LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@pytest.fixture
def locked_by_another_process():
    """Hold an exclusive SQLite lock on a path from another process until the test ends."""
    import subprocess
    import sys

    holders: list[subprocess.Popen] = []

    def release() -> None:
        while holders:
            holders.pop().communicate("", timeout=10)

    def lock(path: Path) -> Callable[[], None]:
        proc = subprocess.Popen([sys.executable, "-c", LOCKER, str(path)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        holders.append(proc)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        return release

    yield lock
    release()


def test_a_journal_locked_by_another_process_is_refused_at_open(tmp_path,
                                                                 locked_by_another_process):
    path = tmp_path / "journal.sqlite3"
    _filled_journal(path, orders=1)
    locked_by_another_process(path)

    with pytest.raises(JournalError) as info:
        Journal(path)

    message = str(info.value)
    _one_sentence(message)
    assert message.startswith(f"cannot open the journal at {path}: it is locked by another "
                              "process")


def test_a_lock_taken_mid_session_fails_one_write_whole_and_the_next_one_lands(
        tmp_path, locked_by_another_process):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        j.upsert_order(ORDERS[0])
        release = locked_by_another_process(path)

        with pytest.raises(JournalError) as info:
            j.upsert_order(ORDERS[1])
        release()

        message = str(info.value)
        _one_sentence(message)
        assert message.startswith(f"the journal at {path} could not store order 102: it is "
                                  "locked by another process")
        assert message.endswith("nothing of it was written, and it is kept for the next "
                                "write that succeeds")
        assert j.orders() == [ORDERS[0]], "nothing of it yet"
        j.upsert_order(ORDERS[2])  # the lock is gone: the kept order is written first
    with Journal(path) as reopened:
        assert reopened.orders() == [ORDERS[0], ORDERS[1], ORDERS[2]], "no record lost"


def test_a_full_disk_fails_one_write_whole_and_the_journal_carries_on(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        j.upsert_order(ORDERS[0])
        pages = j._conn.execute("PRAGMA page_count").fetchone()[0]
        j._conn.execute(f"PRAGMA max_page_count = {pages}")  # SQLITE_FULL on growth

        with pytest.raises(JournalError) as info:
            j.record_event("alert", {"text": "x" * 50_000})

        message = str(info.value)
        _one_sentence(message)
        assert message.startswith(f"the journal at {path} could not record a alert event: "
                                  "the disk is full")
        assert j.events() == [] and not j._conn.in_transaction
        j._conn.execute(f"PRAGMA max_page_count = {pages * 1000}")  # space again
        j.upsert_order(ORDERS[1])
    with Journal(path) as reopened:
        assert reopened.orders() == ORDERS[:2]
        assert [e["payload"] for e in reopened.events()] == [{"text": "x" * 50_000}], (
            "the event the full disk refused was kept and written with the next write")


class _CommitFails:
    """The sqlite3 connection, except that one COMMIT fails as a full disk makes it fail."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.armed = True

    def execute(self, sql: str, *args):
        if sql == "COMMIT" and self.armed:
            self.armed = False
            error = sqlite3.OperationalError("database or disk is full")
            error.sqlite_errorname = "SQLITE_FULL"
            raise error
        return self._conn.execute(sql, *args)

    def __getattr__(self, name: str):
        return getattr(self._conn, name)


def test_a_failed_commit_leaves_no_transaction_open_and_the_record_is_kept(tmp_path):
    # Before: a failed COMMIT left its transaction open, so the next write failed on
    # "cannot start a transaction within a transaction" (or carried the half-done one).
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as j:
        real = j._conn
        j._conn = _CommitFails(real)  # type: ignore[assignment]

        with pytest.raises(JournalError, match="the disk is full"):
            j.upsert_order(ORDERS[0])

        assert not real.in_transaction and j.orders() == []
        j.upsert_order(ORDERS[1])
        j._conn = real
    with Journal(path) as reopened:
        assert reopened.orders() == [ORDERS[0], ORDERS[1]], "kept, then written whole"


def test_what_a_failed_write_kept_is_written_on_close(tmp_path):
    path = tmp_path / "journal.sqlite3"
    j = Journal(path)
    real = j._conn
    j._conn = _CommitFails(real)  # type: ignore[assignment]
    with pytest.raises(JournalError):
        j.record_fill(_fill(commission="1.00", realized="0"))
    j._conn = real

    j.close()

    with Journal(path) as reopened:
        assert reopened.fills() == [_fill(commission="1.00", realized="0")]


def test_a_write_refused_for_its_data_is_not_kept(tmp_path):
    with Journal(tmp_path / "journal.sqlite3") as j:
        absurd = OrderRecord(order_id="7", symbol="AAPL", side=Side.BUY,
                             order_type=OrderType.MARKET, quantity=10**30)
        with pytest.raises(JournalError, match="does not fit"):
            j.upsert_order(absurd)
        j.upsert_order(ORDERS[0])  # would fail forever if the absurd one were replayed
        assert j.orders() == [ORDERS[0]]


UNPRIVILEGED = """
import os, sys
sys.path.insert(0, sys.argv[1])
from backend.core.journal import Journal, JournalError
if os.geteuid() == 0:  # imported as root (the interpreter lives under /root), now bound
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
try:
    Journal(sys.argv[2]).close()
    print("opened")
except JournalError as exc:
    print(exc)
"""


def _open_unprivileged(folder: Path, path: Path) -> str:
    """Open ``path`` in a child process that permissions bind (root ignores them)."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    if os.geteuid() == 0:
        for item in (folder, *folder.glob("*")):
            os.chown(item, 65534, 65534)  # nobody's, as a user's journal is the user's
    proc = subprocess.run([sys.executable, "-c", UNPRIVILEGED, str(repo), str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


@pytest.fixture
def open_folder():
    """A folder outside pytest's root-only tmp tree, so an unprivileged child can reach it."""
    import shutil
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="sigma9-journal-"))
    folder.chmod(0o755)
    yield folder
    folder.chmod(0o755)
    shutil.rmtree(folder, ignore_errors=True)


def test_a_read_only_journal_file_is_refused_and_left_as_it_was(open_folder):
    path = open_folder / "journal.sqlite3"
    _filled_journal(path, orders=1)
    before = path.read_bytes()
    path.chmod(0o400)

    message = _open_unprivileged(open_folder, path)

    _one_sentence(message)
    assert message.startswith(f"cannot open the journal at {path}: it is read-only")
    assert path.read_bytes() == before


def test_a_journal_in_a_read_only_folder_is_refused(open_folder):
    path = open_folder / "journal.sqlite3"
    _filled_journal(path, orders=1)  # WAL needs its -wal and -shm files beside the journal
    open_folder.chmod(0o555)

    message = _open_unprivileged(open_folder, path)

    _one_sentence(message)
    assert message.startswith(f"cannot open the journal at {path}:")
    assert "read-only" in message or "cannot be opened" in message


def test_a_new_journal_in_a_read_only_folder_is_refused(open_folder):
    path = open_folder / "journal.sqlite3"
    open_folder.chmod(0o555)

    message = _open_unprivileged(open_folder, path)

    _one_sentence(message)
    assert message == (f"cannot open the journal at {path}: the file cannot be created in "
                       "its folder (Permission denied)")


def test_a_number_too_large_for_sqlite_is_a_journal_error_not_an_overflow(tmp_path):
    # Before: OverflowError escaped (inside a Qt slot that aborted the process).
    with Journal(tmp_path / "journal.sqlite3") as j:
        absurd = OrderRecord(order_id="7", symbol="AAPL", side=Side.BUY,
                             order_type=OrderType.MARKET, quantity=10**30)

        with pytest.raises(JournalError) as info:
            j.upsert_order(absurd)

        message = str(info.value)
        _one_sentence(message)
        assert message.startswith(f"the journal at {tmp_path / 'journal.sqlite3'} could not "
                                  "store order 7: a number in it does not fit")
        assert j.orders() == [] and not j._conn.in_transaction
        j.upsert_order(ORDERS[0])
        assert j.orders() == [ORDERS[0]]


# ---------------------------------------------------------------- keyed by permId (migration 2)

def test_orders_without_an_order_id_keep_apart_by_perm_id(journal):
    # Completed orders of other clients all came as order id "0" and overwrote each other.
    first = dataclasses.replace(ORDERS[0], order_id="perm-1234567", perm_id=1_234_567)
    second = dataclasses.replace(ORDERS[1], order_id="perm-7654321", perm_id=7_654_321)

    journal.upsert_order(first)
    journal.upsert_order(second)

    assert journal.orders() == [first, second]


def test_a_schema_1_journal_is_migrated_and_keeps_its_orders(tmp_path):
    path = tmp_path / "v1.sqlite3"
    raw = sqlite3.connect(path)
    for statement in journal_module.MIGRATIONS[0]:
        raw.execute(statement)
    columns = [f for f in journal_module._ORDER_COLUMNS if f != "perm_id"]
    plain = ORDERS[0].to_dict()
    raw.execute(f"INSERT INTO orders ({', '.join(columns)}) VALUES "
                f"({', '.join('?' * len(columns))})", tuple(plain[c] for c in columns))
    raw.execute("PRAGMA user_version = 1")
    raw.commit()
    raw.close()

    with Journal(path) as j:
        assert j.schema_version == SCHEMA_VERSION >= 2
        assert j.orders() == [ORDERS[0]] and j.orders()[0].perm_id == 0


HOLDER = """
import sys
sys.path.insert(0, sys.argv[1])
from backend.core.journal import Journal
journal = Journal(sys.argv[2])
print("open", flush=True)
sys.stdin.read()
journal.close()
"""


def test_a_journal_another_sigma9_holds_is_refused_naming_its_pid(tmp_path):
    import subprocess
    import sys

    path = tmp_path / "journal.sqlite3"
    repo = Path(__file__).resolve().parents[2]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(repo), str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"

        with pytest.raises(JournalError) as info:
            Journal(path)

        message = str(info.value)
        _one_sentence(message)
        assert message == (f"cannot open the journal at {path}: another running Sigma9 "
                           f"(pid {holder.pid}) is using it; stop that one, or give this "
                           "one its own journal.path")
    finally:
        holder.communicate("", timeout=10)

    with Journal(path) as j:  # once it is gone (even killed: the kernel drops the lock)
        assert j.orders() == []
    assert path.with_name(path.name + ".lock").stat().st_mode & 0o777 == 0o600


def test_the_same_process_may_reopen_its_journal(tmp_path):
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as first, Journal(path) as second:
        first.upsert_order(ORDERS[0])
        assert second.orders() == [ORDERS[0]]


def test_an_in_memory_journal_given_as_a_path_writes_no_file(tmp_path, monkeypatch):
    """Settings turn ``journal.path = ":memory:"`` into ``Path(":memory:")``: it must stay in
    memory, not become a file ':memory:' (and its lock) in the working directory."""
    from pathlib import Path

    from backend.core.journal import Journal
    monkeypatch.chdir(tmp_path)
    journal = Journal(Path(":memory:"))
    journal.close()
    assert list(tmp_path.iterdir()) == []
