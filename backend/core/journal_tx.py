"""How the journal's writes become SQLite transactions: one a write, or one a group of them.

Why groups: every COMMIT waits for the disk (WAL, ``synchronous`` FULL), and a signal used to
cost 18 of them (its row, each order and each status change on its own), which capped the
terminal near 5 signals a second on a disk and doubled signal-to-wire (issue 12). What each
write needs, and gets:

* **At once** (the default): a write is durable when its call returns. Fills, events the OMS
  decides on (an unacknowledged cancel, a re-protection), a signal refused.
* :meth:`Transactions.batch`: the writes inside commit together, once, when the outermost
  batch ends. One signal's send is a batch (``EntrySender.send``): its ``accepted`` row, its
  orders and their first statuses, the ``legs_sent`` event. All of it is written in the
  transaction before or as the chain is handed to the socket, and committed right after
  ``place_chain`` returns, before the event loop runs anything else: an order's sent record
  is durable with its send. A crash in between (microseconds) leaves orders at the broker
  the journal does not hold; the next start's reconciliation adopts them by their orderRef
  (``Recovery``), so their signal id is not free to send again.
* :meth:`Transactions.deferred`: the broker's echoes of an order (PreSubmitted, Submitted,
  Cancelled, ... as ``OrderManager.on_order_status`` stores them) join the open transaction,
  which a flush commits ``GROUP_COMMIT_S`` later, or the next write that must be durable at
  once, or the end of a batch, whichever comes first; so a chain's echoes, which arrive
  together, cost one commit. What a crash can lose is at most that moment of echoes, which
  the broker still holds: the next start re-reads open and completed orders and executions
  and reconciles (docs/reliability.md). Without a scheduler (no running event loop) a
  deferred write is durable at once.

Failure semantics are the journal's (helper H4's, unchanged for a write on its own): a write
that fails rolls back whole and raises ``JournalError``; when the cause is the file's state
(full disk, lock, I/O) it is kept, and the next transaction that begins writes it first. In
a group, a write that fails is undone alone: the transaction is rolled back and the group's
other writes are applied again (each write is a replayable function, as kept ones are); if
that fails too, or the group's COMMIT fails, the group's writes are kept (environmental
causes) like any failed write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import sys
from collections.abc import Callable, Hashable, Iterator
from typing import Any, TypeVar

from backend.core.journal_file import ENVIRONMENTAL, JournalError, problem

log = logging.getLogger("sigma9.journal")
T = TypeVar("T")
Write = Callable[[sqlite3.Connection], Any]
Scheduler = Callable[[Callable[[], None]], bool]
"""``schedule(flush)``: arrange for ``flush()`` to run soon; False if it cannot (no loop)."""
MAX_KEPT = 10_000
"""Kept writes, at most (each attempt replays them first); beyond, a failure is reported."""
GROUP_COMMIT_S = 0.05
"""How long a broker echo may wait for its commit: a chain's echoes arrive within a few ms."""


def environmental(exc: sqlite3.Error) -> bool:
    return (getattr(exc, "sqlite_errorname", "") or "").startswith(ENVIRONMENTAL)


class Transactions:
    """The journal's transaction state: writes kept after failures, writes in the open
    transaction, the depth of batches and deferral, the flush scheduler."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.kept: dict[Hashable, Write] = {}
        """Writes refused by the file's state, to be written first by the next transaction."""
        self.pending: dict[Hashable, Write] = {}
        """Writes applied in the open, uncommitted transaction (replayed kept ones included)."""
        self.depth = 0
        self.deferring = 0
        self.schedule: Scheduler | None = None
        self.flush_due = False
        self._replayed = 0
        self.actions: dict[str, None] = {}
        """What the open transaction's own writes do, in order (a failed flush names them)."""

    # -- grouping --------------------------------------------------------------------------
    @contextlib.contextmanager
    def batch(self, conn_of: Callable[[], sqlite3.Connection | None]) -> Iterator[None]:
        self.depth += 1
        try:
            yield
        except BaseException:
            self.depth -= 1
            if self.depth == 0:
                conn = conn_of()
                if conn is not None:
                    try:
                        self.commit(conn, "write a batch")
                    except JournalError as exc:  # the body's own exception is the news
                        log.error("%s", exc)
            raise
        self.depth -= 1
        conn = conn_of()
        if self.depth == 0 and conn is not None:
            self.commit(conn, "write a batch")

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        self.deferring += 1
        try:
            yield
        finally:
            self.deferring -= 1

    def flush(self, conn: sqlite3.Connection | None) -> None:
        """Commit the deferred writes (the scheduler's call, on a timer: nobody to raise
        to). A failure is reported as a failed Qt slot is, through ``sys.excepthook``, which
        the terminal's ErrorReporter and headless mode's ConsoleReporter take: one sentence
        naming the first write; its writes are kept for the next transaction."""
        self.flush_due = False
        if conn is None or self.depth > 0:
            return  # the batch's end commits them
        first = next(iter(self.actions), "write the broker's order reports")
        try:
            self.commit(conn, first)
        except JournalError as exc:
            log.error("%s", exc)
            sys.excepthook(JournalError, exc, None)

    def _defer(self, flush: Callable[[], None]) -> bool:
        if self.flush_due:
            return True
        if self.schedule is not None and self.schedule(flush):
            self.flush_due = True
        return self.flush_due

    # -- writing ---------------------------------------------------------------------------
    def write(self, conn: sqlite3.Connection, action: str, key: Hashable, apply: Write,
              flush: Callable[[], None]) -> Any:
        alone = self.depth == 0 and not self.flush_due
        try:
            result = self._apply(conn, action, key, apply)
        except sqlite3.Error as exc:
            keep = self._failed(conn, alone, key, apply, environmental(exc))
            later = ", and it is kept for the next write that succeeds" if keep else ""
            raise JournalError(f"the journal at {self.where} could not {action}: "
                               f"{problem(exc)}; nothing of it was written{later}") from None
        except OverflowError:
            # sqlite3 binds Python ints as 64-bit: a quantity of 1e30 once escaped from here
            # as OverflowError inside a Qt slot and aborted the terminal (issue 10).
            self._failed(conn, alone, key, apply, False)
            raise JournalError(f"the journal at {self.where} could not {action}: a number in "
                               "it does not fit a 64-bit column; nothing of it was "
                               "written") from None
        except BaseException:
            self._failed(conn, alone, key, apply, False)
            raise
        if self.depth == 0 and not (self.deferring and self._defer(flush)):
            self.commit(conn, action)
        return result

    def _apply(self, conn: sqlite3.Connection, action: str, key: Hashable, apply: Write
               ) -> Any:
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
            self.pending, self.kept = dict(self.kept), {}
            self._replayed = len(self.pending)
            for kept in self.pending.values():
                kept(conn)
        result = apply(conn)
        self.pending.pop(key, None)
        self.pending[key] = apply
        self.actions.setdefault(action, None)
        return result

    def _failed(self, conn: sqlite3.Connection, alone: bool, key: Hashable, apply: Write,
                keep: bool) -> bool:
        """After a failed write: what stays written, what is kept; whether it was kept.

        The transaction is rolled back whole (nothing half-written). In a group, the other
        writes it held (none of them failed) are applied again in a fresh one, so the failed
        write is undone alone; if that fails too, they are kept. Alone, the transaction held
        only writes kept from before, which stay kept. (A SAVEPOINT per write would do the
        same at two more statements a write, on every write: failures are rare.)
        """
        rollback(conn)
        others, actions = self.pending, self.actions
        self.pending, self.actions = {}, {}
        if alone or not others:
            self.kept = {**others, **self.kept}
            self.flush_due = False
        else:
            try:
                conn.execute("BEGIN IMMEDIATE")
                for write in others.values():
                    write(conn)
                self.pending, self.actions = others, actions
            except (sqlite3.Error, OverflowError):
                rollback(conn)
                self.kept = {**others, **self.kept}
                self.flush_due = False
        if keep and len(self.kept) < MAX_KEPT:
            self.kept.pop(key, None)
            self.kept[key] = apply
            return True
        return False

    def _keep_pending(self) -> None:
        """The open transaction is gone: its writes (none of them failed) are kept."""
        self.kept = {**self.pending, **self.kept}
        self.pending, self.flush_due, self.actions = {}, False, {}

    def commit(self, conn: sqlite3.Connection, action: str) -> None:
        """Commit the open transaction, if any."""
        if not conn.in_transaction:
            self.pending, self.flush_due, self.actions = {}, False, {}
            return
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            rollback(conn)
            keep = environmental(exc)
            others = len(self.actions) - 1
            if keep:
                self._keep_pending()
            self.pending, self.flush_due, self.actions = {}, False, {}
            later = ", and it is kept for the next write that succeeds" if keep else ""
            raise JournalError(f"the journal at {self.where} could not {action}: "
                               f"{problem(exc)}; nothing of it was written{later}"
                               + (f" (nor {others} other writes with it)" if others > 0
                                  else "")) from None
        if self._replayed:
            log.warning("the journal at %s wrote %d records kept since a failed write",
                        self.where, self._replayed)
        self.pending, self.flush_due, self._replayed, self.actions = {}, False, 0, {}


def flush_soon(flush: Callable[[], None]) -> bool:
    """A :data:`Scheduler` on the running event loop; without one, False (write at once)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    loop.call_later(GROUP_COMMIT_S, flush)
    return True


def rollback(conn: sqlite3.Connection) -> None:
    """Leave no transaction open, even when COMMIT itself failed (disk full)."""
    if conn.in_transaction:
        # SQLite may have rolled back already (it does on SQLITE_FULL in some cases).
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
