"""Cancelling an exit leg and closing a position from the window, against the simulator.

A client cancel of one OCA member cancels the whole group at IB (ib-orders R4), so the
window asks before it sends one, naming what IB will do, and offers to close the position
instead. Each test clicks the real widgets offscreen, answers the question as a trader
would, and then checks the simulator's own orders and position.
"""

from __future__ import annotations

from PyQt6.QtCore import Qt

from backend.core.models import LegRole
from frontend.trade_actions import CANCEL_PROTECTION, CLOSE_POSITION, KEEP
from tests.frontend.conftest import open_terminal
from tests.frontend.test_terminal_sim import connect
from tests.helpers import eventually
from tests.oms.conftest import broker_orders, enter, held, live

LEFT = Qt.MouseButton.LeftButton


def select(table, key: str) -> None:
    """Select the row of ``key`` in a FilteredTable, as a click on it would."""
    proxy = table.proxy
    for row in range(proxy.rowCount()):
        if proxy.key_at(row) == key:
            table.view.selectRow(row)
            table.view.setCurrentIndex(proxy.index(row, 0))
            return
    raise AssertionError(f"{key} is not in the table")


class Answer:
    """Stands in for the window's question box: records what was asked, answers ``reply``."""

    def __init__(self, reply: str) -> None:
        self.reply = reply
        self.asked: list[tuple[str, str, tuple[str, ...]]] = []

    def __call__(self, title: str, text: str, answers) -> str:
        self.asked.append((title, text, tuple(answers)))
        return self.reply


async def trade(qtbot, window, core, sim) -> dict:
    await connect(qtbot, window, core)
    _entry_id, legs = await enter(core, sim)
    await eventually(lambda: all(window.orders.row(r.order_id) is not None
                                 for r in legs.values()), what="the legs in the orders table")
    # The positions are rebuilt on the feed's coalescing timer (CoreFeed.positions_dirty).
    await eventually(lambda: (window.positions.row("AAPL") or {}).get("quantity") == 100,
                     what="the position in the positions table")
    return legs


def test_cancelling_the_stop_asks_first_and_keep_sends_nothing(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            window.choose = answer = Answer(KEEP)
            select(window.orders_table, legs[LegRole.SAFETY_STOP].order_id)
            qtbot.mouseClick(window.cancel_button, LEFT)
            await eventually(lambda: any("kept, nothing sent" in m
                                         for m in window.log.messages()), what="kept")
            [(title, text, answers)] = answer.asked
            assert "cancels all protection of 100 AAPL" in text
            assert answers == (CLOSE_POSITION, CANCEL_PROTECTION, KEEP)
            assert answers[-1] == KEEP, "the safe answer is the default"
            assert len(live(broker_orders(sim))) == 3 and held(sim) == 100

    run(scenario)
    assert run.reporter.reported == []


def test_confirmed_cancel_of_one_leg_ends_the_whole_group_at_the_broker(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            window.choose = Answer(CANCEL_PROTECTION)
            select(window.orders_table, legs[LegRole.TIME_STOP].order_id)
            qtbot.mouseClick(window.cancel_button, LEFT)
            await eventually(lambda: live(broker_orders(sim)) == {}, what="group cancelled")
            assert held(sim) == 100, "cancelling protection sells nothing"
            await eventually(lambda: window.positions.data(window.positions.index(
                window.positions.index_of["AAPL"], window.positions.column_index(
                    "protection"))) == "UNPROTECTED", what="the window says so")
            assert any("cancelled at the trader's request" in m for m in window.log.messages())

    run(scenario)
    assert run.reporter.reported == []


def test_close_the_position_instead_leaves_nothing_at_the_broker(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            window.choose = Answer(CLOSE_POSITION)
            select(window.orders_table, legs[LegRole.PROFIT_HARVESTER].order_id)
            qtbot.mouseClick(window.cancel_button, LEFT)
            await eventually(lambda: held(sim) == 0, what="position closed at the broker")
            await eventually(lambda: live(broker_orders(sim)) == {}, what="no live orders")
            sells = [e for e in sim.executions() if e["side"] == "SLD"]
            assert sum(int(e["shares"]) for e in sells) == 100, "sold once, not twice"

    run(scenario)
    assert run.reporter.reported == []


def test_close_position_button_confirms_with_the_shares(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await trade(qtbot, window, core, sim)
            questions: list[str] = []

            def decline(title, text):
                questions.append(text)
                return False

            window.confirm = decline
            select(window.positions_table, "AAPL")
            qtbot.mouseClick(window.close_button, LEFT)
            await eventually(lambda: any("not confirmed" in m for m in window.log.messages()),
                             what="declined")
            assert "Close 100 AAPL at market?" in questions[0]
            assert held(sim) == 100 and len(live(broker_orders(sim))) == 3

            window.confirm = lambda title, text: True
            qtbot.mouseClick(window.close_button, LEFT)
            await eventually(lambda: held(sim) == 0 and live(broker_orders(sim)) == {},
                             what="flat, nothing working")

    run(scenario)
    assert run.reporter.reported == []


def test_right_click_offers_the_row_action(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            window.choose = answer = Answer(KEEP)
            view = window.orders_table.view
            select(window.orders_table, legs[LegRole.SAFETY_STOP].order_id)
            point = view.visualRect(view.currentIndex()).center()
            menu = window._row_menu(window.orders_table, point, "Cancel order…",
                                    window.actions.cancel_order)
            assert menu is not None
            [action] = menu.actions()
            assert action.text() == "Cancel order…"
            action.trigger()
            await eventually(lambda: answer.asked, what="the exit-leg question")
            menu.close()
            assert len(live(broker_orders(sim))) == 3

    run(scenario)
    assert run.reporter.reported == []


def test_positions_say_what_each_leg_can_do_now(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await trade(qtbot, window, core, sim)
            model = window.positions

            def protection() -> str:
                if "AAPL" not in model.index_of:
                    return ""
                return model.data(model.index(model.index_of["AAPL"],
                                              model.column_index("protection")))

            await eventually(lambda: "stop 98.00" in protection(), what="stop shown")
            assert "trail armed at 103.00" in protection()
            assert "time stop" in protection()

    run(scenario)
    assert run.reporter.reported == []


def test_protected_but_unable_to_act_is_amber_not_green(qapp):
    """In the pre-market the stop exists at IB but cannot fire: the cell must not reassure."""
    from decimal import Decimal

    from backend.core.leg_activity import LegActivity
    from backend.core.models import Position
    from frontend.models.columns import AMBER, GREEN
    from frontend.models.positions import PositionsModel

    model = PositionsModel(repaint_ms=50)
    roles = (LegRole.SAFETY_STOP, LegRole.PROFIT_HARVESTER)
    position = Position("AAPL", 100, Decimal("100.01"), protected_by=roles)
    asleep = [LegActivity("2", LegRole.SAFETY_STOP, False, "stop: regular hours only"),
              LegActivity("4", LegRole.PROFIT_HARVESTER, False, "trail: regular hours only")]
    model.update_positions([position], {"AAPL": asleep})
    cell = model.index(model.index_of["AAPL"], model.column_index("protection"))
    assert model.data(cell) == "stop: regular hours only\ntrail: regular hours only"
    assert model.data(cell, Qt.ItemDataRole.ForegroundRole) == AMBER

    awake = [LegActivity("2", LegRole.SAFETY_STOP, True, "stop 98.00")]
    model.update_positions([position], {"AAPL": awake})
    assert model.data(cell) == "stop 98.00"
    assert model.data(cell, Qt.ItemDataRole.ForegroundRole) == GREEN
