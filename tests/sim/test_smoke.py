"""The simulator answers a real ib_insync client end to end: sync, market order, positions."""

from ib_insync import MarketOrder

from tests.sim.conftest import wait_until


def test_connect_sync_and_market_order_fill(sim, ib, aapl):
    assert ib.managedAccounts() == ["DU1234567"]
    assert aapl.conId == 265598
    trade = ib.placeOrder(aapl, MarketOrder("BUY", 100))
    wait_until(ib, lambda: trade.orderStatus.status == "Filled", what="market order fill")
    assert trade.orderStatus.avgFillPrice == float(sim.quote("AAPL")["ask"])
    assert trade.fills[0].commissionReport.commission == 1.0
    broker = sim.positions()["AAPL"]
    assert broker["qty"] == 100
    wait_until(ib, lambda: ib.positions(), what="position")
    assert ib.positions()[0].position == 100
