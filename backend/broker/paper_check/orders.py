"""The orders the paper check sends: Sigma9's own chains, and the variants its rows need.

Sigma9's chains come from ``backend.core.exit_plan`` (``build_entry_chain``,
``build_trail_after_fill``) and reach ib_insync through ``mapping.chain_orders``, the same
two steps the connector takes, so the check confirms exactly what Sigma9 sends. The only
change a no-fill row makes is the parent's limit, moved far below the market; the exit legs
keep their real levels (stop 2% under the ask, activation 3% over it), so no condition is
already true while the legs are held.

Far from the market means half the reference price for a buy limit and one and a half
times it for a buy stop: no quote moves that far within the two minutes a run takes.
Pure functions: ids, account and contract id arrive as arguments.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from ib_insync import Order

from backend.broker import mapping
from backend.core.exit_plan import (
    EntryChain,
    EntryParams,
    ExitParams,
    build_entry,
    build_entry_chain,
    build_exit_group,
    build_trail_after_fill,
    oca_group_name,
    order_ref,
    round_to_tick,
)
from backend.core.models import (
    EntryType,
    LegRole,
    OrderIntent,
    OrderType,
    PriceCondition,
    Side,
)

FAR_BELOW = Decimal("0.5")
FAR_ABOVE = Decimal("1.5")
ATR_FRACTION = Decimal("0.005")
"""The check has no strategy bars: it takes 0.5% of the price as the ATR (trail 0.75%)."""


@dataclass(frozen=True)
class Pricing:
    """What every builder needs to know about the contract and the market, once."""

    symbol: str
    con_id: int
    tick: Decimal
    reference: Decimal  # the ask (or the last price when no ask is quoted)
    account: str
    exits: ExitParams
    entry: EntryParams

    @property
    def atr(self) -> Decimal:
        return max(round_to_tick(self.reference * ATR_FRACTION, self.tick), self.tick)

    def far_below(self) -> Decimal:
        return round_to_tick(self.reference * FAR_BELOW, self.tick)

    def far_above(self) -> Decimal:
        return round_to_tick(self.reference * FAR_ABOVE, self.tick)


def sigma9_chain(p: Pricing, entry_type: EntryType, signal_id: str, now: datetime,
                 parent_limit: Decimal | None = None) -> EntryChain:
    """The chain ``[entry] type`` sends for 1 share; ``parent_limit`` moves a LMT parent."""
    entry = replace(p.entry, entry_type=entry_type)
    chain = build_entry_chain(p.symbol, 1, p.reference, p.atr, p.tick, p.exits, entry, now,
                              signal_id)
    if parent_limit is not None:
        if chain.entry.order_type is not OrderType.LIMIT:
            raise ValueError("only a LMT parent can be moved away from the market")
        chain = replace(chain, entry=replace(chain.entry, limit_price=parent_limit))
    return chain


def legacy_market_chain(p: Pricing, signal_id: str, now: datetime) -> EntryChain:
    """Sigma9's chain before issue 9: MKT parent + STP + time stop + TRAIL, all attached.

    The evidence row: IB answered this shape with 328 (api_bracket_trailing_stop_aapl).
    """
    entry = build_entry(p.symbol, 1, signal_id)
    legs = build_exit_group(p.symbol, 1, p.reference, p.atr, p.tick, p.exits, now, signal_id,
                            attach_to_parent=True, include_trail=True)
    return EntryChain(entry, tuple(legs), trail_after_fill=False)


def trail_after_fill(p: Pricing, quantity: int, avg_fill: Decimal, signal_id: str
                     ) -> OrderIntent:
    return build_trail_after_fill(p.symbol, quantity, avg_fill, p.atr, p.tick, p.exits,
                                  signal_id)


def chain_orders(p: Pricing, chain: EntryChain, ids: list[int]) -> list[Order]:
    """ib_insync orders of a transmit chain, exactly as the connector builds them."""
    return mapping.chain_orders(chain.entry, list(chain.legs), ids, p.account, p.con_id)


def single_order(p: Pricing, intent: OrderIntent, order_id: int) -> Order:
    """One unattached order that transmits itself."""
    return mapping.chain_orders(None, [intent], [order_id], p.account, p.con_id)[0]


def probe_ref(signal_id: str, label: str) -> str:
    """``s9:<id>:<label>``: Sigma9's orderRef shape; an unknown label reads as a manual order."""
    return f"s9:{signal_id}:{label}"


def far_buy_limit(p: Pricing, signal_id: str, label: str, oca_group: str = "",
                  cancel_if: PriceCondition | None = None) -> OrderIntent:
    """A BUY LMT at half the price: accepted, working, and never filled.

    ``cancel_if`` adds a PriceCondition with conditionsCancelOrder (IB cancels the order
    itself once it is true): the time stop's mechanism, on an order that cannot fill.
    """
    return OrderIntent(role=LegRole.MANUAL, symbol=p.symbol, side=Side.BUY, quantity=1,
                       order_type=OrderType.LIMIT, limit_price=p.far_below(), tif="DAY",
                       oca_group=oca_group, oca_type=p.exits.oca_type if oca_group else 0,
                       conditions=(cancel_if,) if cancel_if else (),
                       conditions_cancel_order=cancel_if is not None,
                       order_ref=probe_ref(signal_id, label))


def far_buy_stop(p: Pricing, signal_id: str, label: str) -> OrderIntent:
    """A GTC BUY STP at one and a half times the price with outsideRth: never triggers.

    A buy, not the exit's sell, so that even an account that may not sell short gets the
    same attribute handling without a short-sale refusal in the way.
    """
    return OrderIntent(role=LegRole.MANUAL, symbol=p.symbol, side=Side.BUY, quantity=1,
                       order_type=OrderType.STOP, stop_price=p.far_above(), tif="GTC",
                       outside_rth=True, order_ref=probe_ref(signal_id, label))


def market_buy(p: Pricing, signal_id: str, outside_rth: bool) -> OrderIntent:
    """Sigma9's market entry, unattached (1 share)."""
    return replace(build_entry(p.symbol, 1, signal_id), outside_rth=outside_rth)


def flatten(p: Pricing, quantity: int, signal_id: str, regular_hours: bool = True
            ) -> OrderIntent:
    """The order that takes the account back to where it was before the check.

    In regular hours a MKT order. Outside them IB holds a MKT order until the open (399),
    so a marketable LMT with outsideRth 2% through the reference takes its place (IB
    cancels a limit about 3% through the market: api_order_type_matrix_aapl).
    """
    side = Side.SELL if quantity > 0 else Side.BUY
    market = OrderIntent(role=LegRole.FLATTEN, symbol=p.symbol, side=side,
                         quantity=abs(quantity), order_type=OrderType.MARKET, tif="DAY",
                         order_ref=order_ref(signal_id, LegRole.FLATTEN))
    if regular_hours:
        return market
    through = Decimal("0.98") if side is Side.SELL else Decimal("1.02")
    return replace(market, order_type=OrderType.LIMIT, outside_rth=True,
                   limit_price=round_to_tick(p.reference * through, p.tick))


def oca_name(signal_id: str) -> str:
    return oca_group_name(signal_id)
