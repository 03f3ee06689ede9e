"""Keep each trailing stop's live stop price: ib_insync forgets it.

Why: a TRAIL order's stop moves at IB as the market rises, and IB reports the current stop
in the ``trailStopPrice`` of each ``openOrder`` it sends for the order (IB's answer to
``reqOpenOrders`` lists every open order with its current fields: capture
``api_open_orders_refresh_aapl``). But ib_insync's ``Wrapper.openOrder``, for an order it
already knows, copies only ``permId``, ``totalQuantity``, ``lmtPrice``, ``auxPrice``,
``orderType`` and ``orderRef`` onto its ``Trade`` and drops the rest, so ``trailStopPrice``
stays at the value sent with the order (ib_async issue #102, "TrailStopPrice is not correct",
confirmed by a second user for ``lmtPriceOffset`` too). The Orders table then showed the
initial stop while the chart followed the market.

:func:`follow_trail_stops` wraps the wrapper's ``openOrder``: before ib_insync handles the
message it copies ``trailStopPrice`` (and ``lmtPriceOffset``) onto the known trade, and when
the stop of a known trailing order changed it calls ``on_moved(trade)``. Whether IB pushes an
``openOrder`` by itself each time a trail ratchets is not shown by any public capture, so the
terminal also re-reads the open orders while a trail is live (``refresh_open_orders``).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ib_insync import IB, Trade

TRAILING_TYPES = frozenset({"TRAIL", "TRAIL LIMIT"})
_KEPT_FIELDS = ("trailStopPrice", "lmtPriceOffset")
_hooked: weakref.WeakSet[Any] = weakref.WeakSet()
"""Wrappers already hooked: installing twice would copy and report twice."""


def follow_trail_stops(ib: IB, on_moved: Callable[[Trade], None]) -> None:
    """Install the ``openOrder`` hook on ``ib``'s wrapper (once per IB instance)."""
    wrapper = ib.wrapper
    if wrapper in _hooked:
        return
    original = wrapper.openOrder

    def open_order(order_id: int, contract: Any, order: Any, order_state: Any) -> None:
        moved: Trade | None = None
        if not getattr(order, "whatIf", False):
            key = wrapper.orderKey(order.clientId, order.orderId, order.permId)
            trade = wrapper.trades.get(key)
            if trade is not None:
                known = trade.order
                if (known.orderType in TRAILING_TYPES
                        and order.trailStopPrice != known.trailStopPrice):
                    moved = trade
                for name in _KEPT_FIELDS:
                    setattr(known, name, getattr(order, name))
        original(order_id, contract, order, order_state)
        if moved is not None:
            on_moved(moved)

    # Deliberately an instance patch: ib_insync's decoder calls ``wrapper.openOrder`` by
    # attribute, and subclassing its Wrapper would mean building IB() differently.
    wrapper.openOrder = open_order  # type: ignore[method-assign, assignment]
    _hooked.add(wrapper)
