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


class Signal(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(default_factory=lambda: uuid.uuid4().hex, min_length=1, max_length=64,
                    pattern=r"^[A-Za-z0-9_.-]+$")
    symbol: str = Field(min_length=1, max_length=12)
    action: Literal["BUY"] = "BUY"
    reference_price: Decimal = Field(description="the ask at signal time")
    atr: Decimal
    timestamp: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    reason: str = ""
    score: float = 0.0

    @field_validator("symbol")
    @classmethod
    def _upper(cls, value: str) -> str:
        value = value.strip().upper()
        if not value.replace(".", "").replace(" ", "").isalnum():
            raise ValueError(f"symbol {value!r} is not a ticker")
        return value

    @field_validator("reference_price")
    @classmethod
    def _positive_price(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError(f"reference price must be a positive number, got {value}")
        return value

    @field_validator("atr")
    @classmethod
    def _atr(cls, value: Decimal) -> Decimal:
        if not value.is_finite() or value <= 0:
            raise ValueError(f"ATR must be a positive number, got {value}")
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
        return value.astimezone(timezone.utc)


class SignalRefused(Exception):
    """Why a signal made no entry: ``code`` (``sizing.ENTRY_RULES``, ``malformed``, ...) and
    ``reason``, one sentence. Raised by ``OrderManager.execute_entry``."""

    def __init__(self, reason: str, code: str = "refused") -> None:
        super().__init__(reason)
        self.reason, self.code = reason, code


class MalformedSignal(ValueError):
    """A signal that cannot be traded, with one sentence saying why."""


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
            problems.append(f"{field}: {message}")
        raise MalformedSignal("malformed signal: " + "; ".join(problems)) from None
