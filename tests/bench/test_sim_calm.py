"""The simulator's matching does only the work a tick can cause (issue 12, ``calm``/``book``).

Driven on the engine directly (a ``SimServer`` not listening, as ``bench.sim_engine``
does): these tests count matching work, which no client can see, and check that what a
client can see still happens in the same pass as before. No wall-clock time is asserted.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from backend.sim.config import SimConfig
from backend.sim.models import Condition, ContractRef, OrderSpec
from backend.sim.server import SimServer

SYMBOLS = ("AAA", "BBB", "CCC", "DDD")


def contract(symbol: str) -> ContractRef:
    return ContractRef(symbol=symbol, sec_type="STK", exchange="SMART", currency="USD")


@pytest.fixture
def server() -> SimServer:
    s = SimServer(SimConfig(port=0, symbols=SYMBOLS, volatility=0.0,
                            starting_cash=Decimal("1000000")))
    for symbol in SYMBOLS:
        s.market.set_price(symbol, "100.00")
    return s


def bracket(server: SimServer, symbol: str, first: int, entry: str = "95.00") -> None:
    place = server.broker.place
    place(1, OrderSpec(first, contract(symbol), "BUY", Decimal(10), "LMT",
                       lmt_price=Decimal(entry), tif="GTC", transmit=False))
    place(1, OrderSpec(first + 1, contract(symbol), "SELL", Decimal(10), "LMT",
                       lmt_price=Decimal("120.00"), tif="GTC", parent_id=first, transmit=False))
    place(1, OrderSpec(first + 2, contract(symbol), "SELL", Decimal(10), "STP",
                       aux_price=Decimal("90.00"), tif="GTC", parent_id=first))


def count_passes(server: SimServer, monkeypatch) -> list[int]:
    """Every order a matching pass actually works on (``Broker._refresh_hold`` calls)."""
    seen: list[int] = []
    broker = server.broker
    refresh = broker._refresh_hold

    def counted(order, announce: bool = True) -> None:
        seen.append(order.order_id)
        refresh(order, announce)

    monkeypatch.setattr(broker, "_refresh_hold", counted)
    return seen


def test_a_market_step_with_only_resting_orders_works_on_none_of_them(server, monkeypatch):
    for i, symbol in enumerate(SYMBOLS):
        bracket(server, symbol, 10 * i + 1)
    seen = count_passes(server, monkeypatch)
    server.market.step()
    server.broker.on_clock()
    assert seen == []
    assert len(server.broker.live_orders()) == 12


def test_the_market_reaching_a_resting_entry_fills_it_and_protects_it_in_that_pass(server):
    bracket(server, "AAA", 1)
    server.market.step()  # calm now: nothing near the market
    passes = []
    evaluate = server.broker.evaluate
    server.broker.evaluate = lambda symbol: (passes.append(symbol), evaluate(symbol))
    server.market.set_price("AAA", "94.00")
    orders = server.broker.orders
    assert orders[(1, 1)].status == "Filled"
    stop = orders[(1, 3)]
    assert (stop.held_by, stop.why_held, stop.status) == (None, "trigger", "PreSubmitted")
    assert passes == ["AAA"]
    server.market.set_price("AAA", "89.00")  # a print through the stop triggers it
    server.market.set_price("AAA", "89.00")
    assert orders[(1, 3)].status == "Filled" and orders[(1, 2)].status == "Cancelled"


def test_a_price_condition_is_judged_on_its_own_contracts_ticks_only(server, monkeypatch):
    watched = server.market.find("BBB")
    assert watched is not None
    server.broker.place(1, OrderSpec(
        1, contract("AAA"), "BUY", Decimal(10), "MKT",
        conditions=[Condition(kind=1, is_more=True, value="105", con_id=watched.con_id)]))
    order = server.broker.orders[(1, 1)]
    assert order.held_by == "conditions"
    seen = count_passes(server, monkeypatch)
    server.market.set_price("CCC", "130.00")
    assert seen == []  # CCC's tick cannot change a condition on BBB
    server.market.set_price("BBB", "106.00")
    server.market.set_price("BBB", "106.00")  # the "Last" method: two prints through
    assert seen and order.status == "Filled"


def test_the_book_indexes_follow_replacements_and_removals(server):
    bracket(server, "AAA", 1)
    book = server.broker.orders
    assert [o.order_id for o in book.family(1, 1)] == [2, 3]
    assert [o.order_id for o in book.not_done_on("AAA")] == [1, 2, 3]
    server.broker.cancel(1, 1)  # the children go with their parent
    assert book.not_done_on("AAA") == [] and server.broker.live_orders() == []
    assert [o.order_id for o in book.family(1, 1)] == [2, 3]  # their fills still count
    book.pop((1, 3))
    assert [o.order_id for o in book.family(1, 1)] == [2]
