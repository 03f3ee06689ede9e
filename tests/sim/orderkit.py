"""Small helpers shared by the simulator's order tests (not fixtures: plain functions).

They keep the tests about IB behaviour rather than plumbing: waiting for a status
the client must see, letting in-flight messages arrive before asserting that
nothing happened, and writing IB's time formats from the simulator's clock.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

from ib_insync import IB, Trade

from tests.sim.conftest import wait_until

SETTLE_S = 0.12
"""Long enough for a few 50 ms ticks and their messages to reach the client."""


def dec(value: object) -> Decimal:
    return Decimal(str(value))


def wait_status(ib: IB, trade: Trade, status: str, timeout: float = 3.0) -> None:
    wait_until(ib, lambda: trade.orderStatus.status == status, timeout,
               what=f"order {trade.order.orderId} to be {status} "
                    f"(is {trade.orderStatus.status}, log {log_statuses(trade)})")


def settle(ib: IB, seconds: float = SETTLE_S) -> None:
    """Let ticks run and messages arrive, before asserting that something did NOT happen."""
    ib.sleep(seconds)


def log_statuses(trade: Trade) -> list[str]:
    return [entry.status for entry in trade.log]


def ib_time(epoch: float, dashed: bool = False) -> str:
    """``YYYYMMDD HH:MM:SS UTC`` or, with ``dashed``, the API 10.18 ``YYYYMMDD-HH:MM:SS``."""
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    if dashed:
        return moment.strftime("%Y%m%d-%H:%M:%S")
    return moment.strftime("%Y%m%d %H:%M:%S") + " UTC"
