"""What a cancel tells each order, as IB's live captures show it: pure planning, no I/O.

The broker applies these plans; keeping them here lets the rules be read in one place,
each with the capture (ThomasMarcelis/ibkr-go ``testdata/transcripts``) it reproduces:

- Every cancel answers orderStatus Cancelled, then 202 "Order Canceled - reason:" with an
  *empty* reason, global cancel included (``api_bracket_place_aapl``,
  ``api_order_rest_cancel_161_aapl``). Only two cases carry a reason: an order TWS never
  submitted ("Order was discarded.", ``api_bracket_trailing_stop_aapl`` and
  ``api_order_type_matrix_aapl``) and IB's own price-constraint cancel (``order_rules``).
  The simulator keeps its own cause in ``completed_status``.
- A client's cancel of a working order passes through PendingCancel before Cancelled.
  IB sent PendingCancel for a resting LMT in ``api_order_rest_cancel_aapl`` (April) and
  ``order_lifecycle_sv203_live`` (July), and for MOC and LOC in ``api_order_type_matrix_aapl``
  (June), but went straight to Cancelled for the same kind of LMT in
  ``api_order_rest_cancel_161_aapl`` and ``api_cross_client_cancel_aapl`` (orderStatus is
  not sent for every transition, ib-orders P8). The simulator always sends the fuller
  sequence; the conformance comparison lets IB leave the PendingCancel out
  (``tests/conformance/replay.py``, ``OPTIONAL_TRANSIENTS``). Cancels the system makes of
  a working order go the same way: IOC expiry (``api_ioc_fok_aapl``), IB's price
  constraint, and OCA siblings of an execution (a paper report, ib-orders R4). A global
  cancel goes straight to Cancelled (``api_bracket_place_aapl``: no capture shows a
  PendingCancel for one).
- A client's cancel of one OCA member cancels the whole group, bracket groups included
  (``api_hedge_order_aapl``: cancelling one child cancelled its sibling; a Gateway probe in
  deepentropy/ibx #343); a member the system cancels or rejects does not (IBKR Campus,
  "One-Cancels-All (OCA) Order").
- Global cancel: an order already cancelled or filled answers 161 (cancelled:
  ``api_order_rest_cancel_161_aapl``, ``order_lifecycle_sv203_live``; filled: each of the
  six filled orders of ``api_order_fill_aapl``, June 2026); an order never submitted is
  reported Cancelled + 202 "Order was discarded." and then 161 as well; untransmitted
  children of a discarded parent go silently (``api_bracket_trailing_stop_aapl``: the LMT
  child got no message, only later global cancels' 161).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

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
    """A client's cancel reports PendingCancel first for every order TWS submitted (an
    unsubmitted one is discarded at once: ``Broker._cancel``)."""
    return not unsubmitted(order)


@dataclass(frozen=True)
class GlobalStep:
    order: WorkingOrder
    action: str
    """'161' (already cancelled or filled), 'discard' (never submitted: 202 discarded, then 161) or
    'cancel' (working: Cancelled + 202)."""


def global_cancel_plan(orders: Iterable[WorkingOrder]) -> list[GlobalStep]:
    """One step per order the global cancel speaks to, in placement order. Inactive
    orders are not addressed (no capture shows one answered)."""
    steps: list[GlobalStep] = []
    for order in sorted(orders, key=lambda o: o.seq):
        if order.status in ("Cancelled", "Filled"):
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
