"""Pure rules for what a drop or a restart left behind (docs/reliability.md "Recovery rules").

Why pure: these decide whether an order is gone and whether a signal may be sent again, the
two places where a wrong answer either leaves a symbol blocked forever or sends a second
entry. Each is a table test (tests/core/test_recovery_rules.py); ``recovery.Recovery``
gathers the facts and acts.
"""

from __future__ import annotations

from collections.abc import Iterable

from backend.core.exit_plan import base_signal_id
from backend.core.models import OrderRecord, OrderStatus

LOST_PREFIX = "lost: "
"""An order marked lost is CANCELLED with a message starting with this (no status of its
own: every edge into CANCELLED already exists in the transition table, and a broker that
later reports the order wins, as for any CANCELLED order)."""
LOST_OUTCOME = "lost"
"""The journal's outcome for a signal whose entry was lost: it was not executed."""


def is_lost(record: OrderRecord) -> bool:
    return record.status is OrderStatus.CANCELLED and record.message.startswith(LOST_PREFIX)


def is_broker_id(order_id: str) -> bool:
    """An id the broker gave (a positive number), not a synthetic one (``pos-AAPL``) nor the
    ``0`` ib_insync shows for completed orders."""
    return order_id.isdigit() and int(order_id) > 0


def lost_orders(orders: Iterable[OrderRecord], known_ids: set[str],
                executed_ids: set[str]) -> list[OrderRecord]:
    """Orders the journal holds as sent and not final that the broker does not know.

    ``known_ids``: every order id the broker reported (open and completed, matched to ours).
    An order with any execution is never lost (its fills are real); it is left to the
    broker's next report instead.
    """
    return [r for r in orders
            if is_broker_id(r.order_id) and not r.status.is_final
            and r.order_id not in known_ids and r.filled == 0
            and r.order_id not in executed_ids]


def broker_holds_signal(signal_id: str, broker_orders: Iterable[OrderRecord]) -> OrderRecord | None:
    """A broker order of ``signal_id`` that is working or has executed, if any: while one
    exists a retry of the signal could make a second entry."""
    for r in broker_orders:
        if base_signal_id(r.signal_id) == signal_id and (not r.status.is_final or r.filled):
            return r
    return None


def retry_refusal(signal_id: str, outcome: str | None, trade: Iterable[OrderRecord],
                  broker_orders: Iterable[OrderRecord]) -> str | None:
    """None if a signal whose entry was lost may be sent again with its id, else why not.

    Allowed only when the journal says the signal was lost, none of its journalled orders is
    working or filled, and the broker (open and completed orders since the last connect)
    holds no working or executed order with its orderRef: so one id never has two entries
    that reach the market.
    """
    if outcome != LOST_OUTCOME:
        return f"signal {signal_id} was not lost (its outcome is {outcome or 'unknown'})"
    for r in trade:
        if not r.status.is_final or r.filled:
            return f"order {r.order_id} of signal {signal_id} is still {r.status.value}"
    held = broker_holds_signal(signal_id, broker_orders)
    if held is not None:
        return (f"the broker still reports order {held.order_id} of signal {signal_id} "
                f"({held.broker_status or held.status.value})")
    return None
