"""Keeping positions protected: what counts as protection, leg failures, the entry's life.

``Protection`` is an object composed into ``OrderManager`` (issue 10): it reads the OMS through
a narrow :class:`~backend.core.trade_view.TradeView`, sends through the ``BrokerPort`` and
changes the OMS only through :class:`~backend.core.trade_view.OmsActions`. Restarts and
reconnects are ``recovery.Recovery``'s part.

Rules (docs/oca.md "When something goes wrong", docs/reliability.md "Recovery rules"):

- Only a working stop, or a trail whose activation level has traded, is protection; a
  dormant trail and a time stop are not, and the stops must cover the whole position.
- A failed exit leg after the entry filled applies ``[risk] on_leg_rejected_after_fill`` to
  what the trade holds, stops the entry buying more, and keeps applying it to every later
  fill of the entry (the entry's cancel may lose the race): protection follows the position.
- A second failure applies the rule again; a failed re-protection escalates to flatten.

Every cancel here ends a whole OCA group on purpose: a client cancel of one member cancels
all of them at IB (R4), so ``cancel_quietly`` is always handed every live member of a group
(or the entry, whose children go with it).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timedelta
from decimal import Decimal

from backend.core import coverage, market_trail
from backend.core.cancels import EXIT_ROLES, LEG_NAMES
from backend.core.coverage import PROTECTIVE_TYPES
from backend.core.entry_watch import EntryWatch
from backend.core.events import (
    Flattened,
    LegRejected,
    Reprotected,
)
from backend.core.exit_plan import (
    REPROTECT_SEPARATOR,
    ExitParams,
    base_signal_id,
    build_exit_group,
    order_ref,
)
from backend.core.models import LegRole, OrderRecord, OrderStatus
from backend.core.ports import BrokerPort
from backend.core.trade_view import OmsActions, TradeView

log = logging.getLogger("sigma9.oms")
UNACKNOWLEDGED, RESENT = "cancel_unacknowledged", "cancel_resent"
"""Journal event kinds: a cancel sent before IB acknowledged the order / sent again."""
CANCEL_CONFIRM_TIMEOUT_S = 5.0
"""How long a rule waits for IB to confirm the replaced exits ended before sending."""
__all__ = ["EXIT_ROLES", "PROTECTIVE_TYPES", "Protection"]


class Protection:
    def __init__(self, view: TradeView, broker: BrokerPort, actions: OmsActions,
                 exits: ExitParams, entry_timeout: timedelta, rule: str) -> None:
        self.view, self.broker, self.act = view, broker, actions
        self.exits, self.entry_timeout, self.rule = exits, entry_timeout, rule
        self.failed_legs: set[str] = set()
        """Exit legs (and entries) seen failing; each is announced once."""
        self.handled_failures: set[str] = set()
        """Failed legs whose rule has run: a leg's rule runs once, the position's growth
        after it is :attr:`covered`'s job."""
        self.covered: dict[str, int] = {}
        """Per signal whose rule ran: the entry shares the rule has dealt with so far."""
        self.ending: dict[str, set[str]] = {}
        """Per signal: the exits its rules cancelled, awaited before the next send."""
        self.rule_locks: dict[str, asyncio.Lock] = {}
        self.replaced_groups: set[str] = set()
        """Exit groups (by their signal id, ``abc`` or ``abc~r1``) the rule cancelled: a later
        failure of one of their legs is not a new failure of the position's protection."""
        self.escalated: set[str] = set()
        """Signals whose re-protection failed: every later rule for them is flatten."""
        self.entry_watch = EntryWatch(view, broker, actions, exits, entry_timeout, self)
        """The entry's timeout and the market entry's trail (``entry_watch``)."""
        self.unacknowledged_cancels: set[str] = set()
        """Orders cancelled before the broker ever acknowledged them (``cancel_quietly``)."""

    def close(self) -> None:
        self.entry_watch.close()

    # -- what protects a position ------------------------------------------------------------
    def live_exit_roles(self, symbol: str) -> list[LegRole]:
        roles = [r.role for r in self.live_exits(symbol)]
        return sorted(set(roles), key=lambda role: role.value)

    def live_exits(self, symbol: str) -> list[OrderRecord]:
        """Live SELL orders that close a long: Sigma9's exit legs or any working stop."""
        return coverage.live_exits(self.view.open_sells(symbol), symbol)

    def protecting(self, symbol: str) -> list[OrderRecord]:
        """The live exits that protect now: working stops and active trails."""
        return coverage.protecting(self.view, self.live_exits(symbol))

    def covered_shares(self, symbol: str) -> int:
        """Shares protected now, plus those a closing order is selling now (a position being
        flattened needs no new group: it would sell the same shares again)."""
        return (coverage.group_cover(self.protecting(symbol))
                + coverage.closing(self.view.open_sells(symbol), symbol))

    def is_protected(self, symbol: str) -> bool:
        """Working stops or active trails cover the whole position (any, with none held)."""
        held = self.view.position_quantity(symbol)
        covered = self.covered_shares(symbol)
        return covered >= held if held > 0 else covered > 0

    def live_trade_exits(self, signal_id: str) -> list[OrderRecord]:
        """Every live exit of a trade, re-protection groups included: whole groups."""
        return [r for r in self.view.legs_of(signal_id) if not r.status.is_final]

    # -- a leg failed ------------------------------------------------------------------------
    def leg_failed(self, record: OrderRecord, message: str) -> None:
        """Apply the documented rule so nothing stays half-sent (docs/oca.md)."""
        if record.order_id in self.failed_legs:
            return
        self.failed_legs.add(record.order_id)
        self.act.publish(LegRejected(order_id=record.order_id, role=record.role,
                                     symbol=record.symbol, reason=message))
        if record.role is LegRole.ENTRY:
            self.cancel_quietly(self.live_trade_exits(record.signal_id))
            self.entry_ended(record)
            return
        if record.role not in EXIT_ROLES:
            return
        entry = self.view.entry_of(base_signal_id(record.signal_id))
        if entry is not None and entry.filled == 0 and not entry.status.is_final:
            # Cancelling the parent cancels every attached child at the broker; should the
            # entry fill anyway (the cancel lost the race), check_entry_legs applies the rule.
            self.cancel_quietly([entry])
            return
        self.apply_rule(record)

    def entry_ended(self, entry: OrderRecord) -> None:
        """An entry that ended without a fill takes its attached exits with it: IB cancels
        the children of a cancelled parent (P1), and discards the untransmitted children of a
        never-released one without a word for them (``api_bracket_trailing_stop_aapl``), so
        the OMS must not wait for their statuses."""
        if entry.filled or not entry.status.is_final:
            return
        for leg in self.view.legs_of(entry.signal_id):
            if (leg.signal_id == entry.signal_id and not leg.status.is_final
                    and leg.broker_status in ("", "PendingSubmit")):  # IB never spoke of it
                self.act.store(dataclasses.replace(
                    leg, status=OrderStatus.CANCELLED, updated_at=self.view.now(),
                    message=f"ended with entry {entry.order_id}, which never filled"))

    def check_entry_legs(self, entry: OrderRecord) -> None:
        """On every status of an entry that has filled: a failed leg whose rule has not run
        yet gets it now; after the rule, each further fill is covered the same way."""
        signal_id = entry.signal_id
        pending = [r for r in self.view.legs_of(signal_id)
                   if r.order_id in self.failed_legs and r.order_id not in self.handled_failures]
        if pending:
            self.apply_rule(pending[0])
        elif signal_id in self.covered and entry.filled > self.covered[signal_id]:
            self._cover_growth(entry)

    def apply_rule(self, record: OrderRecord) -> None:
        """``[risk] on_leg_rejected_after_fill`` for the trade of failed leg ``record``: the
        trade's other exits and the rest of its entry are cancelled now; what to send is
        decided by ``_send_rule`` once those cancels are confirmed."""
        self.handled_failures.add(record.order_id)
        if record.signal_id in self.replaced_groups:
            return  # a leg of a group the rule already replaced: its shares are dealt with
        signal_id = base_signal_id(record.signal_id)
        entry = self.view.entry_of(signal_id)
        if REPROTECT_SEPARATOR in record.signal_id:
            self.escalated.add(signal_id)  # a re-protection group failed: reprotecting again
            # would only repeat it
        # IB leaves the siblings of a rejected member working (R4: a system cancel or
        # rejection does not cancel the group); the rule replaces every group of the trade.
        ending = [r for r in self.live_trade_exits(signal_id) if r.order_id != record.order_id]
        self.replaced_groups.update({record.signal_id, *(r.signal_id for r in ending)})
        if entry is not None and not entry.status.is_final and entry.remaining > 0:
            ending.insert(0, entry)  # its protection broke: the trade stops growing
        self.cancel_quietly(ending)
        self.ending.setdefault(signal_id, set()).update(
            r.order_id for r in ending if r.role is not LegRole.ENTRY)
        if entry is not None:
            self.covered[signal_id] = entry.filled
        self.act.spawn(self._send_rule(record, entry, f"exit leg {record.order_id} failed: "
                                       f"{record.message}"),
                       f"the rule after the failed {LEG_NAMES[record.role]} of {record.symbol}")

    def _cover_growth(self, entry: OrderRecord) -> None:
        """The entry filled more after its rule ran: the new shares get the same rule."""
        signal_id = entry.signal_id
        delta = entry.filled - self.covered[signal_id]
        self.covered[signal_id] = entry.filled
        self.cancel_quietly([entry] if not entry.status.is_final else [])
        log.warning("%s: entry %s filled %d more after its exit rule ran; covering them",
                    entry.symbol, entry.order_id, delta)
        self.act.spawn(self._send_rule(entry, entry, f"{delta} more shares filled after a "
                                       f"failed leg of entry {entry.order_id}"),
                       f"covering {delta} more {entry.symbol}")

    async def _send_rule(self, record: OrderRecord, entry: OrderRecord | None,
                         reason: str) -> None:
        """One trade's rules run one at a time (a lock per signal), each for what the trade
        holds and no live exit of it may still sell, once the exits the rule replaced are
        confirmed ended: a stop already through its level can execute before its cancel
        lands, and selling or re-protecting at once would sell those shares twice (a short).
        """
        signal_id = base_signal_id(record.signal_id)
        async with self.rule_locks.setdefault(signal_id, asyncio.Lock()):
            ending = self.ending.get(signal_id, set())
            if ending and not await self.act.wait_for(
                    lambda: all(coverage.ended(self.view.orders[i]) for i in ending
                                if i in self.view.orders), CANCEL_CONFIRM_TIMEOUT_S):
                log.warning("%s: IB did not confirm the replaced exits ended within %g s; "
                            "the rule covers only what they do not", record.symbol,
                            CANCEL_CONFIRM_TIMEOUT_S)
            if entry is not None:
                entry = self.view.orders.get(entry.order_id, entry)
            qty = self._uncovered(record, entry)
            if qty > 0:
                await self._apply(record, entry, qty, reason)

    async def _apply(self, record: OrderRecord, entry: OrderRecord | None, qty: int,
                     reason: str) -> None:
        signal_id = base_signal_id(record.signal_id)
        rule = "flatten" if signal_id in self.escalated else self.rule
        if rule == "reprotect" and entry is not None:
            try:
                ids = await self.execute_oca_exit(entry.order_id, self.reference_for(entry),
                                                  quantity=qty,
                                                  group_suffix=self.fresh_suffix(signal_id))
            except Exception as exc:
                self.escalated.add(signal_id)
                log.error("%s: re-protection failed (%s); flattening instead", record.symbol,
                          exc)
                reason = f"{reason}; re-protection failed: {exc}"
            else:
                self.act.publish(Reprotected(symbol=record.symbol, order_ids=tuple(ids),
                                             reason=f"{qty} shares: {reason}"))
                return
        order_id = await self.broker.place_market_order(
            record.symbol, qty, "SELL", order_ref(signal_id, LegRole.FLATTEN))
        self.act.publish(Flattened(symbol=record.symbol, quantity=qty, order_id=order_id,
                                   reason=reason))

    def _uncovered(self, record: OrderRecord, entry: OrderRecord | None) -> int:
        """Shares the trade holds that no live exit of it may still sell."""
        signal_id = base_signal_id(record.signal_id)
        trade = self.view.trade_orders(signal_id)
        held = (entry.filled if entry is not None
                else self.view.position_quantity(record.symbol)) - market_trail.committed_sells(
                    trade)
        live = [r for r in self.live_trade_exits(signal_id) if not coverage.ended(r)]
        return held - coverage.group_cover(live)

    def fresh_suffix(self, signal_id: str) -> str:
        """A group name never used before (OCA names are single-use, R4)."""
        groups = {r.signal_id for r in self.view.trade_orders(signal_id)
                  if base_signal_id(r.signal_id) == signal_id and r.signal_id != signal_id}
        return f"{REPROTECT_SEPARATOR}r{len(groups) + 1}"

    def reference_for(self, entry: OrderRecord) -> Decimal:
        signal = self.view.signals.get(entry.signal_id)
        if signal is not None:
            return signal.reference_price
        return entry.avg_fill_price or self.view.marks.get(entry.symbol) or Decimal(0)

    def cancel_quietly(self, records: list[OrderRecord]) -> None:
        """Send a cancel for each record: callers pass whole groups (module doc).

        A cancel of an order the broker never acknowledged (ib_insync still says
        PendingSubmit) is remembered: ib_insync marks such an untransmitted order Cancelled
        at once, locally, though the cancel may die with a dropped socket while TWS keeps
        the order; reconciliation sends it again (``Recovery``).
        """
        for record in records:
            if (record.broker_status in ("", "PendingSubmit")
                    and record.order_id not in self.unacknowledged_cancels):
                self.unacknowledged_cancels.add(record.order_id)
                # journalled: a crash right after must not forget it (``Recovery``)
                self.act.note(UNACKNOWLEDGED, {"order_id": record.order_id})
            try:
                self.broker.cancel_order(record.order_id)
            except Exception as exc:
                log.warning("could not cancel %s: %s", record.order_id, exc)

    # -- the entry's own life (EntryWatch: the timeout and the market entry's trail) -------
    def arm_entry_timeout(self, entry_id: str) -> None:
        self.entry_watch.arm_timeout(entry_id)

    def request_trail(self, entry: OrderRecord, position: int | None = None) -> bool:
        return self.entry_watch.request_trail(entry, position)

    def latest_entry(self, symbol: str) -> OrderRecord | None:
        """The symbol's most recent filled entry: order ids compared as numbers ('998' is
        older than '1002'); an id that is not a number (a synthetic one) counts as oldest."""
        entries = [r for r in self.view.orders.values()
                   if r.symbol == symbol and r.role is LegRole.ENTRY and r.filled]
        return max(entries, key=lambda r: int(r.order_id) if r.order_id.isdigit() else -1,
                   default=None)

    # -- protecting an existing position ---------------------------------------------------
    async def execute_oca_exit(self, order_id: str, entry_price: Decimal,
                               atr: Decimal | None = None, quantity: int | None = None,
                               group_suffix: str = "") -> list[str]:
        """Protect the position that entry ``order_id`` opened, with legs live at once.

        ``group_suffix`` gives the group a fresh name: an OCA group name once used cannot be
        used again (R4), so a re-protection never reuses ``S9-<id>``.
        """
        entry = self.view.orders.get(order_id)
        if entry is None:
            raise KeyError(f"order {order_id} is unknown")
        signal = self.view.signals.get(entry.signal_id)
        atr = atr or (signal.atr if signal else None) or self.fallback_atr(entry_price)
        qty = quantity if quantity is not None else self.view.position_quantity(entry.symbol)
        if qty <= 0:
            raise ValueError(f"no open position in {entry.symbol} to protect")
        signal_id = (entry.signal_id or f"manual-{order_id}") + group_suffix
        entry_fills = [f.time for f in self.view.fills.values() if f.order_id == entry.order_id]
        entry_time = min(entry_fills) if entry_fills else self.view.now()
        return await self.send_group(entry.symbol, qty, Decimal(entry_price), atr, signal_id,
                                     entry_time)

    async def send_group(self, symbol: str, qty: int, reference: Decimal, atr: Decimal,
                         signal_id: str, entry_time: datetime) -> list[str]:
        """A fresh three-leg group for ``qty`` held shares, unattached and live at once."""
        info = await self.broker.contract_info(symbol)
        legs = build_exit_group(symbol, qty, reference, atr, info.min_tick, self.exits,
                                entry_time, signal_id, attach_to_parent=False)
        ids = await self.broker.place_chain(None, legs)
        self.act.remember_sent(legs, ids, signal_id)
        return ids

    def fallback_atr(self, price: Decimal) -> Decimal:
        """No ATR known (manual entry): trail by the safety-stop distance, documented."""
        return Decimal(price) * self.exits.safety_stop_pct / 100

    # -- flatten ---------------------------------------------------------------------------
    async def flatten_all(self) -> list[str]:
        """Cancel every order (reqGlobalCancel: every group whole), then close at market."""
        self.broker.cancel_all_orders()
        ids = []
        positions = dict(self.view.broker_positions)
        for position in positions.values():
            if position.quantity:
                side = "SELL" if position.quantity > 0 else "BUY"
                ids.append(await self.broker.place_market_order(
                    position.symbol, abs(position.quantity), side,
                    order_ref(f"flatten{int(self.view.now().timestamp())}", LegRole.FLATTEN)))
        self.act.publish(Flattened(symbols=tuple(sorted(positions)), order_ids=tuple(ids),
                                   reason="flatten all"))
        return ids
