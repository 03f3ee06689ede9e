"""A returning client is pushed its open orders before the greeting, as IB does.

Evidence: api_reconnect_recovered_cancel_status_aapl (July 2026: "on reconnect with the
same client ID the Gateway pushes an unsolicited open-orders snapshot immediately after
START_API") and every August 2026 sv225 capture, whose first frames are the client's
open orders, their statuses and openOrderEnd, then managedAccounts and nextValidId.
With no open order there is no public evidence of a snapshot; the simulator sends none.
"""

from __future__ import annotations

import threading
from decimal import Decimal

from backend.sim import SimThread
from tests.conformance.client import ReplayClient, wait_for
from tests.conformance.replay import replay_config


def _connect(sim: SimThread, events: list, changed: threading.Condition,
             leg: int) -> ReplayClient:
    client = ReplayClient(events, changed, leg)
    client.start(sim.port, 1)
    return client


def test_reconnecting_client_gets_its_open_orders_then_the_end_before_next_valid_id():
    events: list = []
    changed = threading.Condition()
    with SimThread(replay_config()) as sim:
        first = _connect(sim, events, changed, 1)
        first.send("place_order", 444, {
            "contract": {"symbol": "AAPL", "sec_type": "STK", "exchange": "SMART",
                         "currency": "USD", "con_id": 265598},
            "action": "BUY", "total_quantity": Decimal(100), "order_type": "LMT",
            "lmt_price": Decimal("15.42"), "tif": "GTC"})
        assert wait_for(changed, lambda: any(k == "order_status" and o == 444
                                             for k, o, _ in events), 3)
        first.stop()
        assert wait_for(changed, lambda: 1 not in sim.connected_clients(), 3)
        second = _connect(sim, events, changed, 2)
        second.stop()
    leg2 = [(k, o) for k, o, f in events if f.get("leg") == 2]
    greeting = leg2.index(("managed_accounts", None))
    assert leg2[:greeting] == [("open_order", 444), ("order_status", 444),
                               ("open_order_end", None)]
    assert leg2.index(("next_valid_id", None)) > greeting


def test_a_client_with_no_open_order_gets_no_snapshot():
    events: list = []
    changed = threading.Condition()
    with SimThread(replay_config()) as sim:
        _connect(sim, events, changed, 1).stop()
    kinds = [k for k, _, _ in events]
    assert "open_order_end" not in kinds and kinds.index("managed_accounts") == 0
