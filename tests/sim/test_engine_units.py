"""Unit tests of the simulator's pure engine pieces: no server, no sockets.

matching (trails, stop triggers, fill prices, commissions), account (average
cost, realized P&L, flips through zero), conditions (conjunction chaining),
oca (block) and timefmt (IB's time spellings).
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from backend.sim import conditions, matching
from backend.sim.account import Account
from backend.sim.conditions import PRICE, TIME, QuoteView
from backend.sim.models import Condition, ContractRef, Instrument, OrderSpec
from backend.sim.oca import OcaBook
from backend.sim.orders import WorkingOrder
from backend.sim.timefmt import TimeFormatError, format_ib_time, parse_ib_time

D = Decimal
TICK = D("0.01")
AAPL = Instrument("AAPL", 265598)


def touch(last: str) -> matching.Touch:
    price = D(last)
    return matching.Touch(price - TICK, price + TICK, price)


# -- trailing stops ----------------------------------------------------------------

def test_sell_trail_ratchets_up_and_never_down():
    stop = matching.initial_trail_stop("SELL", touch("100"), D("2"), None, None, TICK)
    path = []
    for last in ("101", "104.50", "103", "99", "104.60"):
        stop = matching.next_trail_stop("SELL", stop, touch(last), D("2"), None, TICK)
        path.append(stop)
    assert path == [D("99"), D("102.50"), D("102.50"), D("102.50"), D("102.60")]


def test_buy_trail_ratchets_down_and_never_up():
    stop = matching.initial_trail_stop("BUY", touch("100"), D("1.5"), None, None, TICK)
    assert stop == D("101.5")
    stop = matching.next_trail_stop("BUY", stop, touch("97"), D("1.5"), None, TICK)
    assert stop == D("98.5")
    stop = matching.next_trail_stop("BUY", stop, touch("98"), D("1.5"), None, TICK)
    assert stop == D("98.5")


def test_percent_trail_rounds_away_from_the_market():
    # 1.5% of 99.99 is 1.49985: a sell stop rounds down, a buy stop up, onto the tick grid
    sell = matching.next_trail_stop("SELL", None, touch("99.99"), None, D("1.5"), TICK)
    buy = matching.next_trail_stop("BUY", None, touch("99.99"), None, D("1.5"), TICK)
    assert (sell, buy) == (D("98.49"), D("101.49"))


@pytest.mark.parametrize(("given", "expected"), [("99.20", "99.20"), ("95.00", "98.00")])
def test_trail_stop_price_is_kept_only_when_tighter_than_the_trail(given, expected):
    stop = matching.initial_trail_stop("SELL", touch("100"), D("2"), None, D(given), TICK)
    assert stop == D(expected)


# -- stops and fill prices -----------------------------------------------------------

def tape(*prints: tuple[str, int]) -> matching.Touch:
    """A touch at the last print whose recent prints are ``(price, size)``, one a second."""
    recent = tuple(matching.Print(D(p), size, float(t)) for t, (p, size) in enumerate(prints))
    last = recent[-1].price
    return matching.Touch(last - TICK, last + TICK, last, recent)


# IB's default trigger for stocks is "Last": two consecutive last prints at or through the
# stop, or one whose size is an increase (TWS guide, "Modify the Stop Trigger Method").
# Before issue 8 the simulator triggered on a single print; these rows pin IB's rule.
@pytest.mark.parametrize(("action", "stop", "prints", "fires"), [
    ("SELL", "98", [("98.01", 100), ("98.01", 100)], False),
    ("SELL", "98", [("98.01", 100), ("98", 100)], False),     # one print at, no increase
    ("SELL", "98", [("98.01", 100), ("98", 300)], True),      # one print at, size up
    ("SELL", "98", [("98", 100), ("97.50", 100)], True),      # two consecutive through
    ("SELL", "98", [("98", 300), ("98.02", 500)], False),     # the latest is above
    ("SELL", "98", [("98", 100)], False),                     # a single print, no history
    ("BUY", "102", [("101.99", 100), ("102", 100)], False),
    ("BUY", "102", [("102", 100), ("102.50", 100)], True),
    ("BUY", "102", [("101", 100), ("102", 200)], True),
])
def test_stop_triggers_by_ibs_last_method(action, stop, prints, fires):
    assert matching.stop_triggered(action, D(stop), tape(*prints)) is fires


def test_last_method_counts_only_prints_since_the_window_opened():
    two = tape(("97", 100), ("97", 100))
    assert matching.stop_triggered("SELL", D("98"), two, since=0.0)
    assert not matching.stop_triggered("SELL", D("98"), two, since=1.0)  # older print left out
    bigger = tape(("97", 100), ("97", 300))
    assert matching.stop_triggered("SELL", D("98"), bigger, since=1.0)  # one print, size up
    assert not matching.stop_triggered("SELL", D("98"), bigger, since=2.0)


@pytest.mark.parametrize(("method", "prints", "fires"), [
    (2, [("99", 100), ("98", 300)], True),        # Last = the default
    (3, [("99", 100), ("98", 300)], False),       # Double Last: two prints, size or not
    (3, [("98", 100), ("97", 100)], True),
    (4, [("98", 100)], False),                    # bid/ask: a sell stop reads the ask 98.01
    (4, [("97.99", 100)], True),
    (8, [("98", 100)], True),                     # midpoint 98.00
])
def test_stop_trigger_methods(method, prints, fires):
    assert matching.stop_triggered("SELL", D("98"), tape(*prints), method) is fires


def test_triggered_stop_fills_at_the_market_after_a_gap():
    gap = touch("95")
    assert matching.execution_price("STP", "SELL", gap, None, triggered=True) == D("94.99")
    assert matching.execution_price("STP", "SELL", gap, None, triggered=False) is None
    assert matching.execution_price("TRAIL", "BUY", touch("105"), None, True) == D("105.01")


def test_limit_fill_prices():
    market = touch("100")
    assert matching.execution_price("LMT", "BUY", market, D("99"), False) is None
    assert matching.execution_price("LMT", "BUY", market, D("101"), False) == D("100.01")
    assert matching.execution_price("LMT", "SELL", market, D("99"), False) == D("99.99")
    # rested on the book, then the market gapped through it: trades at the limit
    assert matching.execution_price("LMT", "BUY", touch("97"), D("99"), False,
                                    resting=True) == D("99")
    assert matching.execution_price("STP LMT", "SELL", touch("97"), D("97.50"), True) is None
    assert matching.execution_price("STP LMT", "SELL", touch("98"), D("97.50"), True) == D(
        "97.99")
    assert matching.execution_price("STP LMT", "SELL", touch("98"), D("97.50"), False) is None


# -- commissions ----------------------------------------------------------------------

RATE, MIN, MAX_PCT = D("0.005"), D("1.00"), D("1.0")


@pytest.mark.parametrize(("qty", "price", "fee"), [
    (100, "100", "1.0000"),     # minimum
    (200, "100", "1.0000"),     # exactly the minimum
    (201, "100", "1.0050"),
    (1000, "50", "5.0000"),     # per share
    (50, "1.00", "0.5000"),     # 1% of $50 caps the minimum
    (10000, "0.10", "10.0000"),  # 1% of $1000 caps $50 per-share
])
def test_fixed_rate_commission(qty, price, fee):
    assert matching.commission(D(qty), D(price), RATE, MIN, MAX_PCT) == D(fee)


def test_commission_minimum_applies_once_per_order_across_partial_fills():
    charged, value = D(0), D(0)
    increments = []
    for qty in (30, 60, 90, 100):
        value = D(qty) * D("100")
        total = matching.order_commission(D(qty), value, RATE, MIN, MAX_PCT)
        increments.append(total - charged)
        charged = total
    assert increments == [D("1.0000"), D(0), D(0), D(0)]
    big = [matching.order_commission(D(q), D(q) * 100, RATE, MIN, MAX_PCT)
           for q in (300, 600, 1000)]
    assert big == [D("1.5000"), D("3.0000"), D("5.0000")]


# -- account ----------------------------------------------------------------------------

def test_average_cost_includes_commission_and_realized_is_net_of_both_sides():
    acct = Account("DU1", D("100000"))
    assert acct.apply_fill(AAPL, "BUY", D(100), D("100.01"), D("1")).realized is None
    pos = acct.position(AAPL)
    assert pos.avg_cost == D("100.02")
    acct.apply_fill(AAPL, "BUY", D(100), D("102.01"), D("1"))
    assert pos.qty == 200 and pos.avg_cost == D("101.02")
    result = acct.apply_fill(AAPL, "SELL", D(200), D("103.00"), D("1"))
    # proceeds 20600 - costs 10001 and 10201 - three $1 commissions
    assert result.realized == D("395")
    assert (pos.qty, pos.avg_cost, pos.realized) == (0, 0, result.realized)
    assert acct.cash == D("100000") + result.realized
    assert acct.commissions == 3


def test_partial_close_keeps_the_average_cost():
    acct = Account("DU1", D("100000"))
    acct.apply_fill(AAPL, "BUY", D(100), D("50"), D("1"))
    realized = acct.apply_fill(AAPL, "SELL", D(40), D("55"), D("1")).realized
    pos = acct.position(AAPL)
    assert realized == (D("55") - D("50.01")) * 40 - 1
    assert (pos.qty, pos.avg_cost) == (60, D("50.01"))


def test_flip_through_zero_realizes_the_old_side_and_opens_the_new_one():
    acct = Account("DU1", D("100000"))
    acct.apply_fill(AAPL, "BUY", D(100), D("100"), D("1"))  # avg 100.01
    result = acct.apply_fill(AAPL, "SELL", D(300), D("110"), D("3"))
    pos = acct.position(AAPL)
    # 100 of the 300 close the long (with a third of the fee), 200 open a short
    assert result.realized == (D("110") - D("100.01")) * 100 - 1
    assert pos.qty == -200
    assert pos.avg_cost == D("109.99")  # a short's proceeds net of its $2 commission share
    cover = acct.apply_fill(AAPL, "BUY", D(200), D("105"), D("1")).realized
    assert cover == D("997")  # sold 200 at 110 less $2, bought back at 105 plus $1
    assert pos.qty == 0
    assert sum((p.realized for p in acct.positions.values()), D(0)) == result.realized + cover
    assert acct.cash == D("100000") + result.realized + cover


def test_short_round_trip_realized_is_net_of_both_commissions():
    acct = Account("DU1", D("100000"))
    acct.apply_fill(AAPL, "SELL", D(100), D("50"), D("1"))
    assert acct.position(AAPL).avg_cost == D("49.99")
    realized = acct.apply_fill(AAPL, "SELL", D(100), D("52"), D("1")).realized
    assert realized is None and acct.position(AAPL).avg_cost == D("50.99")
    realized = acct.apply_fill(AAPL, "BUY", D(200), D("45"), D("1")).realized
    assert realized == (D("50") + D("52") - 2 * D("45")) * 100 - 3
    assert acct.cash == D("100000") + realized


def test_account_values_mark_positions_to_market():
    acct = Account("DU1", D("100000"))
    acct.apply_fill(AAPL, "BUY", D(100), D("100"), D("1"))
    values = acct.values({AAPL.con_id: D("110")})
    assert values["NetLiquidation"] == D("100000") - D("10001") + D("11000")
    assert values["UnrealizedPnL"] == (D("110") - D("100.01")) * 100
    assert values["GrossPositionValue"] == D("11000")
    assert values["InitMarginReq"] == D("5500")


# -- conditions -------------------------------------------------------------------------

class View:
    def __init__(self, now: float, last: str = "100", prints: int = 2) -> None:
        self._now = now
        self.last = D(last)
        self.prints = tuple(matching.Print(self.last, 100, float(t)) for t in range(prints))

    def quote_by_con_id(self, con_id: int) -> QuoteView | None:
        if con_id != AAPL.con_id:
            return None
        return QuoteView(self.last - TICK, self.last + TICK, self.last, 0, D("100"),
                         self.prints)

    def cushion_percent(self) -> Decimal:
        return D(50)

    def executed_since(self, symbol: str, sec_type: str, since: float) -> bool:
        return False

    def now(self) -> float:
        return self._now


NOW = datetime(2026, 11, 21, 14, 0, tzinfo=timezone.utc).timestamp()


def truth(value: bool, conjunction: str = "a") -> Condition:
    """A time condition that is true (time already passed) or false (not yet)."""
    when = "20261121 13:00:00 UTC" if value else "20261121 15:00:00 UTC"
    return Condition(TIME, conjunction=conjunction, is_more=True, value=when)


@pytest.mark.parametrize(("chain", "expected"), [
    ([(True, "a"), (False, "a")], False),
    ([(True, "o"), (False, "a")], True),
    ([(False, "o"), (True, "a")], True),
    ([(False, "a"), (True, "a")], False),
    # left to right, no precedence: (T or F) and F = F, where "and first" would give T
    ([(True, "o"), (False, "a"), (False, "a")], False),
    ([(False, "a"), (False, "o"), (True, "a")], True),   # (F and F) or T
])
def test_conditions_chain_left_to_right(chain, expected):
    conds = [truth(v, c) for v, c in chain]
    assert conditions.conditions_met(conds, View(NOW), 0.0) is expected


def test_no_conditions_are_met():
    assert conditions.conditions_met([], View(NOW), 0.0) is True


def test_price_condition_counts_last_prints_by_default():
    # triggerMethod 0 is IB's "Last", as for stops: two prints at or through the level
    above = Condition(PRICE, is_more=True, value="101.0", con_id=AAPL.con_id)
    below = Condition(PRICE, is_more=False, value="99", con_id=AAPL.con_id)
    assert not conditions.condition_true(above, View(NOW, "100.99"), 0)
    assert conditions.condition_true(above, View(NOW, "101"), 0)
    assert not conditions.condition_true(above, View(NOW, "101", prints=1), 0)
    assert not conditions.condition_true(above, View(NOW, "101"), 0, since=1.0)
    assert conditions.condition_true(below, View(NOW, "99"), 0)
    unknown = Condition(PRICE, is_more=True, value="1", con_id=1)
    assert not conditions.condition_true(unknown, View(NOW), 0)


def test_condition_validation():
    assert conditions.validate_condition(Condition(PRICE, value="1", con_id=5), {5}) is None
    assert "not known" in conditions.validate_condition(Condition(PRICE, value="1", con_id=6),
                                                        {5})
    assert "time" in conditions.validate_condition(Condition(TIME, value="tomorrow"), set())


# -- OCA ------------------------------------------------------------------------------

def member(order_id: int, group: str = "G", oca_type: int = 2,
           account: str = "DU1") -> WorkingOrder:
    spec = OrderSpec(order_id, ContractRef(symbol="AAPL"), "SELL", D(100), "LMT",
                     lmt_price=D("101"), oca_group=group, oca_type=oca_type, account=account)
    return WorkingOrder(spec, 1, 1000 + order_id, AAPL, order_id, 0.0, status="Submitted")


@pytest.mark.parametrize("oca_type", [1, 2])
def test_block_types_allow_one_member_per_pass(oca_type):
    book = OcaBook()
    a, b = member(1, oca_type=oca_type), member(2, oca_type=oca_type)
    book.add(a)
    book.add(b)
    assert not book.blocked(b, set())
    assert book.blocked(b, {book.group_key(a)})
    assert not book.blocked(b, {"DU1|other"})


def test_type3_never_blocks():
    book = OcaBook()
    a, b = member(1, oca_type=3), member(2, oca_type=3)
    book.add(a)
    book.add(b)
    assert not book.blocked(b, {book.group_key(a)})


def test_a_partly_filled_resting_member_does_not_block_its_siblings():
    book = OcaBook()
    take, stop = member(1), member(2)
    book.add(take)
    book.add(stop)
    take.apply_fill(D(30), D("101"))
    assert not book.blocked(stop, set())


def test_groups_are_per_account_and_siblings_exclude_done_members():
    book = OcaBook()
    a, b, c = member(1), member(2), member(3)
    other = member(4, account="DU2")
    for order in (a, b, c, other):
        book.add(order)
    assert book.siblings(a) == [b, c]
    c.status = "Cancelled"
    assert book.siblings(a) == [b]
    book.discard(b)
    assert book.siblings(a) == []
    assert book.group_key(member(5, group="")) == ""


# -- IB time formats -------------------------------------------------------------------

@pytest.mark.parametrize(("text", "had_zone"), [
    ("20261121 14:03:00 UTC", True),
    ("20261121-14:03:00", True),
    ("20261121 09:03:00 US/Eastern", True),   # EST in November: UTC-5
    ("20261121 14:03:00", False),             # zone-less: read as UTC, warning 2174 in TWS
    ("  20261121   14:03:00  UTC ", True),
])
def test_parse_ib_time_spellings(text, had_zone):
    moment, zoned = parse_ib_time(text)
    assert moment == datetime(2026, 11, 21, 14, 3, tzinfo=timezone.utc)
    assert zoned is had_zone


def test_parse_ib_time_daylight_saving():
    moment, _ = parse_ib_time("20260701 09:30:00 US/Eastern")
    assert moment == datetime(2026, 7, 1, 13, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("text", ["", "2026-11-21 14:03:00", "20261121 25:00:00",
                                  "20261121 14:03:00 Mars/Olympus", "20261121"])
def test_parse_ib_time_rejects(text):
    with pytest.raises(TimeFormatError):
        parse_ib_time(text)


def test_format_ib_time_round_trips():
    stamp = datetime(2026, 11, 21, 14, 3, tzinfo=timezone.utc).timestamp()
    assert format_ib_time(stamp) == "20261121 14:03:00 UTC"
    assert parse_ib_time(format_ib_time(stamp))[0].timestamp() == stamp
