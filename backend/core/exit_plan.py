"""Pure builders of the entry and its server-side OCA exit group (issue 9, docs/oca.md).

No I/O, no ids, no clock: everything arrives as arguments, so each leg can
be checked field by field in unit tests. The connector assigns order ids,
parentIds and transmit flags when it sends the chain.

The legs, and the IB mechanism each one uses (docs/oca.md has the evidence):

- Safety stop: STP SELL at reference x (1 - stop%).
- Time stop: MKT SELL held by ``goodAfterTime`` = entry + N, carrying a
  PriceCondition at the activation level with ``conditionsCancelOrder``, so
  IB itself cancels it once the trade has ignited.
- Profit harvester: TRAIL SELL, amount = ATR x multiplier, activated by a
  PriceCondition at the activation level, initial stop at activation - amount.

Two entry shapes, chosen by ``[entry] type`` (IB refuses a TRAIL child under a
MKT parent with error 328, capture ``api_bracket_trailing_stop_aapl``):

- ``limit``: a marketable LMT BUY at reference x (1 + cap%) rounded UP to the
  tick, with all three legs attached in one transmit chain.
- ``market``: a MKT BUY with the stop and time stop attached; the trail is sent
  unattached into the same OCA group once the entry has finished filling,
  priced from the average fill (:func:`build_trail_after_fill`).

Legs sent before the fill are priced from the signal's reference (the ask at
signal time), because the fill price is not known yet (P4, ib_insync #85).
All legs share one OCA group (ocaType 2 by default: a fill reduces the others,
with overfill block), tif GTC and an explicit outsideRth.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal

from backend.core.models import (
    EntryType,
    LegRole,
    OrderIntent,
    OrderType,
    PriceCondition,
    Side,
)

HUNDRED = Decimal(100)


def _exact(value: float | int | Decimal) -> Decimal:
    """A setting as an exact Decimal via its text: 0.1 means 0.1, not 0.1000000000000000055."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class ExitParams:
    safety_stop_pct: Decimal = Decimal("2.0")
    time_stop: timedelta = timedelta(minutes=3)
    trail_atr_multiplier: Decimal = Decimal("1.5")
    trail_activation_pct: Decimal = Decimal("3.0")
    oca_type: int = 2
    tif: str = "GTC"
    outside_rth: bool = False
    """False by default: IB resets it on MKT orders (ib_insync #141) and ignored it on a STP
    in the pre-market (warning 2109); docs/oca.md "Outside regular hours"."""

    @classmethod
    def from_settings(cls, exits) -> ExitParams:
        """``exits`` is ``Settings.exits``; floats become exact Decimals via their text."""
        return cls(
            safety_stop_pct=_exact(exits.safety_stop_pct),
            time_stop=timedelta(seconds=exits.time_stop_s),
            trail_atr_multiplier=_exact(exits.trail_atr_multiplier),
            trail_activation_pct=_exact(exits.trail_activation_pct),
            oca_type=exits.oca_type, tif=exits.tif, outside_rth=exits.outside_rth)


@dataclass(frozen=True)
class EntryParams:
    entry_type: EntryType = EntryType.LIMIT
    max_slippage_pct: Decimal = Decimal("0.5")
    timeout: timedelta = timedelta(seconds=30)
    allow_outside_rth: bool = False

    @classmethod
    def from_settings(cls, entry) -> EntryParams:
        """``entry`` is ``Settings.entry``."""
        return cls(entry_type=EntryType(entry.type),
                   max_slippage_pct=_exact(entry.max_slippage_pct),
                   timeout=timedelta(seconds=entry.timeout_s),
                   allow_outside_rth=entry.allow_outside_rth)


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


def round_up_to_tick(price: Decimal, tick: Decimal) -> Decimal:
    """The first tick at or above ``price``: a buy limit never ends below its cap's intent."""
    if tick <= 0:
        raise ValueError(f"tick size must be positive, got {tick}")
    return (price / tick).to_integral_value(rounding=ROUND_CEILING) * tick


def exit_levels(reference: Decimal, atr: Decimal, tick: Decimal, p: ExitParams) -> ExitLevels:
    stop = round_to_tick(reference * (1 - p.safety_stop_pct / HUNDRED), tick)
    activation = round_to_tick(reference * (1 + p.trail_activation_pct / HUNDRED), tick)
    amount = max(round_to_tick(atr * p.trail_atr_multiplier, tick), tick)
    return ExitLevels(stop, activation, amount, activation - amount)


def limit_entry_price(reference: Decimal, tick: Decimal, max_slippage_pct: Decimal) -> Decimal:
    """The marketable limit: reference (the ask) x (1 + cap%), rounded UP to the tick."""
    if not reference.is_finite() or reference <= 0:
        raise ValueError(f"reference price must be positive, got {reference}")
    if max_slippage_pct < 0:
        raise ValueError(f"slippage cap must not be negative, got {max_slippage_pct}")
    return round_up_to_tick(reference * (1 + max_slippage_pct / HUNDRED), tick)


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


def build_entry(symbol: str, quantity: int, signal_id: str, limit_price: Decimal | None = None,
                outside_rth: bool = False) -> OrderIntent:
    """A DAY BUY: MKT without ``limit_price``, else a (marketable) LMT at that price."""
    if quantity <= 0:
        raise ValueError(f"entry quantity must be a positive whole number, got {quantity}")
    if limit_price is not None and (not limit_price.is_finite() or limit_price <= 0):
        raise ValueError(f"entry limit price must be positive, got {limit_price}")
    return OrderIntent(role=LegRole.ENTRY, symbol=symbol, side=Side.BUY, quantity=quantity,
                       order_type=OrderType.MARKET if limit_price is None else OrderType.LIMIT,
                       limit_price=limit_price, tif="DAY", outside_rth=outside_rth,
                       order_ref=order_ref(signal_id, LegRole.ENTRY))


def _leg_common(symbol: str, quantity: int, params: ExitParams, signal_id: str,
                attach_to_parent: bool) -> dict:
    if quantity <= 0:
        raise ValueError(f"exit quantity must be a positive whole number, got {quantity}")
    return dict(symbol=symbol, side=Side.SELL, quantity=quantity, tif=params.tif,
                outside_rth=params.outside_rth, oca_group=oca_group_name(signal_id),
                oca_type=params.oca_type, attach_to_parent=attach_to_parent)


def _check_prices(reference: Decimal, atr: Decimal) -> None:
    if reference <= 0 or atr <= 0:
        raise ValueError("reference price and ATR must be positive")


def _safety_stop(levels: ExitLevels, signal_id: str, common: dict) -> OrderIntent:
    return OrderIntent(role=LegRole.SAFETY_STOP, order_type=OrderType.STOP,
                       stop_price=levels.stop_price,
                       order_ref=order_ref(signal_id, LegRole.SAFETY_STOP), **common)


def _time_stop(levels: ExitLevels, params: ExitParams, entry_time: datetime, signal_id: str,
               common: dict) -> OrderIntent:
    return OrderIntent(role=LegRole.TIME_STOP, order_type=OrderType.MARKET,
                       good_after_time=ib_time(entry_time + params.time_stop),
                       conditions=(PriceCondition(price=levels.activation_price, is_more=True),),
                       conditions_cancel_order=True,
                       order_ref=order_ref(signal_id, LegRole.TIME_STOP), **common)


def _trail(levels: ExitLevels, signal_id: str, common: dict) -> OrderIntent:
    return OrderIntent(role=LegRole.PROFIT_HARVESTER, order_type=OrderType.TRAIL,
                       trail_amount=levels.trail_amount, trail_stop_price=levels.trail_stop_price,
                       conditions=(PriceCondition(price=levels.activation_price, is_more=True),),
                       conditions_cancel_order=False,
                       order_ref=order_ref(signal_id, LegRole.PROFIT_HARVESTER), **common)


def build_exit_group(symbol: str, quantity: int, reference: Decimal, atr: Decimal,
                     tick: Decimal, params: ExitParams, entry_time: datetime, signal_id: str,
                     attach_to_parent: bool = True, include_trail: bool = True
                     ) -> list[OrderIntent]:
    """The legs in transmit order: safety stop, time stop, profit harvester (unless excluded).

    Unattached (``attach_to_parent=False``) the legs protect a position that already exists
    and are live at once: re-protection after a restart, or a manual entry.
    """
    _check_prices(reference, atr)
    levels = exit_levels(reference, atr, tick, params)
    common = _leg_common(symbol, quantity, params, signal_id, attach_to_parent)
    legs = [_safety_stop(levels, signal_id, common),
            _time_stop(levels, params, entry_time, signal_id, common)]
    if include_trail:
        legs.append(_trail(levels, signal_id, common))
    return legs


def build_trail_after_fill(symbol: str, quantity: int, avg_fill: Decimal, atr: Decimal,
                           tick: Decimal, params: ExitParams, signal_id: str) -> OrderIntent:
    """The market entry's trail: unattached, into the entry's OCA group, priced from the fill.

    activation = fill x (1 + activation%), amount = ATR x multiplier, initial stop =
    activation - amount, all on the tick grid. ``quantity`` is what the entry filled and the
    exits have not closed: never more than the position (docs/oca.md, partial fills).
    """
    _check_prices(avg_fill, atr)
    levels = exit_levels(avg_fill, atr, tick, params)
    return _trail(levels, signal_id, _leg_common(symbol, quantity, params, signal_id, False))


@dataclass(frozen=True)
class EntryChain:
    """One signal's orders for one transmit chain, and whether the trail follows the fill."""

    entry: OrderIntent
    legs: tuple[OrderIntent, ...]
    """Attached to the entry, in transmit order: the last one transmits the whole chain."""
    trail_after_fill: bool


def build_entry_chain(symbol: str, quantity: int, reference: Decimal, atr: Decimal,
                      tick: Decimal, exits: ExitParams, entry: EntryParams, now: datetime,
                      signal_id: str) -> EntryChain:
    """The chain ``[entry] type`` asks for (module doc); every leg priced from ``reference``."""
    market = entry.entry_type is EntryType.MARKET
    limit = None if market else limit_entry_price(reference, tick, entry.max_slippage_pct)
    parent = build_entry(symbol, quantity, signal_id, limit_price=limit,
                         outside_rth=entry.allow_outside_rth and not market)
    legs = build_exit_group(symbol, quantity, reference, atr, tick, exits, now, signal_id,
                            attach_to_parent=True, include_trail=not market)
    return EntryChain(parent, tuple(legs), trail_after_fill=market)


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
