"""The order ticket: a trader's own order, through the same OMS checks as a signal's entry.

Symbol, side, quantity (whole shares), MKT or LMT, and "attach the exit group", on by
default: a BUY with it is sent as a signal's entry is, the entry and its OCA group of stop,
time stop and trail in one transmit chain (``OrderManager.place_manual``). Unticked, it is
one plain order and the position it opens has no exits until Sigma9's reconciliation
protects it.

Why the ticket keeps an id: a second click on Send (or Enter twice) must not buy twice. The
id is the manual signal's (``manual-<id>``), so the OMS refuses the repeat as a duplicate;
a new id is drawn only after an order was sent or the ticket's fields changed.

The confirmation names the order and its exits; it goes through an injectable ``confirm``
(as the window's other questions), and refusals come back as the OMS's one sentence, shown
under the Send button and in the log. Nothing is sent from here but through the manager.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from backend.core.manual_ticket import ManualOrderRefused
from backend.core.trader_desk import new_ticket_id
from frontend.models.log import Level, LogModel

Confirm = Callable[[str, str], "bool | Awaitable[bool]"]
QuoteOf = Callable[[str], Any]
MAX_SHARES = 1_000_000


def order_words(values: dict[str, Any]) -> str:
    """``BUY 100 AAPL at market`` / ``SELL 50 MSFT limit 412.30``: the order as a sentence."""
    how = ("at market" if values["order_type"] == "MKT"
           else f"limit {values['limit_price']}")
    return f"{values['side']} {values['quantity']} {values['symbol']} {how}"


class OrderTicket(QWidget):
    sent = pyqtSignal(list)  # the order ids, entry first

    def __init__(self, manager: Any, log: LogModel, confirm: Confirm,
                 quote_of: QuoteOf = lambda symbol: None,
                 spawn: Callable[[Awaitable[Any]], Any] = asyncio.ensure_future,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.manager, self.log, self.confirm, self.quote_of = manager, log, confirm, quote_of
        self.ticket_id = new_ticket_id()
        self.symbol_edit = QLineEdit()
        self.symbol_edit.setPlaceholderText("symbol, e.g. AAPL")
        self.side_box = QComboBox()
        self.side_box.addItems(["BUY", "SELL"])
        self.quantity_spin = QSpinBox()
        self.quantity_spin.setRange(1, MAX_SHARES)
        self.quantity_spin.setValue(100)
        self.quantity_spin.setSuffix(" sh")
        self.type_box = QComboBox()
        self.type_box.addItems(["MKT", "LMT"])
        self.limit_edit = QLineEdit()
        self.limit_edit.setPlaceholderText("limit price")
        self.attach_box = QCheckBox("attach the exit group")
        self.attach_box.setChecked(True)
        self.attach_box.setToolTip("a BUY goes out with its stop, time stop and trail in one "
                                   "OCA group, as a signal's entry does")
        self.send_button = QPushButton("Send order")
        self.send_button.setToolTip("checks the order as the OMS checks a signal's entry, "
                                    "then asks before sending")
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        form = QFormLayout(self)
        form.addRow("Symbol", self.symbol_edit)
        form.addRow("Side", self.side_box)
        form.addRow("Quantity", self.quantity_spin)
        form.addRow("Type", self.type_box)
        form.addRow("Limit", self.limit_edit)
        form.addRow(self.attach_box)
        form.addRow(self.send_button)
        form.addRow(self.message_label)
        for box in (self.side_box, self.type_box):
            box.currentTextChanged.connect(self._changed)
        for edit in (self.symbol_edit, self.limit_edit):
            edit.textEdited.connect(self._changed)
        self.quantity_spin.valueChanged.connect(self._changed)
        self.send_button.clicked.connect(lambda: spawn(self.submit()))
        self.symbol_edit.returnPressed.connect(self.send_button.click)
        self.attach_box.toggled.connect(self._changed)
        self._sending = False
        self._changed()

    def _changed(self, *_args: Any) -> None:
        """A changed ticket is a new order: a new id (a resend of the same one is refused)."""
        if not self._sending:
            self.ticket_id = new_ticket_id()
        limit = self.type_box.currentText() == "LMT"
        self.limit_edit.setEnabled(limit)
        self.attach_box.setEnabled(self.side_box.currentText() == "BUY")

    def set_symbol(self, symbol: str) -> None:
        if symbol and symbol != self.symbol_edit.text():
            self.symbol_edit.setText(symbol)
            self._changed()

    def values(self) -> dict[str, Any]:
        limit = self.type_box.currentText() == "LMT"
        return {"symbol": self.symbol_edit.text().strip().upper(),
                "side": self.side_box.currentText(),
                "quantity": self.quantity_spin.value(),
                "order_type": self.type_box.currentText(),
                "limit_price": self.limit_edit.text().strip() if limit else None,
                "attach_exits": self.attach_box.isChecked()
                and self.side_box.currentText() == "BUY"}

    def _show(self, text: str, ok: bool) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet("" if ok else "color: #e53935;")

    async def submit(self) -> list[str]:
        """Ask, then send through the OMS; the order ids ([] when refused or declined)."""
        if self._sending:
            return []
        values = self.values()
        words = order_words(values)
        exits = (" with its exit group (stop, time stop and trail in one OCA group)"
                 if values["attach_exits"] else
                 " without exits (a position it opens is UNPROTECTED)" if values["side"] == "BUY"
                 else "")
        answer = self.confirm("Send order", f"Send {words}{exits}?")
        if inspect.isawaitable(answer):
            answer = await answer
        if not answer:
            self._show("not sent", True)
            return []
        quote = self.quote_of(values["symbol"]) if values["symbol"] else None
        reference = getattr(quote, "ask", None) or getattr(quote, "last", None)
        self._sending = True
        self.send_button.setEnabled(False)
        try:
            ids = await self.manager.place_manual(
                values["symbol"], values["side"], values["quantity"],
                order_type=values["order_type"], limit_price=values["limit_price"],
                attach_exits=values["attach_exits"],
                reference_price=Decimal(reference) if reference else None,
                ticket_id=self.ticket_id)
        except ManualOrderRefused as exc:
            self._show(exc.reason, False)
            self.log.append(Level.WARNING, "ticket", f"{words}: {exc.reason}")
            return []
        finally:
            self._sending = False
            self.send_button.setEnabled(True)
        self.ticket_id = new_ticket_id()
        self._show(f"sent: {words} (order {ids[0]})", True)
        self.log.append(Level.INFO, "ticket", f"{words}{exits}: orders {', '.join(ids)}")
        self.sent.emit(ids)
        return ids
