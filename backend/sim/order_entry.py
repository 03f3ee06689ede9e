"""Placing and modifying orders: validation, transmit chains, brackets' default OCA.

Split from ``broker.py`` because entry is where TWS's rules about ids, parents and
untransmitted chains live, and it reads best on its own. ``Broker`` owns an ``OrderEntry``
and hands it an ``EntryContext``: the book it writes, what it reads, and the few broker
steps it triggers once an order is admitted. Nothing else of the broker is visible here.
Everything runs on the server's loop thread, like the broker.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from backend.sim import entry_rules, order_rules, order_types
from backend.sim.account import Account
from backend.sim.activation import follow_trail_limit
from backend.sim.book import OrderBook
from backend.sim.clock import SimClock
from backend.sim.config import SimConfig
from backend.sim.market import Market
from backend.sim.matching import Touch
from backend.sim.models import Instrument, OrderSpec
from backend.sim.oca import OcaBook
from backend.sim.order_types import TRAILING_TYPES
from backend.sim.orders import WorkingOrder
from backend.sim.sessions import SessionRules
from backend.sim.validation import Rejection, check_buying_power, rejected, validate_spec

if TYPE_CHECKING:  # broker.py imports this module
    from backend.sim.broker import BrokerListener


class CancelOrder(Protocol):
    """``Broker._cancel``: ends an order (and cuts its children) as TWS reports it."""

    def __call__(self, order: WorkingOrder, cause: str, public_reason: str = "",
                 pending: bool = False) -> None: ...


@dataclass(frozen=True)
class EntryContext:
    """Everything order entry uses of the broker, named, so the coupling is this list."""

    config: SimConfig
    market: Market
    clock: SimClock
    sessions: SessionRules
    oca: OcaBook
    account: Account
    listener: BrokerListener
    orders: OrderBook
    """The broker's book, keyed by (clientId, orderId); entry adds and replaces orders."""
    highest_id: dict[int, int]
    """The highest order id each client has used (103 for a reused one; nextValidId)."""
    halted: set[str]
    """Symbols in a trading halt (control.py adds and removes them)."""
    marks: Callable[[], dict[int, Decimal]]
    parent: Callable[[WorkingOrder], WorkingOrder | None]
    touch: Callable[[Instrument], Touch]
    settle_hold: Callable[[WorkingOrder], None]
    """Re-derive whyHeld and the status without announcing them: the echo follows."""
    start_trail: Callable[[WorkingOrder], None]
    evaluate: Callable[[str], None]
    """Match a symbol's live orders now (a released or revised order may execute)."""
    cancel: CancelOrder
    report_error: Callable[[WorkingOrder, int, str], None]
    """An order's error to its owner and to the clients that cancelled it."""


class OrderEntry:
    """placeOrder for ``Broker``: new orders, transmit chains and revisions."""

    def __init__(self, ctx: EntryContext) -> None:
        self.ctx = ctx
        self._reject_queue: list[tuple[Rejection, Callable[[OrderSpec], bool]]] = []
        self._warn_queue: list[tuple[int, str, Callable[[OrderSpec], bool]]] = []
        self._warnings_due: dict[tuple[int, int], tuple[int, str]] = {}
        self._seq = itertools.count(1)
        """Placement order across clients: the order the broker matches and lists in."""
        self._perm = itertools.count(ctx.config.seed * 1000 + 1_000_001)

    # -- control hooks -------------------------------------------------------
    def reject_next(self, code: int, text: str,
                    match: Callable[[OrderSpec], bool] | None = None) -> None:
        inactive = code in (201, 110)
        self._reject_queue.append((Rejection(code, text, inactive), match or (lambda _s: True)))

    def warn_next(self, code: int, text: str,
                  match: Callable[[OrderSpec], bool] | None = None) -> None:
        """Send ``code`` for the next matching order once it is released, changing nothing.

        IB sends many codes that leave the order working (399, 2109, 10349: ib-orders.md
        R12); this lets a test send any of them, or one no table knows, for a chosen leg.
        """
        self._warn_queue.append((code, text, match or (lambda _s: True)))

    # -- placing -----------------------------------------------------------
    def place(self, client_id: int, spec: OrderSpec) -> None:
        existing = self.ctx.orders.get((client_id, spec.order_id))
        if existing is not None and not existing.buffered:
            self._modify(existing, spec)
            return
        if existing is None and spec.order_id <= self.ctx.highest_id.get(client_id, 0):
            self.ctx.listener.order_error(client_id, spec.order_id, 103, "Duplicate order id")
            return
        inst = self._resolve(spec)
        if inst is not None:  # read before any check (api_algo_variants_aapl.sv225 460)
            for code, text in self.ctx.sessions.algo_warnings(spec, inst, self.ctx.clock.now()):
                self.ctx.listener.order_error(client_id, spec.order_id, code, text)
        rejection = (self._take_scripted_rejection(spec)
                     or validate_spec(spec, inst, self._listed_con_ids(), self.ctx.config.account)
                     or self._check_parent(client_id, spec)
                     or self._check_oca_name(spec)
                     or (self._check_margin(spec, inst) if inst else None))
        self.ctx.highest_id[client_id] = max(self.ctx.highest_id.get(client_id, 0), spec.order_id)
        if rejection is not None:
            self._reject(client_id, spec, inst, rejection)
            if existing is not None:
                self.ctx.orders.pop(existing.key, None)
            return
        assert inst is not None
        order = WorkingOrder(spec, client_id, next(self._perm), inst, next(self._seq),
                             self.ctx.clock.now())
        if existing is not None:
            order.perm_id, order.seq = existing.perm_id, existing.seq
        if not spec.account:
            spec.account = self.ctx.config.account
        order.entry_warnings = entry_rules.normalise(spec, self._parent_spec(client_id, spec))
        self.ctx.orders[order.key] = order
        self._script_warning(order)
        if not spec.transmit:
            order.buffered = True
            return
        self._release(order)

    def _resolve(self, spec: OrderSpec) -> Instrument | None:
        c = spec.contract
        if c.sec_type and c.sec_type.upper() != "STK":
            return None
        return self.ctx.market.find(c.symbol, c.con_id)

    def _listed_con_ids(self) -> set[int]:
        """Conditions may watch any listed contract, not only the one being traded."""
        return {s.instrument.con_id for s in self.ctx.market.symbols.values()}

    def _take_scripted_rejection(self, spec: OrderSpec) -> Rejection | None:
        for i, (rejection, match) in enumerate(self._reject_queue):
            if match(spec):
                del self._reject_queue[i]
                return rejection
        return None

    def _script_warning(self, order: WorkingOrder) -> None:
        for i, (code, text, match) in enumerate(self._warn_queue):
            if match(order.spec):
                del self._warn_queue[i]
                self._warnings_due[order.key] = (code, text)
                return

    def _check_parent(self, client_id: int, spec: OrderSpec) -> Rejection | None:
        if not spec.parent_id:
            return None
        parent = self.ctx.orders.get((client_id, spec.parent_id))
        if parent is None or (parent.done and parent.filled == 0):
            return rejected(f"Parent order {spec.parent_id} is not working")
        problem = (order_rules.trail_parent_error(spec.order_type, parent.spec.order_type)
                   or (order_rules.hedge_error(spec.hedge_type, spec.parent_id,
                                               parent.instrument.sec_type)
                       if spec.hedge_type else None))
        return Rejection(problem.code, problem.text) if problem is not None else None

    def _parent_spec(self, client_id: int, spec: OrderSpec) -> OrderSpec | None:
        parent = self.ctx.orders.get((client_id, spec.parent_id)) if spec.parent_id else None
        return parent.spec if parent is not None else None

    def _check_oca_name(self, spec: OrderSpec) -> Rejection | None:
        """OCA names are single-use (``oca``); a bracket child's own group is TWS's."""
        account = spec.account or self.ctx.config.account
        if spec.oca_group and self.ctx.oca.finished(account, spec.oca_group):
            return rejected(entry_rules.OCA_REUSED.format(name=spec.oca_group))
        return None

    def _check_margin(self, spec: OrderSpec, inst: Instrument) -> Rejection | None:
        """Opening exposure must fit intraday buying power; attached orders only close."""
        if spec.parent_id:
            return None
        pos = self.ctx.account.positions.get(inst.con_id)
        return check_buying_power(
            spec, pos.qty if pos else Decimal(0), spec.lmt_price or self.ctx.market.quote(
                inst.symbol).ask, self.ctx.account.values(self.ctx.marks())["AvailableFunds"])

    def _reject(self, client_id: int, spec: OrderSpec, inst: Instrument | None,
                rejection: Rejection) -> None:
        self.ctx.listener.order_error(client_id, spec.order_id, rejection.code, rejection.text)
        if rejection.discarded and inst is not None:
            order = WorkingOrder(spec, client_id, next(self._perm), inst, next(self._seq),
                                 self.ctx.clock.now(), discarded=True)
            self.ctx.orders[order.key] = order
            return
        if rejection.inactive and inst is not None:
            order = WorkingOrder(spec, client_id, next(self._perm), inst, next(self._seq),
                                 self.ctx.clock.now(), status="Inactive")
            order.completed_time, order.completed_status = self.ctx.clock.now(), rejection.text
            self.ctx.orders[order.key] = order
            self.ctx.listener.order_update(order, open_order=True)

    def _release(self, order: WorkingOrder) -> None:
        """A transmit=True message releases its buffered parent and siblings with it."""
        chain = [order]
        if order.spec.parent_id:
            parent = self.ctx.orders.get((order.client_id, order.spec.parent_id))
            siblings = [o for o in self.ctx.orders.family(order.client_id, order.spec.parent_id)
                        if o.buffered and o is not order]
            chain = ([parent] if parent is not None and parent.buffered else []) + siblings + chain
        chain += [o for o in self.ctx.orders.family(order.client_id, order.order_id)
                  if o.buffered and o not in chain]
        for item in sorted(chain, key=lambda o: o.seq):
            if item.done:  # cancelled with a price-capped parent a moment ago
                continue
            item.buffered = False
            warnings = self.ctx.sessions.admit(item.spec, item.instrument, self.ctx.clock.now())
            self._default_bracket_oca(item)
            self.ctx.oca.add(item)
            self.ctx.settle_hold(item)
            self._held_only_by_trigger(item)
            self.ctx.start_trail(item)
            if item.status == "Submitted":  # TWS echoes it PreSubmitted first (R11)
                item.status, item.fresh = "PreSubmitted", True
            self.ctx.listener.order_update(item, open_order=True)
            for code, text in [*warnings, *item.entry_warnings]:  # 2109/399/2174 follow the echo
                self.ctx.listener.order_error(item.client_id, item.order_id, code, text)
            self._price_capped(item) or self._algo_after_close(item)
            if item.key in self._warnings_due:
                self.ctx.listener.order_error(item.client_id, item.order_id,
                                          *self._warnings_due.pop(item.key))
        self.ctx.evaluate(order.instrument.symbol)

    def _held_only_by_trigger(self, order: WorkingOrder) -> None:
        """A stop child whose parent executes on release is echoed whyHeld ``trigger``, not
        ``child,trigger``: ``api_bracket_trigger_aapl`` (April 2026, regular hours) reported
        the STP child of a MKT parent ``trigger`` from its first status, while
        ``api_bracket_place_aapl.sv225`` reported the STP child of a resting LMT parent
        ``child,trigger``. A LMT child says ``child`` in both (orders 48 and 569)."""
        parent = self.ctx.parent(order)
        if order.why_held != "child,trigger" or parent is None or parent.done \
                or parent.held_by or parent.instrument.symbol in self.ctx.halted:
            return
        if order_types.execution_price(parent, self.ctx.touch(parent.instrument)) is not None:
            order.why_held = "trigger"

    def _default_bracket_oca(self, order: WorkingOrder) -> None:
        """TWS links bracket children that carry no ocaGroup into one group named after the
        parent's permId, ocaType 3 (``api_bracket_place_aapl``); a child's own group is
        reported as that number while the parent is unfilled (ib_insync #606), in the echo
        only: the group the child works in stays the client's."""
        parent = self.ctx.parent(order)
        if parent is None:
            return
        if not order.spec.oca_group:
            order.spec.oca_group = f"{parent.perm_id}"
            order.spec.oca_type = order.spec.oca_type or 3
        elif parent.filled == 0:
            order.oca_echo = f"{parent.perm_id}"

    def _price_capped(self, order: WorkingOrder) -> bool:
        """IB cancels a limit through the market beyond its price band once it is echoed:
        PendingCancel, Cancelled, 202 with the reason (``order_rules.price_cap_text``;
        ``api_oca_trigger_aapl`` and ``api_order_rejects_aapl`` show the PreSubmitted echo
        first; a revision: ``_refuse_revision``). Held children are not checked."""
        text = self._price_cap(order)
        if text is not None:
            self.ctx.cancel(order, "price constraint", public_reason=text, pending=True)
        return text is not None

    def _algo_after_close(self, order: WorkingOrder) -> bool:
        """A timed algo starting after the close is reported Submitted, then cancelled by IB
        with its reason (``sessions.SessionRules.algo_starts_after_close``)."""
        if order.done or not self.ctx.sessions.algo_starts_after_close(order.spec):
            return False
        order.status = "Submitted"
        self.ctx.listener.order_update(order, open_order=True)
        self.ctx.cancel(order, "algo start after the close", public_reason=(
            f"{order.spec.algo_strategy}: start time is after close time"))
        return True

    def _price_cap(self, order: WorkingOrder) -> str | None:
        spec = order.spec
        if spec.order_type != "LMT" or spec.lmt_price is None or order.held_by == "parent":
            return None
        return order_rules.price_cap_text(spec.action, spec.lmt_price,
                                          self.ctx.market.quote(order.instrument.symbol).last)

    def _refuse_revision(self, order: WorkingOrder, previous: OrderSpec, reason: str) -> None:
        """IB's price band refusing a revision through the market cancels the order itself
        (``api_bracket_trigger_aapl`` order 48, April 2026: a bracket's LMT child revised
        to 206.28 with the market at 257.68): PendingCancel, the order back at its previous
        terms (IB's last echo showed the old limit), Cancelled with 202 naming the band,
        then 201 for the replace. A system cancel: its OCA siblings stay (order 49)."""
        order.status = "PendingCancel"
        self.ctx.listener.order_update(order, open_order=True)
        order.spec = previous
        self.ctx.listener.order_update(order, open_order=True)
        self.ctx.cancel(order, "price constraint", public_reason=reason)
        self.ctx.report_error(order, 201, order_rules.REPLACE_TOO_LATE)

    def _modify(self, order: WorkingOrder, spec: OrderSpec) -> None:
        if order.status == "Filled":
            self.ctx.listener.order_error(order.client_id, spec.order_id, 103, "Duplicate order id")
            return
        if order.done:
            self.ctx.listener.order_error(order.client_id, spec.order_id, 201,
                                      "Order rejected - reason:Too late to replace: the order "
                                      f"is {order.status}")
            return
        problem = validate_spec(spec, order.instrument, self._listed_con_ids(),
                                self.ctx.config.account)
        if problem is None and spec.total_qty < order.filled:
            problem = rejected("The new quantity is below the filled quantity")
        if problem is not None:
            self.ctx.listener.order_error(order.client_id, spec.order_id, problem.code,
                                          problem.text)
            return
        old = order.spec
        self.ctx.sessions.revise(spec)
        spec.account = spec.account or old.account
        spec.oca_group, spec.oca_type = old.oca_group, old.oca_type
        warnings = entry_rules.normalise(spec, self._parent_spec(order.client_id, spec))
        order.spec = spec
        order.resting = False  # a replaced order arrives anew: marketable, it takes the touch
        if (spec.order_type in TRAILING_TYPES and order.trail_stop is not None
                and spec.trail_stop_price and spec.trail_stop_price != old.trail_stop_price):
            # Writing a new trailStopPrice moves the stop; clients re-send the original one
            # with any other change, which must not undo the ratchet.
            order.trail_stop = spec.trail_stop_price
        follow_trail_limit(order)
        self.ctx.settle_hold(order)
        self.ctx.listener.order_update(order, open_order=True)
        for code, text in warnings:
            self.ctx.listener.order_error(order.client_id, order.order_id, code, text)
        reason = self._price_cap(order)
        if reason is not None:
            self._refuse_revision(order, old, reason)
            return
        self.ctx.evaluate(order.instrument.symbol)
