"""Position sizing arithmetic (hand-computed) and the pre-trade entry rules, one row each."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import pytest

from backend.core.market_hours import Session
from backend.core.sizing import (
    ENTRY_RULES,
    Refusal,
    check_entry,
    entry_quantity,
    session_refusal,
)
from backend.settings import RiskSettings


@dataclass(frozen=True)
class Risk:
    sizing: str = "fixed"
    fixed_shares: int = 100
    risk_per_trade_usd: float = 200.0
    max_notional_usd: float = 25_000.0


D = Decimal

SIZING_ROWS = [
    # (id, risk, reference, stop %, expected shares, hand computation)
    ("fixed", Risk(), D("187.37"), D("2"), 100, "100; cap 25000/187.37 = 133.4"),
    ("fixed-capped", Risk(fixed_shares=200), D("187.37"), D("2"), 133,
     "200 > cap floor(25000/187.37) = floor(133.42)"),
    ("fixed-cap-exact", Risk(fixed_shares=500, max_notional_usd=25_000.0), D("50"), D("2"), 500,
     "500 x 50 = 25000 exactly: allowed (<=)"),
    ("fixed-nothing-fits", Risk(), D("30000"), D("2"), 0, "cap floor(25000/30000) = 0"),
    ("risk", Risk(sizing="risk"), D("50"), D("2"), 200, "200 / (50 x 0.02 = 1.00)"),
    ("risk-floor", Risk(sizing="risk"), D("187.37"), D("2"), 53,
     "200 / 3.7474 = 53.37 -> 53"),
    ("risk-capped", Risk(sizing="risk", risk_per_trade_usd=1000.0), D("100"), D("0.5"), 250,
     "1000 / 0.50 = 2000 > cap 25000/100 = 250"),
    ("risk-too-small", Risk(sizing="risk", risk_per_trade_usd=1.0), D("187.37"), D("2"), 0,
     "1 / 3.7474 = 0.27 -> 0"),
    ("risk-decimal-exact", Risk(sizing="risk", risk_per_trade_usd=0.3), D("0.1"), D("10"), 30,
     "0.3 / 0.01 = 30 (float division gives 29.999...)"),
    ("cap-decimal-exact", Risk(fixed_shares=10, max_notional_usd=0.3), D("0.1"), D("2"), 3,
     "0.3 / 0.1 = 3 (float division gives 2.999...)"),
    ("risk-fractional-stop", Risk(sizing="risk", risk_per_trade_usd=250.0), D("12.34"),
     D("1.5"), 1350, "250 / 0.1851 = 1350.6 -> 1350; cap 25000/12.34 = 2025.9"),
]


@pytest.mark.parametrize(("risk", "reference", "stop_pct", "expected", "why"),
                         [r[1:] for r in SIZING_ROWS], ids=[r[0] for r in SIZING_ROWS])
def test_entry_quantity(risk, reference, stop_pct, expected, why):
    # Act
    quantity = entry_quantity(reference, stop_pct, risk)

    # Assert
    assert quantity == expected, why
    assert isinstance(quantity, int)
    assert quantity * reference <= Decimal(str(risk.max_notional_usd))


def test_entry_quantity_accepts_the_real_risk_settings():
    risk = RiskSettings(sizing="risk", risk_per_trade_usd=200.0, max_notional_usd=25_000.0)

    assert entry_quantity(D("50"), D("2"), risk) == 200


@pytest.mark.parametrize(("risk", "reference", "stop_pct", "fragment"), [
    (Risk(), D("0"), D("2"), "reference price"),
    (Risk(), D("-1"), D("2"), "reference price"),
    (Risk(), D("NaN"), D("2"), "reference price"),
    (Risk(sizing="risk"), D("50"), D("0"), "stop percentage"),
    (Risk(sizing="kelly"), D("50"), D("2"), "unknown sizing mode"),
])
def test_entry_quantity_rejects_nonsense(risk, reference, stop_pct, fragment):
    with pytest.raises(ValueError, match=fragment):
        entry_quantity(reference, stop_pct, risk)


def test_fixed_sizing_ignores_stop_pct():
    assert entry_quantity(D("50"), D("0"), Risk()) == 100


# ---------------------------------------------------------------- pre-trade rules

OK = dict(symbol="AAPL", known_symbols={"AAPL", "MSFT", "TSLA"}, connected=True,
          account_code="DU1234567", live_trading_enabled=False, open_symbols=set(),
          pending_symbols=set(), open_count=0, max_open_positions=5, quantity=100)

REFUSED = [
    # (id, changes, expected code, words the sentence must contain)
    ("not-connected", dict(connected=False), "not_connected", ["Not connected", "AAPL"]),
    ("no-account", dict(account_code=""), "no_account", ["No account", "AAPL"]),
    ("live-account", dict(account_code="U7654321"), "live_account",
     ["U7654321", "not a paper account", "live trading is disabled"]),
    ("unknown-symbol", dict(symbol="NVDA"), "unknown_symbol", ["NVDA", "not a symbol"]),
    ("open-position", dict(open_symbols={"AAPL"}, open_count=1), "position_open",
     ["already an open AAPL position"]),
    ("pending-entry", dict(pending_symbols={"AAPL"}), "entry_pending",
     ["AAPL entry is already pending"]),
    ("max-open", dict(open_symbols={"MSFT", "TSLA"}, open_count=5), "max_positions",
     ["5 positions", "limit of 5"]),
    ("max-open-plus-pending", dict(open_symbols={"MSFT"}, open_count=4,
                                   pending_symbols={"TSLA"}), "max_positions",
     ["5 positions", "limit of 5"]),
    ("zero-quantity", dict(quantity=0), "zero_quantity", ["No whole AAPL share"]),
    ("negative-quantity", dict(quantity=-5), "zero_quantity", ["AAPL"]),
    ("first-rule-wins", dict(connected=False, quantity=0, symbol="NVDA"), "not_connected",
     ["Not connected"]),
]


@pytest.mark.parametrize(("changes", "code", "words"), [r[1:] for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
def test_check_entry_refuses(changes, code, words):
    # Arrange
    facts = {**OK, **changes}

    # Act
    refusal = check_entry(**facts)

    # Assert
    assert isinstance(refusal, Refusal)
    assert refusal.code == code
    for word in words:
        assert word in refusal.reason
    assert refusal.reason.endswith(".")


ALLOWED = [
    ("paper", {}),
    ("paper-lowercase", dict(account_code="du1234567")),
    ("live-enabled", dict(account_code="U7654321", live_trading_enabled=True)),
    ("symbol-case", dict(symbol="aapl", known_symbols={"AAPL"})),
    ("other-symbol-open", dict(open_symbols={"MSFT"}, pending_symbols={"TSLA"}, open_count=1)),
    ("one-slot-left", dict(open_count=3, open_symbols={"MSFT", "TSLA", "IBM"},
                           pending_symbols={"AMD"})),
    ("partly-filled-entry-counts-once", dict(open_count=4, open_symbols={"MSFT", "TSLA", "IBM",
                                                                        "AMD"},
                                             pending_symbols={"AMD"})),
]


@pytest.mark.parametrize("changes", [r[1] for r in ALLOWED], ids=[r[0] for r in ALLOWED])
def test_check_entry_allows(changes):
    assert check_entry(**{**OK, **changes}) is None


def test_every_rule_has_a_refusing_row():
    assert {code for code, _, _ in ENTRY_RULES} == {r[2] for r in REFUSED}


def test_refusal_is_immutable():
    refusal = Refusal("x", "y")
    with pytest.raises(AttributeError):
        refusal.code = "z"  # type: ignore[misc]
    assert replace(refusal, code="z").code == "z"


SESSION_ROWS = [
    # (session, allow_outside_rth, refusal sentence or None)
    (Session.REGULAR, False, None),
    (Session.REGULAR, True, None),
    (Session.PRE_MARKET, False, "It is the pre-market (US/Eastern) and [entry] "
                                "allow_outside_rth is false, so the AAPL entry was not sent."),
    (Session.AFTER_HOURS, False, "It is after hours (US/Eastern) and [entry] "
                                 "allow_outside_rth is false, so the AAPL entry was not sent."),
    (Session.PRE_MARKET, True, None),
    (Session.AFTER_HOURS, True, None),
    (Session.CLOSED, False, "It is outside trading hours (US/Eastern), so the AAPL entry was "
                            "not sent."),
    (Session.CLOSED, True, "It is outside trading hours (US/Eastern), so the AAPL entry was "
                           "not sent."),
]


@pytest.mark.parametrize(("session", "allowed", "sentence"), SESSION_ROWS)
def test_session_refusal(session, allowed, sentence):
    refusal = session_refusal(" aapl", session, allowed)
    assert refusal == (None if sentence is None else Refusal(sentence, "outside_rth"))
