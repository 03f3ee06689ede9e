"""The simulated broker: order lifecycle, brackets, OCA groups and executions.

Orders live here, keyed by (clientId, orderId), not in connections, so a
client that reconnects finds them again. The broker never touches sockets:
it reports through a ``BrokerListener`` and the server turns those reports
into TWS messages. Everything runs on the server's event loop thread.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Protocol

from backend.sim import activation, calm, cancels, matching, order_types
from backend.sim.account import Account, Position
from backend.sim.book import OrderBook
from backend.sim.clock import SimClock
from backend.sim.config import SimConfig
from backend.sim.market import Market
from backend.sim.models import Instrument, OrderSpec
from backend.sim.oca import OcaBook
from backend.sim.order_entry import EntryContext, OrderEntry
from backend.sim.orders import ExecutionRecord, WorkingOrder
from backend.sim.sessions import SessionRules
from backend.sim.tape import PrintTape


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
        self.orders = OrderBook()
        """Every order placed, by (clientId, orderId), indexed by symbol and parent (``book``)."""
        self.executions: list[ExecutionRecord] = []
        self.highest_id: dict[int, int] = {}
        self.oca = OcaBook()
        self.partial_fill_qty: Decimal | None = None
        self.halted: set[str] = set()
        """Symbols in a trading halt: orders are accepted and rest, nothing executes."""
        self.paused = False
        """While True the periodic clock pass is skipped, so tests step matching themselves."""
        self._exec_seq = itertools.count(1)
        self.sessions = SessionRules(config.sessions)
        """IB's trading-session rules on this clock (``sessions.py``; off when always open)."""
        self.tape = PrintTape(market)
        """The last prints per symbol, which stops and price conditions count."""
        self._last_pass = clock.now()
        """When matching last ran: a close crossed since runs the closing auction first."""
        self.view = activation.BrokerView(market, self.account, self.executions, clock,
                                          self.tape)
        """What order conditions read: quotes, the margin cushion, executions, the time."""
        self.entry = OrderEntry(EntryContext(
            config=config, market=market, clock=clock, sessions=self.sessions, oca=self.oca,
            account=self.account, listener=listener, orders=self.orders,
            highest_id=self.highest_id, halted=self.halted, marks=self.marks,
            parent=self._parent, touch=self._touch,
            settle_hold=functools.partial(self._refresh_hold, announce=False),
            start_trail=self._start_trail_if_active, evaluate=self.evaluate,
            cancel=self._cancel, report_error=self._report_error))
        """placeOrder: validation, transmit chains, revisions (``order_entry``)."""
        market.listeners.append(self.on_market)

    # -- entry (``order_entry``) ---------------------------------------------------
    def place(self, client_id: int, spec: OrderSpec) -> None:
        self.entry.place(client_id, spec)

    def reject_next(self, code: int, text: str,
                    match: Callable[[OrderSpec], bool] | None = None) -> None:
        """Reject the next matching order with ``code`` (a control call)."""
        self.entry.reject_next(code, text, match)

    def warn_next(self, code: int, text: str,
                  match: Callable[[OrderSpec], bool] | None = None) -> None:
        """Send ``code`` for the next matching order once released (a control call)."""
        self.entry.warn_next(code, text, match)

    # -- queries -----------------------------------------------------------
    def live_orders(self, client_id: int | None = None) -> list[WorkingOrder]:
        return [o for o in self.orders.not_done()
                if o.live and (client_id is None or o.client_id == client_id)]

    def completed_orders(self) -> list[WorkingOrder]:
        return sorted((o for o in self.orders.values() if o.done), key=lambda o: o.seq)

    def next_order_id(self, client_id: int) -> int:
        return self.highest_id.get(client_id, 0) + 1

    def marks(self) -> dict[int, Decimal]:
        return {s.instrument.con_id: s.quote.last for s in self.market.symbols.values()}

    # -- cancelling (what each cancel reports: ``cancels``) ----------------------
    def cancel(self, client_id: int, order_id: int, owner: int | None = None) -> None:
        """A client's cancelOrder. ``owner``: the client that placed an order this client saw
        through reqAllOpenOrders; client 0 and such a client may cancel it
        (``api_cross_client_cancel_aapl``, ``api_client_id0_order_observation_aapl``, April
        2026 at server version 200; the August captures at 225 answered 10147: paper-check)."""
        order = self.orders.get((client_id, order_id))
        if order is None and owner is not None and owner != client_id:
            order = self.orders.get((owner, order_id))
            if order is not None:
                order.observers.add(client_id)
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
        for member in cancels.group_cancel_targets(order, self.oca.siblings(order)):
            cause = "Trader" if member is order else "OCA group: a member was cancelled"
            self._cancel(member, cause, pending=cancels.pending_on_client_cancel(member))

    def global_cancel(self) -> None:
        for step in cancels.global_cancel_plan(self.orders.values()):
            order = step.order
            if step.action != "161" and order.done:
                continue  # went with its parent a moment ago
            if step.action != "161":
                self._cancel(order, "Global Cancel")
            if step.action != "cancel":
                self._report_error(order, cancels.NOT_CANCELLABLE,
                                   cancels.not_cancellable_text(order.perm_id))

    def end_session(self) -> None:
        """The trading day ends: DAY orders expire, GTC orders carry over, and a GTC order
        its conditions activated but that did not execute waits for them again (IB's
        conditional-orders page; with sessions the clock does this, ``sessions.py``).
        MOC and LOC orders execute in the closing auction first (``close_auction``)."""
        self.close_auction()
        for order in sorted(self.orders.values(), key=lambda o: o.seq):
            if not order.done and order.spec.tif in ("DAY", "IOC"):
                self._cancel(order, "end of day")
            elif not order.done and order.conditions_done and order.filled == 0:
                order.conditions_done = False
                self._refresh_hold(order)

    def _close_if_crossed(self) -> None:
        """With sessions, the clock crossing 16:00 runs the closing auction before any DAY
        order expires in this pass (``sessions.SessionRules.close_between``)."""
        before, self._last_pass = self._last_pass, self.clock.now()
        if self.sessions.close_between(before, self._last_pass):
            self.close_auction()

    def close_auction(self) -> None:
        """The closing auction: MOC executes at the last price, LOC if it is within its
        limit; an LOC that is not leaves with the other DAY orders. With sessions modelled
        the clock calls this at the close; always open, it runs in ``end_session``
        (no public capture shows a MOC/LOC execution: paper-check)."""
        for order in sorted(self.orders.values(), key=lambda o: o.seq):
            if not order.live or order.spec.order_type not in ("MOC", "LOC") or order.held_by:
                continue
            price = order_types.close_price(order, self.market.quote(order.instrument.symbol).last)
            qty = self._executable_qty(order)
            if price is not None and qty > 0:
                self._execute(order, qty, price)

    def _cancel(self, order: WorkingOrder, cause: str, public_reason: str = "",
                pending: bool = False) -> None:
        """End ``order`` as Cancelled: PendingCancel first when ``pending``; 202 carries
        ``public_reason`` (IB's text, usually empty) and ``cause`` stays internal."""
        if order.done:
            return
        never_submitted = cancels.unsubmitted(order)
        order.buffered = order.discarded = False
        order.why_held = ""  # a cancelled order reports whyHeld "" (api_bracket_place_aapl)
        if pending and not never_submitted:
            order.status = "PendingCancel"
            self.listener.order_update(order, open_order=True)
        order.status = "Cancelled"
        order.completed_time, order.completed_status = self.clock.now(), "Cancelled by " + (
            cause or "Trader")
        self.oca.discard(order)
        self.listener.order_update(order, open_order=False)
        self._report_error(order, 202, cancels.cancel_text(
            cancels.DISCARDED if never_submitted else public_reason))
        for child in self._children(order):
            if never_submitted and cancels.unsubmitted(child):
                self._discard_silently(child)
                continue
            cut = child.filled + max(self._parent_qty_open(child, order), Decimal(0))
            if cut == 0:
                self._cancel(child, "parent cancelled")
            elif child.spec.total_qty > cut:
                child.spec.total_qty = cut
                if child.remaining == 0:
                    self._mark_filled(child)
                self.listener.order_update(child, open_order=True)

    def _discard_silently(self, order: WorkingOrder) -> None:
        order.buffered = order.discarded = False
        order.status = "Cancelled"
        order.completed_time, order.completed_status = self.clock.now(), "Discarded with parent"
        for child in self._children(order):
            self._discard_silently(child)

    def _report_error(self, order: WorkingOrder, code: int, text: str) -> None:
        """An order's error goes to its owner and to the clients that cancelled it."""
        for client_id in (order.client_id, *sorted(order.observers - {order.client_id})):
            self.listener.order_error(client_id, order.order_id, code, text)

    def _parent_qty_open(self, child: WorkingOrder, parent: WorkingOrder) -> Decimal:
        """What the parent has filled that neither this child nor its OCA alternatives
        under the same parent have closed yet: they are exits of the same shares."""
        group = self.oca.group_key(child)
        closed = sum((o.filled for o in self.orders.family(child.client_id, parent.order_id)
                      if o is child or (group and self.oca.group_key(o) == group)),
                     Decimal(0))
        return parent.filled - closed

    def _children(self, order: WorkingOrder) -> list[WorkingOrder]:
        return [o for o in self.orders.family(order.client_id, order.order_id) if not o.done]

    # -- holding and activation (rules in ``activation``) ------------------------
    def _parent(self, order: WorkingOrder) -> WorkingOrder | None:
        if not order.spec.parent_id:
            return None
        return self.orders.get((order.client_id, order.spec.parent_id))

    def _refresh_hold(self, order: WorkingOrder, announce: bool = True) -> None:
        held_by, why = activation.hold_reason(order, self._parent(order), self.clock.now(),
                                               self.view, self.sessions)
        status = activation.status_for(held_by, why, order_types.waiting(order))
        changed = (held_by, why, status) != (order.held_by, order.why_held, order.status)
        order.held_by, order.why_held, order.status = held_by, why, status
        if changed and announce:
            self.listener.order_update(order, open_order=True)

    def _start_trail_if_active(self, order: WorkingOrder) -> None:
        if order.spec.order_type in order_types.TRAILING_TYPES:
            activation.start_trail(order, self._touch(order.instrument))

    # -- matching --------------------------------------------------------------
    def on_market(self, symbol: str) -> None:
        """A tick: its symbol's orders, then other symbols' conditioned orders it can
        trigger (``calm.watchers``), each pass skipped when nothing can change (``calm``)."""
        self._pass_if_due(symbol)
        con_id = self.market.symbols[symbol].instrument.con_id
        for other in calm.watchers(self.orders.conditioned(), symbol, con_id):
            self.evaluate(other)

    def _pass_if_due(self, symbol: str) -> None:
        waits = self.orders.calm.get(symbol)
        if waits is None or waits.woken_by(self._touch(self.market.find(symbol))):
            self.evaluate(symbol)

    def on_clock(self) -> None:
        """The server's periodic pass, skipped while a test steps matching by hand."""
        if not self.paused:
            self.evaluate_all()

    def evaluate_all(self) -> None:
        """Time alone can release an order (goodAfterTime, TimeCondition) or expire one (GTD)."""
        for symbol in self.orders.symbols_with_orders():
            self._pass_if_due(symbol)

    def evaluate(self, symbol: str) -> None:
        self._close_if_crossed()
        touch = self._touch(self.market.find(symbol))
        executed_groups: set[str] = set()
        pending_reductions: list[tuple[WorkingOrder, Decimal]] = []
        orders = self.orders.not_done_on(symbol)
        calm_ok = not self.sessions.enabled
        for order in orders:
            if not order.live or (calm_ok and calm.idle(order, self._parent(order), touch)):
                continue
            if self._expire_or_cancel_on_conditions(order):
                continue
            fresh, order.fresh = order.fresh, False
            self._refresh_hold(order, announce=not fresh)
            if order.held_by:
                continue
            self._start_trail_if_active(order)
            self._trail_and_trigger(order, touch)
            price = order_types.execution_price(order, touch)
            if price is None and order.spec.lmt_price is not None and (
                    order.spec.order_type == "LMT" or order.triggered):
                order.resting = True
            qty = self._executable_qty(order)
            group = self.oca.group_key(order)
            if symbol in self.halted:
                price = None
            executes = (price is not None and qty > 0
                        and not self.oca.blocked(order, executed_groups))
            if executes:
                assert price is not None
                if fresh and order.status == "Submitted":
                    # Released and marketable: PreSubmitted -> Submitted -> Filled, the
                    # fullest sequence IB sent (api_order_fill_aapl.sv225 order 601,
                    # api_order_type_matrix_aapl 391); IB often leaves one of the first two
                    # out (docs/simulator.md, "IB's optional transient statuses").
                    self.listener.order_update(order, open_order=True)
                self._execute(order, qty, price)
                if group:
                    executed_groups.add(group)
                    if order.spec.oca_type == 3:
                        pending_reductions.append((order, qty))
                    else:
                        self._apply_oca(order, qty)
            elif fresh and order.status != "PreSubmitted":
                # Released orders are echoed PreSubmitted; one that did not execute at once
                # is then Submitted (ib-orders R11: api_order_rest_cancel_aapl, April 2026)
                self.listener.order_update(order, open_order=True)
            if order.spec.tif == "IOC" and not order.done:  # api_ioc_fok_aapl (August)
                self._cancel(order, "immediate or cancel", pending=True)
        for order, qty in pending_reductions:
            self._apply_oca(order, qty)
        self.orders.settle(symbol, calm.calm_of(orders) if calm_ok else None, orders)

    def _expire_or_cancel_on_conditions(self, order: WorkingOrder) -> bool:
        reason = activation.cancel_reason(order, self.clock.now(), self.view, self.sessions)
        if reason is not None:
            self._cancel(order, reason)
        return reason is not None

    def _trail_and_trigger(self, order: WorkingOrder, touch: matching.Touch) -> None:
        since = self.sessions.prints_since(order.spec, order.placed_at, self.clock.now())
        if activation.ratchet_and_trigger(order, touch, since) or order_types.touch_trigger(
                order, touch):
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
            self.orders.stir(child.instrument.symbol)  # no longer held by its parent
            child.oca_echo = None  # TWS shows the client's own OCA name again (ib_insync #606)
            self._refresh_hold(child)
            self._start_trail_if_active(child)

    def _apply_oca(self, order: WorkingOrder, qty: Decimal) -> None:
        for sibling in self.oca.siblings(order):
            if order.spec.oca_type == 1:
                self._cancel(sibling, "OCA group cancelled", pending=True)
                continue
            sibling.spec.total_qty = max(sibling.spec.total_qty - qty, sibling.filled)
            if sibling.remaining > 0:
                self.listener.order_update(sibling, open_order=True)
            elif sibling.filled > 0:  # cut to what it already executed: complete, not cancelled
                self._mark_filled(sibling)
                self.listener.order_update(sibling, open_order=True)
            else:
                self._cancel(sibling, "OCA group reduced to zero", pending=True)

    def _mark_filled(self, order: WorkingOrder) -> None:
        order.status, order.why_held = "Filled", ""
        order.completed_time, order.completed_status = self.clock.now(), "Filled"
        self.oca.discard(order)

    def _touch(self, inst: Instrument | None) -> matching.Touch:
        assert inst is not None
        q = self.market.quote(inst.symbol)
        return matching.Touch(q.bid, q.ask, q.last, self.tape.recent(inst.symbol))
