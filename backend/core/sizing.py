"""How many shares a signal buys, and whether Sigma9 may send the entry at all.

Pure functions over plain inputs: the OrderManager gathers the facts (connection, account,
open and pending symbols) and asks; nothing here reads state or talks to the broker, so every
rule is a one-line table test.

Sizing is Decimal arithmetic on whole shares, always rounded *down*: a float division such as
0.3 / 0.01 gives 29.999... and would silently buy one share less than intended, and rounding
up would risk more than the trader allowed.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol

from backend.core.market_hours import Session

HUNDRED = Decimal(100)


class RiskLike(Protocol):
    """The fields of ``Settings.risk`` that sizing reads (a stub will do in tests)."""

    sizing: str
    fixed_shares: int
    risk_per_trade_usd: float
    max_notional_usd: float


def _exact(value: float | int | Decimal) -> Decimal:
    """A setting as an exact Decimal via its text: 0.1 means 0.1, not 0.1000000000000000055."""
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _floor(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def entry_quantity(reference: Decimal, stop_pct: Decimal, risk: RiskLike) -> int:
    """Whole shares to buy at ``reference``; 0 means nothing fits and the caller must refuse.

    - ``fixed``: ``fixed_shares``;
    - ``risk``: floor(risk_per_trade_usd / (reference x stop_pct / 100)), i.e. the shares whose
      loss at the safety stop stays within the per-trade risk;
    then capped so that quantity x reference <= max_notional_usd.
    """
    if not reference.is_finite() or reference <= 0:
        raise ValueError(f"reference price must be positive, got {reference}")
    if risk.sizing == "fixed":
        wanted = int(risk.fixed_shares)
    elif risk.sizing == "risk":
        if not stop_pct.is_finite() or stop_pct <= 0:
            raise ValueError(f"risk sizing needs a positive stop percentage, got {stop_pct}")
        wanted = _floor(_exact(risk.risk_per_trade_usd) / (reference * stop_pct / HUNDRED))
    else:
        raise ValueError(f"unknown sizing mode {risk.sizing!r} (expected 'fixed' or 'risk')")
    cap = _floor(_exact(risk.max_notional_usd) / reference)
    return max(min(wanted, cap), 0)


@dataclass(frozen=True)
class Refusal:
    """Why an entry is not sent: ``reason`` is shown to the trader, ``code`` is for filters."""

    reason: str
    code: str


@dataclass(frozen=True)
class PreTradeCheck:
    """Everything the entry rules look at, gathered by the OrderManager at signal time."""

    symbol: str
    known_symbols: frozenset[str]
    connected: bool
    account_code: str
    live_trading_enabled: bool
    open_symbols: frozenset[str]
    pending_symbols: frozenset[str]
    open_count: int
    max_open_positions: int
    quantity: int

    @property
    def slots_taken(self) -> int:
        """Open positions plus pending entries; a partly filled entry counts once."""
        return self.open_count + len(self.pending_symbols - self.open_symbols)

    @property
    def is_paper(self) -> bool:
        """IB paper accounts start with DU: a convention, not an IB guarantee [P11]."""
        return self.account_code.strip().upper().startswith("DU")


Rule = tuple[str, Callable[[PreTradeCheck], bool], Callable[[PreTradeCheck], str]]

ENTRY_RULES: tuple[Rule, ...] = (
    # (code, refuse when, sentence) - checked in order; the first that applies is reported.
    ("not_connected", lambda c: not c.connected,
     lambda c: f"Not connected to the broker, so the {c.symbol} entry was not sent."),
    ("no_account", lambda c: not c.account_code.strip(),
     lambda c: f"No account is known yet, so the {c.symbol} entry was not sent."),
    ("live_account", lambda c: not c.is_paper and not c.live_trading_enabled,
     lambda c: f"Account {c.account_code} is not a paper account and live trading is "
               f"disabled, so the {c.symbol} entry was not sent."),
    ("unknown_symbol", lambda c: c.symbol not in c.known_symbols,
     lambda c: f"{c.symbol} is not a symbol this terminal trades."),
    ("position_open", lambda c: c.symbol in c.open_symbols,
     lambda c: f"There is already an open {c.symbol} position."),
    ("entry_pending", lambda c: c.symbol in c.pending_symbols,
     lambda c: f"A {c.symbol} entry is already pending."),
    ("max_positions", lambda c: c.slots_taken >= c.max_open_positions,
     lambda c: f"{c.slots_taken} positions and pending entries already reach the limit of "
               f"{c.max_open_positions}, so the {c.symbol} entry was not sent."),
    ("zero_quantity", lambda c: c.quantity <= 0,
     lambda c: f"No whole {c.symbol} share fits the risk and notional limits."),
)


def first_refusal(check: PreTradeCheck) -> Refusal | None:
    """The first rule of :data:`ENTRY_RULES` that refuses ``check``, or None to go ahead."""
    for code, refuses, sentence in ENTRY_RULES:
        if refuses(check):
            return Refusal(reason=sentence(check), code=code)
    return None


def _upper(symbols: Collection[str]) -> frozenset[str]:
    return frozenset(s.strip().upper() for s in symbols)


def check_entry(*, symbol: str, known_symbols: Collection[str], connected: bool,
                account_code: str, live_trading_enabled: bool, open_symbols: Collection[str],
                pending_symbols: Collection[str], open_count: int, max_open_positions: int,
                quantity: int) -> Refusal | None:
    """None if the entry may be sent, else the Refusal to record and show.

    ``open_count`` is the number of open positions; the pending entries in ``pending_symbols``
    are added to it, so a burst of signals cannot overshoot ``max_open_positions`` while earlier
    entries are still unfilled. Symbols are compared case-insensitively.
    """
    return first_refusal(PreTradeCheck(
        symbol=symbol.strip().upper(), known_symbols=_upper(known_symbols),
        connected=connected, account_code=account_code,
        live_trading_enabled=live_trading_enabled, open_symbols=_upper(open_symbols),
        pending_symbols=_upper(pending_symbols), open_count=open_count,
        max_open_positions=max_open_positions, quantity=quantity))


SESSION_WORDS: dict[Session, str] = {
    Session.PRE_MARKET: "the pre-market",
    Session.AFTER_HOURS: "after hours",
    Session.CLOSED: "outside trading hours",
}


def session_refusal(symbol: str, session: Session, allow_outside_rth: bool) -> Refusal | None:
    """None if an entry may be sent in ``session``, else the Refusal naming it and the setting.

    Regular hours always pass. The pre-market and after hours pass only with
    ``[entry] allow_outside_rth``; a closed market never does (IB would hold the order until
    the open with warning 399, and the signal would be stale by then).
    """
    if session.is_regular or (session.is_extended and allow_outside_rth):
        return None
    symbol = symbol.strip().upper()
    if session is Session.CLOSED:
        return Refusal(f"It is {SESSION_WORDS[session]} (US/Eastern), so the {symbol} entry "
                       "was not sent.", "outside_rth")
    return Refusal(f"It is {SESSION_WORDS[session]} (US/Eastern) and [entry] "
                   f"allow_outside_rth is false, so the {symbol} entry was not sent.",
                   "outside_rth")
