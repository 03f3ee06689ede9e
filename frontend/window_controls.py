"""The window's menus, keyboard shortcuts and the question before quitting.

Why apart from ``window``: these are the window's *controls*, one table of actions (label,
shortcut, what it does), so each shortcut is also a menu entry and named in its button's
tooltip; the layout and the broker wiring stay in ``window``.

Quitting: Sigma9's exits live at the broker (a server-side OCA group), so closing the window
does not strip a position of its protection, but it does stop the strategy and the
terminal's watch over the trade. A trader who closes the window while armed or holding
shares is therefore asked first, and told that the exits stay at the broker. Flat and
disarmed, the window closes at once.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from PyQt6.QtGui import QAction, QCloseEvent, QKeySequence
from PyQt6.QtWidgets import QApplication, QMenu

from frontend.models.log import Level
from frontend.widgets.row_button import RowButtonDelegate

if TYPE_CHECKING:
    from frontend.window import MainWindow


@dataclass(frozen=True)
class Control:
    menu: str
    label: str
    shortcut: str
    run: Callable[[MainWindow], object]
    tip: str = ""


CONTROLS: tuple[Control, ...] = (
    Control("&Trading", "Order &ticket", "Ctrl+N", lambda w: focus_ticket(w),
            "type a manual order, checked as a signal's entry is"),
    Control("&Trading", "&Close selected position…", "Ctrl+Shift+C",
            lambda w: w._on_close_clicked(),
            "cancel this position's exit group, then sell it at market"),
    Control("&Trading", "Cancel selected &order…", "Delete", lambda w: w._on_cancel_clicked(),
            "cancel the selected order (an exit leg: asks, IB cancels its whole group)"),
    Control("&Trading", "&Flatten all…", "Ctrl+Shift+X", lambda w: w.spawn(w.flatten_all()),
            "cancel every order and close every position at market (asks first)"),
    Control("&Trading", "&Quit", "Ctrl+Q", lambda w: w.close(),
            "quit Sigma9 (asks first while armed or holding shares)"),
    Control("&View", "&Filter the table", "Ctrl+F", lambda w: focus_filter(w),
            "type to filter the table in focus (the orders when none is)"),
    Control("&View", "Light/dark &theme", "Ctrl+Shift+L", lambda w: switch_theme(w),
            "switch between the dark and the light theme ([ui] theme picks it at start)"),
)


def switch_theme(window: MainWindow) -> str:
    """The other theme on the whole window, the chart included; returns its name."""
    from frontend import theme

    name = "light" if theme.current().name == "dark" else "dark"
    theme.apply(name)
    window.chart.apply_theme()
    return name


def with_shortcut(tip: str, shortcut: str) -> str:
    """A tooltip naming its shortcut the way the menus show it: ``... (Ctrl+Shift+X)``."""
    text = QKeySequence(shortcut).toString(QKeySequence.SequenceFormat.NativeText)
    return f"{tip} ({text})"


def install_controls(window: MainWindow) -> dict[str, QAction]:
    """Build the menu bar from :data:`CONTROLS`; the actions by label (for tests, tools)."""
    menus = {}
    actions: dict[str, QAction] = {}
    for control in CONTROLS:
        if control.menu not in menus:
            menus[control.menu] = window.menuBar().addMenu(control.menu)
        action = QAction(control.label, window)
        action.setShortcut(QKeySequence(control.shortcut))
        action.setToolTip(with_shortcut(control.tip, control.shortcut))
        action.setStatusTip(control.tip)
        action.triggered.connect(lambda _checked=False, c=control: c.run(window))
        menus[control.menu].addAction(action)
        actions[control.label.replace("&", "")] = action
    shortcuts = {c.label.replace("&", ""): c for c in CONTROLS}
    for button, label in ((window.flatten_button, "Flatten all…"),
                          (window.close_button, "Close selected position…"),
                          (window.cancel_button, "Cancel selected order…"),
                          (window.ticket.symbol_edit, "Order ticket")):
        control = shortcuts[label]
        button.setToolTip(with_shortcut(button.toolTip() or control.tip, control.shortcut))
    install_close_buttons(window)
    return actions


def install_close_buttons(window: MainWindow) -> RowButtonDelegate:
    """A "Close" button in each open position's row (the Positions model's ``close`` column)."""
    delegate = RowButtonDelegate(
        "Close", lambda symbol: window.spawn(window.actions.close_position(symbol)),
        lambda row: bool(row.get("quantity")),
        "close this position: cancel its exit group, then sell at market (asks first)",
        window)
    column = window.positions.column_index("close")
    window.positions_table.view.setItemDelegateForColumn(column, delegate)
    window.close_row_button = delegate
    return delegate


def focus_ticket(window: MainWindow) -> None:
    window.docks["ticket"].show()
    window.docks["ticket"].raise_()
    window.ticket.symbol_edit.setFocus()
    window.ticket.symbol_edit.selectAll()


def focus_filter(window: MainWindow) -> None:
    """Ctrl+F: the filter box of the table in focus (the orders' when none is)."""
    tables = {"orders": window.orders_table, "positions": window.positions_table,
              "executions": window.executions_table}
    table = focused_table(list(tables.values()), window.orders_table, window.focusWidget())
    window.docks[next(k for k, t in tables.items() if t is table)].raise_()
    table.filter_edit.setFocus()
    table.filter_edit.selectAll()


def focused_table(tables: Sequence, fallback, focus=None):
    """The table holding the keyboard focus (``focus``: the window's focus widget, which
    stays known while the window is inactive), else ``fallback``."""
    focus = focus or QApplication.focusWidget()
    for table in tables:
        if focus is not None and (focus is table or table.isAncestorOf(focus)):
            return table
    return fallback


def quit_question(armed: bool, positions: Sequence[tuple[str, int]]) -> str | None:
    """What to ask before quitting, or None when there is nothing to lose (flat, disarmed)."""
    held = [(symbol, qty) for symbol, qty in positions if qty]
    if not armed and not held:
        return None
    parts = []
    if armed:
        parts.append("The strategy is armed: quitting stops it, so no new entries are made.")
    if held:
        names = ", ".join(f"{qty} {symbol}" for symbol, qty in held)
        parts.append(f"{len(held)} position(s) are open ({names}). Their exit orders stay at "
                     "the broker and keep working after Sigma9 quits; nothing is cancelled "
                     "or sold.")
    return "Quit Sigma9?\n\n" + "\n\n".join(parts)


class QuitGuard:
    """Holds a close while the trader is asked (:func:`quit_question`); a Yes closes again.

    The question goes through the window's injectable ``confirm`` and never blocks the loop:
    the close event is ignored, the question is a task, and a Yes calls ``close`` with
    ``confirmed`` set. Closing again while the question is open asks nothing more.
    """

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        self.confirmed = False
        self.asking = False

    def question(self) -> str | None:
        core = self.window.core
        held = [(p.symbol, p.quantity) for p in core.manager.get_active_positions()]
        return quit_question(bool(core.runner.armed), held)

    def holds(self, event: QCloseEvent) -> bool:
        """True when ``event`` was ignored because the trader is (being) asked."""
        question = None if self.confirmed else self.question()
        if question is None:
            return False
        event.ignore()
        if not self.asking:
            self.asking = True
            self.window.spawn(self._ask(question))
        return True

    async def _ask(self, question: str) -> None:
        w = self.window
        try:
            answer = w.confirm("Quit Sigma9", question)
            if inspect.isawaitable(answer):
                answer = await answer
        finally:
            self.asking = False
        if answer:
            w.close_now()
        else:
            w.log.append(Level.INFO, "terminal", "quit cancelled: the terminal stays open")


def row_menu(window: MainWindow, table: Any, point: Any, label: str,
             act: Callable[[str], Awaitable[Any]]) -> QMenu | None:
    """Right-click selects the row under the pointer and offers the row's action."""
    index = table.view.indexAt(point)
    if not index.isValid():
        return None
    table.view.selectRow(index.row())
    key = table.proxy.key_at(index.row())
    menu = QMenu(table.view)
    menu.addAction(label).triggered.connect(lambda: window.spawn(act(key)))
    window.last_menu = menu
    menu.popup(table.view.viewport().mapToGlobal(point))
    return menu
