"""What the broker may report: the bounds a quantity, price or money figure must fit.

Why a gate at all: IB (or anything speaking its protocol on the port) sends floats, and
nothing in ib_insync checks them. An openOrder with a quantity of 1e30 once passed
``whole_shares`` (finite and whole), became a Python int no SQLite column holds, and
``Journal.upsert_order`` raised OverflowError inside a Qt slot, which aborted the terminal;
a quantity of -100 was booked as "BUY -100". Every figure from the broker is checked here,
at the mapping boundary, and a report that does not fit is refused whole with
:class:`AbsurdValue`, whose sentence names the field, the value and the bound. The connector
logs it and drops the event; nothing downstream ever sees the figure.

The bounds are deliberately wide (no real stock order, fill or position comes near them) and
keep every later product inside what the journal stores exactly: an INTEGER column holds
+-9.2e18, so shares x price x 100 (cents) must stay below it. The simulator applies the same
idea to what clients send it (``backend.sim.wire.MAX_INTEGER_DIGITS``).
"""

from __future__ import annotations

import math
from decimal import Decimal

MAX_SHARES = 10**9
"""More shares than any stock order or position (Apple has ~1.5e10 outstanding)."""
MAX_PRICE = Decimal(10**7)
"""A share price ceiling (the dearest US stock trades under 1e6)."""
MAX_MONEY = Decimal(10**12)
"""A commission or realized P&L ceiling, either sign."""


class AbsurdValue(ValueError):
    """A figure from the broker outside what Sigma9 accepts; ``str`` is one sentence."""


def _show(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise AbsurdValue(f"{what} {value!r} from the broker is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise AbsurdValue(f"{what} {value} from the broker is not a finite number")
    return number


def shares(value: object, what: str, signed: bool = False, positive: bool = False) -> int:
    """A whole number of shares: 0..MAX_SHARES (``positive``: from 1; ``signed``: either sign,
    as a short position is)."""
    number = _number(value, what)
    if number != int(number):
        raise AbsurdValue(f"{what} {value} from the broker is not a whole number of shares")
    count = int(number)
    low = -MAX_SHARES if signed else (1 if positive else 0)
    if not low <= count <= MAX_SHARES:
        raise AbsurdValue(f"{what} {_show(value)} from the broker is outside "
                          f"{low:,}..{MAX_SHARES:,} shares")
    return count


def price(value: object, what: str, positive: bool = False) -> Decimal:
    """A price: 0..MAX_PRICE (``positive``: above 0, as an execution's price must be)."""
    number = _number(value, what)
    if number < 0 or number > MAX_PRICE or (positive and number == 0):
        low = "above 0" if positive else "0"
        raise AbsurdValue(f"{what} {_show(value)} from the broker is outside "
                          f"{low}..{MAX_PRICE:,}")
    return Decimal(str(value))


def money(value: object, what: str) -> Decimal:
    """A commission or realized P&L: within +-MAX_MONEY."""
    number = _number(value, what)
    if abs(number) > MAX_MONEY:
        raise AbsurdValue(f"{what} {_show(value)} from the broker is outside "
                          f"+-{MAX_MONEY:,}")
    return Decimal(str(value))
