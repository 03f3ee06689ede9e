"""backend.core.exit_plan: the pure builders of the entry and its OCA exit group, field by field.

Every expectation below is computed by hand (the arithmetic is in the comments), never by
calling the code under test, so a change in rounding, in a default or in a leg's wiring fails
here with the row that broke.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from backend.core.exit_plan import (
    REPROTECT_SEPARATOR,
    ExitLevels,
    ExitParams,
    base_signal_id,
    build_entry,
    build_exit_group,
    exit_levels,
    ib_time,
    oca_group_name,
    order_ref,
    parse_order_ref,
    round_to_tick,
)
from backend.core.models import LegRole, OrderIntent, OrderType, PriceCondition, Side
from backend.settings import load_settings

D = Decimal
SIGNAL_ID = "sig-42"
ENTRY_TIME = datetime(2026, 1, 5, 14, 30, 0, tzinfo=timezone.utc)
DEFAULTS = ExitParams()

# ----------------------------------------------------------------------- round_to_tick

ROUNDING_ROWS = [
    # (price, tick, expected)                 price / tick -> nearest integer -> x tick
    ("100.00", "0.01", "100.00"),             # 10000      -> 10000
    ("187.345", "0.01", "187.35"),            # 18734.5    -> 18735 (half away from zero)
    ("12.3449", "0.01", "12.34"),             # 1234.49    -> 1234
    ("12.345", "0.01", "12.35"),              # 1234.5     -> 1235 (half away from zero)
    ("12.335", "0.01", "12.34"),              # 1233.5     -> 1234 (not banker's 1234/1233)
    ("0.005", "0.01", "0.01"),                # 0.5        -> 1
    ("0.004", "0.01", "0.00"),                # 0.4        -> 0
    ("-187.345", "0.01", "-187.35"),          # -18734.5   -> -18735 (away from zero)
    ("100.00", "0.05", "100.00"),             # 2000       -> 2000
    ("187.345", "0.05", "187.35"),            # 3746.9     -> 3747
    ("12.3449", "0.05", "12.35"),             # 246.898    -> 247
    ("12.325", "0.05", "12.35"),              # 246.5      -> 247 (half away from zero)
    ("12.374", "0.05", "12.35"),              # 247.48     -> 247
    ("12.375", "0.05", "12.40"),              # 247.5      -> 248 (half away from zero)
    ("100.024", "0.05", "100.00"),            # 2000.48    -> 2000
    ("100.025", "0.05", "100.05"),            # 2000.5     -> 2001
    ("-12.325", "0.05", "-12.35"),            # -246.5     -> -247 (away from zero)
]


@pytest.mark.parametrize(("price", "tick", "expected"), ROUNDING_ROWS)
def test_round_to_tick_nearest_tick_halves_away_from_zero(price, tick, expected):
    result = round_to_tick(D(price), D(tick))
    assert result == D(expected)
    assert isinstance(result, Decimal)
    assert result % D(tick) == 0, "the result sits on the tick grid"


@pytest.mark.parametrize("tick", ["0", "-0.01"])
def test_round_to_tick_refuses_a_non_positive_tick(tick):
    with pytest.raises(ValueError, match="tick size must be positive"):
        round_to_tick(D("100.00"), D(tick))


# ------------------------------------------------------------------------- exit_levels

LEVEL_ROWS = [
    # (reference, atr, tick, stop, activation, amount, trail stop)
    # 100.00 x 0.98 = 98.00; x 1.03 = 103.00; 1.00 x 1.5 = 1.50; 103.00 - 1.50 = 101.50
    ("100.00", "1.00", "0.01", "98.00", "103.00", "1.50", "101.50"),
    ("100.00", "1.00", "0.05", "98.00", "103.00", "1.50", "101.50"),
    # 187.345 x 0.98 = 183.5981 -> 183.60; x 1.03 = 192.96535 -> 192.97;
    # 0.37 x 1.5 = 0.555 -> 0.56 (half away); 192.97 - 0.56 = 192.41
    ("187.345", "0.37", "0.01", "183.60", "192.97", "0.56", "192.41"),
    # tick 0.05: 183.5981/0.05 = 3671.962 -> 183.60; 192.96535/0.05 = 3859.307 -> 192.95;
    # 0.555/0.05 = 11.1 -> 0.55; 192.95 - 0.55 = 192.40
    ("187.345", "0.37", "0.05", "183.60", "192.95", "0.55", "192.40"),
    # 12.3449 x 0.98 = 12.098002 -> 12.10; x 1.03 = 12.715247 -> 12.72;
    # 0.002 x 1.5 = 0.003 -> 0.00, raised to one tick 0.01; 12.72 - 0.01 = 12.71
    ("12.3449", "0.002", "0.01", "12.10", "12.72", "0.01", "12.71"),
    # tick 0.05: 241.96004 -> 12.10; 254.30494 -> 12.70; 0.003 -> 0 -> one tick 0.05; 12.65
    ("12.3449", "0.002", "0.05", "12.10", "12.70", "0.05", "12.65"),
    # amount exactly half a tick: 0.01 x 1.5 = 0.015 -> 0.02 (half away from zero)
    ("50.00", "0.01", "0.01", "49.00", "51.50", "0.02", "51.48"),
]


@pytest.mark.parametrize(("reference", "atr", "tick", "stop", "activation", "amount", "trail"),
                         LEVEL_ROWS)
def test_exit_levels_with_default_params(reference, atr, tick, stop, activation, amount, trail):
    levels = exit_levels(D(reference), D(atr), D(tick), DEFAULTS)
    assert levels == ExitLevels(stop_price=D(stop), activation_price=D(activation),
                                trail_amount=D(amount), trail_stop_price=D(trail))


def test_exit_levels_follow_the_params():
    params = ExitParams(safety_stop_pct=D("5"), trail_atr_multiplier=D("2"),
                        trail_activation_pct=D("10"))
    # 80.00 x 0.95 = 76.00; x 1.10 = 88.00; 0.75 x 2 = 1.50; 88.00 - 1.50 = 86.50
    assert exit_levels(D("80.00"), D("0.75"), D("0.01"), params) == ExitLevels(
        D("76.00"), D("88.00"), D("1.50"), D("86.50"))


@pytest.mark.parametrize("tick", ["0.01", "0.05"])
def test_trail_amount_is_at_least_one_tick(tick):
    assert exit_levels(D("100.00"), D("0.0001"), D(tick), DEFAULTS).trail_amount == D(tick)


# --------------------------------------------------------------------------- ib_time

IB_TIME_ROWS = [
    (datetime(2026, 1, 5, 14, 33, 0, tzinfo=timezone.utc), "20260105 14:33:00 UTC"),
    # 09:33 New York in January is EST (UTC-5)
    (datetime(2026, 1, 5, 9, 33, 0, tzinfo=ZoneInfo("America/New_York")),
     "20260105 14:33:00 UTC"),
    # 10:33 New York in July is EDT (UTC-4)
    (datetime(2026, 7, 6, 10, 33, 7, tzinfo=ZoneInfo("America/New_York")),
     "20260706 14:33:07 UTC"),
    # +02:00 just after midnight is the previous day in UTC
    (datetime(2026, 3, 1, 0, 15, 0, tzinfo=timezone(timedelta(hours=2))),
     "20260228 22:15:00 UTC"),
]


@pytest.mark.parametrize(("moment", "text"), IB_TIME_ROWS)
def test_ib_time_is_utc_with_explicit_zone(moment, text):
    assert ib_time(moment) == text


def test_ib_time_refuses_naive_datetimes():
    with pytest.raises(ValueError, match="timezone-aware"):
        ib_time(datetime(2026, 1, 5, 14, 33, 0))


# ------------------------------------------------------------------------- build_entry

def test_build_entry_is_a_day_market_buy_with_its_order_ref():
    entry = build_entry("AAPL", 100, SIGNAL_ID)
    assert entry == OrderIntent(role=LegRole.ENTRY, symbol="AAPL", side=Side.BUY, quantity=100,
                                order_type=OrderType.MARKET, tif="DAY",
                                order_ref="s9:sig-42:entry")
    # the fields that matter, spelled out (the equality above also pins every default)
    assert entry.order_type is OrderType.MARKET and entry.side is Side.BUY
    assert entry.tif == "DAY" and entry.order_ref == "s9:sig-42:entry"
    assert entry.limit_price is entry.stop_price is entry.trail_amount is None
    assert entry.oca_group == "" and entry.conditions == () and not entry.attach_to_parent


@pytest.mark.parametrize("quantity", [0, -1, -100])
def test_build_entry_refuses_non_positive_quantity(quantity):
    with pytest.raises(ValueError, match="positive whole number"):
        build_entry("AAPL", quantity, SIGNAL_ID)


# -------------------------------------------------------------------- build_exit_group

def _group(**overrides) -> list[OrderIntent]:
    args = dict(symbol="AAPL", quantity=100, reference=D("100.00"), atr=D("1.00"),
                tick=D("0.01"), params=DEFAULTS, entry_time=ENTRY_TIME, signal_id=SIGNAL_ID)
    args.update(overrides)
    return build_exit_group(**args)


IGNITED = PriceCondition(price=D("103.00"), is_more=True)
COMMON = dict(symbol="AAPL", side=Side.SELL, quantity=100, tif="GTC", outside_rth=False,
              oca_group="S9-sig-42", oca_type=2, attach_to_parent=True)

EXPECTED_LEGS = [
    OrderIntent(role=LegRole.SAFETY_STOP, order_type=OrderType.STOP, stop_price=D("98.00"),
                order_ref="s9:sig-42:safety_stop", **COMMON),
    OrderIntent(role=LegRole.TIME_STOP, order_type=OrderType.MARKET,
                good_after_time="20260105 14:33:00 UTC", conditions=(IGNITED,),
                conditions_cancel_order=True, order_ref="s9:sig-42:time_stop", **COMMON),
    OrderIntent(role=LegRole.PROFIT_HARVESTER, order_type=OrderType.TRAIL,
                trail_amount=D("1.50"), trail_stop_price=D("101.50"), conditions=(IGNITED,),
                conditions_cancel_order=False, order_ref="s9:sig-42:profit_harvester", **COMMON),
]

LEG_FIELD_ROWS = [
    # (leg index, field, expected) -- reference 100.00, ATR 1.00, tick 0.01, defaults
    (0, "role", LegRole.SAFETY_STOP),
    (0, "order_type", OrderType.STOP),
    (0, "side", Side.SELL),
    (0, "quantity", 100),
    (0, "stop_price", D("98.00")),
    (0, "limit_price", None),
    (0, "trail_amount", None),
    (0, "trail_stop_price", None),
    (0, "good_after_time", ""),
    (0, "conditions", ()),
    (0, "order_ref", "s9:sig-42:safety_stop"),
    (1, "role", LegRole.TIME_STOP),
    (1, "order_type", OrderType.MARKET),
    (1, "side", Side.SELL),
    (1, "stop_price", None),
    (1, "trail_amount", None),
    (1, "good_after_time", "20260105 14:33:00 UTC"),   # 14:30:00 + 180 s
    (1, "conditions", (PriceCondition(D("103.00"), True),)),
    (1, "conditions_cancel_order", True),
    (1, "order_ref", "s9:sig-42:time_stop"),
    (2, "role", LegRole.PROFIT_HARVESTER),
    (2, "order_type", OrderType.TRAIL),
    (2, "side", Side.SELL),
    (2, "trail_amount", D("1.50")),
    (2, "trail_stop_price", D("101.50")),
    (2, "stop_price", None),
    (2, "limit_price", None),
    (2, "good_after_time", ""),
    (2, "conditions", (PriceCondition(D("103.00"), True),)),
    (2, "conditions_cancel_order", False),
    (2, "order_ref", "s9:sig-42:profit_harvester"),
] + [
    (leg, name, value)
    for leg in range(3)
    for name, value in [("oca_group", "S9-sig-42"), ("oca_type", 2), ("tif", "GTC"),
                        ("outside_rth", False), ("attach_to_parent", True), ("symbol", "AAPL")]
]


@pytest.mark.parametrize(("leg", "name", "expected"), LEG_FIELD_ROWS,
                         ids=[f"{r[0]}-{r[1]}" for r in LEG_FIELD_ROWS])
def test_exit_group_leg_field(leg, name, expected):
    assert getattr(_group()[leg], name) == expected


def test_exit_group_is_exactly_the_three_legs_in_transmit_order():
    assert _group() == EXPECTED_LEGS


def test_time_stop_condition_is_more_at_the_activation_level():
    condition = _group()[1].conditions[0]
    assert condition.price == D("103.00") and condition.is_more is True


GAT_ROWS = [
    (ENTRY_TIME, "20260105 14:33:00 UTC"),
    # New York 09:30 EST == 14:30 UTC
    (datetime(2026, 1, 5, 9, 30, 0, tzinfo=ZoneInfo("America/New_York")),
     "20260105 14:33:00 UTC"),
    # +05:30 at 20:00 == 14:30 UTC
    (datetime(2026, 1, 5, 20, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30))),
     "20260105 14:33:00 UTC"),
    # crossing midnight UTC: 23:58:30 + 180 s = 00:01:30 next day
    (datetime(2026, 1, 5, 23, 58, 30, tzinfo=timezone.utc), "20260106 00:01:30 UTC"),
]


@pytest.mark.parametrize(("entry_time", "gat"), GAT_ROWS)
def test_time_stop_good_after_time_is_entry_plus_time_stop_in_utc(entry_time, gat):
    assert _group(entry_time=entry_time)[1].good_after_time == gat


def test_time_stop_length_comes_from_params():
    legs = _group(params=ExitParams(time_stop=timedelta(seconds=45)))
    assert legs[1].good_after_time == "20260105 14:30:45 UTC"


def test_exit_group_refuses_a_naive_entry_time():
    with pytest.raises(ValueError, match="timezone-aware"):
        _group(entry_time=datetime(2026, 1, 5, 14, 30, 0))


@pytest.mark.parametrize("oca_type", [1, 2, 3])
def test_every_leg_takes_oca_type_from_params(oca_type):
    assert [leg.oca_type for leg in _group(params=ExitParams(oca_type=oca_type))] == [oca_type] * 3


def test_tif_and_outside_rth_come_from_params():
    legs = _group(params=ExitParams(tif="DAY", outside_rth=True))
    assert [(leg.tif, leg.outside_rth) for leg in legs] == [("DAY", True)] * 3


def test_unattached_group_for_an_existing_position():
    legs = _group(attach_to_parent=False)
    assert [leg.attach_to_parent for leg in legs] == [False] * 3
    # nothing else changes
    assert [replace(leg, attach_to_parent=True) for leg in legs] == EXPECTED_LEGS


def test_exit_group_uses_the_tick_grid():
    legs = _group(reference=D("187.345"), atr=D("0.37"), tick=D("0.05"))
    assert legs[0].stop_price == D("183.60")
    assert legs[1].conditions == (PriceCondition(D("192.95"), True),)
    assert legs[2].conditions == (PriceCondition(D("192.95"), True),)
    assert (legs[2].trail_amount, legs[2].trail_stop_price) == (D("0.55"), D("192.40"))


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"quantity": 0}, "positive whole number"),
    ({"quantity": -5}, "positive whole number"),
    ({"reference": D("0")}, "must be positive"),
    ({"reference": D("-1")}, "must be positive"),
    ({"atr": D("0")}, "must be positive"),
])
def test_exit_group_refuses_nonsense(changes, fragment):
    with pytest.raises(ValueError, match=fragment):
        _group(**changes)


# ------------------------------------------------------------------- params from settings

def test_exit_params_from_default_settings_are_exact_decimals(isolated_settings):
    params = ExitParams.from_settings(load_settings().exits)
    assert params.safety_stop_pct == D("2.0") and str(params.safety_stop_pct) == "2.0"
    assert params.trail_atr_multiplier == D("1.5") and str(params.trail_atr_multiplier) == "1.5"
    assert params.trail_activation_pct == D("3.0") and str(params.trail_activation_pct) == "3.0"
    assert params.time_stop == timedelta(seconds=180)
    # outsideRth off by default: IB resets it on MKT (ib_insync #141), 2109 on a STP (R8)
    assert (params.oca_type, params.tif, params.outside_rth) == (2, "GTC", False)
    assert params == ExitParams()


def test_exit_params_from_settings_keep_decimal_text_of_floats(isolated_settings):
    settings = load_settings(exits={"safety_stop_pct": 1.1, "trail_atr_multiplier": 0.7,
                                    "trail_activation_pct": 2.3, "time_stop_s": 90.5,
                                    "oca_type": 1, "tif": "DAY", "outside_rth": True})
    params = ExitParams.from_settings(settings.exits)
    # Decimal(1.1) would be 1.100000000000000088817841970012523233890533447265625
    assert str(params.safety_stop_pct) == "1.1"
    assert str(params.trail_atr_multiplier) == "0.7"
    assert str(params.trail_activation_pct) == "2.3"
    assert params.time_stop == timedelta(seconds=90, milliseconds=500)
    assert (params.oca_type, params.tif, params.outside_rth) == (1, "DAY", True)
    # 100.00 x (1 - 1.1/100) = 98.90 exactly, on the grid
    assert exit_levels(D("100.00"), D("1"), D("0.01"), params).stop_price == D("98.90")


# ------------------------------------------------------------------- order refs and ids

@pytest.mark.parametrize("role", list(LegRole))
@pytest.mark.parametrize("signal_id", ["sig-42", "a1b2c3d4e5f6", "x.y_z", "abc~r1"])
def test_order_ref_round_trip(signal_id, role):
    ref = order_ref(signal_id, role)
    assert ref == f"s9:{signal_id}:{role.value}"
    assert parse_order_ref(ref) == (signal_id, role)


@pytest.mark.parametrize("ref", [
    "", None, "manual", "my own note", "s9", "s9:abc", "s9:abc:bogus_role", "S9:abc:entry",
    "x9:abc:entry", "s9:abc:entry:extra", "s9:a:b:entry",
])
def test_parse_order_ref_falls_back_to_manual(ref):
    assert parse_order_ref(ref) == ("", LegRole.MANUAL)


def test_oca_group_name():
    assert oca_group_name("sig-42") == "S9-sig-42"


@pytest.mark.parametrize(("signal_id", "base"), [
    ("abc", "abc"),
    ("abc~r1", "abc"),
    ("abc~r2", "abc"),
    ("abc~r1~r2", "abc"),
    ("", ""),
])
def test_base_signal_id(signal_id, base):
    assert REPROTECT_SEPARATOR == "~"
    assert base_signal_id(signal_id) == base
