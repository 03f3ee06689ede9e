"""IB message codes as data (``backend/broker/ib_codes.py``), one test per row, end to end.

Every row is checked twice in its own test: its class gives the decision the table promises,
and the real connector (ib_insync inside, over TCP) does exactly that when sigma9-sim sends
the code for a real resting order (``SimThread.warn_next_order``), which the simulator keeps
working whatever the code. Then the trading core: a warning on an exit leg leaves the
position and its protection as they were, and a code no table knows is shown, re-read from
the broker, and never flattens anything.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import pytest_asyncio

from backend.broker import ib_codes
from backend.broker.connector import IBKRConnector
from backend.broker.ib_codes import ORDER_ACTIONS, TABLE, CodeClass, OrderAction
from backend.core.models import ConnectionState, LegRole, OrderIntent, OrderStatus, OrderType, Side
from backend.sim import SimThread
from frontend import formatting
from frontend.feed import CoreFeed
from frontend.models.log import Level, LogModel
from tests.helpers import eventually
from tests.oms.conftest import (
    broker_orders,
    build_core,
    make_settings,
    regular_hours_sim,
    signal,
)
from tests.sim.conftest import quiet_config

ROOT = Path(__file__).resolve().parents[2]
CLIENT_ID = 31
ORDER_ROWS = sorted(c for c, r in TABLE.items() if r.connection_state is None)
STATE_ROWS = sorted(c for c, r in TABLE.items() if r.connection_state is not None)
NOT_IN_TABLE = 19999
BRIEF_CODES = (
    103, 104, 105, 106, 107, 109, 110, 111, 113, 116, 117, 118, 119, 120, 121, 122, 123, 124,
    125, 126, 129, 131, 132, 133, 134, 135, 136, 137, 138, 140, 141, 142, 143, 144, 146, 147,
    148, 151, 152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 163, 164, 200, 201, 202, 203,
    321, 322, 324, 325, 326, 327, 328, 329, 382, 383, 387, 388, 399, 400, 404, 434, 435, 436,
    437, 438, 439, 443, 1100, 1101, 1102, 1300, 2100, 2101, 2102, 2103, 2104, 2105, 2106, 2107,
    2108, 2109, 2110, 2137, 2148, 2157, 2158, 2168, 2169, 2174, 10147, 10148, 10149, 10063,
    10224, 10268, 10289, 10326, 10327, 10349)
WORKING = ("PreSubmitted", "Submitted")


# ------------------------------------------------------------------------------ the table

def test_the_table_holds_every_code_the_issue_names():
    assert [c for c in BRIEF_CODES if c not in TABLE] == []


def test_the_doc_is_the_table_rendered():
    """docs/ib-codes.md is generated (``python -m backend.broker.ib_codes``), never edited."""
    assert (ROOT / "docs" / "ib-codes.md").read_text(encoding="utf-8") == (
        ib_codes.render_markdown())


def test_a_code_outside_the_table_is_unknown_never_a_rejection():
    assert NOT_IN_TABLE not in TABLE
    assert ib_codes.classify(NOT_IN_TABLE) is CodeClass.UNKNOWN
    assert ib_codes.order_action(NOT_IN_TABLE) is OrderAction.REREAD
    assert not ib_codes.ends_order(NOT_IN_TABLE)


def test_only_a_rejection_ends_an_order():
    assert {k for k, a in ORDER_ACTIONS.items() if a is OrderAction.END} == {
        CodeClass.REJECTION}
    assert set(ORDER_ACTIONS) == set(CodeClass), "every class has a decision"


# ------------------------------------------------- each row through the real connector

class Heard:
    """Every emission of the connector's signals, by signal name."""

    NAMES = ("order_error", "order_warning", "order_unknown_code", "order_cancelled",
             "order_status", "broker_message", "connection_state")

    def __init__(self, connector: IBKRConnector) -> None:
        self.by: dict[str, list[tuple]] = defaultdict(list)
        for name in self.NAMES:
            getattr(connector, name).connect(lambda *a, n=name: self.by[n].append(a))

    def clear(self) -> None:
        self.by.clear()

    def about(self, name: str, order_id: str) -> list[tuple]:
        return [a for a in self.by[name] if str(getattr(a[0], "order_id", a[0])) == order_id]

    def reread_line(self, order_id: str, code: int) -> str | None:
        prefix = f"order {order_id} re-read from the broker after IB {code}: "
        return next((t for c, t in self.by["broker_message"] if t.startswith(prefix)), None)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def wired() -> AsyncIterator[tuple[SimThread, IBKRConnector, Heard]]:
    with SimThread(quiet_config()) as sim:
        sim.set_price("AAPL", "100.00")
        connector = IBKRConnector(port=sim.port, client_id=CLIENT_ID, timeout=3.0)
        heard = Heard(connector)
        await connector.connect()
        yield sim, connector, heard
        await connector.disconnect()


def resting_buy(ref: str) -> OrderIntent:
    """Far below the market (100.00): it rests at the simulator for as long as a row needs."""
    return OrderIntent(LegRole.MANUAL, "AAPL", Side.BUY, 1, OrderType.LIMIT,
                       limit_price=Decimal("50.00"), order_ref=ref)


def sim_status(sim: SimThread, order_id: str) -> str:
    return broker_orders(sim, CLIENT_ID).get(order_id, {}).get("status", "")


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("code", ORDER_ROWS)
async def test_row_on_an_order(wired, code):
    sim, connector, heard = wired
    row = TABLE[code]
    assert ib_codes.classify(code) is row.klass
    assert ib_codes.order_action(code) is ORDER_ACTIONS[row.klass] is row.action
    assert ib_codes.ends_order(code) is (row.klass is CodeClass.REJECTION)
    assert row.meaning.endswith(".") and len(row.meaning) <= 100
    assert ib_codes.severity(code) in ("info", "warning", "error")

    text, ref = f"what IB says with code {code}", f"row-{code}"
    sim.warn_next_order(code, text, match=lambda spec: spec.order_ref == ref)
    heard.clear()
    (order_id,) = await connector.place_chain(None, [resting_buy(ref)])
    action = row.action
    if action is OrderAction.END:
        await eventually(lambda: heard.about("order_error", order_id), what=f"{code}: error")
        assert heard.about("order_error", order_id) == [(order_id, f"IB error {code}: {text}")]
    elif action is OrderAction.REREAD:
        await eventually(lambda: heard.reread_line(order_id, code), what=f"{code}: re-read")
        assert heard.reread_line(order_id, code).endswith(sim_status(sim, order_id))
        assert any(record.status is OrderStatus.PENDING
                   for (record,) in heard.about("order_status", order_id))
    else:
        shown = (code, f"order {order_id}: {text}")
        await eventually(lambda: shown in heard.by["broker_message"], what=f"{code}: shown")
    if action is not OrderAction.END:
        assert heard.about("order_error", order_id) == []
        assert heard.about("order_cancelled", order_id) == []
        told = "order_unknown_code" if row.klass is CodeClass.UNKNOWN else "order_warning"
        expected = [] if action is OrderAction.CONFIRM else [(order_id, code, text)]
        assert heard.about(told, order_id) == expected
        # ib_insync cancels such orders locally on most codes (#328, #502): not here.
        assert connector.order(order_id).status is OrderStatus.PENDING
        assert any(str(t.order.orderId) == order_id for t in connector.ib.openTrades())
    assert sim_status(sim, order_id) in WORKING, "the simulator never ended the order"
    connector.ib.client.cancelOrder(int(order_id), "")  # keep the book small


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("code", STATE_ROWS)
async def test_row_moves_the_connection_state(wired, code):
    sim, connector, heard = wired
    row = TABLE[code]
    assert row.klass is CodeClass.CONNECTIVITY
    heard.clear()
    text = f"what TWS says with code {code}"
    sim.call(lambda s: [x.error(-1, code, text) for x in s.sessions
                        if x.client_id == CLIENT_ID])
    await eventually(lambda: (row.connection_state, f"TWS: {text}") in heard.by[
        "connection_state"], what=f"{code}: connection state")
    assert connector.state is row.connection_state
    if row.connection_state is not ConnectionState.CONNECTED:
        sim.call(lambda s: [x.error(-1, 1102, "restored") for x in s.sessions
                            if x.client_id == CLIENT_ID])
        await eventually(lambda: connector.state is ConnectionState.CONNECTED,
                         what="restored for the next row")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_code_no_table_knows_is_shown_and_reread(wired):
    sim, connector, heard = wired
    ref = "row-unlisted"
    sim.warn_next_order(NOT_IN_TABLE, "a message from a newer TWS",
                        match=lambda spec: spec.order_ref == ref)
    heard.clear()
    (order_id,) = await connector.place_chain(None, [resting_buy(ref)])
    await eventually(lambda: heard.reread_line(order_id, NOT_IN_TABLE), what="re-read")
    assert (NOT_IN_TABLE, f"order {order_id}: a message from a newer TWS") in heard.by[
        "broker_message"], "shown before the re-read"
    assert heard.about("order_unknown_code", order_id) == [
        (order_id, NOT_IN_TABLE, "a message from a newer TWS")]
    assert heard.about("order_error", order_id) == []
    assert connector.order(order_id).status is OrderStatus.PENDING
    connector.ib.client.cancelOrder(int(order_id), "")


@pytest.mark.asyncio(loop_scope="module")
async def test_a_reread_takes_the_brokers_word_over_a_stale_local_view(wired):
    """The order ended at IB and its status message was lost (a dropped connection's gap):
    the re-read finds it among the completed orders, and the normal status path hears it."""
    sim, connector, heard = wired
    (order_id,) = await connector.place_chain(None, [resting_buy("row-stale")])
    # Wait until the local view has caught up with the broker's last word (the echo goes
    # PreSubmitted -> Submitted): an echo still in flight during the re-read's reqOpenOrders
    # would be counted by ib_insync as an open order, and the test would race it.
    await eventually(lambda: connector.order(order_id).status is OrderStatus.PENDING
                     and sim_status(sim, order_id) == "Submitted"
                     and connector.order(order_id).broker_status == "Submitted",
                     what="resting order, echo complete")

    def end_without_telling(server) -> None:
        order = server.broker.orders[(CLIENT_ID, int(order_id))]
        order.status, order.completed_time = "Cancelled", server.clock.now()
    sim.call(end_without_telling)
    heard.clear()
    record = await connector.reread_order(order_id)
    assert record is not None and record.status is OrderStatus.CANCELLED
    assert [r.status for (r,) in heard.about("order_status", order_id)] == [
        OrderStatus.CANCELLED]
    assert [r.order_id for (r,) in heard.about("order_cancelled", order_id)] == [order_id]
    assert connector.order(order_id).status is OrderStatus.CANCELLED


# ------------------------------------------------------- the trading core, end to end

@pytest.fixture
def sim() -> Iterator[SimThread]:
    yield from regular_hours_sim()


def legs_at_broker(sim: SimThread, signal_id: str) -> dict[str, dict]:
    """The simulator's orders of one signal, keyed by the role in their orderRef."""
    prefix = f"s9:{signal_id}:"
    return {o["order_ref"][len(prefix):]: o for o in sim.orders(7)
            if o["order_ref"].startswith(prefix)}


EXIT_ROLES = {r.value for r in (LegRole.SAFETY_STOP, LegRole.TIME_STOP,
                                LegRole.PROFIT_HARVESTER)}
TEXTS = {2109: "Order Event Warning: Attribute \"Outside Regular Trading Hours\" is ignored "
               "based on the order type and destination. PlaceOrder is now processed.",
         399: "Order Message:\nSELL 100 AAPL NASDAQ.NMS\nWarning: Your order will not be "
              "placed at the exchange until 2026-12-03 09:30:00 US/Eastern.",
         10349: "Order TIF was set to DAY based on order preset.",
         NOT_IN_TABLE: "a message from a newer TWS"}


class Entered:
    """A core whose entry filled with a code sent for one leg, and what it said meanwhile."""

    def __init__(self, core, sig, events, shown) -> None:
        self.core, self.sig, self.events, self.shown = core, sig, events, shown
        self.leg_id = ""

    def kinds(self) -> set[str]:
        return {kind for kind, _p in self.events}

    def ever_ended(self, order_ids: set[str]) -> list[tuple[str, str]]:
        """Every moment the OMS held one of ``order_ids`` as ended, even for an instant."""
        return [(p["order"]["order_id"], p["order"]["status"]) for kind, p in self.events
                if kind == "order" and p["order"]["order_id"] in order_ids
                and p["order"]["status"] in ("CANCELLED", "ERROR", "INACTIVE")]

    def noted(self, order_id: str, code: int) -> list[str]:
        """The messages the OMS published for ``order_id`` that carry ``code``."""
        return [p["order"]["message"] for kind, p in self.events if kind == "order"
                and p["order"]["order_id"] == order_id
                and p["order"]["message"].startswith(f"IB {code}")]


async def entered_with_code(sim, tmp_path, code: int, role: str,
                            entry_type: str = "limit") -> Entered:
    """Start the core, send the code for the ``role`` leg, enter, and wait until the whole
    group works at the broker and the OMS has noted the code on that leg."""
    sim.warn_next_order(code, TEXTS[code], match=lambda spec: spec.order_ref.endswith(
        f":{role}"))
    core = build_core(sim, make_settings(sim, tmp_path / "journal.sqlite3",
                                         entry={"type": entry_type}))
    events: list[tuple[str, dict]] = []
    shown: list[tuple[int, str]] = []
    core.manager.listeners.append(lambda kind, p: events.append((kind, p)))
    core.connector.broker_message.connect(lambda c, t: shown.append((c, t)))
    await core.start()
    sig = signal()
    it = Entered(core, sig, events, shown)
    await core.manager.execute_entry(sig)
    await eventually(lambda: sim.positions().get("AAPL", {}).get("qty") == 100,
                     what="entry filled at the broker")
    await eventually(lambda: set(legs_at_broker(sim, sig.id)) >= EXIT_ROLES and all(
        legs_at_broker(sim, sig.id)[r]["status"] in WORKING for r in EXIT_ROLES),
                     what="every exit leg working at the broker")
    it.leg_id = str(legs_at_broker(sim, sig.id)[role]["order_id"])
    await eventually(lambda: it.noted(it.leg_id, code),
                     what=f"the OMS noted IB {code} on the {role} leg")
    return it


def reacting(core) -> list:
    """Background work still running: the connector's re-reads and the OMS's tasks but its
    entry timeouts (which sleep ``[entry] timeout_s`` whatever happens)."""
    oms = [t for t in core.manager.pending_tasks
           if not t.get_name().startswith("entry timeout")]
    return oms + list(core.connector._tasks)


async def settled(core) -> None:
    """Let every reaction to the code run out: a round trip to the broker (every message
    before it has been handled), then no task left reacting, then another round trip (any
    order sent in reaction has reached the simulator)."""
    await core.connector.server_time()
    await eventually(lambda: not reacting(core), what="no reaction still running")
    await core.connector.server_time()


def leg_ids(legs: dict[str, dict]) -> set[str]:
    return {str(legs[role]["order_id"]) for role in EXIT_ROLES}


def assert_still_protected(core, sim, sig, before: dict[str, dict]) -> None:
    after = legs_at_broker(sim, sig.id)
    assert sim.positions()["AAPL"]["qty"] == 100, "the position was not touched"
    assert set(after) == set(before), "no order was added (no flatten, no re-protection)"
    for role in EXIT_ROLES:
        assert after[role]["status"] in WORKING
        for field in ("total_qty", "aux_price", "lmt_price", "oca_group", "tif"):
            assert after[role][field] == before[role][field], (role, field)
    manager = core.manager
    assert manager.is_protected("AAPL")
    for record in manager.legs_of(sig.id):
        assert record.status is OrderStatus.PENDING, (record.role, record.status)
        assert core.connector.order(record.order_id).status is OrderStatus.PENDING


@pytest.mark.asyncio
@pytest.mark.parametrize(("code", "role", "entry_type"), [
    (2109, "safety_stop", "limit"),
    (399, "time_stop", "limit"),
    (10349, "safety_stop", "limit"),
    (10349, "profit_harvester", "market"),
], ids=["2109-stop", "399-time-stop", "10349-stop", "10349-trail-after-market-fill"])
async def test_a_warning_on_an_exit_leg_leaves_position_and_protection(sim, tmp_path, code,
                                                                       role, entry_type):
    it = await entered_with_code(sim, tmp_path, code, role, entry_type)
    try:
        before = legs_at_broker(sim, it.sig.id)
        await settled(it.core)
        assert_still_protected(it.core, sim, it.sig, before)
        assert not {"leg_rejected", "flattened", "reprotected"} & it.kinds()
        assert it.ever_ended(leg_ids(before)) == [], "no leg looked lost, not even briefly"
        assert it.noted(it.leg_id, code)[0] == f"IB {code}: {TEXTS[code]}"
        assert (code, f"order {it.leg_id}: {TEXTS[code]}") in it.shown, "shown in the log"
    finally:
        await it.core.stop()


@pytest.mark.asyncio
async def test_an_unknown_code_on_an_exit_leg_is_reread_and_never_flattens(sim, tmp_path):
    it = await entered_with_code(sim, tmp_path, NOT_IN_TABLE, "safety_stop")
    try:
        before = legs_at_broker(sim, it.sig.id)
        reread = f"order {it.leg_id} re-read from the broker after IB {NOT_IN_TABLE}: "
        await eventually(lambda: any(t.startswith(reread) for _c, t in it.shown),
                         what="the broker answered the re-read")
        answer = next(t for _c, t in it.shown if t.startswith(reread))
        assert answer[len(reread):] in WORKING, "the broker's own word on the leg"
        await settled(it.core)
        assert_still_protected(it.core, sim, it.sig, before)
        assert not {"leg_rejected", "flattened", "reprotected"} & it.kinds()
        assert it.ever_ended(leg_ids(before)) == []
        assert "not in Sigma9's code table" in it.noted(it.leg_id, NOT_IN_TABLE)[0]
        shown_first = it.shown.index((NOT_IN_TABLE, f"order {it.leg_id}: "
                                                    f"{TEXTS[NOT_IN_TABLE]}"))
        assert shown_first < it.shown.index(next(x for x in it.shown
                                                  if x[1].startswith(reread)))
    finally:
        await it.core.stop()


# ------------------------------------------------------------------ the log panel

@pytest.mark.parametrize(("code", "level"), [
    (2104, "INFO"), (202, "INFO"), (1102, "INFO"), (2109, "WARNING"), (399, "WARNING"),
    (10349, "WARNING"), (161, "WARNING"), (1100, "WARNING"), (NOT_IN_TABLE, "WARNING"),
    (201, "ERROR")])
def test_the_log_panel_shows_a_code_at_its_class_level(qapp, code, level):
    """Farm chatter and confirmed cancels are news; warnings and unknown codes stand out."""
    log = LogModel()
    feed = CoreFeed(None, None, None, None, log)  # only the log is used for broker messages
    feed.on_broker_message(code, "text")
    (entry,) = log.entries
    # The words are frontend.formatting's (202 reads "cancel confirmed by IB ..."); the
    # level is the code table's, which is what this test is about.
    assert (entry.level, entry.source) == (Level[level], "broker")
    assert entry.message == formatting.broker_text(code, "text") and str(code) in entry.message
