"""StrategyPanel: the Arm/Disarm toggle and the watchlist it arms.

The toggle shows what the StrategyRunner *is*, not what was clicked: a click emits a request
and disables the button until the runner answers (``set_armed``), so a failed arm never
leaves a button that says "armed". The watchlist cannot be edited while armed: the runner
subscribed and warmed up exactly those symbols, and a silent mismatch between the list on
screen and what is being watched is worse than asking the trader to disarm first.

A symbol is checked when it is added (issue 11: ZZZQX was accepted, then silently skipped at
arming). ``checker`` (the window's: a contract lookup at the broker) answers, per symbol, why
it is refused ("is not a stock the broker knows") or nothing; a refused symbol is not added
and the sentence is shown under the list and emitted (``refused``, the window logs it).
Without a checker, or while disconnected (the window's checker then says nothing), the symbol
is added as typed, and :meth:`StrategyPanel.recheck` (run by the window on connecting) marks
any the broker does not know, so none is skipped at arming without a word.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtGui import QBrush, QColor
from PyQt6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)


def parse_symbols(text: str) -> list[str]:
    """``"aapl, msft tsla"`` -> ``["AAPL", "MSFT", "TSLA"]``: commas or spaces, no repeats."""
    return list(dict.fromkeys(s.upper() for s in text.replace(",", " ").split()))


class StrategyPanel(QWidget):
    arm_requested = pyqtSignal(list)  # the watchlist
    disarm_requested = pyqtSignal()
    symbol_selected = pyqtSignal(str)
    watchlist_changed = pyqtSignal(list)
    refused = pyqtSignal(str)  # one sentence per symbol the broker does not know

    def __init__(self, watchlist: list[str] | tuple[str, ...] = (),
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.armed = False
        self.arm_button = QPushButton("Arm")
        self.arm_button.setCheckable(True)
        self.arm_button.setMinimumHeight(36)
        self.arm_button.clicked.connect(self._on_toggle)
        self.status_label = QLabel("disarmed")
        self.note_label = QLabel("")
        self.note_label.setWordWrap(True)
        self.checker: Callable[[list[str]], Awaitable[dict[str, str]]] | None = None
        self.checking: asyncio.Task | None = None
        self.can_check: Callable[[], bool] = lambda: True
        """Whether ``checker`` can answer now (the window's: connected to the broker)."""
        self.spawn: Callable[[Awaitable[None]], asyncio.Task] = asyncio.ensure_future
        """Runs the check (the window's ``spawn``: closing waits for it, failures reported)."""
        self.list = QListWidget()
        self.list.currentTextChanged.connect(self._on_current)
        self.symbol_edit = QLineEdit()
        self.symbol_edit.setPlaceholderText("add symbols, e.g. AAPL, MSFT")
        self.symbol_edit.setMinimumWidth(140)
        self.symbol_edit.returnPressed.connect(self.add_from_edit)
        self.add_button = QPushButton("Add")
        self.add_button.clicked.connect(self.add_from_edit)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)

        layout = QVBoxLayout(self)
        layout.addWidget(self.arm_button)
        layout.addWidget(self.status_label)
        layout.addWidget(QLabel("Watchlist"))
        layout.addWidget(self.list, 1)
        layout.addWidget(self.symbol_edit)
        layout.addWidget(self.note_label)
        row = QHBoxLayout()
        row.addWidget(self.add_button)
        row.addWidget(self.remove_button)
        layout.addLayout(row)
        self.set_watchlist(list(watchlist))
        self._show()

    # -- watchlist -----------------------------------------------------------------------------
    def watchlist(self) -> list[str]:
        return [self.list.item(i).text() for i in range(self.list.count())]

    def set_watchlist(self, symbols: list[str]) -> None:
        self.list.clear()
        self.list.addItems(list(dict.fromkeys(s.strip().upper() for s in symbols if s.strip())))
        self.watchlist_changed.emit(self.watchlist())

    def add_from_edit(self) -> None:
        new = [s for s in parse_symbols(self.symbol_edit.text()) if s not in self.watchlist()]
        self.symbol_edit.clear()
        self.note_label.setText("")
        if not new:
            return
        if self.checker is None or not self.can_check():  # added as typed, checked later
            self._add(new, {})
            return
        self.checking = self.spawn(self._add_checked(new, self.checker))

    async def _add_checked(self, new: list[str],
                           checker: Callable[[list[str]], Awaitable[dict[str, str]]]) -> None:
        self.note_label.setText(f"checking {', '.join(new)}…")
        try:
            refused = await checker(new)
        except Exception as exc:  # the check itself failed: add nothing, say why
            self.note_label.setText(f"{', '.join(new)} not added: the check failed ({exc}).")
            return
        self._add([s for s in new if s not in refused], refused)

    def _add(self, symbols: list[str], refused: dict[str, str]) -> None:
        fresh = [s for s in symbols if s not in self.watchlist()]
        if fresh:
            self.list.addItems(fresh)
            self.watchlist_changed.emit(self.watchlist())
        self._say([f"{symbol} {why}, so it was not added." for symbol, why in refused.items()])

    def _say(self, sentences: list[str]) -> None:
        self.note_label.setText(" ".join(sentences))
        self.note_label.setStyleSheet("color: #e53935;" if sentences else "")
        for sentence in sentences:
            self.refused.emit(sentence)

    async def recheck(self) -> dict[str, str]:
        """Check the whole list (after connecting): unknown symbols are marked and named."""
        if self.checker is None or not self.can_check() or not self.watchlist():
            return {}
        refused = await self.checker(self.watchlist())
        for i in range(self.list.count()):
            item = self.list.item(i)
            bad = item.text() in refused
            item.setForeground(QColor("#e53935") if bad else QBrush())
            item.setToolTip(f"{item.text()} {refused[item.text()]}" if bad else "")
        self._say([f"{symbol} {why}: arming will skip it; remove it from the watchlist."
                   for symbol, why in refused.items()])
        return refused

    def remove_selected(self) -> None:
        for item in self.list.selectedItems():
            self.list.takeItem(self.list.row(item))
        self.watchlist_changed.emit(self.watchlist())

    def _on_current(self, text: str) -> None:
        if text:
            self.symbol_selected.emit(text)

    # -- arm / disarm ----------------------------------------------------------------------
    def _on_toggle(self, checked: bool) -> None:
        self.arm_button.setEnabled(False)
        self.arm_button.setChecked(self.armed)  # the runner's answer decides, not the click
        if self.armed:
            self.status_label.setText("disarming…")
            self.disarm_requested.emit()
        else:
            self.status_label.setText("arming…")
            self.arm_requested.emit(self.watchlist())

    def set_armed(self, armed: bool, symbols: list[str] | None = None,
                  message: str = "") -> None:
        """What the runner reported; re-enables the toggle."""
        self.armed = armed
        if message:
            self.status_label.setText(message)
        elif armed:
            self.status_label.setText(f"armed on {', '.join(symbols or self.watchlist())}")
        else:
            self.status_label.setText("disarmed")
        self._show()

    def _show(self) -> None:
        self.arm_button.setEnabled(True)
        self.arm_button.setChecked(self.armed)
        self.arm_button.setText("Disarm" if self.armed else "Arm")
        self.arm_button.setStyleSheet(
            "background: #2e7d32; color: white; font-weight: bold;" if self.armed else "")
        for widget in (self.symbol_edit, self.add_button, self.remove_button):
            widget.setEnabled(not self.armed)


def contract_checker(connector: object) -> Callable[[list[str]], Awaitable[dict[str, str]]]:
    """A ``StrategyPanel.checker`` asking the broker for each symbol's stock contract.

    While disconnected it says nothing (the symbol is added as typed; connecting rechecks).
    """
    from backend.broker.errors import UnknownSymbol

    async def check(symbols: list[str]) -> dict[str, str]:
        if not connector.is_connected():  # type: ignore[attr-defined]
            return {}
        refused: dict[str, str] = {}
        for symbol in symbols:
            try:
                await connector.contract_info(symbol)  # type: ignore[attr-defined]
            except UnknownSymbol:
                refused[symbol] = "is not a stock the broker knows"
            except Exception as exc:
                refused[symbol] = f"could not be checked by the broker ({exc})"
        return refused

    return check
