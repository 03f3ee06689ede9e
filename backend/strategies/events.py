"""The StrategyRunner's events, declared like the OMS's (``backend.core.events``).

A refusal is not among them: the OrderManager publishes it (``SignalRefusal``), once. The
runner only says what is its own: arming, warm-up, bars, the signals its strategy produced,
the entry each one got, and a submission that failed for a reason other than a refusal
(``EntryFailed``: an exception the OMS did not turn into ``SignalRefused``).

None of these is journalled: the journal records signals and their outcomes itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from backend.core.events import Event
from backend.core.models import Bar
from backend.core.signal import Signal, parse_signal

__all__ = ["RUNNER_EVENTS", "ArmFailed", "Armed", "BarClosed", "Disarmed", "EntryFailed",
           "EntrySent", "SignalEmitted", "SignalIgnored", "SymbolError", "WarmedUp",
           "WarmupFailed"]


@dataclass(frozen=True)
class _Symbols(Event):
    symbols: tuple[str, ...]

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        return cls(tuple(payload["symbols"]))


@dataclass(frozen=True)
class Armed(_Symbols):
    """The strategy judges these symbols from now on (subscribed and warmed up)."""

    kind: ClassVar[str] = "armed"


@dataclass(frozen=True)
class ArmFailed(_Symbols):
    """No symbol of the watchlist could be subscribed: nothing is armed."""

    kind: ClassVar[str] = "arm_failed"


@dataclass(frozen=True)
class Disarmed(_Symbols):
    """No new signals; open positions keep their exits at the broker."""

    kind: ClassVar[str] = "disarmed"


@dataclass(frozen=True)
class SymbolError(Event):
    """A watchlist symbol could not be subscribed (left out, the rest armed)."""

    kind: ClassVar[str] = "symbol_error"
    symbol: str
    reason: str


@dataclass(frozen=True)
class WarmupFailed(Event):
    """History for a symbol could not be read: it is armed cold."""

    kind: ClassVar[str] = "warmup_failed"
    symbol: str
    reason: str


@dataclass(frozen=True)
class WarmedUp(Event):
    kind: ClassVar[str] = "warmed_up"
    symbol: str
    bars: int


@dataclass(frozen=True)
class BarClosed(Event):
    """A bar finished (the chart draws it). ``to_dict`` keeps the Bar itself, as the legacy
    listeners always received it."""

    kind: ClassVar[str] = "bar"
    bar: Bar

    def to_dict(self) -> dict[str, Any]:
        return {"bar": self.bar}


def _signal_data(signal: Signal) -> dict[str, Any]:
    return signal.model_dump(mode="json")


@dataclass(frozen=True)
class SignalEmitted(Event):
    """The strategy produced a signal and the runner hands it to the OrderManager."""

    kind: ClassVar[str] = "signal"
    signal: Signal

    def to_dict(self) -> dict[str, Any]:
        return {"signal": _signal_data(self.signal)}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        return cls(parse_signal(payload["signal"]))


@dataclass(frozen=True)
class SignalIgnored(Event):
    """The strategy produced a signal while disarmed: not sent."""

    kind: ClassVar[str] = "signal_ignored"
    signal: Signal
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"signal": _signal_data(self.signal), "reason": self.reason}

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Event:
        return cls(parse_signal(payload["signal"]), payload["reason"])


@dataclass(frozen=True)
class EntrySent(Event):
    """The OrderManager accepted the signal: ``order_id`` is its entry."""

    kind: ClassVar[str] = "entry"
    signal_id: str
    symbol: str
    order_id: str


@dataclass(frozen=True)
class EntryFailed(Event):
    """``execute_entry`` raised something other than ``SignalRefused`` (which the OMS has
    already published): the signal made no entry, for ``reason``."""

    kind: ClassVar[str] = "entry_failed"
    signal_id: str
    symbol: str
    reason: str


RUNNER_EVENTS: dict[str, type[Event]] = {cls.kind: cls for cls in (
    Armed, ArmFailed, Disarmed, SymbolError, WarmupFailed, WarmedUp, BarClosed, SignalEmitted,
    SignalIgnored, EntrySent, EntryFailed)}
