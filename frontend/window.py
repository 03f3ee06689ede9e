"""MainWindow: the terminal's layout, and what the trader's clicks do.

Layout: a toolbar with the connection bar and the Flatten-all button; the chart of the
selected symbol in the middle; docks for the strategy panel, orders, positions, executions
and the log (all movable; the layout is remembered). The models are fed by ``CoreFeed``; the
chart by ``ChartPanel``.

Nothing blocks the GUI thread: every broker call is awaited inside an ``@asyncSlot`` (or a
task), on the qasync loop. An exception in a slot reaches ``sys.excepthook``, which the
terminal points at ``frontend.errors.ErrorReporter`` (a dialog, never a silent failure).
Expected failures (a refused connection, a click while disconnected) go to the log panel.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from PyQt6.QtCore import QSettings, Qt, QTimer, pyqtSignal
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QDockWidget,
    QMainWindow,
    QMenu,
    QPushButton,
    QToolBar,
    QWidget,
)
from qasync import asyncSlot

from backend.broker.errors import BrokerError
from backend.core.models import ConnectionState
from frontend import theme
from frontend.chart_panel import ChartPanel
from frontend.chart_slot import PendingChart, install_chart
from frontend.feed import CoreFeed
from frontend.models import ExecutionsModel, Level, LogModel, OrdersModel, PositionsModel
from frontend.models.orders import is_working
from frontend.order_ticket import OrderTicket
from frontend.persistence import (
    TerminalMemory,
    default_qsettings,
    initial_endpoint,
    initial_watchlist,
    memory_scope,
)
from frontend.trade_actions import Choose, TradeActions, ask, choose_in_box
from frontend.widgets.account_strip import AccountStrip
from frontend.widgets.connection_bar import STATE_WORDS, ConnectionBar, is_sim
from frontend.widgets.log_panel import LogPanel
from frontend.widgets.status_bar import TerminalStatusBar
from frontend.widgets.strategy_panel import StrategyPanel, contract_checker
from frontend.widgets.table_view import FilteredTable
from frontend.window_controls import QuitGuard, install_controls, row_menu

log = logging.getLogger("sigma9.ui")
Confirm = Callable[[str, str], "bool | Awaitable[bool]"]


class MainWindow(QMainWindow):
    closed = pyqtSignal()
    SERVER_TIME_INTERVAL_MS = 3000

    def __init__(self, core: Any, settings: Any, mode: str, qsettings: QSettings | None = None,
                 parent: QWidget | None = None, lazy_chart: bool = False) -> None:
        """``lazy_chart``: show a placeholder where the chart goes and build the chart on
        ``install_chart(window)`` (``sigma9`` does once connected: start-up, chart_slot)."""
        super().__init__(parent)
        self.core, self.settings, self.mode = core, settings, mode
        self.memory = TerminalMemory(qsettings or default_qsettings(), memory_scope(mode))
        self.confirm: Confirm = lambda title, text: ask(self, title, text)
        self.choose: Choose = lambda title, text, answers: choose_in_box(self, title, text,
                                                                         answers)
        self._closed = False
        self.quit_guard = QuitGuard(self)
        self._tasks: set[asyncio.Task] = set()
        self.setWindowTitle("Sigma9 (simulator)" if is_sim(mode) else "Sigma9")
        ui = settings.ui
        self.orders = OrdersModel(self, ui.tick_repaint_ms)
        self.positions = PositionsModel(self, ui.tick_repaint_ms)
        self.executions = ExecutionsModel(self, ui.tick_repaint_ms)
        self.log = LogModel(ui.log_max_lines, self)
        self.feed = CoreFeed(core, self.orders, self.positions, self.executions, self.log, self)
        # Late-bound, so a test (or a future dialog style) can replace confirm/choose.
        self.actions = TradeActions(core.manager, self.log,
                                    lambda title, text: self.confirm(title, text),
                                    lambda title, text, answers: self.choose(title, text,
                                                                             answers))
        theme.apply(getattr(ui, "theme", "dark"))  # before _build: the chart reads it (H7)
        self._build()
        self.controls = install_controls(self)
        self.chart_panel = ChartPanel(core, self.chart, ui.tick_repaint_ms, self.spawn, self)
        if not lazy_chart:
            install_chart(self)
        self.chart_panel.symbol_changed.connect(self.memory.save_chart_symbol)  # H7
        self._wire()
        self._restore()
        self.feed.attach()
        self.feed.load()
        self._server_time_task: asyncio.Task | None = None
        self.server_timer = QTimer(self)
        self.server_timer.setInterval(self.SERVER_TIME_INTERVAL_MS)
        self.server_timer.timeout.connect(self.poll_server_time)
        self.server_timer.start()

    # -- layout --------------------------------------------------------------------------
    def _build(self) -> None:
        self.connection_bar = ConnectionBar(self.mode)
        self.flatten_button = QPushButton("FLATTEN ALL")
        self.flatten_button.setToolTip("cancel every order and close every position at market")
        self.flatten_button.setStyleSheet("background: #b71c1c; color: white; "
                                          "font-weight: bold; padding: 4px 12px;")
        toolbar = QToolBar("Connection")
        toolbar.setObjectName("connection_toolbar")
        toolbar.setMovable(False)
        toolbar.addWidget(self.connection_bar)
        toolbar.addWidget(self.flatten_button)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.account_strip = AccountStrip(self.core)
        strip = QToolBar("Account")
        strip.setObjectName("account_toolbar")
        strip.setMovable(False)
        strip.addWidget(self.account_strip)
        self.addToolBarBreak()
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, strip)

        self.chart: Any = PendingChart(self)  # the ChartWidget once installed (chart_slot)
        self.setCentralWidget(self.chart)
        self.strategy_panel = StrategyPanel()
        self.strategy_panel.checker = contract_checker(self.core.connector)
        self.strategy_panel.can_check = self.core.connector.is_connected
        self.strategy_panel.refused.connect(
            lambda text: self.log.append(Level.WARNING, "strategy", text))
        self.strategy_panel.spawn = self.spawn
        self.orders_table = FilteredTable(self.orders, "filter orders",
                                          ("Working only", is_working))
        self.cancel_button = QPushButton("Cancel order")
        self.orders_table.add_widget(self.cancel_button)
        self.positions_table = FilteredTable(self.positions, "filter positions")
        self.close_button = QPushButton("Close position")
        self.close_button.setToolTip("cancel this position's exit group, then sell it at market")
        self.positions_table.add_widget(self.close_button)
        for table in (self.orders_table, self.positions_table):
            table.view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.executions_table = FilteredTable(self.executions, "filter executions")
        self.log_panel = LogPanel(self.log)
        self.ticket = OrderTicket(self.core.manager, self.log,
                                  lambda title, text: self.confirm(title, text),
                                  self.core.connector.market.quote, self.spawn)
        left, bottom, right = (Qt.DockWidgetArea.LeftDockWidgetArea,
                               Qt.DockWidgetArea.BottomDockWidgetArea,
                               Qt.DockWidgetArea.RightDockWidgetArea)
        self.docks = {
            "strategy": self._dock("Strategy", self.strategy_panel, left),
            "ticket": self._dock("Order ticket", self.ticket, left),
            "orders": self._dock("Orders", self.orders_table, bottom),
            "positions": self._dock("Positions", self.positions_table, right),
            "executions": self._dock("Executions", self.executions_table, bottom),
            "log": self._dock("Log and alerts", self.log_panel, right),
        }
        self.tabifyDockWidget(self.docks["orders"], self.docks["executions"])
        self.tabifyDockWidget(self.docks["strategy"], self.docks["ticket"])  # fits 1024x700
        self.docks["strategy"].raise_()
        self.docks["orders"].raise_()
        self._layout_restored = False
        self.first_run_layout()
        self.status = TerminalStatusBar()
        self.setStatusBar(self.status)
        self.resize(1400, 900)

    def first_run_layout(self) -> None:
        """First-run proportions (a remembered layout replaces them): the positions and the
        log need room for their P&L, protection and message columns. Applied again when the
        real chart replaces its placeholder (chart_slot), which otherwise leaves the docks
        the room the placeholder did not take."""
        if self._layout_restored:
            return
        horizontal, vertical = Qt.Orientation.Horizontal, Qt.Orientation.Vertical
        self.resizeDocks([self.docks["strategy"], self.docks["positions"]], [190, 600],
                         horizontal)
        self.resizeDocks([self.docks["positions"], self.docks["log"]], [330, 200], vertical)
        self.resizeDocks([self.docks["orders"]], [260], vertical)

    def _dock(self, title: str, widget: QWidget, area: Qt.DockWidgetArea) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(f"dock_{title.split()[0].lower()}")  # saveState keys
        dock.setWidget(widget)
        self.addDockWidget(area, dock)
        return dock

    def _wire(self) -> None:
        bar, c = self.connection_bar, self.core.connector
        bar.connect_requested.connect(self._on_connect_requested)
        bar.disconnect_requested.connect(self._on_disconnect_requested)
        c.connection_state.connect(self._on_connection_state)
        c.tick.connect(self.chart_panel.on_quote)
        self.flatten_button.clicked.connect(self._on_flatten_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_clicked)
        self.close_button.clicked.connect(self._on_close_clicked)
        self.orders_table.view.customContextMenuRequested.connect(self._orders_menu)
        self.positions_table.view.customContextMenuRequested.connect(self._positions_menu)
        sp = self.strategy_panel
        sp.arm_requested.connect(self._on_arm_requested)
        sp.disarm_requested.connect(self._on_disarm_requested)
        sp.symbol_selected.connect(self.select_symbol)
        sp.watchlist_changed.connect(self.memory.save_watchlist)
        self.feed.runner_event.connect(self._on_runner_event)
        self.feed.bar.connect(self.chart_panel.on_bar)
        self.feed.order_changed.connect(self.chart_panel.schedule)
        for table in (self.orders_table, self.positions_table):
            table.row_selected.connect(lambda row: self.select_symbol(row.get("symbol", "")))

    def _restore(self) -> None:
        broker = self.settings.broker
        self.connection_bar.set_endpoint(*initial_endpoint(broker, self.memory.endpoint(),
                                                           self.mode))
        watchlist = initial_watchlist(self.settings.strategy.watchlist, self.memory.watchlist())
        self.strategy_panel.set_watchlist(watchlist)
        geometry, state = self.memory.layout()
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
            self._layout_restored = True
        self.select_symbol(self.memory.chart_symbol() or (watchlist[0] if watchlist else ""))

    # -- connection ----------------------------------------------------------------------
    async def connect_broker(self) -> bool:
        """Connect with the bar's endpoint, reconcile, resubscribe; False if refused."""
        host, port, client_id = self.connection_bar.endpoint()
        c = self.core.connector
        c.host, c.port, c.client_id = host, port, client_id
        try:
            reprotected = await self.core.start()
        except BrokerError as exc:
            self.log.append(Level.ERROR, "connection", f"could not connect: {exc}")
            return False
        self.memory.save_endpoint(host, port, client_id)
        if reprotected:
            self.log.append(Level.ALERT, "oms", f"re-protected on connect: "
                            f"{', '.join(reprotected)}")
        if c.market.symbols:
            await c.market.resubscribe()
        self.chart_panel.load()
        self.poll_server_time()
        self.spawn(self.strategy_panel.recheck())  # symbols added while disconnected
        return True

    async def disconnect_broker(self) -> None:
        await self.core.connector.disconnect()

    @asyncSlot(str, int, int)
    async def _on_connect_requested(self, host: str, port: int, client_id: int) -> None:
        await self.connect_broker()

    @asyncSlot()
    async def _on_disconnect_requested(self) -> None:
        await self.disconnect_broker()

    def _on_connection_state(self, state: ConnectionState, message: str) -> None:
        self.connection_bar.set_state(state, message)
        if state in (ConnectionState.CONNECTED, ConnectionState.BROKER_LOST):
            self.connection_bar.set_account(self.core.connector.account)
        else:
            self.status.clear_server_time()
        if state is ConnectionState.CONNECTED and message:  # "Connected to 127.0.0.1:4002 …"
            self.status.set_connection(message[:1].upper() + message[1:])
        else:
            self.status.set_connection(f"{STATE_WORDS[state]}: {message}" if message
                                       else STATE_WORDS[state])

    def poll_server_time(self) -> None:
        """Read the broker's clock and latency, one request at a time."""
        if not self.core.connector.is_connected():
            return
        if self._server_time_task is not None and not self._server_time_task.done():
            return
        self._server_time_task = self.spawn(self._read_server_time())

    async def _read_server_time(self) -> None:
        try:
            when, latency = await self.core.connector.server_time()
        except (BrokerError, asyncio.TimeoutError, ConnectionError) as exc:
            self.status.latency_label.setText(f"latency: no answer ({type(exc).__name__})")
            return
        if isinstance(when, datetime):
            self.status.set_server_time(when, latency)

    # -- strategy ------------------------------------------------------------------------
    @asyncSlot(list)
    async def _on_arm_requested(self, watchlist: list) -> None:
        await self.arm(list(watchlist))

    async def arm(self, watchlist: list[str]) -> list[str]:
        if not self.core.connector.is_connected():
            self.log.append(Level.WARNING, "strategy", "not armed: connect to the broker first")
            self.strategy_panel.set_armed(False, message="connect first")
            return []
        try:
            return await self.core.runner.arm(watchlist)
        finally:
            if not self.strategy_panel.arm_button.isEnabled():  # no armed/arm_failed event
                self.strategy_panel.set_armed(self.core.runner.armed)

    def _on_disarm_requested(self) -> None:
        self.core.runner.disarm()

    def _on_runner_event(self, kind: str, payload: dict) -> None:
        if kind == "armed":
            self.strategy_panel.set_armed(True, payload.get("symbols"))
        elif kind == "disarmed":
            self.strategy_panel.set_armed(False)
        elif kind == "arm_failed":
            self.strategy_panel.set_armed(False, message="arming failed: see the log")

    # -- orders --------------------------------------------------------------------------
    @asyncSlot()
    async def _on_flatten_clicked(self) -> None:
        await self.flatten_all()

    async def flatten_all(self) -> bool:
        """Cancel all orders and close all positions, once the trader confirms."""
        if not self.core.connector.is_connected():
            self.log.append(Level.WARNING, "oms", "flatten all: not connected to the broker")
            return False
        # The counts are what the tables show; the OMS acts on the broker's word either way.
        held = [k for k in self.positions.keys if self.positions.rows[k]["quantity"]]
        working = [k for k in self.orders.keys if is_working(self.orders.rows[k])]
        answer = self.confirm("Flatten all", (
            f"Cancel ALL {len(working)} working orders and close ALL {len(held)} "
            "positions at market?"))
        if inspect.isawaitable(answer):
            answer = await answer
        if not answer:
            self.log.append(Level.INFO, "oms", "flatten all: not confirmed, nothing sent")
            return False
        await self.core.manager.flatten_all()
        return True

    @staticmethod
    def _selected_key(table: FilteredTable) -> str | None:
        index = table.view.currentIndex()
        return table.proxy.key_at(index.row()) if index.isValid() else None

    # The actions run as the window's tasks (``spawn``): closing the window waits for them,
    # so none is cut off between cancelling the exits and selling.
    def _on_cancel_clicked(self) -> None:
        order_id = self._selected_key(self.orders_table)
        if order_id is not None:
            self.spawn(self.actions.cancel_order(order_id))

    def _on_close_clicked(self) -> None:
        symbol = self._selected_key(self.positions_table)
        if symbol is not None:
            self.spawn(self.actions.close_position(symbol))

    def _orders_menu(self, point) -> None:
        row_menu(self, self.orders_table, point, "Cancel order…", self.actions.cancel_order)

    def _positions_menu(self, point) -> None:
        row_menu(self, self.positions_table, point, "Close position…",
                 self.actions.close_position)

    def _row_menu(self, table: FilteredTable, point, label: str,
                  act: Callable[[str], Awaitable[Any]]) -> QMenu | None:
        return row_menu(self, table, point, label, act)

    # -- chart ---------------------------------------------------------------------------
    def select_symbol(self, symbol: str) -> None:
        if symbol:
            self.chart_panel.set_symbol(symbol)
            self.memory.save_chart_symbol(self.chart_panel.symbol)
            self.ticket.set_symbol(self.chart_panel.symbol)

    # -- lifecycle -----------------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        """Run ``coro`` as a task whose failure reaches the error dialog (never lost)."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                exc = t.exception()
                sys.excepthook(type(exc), exc, exc.__traceback__)

        task.add_done_callback(done)
        return task

    async def drain(self) -> None:
        """Wait for the tasks that closing cancelled, so none is destroyed while pending."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def close_now(self) -> bool:
        """Close without the quit question (the app is quitting anyway, or a tool asks)."""
        self.quit_guard.confirmed = True
        return self.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self._closed and self.quit_guard.holds(event):  # asked first, not blocking
            return
        if not self._closed:
            self._closed = True
            self.memory.save_layout(self.saveGeometry(), self.saveState())
            self.memory.save_watchlist(self.strategy_panel.watchlist())
            self.memory.sync()
            self.server_timer.stop()
            self.account_strip.timer.stop()
            self.chart_panel.close()
            for task in list(self._tasks):
                task.cancel()
            self.feed.detach()
            self.closed.emit()
        event.accept()
