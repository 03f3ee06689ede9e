"""Broker events in: ib_insync's events turned into the connector's Qt signals, guarded.

Split from ``connector`` because this is where whatever the broker sends meets Sigma9, and
no report may take the process down. eventkit logs an exception from a handler with a full
traceback and carries on; a Qt slot's exception goes to ``sys.excepthook``, whose PyQt6
default aborts the process. So every handler here:

* maps first, through ``mapping`` (which checks ``bounds``): a report that does not fit is
  refused whole with a logged one-sentence reason (``AbsurdValue``) and shown to the trader
  as a broker message; nothing downstream sees it. An order we know is then re-read from the
  broker once, so a garbled update does not leave a stale view;
* catches anything else it raises itself, logs it in one line and reports it the same way.

Exceptions inside the OrderManager's slots are caught where they surface: the terminal's
``ErrorReporter`` and headless mode's ``ConsoleReporter`` (``frontend.errors``) both own
``sys.excepthook``, so they show a sentence instead of aborting.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from backend.broker import ib_codes, mapping
from backend.broker.bounds import AbsurdValue

if TYPE_CHECKING:
    from ib_insync import Trade

    from backend.broker.connector import IBKRConnector

log = logging.getLogger("sigma9.broker")

REFUSED_REPORT_CODE = -1
"""The code on ``broker_message`` for a report Sigma9 refused (no IB code is negative)."""

F = TypeVar("F", bound=Callable[..., Any])


def guarded(what: str) -> Callable[[F], F]:
    """Run an event handler so that nothing it raises escapes to ib_insync or Qt."""

    def wrap(handler: F) -> F:
        @functools.wraps(handler)
        def run(self: Inbound, *args: Any) -> Any:
            try:
                return handler(self, *args)
            except AbsurdValue as exc:
                self.refused(what, str(exc), args)
            except Exception as exc:  # a bug of ours: one line, the process carries on
                log.error("handling %s failed (%s: %s); the event was dropped", what,
                          type(exc).__name__, exc)
                self.c.broker_message.emit(
                    REFUSED_REPORT_CODE, f"Sigma9 could not handle {what} and dropped it: "
                    f"{type(exc).__name__}: {exc}")
            return None

        return run  # type: ignore[return-value]

    return wrap


class Inbound:
    """The connector's ib_insync handlers; each emits Sigma9 models or nothing."""

    def __init__(self, connector: IBKRConnector) -> None:
        self.c = connector
        self.rereads: set[str] = set()
        """Orders re-read after a refused report: once each, so a broker that keeps sending
        the same absurd figure cannot make a loop of it."""

    def attach(self) -> None:
        ib = self.c.ib
        ib.orderStatusEvent += self.on_order_status
        ib.commissionReportEvent += self.on_commission
        ib.positionEvent += self.on_position
        ib.errorEvent += self.on_error

    # -- refusing ----------------------------------------------------------------------------
    def refused(self, what: str, reason: str, args: tuple) -> None:
        log.warning("refused %s: %s; the report was dropped", what, reason)
        self.c.broker_message.emit(REFUSED_REPORT_CODE,
                                   f"refused {what}: {reason}; the report was dropped")
        from ib_insync import Trade  # loaded by now: a report came from ib_insync

        trade = next((a for a in args if isinstance(a, Trade)), None)
        if trade is None or not trade.order.orderId:
            return
        order_id = str(trade.order.orderId)
        if order_id in self.rereads or self.c.state.value not in ("connected", "broker_lost"):
            return
        self.rereads.add(order_id)
        self.c._spawn(self.c.codes.reread(order_id))

    # -- the handlers ------------------------------------------------------------------------
    @guarded("an order status")
    def on_order_status(self, trade: Trade) -> None:
        if self.c.codes.undo_local_cancel(trade):
            return
        record = self.c._record(trade)
        self.c.order_status.emit(record)
        if trade.orderStatus.status in ("Cancelled", "ApiCancelled"):
            self.c.order_cancelled.emit(record)

    @guarded("an execution")
    def on_commission(self, trade: Trade, fill: Any, report: Any) -> None:
        self.c.order_filled.emit(mapping.fill_to_record(fill))

    @guarded("a position")
    def on_position(self, position: Any) -> None:
        self.emit_positions()

    def emit_positions(self) -> None:
        self.c.positions_update.emit(self.c.get_positions())

    @guarded("an IB message")
    def on_error(self, req_id: int, code: int, text: str, contract: Any) -> None:
        c = self.c
        if code == 326:
            c.link.on_326()
        rule = ib_codes.rule(code)
        if rule.connection_state is not None:
            c._set_state(rule.connection_state, f"TWS: {text}")
            if code == 1101:
                c._spawn(c.market.resubscribe())
        trade = c._trade(str(req_id)) if req_id > 0 else None
        if trade is not None:
            c.codes.on_order_code(trade, rule, text)
        elif req_id > 0 and c.market.owns_request(req_id):
            c.market.on_error(req_id, code, text)
        else:
            c.broker_message.emit(code, text)
