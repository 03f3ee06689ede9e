"""What a cancel tells each order, as IB's live captures show it: pure planning, no I/O.

The broker applies these plans; keeping them here lets the rules be read in one place,
each with the capture (ThomasMarcelis/ibkr-go ``testdata/transcripts``) it reproduces:

- Every cancel answers orderStatus Cancelled, then 202 "Order Canceled - reason:" with an
  *empty* reason, global cancel included (``api_bracket_place_aapl``,
  ``api_order_rest_cancel_161_aapl``). Only two cases carry a reason: an order TWS never
  submitted ("Order was discarded.", ``api_bracket_trailing_stop_aapl`` and
  ``api_order_type_matrix_aapl``) and IB's own price-constraint cancel (``order_rules``).
  The simulator keeps its own cause in ``completed_status``.
- A client's cancel of a resting order goes straight to Cancelled (the captures above and
  ``api_order_relative_cancel_aapl``); MOC and LOC pass through PendingCancel first
  (``api_order_type_matrix_aapl``, June and August); so do cancels the system makes of a
  working order: IOC expiry (``api_ioc_fok_aapl``), IB's price constraint, and OCA siblings
  of an execution (a paper report, ib-orders R4).
- A client's cancel of one OCA member cancels the whole group, bracket groups included
  (``api_hedge_order_aapl``: cancelling one child cancelled its sibling; a Gateway probe in
  deepentropy/ibx #343); a member the system cancels or rejects does not (IBKR Campus,
  "One-Cancels-All (OCA) Order").
- Global cancel: an order already cancelled answers 161; an order never submitted is
  reported Cancelled + 202 "Order was discarded." and then 161 as well; untransmitted
  children of a discarded parent go silently (``api_bracket_trailing_stop_aapl``: the LMT
  child got no message, only later global cancels' 161).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from backend.sim import order_types
from backend.sim.orders import WorkingOrder

CANCEL_TEXT = "Order Canceled - reason:"
DISCARDED = "Order was discarded."
NOT_CANCELLABLE = 161


def not_cancellable_text(perm_id: int) -> str:
    return f"Cancel attempted when order is not in a cancellable state.  Order permId ={perm_id}"


def cancel_text(public_reason: str = "") -> str:
    return CANCEL_TEXT + public_reason


def unsubmitted(order: WorkingOrder) -> bool:
    """Known to TWS but never released: untransmitted, or kept back after a 387."""
    return order.buffered or order.discarded


def pending_on_client_cancel(order: WorkingOrder) -> bool:
    """Auction orders wait for the exchange to confirm a cancel (PendingCancel first)."""
    return order_types.kind(order.spec.order_type).waits_for == "close"


@dataclass(frozen=True)
class GlobalStep:
    order: WorkingOrder
    action: str
    """'161' (already cancelled), 'discard' (never submitted: 202 discarded, then 161) or
    'cancel' (working: Cancelled + 202)."""


def global_cancel_plan(orders: Iterable[WorkingOrder]) -> list[GlobalStep]:
    """One step per order the global cancel speaks to, in placement order. Filled and
    Inactive orders are not addressed (no capture shows them answered)."""
    steps: list[GlobalStep] = []
    for order in sorted(orders, key=lambda o: o.seq):
        if order.status == "Cancelled":
            steps.append(GlobalStep(order, "161"))
        elif unsubmitted(order) and not order.done:
            steps.append(GlobalStep(order, "discard"))
        elif not order.done:
            steps.append(GlobalStep(order, "cancel"))
    return steps


def group_cancel_targets(order: WorkingOrder,
                         siblings: Iterable[WorkingOrder]) -> list[WorkingOrder]:
    """The order a client cancels and its live OCA siblings, in placement order (the hedge
    capture reports the earlier sibling first)."""
    return sorted([order, *(s for s in siblings if not s.done)], key=lambda o: o.seq)
