"""The non-paper guard covers every order Sigma9 sends, not only strategy entries.

Before (issue 10), only ``sizing.check_entry`` asked whether the account is a paper one: a
manual market order, a stop, an exit group or a flatten went to any account. Now the
connector refuses every order in one sentence unless the account is a paper account (IB's
"DU" prefix, docs/ib-orders.md P11) or ``broker.live_trading_enabled`` is true. Proven over
TCP against sigma9-sim serving a live-looking account, by the simulator's own order book.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone
from decimal import Decimal

import pytest
import pytest_asyncio

from backend.broker.connector import IBKRConnector
from backend.broker.errors import BrokerError, NonPaperAccount, check_may_send
from backend.core.exit_plan import ExitParams, build_exit_group
from backend.core.models import LegRole, OrderIntent, OrderType, Side
from backend.sim import SimThread
from tests.helpers import eventually
from tests.sim.conftest import quiet_config

pytestmark = pytest.mark.asyncio

LIVE_ACCOUNT = "U7654321"
CLIENT_ID = 12


@pytest.fixture
def live_sim() -> Iterator[SimThread]:
    with SimThread(quiet_config(account=LIVE_ACCOUNT)) as thread:
        thread.set_price("AAPL", "100.00")
        yield thread


async def _connected(sim: SimThread, live_trading_enabled: bool) -> IBKRConnector:
    connector = IBKRConnector("127.0.0.1", sim.port, CLIENT_ID, timeout=4.0,
                              live_trading_enabled=live_trading_enabled)
    await connector.connect()
    assert connector.account == LIVE_ACCOUNT
    return connector


@pytest_asyncio.fixture
async def guarded(live_sim) -> AsyncIterator[IBKRConnector]:
    connector = await _connected(live_sim, live_trading_enabled=False)
    yield connector
    await connector.disconnect()


def _legs() -> list[OrderIntent]:
    return build_exit_group("AAPL", 100, Decimal("100.00"), Decimal("1.00"), Decimal("0.01"),
                            ExitParams(), datetime.now(timezone.utc), "g1",
                            attach_to_parent=False)


ORDER_PATHS = {
    "market": lambda c: c.place_market_order("AAPL", 100, "BUY"),
    "stop": lambda c: c.place_stop_order("AAPL", 100, Decimal("95.00")),
    "trail": lambda c: c.place_trailing_stop("AAPL", 100, Decimal("1.50")),
    "oca group": lambda c: c.place_oca_group("AAPL", 100, Decimal("100.00"), Decimal("1.00")),
    "exit legs": lambda c: c.place_exit_legs(_legs()),
    "chain": lambda c: c.place_chain(
        OrderIntent(LegRole.ENTRY, "AAPL", Side.BUY, 100, OrderType.LIMIT,
                    limit_price=Decimal("100.50")), []),
}


@pytest.mark.parametrize("path", list(ORDER_PATHS))
async def test_every_order_to_a_live_account_is_refused_unless_enabled(guarded, live_sim,
                                                                       path):
    with pytest.raises(NonPaperAccount) as refused:
        await ORDER_PATHS[path](guarded)

    message = str(refused.value)
    assert message == (f"account {LIVE_ACCOUNT} is not a paper account and live trading is "
                       "disabled (broker.live_trading_enabled), so the AAPL order was not sent")
    assert isinstance(refused.value, BrokerError), "the UI shows it like any broker refusal"
    # Nothing reached the broker, not even an untransmitted part of a chain.
    await guarded.server_time()  # a round trip: anything sent before it has been read
    assert live_sim.orders() == []


async def test_with_live_trading_enabled_the_order_goes(live_sim):
    connector = await _connected(live_sim, live_trading_enabled=True)
    try:
        order_id = await connector.place_market_order("AAPL", 100, "BUY")
        await eventually(lambda: [str(o["order_id"]) for o in live_sim.orders(CLIENT_ID)]
                         == [order_id], what="the order at the broker")
    finally:
        await connector.disconnect()


async def test_from_settings_carries_the_interlock():
    class Broker:
        host, port, client_id, account = "127.0.0.1", 4002, 1, ""
        connect_timeout_s, reconnect_initial_delay_s, reconnect_max_delay_s = 1.0, 1.0, 2.0
        live_trading_enabled = True

    assert IBKRConnector.from_settings(Broker).live_trading_enabled is True
    Broker.live_trading_enabled = False
    assert IBKRConnector.from_settings(Broker).live_trading_enabled is False


@pytest.mark.parametrize(("account", "enabled", "refused"), [
    ("DU1234567", False, False),
    ("du1234567", False, False),
    (" DU1 ", False, False),
    ("U1234567", False, True),
    ("U1234567", True, False),
    ("", False, True),
    ("DF123", False, True),  # only the DU prefix counts as paper (P11); others need the flag
])
async def test_check_may_send_table(account, enabled, refused):
    if refused:
        with pytest.raises(NonPaperAccount, match="not a paper account"):
            check_may_send(account, enabled, "AAPL")
    else:
        check_may_send(account, enabled, "AAPL")
