"""IBKRConnector end to end: a real ib_insync IB inside the connector, sigma9-sim over TCP.

Nothing is mocked. Each test starts a simulator (``SimThread(quiet_config())``), drives the
connector on the test's event loop, and asserts on two sides: the Qt signals the connector
emits (Sigma9 models only) and the simulator's own state (orders, executions, positions,
connected clients, market-data subscriptions).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import pytest_asyncio
from ib_insync import IB

from backend.broker.connector import IBKRConnector
from backend.broker.errors import BrokerError, ConnectFailed, NotConnected, UnknownSymbol
from backend.core import models
from backend.core.exit_plan import ExitParams, build_entry, build_exit_group
from backend.core.models import (
    ConnectionState,
    FillRecord,
    LegRole,
    OrderRecord,
    OrderStatus,
    OrderType,
    Position,
    Quote,
    Side,
)
from backend.sim import SimThread
from backend.sim.timefmt import parse_ib_time
from tests.helpers import eventually
from tests.sim.conftest import quiet_config

pytestmark = pytest.mark.asyncio

CLIENT_ID = 11
ACCOUNT = "DU1234567"
SIGNALS = ("connection_state", "reconnected", "order_placed", "order_status", "order_filled",
           "order_cancelled", "order_error", "positions_update", "broker_message", "tick",
           "market_data_error")


# ----------------------------------------------------------------------------- helpers

class Recorder:
    """Every emission of every connector signal, in order, as (signal, args)."""

    def __init__(self, connector: IBKRConnector) -> None:
        self.log: list[tuple[str, tuple]] = []
        self.by_signal: dict[str, list[tuple]] = defaultdict(list)
        for name in SIGNALS:
            getattr(connector, name).connect(lambda *args, n=name: self._record(n, args))

    def _record(self, name: str, args: tuple) -> None:
        self.log.append((name, args))
        self.by_signal[name].append(args)

    def first_args(self, name: str) -> list:
        return [args[0] for args in self.by_signal[name]]

    def states(self) -> list[ConnectionState]:
        return [args[0] for args in self.by_signal["connection_state"]]

    def quotes(self) -> list[Quote]:
        return self.first_args("tick")




def make_connector(port: int, **overrides) -> IBKRConnector:
    args = dict(host="127.0.0.1", port=port, client_id=CLIENT_ID, timeout=2.0,
                reconnect_initial_delay=0.1, reconnect_max_delay=0.4)
    args.update(overrides)
    return IBKRConnector(**args)


def broker_orders(sim: SimThread) -> dict[str, dict]:
    return {str(o["order_id"]): o for o in sim.orders(CLIENT_ID)}


def market_data_requests(sim: SimThread) -> list[int]:
    """The reqIds of our client's live market-data subscriptions, as the simulator holds them."""
    return sim.call(lambda s: sorted(req for x in s.sessions if x.client_id == CLIENT_ID
                                     and not x.closed for req in x.mkt_subs))


def assert_one_sentence(message: str) -> None:
    assert message and message == message.strip()
    assert "\n" not in message and "Traceback" not in message
    assert ". " not in message, f"more than one sentence: {message!r}"
    assert len(message) < 300


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def exit_legs(signal_id: str = "t1", attach: bool = False) -> list:
    return build_exit_group("AAPL", 100, Decimal("100.00"), Decimal("1.00"), Decimal("0.01"),
                            ExitParams(), datetime.now(timezone.utc), signal_id,
                            attach_to_parent=attach)


# ---------------------------------------------------------------------------- fixtures

@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(quiet_config()) as thread:
        thread.set_price("AAPL", "100.00")
        yield thread


@pytest_asyncio.fixture
async def connected(sim) -> AsyncIterator[tuple[IBKRConnector, Recorder]]:
    connector = make_connector(sim.port)
    recorder = Recorder(connector)
    await connector.connect()
    yield connector, recorder
    await connector.disconnect()


@pytest_asyncio.fixture
async def filled_buy(connected, sim) -> str:
    """A filled 100-share market BUY; returns its order id once its commission is known."""
    connector, recorder = connected
    order_id = await connector.place_market_order("AAPL", 100, "BUY")
    await eventually(lambda: any(f.order_id == order_id for f in recorder.first_args(
        "order_filled")), what="the fill with its commission")
    return order_id


# -------------------------------------------------------------------------- connection

async def test_connect_emits_connecting_then_connected_with_the_paper_account(sim):
    connector = make_connector(sim.port)
    recorder = Recorder(connector)
    assert connector.state is ConnectionState.DISCONNECTED and not connector.is_connected()

    await connector.connect()

    assert recorder.states() == [ConnectionState.CONNECTING, ConnectionState.CONNECTED]
    messages = [args[1] for args in recorder.by_signal["connection_state"]]
    assert messages[0] == f"connecting to 127.0.0.1:{sim.port}"
    assert f"account {ACCOUNT}" in messages[1] and f"client {CLIENT_ID}" in messages[1]
    assert connector.account == ACCOUNT and connector.account.startswith("DU")
    assert connector.is_connected() and connector.state is ConnectionState.CONNECTED
    assert sim.connected_clients() == [CLIENT_ID]

    await connector.disconnect()

    assert recorder.states()[-1] is ConnectionState.DISCONNECTED
    assert not connector.is_connected()
    await eventually(lambda: sim.connected_clients() == [], what="the broker to see us go")
    # A wanted disconnect stays: even a late (or doubled, ib_async #207) disconnected event
    # starts no retry loop.
    connector.ib.disconnectedEvent.emit()
    assert connector.link.reconnect_task is None and not connector.link.want_connected
    assert sim.connected_clients() == []
    assert recorder.by_signal["reconnected"] == []


async def test_connect_refuses_an_account_this_login_does_not_manage(sim):
    connector = make_connector(sim.port, account="DU0000001", timeout=0.5)
    recorder = Recorder(connector)
    with pytest.raises(ConnectFailed) as failure:
        await connector.connect()
    assert str(failure.value) == ("account DU0000001 is not managed by this login "
                                  f"(it manages {ACCOUNT})")
    assert recorder.states() == [ConnectionState.CONNECTING, ConnectionState.DISCONNECTED]
    assert not connector.is_connected()
    await eventually(lambda: sim.connected_clients() == [], what="the session to be closed")


async def test_connect_to_a_closed_port_fails_with_one_sentence():
    port = unused_port()
    # A refusal must not wait out the timeout: with an hour of it, only an answer to the
    # refusal itself ends connect() before the guard does.
    connector = make_connector(port, timeout=3600)
    recorder = Recorder(connector)
    with pytest.raises(ConnectFailed) as failure:
        await asyncio.wait_for(connector.connect(), 30)
    message = str(failure.value)
    assert_one_sentence(message)
    assert message.startswith(f"nothing is listening on 127.0.0.1:{port}")
    assert "start TWS or IB Gateway" in message
    assert recorder.states() == [ConnectionState.CONNECTING, ConnectionState.DISCONNECTED]
    assert recorder.by_signal["connection_state"][-1][1] == message
    assert not connector.is_connected() and connector.link.reconnect_task is None


async def test_connect_with_a_client_id_in_use_fails_with_one_sentence(sim):
    other = IB()
    await other.connectAsync("127.0.0.1", sim.port, clientId=CLIENT_ID, timeout=5)
    try:
        connector = make_connector(sim.port, timeout=1.0)
        recorder = Recorder(connector)
        with pytest.raises(ConnectFailed) as failure:
            await connector.connect()
        message = str(failure.value)
        assert_one_sentence(message)
        assert message.startswith(
            f"client id {CLIENT_ID} is already in use at 127.0.0.1:{sim.port}")
        assert "choose another client id" in message
        assert recorder.states() == [ConnectionState.CONNECTING, ConnectionState.DISCONNECTED]
        assert not connector.is_connected()
        # the session that owned the id is untouched
        assert other.isConnected() and sim.connected_clients() == [CLIENT_ID]
    finally:
        other.disconnect()


async def test_connect_to_a_silent_server_times_out_with_one_sentence():
    release = asyncio.Event()
    hung_up = asyncio.Event()
    writers = []

    async def never_answer(reader, writer) -> None:
        writers.append(writer)
        await reader.read()  # the client's handshake, then its end of the stream
        hung_up.set()
        await release.wait()
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        connector = make_connector(port, timeout=0.3)
        with pytest.raises(ConnectFailed) as failure:
            await connector.connect()
        message = str(failure.value)
        assert_one_sentence(message)
        # The sentence is the timeout's own (not a refusal's or a drop's): it waited for
        # the handshake, and then stopped.
        assert message.startswith(f"no API handshake from 127.0.0.1:{port} within 0.3s")
        assert writers, "the server did accept the connection"
        assert connector.state is ConnectionState.DISCONNECTED and not connector.is_connected()
        await asyncio.wait_for(hung_up.wait(), 5)  # no half-open socket is left behind
    finally:
        release.set()
        server.close()
        await server.wait_closed()


def _assert_sigma9_model(payload: object) -> None:
    assert type(payload).__module__ == models.__name__, f"{type(payload)} is not Sigma9's"
    for f in dataclasses.fields(payload):
        value = getattr(payload, f.name)
        items = value if isinstance(value, tuple) else (value,)
        for item in items:
            assert not type(item).__module__.startswith(("ib_insync", "eventkit")), (
                f"{type(payload).__name__}.{f.name} carries {type(item)}")
    json.dumps(payload.to_dict())


async def test_signals_carry_sigma9_models_only(connected, sim):
    connector, recorder = connected
    await connector.market.subscribe("AAPL")
    order_id = await connector.place_market_order("AAPL", 100, "BUY")
    await eventually(lambda: recorder.first_args("order_filled")
                     and any(p for p in recorder.first_args("positions_update"))
                     and recorder.quotes(), what="a fill, a position and a tick")

    expected = {"order_placed": OrderRecord, "order_status": OrderRecord,
                "order_filled": FillRecord, "tick": Quote}
    for name, kind in expected.items():
        payloads = recorder.first_args(name)
        assert payloads, f"no {name} emitted"
        for payload in payloads:
            assert isinstance(payload, kind)
            _assert_sigma9_model(payload)
    for positions in recorder.first_args("positions_update"):
        assert isinstance(positions, list)
        for position in positions:
            assert isinstance(position, Position)
            _assert_sigma9_model(position)
    for state, message in recorder.by_signal["connection_state"]:
        assert isinstance(state, ConnectionState) and isinstance(message, str)
    assert order_id in {r.order_id for r in recorder.first_args("order_placed")}


# ---------------------------------------------------------------------------- reconnect

async def test_reconnects_after_a_drop_and_resubscribes_market_data(connected, sim):
    connector, recorder = connected
    await connector.market.subscribe("AAPL")
    await eventually(lambda: recorder.quotes(), what="first ticks")
    before = market_data_requests(sim)
    assert len(before) == 1

    sim.drop_connections()

    await eventually(lambda: recorder.by_signal["reconnected"], what="reconnected")
    states = recorder.states()
    lost = states.index(ConnectionState.RECONNECTING)
    assert ConnectionState.CONNECTED in states[lost:]
    assert connector.is_connected() and sim.connected_clients() == [CLIENT_ID]
    after = market_data_requests(sim)
    assert len(after) == 1 and after != before, "market data requested again after reconnect"
    assert set(connector.market.tickers) == {"AAPL"}

    recorder.by_signal["tick"].clear()
    sim.set_price("AAPL", "101.50")
    await eventually(lambda: any(q.last == Decimal("101.50") for q in recorder.quotes()),
                     what="a tick of the new price after the reconnect")
    assert len(recorder.by_signal["reconnected"]) == 1


async def test_reconnect_backs_off_while_the_broker_does_not_answer(sim):
    connector = make_connector(sim.port, timeout=0.3, reconnect_initial_delay=0.1,
                               reconnect_max_delay=0.4)
    recorder = Recorder(connector)
    await connector.connect()
    try:
        sim.freeze(1.0)
        sim.drop_connections()
        await eventually(lambda: recorder.by_signal["reconnected"], timeout=6,
                         what="reconnect once the broker answers again")
        retries = [m for s, m in recorder.by_signal["connection_state"]
                   if s is ConnectionState.RECONNECTING and "retrying in" in m]
        delays = [float(m.rsplit("retrying in ", 1)[1].rstrip("s")) for m in retries]
        assert delays[:2] == [0.2, 0.4], "the delay doubles from the initial 0.1 s"
        assert max(delays) == 0.4, "and never exceeds the maximum"
        assert all("no API handshake" in m for m in retries)
        assert recorder.states()[-1] is ConnectionState.CONNECTED
        assert len(recorder.by_signal["reconnected"]) == 1
        assert sim.connected_clients() == [CLIENT_ID]
    finally:
        await connector.disconnect()


async def test_disconnect_while_reconnecting_stops_the_retries(sim):
    connector = make_connector(sim.port, timeout=0.2, reconnect_initial_delay=0.1,
                               reconnect_max_delay=0.1)
    recorder = Recorder(connector)
    await connector.connect()
    sim.freeze(0.5)
    sim.drop_connections()
    await eventually(lambda: connector.state is ConnectionState.RECONNECTING,
                     what="reconnecting")
    retries = connector.link.reconnect_task
    assert retries is not None
    await connector.disconnect()
    assert connector.state is ConnectionState.DISCONNECTED and connector.link.reconnect_task is None
    await eventually(retries.done, what="the retry loop to end")
    assert retries.cancelled()
    # Past the freeze (another client gets in: the broker answers again), nothing of ours
    # came back.
    other = IB()
    await other.connectAsync("127.0.0.1", sim.port, clientId=CLIENT_ID + 1, timeout=5)
    try:
        await other.reqCurrentTimeAsync()  # a round trip after the freeze
        assert sim.connected_clients() == [CLIENT_ID + 1]
    finally:
        other.disconnect()
    assert recorder.by_signal["reconnected"] == []
    assert recorder.states()[-1] is ConnectionState.DISCONNECTED


async def test_codes_1100_and_1102_track_tws_losing_and_regaining_ib(connected, sim):
    connector, recorder = connected
    await connector.market.subscribe("AAPL")
    # The subscription reaches the broker after subscribe() returns: wait for it there, or
    # a loaded machine reads "no requests" here and sees the late one below (4 of 5 runs).
    await eventually(lambda: len(market_data_requests(sim)) == 1,
                     what="the market-data request at the broker")
    requests = market_data_requests(sim)

    connector._on_error(-1, 1100, "Connectivity between IB and TWS has been lost.", None)
    assert connector.state is ConnectionState.BROKER_LOST
    assert recorder.by_signal["connection_state"][-1] == (
        ConnectionState.BROKER_LOST, "TWS: Connectivity between IB and TWS has been lost.")
    assert connector.is_connected(), "the socket to TWS is still up"

    connector._on_error(-1, 1102, "Connectivity between IB and TWS has been restored - "
                        "data maintained.", None)
    assert connector.state is ConnectionState.CONNECTED
    assert recorder.states()[-2:] == [ConnectionState.BROKER_LOST, ConnectionState.CONNECTED]
    assert not connector._tasks, "1102 starts no resubscription"
    # A round trip orders the proof: whatever we sent before it, the broker has read.
    await connector.server_time()
    assert market_data_requests(sim) == requests, "1102: data kept, nothing re-requested"
    assert recorder.by_signal["reconnected"] == []


async def test_code_1101_resubscribes_market_data(connected, sim):
    connector, recorder = connected
    await connector.market.subscribe("AAPL")
    await eventually(lambda: recorder.quotes(), what="first ticks")
    requests = market_data_requests(sim)
    feed_requests = set(connector.market._req_ids)

    connector._on_error(-1, 1100, "Connectivity between IB and TWS has been lost.", None)
    connector._on_error(-1, 1101, "Connectivity between IB and TWS has been restored - "
                        "data lost.", None)
    assert connector.state is ConnectionState.CONNECTED

    await eventually(lambda: len(market_data_requests(sim)) > len(requests),
                     what="a new market-data request at the broker")
    new = set(market_data_requests(sim)) - set(requests)
    assert len(new) == 1
    assert set(connector.market._req_ids) == new != feed_requests
    recorder.by_signal["tick"].clear()
    sim.set_price("AAPL", "99.25")
    await eventually(lambda: any(q.last == Decimal("99.25") for q in recorder.quotes()),
                     what="ticks on the new subscription")


# -------------------------------------------------------------------------- market data

async def test_subscribe_streams_quotes_with_decimal_prices(connected, sim):
    connector, recorder = connected
    await connector.market.subscribe(" aapl ")
    await eventually(lambda: any(q.bid and q.ask and q.last for q in recorder.quotes()),
                     what="a full quote")
    quote = next(q for q in recorder.quotes() if q.bid and q.ask and q.last)
    assert quote.symbol == "AAPL"
    assert all(isinstance(v, Decimal) for v in (quote.bid, quote.ask, quote.last))
    assert (quote.bid, quote.ask, quote.last) == (Decimal("99.99"), Decimal("100.01"),
                                                  Decimal("100.00"))
    assert quote.time.tzinfo is not None
    assert connector.market.quote("AAPL").last == Decimal("100.00")

    sim.set_price("AAPL", "123.45")
    await eventually(lambda: recorder.quotes()[-1].last == Decimal("123.45"),
                     what="the new price")
    assert (recorder.quotes()[-1].bid, recorder.quotes()[-1].ask) == (Decimal("123.44"),
                                                                      Decimal("123.46"))


async def test_unknown_symbol_is_refused_readably(connected, sim):
    connector, recorder = connected
    with pytest.raises(UnknownSymbol) as failure:
        await connector.market.subscribe("ZZZZ")
    assert str(failure.value) == "unknown symbol 'ZZZZ': IB has no stock contract for it"
    assert failure.value.symbol == "ZZZZ"
    assert_one_sentence(str(failure.value))
    assert "ZZZZ" not in connector.market.symbols and "ZZZZ" not in connector.market.tickers
    assert market_data_requests(sim) == []


# ---------------------------------------------------------------------------- placing

async def test_place_market_order_reaches_the_broker(connected, sim, filled_buy):
    connector, recorder = connected
    order = broker_orders(sim)[filled_buy]
    assert (order["action"], order["order_type"], order["total_qty"]) == ("BUY", "MKT", 100)
    assert (order["account"], order["parent_id"], order["status"]) == (ACCOUNT, 0, "Filled")
    assert order["avg_fill_price"] == Decimal("100.01")  # the ask
    placed = [r for r in recorder.first_args("order_placed") if r.order_id == filled_buy]
    assert len(placed) == 1
    assert (placed[0].side, placed[0].order_type, placed[0].quantity) == (
        Side.BUY, OrderType.MARKET, 100)
    assert connector.order(filled_buy).status is OrderStatus.FILLED


async def test_place_stop_order_reaches_the_broker(connected, sim):
    connector, _ = connected
    order_id = await connector.place_stop_order("AAPL", 100, Decimal("95.00"))
    await eventually(lambda: broker_orders(sim).get(order_id, {}).get("status") ==
                     "PreSubmitted", what="the stop resting at the broker")
    order = broker_orders(sim)[order_id]
    assert (order["action"], order["order_type"], order["total_qty"]) == ("SELL", "STP", 100)
    assert order["aux_price"] == Decimal("95.00")
    assert (order["tif"], order["account"], order["parent_id"]) == ("GTC", ACCOUNT, 0)
    assert order["lmt_price"] is None and order["trailing_percent"] is None


async def test_place_trailing_stop_reaches_the_broker_as_an_amount(connected, sim):
    connector, _ = connected
    order_id = await connector.place_trailing_stop("AAPL", 100, Decimal("1.50"))
    await eventually(lambda: broker_orders(sim).get(order_id, {}).get("status") ==
                     "PreSubmitted", what="the trail working at the broker")
    order = broker_orders(sim)[order_id]
    assert (order["action"], order["order_type"], order["total_qty"]) == ("SELL", "TRAIL", 100)
    assert order["aux_price"] == Decimal("1.50"), "auxPrice is the trailing AMOUNT"
    assert order["trailing_percent"] is None, "never a percentage as well [P6]"
    assert order["trail_stop"] == Decimal("98.50")  # last 100.00 - 1.50
    assert (order["tif"], order["account"]) == ("GTC", ACCOUNT)


async def test_place_exit_legs_without_parent_is_live_at_once(connected, sim):
    connector, recorder = connected
    legs = exit_legs("t1", attach=False)
    ids = await connector.place_exit_legs(legs)
    assert len(ids) == 3 and len(set(ids)) == 3
    await eventually(lambda: all(broker_orders(sim).get(i, {}).get("status") == "PreSubmitted"
                                 for i in ids), what="the three legs at the broker")
    stop, time_stop, trail = (broker_orders(sim)[i] for i in ids)
    for leg in (stop, time_stop, trail):
        assert (leg["oca_group"], leg["oca_type"], leg["parent_id"]) == ("S9-t1", 2, 0)
        assert (leg["action"], leg["total_qty"], leg["tif"]) == ("SELL", 100, "GTC")
        assert leg["account"] == ACCOUNT
    assert (stop["order_type"], stop["aux_price"], stop["conditions"]) == ("STP",
                                                                           Decimal("98.00"), 0)
    assert (time_stop["order_type"], time_stop["conditions"]) == ("MKT", 1)
    # IB echoes goodAfterTime in US/Eastern (api_tif_attribute_matrix_aapl): the same instant
    assert parse_ib_time(time_stop["good_after_time"])[0] == parse_ib_time(
        legs[1].good_after_time)[0]
    assert time_stop["held_by"] == "good_after_time"
    assert (trail["order_type"], trail["aux_price"], trail["conditions"]) == (
        "TRAIL", Decimal("1.50"), 1)
    assert trail["held_by"] == "conditions" and trail["trailing_percent"] is None
    assert [stop["order_ref"], time_stop["order_ref"], trail["order_ref"]] == [
        "s9:t1:safety_stop", "s9:t1:time_stop", "s9:t1:profit_harvester"]
    roles = {r.order_id: r.role for r in recorder.first_args("order_placed")}
    assert [roles[i] for i in ids] == [LegRole.SAFETY_STOP, LegRole.TIME_STOP,
                                       LegRole.PROFIT_HARVESTER]


async def test_place_exit_legs_attached_to_an_entry(connected, sim):
    connector, _ = connected
    ids = await connector.place_exit_legs(exit_legs("t2", attach=True),
                                          parent=build_entry("AAPL", 100, "t2",
                                                             limit_price=Decimal("100.50")))
    entry_id, *leg_ids = ids
    await eventually(lambda: broker_orders(sim).get(entry_id, {}).get("status") == "Filled"
                     and all(broker_orders(sim)[i]["status"] == "PreSubmitted"
                             for i in leg_ids), what="entry filled, legs working")
    orders = broker_orders(sim)
    assert [orders[i]["parent_id"] for i in leg_ids] == [int(entry_id)] * 3
    assert {orders[i]["oca_group"] for i in leg_ids} == {"S9-t2"}
    assert sim.positions()["AAPL"]["qty"] == 100


async def test_place_exit_legs_refuses_legs_of_different_groups(connected, sim):
    connector, _ = connected
    legs = exit_legs("a", attach=False)
    mixed = [legs[0], dataclasses.replace(legs[1], oca_group="S9-other"), legs[2]]
    with pytest.raises(BrokerError, match="share one ocaGroup"):
        await connector.place_exit_legs(mixed)
    with pytest.raises(BrokerError, match="share one ocaGroup"):
        await connector.place_exit_legs([])
    assert sim.orders(CLIENT_ID) == []


async def test_place_oca_group_prices_the_three_legs_from_the_entry_price(connected, sim):
    connector, _ = connected
    ids = await connector.place_oca_group("AAPL", 40, Decimal("100.00"), Decimal("1.00"),
                                          signal_id="g1")
    await eventually(lambda: all(broker_orders(sim).get(i, {}).get("status") == "PreSubmitted"
                                 for i in ids), what="the group at the broker")
    stop, time_stop, trail = (broker_orders(sim)[i] for i in ids)
    assert (stop["order_type"], stop["aux_price"], stop["total_qty"]) == ("STP",
                                                                          Decimal("98.00"), 40)
    assert (time_stop["order_type"], time_stop["held_by"]) == ("MKT", "good_after_time")
    assert (trail["order_type"], trail["aux_price"]) == ("TRAIL", Decimal("1.50"))
    assert {o["oca_group"] for o in (stop, time_stop, trail)} == {"S9-g1"}
    assert {o["parent_id"] for o in (stop, time_stop, trail)} == {0}


# ------------------------------------------------------------------ cancelling, queries

async def test_cancel_order_cancels_at_the_broker(connected, sim):
    connector, recorder = connected
    order_id = await connector.place_stop_order("AAPL", 100, Decimal("95.00"))
    await eventually(lambda: broker_orders(sim).get(order_id, {}).get("status") ==
                     "PreSubmitted", what="stop resting")
    connector.cancel_order(order_id)
    await eventually(lambda: broker_orders(sim)[order_id]["status"] == "Cancelled",
                     what="cancelled at the broker")
    await eventually(lambda: any(r.order_id == order_id for r in
                                 recorder.first_args("order_cancelled")), what="the signal")
    cancelled = [r for r in recorder.first_args("order_cancelled") if r.order_id == order_id]
    assert cancelled[-1].status is OrderStatus.CANCELLED
    assert recorder.by_signal["order_error"] == []
    with pytest.raises(BrokerError, match="not known to this session"):
        connector.cancel_order("999999")


async def test_cancel_all_orders_and_open_orders(connected, sim):
    connector, _ = connected
    stop_id = await connector.place_stop_order("AAPL", 100, Decimal("95.00"))
    trail_id = await connector.place_trailing_stop("AAPL", 50, Decimal("2.00"))
    await eventually(lambda: len(connector.get_open_orders()) == 2
                     and all(r.broker_status == "PreSubmitted"
                             for r in connector.get_open_orders()), what="both working")
    open_orders = {r.order_id: r for r in connector.get_open_orders()}
    assert set(open_orders) == {stop_id, trail_id}
    stop, trail = open_orders[stop_id], open_orders[trail_id]
    assert (stop.order_type, stop.side, stop.quantity, stop.stop_price, stop.status) == (
        OrderType.STOP, Side.SELL, 100, Decimal("95.00"), OrderStatus.PENDING)
    assert (trail.order_type, trail.quantity, trail.trail_amount) == (
        OrderType.TRAIL, 50, Decimal("2.00"))

    connector.cancel_all_orders()

    await eventually(lambda: all(o["status"] == "Cancelled"
                                 for o in broker_orders(sim).values()), what="all cancelled")
    await eventually(lambda: connector.get_open_orders() == [], what="nothing open locally")
    assert len(broker_orders(sim)) == 2


async def test_get_positions_and_positions_update(connected, sim, filled_buy):
    connector, recorder = connected
    await eventually(lambda: connector.get_positions(), what="the position")
    (position,) = connector.get_positions()
    # 100 @ 100.01 plus the 1.00 minimum commission: 100.02 a share, as the broker books it
    assert (position.symbol, position.quantity, position.avg_cost) == ("AAPL", 100,
                                                                      Decimal("100.02"))
    assert sim.positions()["AAPL"]["avg_cost"] == position.avg_cost
    await eventually(lambda: any(p and p[0].quantity == 100
                                 for p in recorder.first_args("positions_update")),
                     what="positions_update")


async def test_get_executions_match_the_broker(connected, sim, filled_buy):
    connector, _ = connected
    (fill,) = connector.get_executions()
    (execution,) = [e for e in sim.executions() if e["client_id"] == CLIENT_ID]
    assert fill.exec_id == execution["exec_id"] and fill.order_id == filled_buy
    assert (fill.symbol, fill.side, fill.quantity, fill.price) == ("AAPL", Side.BUY, 100,
                                                                  Decimal("100.01"))
    assert fill.commission == execution["commission"] == Decimal("1.00")


async def test_order_filled_once_per_execution_with_its_commission(connected, sim):
    connector, recorder = connected
    sim.set_partial_fills(40)
    order_id = await connector.place_market_order("AAPL", 100, "BUY")
    await eventually(lambda: sum(f.quantity for f in recorder.first_args("order_filled")) ==
                     100, what="three partial fills")
    # Nothing further may arrive: what the broker sent before answering a round trip has
    # been read by the time the answer is.
    await connector.server_time()
    fills = recorder.first_args("order_filled")
    assert [f.quantity for f in fills] == [40, 40, 20]
    assert all(f.order_id == order_id and f.price == Decimal("100.01") for f in fills)
    assert len({f.exec_id for f in fills}) == 3
    broker = {e["exec_id"]: e for e in sim.executions()}
    assert [f.commission for f in fills] == [broker[f.exec_id]["commission"] for f in fills]
    assert sum((f.commission for f in fills), Decimal(0)) == broker_orders(sim)[order_id][
        "commission"] == Decimal("1.00")
    assert all(f.realized_pnl is not None for f in fills), "each fill's report has arrived"


async def test_broker_rejection_emits_order_error(connected, sim):
    connector, recorder = connected
    sim.reject_next_order(201)
    order_id = await connector.place_stop_order("AAPL", 100, Decimal("95.00"))
    await eventually(lambda: recorder.by_signal["order_error"], what="order_error")
    ((errored_id, message),) = recorder.by_signal["order_error"]
    assert errored_id == order_id
    assert message.startswith("IB error 201: Order rejected")
    assert broker_orders(sim)[order_id]["status"] == "Inactive"


async def test_a_too_late_cancel_is_not_an_order_error(connected, sim, filled_buy):
    connector, recorder = connected
    connector.cancel_order(filled_buy)
    await eventually(lambda: any(code == 10148 for code, _ in
                                 recorder.by_signal["broker_message"]),
                     what="IB's 10148 reply to the late cancel")
    await connector.server_time()  # a round trip: whatever came with the 10148 is read
    assert recorder.by_signal["order_error"] == []
    assert all(r.order_id != filled_buy for r in recorder.first_args("order_cancelled"))
    assert broker_orders(sim)[filled_buy]["status"] == "Filled"
    assert connector.order(filled_buy).status is OrderStatus.FILLED


@pytest.mark.parametrize("action", [
    lambda c: c.place_market_order("AAPL", 100, "BUY"),
    lambda c: c.place_stop_order("AAPL", 100, Decimal("95.00")),
    lambda c: c.place_trailing_stop("AAPL", 100, Decimal("1.50")),
    lambda c: c.place_exit_legs(exit_legs("nc", attach=False)),
    lambda c: c.place_oca_group("AAPL", 10, Decimal("100"), Decimal("1")),
    lambda c: c.market.subscribe("AAPL"),
], ids=["market", "stop", "trail", "legs", "oca", "subscribe"])
async def test_requests_while_disconnected_raise_not_connected(sim, action):
    connector = make_connector(sim.port)
    with pytest.raises(NotConnected) as never:
        await action(connector)
    assert str(never.value) == "not connected to TWS/IB Gateway"
    with pytest.raises(NotConnected):
        connector.cancel_all_orders()

    await connector.connect()
    await connector.contract_info("AAPL")  # cached: must not bypass the check
    await connector.disconnect()
    with pytest.raises(NotConnected):
        await action(connector)
    assert sim.orders() == []
