"""backend.broker.mapping.chain_orders: one transmit chain, field by field [P1, P3, P5, P6, P7].

The chain is built from the real builders (entry + exit group for reference 100.00, ATR 1.00,
tick 0.01, default exits) and checked against hand-written tables of IB Order fields. The ids
are deliberately not sorted, so "assigned in order" cannot pass by accident.
"""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest
from ib_insync import Order
from ib_insync import PriceCondition as IbPriceCondition
from ib_insync.util import UNSET_DOUBLE

from backend.broker.mapping import chain_orders
from backend.core.exit_plan import ExitParams, build_entry, build_exit_group
from backend.core.models import LegRole, OrderIntent, OrderType, Side

ACCOUNT = "DU1234567"
CON_ID = 265598
ENTRY_TIME = datetime(2026, 1, 5, 14, 30, 0, tzinfo=timezone.utc)
IDS = [105, 7, 300, 42]  # entry, safety stop, time stop, trail
UNSET = UNSET_DOUBLE


def _legs(attach: bool = True) -> list[OrderIntent]:
    return build_exit_group("AAPL", 100, Decimal("100.00"), Decimal("1.00"), Decimal("0.01"),
                            ExitParams(), ENTRY_TIME, "sig-42", attach_to_parent=attach)


def _chain() -> list[Order]:
    return chain_orders(build_entry("AAPL", 100, "sig-42"), _legs(), IDS, ACCOUNT, CON_ID)


def _unattached() -> list[Order]:
    return chain_orders(None, _legs(attach=False), [21, 9, 30], ACCOUNT, CON_ID)


# Expected IB fields of the attached chain: one column per order (entry, stop, time, trail).
CHAIN_FIELDS = [
    ("orderId", [105, 7, 300, 42]),
    ("transmit", [False, False, False, True]),
    ("parentId", [0, 105, 105, 105]),
    ("account", [ACCOUNT] * 4),
    ("action", ["BUY", "SELL", "SELL", "SELL"]),
    ("totalQuantity", [100.0] * 4),
    ("orderType", ["MKT", "STP", "MKT", "TRAIL"]),
    ("lmtPrice", [UNSET] * 4),
    ("auxPrice", [UNSET, 98.0, UNSET, 1.5]),          # STP: the stop; TRAIL: the AMOUNT
    ("trailStopPrice", [UNSET, UNSET, UNSET, 101.5]),  # initial trailing stop level
    ("trailingPercent", [UNSET] * 4),                 # never with auxPrice [P6]
    ("tif", ["DAY", "GTC", "GTC", "GTC"]),
    ("outsideRth", [False, False, False, False]),     # [exits] outside_rth off (R8, #141)
    ("ocaGroup", ["", "S9-sig-42", "S9-sig-42", "S9-sig-42"]),
    ("ocaType", [0, 2, 2, 2]),
    ("goodAfterTime", ["", "", "20260105 14:33:00 UTC", ""]),
    ("conditionsCancelOrder", [False, False, True, False]),
    ("orderRef", ["s9:sig-42:entry", "s9:sig-42:safety_stop", "s9:sig-42:time_stop",
                  "s9:sig-42:profit_harvester"]),
]


@pytest.mark.parametrize(("name", "expected"), CHAIN_FIELDS, ids=[r[0] for r in CHAIN_FIELDS])
def test_attached_chain_field(name, expected):
    assert [getattr(order, name) for order in _chain()] == expected


def test_chain_returns_ib_orders_parent_first():
    orders = _chain()
    assert len(orders) == 4
    assert all(isinstance(order, Order) for order in orders)
    assert orders[0].action == "BUY" and orders[0].orderId == IDS[0]


def test_conditions_carry_the_contract_id_and_activation_level():
    orders = _chain()
    assert [len(order.conditions) for order in orders] == [0, 0, 1, 1]
    for order in orders[2:]:
        condition = order.conditions[0]
        assert isinstance(condition, IbPriceCondition)
        assert condition.conId == CON_ID
        assert condition.price == 103.0
        assert condition.isMore is True
        assert condition.exch == "SMART"


def test_good_after_time_string_is_passed_through_verbatim():
    time_leg = OrderIntent(LegRole.TIME_STOP, "AAPL", Side.SELL, 10, OrderType.MARKET,
                           good_after_time="20261121 14:03:00 US/Eastern",
                           attach_to_parent=True)
    orders = chain_orders(build_entry("AAPL", 10, "x"), [time_leg], [1, 2], ACCOUNT, CON_ID)
    assert orders[1].goodAfterTime == "20261121 14:03:00 US/Eastern"


# ---------------------------------------------------------------------- without a parent

UNATTACHED_FIELDS = [
    ("orderId", [21, 9, 30]),
    ("transmit", [True, True, True]),
    ("parentId", [0, 0, 0]),
    ("account", [ACCOUNT] * 3),
    ("orderType", ["STP", "MKT", "TRAIL"]),
    ("auxPrice", [98.0, UNSET, 1.5]),
    ("trailStopPrice", [UNSET, UNSET, 101.5]),
    ("trailingPercent", [UNSET] * 3),
    ("ocaGroup", ["S9-sig-42"] * 3),
    ("ocaType", [2, 2, 2]),
    ("goodAfterTime", ["", "20260105 14:33:00 UTC", ""]),
    ("conditionsCancelOrder", [False, True, False]),
]


@pytest.mark.parametrize(("name", "expected"), UNATTACHED_FIELDS,
                         ids=[r[0] for r in UNATTACHED_FIELDS])
def test_unattached_group_field(name, expected):
    assert [getattr(order, name) for order in _unattached()] == expected


def test_unattached_conditions_still_watch_the_contract():
    assert [c.conId for order in _unattached() for c in order.conditions] == [CON_ID, CON_ID]


def test_single_order_without_parent_transmits_itself():
    intent = OrderIntent(LegRole.MANUAL, "AAPL", Side.BUY, 5, OrderType.MARKET)
    (order,) = chain_orders(None, [intent], [77], ACCOUNT, CON_ID)
    assert (order.orderId, order.transmit, order.parentId, order.account) == (77, True, 0, ACCOUNT)


def test_parent_alone_transmits_itself():
    (order,) = chain_orders(build_entry("AAPL", 100, "s"), [], [5], ACCOUNT, CON_ID)
    assert (order.orderId, order.transmit, order.parentId) == (5, True, 0)


def test_unattached_child_behind_a_parent_has_no_parent_id_but_waits_for_the_chain():
    child = OrderIntent(LegRole.MANUAL, "AAPL", Side.SELL, 100, OrderType.STOP,
                        stop_price=Decimal("95.00"))
    last = _legs()[0]
    orders = chain_orders(build_entry("AAPL", 100, "s"), [child, last], [1, 2, 3], ACCOUNT,
                          CON_ID)
    assert [o.parentId for o in orders] == [0, 0, 1]
    assert [o.transmit for o in orders] == [False, False, True]


# ------------------------------------------------------------------------------ refusals

@pytest.mark.parametrize("ids", [[], [1, 2, 3], [1, 2, 3, 4, 5]])
def test_wrong_number_of_ids_is_refused(ids):
    with pytest.raises(ValueError, match="4 orders need 4 reserved ids"):
        chain_orders(build_entry("AAPL", 100, "s"), _legs(), ids, ACCOUNT, CON_ID)


@pytest.mark.parametrize("ids", [[1, 2, 3, 1], [4, 4, 5, 6], [9, 9, 9, 9]])
def test_duplicate_ids_are_refused(ids):
    with pytest.raises(ValueError, match="distinct"):
        chain_orders(build_entry("AAPL", 100, "s"), _legs(), ids, ACCOUNT, CON_ID)


def test_attached_legs_without_a_parent_are_refused():
    with pytest.raises(ValueError, match="must ride on a parent order"):
        chain_orders(None, _legs(attach=True), [1, 2, 3], ACCOUNT, CON_ID)


def test_missing_account_is_refused():
    with pytest.raises(ValueError, match="explicit account"):
        chain_orders(build_entry("AAPL", 100, "s"), _legs(), [1, 2, 3, 4], "", CON_ID)


def test_conditions_without_contract_id_are_refused():
    with pytest.raises(ValueError, match="contract id"):
        chain_orders(build_entry("AAPL", 100, "s"), _legs(), [1, 2, 3, 4], ACCOUNT, 0)
