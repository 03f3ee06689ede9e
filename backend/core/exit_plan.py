"""Pure builders of the entry and its server-side OCA exit group (masterplan 5.1).

No I/O, no ids, no clock: everything arrives as arguments, so each leg can
be checked field by field in unit tests. The connector assigns order ids,
parentIds and transmit flags when it sends the chain.

The legs, and the IB mechanism each one uses (docs/oca.md explains why):

- Safety stop: STP SELL at reference x (1 - stop%).
- Time stop: MKT SELL held by ``goodAfterTime`` = entry + N, carrying a
  PriceCondition at the activation level with ``conditionsCancelOrder``, so
  IB itself cancels it once the trade has ignited.
- Profit harvester: TRAIL SELL, amount = ATR x multiplier, activated by a
  PriceCondition at reference x (1 + activation%), initial stop at
  activation - amount.

All three share one OCA group (ocaType 2 by default: a fill reduces the
others, with overfill block), tif GTC and an explicit outsideRth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal

from backend.core.models import LegRole, OrderIntent, OrderType, PriceCondition, Side

HUNDRED = Decimal(100)


@dataclass(frozen=True)
class ExitParams:
    safety_stop_pct: Decimal = Decimal("2.0")
    time_stop: timedelta = timedelta(minutes=3)
    trail_atr_multiplier: Decimal = Decimal("1.5")
    trail_activation_pct: Decimal = Decimal("3.0")
    oca_type: int = 2
    tif: str = "GTC"
    outside_rth: bool = True

    @classmethod
    def from_settings(cls, exits) -> ExitParams:
        """``exits`` is ``Settings.exits``; floats become exact Decimals via their text."""
        return cls(
            safety_stop_pct=Decimal(str(exits.safety_stop_pct)),
            time_stop=timedelta(seconds=exits.time_stop_s),
            trail_atr_multiplier=Decimal(str(exits.trail_atr_multiplier)),
            trail_activation_pct=Decimal(str(exits.trail_activation_pct)),
            oca_type=exits.oca_type, tif=exits.tif, outside_rth=exits.outside_rth)


@dataclass(frozen=True)
class ExitLevels:
    """The prices of an exit group, on the tick grid."""

    stop_price: Decimal
    activation_price: Decimal
    trail_amount: Decimal
    trail_stop_price: Decimal


def round_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """Nearest tick, halves away from zero: IB rejects off-grid prices with error 110."""
    if tick <= 0:
        raise ValueError(f"tick size must be positive, got {tick}")
    return (price / tick).to_integral_value(rounding=ROUND_HALF_UP) * tick


def exit_levels(reference: Decimal, atr: Decimal, tick: Decimal, p: ExitParams) -> ExitLevels:
    stop = round_to_tick(reference * (1 - p.safety_stop_pct / HUNDRED), tick)
    activation = round_to_tick(reference * (1 + p.trail_activation_pct / HUNDRED), tick)
    amount = max(round_to_tick(atr * p.trail_atr_multiplier, tick), tick)
    return ExitLevels(stop, activation, amount, activation - amount)


def ib_time(moment: datetime) -> str:
    """``YYYYMMDD HH:MM:SS UTC``: explicit zone, so TWS never guesses (warning 2174)."""
    if moment.tzinfo is None:
        raise ValueError("times sent to IB must be timezone-aware")
    return moment.astimezone(timezone.utc).strftime("%Y%m%d %H:%M:%S") + " UTC"


def oca_group_name(signal_id: str) -> str:
    return f"S9-{signal_id}"


def order_ref(signal_id: str, role: LegRole) -> str:
    """Carried by IB on orders and executions: how a restart finds a signal's orders."""
    return f"s9:{signal_id}:{role.value}"


def build_entry(symbol: str, quantity: int, signal_id: str) -> OrderIntent:
    if quantity <= 0:
        raise ValueError(f"entry quantity must be a positive whole number, got {quantity}")
    return OrderIntent(role=LegRole.ENTRY, symbol=symbol, side=Side.BUY, quantity=quantity,
                       order_type=OrderType.MARKET, tif="DAY",
                       order_ref=order_ref(signal_id, LegRole.ENTRY))


def build_exit_group(symbol: str, quantity: int, reference: Decimal, atr: Decimal,
                     tick: Decimal, params: ExitParams, entry_time: datetime, signal_id: str,
                     attach_to_parent: bool = True) -> list[OrderIntent]:
    """The three legs in transmit order: safety stop, time stop, profit harvester."""
    if quantity <= 0:
        raise ValueError(f"exit quantity must be a positive whole number, got {quantity}")
    if reference <= 0 or atr <= 0:
        raise ValueError("reference price and ATR must be positive")
    levels = exit_levels(reference, atr, tick, params)
    common = dict(symbol=symbol, side=Side.SELL, quantity=quantity, tif=params.tif,
                  outside_rth=params.outside_rth, oca_group=oca_group_name(signal_id),
                  oca_type=params.oca_type, attach_to_parent=attach_to_parent)
    ignited = PriceCondition(price=levels.activation_price, is_more=True)
    return [
        OrderIntent(role=LegRole.SAFETY_STOP, order_type=OrderType.STOP,
                    stop_price=levels.stop_price,
                    order_ref=order_ref(signal_id, LegRole.SAFETY_STOP), **common),
        OrderIntent(role=LegRole.TIME_STOP, order_type=OrderType.MARKET,
                    good_after_time=ib_time(entry_time + params.time_stop),
                    conditions=(ignited,), conditions_cancel_order=True,
                    order_ref=order_ref(signal_id, LegRole.TIME_STOP), **common),
        OrderIntent(role=LegRole.PROFIT_HARVESTER, order_type=OrderType.TRAIL,
                    trail_amount=levels.trail_amount, trail_stop_price=levels.trail_stop_price,
                    conditions=(ignited,), conditions_cancel_order=False,
                    order_ref=order_ref(signal_id, LegRole.PROFIT_HARVESTER), **common),
    ]


def parse_order_ref(ref: str) -> tuple[str, LegRole]:
    """Inverse of ``order_ref``: (signal id, role); anything else is a manual order."""
    parts = (ref or "").split(":")
    if len(parts) == 3 and parts[0] == "s9":
        try:
            return parts[1], LegRole(parts[2])
        except ValueError:
            pass
    return "", LegRole.MANUAL


REPROTECT_SEPARATOR = "~"
"""Joins a signal id and a re-protection attempt (``abc~r1``); never valid in a Signal id."""


def base_signal_id(signal_id: str) -> str:
    return signal_id.split(REPROTECT_SEPARATOR)[0]
