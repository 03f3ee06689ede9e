"""IB's order rules that depend on more than one field, each with the error IB answered.

Pure functions and tables, kept apart from ``validation`` (field checks) because each rule
here reproduces one live capture of a paper IB Gateway (ThomasMarcelis/ibkr-go
``testdata/transcripts``) or one IB page, named where the rule is:

- 328 for a trailing child of a parent that is not LMT or STP LMT
  (``api_bracket_trailing_stop_aapl``);
- hedge children (``api_hedge_order_aapl``) and algo attributes
  (``api_algo_variants_aapl``);
- the price-constraint cancel of a limit far through the market
  (``api_order_type_matrix_aapl`` June 2026 order 381, ``api_ioc_fok_aapl`` April 2026;
  IB's "Considerations for Automated Systems" page: "status (cancelled) + error (202) ...
  the price is too far from current price").
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

TRAIL_PARENT_TYPES = frozenset({"LMT", "STP LMT"})
TRAIL_ON_WRONG_PARENT = (328, "Trailing stop orders can be attached to limit or stop-limit "
                              "orders only.")

DELTA_HEDGE_TEXT = ("Error reading request. Invalid delta hedge order. The parent order has to "
                    "be option order and hedge order can only be Stock, CFD or (in case of "
                    "option on Index) Futures order. server: 0 order: 0 parent: {parent} "
                    "hedge:[D]")
FX_HEDGE_TEXT = ("Invalid FX hedge order. Hedging contract can only be a currency pair where one "
                 "of the currencies is the same as in parent order.")

ALGO_ATTRIBUTES: dict[str, frozenset[str]] = {
    "Adaptive": frozenset({"adaptivePriority"}),
    "Twap": frozenset({"startTime", "endTime", "allowPastEndTime"}),
    "Vwap": frozenset({"maxPctVol", "startTime", "endTime", "allowPastEndTime", "noTakeLiq",
                       "speedUp"}),
    "ArrivalPx": frozenset({"maxPctVol", "riskAversion", "startTime", "endTime",
                            "forceCompletion", "allowPastEndTime"}),
    "DarkIce": frozenset({"displaySize", "startTime", "endTime", "allowPastEndTime"}),
    "ClosePx": frozenset({"maxPctVol", "riskAversion", "startTime", "forceCompletion"}),
    "PctVol": frozenset({"pctVol", "startTime", "endTime", "noTakeLiq"}),
    "AD": frozenset({"componentSize", "timeBetweenOrders", "randomizeTime20",
                     "randomizeSize55", "giveUp", "catchUp", "waitForFill", "startTime",
                     "endTime"}),
}
"""Attributes IB accepted per algo in ``api_algo_variants_aapl`` (April and August: ClosePx,
PctVol and AD as sent there; DarkIce as ``whatif_rejections`` sent it); Twap's
``strategyType``,
although IB's algo page lists it, was answered 443 by the paper Gateway, so it is absent.
Attribute sets beyond the captured ones follow IB's IBKR-algos page (no public capture)."""

REPLACE_TOO_LATE = "Order rejected - reason:Order has been cancelled already, too late to replace"
"""201 after IB's price band cancelled an order on its revision (``api_bracket_trigger_aapl``
order 48, April 2026: 202 with the band's reason, then this)."""

PRICE_CAP_PERCENT = Decimal("2.94")
"""How far through the market a limit may be: order 381 of ``api_order_type_matrix_aapl``
(BUY LMT 350.62 with the market at 292.84) was cancelled "at or more aggressive than
301.449496", which is 292.84 x 1.0294. A user's report puts IB's band at about 3%
(elitetrader, "IB Trader Workstation"); the exact band is IB's and may vary: paper-check."""


@dataclass(frozen=True)
class RuleError:
    code: int
    text: str


def trail_parent_error(spec_type: str, parent_type: str | None) -> RuleError | None:
    if spec_type in ("TRAIL", "TRAIL LIMIT") and parent_type is not None \
            and parent_type not in TRAIL_PARENT_TYPES:
        return RuleError(*TRAIL_ON_WRONG_PARENT)
    return None


def hedge_error(hedge_type: str, parent_id: int, parent_sec_type: str) -> RuleError | None:
    """A delta hedge needs an option parent (320); FX hedges need a currency-pair hedge
    contract, which a stock order never is (10063)."""
    if hedge_type == "D" and parent_sec_type != "OPT":
        return RuleError(320, DELTA_HEDGE_TEXT.format(parent=parent_id))
    if hedge_type == "F":
        return RuleError(10063, FX_HEDGE_TEXT)
    return None


def hedge_quantity(hedge_type: str, hedge_param: str, parent_qty: Decimal,
                   own_qty: Decimal) -> Decimal:
    """Hedge children are sent without a quantity and TWS sizes them: the beta child of a
    1-share parent was echoed 1 (the parent's size times the beta, in whole shares); the
    pair child kept 0. Both were held ``child``."""
    if hedge_type != "B":
        return own_qty
    try:
        beta = Decimal(hedge_param or "0")
    except ArithmeticError:
        beta = Decimal(0)
    return (parent_qty * beta).to_integral_value(rounding=ROUND_HALF_UP)


UNKNOWN_ALGO = (439, "Order processing failed. Algorithm definition not found")
"""An algo strategy IB does not know (``api_algo_variants_aapl.sv225``, August 2026: Inline,
BalanceImpactRisk, MinImpact, JefAD)."""
TIMED_ALGOS = frozenset({"Vwap", "ArrivalPx", "ClosePx", "PctVol", "DarkIce"})
"""Algos whose startTime/endTime IB moved to the next trading date when placed outside
regular hours (2111), and cancelled when the start fell after the close
(``api_algo_variants_aapl.sv225``; ``sessions.SessionRules.algo_warnings``)."""
TWS_WORKED_ALGOS = frozenset({"AD"})
"""Accumulate/Distribute, which TWS works itself: held PreSubmitted after hours without 399
and without 2111 despite its start and end times (the same capture, order 461)."""
ATTRIBUTE_NOT_ALLOWED = "The '{name}' order attribute may not be specified for this order."
OWN_DISPLAY_SIZE = frozenset({"DarkIce"})
"""Algos that take the display size as their own parameter and refuse the order's
``displaySize`` with 10255 (``whatif_rejections``, July 2026: a DarkIce what-if with
displaySize 1 on the order and as the algo's parameter)."""


def algo_error(strategy: str, params: list[tuple[str, str]],
               display_size: int = 0) -> RuleError | None:
    if strategy in OWN_DISPLAY_SIZE and display_size:
        return RuleError(10255, ATTRIBUTE_NOT_ALLOWED.format(name="Display Size"))
    allowed = ALGO_ATTRIBUTES.get(strategy)
    if allowed is None:
        return RuleError(*UNKNOWN_ALGO)
    for tag, _value in params:
        if tag not in allowed:
            return RuleError(443, f"Order processing failed. Unknown algo attribute:{tag}")
    return None


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


def price_cap_text(action: str, limit: Decimal, reference: Decimal) -> str | None:
    """The reason of IB's price-constraint cancel for a limit at or through the band around
    the reference (the last price here), or None when the limit is inside it."""
    band = reference * PRICE_CAP_PERCENT / 100
    cap = reference + band if action == "BUY" else reference - band
    through = limit >= cap if action == "BUY" else limit <= cap
    if not through:
        return None
    return (f"We cannot accept an order at a limit price at or more aggressive than "
            f"{_plain(cap)}. Please submit your order <br>using a limit price that is closer "
            f"to the current market price of {_plain(reference)}. or convert your order to an "
            f"<br>algorithmic Order (IBALGO)")
