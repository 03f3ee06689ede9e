"""CoreFeed: the trading core's events, turned into model updates and log lines.

The OrderManager and the StrategyRunner publish declared event objects
(``backend.core.events``, ``backend.strategies.events``) to subscribers; the connector emits
Qt signals. This is the one place that subscribes to all of
them for the terminal, so the window only lays things out and handles the trader's clicks.
Everything runs on the GUI thread (the qasync loop): no locks, no queued hand-offs, except
for Python log records, which may come from any thread and are passed on by a signal.

What reaches the log panel, with its reason: broker errors and messages, refused signals,
rejected legs, re-protections, flattens, alerts, connection changes and every order status
change. A refusal is published once, by the OrderManager, and logged once.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timezone
from typing import Any

from PyQt6.QtCore import QObject, QTimer, pyqtSignal

from backend.broker import ib_codes
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
from backend.core.leg_activity import skipped_time_stop
from backend.core.models import ConnectionState, LegRole, OrderRecord, OrderStatus
from backend.strategies.events import (
    Armed,
    ArmFailed,
    BarClosed,
    Disarmed,
    EntryFailed,
    EntrySent,
    SignalEmitted,
    SignalIgnored,
    SymbolError,
    WarmedUp,
    WarmupFailed,
)
from frontend import formatting
from frontend.levels import current_trade
from frontend.models.executions import ExecutionsModel
from frontend.models.log import Level, LogModel
from frontend.models.orders import OrdersModel
from frontend.models.positions import PositionsModel, aware
from frontend.trail_watch import TrailWatch

CONNECTION_LEVELS = {ConnectionState.RECONNECTING: Level.WARNING,
                     ConnectionState.BROKER_LOST: Level.ERROR}
BROKER_LEVELS = {"info": Level.INFO, "warning": Level.WARNING, "error": Level.ERROR}
"""How loud a broker message is shown, by its code's class (``ib_codes.severity``)."""
QUIET_LOGGERS = ("sigma9.sim", "sigma9.ui")
"""The simulator logs its own side; the UI's errors already reach the panel."""


def local_midnight(now: datetime | None = None) -> datetime:
    """Start of the trader's day: what "today's" realized P&L and executions count from."""
    now = (now or datetime.now(timezone.utc)).astimezone()
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


class _LogBridge(QObject):
    record = pyqtSignal(str, str, str)  # level, logger name, message


class PanelLogHandler(logging.Handler):
    """Python ERROR records of Sigma9's loggers into the log panel, from any thread."""

    def __init__(self, log: LogModel) -> None:
        super().__init__(logging.ERROR)
        self.bridge = _LogBridge()
        self.bridge.record.connect(lambda lvl, name, msg: log.append(Level(lvl), name, msg))

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(QUIET_LOGGERS):
            return
        with contextlib.suppress(RuntimeError):  # the panel is gone (shutting down)
            self.bridge.record.emit("ERROR", record.name, record.getMessage())


def trade_activity(manager: Any, symbol: str) -> list[Any]:
    """What each exit leg of ``symbol``'s trade can do now, plus a time stop the ignition
    cancelled ("time stop skipped: ignited at 103.00"), in order-id order."""
    activity = list(manager.leg_activity(symbol))
    # The symbol's live SELL orders (the OMS's index), not every order of the session:
    # current_trade keeps the same ones (live exit legs) either way.
    signal_id, _live = current_trade(manager.live_exits(symbol), symbol)
    if signal_id:
        skipped = skipped_time_stop(manager.legs_of(signal_id), manager.leg_plans)
        if skipped is not None:
            activity.append(skipped)
    return sorted(activity, key=lambda a: (len(a.order_id), a.order_id))


class CoreFeed(QObject):
    ACTIVITY_REFRESH_MS = 1000
    """Once a second: the time stop's countdown ("time stop in 2:41") reads as a clock."""
    POSITIONS_REFRESH_MS = 100
    """Order events, fills and position reports mark the positions dirty; they are rebuilt
    at most once per this interval (a burst of 1,000 order events is one rebuild, not
    1,000: each rebuild reads every open position's legs and the day's books)."""
    order_changed = pyqtSignal(object)  # OrderRecord
    positions_changed = pyqtSignal()
    runner_event = pyqtSignal(str, dict)  # kind, payload
    bar = pyqtSignal(object)  # Bar

    def __init__(self, core: Any, orders: OrdersModel, positions: PositionsModel,
                 executions: ExecutionsModel, log: LogModel,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.orders, self.positions, self.executions, self.log = (
            orders, positions, executions, log)
        self.session_start = local_midnight()
        self._handler = PanelLogHandler(log)
        self._attached = False
        # "Can each leg act now" changes with the clock alone (the open, a time stop's
        # deadline), not only with broker events: re-read it every second.
        self.activity_timer = QTimer(self)
        self.activity_timer.setInterval(self.ACTIVITY_REFRESH_MS)
        self.activity_timer.timeout.connect(self.refresh_positions)
        self.positions_timer = QTimer(self)
        self.positions_timer.setSingleShot(True)
        self.positions_timer.setInterval(self.POSITIONS_REFRESH_MS)
        self.positions_timer.timeout.connect(self.refresh_positions)
        self.trail_watch = TrailWatch(core, parent=self)  # IB's live trailing stop

    # -- wiring ------------------------------------------------------------------------
    def attach(self) -> None:
        core, c = self.core, self.core.connector
        core.manager.subscribe(self.on_manager_event)
        core.runner.subscribe(self.on_runner_event)
        c.connection_state.connect(self.on_connection_state)
        c.broker_message.connect(self.on_broker_message)
        c.order_error.connect(self.on_order_error)
        c.market_data_error.connect(self.on_market_data_error)
        c.tick.connect(self.positions.on_quote)
        logging.getLogger("sigma9").addHandler(self._handler)
        self._attached = True
        self.activity_timer.start()
        self.trail_watch.start()

    def detach(self) -> None:
        if not self._attached:
            return
        core, c = self.core, self.core.connector
        core.manager.unsubscribe(self.on_manager_event)
        core.runner.unsubscribe(self.on_runner_event)
        for signal, slot in ((c.connection_state, self.on_connection_state),
                             (c.broker_message, self.on_broker_message),
                             (c.order_error, self.on_order_error),
                             (c.market_data_error, self.on_market_data_error),
                             (c.tick, self.positions.on_quote)):
            with contextlib.suppress(TypeError):
                signal.disconnect(slot)
        logging.getLogger("sigma9").removeHandler(self._handler)
        self.activity_timer.stop()
        self.positions_timer.stop()
        self.trail_watch.stop()
        self._attached = False

    def load(self) -> None:
        """Fill the tables with this session's part of what the OrderManager knows.

        The journal holds every order and fill ever made; the tables show the working orders
        plus what happened since ``session_start`` (local midnight by default).
        """
        manager, since = self.core.manager, self.session_start
        for record in list(manager.orders.values()):
            when = record.updated_at
            recent = when is None or aware(when) >= since
            if recent or not (record.status.is_final or record.status is OrderStatus.INACTIVE):
                self.orders.update_order(record)
        for fill in manager.fills.values():
            if aware(fill.time) >= since:
                self.executions.update_fill(fill)
        self.refresh_positions()

    def positions_dirty(self) -> None:
        """Rebuild the positions soon (coalesced: see ``POSITIONS_REFRESH_MS``)."""
        if not self.positions_timer.isActive():
            self.positions_timer.start()

    def refresh_positions(self) -> None:
        """Rebuild the positions now (and drop a pending coalesced rebuild)."""
        self.positions_timer.stop()
        manager = self.core.manager
        # The portfolio owns the figures; it books the fills before the session once.
        snapshot = manager.portfolio.day_positions(self.session_start)
        activity = {p.symbol: trade_activity(manager, p.symbol) for p in snapshot if p.quantity}
        self.positions.update_positions(snapshot, activity)
        self.positions_changed.emit()

    # -- OrderManager events -------------------------------------------------------------------
    def on_manager_event(self, event: Event) -> None:
        manager = self.core.manager
        if isinstance(event, OrderUpdated):
            record = manager.orders.get(event.order.order_id)
            if record is not None:
                self._order(record)
        elif isinstance(event, FillReceived):
            fill = manager.fills.get(event.fill.exec_id)
            if fill is not None:
                self.executions.update_fill(fill)
                self.log.append(Level.INFO, "fill", formatting.fill_text(
                    fill.symbol, fill.side, fill.quantity, fill.price, fill.commission,
                    fill.order_id))
            self.positions_dirty()
        elif isinstance(event, PositionsChanged):
            self.positions_dirty()
        else:
            self._manager_message(event)

    def _order(self, record: OrderRecord) -> None:
        known = self.orders.row(record.order_id)
        before = known.get("status") if known is not None else None  # the row is updated
        self.orders.update_order(record)                                # in place below
        if before is not record.status:
            leg = formatting.leg_name(record.role)
            reason = self._why(record)
            why = f": {reason}" if reason else ""
            self.log.append(Level.INFO, "order",
                            f"order {record.order_id} ({record.symbol} {leg} "
                            f"{record.side.value} {formatting.quantity(record.quantity)} "
                            f"{record.order_type.value}) {record.status.value}{why}")
        self.order_changed.emit(record)
        self.positions_dirty()  # the live legs are the positions' protection state

    def _why(self, record: OrderRecord) -> str:
        """Why an order ended, in plain words ("" while it works or when IB said nothing)."""
        if not record.status.is_final:
            return ""
        if record.role is LegRole.TIME_STOP and record.status is OrderStatus.CANCELLED:
            manager = self.core.manager
            skipped = skipped_time_stop(manager.legs_of(base_signal_id(record.signal_id)),
                                        manager.leg_plans)
            if skipped is not None:
                return skipped.sentence.removeprefix(formatting.leg_name(record.role) + " ")
        return plain_reason(record.message or "")

    def _manager_message(self, event: Event) -> None:
        kind, p = event.kind, event.to_dict()
        symbol = p.get("symbol", "")
        if isinstance(event, SignalRefusal):
            self.log.append(Level.WARNING, "oms", f"signal {p.get('signal_id', '?')} "
                            f"({symbol}) refused: {p.get('reason', '')}")
        elif isinstance(event, Alert):
            self.log.append(Level.ALERT, "oms", p.get("message", ""))
        elif isinstance(event, LegRejected):
            leg = formatting.leg_name(p.get("role"))
            self.log.append(Level.ERROR, "oms", f"{symbol} {leg} leg {p.get('order_id')} "
                            f"rejected: {p.get('reason', '')}")
        elif isinstance(event, Reprotected):
            self.log.append(Level.ALERT, "oms", f"{symbol}: exits re-sent "
                            f"({', '.join(p.get('order_ids', []))}): {p.get('reason', '')}")
        elif isinstance(event, Flattened):
            what = symbol or ", ".join(p.get("symbols", [])) or "nothing open"
            self.log.append(Level.ALERT, "oms", f"flattened {what}: {p.get('reason', '')}")
        elif isinstance(event, OrderLost):
            self.log.append(Level.ALERT, "oms", f"{symbol}: order {p.get('order_id')} lost: "
                            f"{p.get('reason', '')}")
        elif isinstance(event, Slippage):
            self.log.append(Level.INFO, "oms", formatting.slippage_text(
                symbol, p.get("fill"), p.get("reference"), p.get("slippage")))
        else:
            self.log.append(Level.INFO, "oms", f"{kind}: {p}")

    # -- StrategyRunner events ---------------------------------------------------------------
    def on_runner_event(self, event: Event) -> None:
        if isinstance(event, BarClosed):
            self.bar.emit(event.bar)
            return
        kind, p = event.kind, event.to_dict()
        self.runner_event.emit(kind, p)
        symbol = p.get("symbol", "")
        if isinstance(event, Armed):
            self.log.append(Level.INFO, "strategy", f"armed on {', '.join(p['symbols'])}")
        elif isinstance(event, ArmFailed):
            self.log.append(Level.ERROR, "strategy", "arming failed: no symbol could be armed")
        elif isinstance(event, Disarmed):
            self.log.append(Level.INFO, "strategy", "disarmed: no new entries (open positions "
                            "keep their exits)")
        elif isinstance(event, (SignalEmitted, SignalIgnored)):
            s = p["signal"]
            note = f" ignored: {p['reason']}" if isinstance(event, SignalIgnored) else ""
            self.log.append(Level.INFO, "strategy", f"signal {s['id']} {s['symbol']} "
                            f"@ {s['reference_price']} ({s.get('reason', '')}){note}")
        elif isinstance(event, EntryFailed):
            self.log.append(Level.WARNING, "strategy", f"signal {p.get('signal_id')} "
                            f"({symbol}) refused: {p.get('reason', '')}")
        elif isinstance(event, EntrySent):
            self.log.append(Level.INFO, "strategy", f"{symbol}: entry order {p['order_id']} "
                            f"for signal {p['signal_id']}")
        elif isinstance(event, (SymbolError, WarmupFailed)):
            level = Level.ERROR if isinstance(event, SymbolError) else Level.WARNING
            self.log.append(level, "strategy", f"{symbol}: {kind.replace('_', ' ')}: "
                            f"{p.get('reason', '')}")
        elif isinstance(event, WarmedUp):
            self.log.append(Level.DEBUG, "strategy", f"{symbol}: {p.get('bars')} bars of "
                            "history")

    # -- connector signals ---------------------------------------------------------------------
    def on_connection_state(self, state: ConnectionState, message: str) -> None:
        self.log.append(CONNECTION_LEVELS.get(state, Level.INFO), "connection", message)

    def on_broker_message(self, code: int, text: str) -> None:
        level = BROKER_LEVELS[ib_codes.severity(code)]
        self.log.append(level, "broker", formatting.broker_text(code, text))

    def on_order_error(self, order_id: str, message: str) -> None:
        self.log.append(Level.ERROR, "broker", f"order {order_id}: {message}")

    def on_market_data_error(self, symbol: str, message: str) -> None:
        self.log.append(Level.ERROR, "market data", f"{symbol}: {message}")
