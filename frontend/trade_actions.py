"""The trader's hands on one trade: cancel an order, close a position, with IB's real effect said.

Why a module of its own: these are the two places where what the trader clicks and what IB
does differ. A client cancel of one OCA member cancels the whole group (IBKR Campus,
"One-Cancels-All (OCA) Order"; ib-orders R4), so "Cancel order" on the stop of a protected
position would strip all of its protection. The terminal therefore never sends that cancel
on one click: it asks, naming what IB will do ("cancels all protection of 100 AAPL") and
offering to close the position instead. The OMS enforces the same rule
(``OrderManager.cancel`` refuses an exit leg without ``confirm_group``); this is its face.

Questions go through two injectable callables (``confirm`` for yes/no, ``choose`` for a
choice of labelled answers), so tests answer them as a trader would without a modal loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from PyQt6.QtWidgets import QMessageBox, QPushButton, QWidget

from backend.core.cancels import CloseRefused, ExitLegCancelRefused
from frontend.models.log import Level, LogModel

Confirm = Callable[[str, str], "bool | Awaitable[bool]"]
Choose = Callable[[str, str, Sequence[str]], "str | Awaitable[str]"]

CLOSE_POSITION = "Close the position"
CANCEL_PROTECTION = "Cancel all protection"
KEEP = "Keep the order"
"""Answers to the exit-leg question; KEEP is the default, so Enter changes nothing."""


async def ask(parent: QWidget, title: str, text: str) -> bool:
    """A Yes/No question that does not block: ``open()`` plus a future, not ``exec()``."""
    box = QMessageBox(QMessageBox.Icon.Warning, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.No)
    answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
    box.finished.connect(lambda result: answer.done() or answer.set_result(
        result == QMessageBox.StandardButton.Yes.value))
    box.open()
    try:
        return await answer
    finally:
        box.deleteLater()


async def choose_in_box(parent: QWidget, title: str, text: str, answers: Sequence[str]) -> str:
    """A question with labelled answers that does not block (``open()`` plus a future).

    The last answer is the safe default and the Escape answer. Returns the label chosen, or
    the last answer when the box is dismissed.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton,
                      parent)
    buttons: dict[QPushButton, str] = {}
    for label in answers:
        role = (QMessageBox.ButtonRole.RejectRole if label == answers[-1]
                else QMessageBox.ButtonRole.AcceptRole)
        buttons[box.addButton(label, role)] = label
    default = next(b for b, label in buttons.items() if label == answers[-1])
    box.setDefaultButton(default)
    box.setEscapeButton(default)
    answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    def finished(_result: int) -> None:
        if not answer.done():
            answer.set_result(buttons.get(box.clickedButton(), answers[-1]))

    box.finished.connect(finished)
    box.open()
    try:
        return await answer
    finally:
        box.deleteLater()


async def _answer(value: Any) -> Any:
    return await value if inspect.isawaitable(value) else value


class TradeActions:
    """Cancel and close as the window offers them, through the OrderManager only."""

    def __init__(self, manager: Any, log: LogModel, confirm: Confirm, choose: Choose) -> None:
        self.manager, self.log = manager, log
        self.confirm, self.choose = confirm, choose

    async def cancel_order(self, order_id: str) -> list[str]:
        """Cancel ``order_id``; for an exit leg, only after the trader chose what to do.

        Returns the order ids cancels were sent for (empty when nothing was sent).
        """
        try:
            impact = self.manager.cancel_impact(order_id)
        except KeyError:
            return self._cancel_plain(order_id)
        if not impact.is_exit_leg:
            return self._cancel_plain(order_id)
        answers = ([CLOSE_POSITION] if impact.offer_close_position else []) + [
            CANCEL_PROTECTION, KEEP]
        text = impact.sentence + (
            f"\n\nClose the position instead: cancel the exits and sell {impact.shares} "
            f"{impact.symbol} at market." if impact.offer_close_position else "")
        choice = await _answer(self.choose("Cancel an exit leg", text, answers))
        if choice == CLOSE_POSITION:
            await self.close_position(impact.symbol, confirmed=True)
            return list(impact.cancels)
        if choice != CANCEL_PROTECTION:
            self.log.append(Level.INFO, "oms", f"cancel {order_id}: kept, nothing sent")
            return []
        try:
            sent = self.manager.cancel(order_id, confirm_group=True)
        except ExitLegCancelRefused as exc:  # the group changed under the question
            self.log.append(Level.ERROR, "oms", str(exc))
            return []
        self.log.append(Level.ALERT, "oms", f"{impact.symbol}: exit group {impact.group} "
                        f"cancelled at the trader's request ({', '.join(sent)})")
        return sent

    def _cancel_plain(self, order_id: str) -> list[str]:
        try:
            return self.manager.cancel(order_id)
        except Exception as exc:  # a dropped connection: one line, nothing lost
            self.log.append(Level.ERROR, "oms", f"cancel {order_id}: {exc}")
            return []

    async def close_position(self, symbol: str, confirmed: bool = False) -> str:
        """Close ``symbol`` at market after a confirmation naming the shares; '' if not sent."""
        shares = self.manager.position_quantity(symbol)
        if shares <= 0:
            self.log.append(Level.WARNING, "oms", f"close {symbol}: no open position")
            return ""
        if not confirmed:
            legs = len(self.manager.leg_activity(symbol))  # the live exit legs
            question = (f"Close {shares} {symbol} at market?\n\nThis first cancels its "
                        f"{legs} exit order(s) at IB, then sells {shares} shares.")
            if not await _answer(self.confirm("Close position", question)):
                self.log.append(Level.INFO, "oms", f"close {symbol}: not confirmed, nothing sent")
                return ""
        try:
            order_id = await self.manager.close_position(symbol)
        except CloseRefused as exc:
            self.log.append(Level.ERROR, "oms", f"close {symbol}: {exc}")
            return ""
        self.log.append(Level.ALERT, "oms", f"close {symbol}: exits ended, market sell sent "
                        f"(order {order_id})")
        return order_id
