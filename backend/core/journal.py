"""The trading journal: an SQLite file recording what Sigma9 decided and what IB reported.

Why SQLite: one file, transactional, readable with any SQL tool after a bad day, and the
stdlib already has it. One connection in WAL mode, owned by the event-loop thread. Each write
is durable when its call returns, except inside :meth:`Journal.batch` (one signal's send:
durable together, with the send) and :meth:`Journal.deferred` (the broker's echoes of an
order: committed together a moment later, or with the next durable write); what each kind
of write needs and why is in ``journal_tx`` (issue 12: 18 commits a signal became 2).

It records signals (and what became of them), orders (latest snapshot per order id), every
status change, every execution with its commission, and free-form events (refusals, alerts,
re-protections). On start the OrderManager rebuilds its state from :meth:`Journal.orders` and
:meth:`Journal.fills`, then reconciles with the broker.

Money is stored as Decimal text and comes back exactly; times as ISO-8601 with their zone.
The schema is versioned with ``PRAGMA user_version``: :data:`MIGRATIONS` is applied in order,
and a journal written by a newer Sigma9 is refused rather than misread.

Bad files are refused at open, in one sentence, and left exactly as they were: a damaged
file, one locked by another process (or held by another Sigma9), a read-only file or folder
(``journal_file``). A write that fails while trading (disk full, lock, I/O error) rolls its
transaction back whole, so nothing is half-written, and raises :class:`JournalError`, whose
sentence the terminal and headless mode show in place of a traceback. The file holds the
whole trading history, so it is created readable by its owner only (0600), in folders
created 0700.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import json
import logging
import sqlite3
from collections.abc import Callable, Hashable
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from backend.core import journal_file
from backend.core.journal_file import JournalError, problem
from backend.core.journal_schema import MIGRATIONS, SCHEMA_VERSION
from backend.core.journal_tx import MAX_KEPT, Scheduler, Transactions
from backend.core.models import FillRecord, LegRole, OrderRecord, OrderStatus, OrderType, Side

__all__ = ["DUPLICATE", "MAX_KEPT", "MIGRATIONS", "SCHEMA_VERSION", "Journal", "JournalError"]

log = logging.getLogger("sigma9.journal")
T = TypeVar("T")

if TYPE_CHECKING:
    from backend.core.signal import Signal

DUPLICATE = "duplicate"
"""Outcome of a signal id seen again: counted, but never overwrites the original decision."""



def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


# Column -> how a stored value becomes the model's value again (others are stored as-is).
ORDER_DECODERS: dict[str, Callable[[Any], Any]] = {
    "side": Side, "order_type": OrderType, "status": OrderStatus, "role": LegRole,
    "avg_fill_price": _decimal, "limit_price": _decimal, "stop_price": _decimal,
    "trail_amount": _decimal, "updated_at": _time,
}
FILL_DECODERS: dict[str, Callable[[Any], Any]] = {
    "side": Side, "price": Decimal, "time": _time, "commission": Decimal,
    "realized_pnl": _decimal,
}
SIGNAL_DECODERS: dict[str, Callable[[Any], Any]] = {
    "reference_price": Decimal, "atr": Decimal, "timestamp": _time,
    "recorded_at": _time, "updated_at": _time,
}

_ORDER_COLUMNS = tuple(f.name for f in dataclasses.fields(OrderRecord))
_FILL_COLUMNS = tuple(f.name for f in dataclasses.fields(FillRecord))
_UPSERT_ORDER = (f"INSERT INTO orders ({', '.join(_ORDER_COLUMNS)}) "
                 f"VALUES ({', '.join('?' * len(_ORDER_COLUMNS))}) ON CONFLICT (order_id) "
                 "DO UPDATE SET " + ", ".join(f"{name} = excluded.{name}"
                                              for name in _ORDER_COLUMNS[1:]))


def _decode(row: sqlite3.Row, decoders: dict[str, Callable[[Any], Any]]) -> dict[str, Any]:
    plain = dict(zip(row.keys(), tuple(row), strict=True))  # iterating a Row gives values
    return {key: decoders[key](value) if key in decoders and value is not None else value
            for key, value in plain.items()}


def _json_default(value: Any) -> Any:
    """Event payloads may carry models, Decimals, enums, times and sets."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if hasattr(value, "to_dict"):
        return value.to_dict()
    raise TypeError(f"cannot store {type(value).__name__} in an event payload")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Journal:
    """One SQLite journal file (or ``":memory:"``), opened and migrated on construction."""

    def __init__(self, path: str | Path, clock: Callable[[], datetime] = _utc_now) -> None:
        self.path: str | Path = (":memory:" if str(path) == ":memory:"  # a Path(":memory:") too
                                  else Path(path).expanduser())
        self._clock = clock
        self._lock: journal_file.ProcessLock | None = None
        self._tx = Transactions(str(self.path))
        self._appends = 0
        self._conn = self._open()

    # -- lifecycle -------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        conn = journal_file.connect(self.path)
        try:
            if isinstance(self.path, Path):
                self._lock = journal_file.ProcessLock(self.path)
            self._migrate(conn)
        except (sqlite3.Error, JournalError) as exc:
            conn.close()
            if self._lock is not None:
                self._lock.release()
            if isinstance(exc, JournalError):
                raise
            raise JournalError(f"cannot open the journal at {self.path}: "
                               f"{problem(exc)}") from None
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(f"cannot open the journal at {self.path}: it was written by a "
                               f"newer Sigma9 (schema {version}, this one knows {SCHEMA_VERSION})")
        for number, statements in enumerate(MIGRATIONS[version:], start=version + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in statements:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        """Close the file (writing what a failed write kept, if it can now); calling it twice
        is harmless."""
        if self._conn is not None and (self._tx.kept or self._conn.in_transaction):
            self._tx.depth = self._tx.deferring = 0
            try:
                self._commit("write the records it kept", ("close",), lambda conn: None)
            except JournalError as exc:
                log.error("%s; %d records were not written", exc, len(self._tx.kept))
        if self._conn is not None:
            self._conn.close()
            self._conn = None  # type: ignore[assignment]
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _commit(self, action: str, key: Hashable, apply: Callable[[sqlite3.Connection], T]
                ) -> T:
        """Run ``apply`` in a transaction, after the writes kept from earlier failures; its
        own, committed now, unless a batch or deferral groups it (``journal_tx``).

        Any failure rolls the write back (nothing half-written) and becomes a JournalError
        naming file, action and cause. When the cause is the file's state (a full disk, a
        lock, an I/O error) the write is kept, under ``key`` (a newer write of the same order
        or fill replaces it), and the next transaction writes it first: a record the disk
        refused for a moment is not lost.
        """
        if self._conn is None:
            raise JournalError(f"the journal at {self.path} is closed; cannot {action}")
        result: T = self._tx.write(self._conn, action, key, apply, self.flush)
        return result

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Writes inside commit once, together, when the outermost batch ends (also when its
        body raises: what was decided was decided). For one signal's send."""
        return self._tx.batch(lambda: self._conn)

    def deferred(self) -> contextlib.AbstractContextManager[None]:
        """Writes inside may wait for :meth:`flush` (scheduled by :attr:`schedule_flush`) or
        the next durable write: for the broker's echoes, which the broker itself holds."""
        return self._tx.deferred()

    def flush(self) -> None:
        """Commit the deferred writes now (a failure is logged and its writes kept)."""
        self._tx.flush(self._conn)

    @property
    def schedule_flush(self) -> Scheduler | None:
        return self._tx.schedule

    @schedule_flush.setter
    def schedule_flush(self, schedule: Scheduler | None) -> None:
        """``schedule(flush) -> bool``; without one, deferred writes are durable at once."""
        self._tx.schedule = schedule

    def _read(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        if self._conn is None:
            raise JournalError(f"the journal at {self.path} is closed")
        try:
            return self._conn.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise JournalError(f"the journal at {self.path} could not be read: "
                               f"{problem(exc)}") from None

    # -- signals ---------------------------------------------------------------------------

    def record_signal(self, signal: Signal, outcome: str, reason: str = "") -> None:
        """Record what became of ``signal`` ("accepted", "refused", "duplicate", ...).

        A later outcome replaces the earlier one (accepted, then "failed" if sending broke),
        except :data:`DUPLICATE`, which only counts the repeat: the first decision stands.
        """
        now = self._clock().isoformat()

        def apply(conn: sqlite3.Connection) -> None:
            seen = conn.execute("SELECT 1 FROM signals WHERE signal_id = ?",
                                (signal.id,)).fetchone()
            if seen is None:
                conn.execute(
                    "INSERT INTO signals VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (signal.id, signal.symbol, signal.action, str(signal.reference_price),
                     str(signal.atr), signal.timestamp.isoformat(), signal.reason,
                     signal.score, outcome, reason, 1 if outcome == DUPLICATE else 0, now, now))
            elif outcome == DUPLICATE:
                conn.execute("UPDATE signals SET duplicates = duplicates + 1, updated_at = ? "
                             "WHERE signal_id = ?", (now, signal.id))
            else:
                conn.execute("UPDATE signals SET outcome = ?, outcome_reason = ?, "
                             "updated_at = ? WHERE signal_id = ?",
                             (outcome, reason, now, signal.id))

        self._commit(f"record signal {signal.id}", self._next_key("signal"), apply)

    def signal_outcome(self, signal_id: str) -> str | None:
        """The recorded outcome of ``signal_id``, or None if it was never seen."""
        rows = self._read("SELECT outcome FROM signals WHERE signal_id = ?", (signal_id,))
        return rows[0]["outcome"] if rows else None

    def signals(self) -> list[dict[str, Any]]:
        """Every signal with its outcome, oldest first; prices as Decimal, times as datetime."""
        rows = self._read("SELECT * FROM signals ORDER BY rowid")
        return [_decode(row, SIGNAL_DECODERS) for row in rows]

    # -- orders ----------------------------------------------------------------------------

    def upsert_order(self, record: OrderRecord) -> None:
        """Store the latest snapshot of an order, keyed by ``order_id``."""
        plain = record.to_dict()
        values = tuple(plain[name] for name in _ORDER_COLUMNS)
        self._commit(f"store order {record.order_id}", ("order", record.order_id),
                     lambda conn: conn.execute(_UPSERT_ORDER, values))

    def orders(self, signal_id: str | None = None) -> list[OrderRecord]:
        """Orders in the order they were first stored, optionally those of one signal."""
        if signal_id is None:
            rows = self._read("SELECT * FROM orders ORDER BY rowid")
        else:
            rows = self._read("SELECT * FROM orders WHERE signal_id = ? ORDER BY rowid",
                              (signal_id,))
        return [OrderRecord(**_decode(row, ORDER_DECODERS)) for row in rows]

    def record_status_change(self, order_id: str, old: OrderStatus | None, new: OrderStatus,
                             broker_status: str = "", message: str = "") -> None:
        """Append one step of an order's life (``old`` is None for its first status)."""
        values = (order_id, old.value if old else None, new.value, broker_status, message,
                  self._clock().isoformat())
        self._commit(f"record a status change of order {order_id}", self._next_key("status"),
                     lambda conn: conn.execute(
                         "INSERT INTO status_changes (order_id, old, new, broker_status, "
                         "message, at) VALUES (?,?,?,?,?,?)", values))

    def status_history(self, order_id: str) -> list[tuple]:
        """``(old, new, broker_status, message, at)`` for each change, oldest first."""
        rows = self._read("SELECT old, new, broker_status, message, at FROM status_changes "
                          "WHERE order_id = ? ORDER BY seq", (order_id,))
        return [(OrderStatus(r["old"]) if r["old"] else None, OrderStatus(r["new"]),
                 r["broker_status"], r["message"], datetime.fromisoformat(r["at"]))
                for r in rows]

    # -- fills -----------------------------------------------------------------------------

    def record_fill(self, fill: FillRecord) -> bool:
        """Store an execution once per ``exec_id``; True if it was new.

        IB delivers an execution first and its commission report later, and replays both on
        reconnect. A repeat carrying a report (commission or realized P&L) updates those two
        fields; a repeat without one never erases a known commission.
        """
        plain = fill.to_dict()
        has_report = fill.realized_pnl is not None or fill.commission != 0
        def apply(conn: sqlite3.Connection) -> bool:
            seen = conn.execute("SELECT 1 FROM fills WHERE exec_id = ?",
                                (fill.exec_id,)).fetchone()
            if seen is None:
                conn.execute(f"INSERT INTO fills ({', '.join(_FILL_COLUMNS)}) "
                             f"VALUES ({', '.join('?' * len(_FILL_COLUMNS))})",
                             tuple(plain[name] for name in _FILL_COLUMNS))
            elif has_report:
                conn.execute("UPDATE fills SET commission = ?, realized_pnl = ? "
                             "WHERE exec_id = ?",
                             (plain["commission"], plain["realized_pnl"], fill.exec_id))
            return seen is None

        return self._commit(f"record fill {fill.exec_id}", ("fill", fill.exec_id), apply)

    def fills(self, order_id: str | None = None) -> list[FillRecord]:
        """Executions in arrival order, optionally those of one order."""
        if order_id is None:
            rows = self._read("SELECT * FROM fills ORDER BY rowid")
        else:
            rows = self._read("SELECT * FROM fills WHERE order_id = ? ORDER BY rowid",
                              (order_id,))
        return [FillRecord(**_decode(row, FILL_DECODERS)) for row in rows]

    def realized_pnl(self, symbol: str | None = None) -> Decimal:
        """Sum of the fills' realized P&L as IB reports it: already net of commissions.

        Fills whose commission report has not arrived (realized unknown) add nothing yet.
        """
        return sum((f.realized_pnl for f in self._fills_of(symbol)
                    if f.realized_pnl is not None), Decimal(0))

    def commissions(self, symbol: str | None = None) -> Decimal:
        """Sum of the commissions reported so far (for display; realized P&L includes them)."""
        return sum((f.commission for f in self._fills_of(symbol)), Decimal(0))

    def _fills_of(self, symbol: str | None) -> list[FillRecord]:
        if symbol is None:
            return self.fills()
        rows = self._read("SELECT * FROM fills WHERE symbol = ? ORDER BY rowid", (symbol,))
        return [FillRecord(**_decode(row, FILL_DECODERS)) for row in rows]

    # -- events ----------------------------------------------------------------------------

    def record_event(self, kind: str, payload: dict[str, Any]) -> None:
        """Append a free-form event (refusal, alert, re-protection...) with a JSON payload."""
        try:
            text = json.dumps(payload, default=_json_default, sort_keys=True)
        except (TypeError, ValueError) as exc:
            raise JournalError(f"the journal at {self.path} cannot store the {kind} event: "
                               f"{exc}") from None
        values = (kind, text, self._clock().isoformat())
        self._commit(f"record a {kind} event", self._next_key("event"),
                     lambda conn: conn.execute(
                         "INSERT INTO events (kind, payload, at) VALUES (?,?,?)", values))

    def _next_key(self, kind: str) -> tuple[str, int]:
        """A key of its own for an append (status change, event, signal decision)."""
        self._appends += 1
        return (kind, self._appends)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        """``{"seq", "kind", "at", "payload"}`` oldest first; payloads come back as JSON data."""
        if kind is None:
            rows = self._read("SELECT * FROM events ORDER BY seq")
        else:
            rows = self._read("SELECT * FROM events WHERE kind = ? ORDER BY seq", (kind,))
        return [{"seq": r["seq"], "kind": r["kind"], "at": datetime.fromisoformat(r["at"]),
                 "payload": json.loads(r["payload"])} for r in rows]
