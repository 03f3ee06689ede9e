"""How the terminal writes numbers and leg names: one set of pure functions for every surface.

Why: the window, the headless log and the log panel printed the same fill three ways
("192.4", "192.40", "(0.0)"), and an average cost as ``426.88724137931035``. A trader reads
prices on the instrument's tick, shares as whole numbers and money with two decimals and
thousands separators, so each kind of number has one function here, and the Qt columns
(``frontend.models.columns``) and ``frontend.headless`` both call them. No Qt: headless
imports this on a machine without a display.

Prices are shown on the US equity tick grid (Reg NMS Rule 612: $0.01 at or above $1.00,
$0.0001 below), the grid the exit builder and the simulator use (``levels.PENNY``). A price
off the grid (an average cost with the commission folded in) is rounded to it for display
only; the exact value stays in the model for sorting and tooltips.
"""

from __future__ import annotations

import enum
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from backend.core.cancels import LEG_NAMES, plain_reason
from backend.core.leg_activity import countdown
from backend.core.models import LegRole

PENNY = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
CENT = Decimal("0.01")
NO_VALUE = ""
__all__ = ["ROLE_NAMES", "amount", "broker_text", "countdown", "fill_text", "leg_name", "money",
           "order_prices", "plain", "price", "protection_names", "quantity", "signed_price",
           "slippage_text", "tick_of"]


def _decimal(value: Any) -> Decimal | None:
    """``value`` as a Decimal (floats through their shortest text), None if not a number."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    try:
        number = Decimal(str(value).strip().replace(",", ""))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def tick_of(value: Decimal) -> Decimal:
    """The US equity tick for a price: a cent from $1.00 up, a hundredth of a cent below."""
    return PENNY if abs(value) >= 1 or value == 0 else SUB_PENNY


def price(value: Any, tick: Decimal | None = None) -> str:
    """A price with its tick's decimals: ``426.89`` (not 426.88724137931035), ``0.4512``
    below a dollar. Display only: the value is rounded half up, never snapped to the grid."""
    number = _decimal(value)
    if number is None:
        return NO_VALUE
    step = tick if tick is not None else tick_of(number)
    places = max(-int(step.as_tuple().exponent), 0)
    return f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"


def amount(value: Any) -> str:
    """A price distance (a trail amount): on the cent grid, whatever its size: ``0.68``."""
    return price(value, PENNY)


def quantity(value: Any) -> str:
    """Whole shares with thousands separators: ``1,200``."""
    number = _decimal(value)
    if number is None:
        return NO_VALUE
    return f"{int(number.to_integral_value(rounding=ROUND_HALF_UP)):,}"


def money(value: Any, signed: bool = False) -> str:
    """Two decimals and thousands separators: ``-1,234.50``; ``signed`` adds ``+`` to gains."""
    number = _decimal(value)
    if number is None:
        return NO_VALUE
    number = number.quantize(CENT, rounding=ROUND_HALF_UP)
    if number == 0:
        number = abs(number)  # never "-0.00"
    text = f"{number:,.2f}"
    return f"+{text}" if signed and number > 0 else text


def signed_price(value: Any) -> str:
    """A price difference (slippage, a trail amount's move) with its sign: ``+0.03``."""
    number = _decimal(value)
    if number is None:
        return NO_VALUE
    text = price(abs(number), PENNY if abs(number) >= PENNY or number == 0 else SUB_PENNY)
    if number > 0:
        return f"+{text}"
    return f"-{text}" if number < 0 else text


ROLE_NAMES: dict[LegRole, str] = {**LEG_NAMES, LegRole.FLATTEN: "close",
                                  LegRole.MANUAL: "manual"}
"""The leg names of ``backend.core.cancels.LEG_NAMES`` ("stop", "time stop", "trail"),
with shorter words for the two non-exit roles so a table column stays narrow."""


def leg_name(role: Any) -> str:
    """``LegRole.PROFIT_HARVESTER`` or its value ``"profit_harvester"`` -> ``"trail"``."""
    if role is None or role == "":
        return NO_VALUE
    if not isinstance(role, LegRole):
        try:
            role = LegRole(str(getattr(role, "value", role)))
        except ValueError:
            return str(getattr(role, "value", role))
    return ROLE_NAMES.get(role, role.value)


def plain(value: Any) -> str:
    """An enum by its value, anything else by its text, None as nothing."""
    if value is None:
        return NO_VALUE
    return str(value.value) if isinstance(value, enum.Enum) else str(value)


# -- event lines: the same words in the log panel and the headless log ------------------------
def fill_text(symbol: Any, side: Any, qty: Any, fill_price: Any, commission: Any,
              order_id: Any) -> str:
    """``AAPL BUY 100 @ 100.01, commission 1.00 (order 12)``."""
    fee = "" if commission is None else f", commission {money(commission)}"
    return (f"{plain(symbol)} {plain(side)} {quantity(qty)} @ {price(fill_price)}{fee}"
            f" (order {plain(order_id)})")


def order_prices(order_type: Any, limit: Any = None, stop: Any = None,
                 trail: Any = None) -> str:
    """`` limit 100.50``, `` stop 98.00``, `` trail 1.50``: the prices an order was sent with."""
    parts = [f" {label} {price(value)}" for label, value in
             (("limit", limit), ("stop", stop), ("trail", trail)) if _decimal(value)]
    return "".join(parts)


def slippage_text(symbol: Any, fill_price: Any, reference: Any, slippage: Any) -> str:
    """``AAPL entry filled at 100.01 vs reference 100.00 (slippage +0.01)``."""
    return (f"{plain(symbol)} entry filled at {price(fill_price)} vs reference "
            f"{price(reference)} (slippage {signed_price(slippage)})")


_LEG_ORDER = [LEG_NAMES[r] for r in (LegRole.SAFETY_STOP, LegRole.TIME_STOP,
                                      LegRole.PROFIT_HARVESTER)]


def protection_names(roles: Any) -> str:
    """``stop, time stop, trail`` from LegRoles or their values, always in that order."""
    names = [leg_name(r) for r in roles or ()]
    return ", ".join(sorted(names, key=lambda n: (_LEG_ORDER.index(n) if n in _LEG_ORDER
                                                  else len(_LEG_ORDER), n)))


CANCEL_CONFIRMED = 202


def broker_text(code: int, text: str) -> str:
    """A broker message for the log: IB's code kept for reference, its cancel in plain words.

    202 is IB confirming a cancel ("Order Canceled - reason:" and, nearly always, nothing
    after it); the order's own line already says why it ended, so this one says only that IB
    confirmed it, plus IB's reason when there is one.
    """
    if code == CANCEL_CONFIRMED:
        head, sep, rest = text.partition(": ")
        order, body = (head, rest) if sep and head.startswith("order ") else ("", text)
        reason = plain_reason(body)
        said = f"{order}: cancel confirmed by IB" if order else "cancel confirmed by IB"
        return f"{said} ({reason}) [IB {code}]" if reason else f"{said} [IB {code}]"
    return f"IB {code}: {text}"
