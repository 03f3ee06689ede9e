"""A TWS session as real clients see it: handshake, the connect sync, and every request
the terminal relies on, over TCP with ib_insync 0.9.86 (and a raw socket where the test
must choose the bytes).
"""

from __future__ import annotations

import logging
import math
import time
from datetime import date, datetime, timezone

import pytest
from ib_insync import ExecutionFilter, LimitOrder, MarketOrder, Stock

from tests.sim.conftest import connect, wait_until
from tests.sim.orderkit import ib_time, wait_status
from tests.sim.wireclient import WireClient

ACCOUNT = "DU1234567"


# -- handshake -------------------------------------------------------------------------------
def test_ib_insync_0_9_86_negotiates_176(ib):
    assert ib.client.serverVersion() == 176


@pytest.mark.parametrize(("hello", "version"), [("v100..226", 178), ("v157..178", 178),
                                                ("v157..176", 176), ("v170..177 +PACEAPI", 177)])
def test_server_version_is_the_lower_of_the_client_max_and_178(sim, hello, version):
    with WireClient(sim.port) as client:
        reply = client.hello(hello)
        assert reply is not None and len(reply) == 2
        assert int(reply[0]) == version
        assert reply[1].endswith(" UTC") and len(reply[1]) == len("20261121 14:03:00 UTC")


@pytest.mark.parametrize("hello", ["v179..200", "v100..160", "v100", "100..178"])
def test_a_version_range_the_server_cannot_speak_is_closed(sim, hello):
    with WireClient(sim.port) as client:
        assert client.hello(hello) is None
        assert client.wait_closed(1.0)


def test_start_api_is_answered_with_accounts_next_id_and_farm_status(sim):
    with WireClient(sim.port) as client:
        messages = client.connect(5)
    assert messages[0] == ["15", "1", ACCOUNT]  # exactly 3 fields: ib_insync needs it so
    assert messages[1] == ["9", "1", "1"]
    farms = [(m[2], m[3], m[5]) for m in messages[2:]]
    assert [code for _, code, _ in farms] == ["2104", "2106", "2158"]
    assert all(req_id == "-1" and json == "" for req_id, _, json in farms)


def test_ib_insync_connect_sync_completes_without_timeouts(sim, event_loop_for_ib, caplog):
    """Positions, open and completed orders, account updates, multi, executions: all answered."""
    first = connect(sim, 1)
    first.placeOrder(Stock("AAPL", "SMART", "USD"), MarketOrder("BUY", 100))
    resting = first.placeOrder(Stock("AAPL", "SMART", "USD"), LimitOrder("BUY", 10, 150))
    wait_status(first, resting, "Submitted")
    first.disconnect()

    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="ib_insync"):
        ib = connect(sim, 1)
    try:
        assert time.monotonic() - started < 1.5
        assert "Synchronization complete" in caplog.text
        assert "timed out" not in caplog.text
        assert [p.position for p in ib.positions()] == [100.0]
        assert [t.order.orderId for t in ib.openTrades()] == [resting.order.orderId]
        assert [t.orderStatus.status for t in ib.trades() if t.isDone()] == ["Filled"]
        assert [f.execution.shares for f in ib.fills()] == [100.0]
        assert {v.tag for v in ib.accountValues()} >= {"NetLiquidation", "BuyingPower"}
        assert [p.position for p in ib.portfolio()] == [100.0]
    finally:
        ib.disconnect()


def test_client_id_0_connects_and_may_auto_bind(sim, event_loop_for_ib, caplog):
    """ib_insync sends reqAutoOpenOrders(True) first when it connects as clientId 0."""
    with caplog.at_level(logging.ERROR, logger="ib_insync"):
        ib = connect(sim, 0)
    try:
        assert ib.isConnected() and sim.connected_clients() == [0]
        assert caplog.records == []  # no 321 for the auto-bind request
    finally:
        ib.disconnect()


# -- simple requests -----------------------------------------------------------------------
def test_req_ids_returns_the_next_unused_order_id(sim, ib, aapl):
    trade = ib.placeOrder(aapl, LimitOrder("BUY", 1, 150))
    wait_status(ib, trade, "Submitted")
    with WireClient(sim.port) as other:
        other.connect(1 + 50)
        other.send(8, 1, 1)
        assert other.read_until(lambda f: f[0] == "9") == [["9", "1", "1"]]  # per client
    seen: list[int] = []
    ib.wrapper.nextValidId = seen.append
    ib.client.reqIds(1)
    wait_until(ib, lambda: seen, what="nextValidId")
    assert seen == [trade.order.orderId + 1]


def test_req_current_time_is_the_simulator_clock(sim, ib):
    sim.advance_time(3600)
    answer = ib.reqCurrentTime()
    assert abs(answer.timestamp() - sim.now()) < 2
    assert answer.tzinfo is not None


def test_contract_details(ib):
    (details,) = ib.reqContractDetails(Stock("AAPL", "SMART", "USD"))
    c = details.contract
    assert (c.conId, c.symbol, c.secType, c.exchange, c.primaryExchange, c.currency) == (
        265598, "AAPL", "STK", "SMART", "NASDAQ", "USD")
    assert details.minTick == 0.01 and details.longName == "APPLE INC"
    (by_con_id,) = ib.reqContractDetails(Stock(conId=272093))
    assert by_con_id.contract.symbol == "MSFT"


# -- market data -----------------------------------------------------------------------------
def test_market_data_streams_bid_ask_last_sizes_and_volume(sim, ib, aapl):
    ticker = ib.reqMktData(aapl)
    wait_until(ib, lambda: ticker.last == 190.0, what="first ticks")
    assert (ticker.bid, ticker.ask) == (189.99, 190.01)
    assert ticker.bidSize > 0 and ticker.askSize > 0 and ticker.lastSize > 0
    volume = ticker.volume
    sim.set_price("AAPL", "191.25")
    wait_until(ib, lambda: ticker.last == 191.25, what="the scripted price")
    assert (ticker.bid, ticker.ask) == (191.24, 191.26)
    wait_until(ib, lambda: ticker.volume > volume, what="volume to grow")
    ib.cancelMktData(aapl)


def test_market_data_snapshot_ends_with_tick_snapshot_end(ib, aapl):
    (ticker,) = ib.reqTickers(aapl)
    assert ticker.last == 190.0 and ticker.bid == 189.99


def test_historical_bars_are_the_simulators_own_history(sim, ib, aapl):
    bars = ib.reqHistoricalData(aapl, "", "1800 S", "1 min", "TRADES", False, formatDate=2)
    assert 29 <= len(bars) <= 31
    times = [b.date for b in bars]
    assert times == sorted(times) and all(isinstance(t, datetime) for t in times)
    for bar in bars:
        assert bar.low <= min(bar.open, bar.close) <= max(bar.open, bar.close) <= bar.high
        assert bar.volume > 0 and bar.barCount > 0

    five_second = sim.call(lambda s: [(b.time, b.open, b.high, b.low, b.close, b.volume)
                                      for b in s.market.history("AAPL")])
    bar = bars[5]
    start = int(bar.date.timestamp())
    inside = [b for b in five_second if start <= b[0] < start + 60]
    assert len(inside) == 12
    assert bar.open == float(inside[0][1]) and bar.close == float(inside[-1][4])
    assert bar.high == float(max(b[2] for b in inside))
    assert bar.low == float(min(b[3] for b in inside))
    assert bar.volume == sum(b[5] for b in inside)


def test_historical_bars_with_an_end_time_and_daily_bars(sim, ib, aapl):
    end = datetime.fromtimestamp(sim.now() - 3600, timezone.utc)
    bars = ib.reqHistoricalData(aapl, end, "600 S", "5 mins", "MIDPOINT", False)
    assert len(bars) in (2, 3)
    assert bars[-1].date.timestamp() <= end.timestamp()
    for format_date in (1, 2):
        daily = ib.reqHistoricalData(aapl, "", "2 D", "1 day", "TRADES", False, format_date)
        assert daily and all(type(b.date) is date for b in daily)  # dates, never times


def test_historical_keep_up_to_date_sends_updates(sim, ib, aapl):
    bars = ib.reqHistoricalData(aapl, "", "300 S", "1 min", "TRADES", False, keepUpToDate=True)
    updates: list[bool] = []
    bars.updateEvent += lambda _bars, has_new_bar: updates.append(has_new_bar)
    sim.set_price("AAPL", "193.40")
    wait_until(ib, lambda: updates and bars[-1].close == 193.4, what="a bar update")
    assert bars[-1].high >= 193.4
    ib.cancelHistoricalData(bars)


def test_bad_history_request_is_error_162(ib, aapl):
    errors: list[tuple] = []
    ib.errorEvent += lambda *a: errors.append(a[:2])
    bars = ib.reqHistoricalData(aapl, "", "1800 S", "7 mins", "TRADES", False)
    assert len(bars) == 0 and errors and errors[0][1] == 162  # BarDataList == is identity


# -- account -----------------------------------------------------------------------------------
def fill(ib, contract, action: str, qty: int):
    trade = ib.placeOrder(contract, MarketOrder(action, qty))
    wait_status(ib, trade, "Filled")
    return trade


def test_positions_and_account_updates(sim, ib, aapl):
    fill(ib, aapl, "BUY", 100)
    positions = ib.reqPositions()
    assert [(p.account, p.contract.conId, p.position) for p in positions] == [
        (ACCOUNT, 265598, 100.0)]
    assert positions[0].avgCost == pytest.approx(190.01 + 1.0 / 100)

    wait_until(ib, lambda: any(p.position == 100 for p in ib.portfolio()), what="portfolio")
    values = {v.tag: v for v in ib.accountValues() if v.currency in ("USD", "")}
    broker = sim.account_values()
    for tag in ("NetLiquidation", "AvailableFunds", "BuyingPower", "TotalCashValue",
                "ExcessLiquidity", "InitMarginReq", "GrossPositionValue"):
        assert tag in values, tag
    assert float(values["TotalCashValue"].value) == float(broker["TotalCashValue"])
    assert float(values["TotalCashValue"].value) == pytest.approx(1_000_000 - 19_001 - 1.0)
    assert values["AccountCode"].value == ACCOUNT


def test_account_summary(sim, ib):
    summary = {v.tag: v.value for v in ib.accountSummary()}
    assert float(summary["NetLiquidation"]) == 1_000_000
    assert float(summary["BuyingPower"]) == 4_000_000
    assert summary["AccountType"] == "INDIVIDUAL"


def test_pnl_subscription(sim, ib, aapl):
    fill(ib, aapl, "BUY", 100)  # at the ask, 190.01, plus $1 commission
    sim.set_price("AAPL", "191.01")
    pnl = ib.reqPnL(ACCOUNT)
    wait_until(ib, lambda: not math.isnan(pnl.unrealizedPnL), what="the first PnL message")
    assert pnl.unrealizedPnL == pytest.approx(100 * (191.01 - 190.02))
    assert pnl.dailyPnL == pytest.approx(pnl.unrealizedPnL + pnl.realizedPnL)
    ib.cancelPnL(ACCOUNT)


# -- orders ------------------------------------------------------------------------------------
def test_open_orders_per_client_and_all_open_orders(sim, ib, aapl):
    mine = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150))
    wait_status(ib, mine, "Submitted")
    other = connect(sim, 2)
    try:
        msft = Stock("MSFT", "SMART", "USD")
        theirs = other.placeOrder(msft, LimitOrder("BUY", 5, 300))
        wait_status(other, theirs, "Submitted")
        assert [(t.order.clientId, t.order.orderId) for t in other.reqOpenOrders()] == [
            (2, theirs.order.orderId)]
        everything = other.reqAllOpenOrders()
        assert sorted((t.order.clientId, t.order.orderId, t.order.permId)
                      for t in everything) == sorted([
            (1, mine.order.orderId, mine.order.permId),
            (2, theirs.order.orderId, theirs.order.permId)])
        assert [(t.order.clientId, t.order.orderId) for t in ib.reqOpenOrders()] == [
            (1, mine.order.orderId)]
    finally:
        other.disconnect()


def test_completed_orders(sim, ib, aapl):
    filled = fill(ib, aapl, "BUY", 10)
    resting = ib.placeOrder(aapl, LimitOrder("BUY", 10, 150))
    wait_status(ib, resting, "Submitted")
    ib.cancelOrder(resting.order)
    wait_status(ib, resting, "Cancelled")
    done = ib.reqCompletedOrders(apiOnly=False)
    assert [(t.order.permId, t.orderStatus.status) for t in done] == [
        (filled.order.permId, "Filled"), (resting.order.permId, "Cancelled")]


def test_executions_and_their_filter(sim, ib, aapl):
    msft = Stock("MSFT", "SMART", "USD")
    ib.qualifyContracts(msft)
    fill(ib, aapl, "BUY", 100)
    fill(ib, msft, "BUY", 10)
    sim.advance_time(120)
    cutoff = sim.now() - 60
    fill(ib, aapl, "SELL", 40)

    def execs(**filters) -> list[tuple[str, str, float]]:
        fills = ib.reqExecutions(ExecutionFilter(**filters))
        return [(f.contract.symbol, f.execution.side, f.execution.shares) for f in fills]

    assert execs() == [("AAPL", "BOT", 100), ("MSFT", "BOT", 10), ("AAPL", "SLD", 40)]
    assert execs(symbol="AAPL") == [("AAPL", "BOT", 100), ("AAPL", "SLD", 40)]
    assert execs(side="SELL") == [("AAPL", "SLD", 40)]
    assert execs(side="BUY", symbol="MSFT") == [("MSFT", "BOT", 10)]
    assert execs(time=ib_time(cutoff)) == [("AAPL", "SLD", 40)]
    assert execs(time=ib_time(cutoff, dashed=True)) == [("AAPL", "SLD", 40)]
    assert execs(clientId=7) == []
    assert [f.commissionReport.commission for f in ib.fills()] == [1.0, 1.0, 1.0]


def test_global_cancel_cancels_every_working_order(sim, ib, aapl):
    other = connect(sim, 2)
    try:
        mine = [ib.placeOrder(aapl, LimitOrder("BUY", 10, price)) for price in (150, 151)]
        theirs = other.placeOrder(Stock("MSFT", "SMART", "USD"), LimitOrder("SELL", 5, 500))
        for trade in mine:
            wait_status(ib, trade, "Submitted")
        wait_status(other, theirs, "Submitted")
        ib.reqGlobalCancel()
        for trade in mine:
            wait_status(ib, trade, "Cancelled")
        wait_status(other, theirs, "Cancelled")
        assert {o["status"] for o in sim.orders()} == {"Cancelled"}
    finally:
        other.disconnect()


def test_what_if_order_reports_margin_and_commission_without_placing(sim, ib, aapl):
    state = ib.whatIfOrder(aapl, LimitOrder("BUY", 100, 190))
    assert float(state.initMarginChange) == pytest.approx(100 * 190 / 2)
    assert float(state.commission) == 1.0 and state.commissionCurrency == "USD"
    assert float(state.equityWithLoanBefore) == 1_000_000
    assert sim.orders() == [] and ib.openTrades() == []


@pytest.mark.parametrize(("request_fields", "req_id"), [
    ([20, 77, 265598, "AAPL", "STK"], 77),                 # reqHistoricalData, cut short
    ([62, 1, 66], 66),                                       # reqAccountSummary without tags
    ([9, 8, 55, "x", "AAPL"], 55),                           # reqContractDetails, bad conId
    ([3, 12, 265598, "AAPL", "STK", "", "", "", "", "SMART"], 12),  # placeOrder, cut short
    ([7, 3], -1),                                            # reqExecutions without a reqId
])
def test_unparseable_request_is_320_with_its_id_and_the_session_goes_on(sim, request_fields,
                                                                        req_id):
    with WireClient(sim.port) as client:
        client.connect(3)
        client.send(*request_fields)
        reply = client.read_until(lambda f: f[0] == "4")[-1]
        assert reply[2:4] == [str(req_id), "320"] and reply[4].startswith("Error reading")
        assert client.current_time() > 0
    assert sim.orders() == []
