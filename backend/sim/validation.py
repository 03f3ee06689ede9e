"""Pre-acceptance checks of a placeOrder, returning the error TWS would send.

Order of checks follows TWS: contract first (200), then request validation
(321), then price increments (110), then broker rejections (201, Inactive).
Codes and texts not marked otherwise are IB's, from the live captures named at each
table (ThomasMarcelis/ibkr-go ``testdata/transcripts``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.sim.account import BUYING_POWER_MULTIPLE
from backend.sim.conditions import validate_condition
from backend.sim.models import SUPPORTED_ORDER_TYPES, Instrument, OrderSpec
from backend.sim.order_rules import algo_error
from backend.sim.timefmt import TimeFormatError, parse_ib_time

KNOWN_IB_ORDER_TYPES = frozenset({
    *SUPPORTED_ORDER_TYPES, "TRAIL LIMIT", "MOC", "LOC", "MIT", "LIT", "REL", "MTL", "PEG MKT",
    "PEG MID", "PEG BEST", "PEG BENCH", "MIDPRICE", "VWAP", "BOX TOP", "PASSV REL", "SNAP MKT",
    "SNAP MID", "SNAP PRIM", "VOL", "PEG STK", "REL + LMT", "REL + MKT", "LMT + MKT",
})
SUPPORTED_TIFS = ("DAY", "GTC", "IOC", "GTD", "FOK")
FOK_REFUSED = ("The time-in-force FOK is invalid for this combination of exchange and "
               "security type.")
"""201 and Inactive for every FOK on a SMART stock (``api_ioc_fok_aapl``, August 2026; the
April capture shows the same Inactive end without its error line)."""
REFUSED_TYPES: dict[str, tuple[int, str, str]] = {
    "PEG MKT": (387, "Unsupported order type for this exchange and security type.",
                "discarded"),
    "PEG BEST": (201, "Order rejected - reason:This order type is not allowed w/o PostToAts "
                      "for specified destination", "inactive"),
}
"""IB types a SMART stock order may not use, as ``api_order_type_matrix_aapl`` answered them:
a PEG MKT stays in TWS unsubmitted (a later global cancel reports it discarded); a PEG BEST
without PostToAts ends Inactive (August 2026)."""
VALID_ACTIONS = ("BUY", "SELL", "SSHORT")

NO_SECURITY = "No security definition has been found for the request"
BAD_TICK = "The price does not conform to the minimum price variation for this contract."


@dataclass(frozen=True)
class Rejection:
    code: int
    text: str
    inactive: bool = False
    """True when TWS creates the order and reports it Inactive (code 201, 110)."""
    discarded: bool = False
    """True when TWS keeps the order unsubmitted (387): only a cancel reports it again."""


def invalid(cause: str, tag: str = "bB") -> Rejection:
    return Rejection(321, f"Error validating request.-'{tag}' : cause - {cause}")


def rejected(reason: str) -> Rejection:
    return Rejection(201, f"Order rejected - reason:{reason}", inactive=True)


def validate_spec(spec: OrderSpec, inst: Instrument | None, known_con_ids: set[int],
                  account_code: str) -> Rejection | None:
    if inst is None:
        return Rejection(200, NO_SECURITY)
    if spec.order_type not in KNOWN_IB_ORDER_TYPES:
        return invalid("Invalid order type was entered", "bC")
    if spec.order_type in REFUSED_TYPES:
        code, text, how = REFUSED_TYPES[spec.order_type]
        return Rejection(code, text, inactive=how == "inactive", discarded=how == "discarded")
    if spec.order_type not in SUPPORTED_ORDER_TYPES:
        return invalid(f"order type {spec.order_type} is not supported by sigma9-sim", "bC")
    if spec.action not in VALID_ACTIONS:
        return invalid(f"Invalid action {spec.action!r}")
    if spec.tif not in SUPPORTED_TIFS:
        return invalid(f"Invalid time in force {spec.tif!r}")
    if spec.account and spec.account != account_code:
        return invalid(f"Account {spec.account!r} is not managed by this login")
    missing = _missing_prices(spec)
    if missing:
        return invalid(missing)
    for when, label in ((spec.good_after_time, "good after time"),
                        (spec.good_till_date, "good till date")):
        if when:
            try:
                parse_ib_time(when)
            except TimeFormatError as exc:
                return invalid(f"Invalid {label}: {exc}")
    if spec.tif == "GTD" and not spec.good_till_date:
        return invalid("GTD order requires a good till date")
    for cond in spec.conditions:
        problem = validate_condition(cond, known_con_ids)
        if problem:
            return invalid(problem)
    if spec.algo_strategy:
        algo = algo_error(spec.algo_strategy, spec.algo_params, spec.display_size)
        if algo is not None:
            return Rejection(algo.code, algo.text)
    for price in (spec.lmt_price, spec.aux_price, spec.trail_stop_price):
        if price is not None and not inst.on_grid(price):
            return Rejection(110, BAD_TICK, inactive=True)
    if spec.tif == "FOK":
        return rejected(FOK_REFUSED)
    hedge_child = bool(spec.hedge_type) and spec.parent_id  # sized by TWS (order_rules)
    if spec.total_qty <= 0 and not (hedge_child and spec.total_qty == 0):
        return rejected(f"Order quantity {spec.total_qty} is not valid")
    if spec.total_qty != spec.total_qty.to_integral_value():
        return rejected("Fractional share quantities are not supported for this contract")
    return None


def _missing_prices(spec: OrderSpec) -> str | None:
    kind = spec.order_type
    if kind in ("LMT", "STP LMT") and spec.lmt_price is None:
        return "The limit price must be set for a limit order"
    if kind in ("STP", "STP LMT", "MIT", "LIT") and spec.aux_price is None:
        return "The stop price must be set for a stop order"
    if kind in ("LIT", "LOC") and spec.lmt_price is None:
        return "The limit price must be set for a limit order"
    if kind == "TRAIL LIMIT" and spec.lmt_price_offset is None and spec.lmt_price is None:
        return "A trailing limit needs a limit price offset"
    if kind in ("TRAIL", "TRAIL LIMIT"):
        if spec.aux_price is None and spec.trailing_percent is None:
            return "A trailing stop needs a trailing amount or a trailing percent"
        if spec.aux_price is not None and spec.trailing_percent is not None:
            return "Set either the trailing amount or the trailing percent, not both"
        amount = spec.aux_price if spec.aux_price is not None else spec.trailing_percent
        if amount is not None and amount <= 0:
            return "The trailing amount must be positive"
    for price in (spec.lmt_price, spec.aux_price):
        if price is not None and price < 0:
            return "Prices must not be negative"
    if spec.trailing_percent is not None and not Decimal(0) < spec.trailing_percent < 100:
        return "The trailing percent must be between 0 and 100"
    return None


def check_buying_power(spec: OrderSpec, held: Decimal, price: Decimal,
                       available: Decimal) -> Rejection | None:
    """The opening part of an order must fit intraday buying power; closing always passes.

    ``held`` is the signed position, ``price`` the order's limit or else the ask.
    """
    closable = max(-held, Decimal(0)) if spec.action == "BUY" else max(held, Decimal(0))
    opening = spec.total_qty - closable
    if opening <= 0:
        return None
    needed = opening * price / BUYING_POWER_MULTIPLE
    if needed > available:
        return rejected(
            f"YOUR ORDER IS NOT ACCEPTED. IN ORDER TO OBTAIN THE DESIRED POSITION YOUR "
            f"AVAILABLE FUNDS [{available:.2f} USD] MUST EXCEED THE INITIAL MARGIN "
            f"[{needed:.2f} USD]")
    return None
