"""The broker's order book: every order ever placed, keyed by (clientId, orderId), indexed.

A session keeps every order it ever placed (completed orders are still reported), so the
book only grows, while matching only cares about the few orders still working on the symbol
that ticked. Scanning the whole book for them made a market step cost symbols x orders
(docs/performance.md). ``OrderBook`` is a plain dict to everyone who reads or writes it
(``order_entry`` adds and replaces orders by key) and keeps three indexes as orders go in:

- the orders not yet done, overall and per symbol (done orders are dropped lazily, when a
  lookup meets them: an order's status changes in many places, but done is final);
- each parent's children, by (clientId, parentId), done ones included, since what a
  parent's exits have closed counts their fills;
- per symbol, the ``calm.Calm`` summary of its working orders, valid until an order of the
  symbol is added or ``stir`` is called.

Lookups return orders in placement order (``seq``), the order matching has always used.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from backend.sim.orders import WorkingOrder

if TYPE_CHECKING:
    from backend.sim.calm import Calm

Key = tuple[int, int]


def _by_seq(order: WorkingOrder) -> int:
    return order.seq


class OrderBook(dict[Key, WorkingOrder]):
    """``dict[(clientId, orderId), WorkingOrder]`` with indexes kept on every write."""

    def __init__(self) -> None:
        super().__init__()
        self._open: dict[Key, WorkingOrder] = {}
        self._on_symbol: dict[str, dict[Key, WorkingOrder]] = {}
        self._families: dict[Key, dict[Key, WorkingOrder]] = {}
        self._conditioned: dict[Key, WorkingOrder] = {}
        self.calm: dict[str, Calm] = {}
        """Symbol -> what its working orders wait for (``calm``); absent: evaluate it."""

    # -- writes (the dict API, indexed) ----------------------------------------------
    def __setitem__(self, key: Key, order: WorkingOrder) -> None:
        old = self.get(key)
        if old is not None and old is not order:
            self._forget(key, old)
        super().__setitem__(key, order)
        symbol = order.instrument.symbol
        self._open[key] = order
        self._on_symbol.setdefault(symbol, {})[key] = order
        if order.spec.parent_id:
            self._families.setdefault((order.client_id, order.spec.parent_id), {})[key] = order
        if order.spec.conditions:
            self._conditioned[key] = order
        self.calm.pop(symbol, None)

    def __delitem__(self, key: Key) -> None:
        self._forget(key, self[key])
        super().__delitem__(key)

    def pop(self, key: Key, *default: Any) -> Any:
        if key in self:
            order = self[key]
            del self[key]
            return order
        if default:
            return default[0]
        raise KeyError(key)

    def clear(self) -> None:
        super().clear()
        self._open.clear()
        self._on_symbol.clear()
        self._families.clear()
        self._conditioned.clear()
        self.calm.clear()

    def _forget(self, key: Key, order: WorkingOrder) -> None:
        symbol = order.instrument.symbol
        self._open.pop(key, None)
        self._conditioned.pop(key, None)
        self._on_symbol.get(symbol, {}).pop(key, None)
        if order.spec.parent_id:
            self._families.get((order.client_id, order.spec.parent_id), {}).pop(key, None)
        self.calm.pop(symbol, None)

    def settle(self, symbol: str, waits: Calm | None, orders: Iterable[WorkingOrder]) -> None:
        """After a full pass over ``orders`` (``symbol``'s): what they wait for, and which
        of them carry conditions (a revision may have added some)."""
        if waits is None:
            self.calm.pop(symbol, None)
        else:
            self.calm[symbol] = waits
        for order in orders:
            if order.spec.conditions and not order.done:
                self._conditioned[order.key] = order

    def stir(self, symbol: str) -> None:
        """Something about ``symbol``'s orders changed off its own pass: evaluate it next."""
        self.calm.pop(symbol, None)

    # -- lookups ------------------------------------------------------------------
    @staticmethod
    def _undone(index: dict[Key, WorkingOrder]) -> list[WorkingOrder]:
        """The index's orders not done, by seq; the done ones leave the index."""
        done = [key for key, order in index.items() if order.done]
        for key in done:
            del index[key]
        return sorted(index.values(), key=_by_seq)

    def not_done(self) -> list[WorkingOrder]:
        """Every order not done (live or buffered), by seq."""
        return self._undone(self._open)

    def not_done_on(self, symbol: str) -> list[WorkingOrder]:
        index = self._on_symbol.get(symbol)
        return self._undone(index) if index else []

    def conditioned(self) -> list[WorkingOrder]:
        """Orders not done that carry conditions, by seq."""
        return self._undone(self._conditioned)

    def symbols_with_orders(self) -> list[str]:
        """Symbols that may have an order not done, sorted (an index emptied by
        ``not_done_on`` drops out; one holding only done orders is pruned by its next look)."""
        return sorted(symbol for symbol, index in self._on_symbol.items() if index)

    def family(self, client_id: int, parent_id: int) -> list[WorkingOrder]:
        """Every order placed with ``parent_id`` as its parent by ``client_id``, by seq."""
        index = self._families.get((client_id, parent_id))
        if not index:
            return []
        return sorted((o for o in index.values() if o.spec.parent_id == parent_id),
                      key=_by_seq)

    def update(self, *args: Any, **kwargs: Any) -> None:  # keep the indexes on bulk writes
        items: Iterable[tuple[Key, WorkingOrder]] = dict(*args, **kwargs).items()
        for key, order in items:
            self[key] = order
