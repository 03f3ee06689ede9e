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

from backend.core.cancels import LEG_NAMES
from backend.core.leg_activity import countdown
from backend.core.models import LegRole

PENNY = Decimal("0.01")
SUB_PENNY = Decimal("0.0001")
CENT = Decimal("0.01")
NO_VALUE = ""
__all__ = ["ROLE_NAMES", "countdown", "leg_name", "money", "plain", "price", "quantity",
           "signed_price", "tick_of"]


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
    return PENNY if abs(value) >= 1 else SUB_PENNY


def price(value: Any, tick: Decimal | None = None) -> str:
    """A price on its tick: ``426.89`` (not 426.88724137931035), ``0.4512`` below a dollar."""
    number = _decimal(value)
    if number is None:
        return NO_VALUE
    step = tick if tick is not None else tick_of(number)
    places = max(-int(step.as_tuple().exponent), 0)
    return f"{number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):.{places}f}"


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
