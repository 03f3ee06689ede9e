"""``sigma9 --headless``: the same trading core as the terminal, with no window.

Why: a server, a CI job or an SSH session has no display, and a trader checking a strategy
overnight wants a log, not a window. This runs the very wiring the terminal runs
(:class:`backend.runtime.TradingCore`: connector, journal, OrderManager, StrategyRunner) on a
plain asyncio loop, prints one timestamped line per event as it happens, and ends with a
summary block computed from the OrderManager's books (the ledger, so P&L is fills minus
commissions exactly as the terminal shows it).

No QApplication is needed: the connector's Qt signals are emitted and received on this one
thread, so they are direct calls and need no Qt event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TextIO

from backend.broker import ib_codes
from backend.broker.errors import BrokerError
from backend.core import ledger
from backend.core.cancels import plain_reason
from backend.core.events import (
    Alert,
    Event,
    FillReceived,
    Flattened,
    LegRejected,
    OrderLost,
    OrderUpdated,
    PositionsChanged,
    Reprotected,
    SignalRefusal,
    Slippage,
)
from backend.core.exit_plan import base_signal_id
from backend.core.journal import JournalError
from backend.core.leg_activity import skipped_time_stop
from backend.core.models import FillRecord, LegRole, OrderRecord, OrderStatus, Position
from backend.runtime import TradingCore
from backend.strategies.events import (
    Armed,
    ArmFailed,
    Disarmed,
    EntryFailed,
    EntrySent,
    SignalEmitted,
    SignalIgnored,
    SymbolError,
    WarmedUp,
    WarmupFailed,
)
from frontend import formatting as fmt
from frontend.errors import ConsoleReporter

EXIT_OK = 0
EXIT_FAILED = 1
INTERRUPTED = "interrupted"


# -- the summary (pure: tested with known fills) ---------------------------------------------
@dataclass(frozen=True)
class Summary:
    elapsed_s: float
    endpoint: str
    account: str
    signals: int
    entries: int
    refused: int
    orders: tuple[OrderRecord, ...]
    """Orders first seen in this session."""
    fills: tuple[FillRecord, ...]
    """Executions first seen in this session."""
    realized: Decimal
    """Realized P&L of this session's fills, after commissions (ledger rules)."""
    commissions: Decimal
    positions: tuple[Position, ...]


def build_summary(*, prior_fills: list[FillRecord], all_fills: list[FillRecord],
                  session_orders: list[OrderRecord], positions: list[Position],
                  signals: int, entries: int, refused: int, elapsed_s: float,
                  endpoint: str = "", account: str = "") -> Summary:
    """Session P&L = realized over every fill minus realized over the fills before it.

    Computed that way (not from the session's fills alone) so a position opened in an earlier
    session and closed in this one is measured against its real cost.
    """
    prior_ids = {f.exec_id for f in prior_fills}
    session_fills = tuple(f for f in all_fills if f.exec_id not in prior_ids)

    def realized(fills: list[FillRecord]) -> Decimal:
        return sum((b.realized for b in ledger.books_from_fills(fills).values()), Decimal(0))

    return Summary(elapsed_s=elapsed_s, endpoint=endpoint, account=account, signals=signals,
                   entries=entries, refused=refused, orders=tuple(session_orders),
                   fills=session_fills,
                   realized=realized(list(all_fills)) - realized(list(prior_fills)),
                   commissions=sum((f.commission for f in session_fills), Decimal(0)),
                   positions=tuple(positions))


# Numbers and leg names are written by frontend.formatting, as in the window.
_money = fmt.money


def format_summary(s: Summary) -> list[str]:
    """The summary block: signals, orders, fills, P&L, open positions (one fact a line)."""
    where = f" on {s.endpoint}" if s.endpoint else ""
    account = f" (account {s.account})" if s.account else ""
    counts: dict[str, int] = {}
    for order in s.orders:
        if order.status is OrderStatus.PENDING or order.status is OrderStatus.PARTIAL_FILL:
            key = "working"
        elif order.status in (OrderStatus.ERROR, OrderStatus.INACTIVE):
            key = "rejected"
        else:
            key = order.status.value.lower()
        counts[key] = counts.get(key, 0) + 1
    order_detail = ", ".join(f"{counts.get(k, 0)} {k}" for k in
                             ("filled", "cancelled", "working", "rejected"))
    shares = sum(f.quantity for f in s.fills)
    lines = [
        f"--- summary: {s.elapsed_s / 60:.1f} min{where}{account} ---",
        f"signals:        {s.signals} ({s.entries} entered, {s.refused} refused)",
        f"orders:         {len(s.orders)} ({order_detail})",
        f"fills:          {len(s.fills)} ({fmt.quantity(shares)} shares), commissions "
        f"{_money(s.commissions)}",
        f"realized P&L:   {_money(s.realized, signed=True)} (after commissions)",
    ]
    if not s.positions:
        return [*lines, "open positions: none"]
    lines.append(f"open positions: {len(s.positions)}")
    for p in s.positions:
        mark = f", mark {fmt.price(p.market_price)}" if p.market_price is not None else ""
        guard = (f"protected by {fmt.protection_names(p.protected_by)}" if p.protected_by
                 else "UNPROTECTED (no live exit at the broker)")
        lines.append(f"  {p.symbol} {fmt.quantity(p.quantity)} @ {fmt.price(p.avg_cost)} "
                     f"avg cost incl. commission{mark}, unrealized "
                     f"{_money(p.unrealized_pnl, signed=True)}; {guard}")
    return lines


# -- live event lines ------------------------------------------------------------------------
class EventPrinter:
    """Turns the core's events into one printed line per event."""

    def __init__(self, out: TextIO, now: Callable[[], datetime] = datetime.now) -> None:
        self.out = out
        self.now = now
        self.signals = self.entries = 0
        self.refused_ids: set[str] = set()
        self._statuses: dict[str, str] = {}
        self._fills: set[str] = set()
        self._positions: tuple = ()
        self._manager: Any = None

    def line(self, text: str) -> None:
        print(f"{self.now():%H:%M:%S} {text}", file=self.out, flush=True)

    def attach(self, core: TradingCore) -> None:
        c = core.connector
        c.connection_state.connect(
            lambda state, message: self.line(f"connection {state.value}: {message}"))
        c.broker_message.connect(self.on_broker_message)
        c.market_data_error.connect(
            lambda symbol, message: self.line(f"market data {symbol}: {message}"))
        core.manager.subscribe(self.on_manager)
        core.runner.subscribe(self.on_runner)
        self._manager = core.manager  # to say why a time stop ended, as the window does

    def on_broker_message(self, code: int, text: str) -> None:
        if ib_codes.severity(code) != "info":  # not farm "OK" chatter (docs/ib-codes.md)
            self.line(f"broker [{code}] {text}")

    def on_runner(self, event: Event) -> None:
        kind, p = event.kind, event.to_dict()
        if isinstance(event, Armed):
            self.line(f"armed on {', '.join(p['symbols'])}")
        elif isinstance(event, ArmFailed):
            self.line("ARM FAILED: no symbol of the watchlist could be subscribed")
        elif isinstance(event, (SymbolError, WarmupFailed)):
            self.line(f"{kind.replace('_', ' ')} {p['symbol']}: {p['reason']}")
        elif isinstance(event, WarmedUp):
            self.line(f"warmed up {p['symbol']} with {p['bars']} bars")
        elif isinstance(event, SignalEmitted):
            self.signals += 1
            s = p["signal"]
            atr = Decimal(str(s["atr"])).quantize(Decimal("0.0001"))
            self.line(f"signal {s['symbol']} {s['action']} ref {fmt.price(s['reference_price'])} "
                      f"ATR {atr} ({s['id']}): {s['reason']}")
        elif isinstance(event, SignalIgnored):
            self.line(f"signal ignored {p['signal']['symbol']}: {p['reason']}")
        elif isinstance(event, EntrySent):
            self.entries += 1
            self.line(f"entry {p['symbol']} order {p['order_id']} (signal {p['signal_id']})")
        elif isinstance(event, EntryFailed):
            self._refused(p)
        elif isinstance(event, Disarmed):
            self.line("disarmed (open positions keep their exits)")

    def _refused(self, p: dict[str, Any]) -> None:
        # Published once (by the OrderManager; by the runner only for an entry that failed
        # otherwise); the summary counts refused signal ids.
        self.refused_ids.add(p.get("signal_id", ""))
        self.line(f"REFUSED {p.get('symbol', '?')} ({p.get('signal_id', '')}): {p['reason']}")

    def on_manager(self, event: Event) -> None:
        kind, p = event.kind, event.to_dict()
        if isinstance(event, OrderUpdated):
            self._order(p["order"])
        elif isinstance(event, FillReceived):
            f = p["fill"]
            if f["exec_id"] in self._fills:
                return
            self._fills.add(f["exec_id"])
            self.line("fill " + fmt.fill_text(f["symbol"], f["side"], f["quantity"],
                                              f["price"], f["commission"], f["order_id"]))
        elif isinstance(event, SignalRefusal):
            self._refused(p)
        elif isinstance(event, PositionsChanged):
            self._positions_line(p["positions"])
        elif isinstance(event, Slippage):
            self.line(fmt.slippage_text(p["symbol"], p["fill"], p["reference"], p["slippage"]))
        elif isinstance(event, Alert):
            self.line(f"ALERT {p['message']}")
        elif isinstance(event, (LegRejected, Reprotected, Flattened, OrderLost)):
            detail = ", ".join(f"{k}={fmt.leg_name(v) if k == 'role' else v}"
                               for k, v in p.items())
            self.line(f"{kind.upper().replace('_', ' ')} {detail}")

    def _order(self, o: dict[str, Any]) -> None:
        previous = self._statuses.get(o["order_id"])
        if previous == o["status"]:
            return
        self._statuses[o["order_id"]] = o["status"]
        if previous is None:
            prices = fmt.order_prices(o["order_type"], o.get("limit_price"),
                                      o.get("stop_price"), o.get("trail_amount"))
            self.line(f"order {o['order_id']} {o['symbol']} {o['side']} "
                      f"{fmt.quantity(o['quantity'])} {o['order_type']}{prices} "
                      f"[{fmt.leg_name(o['role'])}]: {o['status']}")
            return
        filled = (f" {fmt.quantity(o['filled'])}/{fmt.quantity(o['quantity'])} @ "
                  f"{fmt.price(o['avg_fill_price'])}" if o.get("filled") else "")
        reason = self._skipped(o) or plain_reason(o.get("message") or "")
        why = f" ({reason})" if reason else ""
        self.line(f"order {o['order_id']} {o['symbol']} [{fmt.leg_name(o['role'])}]: "
                  f"{previous} -> {o['status']}{filled}{why}")

    def _skipped(self, o: dict[str, Any]) -> str:
        """Says "skipped: ignited at 103.00" for a time stop its own condition cancelled."""
        manager = self._manager
        if manager is None or o.get("role") != LegRole.TIME_STOP.value \
                or o.get("status") != OrderStatus.CANCELLED.value:
            return ""
        skipped = skipped_time_stop(manager.legs_of(base_signal_id(o.get("signal_id", ""))),
                                    manager.leg_plans)
        return skipped.sentence.removeprefix("time stop ") if skipped is not None else ""

    def _positions_line(self, positions: list[dict[str, Any]]) -> None:
        key = tuple((p["symbol"], p["quantity"], tuple(p["protected_by"])) for p in positions)
        if key == self._positions:
            return
        self._positions = key
        text = "; ".join(f"{s} {fmt.quantity(q)} "
                         f"({'protected: ' + fmt.protection_names(r) if r else 'UNPROTECTED'})"
                         for s, q, r in key)
        self.line(f"positions: {text or 'none'}")


# -- library logging ---------------------------------------------------------------------------
class _LogLines(logging.Handler):
    """Sigma9's own warnings become event lines; ib_insync's are dropped.

    Without a handler, Python prints every WARNING to stderr raw (ib_insync's "API connection
    failed: ConnectionRefusedError(...)" above our own one-line reason). Everything ib_insync
    reports that matters already arrives as an event: connection states, broker messages and
    order errors, in Sigma9's words.
    """

    def __init__(self, printer: EventPrinter) -> None:
        super().__init__(logging.WARNING)
        self.printer = printer

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.split(".")[0] == "sigma9":
            with contextlib.suppress(Exception):
                self.printer.line(f"{record.levelname.lower()} {record.name}: "
                                  f"{record.getMessage()}")


@contextlib.contextmanager
def _logging_to(printer: EventPrinter):
    root = logging.getLogger()
    handler = _LogLines(printer)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)


# -- the run -----------------------------------------------------------------------------------
async def run_headless(settings: Any, minutes: float | None, *, label: str = "",
                       out: TextIO = sys.stdout, err: TextIO = sys.stderr,
                       abort_check: Callable[[], str | None] | None = None) -> int:
    """Connect, arm the watchlist, print events for ``minutes`` (None: until Ctrl+C), summarise.

    ``abort_check`` is polled twice a second; a non-None return (e.g. "the simulator exited")
    ends the run early with that line. Failures print one ``sigma9:`` line, never a traceback.
    """
    printer = EventPrinter(out)
    # An exception in a Qt slot or a broker handler prints one line instead of aborting.
    reporter = ConsoleReporter(err).install(asyncio.get_running_loop())
    try:
        with _logging_to(printer):
            return await _session(settings, minutes, printer, label, err, abort_check)
    finally:
        reporter.uninstall()


async def _session(settings: Any, minutes: float | None, printer: EventPrinter, label: str,
                   err: TextIO, abort_check: Callable[[], str | None] | None) -> int:
    out = printer.out
    b = settings.broker
    try:
        core = TradingCore.build(settings)
    except (JournalError, BrokerError) as exc:
        print(f"sigma9: {exc}", file=err, flush=True)
        return EXIT_FAILED
    printer.attach(core)
    span = f"for {minutes:g} min" if minutes is not None else "until Ctrl+C"
    printer.line(f"sigma9 headless{' ' + label if label else ''}: {b.host}:{b.port} client "
                 f"{b.client_id}, {settings.strategy.bar_size_s}-s bars, journal "
                 f"{settings.journal.path}; running {span}")
    prior_fills = list(core.manager.fills.values())
    prior_orders = set(core.manager.orders)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
    started = time.monotonic()
    stopped = False
    try:
        try:
            reprotected = await core.start()
        except (BrokerError, JournalError) as exc:
            print(f"sigma9: {exc}", file=err, flush=True)
            return EXIT_FAILED
        if reprotected:
            printer.line(f"re-protected on start: {', '.join(reprotected)}")
        await core.runner.arm(settings.strategy.watchlist)
        deadline = None if minutes is None else started + minutes * 60
        reason = await _wait(stop, deadline, abort_check)
        if reason:
            printer.line(f"stopping early: {reason}")
        core.runner.disarm()
        await asyncio.sleep(0)  # let callbacks already queued (fills, statuses) land first
        summary = build_summary(
            prior_fills=prior_fills, all_fills=list(core.manager.fills.values()),
            session_orders=[o for i, o in core.manager.orders.items() if i not in prior_orders],
            positions=core.manager.get_active_positions(), signals=printer.signals,
            entries=printer.entries, refused=len(printer.refused_ids - {""}),
            elapsed_s=time.monotonic() - started, endpoint=f"{b.host}:{b.port}",
            account=core.connector.account)
        stopped = True
        await _stop(core, err)  # disconnect first, so the summary is the last word
        for text in format_summary(summary):
            print(text, file=out, flush=True)
        # Ctrl+C is a normal way to end a run; losing the broker or simulator is not.
        return EXIT_OK if reason in (None, INTERRUPTED) else EXIT_FAILED
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
        if not stopped:
            await _stop(core, err)


async def _stop(core: TradingCore, err: TextIO) -> None:
    try:
        await core.stop()
    except Exception as exc:  # the summary still counts; say why the stop was unclean
        print(f"sigma9: the trading core did not stop cleanly: {exc}", file=err, flush=True)


async def _wait(stop: asyncio.Event, deadline: float | None,
                abort_check: Callable[[], str | None] | None) -> str | None:
    """Sleep until ``deadline`` (monotonic; None: no end), a stop request or ``abort_check``.

    The deadline counts from the start of the run, connecting and warm-up included, so
    ``--minutes 5`` is five minutes of wall clock, as a trader reads it.
    """
    while deadline is None or time.monotonic() < deadline:
        if stop.is_set():
            return INTERRUPTED
        problem = abort_check() if abort_check else None
        if problem:
            return problem
        remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), max(remaining, 0))
    return None
