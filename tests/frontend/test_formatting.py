"""frontend.formatting: one way to write each kind of number, table by table.

The Qt columns and the headless log both call these functions, so a row here is what the
trader reads in the window and in the headless log alike.
"""

from __future__ import annotations

import os
from decimal import Decimal

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the app

import pytest  # noqa: E402

from backend.core.cancels import plain_reason  # noqa: E402
from backend.core.models import LegRole  # noqa: E402
from frontend import formatting as fmt  # noqa: E402

D = Decimal


@pytest.mark.parametrize(("value", "text"), [
    (D("426.88724137931035"), "426.89"),   # avg cost with the commission folded in
    (D("192.4"), "192.40"),                 # what headless used to print
    ("192.4", "192.40"), (192.4, "192.40"),  # journal text and JSON floats alike
    (D("100"), "100.00"),
    (D("1234.5"), "1234.50"),               # no separators in a price: it is typed back
    (D("0.4512"), "0.4512"),                # sub-dollar: Rule 612's $0.0001 tick
    (D("0.45125"), "0.4513"),
    (D("-1.005"), "-1.01"),
    (None, ""), ("", ""), ("n/a", ""), (float("nan"), ""),
])
def test_price(value, text):
    assert fmt.price(value) == text


def test_price_on_a_given_tick():
    assert fmt.price(D("101.237"), tick=D("0.05")) == "101.24"  # decimals of the tick
    assert fmt.price(D("3.14159"), tick=D("0.001")) == "3.142"


@pytest.mark.parametrize(("value", "text"), [
    (100, "100"), (1200, "1,200"), (D("100.0"), "100"), ("-300", "-300"), (None, ""),
])
def test_quantity(value, text):
    assert fmt.quantity(value) == text


@pytest.mark.parametrize(("value", "signed", "text"), [
    (D("1234.5"), False, "1,234.50"),
    (D("-1234.5"), False, "-1,234.50"),
    (D("0.0"), False, "0.00"),             # headless used to print "(0.0)"
    (D("-0.001"), False, "0.00"),          # never "-0.00"
    (D("196"), True, "+196.00"),
    (D("-1.5"), True, "-1.50"),
    (D("0"), True, "0.00"),
    (D("1234567.891"), False, "1,234,567.89"),
    (None, False, ""),
])
def test_money(value, signed, text):
    assert fmt.money(value, signed=signed) == text


@pytest.mark.parametrize(("value", "text"), [
    (D("0.01"), "+0.01"), (D("-0.03"), "-0.03"), (D("0.0"), "0.00"), (D("0.004"), "+0.0040"),
])
def test_signed_price(value, text):
    assert fmt.signed_price(value) == text


@pytest.mark.parametrize(("role", "name"), [
    (LegRole.SAFETY_STOP, "stop"), ("safety_stop", "stop"),
    (LegRole.TIME_STOP, "time stop"), ("time_stop", "time stop"),
    (LegRole.PROFIT_HARVESTER, "trail"), ("profit_harvester", "trail"),
    (LegRole.ENTRY, "entry"), (LegRole.FLATTEN, "close"), (LegRole.MANUAL, "manual"),
    ("something_new", "something_new"), (None, ""),
])
def test_leg_names_are_the_cancels_module_names(role, name):
    assert fmt.leg_name(role) == name


def test_protection_names_in_leg_order():
    roles = ["profit_harvester", "safety_stop", "time_stop"]
    assert fmt.protection_names(roles) == "stop, time stop, trail"


@pytest.mark.parametrize(("args", "text"), [
    (("AAPL", "BUY", 100, D("100.01"), D("1"), "12"),
     "AAPL BUY 100 @ 100.01, commission 1.00 (order 12)"),
    (("MSFT", "SELL", 1500, "412.3", None, 40), "MSFT SELL 1,500 @ 412.30 (order 40)"),
])
def test_fill_text(args, text):
    assert fmt.fill_text(*args) == text


def test_slippage_and_order_prices():
    assert fmt.slippage_text("AAPL", "100.01", "100", "0.01") == (
        "AAPL entry filled at 100.01 vs reference 100.00 (slippage +0.01)")
    assert fmt.order_prices("TRAIL", None, "101.5", "1.5") == " stop 101.50 trail 1.50"
    assert fmt.order_prices("MKT") == ""


@pytest.mark.parametrize(("message", "plain"), [
    ("IB 202: Order Canceled - reason:", ""),
    ("IB 202: Order Canceled - reason:Order was discarded.",
     "discarded by IB: it was never placed"),
    ("IB 202: Order Canceled - reason:conditions met", "its price condition traded"),
    ("IB 399: Order will not be placed at the exchange until 09:30",
     "Order will not be placed at the exchange until 09:30"),
    ("IB 202: Order Canceled - reason:We cannot accept an order <br>at a limit price",
     "We cannot accept an order at a limit price"),
    ("lost: not at the broker after a reconnect", "lost: not at the broker after a reconnect"),
    ("", ""),
])
def test_plain_cancel_reasons(message, plain):
    assert plain_reason(message) == plain


@pytest.mark.parametrize(("code", "text", "line"), [
    (202, "order 9: Order Canceled - reason:", "order 9: cancel confirmed by IB [IB 202]"),
    (202, "order 9: Order Canceled - reason:Order was discarded.",
     "order 9: cancel confirmed by IB (discarded by IB: it was never placed) [IB 202]"),
    (2104, "Market data farm connection is OK:usfarm",
     "IB 2104: Market data farm connection is OK:usfarm"),
])
def test_broker_text(code, text, line):
    assert fmt.broker_text(code, text) == line


def test_columns_use_the_same_functions(qapp):
    from frontend.models import columns

    row: dict = {}
    assert columns.price(D("426.88724137931035"), row) == fmt.price(D("426.88724137931035"))
    assert columns.money(D("-1234.5"), row) == "-1,234.50"
    assert columns.quantity(1200, row) == "1,200"
    assert columns.role(LegRole.TIME_STOP, row) == "time stop"
