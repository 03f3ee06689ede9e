"""backend.core.exit_plan, issue 9: the entry types and the chains IB accepts, as tables.

Every expectation is computed by hand in the comments, never by calling the code under
test. The two shapes (docs/oca.md):
- limit: LMT BUY at reference x (1 + cap%) rounded UP + STP + time stop + TRAIL, attached;
- market: MKT BUY + STP + time stop attached; the TRAIL follows the fill, unattached.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from backend.core.exit_plan import (
    EntryParams,
    ExitParams,
    build_entry,
    build_entry_chain,
    build_trail_after_fill,
    limit_entry_price,
    round_up_to_tick,
)
from backend.core.models import EntryType, LegRole, OrderIntent, OrderType, PriceCondition, Side
from backend.settings import load_settings

D = Decimal
NOW = datetime(2026, 12, 2, 15, 0, 0, tzinfo=timezone.utc)
EXITS = ExitParams()
LIMIT = EntryParams()
MARKET = EntryParams(entry_type=EntryType.MARKET)

# ------------------------------------------------------------------- round_up_to_tick

ROUND_UP_ROWS = [
    # (price, tick, expected)            price / tick -> ceiling -> x tick
    ("100.50", "0.01", "100.50"),         # 10050     -> 10050 (already on the grid)
    ("100.5001", "0.01", "100.51"),       # 10050.01  -> 10051
    ("100.501", "0.01", "100.51"),        # 10050.1   -> 10051 (never down)
    ("187.0935", "0.01", "187.10"),       # 18709.35  -> 18710
    ("100.51", "0.05", "100.55"),         # 2010.2    -> 2011
    ("100.55", "0.05", "100.55"),         # 2011      -> 2011
    ("0.0001", "0.01", "0.01"),           # 0.01      -> 1
]


@pytest.mark.parametrize(("price", "tick", "expected"), ROUND_UP_ROWS)
def test_round_up_to_tick(price, tick, expected):
    assert round_up_to_tick(D(price), D(tick)) == D(expected)


@pytest.mark.parametrize("tick", ["0", "-0.01"])
def test_round_up_refuses_a_non_positive_tick(tick):
    with pytest.raises(ValueError, match="tick size must be positive"):
        round_up_to_tick(D("1"), D(tick))


# ------------------------------------------------------------------ limit_entry_price

LIMIT_PRICE_ROWS = [
    # (reference, tick, cap %, expected)
    ("100.00", "0.01", "0.5", "100.50"),    # 100.00 x 1.005 = 100.5
    ("100.01", "0.01", "0.5", "100.52"),    # 100.01 x 1.005 = 100.51005 -> up 100.52
    ("187.37", "0.01", "0.5", "188.31"),    # 187.37 x 1.005 = 188.30685 -> up 188.31
    ("187.37", "0.05", "0.5", "188.35"),    # 188.30685 / 0.05 = 3766.137 -> 3767 x 0.05
    ("12.34", "0.01", "0", "12.34"),        # no cap: the ask itself
    ("12.34", "0.01", "1.25", "12.50"),     # 12.34 x 1.0125 = 12.49425 -> up 12.50
    ("50.00", "0.01", "0.01", "50.01"),     # 50.00 x 1.0001 = 50.005 -> up 50.01
]


@pytest.mark.parametrize(("reference", "tick", "cap", "expected"), LIMIT_PRICE_ROWS)
def test_limit_entry_price_is_the_cap_over_the_reference_rounded_up(reference, tick, cap,
                                                                    expected):
    price = limit_entry_price(D(reference), D(tick), D(cap))
    assert price == D(expected)
    assert price >= D(reference) * (1 + D(cap) / 100), "never below the cap's intent"


@pytest.mark.parametrize(("reference", "cap", "fragment"), [
    ("0", "0.5", "must be positive"), ("-1", "0.5", "must be positive"),
    ("NaN", "0.5", "must be positive"), ("100", "-0.1", "must not be negative"),
])
def test_limit_entry_price_refuses_nonsense(reference, cap, fragment):
    with pytest.raises(ValueError, match=fragment):
        limit_entry_price(D(reference), D("0.01"), D(cap))


# ----------------------------------------------------------------------- build_entry

ENTRY_ROWS = [
    # (limit, outside_rth, order_type)
    (None, False, OrderType.MARKET),
    (D("100.50"), False, OrderType.LIMIT),
    (D("100.50"), True, OrderType.LIMIT),
]


@pytest.mark.parametrize(("limit", "outside_rth", "order_type"), ENTRY_ROWS)
def test_build_entry_rows(limit, outside_rth, order_type):
    assert build_entry("AAPL", 100, "s1", limit_price=limit, outside_rth=outside_rth) == (
        OrderIntent(role=LegRole.ENTRY, symbol="AAPL", side=Side.BUY, quantity=100,
                    order_type=order_type, limit_price=limit, tif="DAY",
                    outside_rth=outside_rth, order_ref="s9:s1:entry"))


@pytest.mark.parametrize("limit", [D("0"), D("-1"), D("NaN")])
def test_build_entry_refuses_a_bad_limit(limit):
    with pytest.raises(ValueError, match="limit price must be positive"):
        build_entry("AAPL", 100, "s1", limit_price=limit)


# ----------------------------------------------------------------- build_entry_chain

def _chain(entry: EntryParams = LIMIT, **overrides):
    args = dict(symbol="AAPL", quantity=100, reference=D("100.00"), atr=D("1.00"),
                tick=D("0.01"), exits=EXITS, entry=entry, now=NOW, signal_id="sig-7")
    args.update(overrides)
    return build_entry_chain(**args)


IGNITED = (PriceCondition(D("103.00"), True),)
CHAIN_ROWS = [
    # (entry params, entry type, entry limit, leg roles and types in transmit order)
    (LIMIT, OrderType.LIMIT, D("100.50"),
     [(LegRole.SAFETY_STOP, OrderType.STOP), (LegRole.TIME_STOP, OrderType.MARKET),
      (LegRole.PROFIT_HARVESTER, OrderType.TRAIL)]),
    (MARKET, OrderType.MARKET, None,
     [(LegRole.SAFETY_STOP, OrderType.STOP), (LegRole.TIME_STOP, OrderType.MARKET)]),
]


@pytest.mark.parametrize(("entry", "entry_type", "limit", "legs"), CHAIN_ROWS,
                         ids=["limit", "market"])
def test_entry_chain_shape(entry, entry_type, limit, legs):
    chain = _chain(entry)
    assert (chain.entry.order_type, chain.entry.limit_price) == (entry_type, limit)
    assert chain.entry.tif == "DAY" and chain.entry.order_ref == "s9:sig-7:entry"
    assert [(leg.role, leg.order_type) for leg in chain.legs] == legs
    assert chain.trail_after_fill is (entry_type is OrderType.MARKET)
    for leg in chain.legs:  # priced from the reference, attached, one group
        assert leg.attach_to_parent and leg.oca_group == "S9-sig-7" and leg.oca_type == 2
        assert leg.quantity == 100 and leg.side is Side.SELL and leg.tif == "GTC"
        assert leg.outside_rth is False
    assert chain.legs[0].stop_price == D("98.00")                    # 100 x 0.98
    assert chain.legs[1].good_after_time == "20261202 15:03:00 UTC"  # now + 180 s
    assert chain.legs[1].conditions == IGNITED and chain.legs[1].conditions_cancel_order


def test_limit_chain_trail_is_attached_last_and_priced_from_the_reference():
    trail = _chain().legs[-1]
    # activation 100.00 x 1.03 = 103.00; amount 1.00 x 1.5 = 1.50; initial 101.50
    assert (trail.trail_amount, trail.trail_stop_price) == (D("1.50"), D("101.50"))
    assert trail.conditions == IGNITED and not trail.conditions_cancel_order


@pytest.mark.parametrize("entry", [LIMIT, MARKET], ids=["limit", "market"])
def test_a_trail_child_rides_only_on_a_limit_parent(entry):
    """IB: 328 "Trailing stop orders can be attached to limit or stop-limit orders only"."""
    chain = _chain(entry)
    if any(leg.order_type is OrderType.TRAIL for leg in chain.legs):
        assert chain.entry.order_type in (OrderType.LIMIT, OrderType.STOP_LIMIT)
    assert (chain.entry.order_type is OrderType.MARKET) is chain.trail_after_fill


OUTSIDE_ROWS = [
    # (entry params, expected entry outsideRth): only a LMT entry may carry it (#141)
    (EntryParams(allow_outside_rth=True), True),
    (EntryParams(allow_outside_rth=False), False),
    (EntryParams(entry_type=EntryType.MARKET, allow_outside_rth=True), False),
]


@pytest.mark.parametrize(("entry", "expected"), OUTSIDE_ROWS)
def test_entry_outside_rth_only_on_a_limit_entry(entry, expected):
    assert _chain(entry).entry.outside_rth is expected


def test_limit_chain_uses_the_cap_from_params():
    # 100.00 x 1.02 = 102.00
    chain = _chain(EntryParams(max_slippage_pct=D("2")))
    assert chain.entry.limit_price == D("102.00")


# ------------------------------------------------------------- build_trail_after_fill

TRAIL_ROWS = [
    # (avg fill, atr, tick, qty, activation, amount, initial stop)
    # 100.01 x 1.03 = 103.0103 -> 103.01; 1.00 x 1.5 = 1.50; 103.01 - 1.50 = 101.51
    ("100.01", "1.00", "0.01", 100, "103.01", "1.50", "101.51"),
    # a partial fill's average: (40 x 100.01 + 60 x 100.03) / 100 = 100.022 x 1.03
    # = 103.02266 -> 103.02; 0.50 x 1.5 = 0.75; 102.27
    ("100.022", "0.50", "0.01", 60, "103.02", "0.75", "102.27"),
    # tick 0.05: 187.40 x 1.03 = 193.022 -> 193.00; 0.37 x 1.5 = 0.555 -> 0.55; 192.45
    ("187.40", "0.37", "0.05", 7, "193.00", "0.55", "192.45"),
]


@pytest.mark.parametrize(("avg", "atr", "tick", "qty", "activation", "amount", "stop"),
                         TRAIL_ROWS)
def test_trail_after_fill_is_priced_from_the_fill(avg, atr, tick, qty, activation, amount,
                                                  stop):
    trail = build_trail_after_fill("AAPL", qty, D(avg), D(atr), D(tick), EXITS, "sig-7")
    assert trail == OrderIntent(
        role=LegRole.PROFIT_HARVESTER, symbol="AAPL", side=Side.SELL, quantity=qty,
        order_type=OrderType.TRAIL, trail_amount=D(amount), trail_stop_price=D(stop),
        tif="GTC", outside_rth=False, oca_group="S9-sig-7", oca_type=2,
        conditions=(PriceCondition(D(activation), True),), conditions_cancel_order=False,
        order_ref="s9:sig-7:profit_harvester", attach_to_parent=False)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"quantity": 0}, "positive whole number"), ({"avg_fill": D("0")}, "must be positive"),
    ({"atr": D("-1")}, "must be positive"),
])
def test_trail_after_fill_refuses_nonsense(changes, fragment):
    args = dict(symbol="AAPL", quantity=10, avg_fill=D("100"), atr=D("1"), tick=D("0.01"),
                params=EXITS, signal_id="s")
    args.update(changes)
    with pytest.raises(ValueError, match=fragment):
        build_trail_after_fill(**args)


# --------------------------------------------------------------- params from settings

def test_entry_params_from_default_settings(isolated_settings):
    params = EntryParams.from_settings(load_settings().entry)
    assert params == EntryParams(entry_type=EntryType.LIMIT, max_slippage_pct=D("0.5"),
                                 timeout=timedelta(seconds=30), allow_outside_rth=False)
    assert str(params.max_slippage_pct) == "0.5"


def test_entry_params_follow_the_settings(isolated_settings):
    settings = load_settings(entry={"type": "market", "max_slippage_pct": 1.1,
                                    "timeout_s": 2.5})
    params = EntryParams.from_settings(settings.entry)
    assert params.entry_type is EntryType.MARKET and str(params.max_slippage_pct) == "1.1"
    assert params.timeout == timedelta(seconds=2.5)
