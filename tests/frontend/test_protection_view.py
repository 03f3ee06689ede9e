"""Legible protection against the simulator: what the window says about each exit leg.

The trader reads the legs in plain words ("stop 98.00", "time stop in 2:41", "trailing:
stop 103.30", "time stop skipped: ignited at 103.00"), and the Orders table's Stop cell of
the trail must be IB's live trailing stop, not the one it was sent with. Each test drives
the simulator's market (and clock) and asserts the window against the simulator's own state
(``sim.orders()``), never against a fixed sleep.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from backend.core.models import LegRole, OrderStatus
from backend.runtime import TradingCore
from frontend.headless import EventPrinter
from frontend.models.log import Level
from tests.frontend.conftest import terminal_settings
from tests.frontend.test_terminal_sim import connect, enter
from tests.helpers import eventually
from tests.oms.conftest import broker_orders, signal

FAST_POLL_MS = 100


@contextlib.asynccontextmanager
async def sim_clock_terminal(sim, tmp_path, qsettings, **sections
                             ) -> AsyncIterator[tuple[TradingCore, Any]]:
    """A terminal whose OMS reads the simulator's clock, so ``advance_time`` moves both."""
    from frontend.window import MainWindow

    settings = terminal_settings(sim, tmp_path, **sections)
    core = TradingCore.build(settings,
                             now=lambda: datetime.fromtimestamp(sim.now(), timezone.utc))
    window = MainWindow(core, settings, "sim", qsettings)
    window.server_timer.stop()
    window.feed.trail_watch.timer.setInterval(FAST_POLL_MS)  # the re-read, made quick
    window.show()
    try:
        yield core, window
    finally:
        guard = getattr(window, "quit_guard", None)
        if guard is not None:
            guard.confirmed = True  # the quit question is another test's subject
        window.close()
        await window.drain()
        await core.stop()


def protection(window, symbol: str = "AAPL") -> str:
    model = window.positions
    if symbol not in model.index_of:
        return ""
    return model.data(model.index(model.index_of[symbol], model.column_index("protection")))


def order_cell(window, order_id: str, column: str) -> str:
    model = window.orders
    return model.data(model.index(model.index_of[order_id], model.column_index(column)))


def leg_id(sim, order_type: str) -> str:
    return next(k for k, o in broker_orders(sim).items() if o["order_type"] == order_type)


def test_the_trail_row_follows_the_brokers_live_trailing_stop(run, sim, tmp_path, qsettings,
                                                              qtbot):
    async def scenario():
        async with sim_clock_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            await enter(core, sim)  # reference 100.00: stop 98.00, activation 103.00, 1.50
            trail_id = leg_id(sim, "TRAIL")
            await eventually(lambda: "trail armed at 103.00" in protection(window),
                             what="the dormant trail in plain words")
            assert "stop 98.00" in protection(window)
            sim.set_price("AAPL", "103.50")  # ignition: the trail wakes at 103.50 - 1.50
            sim.set_price("AAPL", "104.80")  # and ratchets with the market
            await eventually(lambda: broker_orders(sim)[trail_id]["trail_stop"]
                             == Decimal("103.30"), what="the simulator's trail at 103.30")
            await eventually(lambda: order_cell(window, trail_id, "stop_price") == "103.30",
                             what="the Orders table's Stop cell at the live trail")
            await eventually(lambda: "trailing: stop 103.30" in protection(window),
                             what="the position saying where its trail is")
            assert core.manager.orders[trail_id].stop_price == Decimal("103.30")
            sim.set_price("AAPL", "105.40")
            await eventually(lambda: order_cell(window, trail_id, "stop_price") == "103.90",
                             what="the Stop cell following the next ratchet")
            assert broker_orders(sim)[trail_id]["trail_stop"] == Decimal("103.90")

    run(scenario)
    assert run.reporter.reported == []


def test_time_stop_counts_down_then_says_it_was_skipped(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with sim_clock_terminal(sim, tmp_path, qsettings,
                                      exits={"time_stop_s": 180}) as (core, window):
            out = io.StringIO()
            EventPrinter(out, now=lambda: datetime(2026, 1, 5, 15, 30)).attach(core)
            await connect(qtbot, window, core)
            await enter(core, sim)
            time_id = leg_id(sim, "MKT")

            def countdown() -> int:
                found = re.search(r"time stop in (\d+):(\d\d)", protection(window))
                return int(found[1]) * 60 + int(found[2]) if found else -1

            await eventually(lambda: 150 <= countdown() <= 180, what="a 3-minute countdown")
            sim.advance_time(100)
            await eventually(lambda: 50 <= countdown() <= 80, what="the countdown after 100 s")
            assert protection(window).count("time stop") == 1
            sim.set_price("AAPL", "103.50")  # the ignition cancels the time stop at IB
            await eventually(lambda: broker_orders(sim)[time_id]["status"] == "Cancelled",
                             what="the time stop cancelled by its condition at the broker")
            await eventually(lambda: "time stop skipped: ignited at 103.00"
                             in protection(window), what="the skipped time stop in words")
            assert "stop 98.00" in protection(window), "the safety stop still protects"
            assert not any("Order Canceled - reason" in m for m in window.log.messages()), \
                "the cancel is told in plain words, not as IB's code"
            assert any(f"order {time_id} (AAPL time stop SELL 100 MKT) CANCELLED: skipped: "
                       "ignited at 103.00" == m for m in window.log.messages(Level.INFO))
            assert (f"order {time_id} AAPL [time stop]: PENDING -> CANCELLED (skipped: ignited "
                    "at 103.00)") in out.getvalue(), "headless says it in the same words"

    run(scenario)
    assert run.reporter.reported == []


def test_chart_marks_fills_and_jumps_to_a_new_entry(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        sim.set_price("MSFT", "400.00")
        async with sim_clock_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            window.select_symbol("MSFT")
            assert window.chart.symbol == "MSFT"
            await enter(core, sim)  # an AAPL entry: the chart goes to AAPL by itself
            await eventually(lambda: window.chart.symbol == "AAPL", what="jump to AAPL")
            await eventually(lambda: [m.bought for m in window.chart.fill_marks()] == [True],
                             what="the buy marked")
            buy = window.chart.fill_marks()[0]
            entry = next(f for f in core.manager.fills.values() if f.symbol == "AAPL")
            assert buy.price == entry.price == Decimal("100.01")
            sim.set_price("AAPL", "97.00")  # through the stop: the sell is marked too
            await eventually(lambda: [m.bought for m in window.chart.fill_marks()]
                             == [True, False], what="the sell marked")
            assert window.chart.fill_marks()[1].price == next(
                f.price for f in core.manager.fills.values() if f.symbol == "AAPL"
                and f.side.value == "SELL")

    run(scenario)
    assert run.reporter.reported == []


def test_chart_stays_put_when_following_entries_is_off(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with sim_clock_terminal(sim, tmp_path, qsettings,
                                      ui={"chart_follows_entries": False}) as (core, window):
            await connect(qtbot, window, core)
            window.select_symbol("MSFT")
            await enter(core, sim)
            await eventually(lambda: any(r.role is LegRole.ENTRY and r.status is
                                         OrderStatus.FILLED for r in core.manager.orders.values()),
                             what="the entry filled")
            assert window.chart.symbol == "MSFT"

    run(scenario)
    assert run.reporter.reported == []


def test_window_and_headless_print_the_same_numbers(run, sim, tmp_path, qsettings, qtbot):
    """One trade, two views of it: the log panel and the headless log use the same words."""
    async def scenario():
        async with sim_clock_terminal(sim, tmp_path, qsettings) as (core, window):
            out = io.StringIO()
            EventPrinter(out, now=lambda: datetime(2026, 1, 5, 15, 30)).attach(core)
            await connect(qtbot, window, core)
            await core.manager.execute_entry(signal())
            await eventually(lambda: "fill AAPL BUY" in out.getvalue(), what="headless fill")
            await eventually(lambda: any(m.startswith("AAPL BUY")
                                         for m in window.log.messages()), what="window fill")
            headless = next(line[len("15:30:00 fill "):] for line in out.getvalue().splitlines()
                            if " fill AAPL BUY" in line)
            panel = next(m for m in window.log.messages() if m.startswith("AAPL BUY"))
            assert panel == headless
            assert re.fullmatch(r"AAPL BUY 100 @ \d+\.\d\d, commission \d+\.\d\d \(order \d+\)",
                                panel)
            positions = window.positions  # refreshed on the feed's coalescing timer
            await eventually(lambda: "AAPL" in positions.index_of, what="position row")
            avg = positions.data(positions.index(positions.index_of["AAPL"],
                                                 positions.column_index("avg_cost")))
            assert re.fullmatch(r"\d+\.\d\d", avg), avg  # never 100.0100000000000051
            await eventually(lambda: "protected: stop, time stop, trail" in out.getvalue(),
                             what="headless names the legs as the window does")

    run(scenario)
    assert run.reporter.reported == []
