"""The terminal against the simulator: real widgets, real clicks, the broker's state checked.

Each test drives the MainWindow as a trader would (clicking its buttons) on a qasync loop,
then asserts twice: on what the window shows (models, labels, chart levels) and on what the
simulated broker holds (``sim.orders()``, ``sim.positions()``, its connected clients).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from PyQt6.QtCore import Qt

from backend.core.models import ConnectionState, LegRole, OrderStatus
from backend.core.order_manager import SignalRefused
from frontend.models.log import Level
from frontend.models.orders import CHILD_MARKER, is_working
from frontend.widgets.connection_bar import STATE_COLOURS
from tests.frontend.conftest import open_terminal
from tests.helpers import eventually
from tests.oms.conftest import broker_orders, live, signal
from tests.strategies.synthetic import SetupShape, setup_series

LEFT = Qt.MouseButton.LeftButton


def live_setup(symbol: str = "AAPL") -> list:
    """A Seismograph setup whose bars start just after now (after the warm-up history)."""
    bars = setup_series(symbol, SetupShape(seed=1, price=100.0))
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return [dataclasses.replace(b, time=b.time + (start - bars[0].time)) for b in bars]


async def connect(qtbot, window, core) -> None:
    qtbot.mouseClick(window.connection_bar.connect_button, LEFT)
    await eventually(lambda: core.connector.state is ConnectionState.CONNECTED
                     and window.connection_bar.state is ConnectionState.CONNECTED,
                     what="connected")


async def arm(qtbot, window, core) -> None:
    qtbot.mouseClick(window.strategy_panel.arm_button, LEFT)
    await eventually(lambda: core.runner.armed and window.strategy_panel.armed, what="armed")


async def enter(core, sim, **overrides) -> str:
    entry_id = await core.manager.execute_entry(signal(**overrides))
    await eventually(lambda: sim.positions().get("AAPL", {}).get("qty") == 100,
                     what="entry filled at the broker")
    await eventually(lambda: len(live(broker_orders(sim))) == 3, what="exits live")
    return entry_id


def cell(window, key: str, column: str) -> str:
    model = window.orders
    return model.data(model.index(model.index_of[key], model.column_index(column)))


def test_connect_button_shows_state_account_badge_and_latency(run, sim, tmp_path, qsettings,
                                                              qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            bar = window.connection_bar
            assert bar.badge_text() == "SIM" and bar.connect_button.text() == "Connect"
            assert bar.endpoint() == ("127.0.0.1", sim.port, 7)
            await connect(qtbot, window, core)
            assert sim.connected_clients() == [7]
            assert bar.account_label.text() == "account: DU1234567"
            assert bar.state_label.text() == "Connected"
            assert STATE_COLOURS[ConnectionState.CONNECTED] in bar.light.styleSheet()
            assert bar.connect_button.text() == "Disconnect" and not bar.host_edit.isEnabled()
            window.poll_server_time()
            await eventually(lambda: "ms" in window.status.latency_label.text(), what="latency")
            assert window.status.server_time_label.text().startswith("server time: ")
            assert "—" not in window.status.server_time_label.text()

            qtbot.mouseClick(bar.connect_button, LEFT)  # now "Disconnect"
            await eventually(lambda: bar.state is ConnectionState.DISCONNECTED, what="disconnect")
            await eventually(lambda: sim.connected_clients() == [], what="broker sees it")
            assert bar.account_label.text() == "account: — (last DU1234567)"
            assert bar.badge_text() == "SIM", "the mode stays shown while disconnected"

    run(scenario)
    assert run.reporter.reported == []


def test_arm_toggle_arms_and_disarms_the_runner(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            panel = window.strategy_panel
            assert panel.watchlist() == ["AAPL", "MSFT"]
            panel.symbol_edit.setText("tsla")
            qtbot.mouseClick(panel.add_button, LEFT)
            assert panel.watchlist() == ["AAPL", "MSFT", "TSLA"]
            await connect(qtbot, window, core)
            await arm(qtbot, window, core)
            assert core.runner.watchlist == ("AAPL", "MSFT", "TSLA")
            assert panel.arm_button.text() == "Disarm" and panel.arm_button.isChecked()
            assert not panel.add_button.isEnabled(), "the watchlist is locked while armed"
            assert any("armed on AAPL, MSFT, TSLA" in m for m in window.log.messages())
            qtbot.mouseClick(panel.arm_button, LEFT)
            await eventually(lambda: not core.runner.armed and not panel.armed, what="disarmed")
            assert panel.arm_button.text() == "Arm" and panel.add_button.isEnabled()

    run(scenario)
    assert run.reporter.reported == []


def test_ignition_to_grouped_exits_then_stop_fill_closes_the_position(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            await arm(qtbot, window, core)
            await eventually(lambda: core.connector.market.quote("AAPL") is not None
                             and core.connector.market.quote("AAPL").ask is not None, what="quotes")
            for bar in live_setup():
                core.runner.on_bar(bar)
            await eventually(lambda: len(live(broker_orders(sim))) == 3, what="exits live")
            await eventually(lambda: len(window.orders.keys) == 4, what="four rows")

            # The Orders table: the entry first, its three legs under it, marked and named.
            entry_id = next(k for k in window.orders.keys
                            if window.orders.rows[k]["role"] is LegRole.ENTRY)
            shown = window.orders_table.visible_keys()
            assert shown[0] == entry_id
            assert [window.orders.rows[k]["role"] for k in shown[1:]] == [
                LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER]
            for leg in shown[1:]:
                assert cell(window, leg, "order_id") == f"{CHILD_MARKER}{leg}"
                assert window.orders.rows[leg]["parent_id"] == entry_id  # in the tooltip
                assert broker_orders(sim)[leg]["parent_id"] == int(entry_id)
            assert [cell(window, k, "role") for k in shown] == ["entry", "stop", "time stop",
                                                                "trail"]
            assert len({window.orders.rows[k]["oca_group"] for k in shown[1:]}) == 1

            # The position, with the legs that protect it.
            await eventually(lambda: window.positions.row("AAPL") is not None
                             and window.positions.row("AAPL")["quantity"] == 100, what="position")
            protection = window.positions.data(window.positions.index(
                window.positions.index_of["AAPL"], window.positions.column_index("protection")))
            # Each leg in plain words, in sending order, saying what it can do now.
            assert re.fullmatch(r"stop \d+\.\d\d\ntime stop in \d+:\d\d\n"
                                r"trail armed at \d+\.\d\d", protection), protection
            assert sim.positions()["AAPL"]["qty"] == 100

            # The chart of the selected symbol carries the trade's levels.
            sig = core.manager.signals[window.orders.rows[entry_id]["signal_id"]]
            stop_leg = shown[1]  # ranked: stop, time, trail
            window.chart_panel.refresh_levels()
            assert window.chart.symbol == "AAPL"
            assert window.chart.level_value("stop") == float(broker_orders(sim)[stop_leg][
                "aux_price"])
            assert window.chart.level_value("activation") == float(
                (sig.reference_price * Decimal("1.03")).quantize(Decimal("0.01")))
            assert window.chart.level_value("entry") == float(broker_orders(sim)[entry_id][
                "avg_fill_price"])
            assert window.chart.level_value("trail") is None, "the trail is dormant"

            # The stop leg fills: siblings cancelled, position closed with its realized P&L.
            sim.set_price("AAPL", "97.50")
            await eventually(lambda: not sim.positions()["AAPL"]["qty"], what="stopped out")
            await eventually(lambda: window.positions.row("AAPL")["quantity"] == 0
                             and window.orders.rows[shown[2]]["status"] is OrderStatus.CANCELLED
                             and window.orders.rows[shown[3]]["status"] is OrderStatus.CANCELLED,
                             what="table updated")
            orders = broker_orders(sim)
            assert orders[shown[1]]["status"] == "Filled"
            assert orders[shown[2]]["status"] == orders[shown[3]]["status"] == "Cancelled"
            assert window.orders.rows[shown[1]]["status"] is OrderStatus.FILLED
            statuses = window.log.messages(Level.INFO)
            assert any(f"order {entry_id} (AAPL entry" in m and "FILLED" in m for m in statuses)
            assert any(f"order {shown[1]} (AAPL stop" in m and "FILLED" in m for m in statuses)
            assert any(f"order {shown[3]} (AAPL trail" in m and "CANCELLED" in m
                       for m in statuses)
            realized = sim.positions()["AAPL"]["realized"]
            await eventually(lambda: window.positions.row("AAPL")["realized"] == realized,
                             what="realized P&L from the commission reports")
            assert realized < 0
            row = window.positions.index_of["AAPL"]
            assert window.positions.data(window.positions.index(
                row, window.positions.column_index("protection"))) == "closed"
            assert window.positions.data(window.positions.index(
                row, window.positions.column_index("realized"))) == f"{realized:,.2f}"
            await eventually(lambda: window.chart.level_value("stop") is None, what="levels gone")

    run(scenario)
    assert run.reporter.reported == []


def test_flatten_all_after_confirmation_leaves_nothing_at_the_broker(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            await enter(core, sim)
            await eventually(lambda: window.positions.row("AAPL") is not None
                             and window.positions.row("AAPL")["quantity"] == 100
                             and sum(is_working(r) for r in window.orders.rows.values()) == 3,
                             what="the tables show the trade")
            questions: list[str] = []

            def decline(title, text):
                questions.append(text)
                return False

            window.confirm = decline
            qtbot.mouseClick(window.flatten_button, LEFT)
            await eventually(lambda: questions, what="confirmation asked")
            await eventually(lambda: any("not confirmed" in m for m in window.log.messages()),
                             what="declined")
            assert "3 working orders" in questions[0] and "1 positions" in questions[0]
            assert sim.positions()["AAPL"]["qty"] == 100 and len(live(broker_orders(sim))) == 3

            async def accept(title, text):
                return True

            window.confirm = accept
            qtbot.mouseClick(window.flatten_button, LEFT)
            await eventually(lambda: not sim.positions()["AAPL"]["qty"], what="flat at the broker")
            await eventually(lambda: live(broker_orders(sim)) == {}, what="no live orders")
            await eventually(lambda: window.positions.row("AAPL")["quantity"] == 0
                             and not any(window.orders.rows[k]["status"] in (
                                 OrderStatus.PENDING, OrderStatus.PARTIAL_FILL)
                                 for k in window.orders.keys), what="tables show it")
            assert any("flattened AAPL" in m for m in window.log.messages())

    run(scenario)
    assert run.reporter.reported == []


def test_dropped_connection_is_shown_then_restored(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            bar = window.connection_bar
            await connect(qtbot, window, core)
            shown: list[tuple[ConnectionState, str, str, str]] = []
            # Connected after the window's own slot, so it sees what the window just showed.
            core.connector.connection_state.connect(lambda state, _msg: shown.append((
                state, bar.state_label.text(), bar.light.styleSheet(),
                window.status.state_label.text())))
            sim.drop_connections()
            await eventually(lambda: any(s[0] is ConnectionState.RECONNECTING for s in shown),
                             what="drop noticed")
            _state, label, light, status = next(
                s for s in shown if s[0] is ConnectionState.RECONNECTING)
            assert label == "Reconnecting…" and status.startswith("Reconnecting…")
            assert STATE_COLOURS[ConnectionState.RECONNECTING] in light
            await eventually(lambda: any(e.source == "connection" and e.level is Level.WARNING
                                         and "reconnecting" in e.message
                                         for e in window.log.entries), what="drop logged")
            await eventually(lambda: bar.state is ConnectionState.CONNECTED
                             and sim.connected_clients() == [7], what="reconnected")
            seen = [s[0] for s in shown]
            assert seen[-1] is ConnectionState.CONNECTED
            assert bar.account_label.text() == "account: DU1234567"
            assert window.status.state_label.text().startswith("Connected")

    run(scenario)
    assert run.reporter.reported == []


def test_refusals_and_broker_errors_reach_the_log_with_their_reason(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            sim.reject_next_order(201, "Order rejected - reason:no shortable shares")
            with contextlib.suppress(Exception):  # refused at once or later: both are reported
                await core.manager.execute_entry(signal())
            await eventually(lambda: any("no shortable shares" in m
                                         for m in window.log.messages(Level.ERROR)),
                             what="broker error")
            await enter(core, sim)
            with pytest.raises(SignalRefused):
                await core.manager.execute_entry(signal())
            refused = [m for m in window.log.messages(Level.WARNING) if "refused" in m]
            assert len(refused) == 1, "logged once, though the OMS and the runner both publish it"
            assert "(AAPL) refused: " in refused[0] and refused[0].split("refused: ")[1], \
                "the reason is shown"
            window.log_panel.toggle.setChecked(True)  # "alerts only" keeps them
            assert window.log_panel.proxy.rowCount() >= 2
            assert window.log_panel.proxy.rowCount() < window.log.rowCount()

    run(scenario)
    assert run.reporter.reported == []


def test_chart_shows_the_live_trail_once_the_price_reaches_activation(run, sim, tmp_path,
                                                                      qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            await enter(core, sim)  # reference 100.00: stop 98.00, activation 103.00, trail 1.50
            chart = window.chart
            await eventually(lambda: chart.level_value("stop") == 98.0
                             and chart.level_value("activation") == 103.0, what="levels")
            assert chart.level_value("trail") is None
            sim.set_price("AAPL", "103.50")
            trail_id = next(k for k, o in broker_orders(sim).items() if o["order_type"] == "TRAIL")
            await eventually(lambda: broker_orders(sim)[trail_id]["trail_stop"] is not None
                             and broker_orders(sim)[trail_id]["held_by"] is None,
                             what="trail working at the broker")
            await eventually(lambda: chart.level_value("trail") == float(
                broker_orders(sim)[trail_id]["trail_stop"]), what="live trail on the chart")
            assert chart.level_value("trail") == 102.0
            assert chart.level_value("stop") == 98.0, "the safety stop is still there"

    run(scenario)
    assert run.reporter.reported == []
