"""The order lifecycle as a transition table: what Sigma9 accepts as an order's next status.

Why a table and not ``if`` chains: the edges *are* the specification. Reading one dict answers
"can a cancelled order still fill?" and the tests walk it row by row.

Why it is so permissive: the statuses come from Interactive Brokers through ib_insync, and both
reorder, repeat and occasionally contradict themselves. An edge that happens in practice must be
accepted (the OrderManager logs it using :data:`SURPRISING_EDGES` and carries on); only an edge
that would mean our own bookkeeping is broken is refused (:func:`apply_update` returns an
:class:`UpdateRefused`; :func:`transition` raises :class:`InvalidTransition`):

- FILLED is terminal: every share is done; nothing IB can later say un-fills it
  (ib_insync ignores errors for done orders, and IB answers a late cancel with error 10148).
- PARTIAL_FILL never goes back to PENDING: executed shares cannot be unexecuted.

``OrderStatus.is_final`` means "not working, as far as we know now"; it does not mean "no edge
leaves it". CANCELLED and ERROR are final yet keep outgoing edges because the broker's later
word beats our earlier guess.

Same-state transitions are always allowed: IB repeats a status whenever ``filled``,
``avgFillPrice`` or ``whyHeld`` changes, and reconnect replays statuses already seen.

Beside the status, the share count is checked (:func:`apply_update`): IB's ``filled`` is
cumulative (the connector takes the most advanced of orderStatus, the executions seen and
``filledQuantity``), so a count that goes down, or above the order's quantity, or below zero,
is a report that cannot be true of one order. The OrderManager stores an update only through
:func:`apply_update`; a refused one is not stored, and is logged and shown to the trader.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from backend.core.models import OrderRecord, OrderStatus

PENDING = OrderStatus.PENDING
PARTIAL_FILL = OrderStatus.PARTIAL_FILL
FILLED = OrderStatus.FILLED
CANCELLED = OrderStatus.CANCELLED
ERROR = OrderStatus.ERROR
INACTIVE = OrderStatus.INACTIVE

TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    # Working (PendingSubmit, PreSubmitted, Submitted, ...): anything can happen next.
    PENDING: frozenset({PENDING, PARTIAL_FILL, FILLED, CANCELLED, ERROR, INACTIVE}),
    PARTIAL_FILL: frozenset({
        PARTIAL_FILL,
        FILLED,
        CANCELLED,  # the unfilled rest is cancelled (by us, by OCA, or by IB); filled stays
        ERROR,      # an unrecognised status string (see backend.broker.mapping)
        INACTIVE,   # IB parks the rest (e.g. a rejected modification); the shares stay filled
    }),
    FILLED: frozenset({FILLED}),
    CANCELLED: frozenset({
        CANCELLED,
        FILLED,        # a fill that raced our cancel arrives after the cancel ack (P8); and
                       # ib_insync marks an order Cancelled *locally* on any non-warning error
                       # for it (ib_insync #328, #502) while IB keeps it live; it then fills
        PARTIAL_FILL,  # the same local cancel, then part of the still-live order executes
        PENDING,       # the same local cancel, then IB's next orderStatus says Submitted
        INACTIVE,      # the same local cancel for a rejection that IB reports as Inactive
        ERROR,         # an unrecognised status string after the local cancel
    }),
    # ERROR is Sigma9's verdict (send failed, status string unknown), not IB's: whatever IB
    # reports afterwards is the truth.
    ERROR: frozenset({ERROR, PENDING, PARTIAL_FILL, FILLED, CANCELLED, INACTIVE}),
    INACTIVE: frozenset({
        INACTIVE,
        PENDING,       # resubmitted (corrected and transmitted again, or released by TWS)
        PARTIAL_FILL,  # resubmitted, then partly filled (or it was partly filled before)
        FILLED,        # resubmitted and filled
        CANCELLED,     # we cancel the parked order, or TWS discards it
        ERROR,
    }),
}

SURPRISING_EDGES: dict[tuple[OrderStatus, OrderStatus], str] = {
    (CANCELLED, FILLED): "filled after a cancel: a fill raced the cancel ack, or ib_insync "
                         "had cancelled the order locally after an error while it was live",
    (CANCELLED, PARTIAL_FILL): "partly filled after a cancel: ib_insync had cancelled the order "
                               "locally after an error while it was still live",
    (CANCELLED, PENDING): "working again after a cancel: ib_insync had cancelled the order "
                          "locally after an error while it was still live",
    (CANCELLED, INACTIVE): "inactive after a local cancel: IB parked the rejected order",
    (CANCELLED, ERROR): "unrecognised broker status after a cancel",
    (ERROR, PENDING): "working again after an error: the broker reports the order live",
    (ERROR, PARTIAL_FILL): "partly filled after an error: the broker reports executions",
    (ERROR, FILLED): "filled after an error: the broker reports the order filled",
    (ERROR, CANCELLED): "cancelled after an error",
    (ERROR, INACTIVE): "inactive after an error",
    (INACTIVE, PENDING): "resubmitted after being inactive",
    (INACTIVE, PARTIAL_FILL): "partly filled after being inactive",
    (INACTIVE, FILLED): "filled after being inactive",
}
"""Allowed edges worth a warning in the log: each means something unusual happened at IB."""


class InvalidTransition(ValueError):
    """An order status change that cannot happen: our bookkeeping, not the market, is wrong."""

    def __init__(self, current: OrderStatus, new: OrderStatus, order_id: str = "") -> None:
        self.current = current
        self.new = new
        self.order_id = order_id
        which = f"order {order_id}" if order_id else "an order"
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[current]))
        super().__init__(
            f"{which} cannot go from {current.value} to {new.value} (allowed: {allowed})")


def transition(current: OrderStatus, new: OrderStatus, order_id: str = "") -> OrderStatus:
    """Return ``new`` if the table allows ``current -> new``, else raise InvalidTransition."""
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(current, new, order_id)
    return new


def surprise(current: OrderStatus, new: OrderStatus) -> str | None:
    """Why an allowed edge is unusual (for a log warning), or None for an ordinary one."""
    return SURPRISING_EDGES.get((current, new))


@dataclasses.dataclass(frozen=True)
class UpdateRefused:
    """An order update that is not stored, and why (one sentence naming the order)."""

    order_id: str
    symbol: str
    current: OrderStatus | None
    new: OrderStatus
    reason: str

    @property
    def edge(self) -> str:
        start = self.current.value if self.current is not None else "new"
        return f"{start} -> {self.new.value}"


def apply_update(known: OrderRecord | None, update: OrderRecord) -> OrderRecord | UpdateRefused:
    """The record to store for ``update`` of ``known`` (None: a first report), or why not.

    The one gate for every change of an order's record: the status edge must be in
    :data:`TRANSITIONS`, and ``filled`` must stay within 0..quantity and never go down.
    """
    def refused(reason: str) -> UpdateRefused:
        return UpdateRefused(update.order_id, update.symbol,
                             known.status if known is not None else None, update.status,
                             f"order {update.order_id} ({update.symbol}): {reason}")

    if update.filled < 0 or update.filled > update.quantity:
        return refused(f"{update.filled} shares filled of an order for {update.quantity}")
    if known is None:
        return update
    if update.status not in TRANSITIONS[known.status]:
        return refused(str(InvalidTransition(known.status, update.status))
                       .removeprefix("an order "))
    if update.filled < known.filled:
        return refused(f"filled cannot go down from {known.filled} to {update.filled} "
                       "(executed shares cannot be unexecuted)")
    return update


def apply_status(record: OrderRecord, new_status: OrderStatus, **changes: Any) -> OrderRecord:
    """A copy of ``record`` in ``new_status`` with ``changes`` applied; the original is untouched.

    Raises InvalidTransition (naming the order) before building anything, so a rejected update
    can never leave a half-changed record behind.
    """
    transition(record.status, new_status, record.order_id)
    return dataclasses.replace(record, status=new_status, **changes)
