"""The simulator's history as the terminal reads it: through ``MarketDataFeed``.

ib_insync hands daily bars over as dates (``test_historical_bars_with_an_end_time_and_daily_bars``)
while ``Bar.time`` is a datetime: the feed turns a day into its midnight, UTC, so a chart or
the strategy can take ``.timestamp()`` of any bar.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from backend.broker.connector import IBKRConnector
from backend.sim import SimThread
from tests.sim.conftest import quiet_config

pytestmark = pytest.mark.asyncio


async def test_daily_and_minute_bars_reach_the_terminal_as_aware_datetimes():
    with SimThread(quiet_config()) as sim:
        connector = IBKRConnector(port=sim.port, client_id=31, timeout=2.0)
        await connector.connect()
        try:
            daily = await connector.market.historical_bars("AAPL", "2 D", "1 day")
            minutes = await connector.market.historical_bars("AAPL", "600 S", "1 min")
        finally:
            await connector.disconnect()
    for bars in (daily, minutes):
        assert bars
        assert all(type(b.time) is datetime and b.time.tzinfo is not None for b in bars)
    assert all((b.time.hour, b.time.minute) == (0, 0) for b in daily)
