"""The placements of a paper check: each sends one shape, reads IB's answers, cleans up.

A probe records what it saw as :class:`Evidence` (the orders by label, as sent and as IB
answered) and leaves nothing of its own working; the rows (``rows.py``) judge the evidence.
Probes that buy a share sell it again before they return.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ib_insync import Order

from backend.broker.paper_check import orders
from backend.broker.paper_check.context import Context
from backend.broker.paper_check.observe import WORKING_STATUSES, OrderSeen
from backend.core.models import EntryType, PriceCondition

CHAIN_LABELS = ("entry", "stop", "time_stop", "trail")


@dataclass
class Evidence:
    orders: dict[str, OrderSeen] = field(default_factory=dict)
    sent: dict[str, Order] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    missing: str = ""
    """Why the probe could not produce its evidence (no fill, out of time): CANNOT-CHECK."""

    def add(self, ctx: Context, labels: tuple[str, ...] | list[str], ids: list[int]) -> None:
        for label, order_id in zip(labels, ids, strict=True):
            self.orders[label] = ctx.seen(order_id)
            self.sent[label] = ctx.sent[order_id]

    def freeze(self, *labels: str) -> None:
        """Keep these orders as they are now: the probe's own clean-up comes after the
        moment its rows ask about, and must not change the answer."""
        for label in labels or tuple(self.orders):
            self.orders[label] = copy.deepcopy(self.orders[label])



async def limit_held(ctx: Context) -> Evidence:
    """The limit chain with its parent far below the market: held children, then a parent
    cancel that must take the children with it."""
    ev = Evidence()
    sid = ctx.signal_id("lh")
    chain = orders.sigma9_chain(ctx.pricing, EntryType.LIMIT, sid, ctx.now(),
                                parent_limit=ctx.pricing.far_below())
    ids = ctx.send(orders.chain_orders(ctx.pricing, chain, ctx.ids(4)))
    ev.add(ctx, CHAIN_LABELS, ids)
    await ctx.settled(ids)
    await ctx.until(lambda: all(s.echo is not None for s in ev.orders.values()))
    await ctx.watch()  # late warnings (399, 2109) belong to the evidence
    ev.facts["held"] = {label: (s.status, s.why_held) for label, s in ev.orders.items()}
    ctx.ib.cancelOrder(ctx.sent[ids[0]])
    ev.facts["children_ended"] = await ctx.until(lambda: all(ctx.seen(i).done for i in ids))
    ev.freeze()
    await ctx.cancel(ids)
    return ev


async def legacy_328(ctx: Context) -> Evidence:
    """Sigma9's old chain (MKT parent + STP + time stop + TRAIL): IB refused it with 328."""
    ev = Evidence()
    chain = orders.legacy_market_chain(ctx.pricing, ctx.signal_id("328"), ctx.now())
    ids = ctx.send(orders.chain_orders(ctx.pricing, chain, ctx.ids(4)))
    ev.add(ctx, CHAIN_LABELS, ids)
    await ctx.until(lambda: any(s.errors for s in ev.orders.values())
                    or ev.orders["entry"].status in WORKING_STATUSES | {"Filled"})
    await ctx.watch()  # was anything released after the refusal?
    ev.freeze()
    await ctx.cancel(ids)
    ev.facts["leftover"] = await ctx.flatten("328flat")
    return ev


async def oca_pair(ctx: Context) -> Evidence:
    """Two far buy limits in one OCA group; the client cancels one. Then the group's name
    is used again for a third order after both ended, and a fresh ``~r1`` name for a
    fourth (what re-protection sends)."""
    ev = Evidence()
    sid = ctx.signal_id("oca")
    group = orders.oca_name(sid)
    intents = [orders.far_buy_limit(ctx.pricing, sid, label, oca_group=group)
               for label in ("a", "b")]
    ids = ctx.send(orders.single_order(ctx.pricing, i, n)
                   for i, n in zip(intents, ctx.ids(2), strict=True))
    ev.add(ctx, ("a", "b"), ids)
    a, b = ev.orders["a"], ev.orders["b"]
    ev.facts["both_working"] = await ctx.until(lambda: a.working and b.working)
    ctx.ib.cancelOrder(ctx.sent[ids[0]])
    ev.facts["sibling_ended"] = await ctx.until(lambda: a.done and b.done)
    ev.freeze()
    await ctx.cancel(ids)
    reuse = orders.far_buy_limit(ctx.pricing, sid, "reuse", oca_group=group)
    reuse_ids = ctx.send([orders.single_order(ctx.pricing, reuse, ctx.ids(1)[0])])
    ev.add(ctx, ("reuse",), reuse_ids)
    await ctx.settled(reuse_ids)
    await ctx.watch()
    ev.freeze("reuse")
    await ctx.cancel(reuse_ids)
    fresh = orders.far_buy_limit(ctx.pricing, sid, "fresh", oca_group=group + "~r1")
    fresh_ids = ctx.send([orders.single_order(ctx.pricing, fresh, ctx.ids(1)[0])])
    ev.add(ctx, ("fresh",), fresh_ids)
    await ctx.settled(fresh_ids)
    ev.freeze("fresh")
    await ctx.cancel(fresh_ids)
    return ev


async def system_cancel(ctx: Context) -> Evidence:
    """An OCA member IB cancels by its own condition (the time stop's mechanism, with a
    condition already true) must leave its sibling working."""
    ev = Evidence()
    sid = ctx.signal_id("sys")
    group = orders.oca_name(sid)
    already_true = PriceCondition(price=ctx.pricing.far_below(), is_more=True)
    intents = [orders.far_buy_limit(ctx.pricing, sid, "sibling", oca_group=group),
               orders.far_buy_limit(ctx.pricing, sid, "conditioned", oca_group=group,
                                    cancel_if=already_true)]
    ids = ctx.send(orders.single_order(ctx.pricing, i, n)
                   for i, n in zip(intents, ctx.ids(2), strict=True))
    ev.add(ctx, ("sibling", "conditioned"), ids)
    conditioned, sibling = ev.orders["conditioned"], ev.orders["sibling"]
    ev.facts["condition_cancelled"] = await ctx.until(
        lambda: conditioned.done, timeout=max(ctx.timeout, 15.0))
    await ctx.watch()  # give a group cancel the time a client cancel took (~0.2 s)
    ev.facts["sibling_working"] = sibling.working
    ev.freeze()
    await ctx.cancel(ids)
    return ev


async def stop_outside_rth(ctx: Context) -> Evidence:
    """A GTC STP with outsideRth=True, far from the market, outside regular hours."""
    ev = Evidence()
    intent = orders.far_buy_stop(ctx.pricing, ctx.signal_id("stp"), "stop")
    ids = ctx.send([orders.single_order(ctx.pricing, intent, ctx.ids(1)[0])])
    ev.add(ctx, ("stop",), ids)
    await ctx.settled(ids)
    await ctx.until(lambda: 2109 in ev.orders["stop"].codes, timeout=ctx.settle * 3)
    ev.facts["ended_before_cancel"] = ev.orders["stop"].done
    ev.freeze()
    await ctx.cancel(ids)
    return ev


async def market_outside_rth(ctx: Context) -> Evidence:
    """Sigma9's MKT entry with outsideRth=True outside regular hours: held until the open."""
    ev = Evidence()
    intent = orders.market_buy(ctx.pricing, ctx.signal_id("mkt"), outside_rth=True)
    ids = ctx.send([orders.single_order(ctx.pricing, intent, ctx.ids(1)[0])])
    ev.add(ctx, ("entry",), ids)
    await ctx.settled(ids)
    await ctx.until(lambda: 399 in ev.orders["entry"].codes, timeout=ctx.settle * 3)
    ev.freeze()
    await ctx.cancel(ids)
    ev.facts["leftover"] = await ctx.flatten("mktflat")
    return ev


async def _filled_chain(ctx: Context, ev: Evidence, entry_type: EntryType, sid: str
                        ) -> list[int] | None:
    """Send Sigma9's chain for 1 share and wait for the fill; None (cleaned up) if none."""
    chain = orders.sigma9_chain(ctx.pricing, entry_type, sid, ctx.now())
    count = 1 + len(chain.legs)
    ids = ctx.send(orders.chain_orders(ctx.pricing, chain, ctx.ids(count)))
    ev.add(ctx, CHAIN_LABELS[:count], ids)
    entry = ev.orders["entry"]
    timeout = min(ctx.pricing.entry.timeout.total_seconds(), 20.0)
    if not await ctx.until(lambda: entry.status == "Filled", timeout=timeout):
        ev.missing = (f"the {entry_type.value} entry did not fill within {timeout:g}s "
                      f"({entry.describe()})")
        await ctx.cancel(ids)
        await ctx.flatten("flat")
        return None
    ev.facts["avg_fill"] = Decimal(str(entry.avg_fill_price))
    await ctx.until(lambda: any(f.execution.orderId == ids[0] for f in ctx.ib.fills()))
    ev.facts["entry_exec_refs"] = [f.execution.orderRef for f in ctx.ib.fills()
                                   if f.execution.orderId == ids[0]]
    return ids


async def _cancel_stop_then_flatten(ctx: Context, ev: Evidence, ids: list[int]) -> None:
    """The trader's "cancel the stop": IB should end the whole group; then sell the share."""
    await ctx.watch()
    ev.facts["before_cancel"] = {label: s.describe() for label, s in ev.orders.items()}
    ev.facts["legs_working"] = {label: s.working and "child" not in s.why_held
                                for label, s in ev.orders.items() if label != "entry"}
    ctx.ib.cancelOrder(ev.sent["stop"])
    legs = [s for label, s in ev.orders.items() if label != "entry"]
    ev.facts["group_ended"] = await ctx.until(lambda: all(s.done for s in legs))
    ev.freeze()
    await ctx.cancel(ids)
    ev.facts["leftover"] = await ctx.flatten("fl")


async def limit_filled(ctx: Context) -> Evidence:
    """The limit chain as Sigma9 sends it, filled for 1 share, then unwound."""
    ev = Evidence()
    ids = await _filled_chain(ctx, ev, EntryType.LIMIT, ctx.signal_id("lf"))
    if ids is None:
        return ev
    legs = [ev.orders[label] for label in CHAIN_LABELS[1:]]
    await ctx.until(lambda: all(s.status in WORKING_STATUSES and "child" not in s.why_held
                                for s in legs))
    await _cancel_stop_then_flatten(ctx, ev, ids)
    return ev


async def market_filled(ctx: Context) -> Evidence:
    """The market chain: MKT + STP + time stop, then the TRAIL into the group after the fill."""
    ev = Evidence()
    sid = ctx.signal_id("mf")
    ids = await _filled_chain(ctx, ev, EntryType.MARKET, sid)
    if ids is None:
        return ev
    entry = ev.orders["entry"]
    trail = orders.trail_after_fill(ctx.pricing, int(entry.filled), ev.facts["avg_fill"], sid)
    trail_ids = ctx.send([orders.single_order(ctx.pricing, trail, ctx.ids(1)[0])])
    ev.add(ctx, ("trail",), trail_ids)
    ids += trail_ids
    legs = [ev.orders[label] for label in CHAIN_LABELS[1:]]
    await ctx.until(lambda: all(s.status in WORKING_STATUSES and s.echo is not None
                                and "child" not in s.why_held for s in legs))
    await _cancel_stop_then_flatten(ctx, ev, ids)
    return ev
