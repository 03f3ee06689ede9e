"""The simulated broker: order lifecycle, brackets, OCA groups and executions.

Orders live here, keyed by (clientId, orderId), not in connections, so a
client that reconnects finds them again. The broker never touches sockets:
it reports through a ``BrokerListener`` and the server turns those reports
into TWS messages. Everything runs on the server's event loop thread.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from backend.sim import activation, matching
from backend.sim.account import Account, Position
from backend.sim.clock import SimClock
from backend.sim.config import SimConfig
from backend.sim.market import Market
from backend.sim.models import Instrument, OrderSpec
from backend.sim.oca import OcaBook
from backend.sim.orders import ExecutionRecord, WorkingOrder
from backend.sim.validation import Rejection, check_buying_power, rejected, validate_spec

CANCEL_TEXT = "Order Canceled - reason:"


class BrokerListener(Protocol):
    def order_update(self, order: WorkingOrder, open_order: bool) -> None: ...
    def execution(self, record: ExecutionRecord) -> None: ...
    def commission(self, record: ExecutionRecord) -> None: ...
    def order_error(self, client_id: int, order_id: int, code: int, text: str) -> None: ...
    def position_update(self, position: Position) -> None: ...


class Broker:
    def __init__(self, config: SimConfig, market: Market, clock: SimClock,
                 listener: BrokerListener) -> None:
        self.config = config
        self.market = market
        self.clock = clock
        self.listener = listener
        self.account = Account(config.account, config.starting_cash)
        self.orders: dict[tuple[int, int], WorkingOrder] = {}
        self.executions: list[ExecutionRecord] = []
        self.highest_id: dict[int, int] = {}
        self.oca = OcaBook()
        self.partial_fill_qty: Decimal | None = None
        self.halted: set[str] = set()
        """Symbols in a trading halt: orders are accepted and rest, nothing executes."""
        self.paused = False
        """While True the periodic clock pass is skipped, so tests step matching themselves."""
        self._reject_queue: list[tuple[Rejection, Callable[[OrderSpec], bool]]] = []
        self._seq = itertools.count(1)
        self._perm = itertools.count(config.seed * 1000 + 1_000_001)
        self._exec_seq = itertools.count(1)
        self.view = activation.BrokerView(market, self.account, self.executions, clock)
        """What order conditions read: quotes, the margin cushion, executions, the time."""
        market.listeners.append(self.on_market)

    # -- queries -----------------------------------------------------------
    def live_orders(self, client_id: int | None = None) -> list[WorkingOrder]:
        return sorted((o for o in self.orders.values()
                       if o.live and (client_id is None or o.client_id == client_id)),
                      key=lambda o: o.seq)

    def completed_orders(self) -> list[WorkingOrder]:
        return sorted((o for o in self.orders.values() if o.done), key=lambda o: o.seq)

    def next_order_id(self, client_id: int) -> int:
        return self.highest_id.get(client_id, 0) + 1

    def marks(self) -> dict[int, Decimal]:
        return {s.instrument.con_id: s.quote.last for s in self.market.symbols.values()}

    # -- control hooks -------------------------------------------------------
    def reject_next(self, code: int, text: str,
                    match: Callable[[OrderSpec], bool] | None = None) -> None:
        inactive = code in (201, 110)
        self._reject_queue.append((Rejection(code, text, inactive), match or (lambda _s: True)))

    # -- placing -----------------------------------------------------------
    def place(self, client_id: int, spec: OrderSpec) -> None:
        existing = self.orders.get((client_id, spec.order_id))
        if existing is not None and not existing.buffered:
            self._modify(existing, spec)
            return
        if existing is None and spec.order_id <= self.highest_id.get(client_id, 0):
            self.listener.order_error(client_id, spec.order_id, 103, "Duplicate order id")
            return
        inst = self._resolve(spec)
        rejection = (self._take_scripted_rejection(spec)
                     or validate_spec(spec, inst, self._listed_con_ids(), self.config.account)
                     or self._check_parent(client_id, spec)
                     or (self._check_margin(spec, inst) if inst else None))
        self.highest_id[client_id] = max(self.highest_id.get(client_id, 0), spec.order_id)
        if rejection is not None:
            self._reject(client_id, spec, inst, rejection)
            if existing is not None:
                self.orders.pop(existing.key, None)
            return
        assert inst is not None
        order = WorkingOrder(spec, client_id, next(self._perm), inst, next(self._seq),
                             self.clock.now())
        if existing is not None:
            order.perm_id, order.seq = existing.perm_id, existing.seq
        if not spec.account:
            spec.account = self.config.account
        self.orders[order.key] = order
        if not spec.transmit:
            order.buffered = True
            return
        self._release(order)

    def _resolve(self, spec: OrderSpec) -> Instrument | None:
        c = spec.contract
        if c.sec_type and c.sec_type.upper() != "STK":
            return None
        return self.market.find(c.symbol, c.con_id)

    def _listed_con_ids(self) -> set[int]:
        """Conditions may watch any listed contract, not only the one being traded."""
        return {s.instrument.con_id for s in self.market.symbols.values()}

    def _take_scripted_rejection(self, spec: OrderSpec) -> Rejection | None:
        for i, (rejection, match) in enumerate(self._reject_queue):
            if match(spec):
                del self._reject_queue[i]
                return rejection
        return None

    def _check_parent(self, client_id: int, spec: OrderSpec) -> Rejection | None:
        if not spec.parent_id:
            return None
        parent = self.orders.get((client_id, spec.parent_id))
        if parent is None or (parent.done and parent.filled == 0):
            return rejected(f"Parent order {spec.parent_id} is not working")
        return None

    def _check_margin(self, spec: OrderSpec, inst: Instrument) -> Rejection | None:
        """Opening exposure must fit intraday buying power; attached orders only close."""
        if spec.parent_id:
            return None
        pos = self.account.positions.get(inst.con_id)
        return check_buying_power(
            spec, pos.qty if pos else Decimal(0), spec.lmt_price or self.market.quote(
                inst.symbol).ask, self.account.values(self.marks())["AvailableFunds"])

    def _reject(self, client_id: int, spec: OrderSpec, inst: Instrument | None,
                rejection: Rejection) -> None:
        self.listener.order_error(client_id, spec.order_id, rejection.code, rejection.text)
        if rejection.inactive and inst is not None:
            order = WorkingOrder(spec, client_id, next(self._perm), inst, next(self._seq),
                                 self.clock.now(), status="Inactive")
            order.completed_time, order.completed_status = self.clock.now(), rejection.text
            self.orders[order.key] = order
            self.listener.order_update(order, open_order=True)

    def _release(self, order: WorkingOrder) -> None:
        """A transmit=True message releases its buffered parent and siblings with it."""
        chain = [order]
        if order.spec.parent_id:
            parent = self.orders.get((order.client_id, order.spec.parent_id))
            siblings = [o for o in self.orders.values() if o.buffered and o is not order
                        and o.client_id == order.client_id
                        and o.spec.parent_id == order.spec.parent_id]
            chain = ([parent] if parent is not None and parent.buffered else []) + siblings + chain
        chain += [o for o in self.orders.values() if o.buffered and o.client_id == order.client_id
                  and o.spec.parent_id == order.order_id and o not in chain]
        for item in sorted(chain, key=lambda o: o.seq):
            item.buffered = False
            self._default_bracket_oca(item)
            self.oca.add(item)
            self._refresh_hold(item, announce=False)
            self._start_trail_if_active(item)
            self.listener.order_update(item, open_order=True)
        self.evaluate(order.instrument.symbol)

    def _default_bracket_oca(self, order: WorkingOrder) -> None:
        """TWS links bracket children that carry no ocaGroup into one group of its own."""
        if order.spec.parent_id and not order.spec.oca_group:
            parent = self.orders.get((order.client_id, order.spec.parent_id))
            if parent is not None:
                order.spec.oca_group = f"{parent.perm_id}"
                order.spec.oca_type = order.spec.oca_type or 3

    def _modify(self, order: WorkingOrder, spec: OrderSpec) -> None:
        if order.status == "Filled":
            self.listener.order_error(order.client_id, spec.order_id, 103, "Duplicate order id")
            return
        if order.done:
            self.listener.order_error(order.client_id, spec.order_id, 201,
                                      "Order rejected - reason:Too late to replace: the order "
                                      f"is {order.status}")
            return
        problem = validate_spec(spec, order.instrument, self._listed_con_ids(),
                                self.config.account)
        if problem is None and spec.total_qty < order.filled:
            problem = rejected("The new quantity is below the filled quantity")
        if problem is not None:
            self.listener.order_error(order.client_id, spec.order_id, problem.code, problem.text)
            return
        old = order.spec
        spec.account = spec.account or old.account
        spec.oca_group, spec.oca_type = old.oca_group, old.oca_type
        order.spec = spec
        order.resting = False  # a replaced order arrives anew: marketable, it takes the touch
        if (spec.order_type == "TRAIL" and order.trail_stop is not None
                and spec.trail_stop_price and spec.trail_stop_price != old.trail_stop_price):
            # Writing a new trailStopPrice moves the stop; clients re-send the original one
            # with any other change, which must not undo the ratchet.
            order.trail_stop = spec.trail_stop_price
        self._refresh_hold(order, announce=False)
        self.listener.order_update(order, open_order=True)
        self.evaluate(order.instrument.symbol)

    # -- cancelling ----------------------------------------------------------
    def cancel(self, client_id: int, order_id: int) -> None:
        order = self.orders.get((client_id, order_id))
        if order is None:
            text = f"OrderId {order_id} that needs to be cancelled is not found."
            self.listener.order_error(client_id, order_id, 10147, text)
            return
        if order.done:
            self.listener.order_error(
                client_id, order_id, 10148,
                f"OrderId {order_id} that needs to be cancelled cannot be cancelled, "
                f"state: {order.status}.")
            return
        self._cancel(order, "")

    def global_cancel(self) -> None:
        for order in sorted(self.orders.values(), key=lambda o: o.seq):
            if not order.done:
                self._cancel(order, "Global Cancel")

    def end_session(self) -> None:
        """The trading day ends: DAY orders expire, GTC orders carry over."""
        for order in sorted(self.orders.values(), key=lambda o: o.seq):
            if not order.done and order.spec.tif in ("DAY", "IOC"):
                self._cancel(order, "end of day")

    def _cancel(self, order: WorkingOrder, reason: str) -> None:
        if order.done:
            return
        # An untransmitted order is known to TWS too (ib_insync #71): its cancel is reported
        # like any other, so the client sees the chain end (unverified; docs/simulator.md).
        order.buffered = False
        order.status = "Cancelled"
        order.completed_time, order.completed_status = self.clock.now(), "Cancelled by " + (
            reason or "Trader")
        self.oca.discard(order)
        self.listener.order_update(order, open_order=False)
        self.listener.order_error(order.client_id, order.order_id, 202, CANCEL_TEXT + reason)
        for child in self._children(order):
            cut = child.filled + max(self._parent_qty_open(child, order), Decimal(0))
            if cut == 0:
                self._cancel(child, "parent cancelled")
            elif child.spec.total_qty > cut:
                child.spec.total_qty = cut
                if child.remaining == 0:
                    self._mark_filled(child)
                self.listener.order_update(child, open_order=True)

    def _parent_qty_open(self, child: WorkingOrder, parent: WorkingOrder) -> Decimal:
        """What the parent has filled that neither this child nor its OCA alternatives
        under the same parent have closed yet: they are exits of the same shares."""
        group = self.oca.group_key(child)
        closed = sum((o.filled for o in self.orders.values()
                      if o.client_id == child.client_id and o.spec.parent_id == parent.order_id
                      and (o is child or (group and self.oca.group_key(o) == group))),
                     Decimal(0))
        return parent.filled - closed

    def _children(self, order: WorkingOrder) -> list[WorkingOrder]:
        return sorted((o for o in self.orders.values() if o.client_id == order.client_id
                       and o.spec.parent_id == order.order_id and not o.done),
                      key=lambda o: o.seq)

    # -- holding and activation (rules in ``activation``) ------------------------
    def _parent(self, order: WorkingOrder) -> WorkingOrder | None:
        if not order.spec.parent_id:
            return None
        return self.orders.get((order.client_id, order.spec.parent_id))

    def _refresh_hold(self, order: WorkingOrder, announce: bool = True) -> None:
        held_by, why = activation.hold_reason(order, self._parent(order), self.clock.now(),
                                               self.view)
        status = activation.status_for(held_by, why)
        changed = (held_by, why, status) != (order.held_by, order.why_held, order.status)
        order.held_by, order.why_held, order.status = held_by, why, status
        if changed and announce:
            self.listener.order_update(order, open_order=True)

    def _start_trail_if_active(self, order: WorkingOrder) -> None:
        if order.spec.order_type == "TRAIL":
            activation.start_trail(order, self._touch(order.instrument))

    # -- matching --------------------------------------------------------------
    def on_market(self, symbol: str) -> None:
        self.evaluate(symbol)
        conditioned = {o.instrument.symbol for o in self.live_orders() if o.spec.conditions}
        for other in sorted(conditioned - {symbol}):
            self.evaluate(other)

    def on_clock(self) -> None:
        """The server's periodic pass, skipped while a test steps matching by hand."""
        if not self.paused:
            self.evaluate_all()

    def evaluate_all(self) -> None:
        """Time alone can release an order (goodAfterTime, TimeCondition) or expire one (GTD)."""
        for symbol in sorted({o.instrument.symbol for o in self.live_orders()}):
            self.evaluate(symbol)

    def evaluate(self, symbol: str) -> None:
        touch = self._touch(self.market.find(symbol))
        executed_groups: set[str] = set()
        pending_reductions: list[tuple[WorkingOrder, Decimal]] = []
        for order in self.live_orders():
            if order.instrument.symbol != symbol or order.done:
                continue
            if self._expire_or_cancel_on_conditions(order):
                continue
            self._refresh_hold(order)
            if order.held_by:
                continue
            self._start_trail_if_active(order)
            self._trail_and_trigger(order, touch)
            price = matching.execution_price(order.spec.order_type, order.spec.action, touch,
                                             order.spec.lmt_price, order.triggered,
                                             order.resting)
            if price is None and order.spec.lmt_price is not None and (
                    order.spec.order_type == "LMT" or order.triggered):
                order.resting = True
            qty = self._executable_qty(order)
            group = self.oca.group_key(order)
            if symbol in self.halted:
                price = None
            if price is not None and qty > 0 and not self.oca.blocked(order, executed_groups):
                self._execute(order, qty, price)
                if group:
                    executed_groups.add(group)
                    if order.spec.oca_type == 3:
                        pending_reductions.append((order, qty))
                    else:
                        self._apply_oca(order, qty)
            if order.spec.tif == "IOC" and not order.done:
                self._cancel(order, "immediate or cancel")
        for order, qty in pending_reductions:
            self._apply_oca(order, qty)

    def _expire_or_cancel_on_conditions(self, order: WorkingOrder) -> bool:
        reason = activation.cancel_reason(order, self.clock.now(), self.view)
        if reason is not None:
            self._cancel(order, reason)
        return reason is not None

    def _trail_and_trigger(self, order: WorkingOrder, touch: matching.Touch) -> None:
        if activation.ratchet_and_trigger(order, touch):
            order.status, order.why_held = "Submitted", ""
            self.listener.order_update(order, open_order=True)

    def _executable_qty(self, order: WorkingOrder) -> Decimal:
        qty = order.remaining
        parent = self._parent(order)
        if parent is not None:
            qty = min(qty, self._parent_qty_open(order, parent))
        if self.partial_fill_qty is not None:
            qty = min(qty, self.partial_fill_qty)
        return max(qty, Decimal(0))

    def _execute(self, order: WorkingOrder, qty: Decimal, price: Decimal) -> None:
        spec = order.spec
        side = "BUY" if spec.action == "BUY" else "SELL"
        cfg = self.config
        fee = matching.order_commission(
            order.filled + qty, order.avg_fill_price * order.filled + price * qty,
            cfg.commission_per_share, cfg.commission_min, cfg.commission_max_pct,
        ) - order.commission
        order.commission += fee
        result = self.account.apply_fill(order.instrument, side, qty, price, fee)
        order.apply_fill(qty, price)
        record = ExecutionRecord(
            exec_id=f"{order.perm_id:08x}.{next(self._exec_seq):08x}.01.01",
            client_id=order.client_id, order_id=order.order_id, perm_id=order.perm_id,
            instrument=order.instrument, side="BOT" if side == "BUY" else "SLD", shares=qty,
            price=price, time=self.clock.now(), cum_qty=order.filled,
            avg_price=order.avg_fill_price, order_ref=spec.order_ref, account=spec.account,
            commission=fee, realized=result.realized)
        self.executions.append(record)
        if order.remaining == 0:
            self._mark_filled(order)
        self.listener.execution(record)
        self.listener.order_update(order, open_order=order.status == "Filled")
        self.listener.commission(record)
        self.listener.position_update(self.account.position(order.instrument))
        for child in self._children(order):
            self._refresh_hold(child)
            self._start_trail_if_active(child)

    def _apply_oca(self, order: WorkingOrder, qty: Decimal) -> None:
        for sibling in self.oca.siblings(order):
            if order.spec.oca_type == 1:
                self._cancel(sibling, "OCA group cancelled")
                continue
            sibling.spec.total_qty = max(sibling.spec.total_qty - qty, sibling.filled)
            if sibling.remaining > 0:
                self.listener.order_update(sibling, open_order=True)
            elif sibling.filled > 0:  # cut to what it already executed: complete, not cancelled
                self._mark_filled(sibling)
                self.listener.order_update(sibling, open_order=True)
            else:
                self._cancel(sibling, "OCA group reduced to zero")

    def _mark_filled(self, order: WorkingOrder) -> None:
        order.status, order.why_held = "Filled", ""
        order.completed_time, order.completed_status = self.clock.now(), "Filled"
        self.oca.discard(order)

    def _touch(self, inst: Instrument | None) -> matching.Touch:
        assert inst is not None
        q = self.market.quote(inst.symbol)
        return matching.Touch(q.bid, q.ask, q.last)
