"""A broker that reports absurd values, over TCP: refused at the mapping boundary, session alive.

The trading core runs whole (a real ib_insync IB inside the connector, a SQLite journal, the
OrderManager wired by ``TradingCore``) against sigma9-sim. The simulator's session then
writes hand-made TWS messages onto the same socket, in the wire format of its own
``backend.sim.messages`` (so ib_insync's decoder reads them exactly as it reads TWS), with one
figure made absurd. Nothing is mocked: what is proven is what ib_insync decodes and Sigma9
then does with it.

Before (issue 10): an openOrder with a quantity of 1e30 passed ``whole_shares`` and made
``Journal.upsert_order`` raise OverflowError inside a Qt slot, which aborts a PyQt6 process
whose ``sys.excepthook`` is the default (the headless run had no other); an unknown order
with -100 shares was booked as "BUY -100 ... FILLED". Here ``sys.excepthook`` is replaced by
a recorder: any exception reaching it fails the test.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from decimal import Decimal

import pytest
import pytest_asyncio

from backend.core.models import OrderStatus
from backend.runtime import TradingCore
from backend.sim import SimThread, messages
from backend.sim.orders import ExecutionRecord
from tests.helpers import eventually
from tests.oms.conftest import CLIENT_ID, build_core, make_settings, regular_hours_sim

pytestmark = pytest.mark.asyncio

ACTION, QUANTITY, CLIENT, PERM = 13, 14, 24, 25
"""Field positions in ``messages.open_order``: after the message id, the order id and the
11 contract fields come action and totalQuantity; clientId and permId follow the head."""
UNKNOWN_ORDER = 9999


@pytest.fixture
def sim() -> Iterator[SimThread]:
    yield from regular_hours_sim()


@pytest.fixture
def escaped(monkeypatch: pytest.MonkeyPatch) -> list[tuple]:
    """Every exception that reaches sys.excepthook (a PyQt6 slot's, by default an abort)."""
    seen: list[tuple] = []
    monkeypatch.setattr(sys, "excepthook", lambda *exc: seen.append(exc))
    return seen


@pytest_asyncio.fixture
async def core(sim, tmp_path, escaped) -> AsyncIterator[TradingCore]:
    trading = build_core(sim, make_settings(sim, tmp_path / "journal.sqlite3"))
    await trading.start()
    yield trading
    await trading.stop()


def send_raw(sim: SimThread, build: Callable[[object], list[list[object]]]) -> None:
    """Write messages built from the broker's state onto our client's socket, in order."""

    def run(server) -> None:
        session = next(s for s in server.sessions if s.client_id == CLIENT_ID and not s.closed)
        for fields in build(server, session):
            session.send(fields)

    sim.call(run)


def refusals(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "sigma9.broker" and r.getMessage().startswith("refused ")]


async def working_stop(core: TradingCore) -> str:
    stop_id = await core.connector.place_stop_order("AAPL", 100, Decimal("90.00"))
    await eventually(lambda: core.manager.orders.get(stop_id) is not None
                     and core.manager.orders[stop_id].broker_status == "PreSubmitted",
                     what="the stop working and journalled")
    return stop_id


async def test_absurd_orders_are_refused_and_the_session_carries_on(core, sim, caplog,
                                                                    escaped):
    caplog.set_level(logging.INFO, logger="sigma9.broker")
    stop_id = await working_stop(core)
    messages_seen = []
    core.connector.broker_message.connect(lambda code, text: messages_seen.append(text))

    def absurd(server, session):
        order = server.broker.orders[(CLIENT_ID, int(stop_id))]
        huge = messages.open_order(order, session.version)
        huge[QUANTITY] = "1e30"
        stranger = messages.open_order(order, session.version)
        stranger[1], stranger[ACTION], stranger[QUANTITY] = UNKNOWN_ORDER, "BUY", "-100"
        stranger[PERM] = 424242
        return [stranger,
                [3, UNKNOWN_ORDER, "Filled", "-100", "0", "100.00", 424242, 0, "100.00",
                 CLIENT_ID, "", ""],
                huge,
                [3, int(stop_id), "Submitted", "0", "1e30", "0", order.perm_id, 0, "0",
                 CLIENT_ID, "", ""]]

    send_raw(sim, absurd)

    await eventually(lambda: len(refusals(caplog)) >= 2, what="both reports refused")
    reasons = refusals(caplog)
    assert any(f"quantity of order {UNKNOWN_ORDER} -100 from the broker is outside" in r
               for r in reasons), reasons
    assert any(f"quantity of order {stop_id} 1e+30 from the broker is outside" in r
               for r in reasons), reasons
    assert escaped == [], "no exception reached sys.excepthook"
    assert any(text.startswith("refused an order status:") for text in messages_seen)

    # Nothing absurd was booked: the stranger is unknown, the stop kept its 100 shares.
    journalled = {r.order_id: r for r in core.journal.orders()}
    assert str(UNKNOWN_ORDER) not in journalled and str(UNKNOWN_ORDER) not in core.manager.orders
    assert journalled[stop_id].quantity == 100 and core.manager.orders[stop_id].quantity == 100

    # The stop was re-read from the broker, which knows it as it is: 100 shares.
    await eventually(lambda: (core.connector.order(stop_id) or _none()).quantity == 100,
                     what="the stop re-read from the broker")

    # And the session carries on: the stop cancels as any order does, journal included.
    core.connector.cancel_order(stop_id)
    await eventually(lambda: sim.order(int(stop_id), CLIENT_ID)["status"] == "Cancelled",
                     what="the cancel at the broker")
    await eventually(lambda: {r.order_id: r for r in core.journal.orders()}[stop_id].status
                     is OrderStatus.CANCELLED, what="the cancel in the journal")
    assert core.connector.is_connected() and escaped == []


def _none():
    raise AssertionError("the stop is no longer known to the connector")


async def test_absurd_executions_and_positions_are_refused(core, sim, caplog, escaped):
    caplog.set_level(logging.INFO, logger="sigma9.broker")
    stop_id = await working_stop(core)
    positions_seen: list[list] = []
    core.connector.positions_update.connect(positions_seen.append)

    def absurd(server, session):
        order = server.broker.orders[(CLIENT_ID, int(stop_id))]
        execution = ExecutionRecord(
            exec_id="absurd.01", client_id=CLIENT_ID, order_id=int(stop_id),
            perm_id=order.perm_id, instrument=order.instrument, side="SLD",
            shares=Decimal("1e30"), price=Decimal("90.00"), time=server.clock.now(),
            cum_qty=Decimal("1e30"), avg_price=Decimal("90.00"), order_ref=order.spec.order_ref,
            account=order.spec.account, commission=Decimal("1.00"), realized=None)
        rich = ExecutionRecord(**{**execution.__dict__, "exec_id": "absurd.02",
                                  "shares": Decimal(100), "cum_qty": Decimal(100),
                                  "commission": Decimal("1e20")})
        return [messages.exec_details(-1, execution, session.version),
                messages.commission_report(execution),
                messages.exec_details(-1, rich, session.version),
                messages.commission_report(rich),
                messages.position(order.spec.account, order.instrument, Decimal("1e30"),
                                  Decimal("90.00"))]

    send_raw(sim, absurd)

    await eventually(lambda: len(refusals(caplog)) >= 2, what="both executions refused")
    reasons = refusals(caplog)
    assert any("size of execution absurd.01 1e+30" in r for r in reasons), reasons
    assert any("commission of execution absurd.02 1e+20" in r for r in reasons), reasons
    await eventually(lambda: any("position in AAPL 1e+30" in r for r in refusals(caplog)),
                     what="the position refused")
    assert escaped == []
    assert [f.exec_id for f in core.journal.fills()] == []
    assert all(p.quantity < 10**9 for update in positions_seen for p in update)
    assert core.connector.get_executions() == [], "left out of the broker's list too"
    assert core.connector.is_connected()
