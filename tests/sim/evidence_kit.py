"""Helpers for the tests that hold the simulator to IB's live captures.

Each of those tests drives the simulator through the official ``ibapi`` client over TCP
(the client the captures were taken with) and reads what the client received, in order.
``barrier`` makes absence checks honest without sleeping: the simulator answers a
connection's requests in order, so once a later request's reply has arrived every message
the earlier ones caused has arrived too.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from ibapi.order_cancel import OrderCancel

from tests.sim.test_cross_client import ApiApp, _Problems, order, stock

__all__ = ["ApiApp", "order", "stock", "ibapi_client", "statuses", "errors", "wait_status",
           "wait_error", "barrier", "open_orders", "cancel", "global_cancel", "place",
           "first_id", "CANCELLED"]

CANCELLED = "Order Canceled - reason:"
"""IB's 202 text for a cancel, with the empty reason the live captures show."""


@contextmanager
def ibapi_client(sim, client_id: int) -> Iterator[ApiApp]:
    """An ibapi app connected as ``client_id``, greeted, and checked for decode problems."""
    problems = _Problems()
    logging.getLogger("ibapi").addHandler(problems)
    app = ApiApp()
    try:
        app.start(sim.port, client_id)
        app.wait_event("error", lambda _rid, code, _text: code == 2158)
        yield app
    finally:
        app.stop()
        logging.getLogger("ibapi").removeHandler(problems)
    assert app.crash is None, f"ibapi's reader loop died: {app.crash!r}"
    assert problems.records == [], f"ibapi logged decode problems: {problems.records}"


def first_id(app: ApiApp) -> int:
    return app.named("nextValidId")[0][0]


def statuses(app: ApiApp, order_id: int) -> list[str]:
    return [a[1] for a in app.named("orderStatus") if a[0] == order_id]


def status_rows(app: ApiApp, order_id: int) -> list[tuple[Any, ...]]:
    return [a for a in app.named("orderStatus") if a[0] == order_id]


def open_orders(app: ApiApp, order_id: int) -> list[tuple[Any, ...]]:
    """(orderId, contract, order, orderState) per openOrder for ``order_id``."""
    return [a for a in app.named("openOrder") if a[0] == order_id]


def errors(app: ApiApp, order_id: int) -> list[tuple[int, str]]:
    return [(code, text) for rid, code, text in app.named("error") if rid == order_id]


def wait_status(app: ApiApp, order_id: int, status: str, timeout: float = 3.0) -> None:
    app.wait_event("orderStatus", lambda oid, st, *_: oid == order_id and st == status,
                   timeout)


def wait_error(app: ApiApp, order_id: int, code: int, timeout: float = 3.0) -> str:
    return app.wait_event("error", lambda rid, c, _t: rid == order_id and c == code,
                          timeout)[2]


def barrier(app: ApiApp) -> None:
    """Wait until everything the earlier requests of this connection caused has arrived."""
    seen = len(app.named("nextValidId"))
    app.reqIds(-1)
    app.wait_for(lambda events: len([e for e in events if e[0] == "nextValidId"]) > seen,
                 what="reqIds reply (barrier)")


def place(app: ApiApp, order_id: int, action: str, qty: int | Decimal, order_type: str,
          **attrs: Any) -> int:
    app.placeOrder(order_id, stock(), order(action, qty, order_type, **attrs))
    return order_id


def cancel(app: ApiApp, order_id: int) -> None:
    app.cancelOrder(order_id, OrderCancel())


def global_cancel(app: ApiApp) -> None:
    app.reqGlobalCancel(OrderCancel())
