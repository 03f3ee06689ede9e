"""A trading signal: the one input the OrderManager acts on, and why one made no entry.

Frozen and validated at construction, so a malformed signal is refused
with a sentence before it can become an order.

Why it lives in the core: the OrderManager consumes it, so it is the core's vocabulary, and
the core imports nothing from the strategies (tests/core/test_layering.py). Strategies build
Signals; ``backend.strategies.signal`` re-exports these names for scripts that import them
from there (docs/api.md).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MIN_PRICE = Decimal("0.0001")
MAX_PRICE = Decimal(10**7)
"""A reference price or ATR outside these is no stock's (the broker bounds use the same ceiling,
``backend.broker.bounds``); beyond them the tick and sizing arithmetic leaves Decimal's range."""
MAX_DIGITS = 28
"""Decimal's default precision: more significant digits cannot be rounded to a tick exactly."""
MAX_REASON = 1000
YEARS = (1970, 2200)
"""A timestamp outside these years is a unit mistake; year 9999 made the time-stop overflow."""
MAX_PROBLEMS = 3


class Signal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64,
                    pattern=r"^[A-Za-z0-9_.-]+$")
    symbol: str = Field(min_length=1, max_length=12)
    action: Literal["BUY"] = "BUY"
    reference_price: Decimal = Field(description="the ask at signal time")
    atr: Decimal
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    reason: str = Field(default="", max_length=MAX_REASON)
    score: float = 0.0

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        value = value.strip().upper()
        if not (value.isascii() and value.replace(".", "").replace(" ", "").isalnum()):
            raise ValueError(f"symbol {value!r} is not a ticker")
        return value

    @field_validator("reference_price")
    @classmethod
    def _positive_price(cls, value: Decimal) -> Decimal:
        return _bounded(value, "reference price")

    @field_validator("atr")
    @classmethod
    def _atr(cls, value: Decimal) -> Decimal:
        return _bounded(value, "ATR")

    @field_validator("reference_price", "atr", "score", mode="before")
    @classmethod
    def _no_bool(cls, value: object) -> object:
        if isinstance(value, bool):  # True would pass as 1
            raise ValueError("must be a number, not true/false")
        return value

    @field_validator("reason")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("reason must be printable text on one line")
        return value

    @field_validator("score")
    @classmethod
    def _score(cls, value: float) -> float:
        if math.isnan(value) or math.isinf(value):
            raise ValueError("score must be finite")
        return value

    @field_validator("timestamp")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("timestamp must be timezone-aware")
        if not YEARS[0] <= value.year <= YEARS[1]:
            raise ValueError(f"timestamp year {value.year} is outside {YEARS[0]}..{YEARS[1]}")
        return value.astimezone(timezone.utc)


def _bounded(value: Decimal, what: str) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{what} must be a positive number, got {_short(value)}")
    if not MIN_PRICE <= value <= MAX_PRICE:
        raise ValueError(f"{what} {_short(value)} is outside {MIN_PRICE}..{MAX_PRICE:,}")
    if len(value.as_tuple().digits) > MAX_DIGITS:
        raise ValueError(f"{what} has more than {MAX_DIGITS} significant digits")
    return value


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:20] + "..."


class SignalRefused(Exception):
    """Why a signal made no entry: ``code`` (``sizing.ENTRY_RULES``, ``malformed``, ...) and
    ``reason``, one sentence. Raised by ``OrderManager.execute_entry``."""

    def __init__(self, reason: str, code: str = "refused") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


class MalformedSignal(ValueError):
    """A signal that cannot be traded, with one sentence saying why.

    ``symbol`` and ``id`` are the input's own when they are short plain text, else "?" and
    "": what a refusal may log and publish without echoing a hostile input.
    """

    def __init__(self, message: str, symbol: str = "?", signal_id: str = "") -> None:
        super().__init__(message)
        self.symbol, self.id = symbol, signal_id


def _plain(value: object, longest: int) -> str | None:
    """``value`` if it is short, printable ASCII text; else None."""
    if (isinstance(value, str) and 0 < len(value) <= longest and value.isprintable()
            and value.isascii()):
        return value
    return None


def _identity(data: dict) -> tuple[str, str]:
    """The symbol and id a refusal may show: the input's own only when they are plain."""
    symbol, signal_id = _plain(data.get("symbol"), 12), _plain(data.get("id"), 64)
    return (symbol.strip().upper() or "?" if symbol else "?", signal_id or "")


def parse_signal(data: object) -> Signal:
    """Accept a Signal, or the plain data of one; refuse anything else in one sentence.

    Strategies build Signals directly; this is the gate for everything else (a replayed
    journal row, a signal from a script or another process), so a NaN ATR or a zero
    price is refused with its field named rather than a pydantic traceback.
    """
    if isinstance(data, Signal):
        return data
    if not isinstance(data, dict):
        raise MalformedSignal(f"a signal must be a Signal or a mapping, not {type(data).__name__}")
    try:
        return Signal.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "signal"
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{field[:30]}: {message}")
        more = len(problems) - MAX_PROBLEMS
        text = "; ".join(problems[:MAX_PROBLEMS]) + (f"; and {more} more" if more > 0 else "")
        raise MalformedSignal("malformed signal: " + text, *_identity(data)) from None
