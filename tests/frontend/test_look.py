"""The window's look: one theme throughout, readable tables at 1024x700, a totals line.

Measured on the real window (offscreen) with a real trade from the simulator: what the
trader would see, not a model in isolation.
"""

from __future__ import annotations

import re
from decimal import Decimal

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QPalette
from PyQt6.QtWidgets import QApplication

from frontend import theme
from frontend.models.positions import Totals, totals_of
from tests.frontend.test_protection_view import sim_clock_terminal
from tests.frontend.test_terminal_sim import connect, enter
from tests.helpers import eventually

D = Decimal


def test_totals_of_rows():
    rows = [{"quantity": 100, "unrealized": D("12.50"), "realized": D("-3.00")},
            {"quantity": 0, "unrealized": None, "realized": D("1234.56")},
            {"quantity": -50, "unrealized": D("-2.25"), "realized": D("0")}]
    totals = totals_of(rows)
    assert totals == Totals(open_positions=2, shares=150, unrealized=D("10.25"),
                            realized=D("1231.56"))
    assert totals.text() == ("Total  2 open (150 sh)   unrealized 10.25   realized 1,231.56"
                             "   P&L +1,241.81")


def test_theme_by_name_refuses_an_unknown_one():
    import pytest

    with pytest.raises(ValueError, match="unknown theme 'blue': use one of dark, light"):
        theme.by_name("blue")


def _visible_width(table, key: str) -> int:
    model = table.model
    return table.view.horizontalHeader().sectionSize(model.column_index(key))


def test_dark_window_readable_at_1024x700_with_totals(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with sim_clock_terminal(sim, tmp_path, qsettings) as (core, window):
            window.resize(1024, 700)
            await connect(qtbot, window, core)
            await enter(core, sim)
            table = window.positions_table
            await eventually(lambda: "AAPL" in window.positions.index_of, what="position row")
            # One theme: the window's palette is the chart's background colour.
            app = QApplication.instance()
            dark = theme.current()
            assert dark.name == "dark"
            assert app.palette().color(QPalette.ColorRole.Window).name() == dark.window
            assert window.chart._plot.backgroundBrush().color().name() == dark.chart_background
            # The average cost fits its column, on the tick, and says what it includes.
            model = window.positions
            avg = model.data(model.index(model.index_of["AAPL"],
                                         model.column_index("avg_cost")))
            assert re.fullmatch(r"\d+\.\d\d", avg), avg
            metrics = table.view.fontMetrics()
            assert metrics.horizontalAdvance(avg) < _visible_width(table, "avg_cost")
            assert "w/ comm" in model.headerData(model.column_index("avg_cost"),
                                                    Qt.Orientation.Horizontal)
            # The Orders table: no internal ids, and Time is a narrow column, not a third.
            orders = window.orders_table
            titles = [c.title for c in window.orders.columns]
            assert "OCA group" not in titles and "Parent" not in titles
            header = orders.view.horizontalHeader()
            total = sum(header.sectionSize(i) for i in range(header.count()))
            assert _visible_width(orders, "updated_at") < total / 8
            # The totals line under the positions.
            await eventually(lambda: table.totals_label.text().startswith("Total  1 open "
                                                                          "(100 sh)"),
                             what="the totals line")
            assert "unrealized " in table.totals_label.text()
            shot = window.grab()
            assert (shot.width(), shot.height()) == (1024, 700)
            # The protection sentence is on screen, not scrolled away behind the numbers.
            view = table.view
            column = model.column_index("protection")
            assert view.columnViewportPosition(column) + 40 < view.viewport().width()
            assert view.columnWidth(column) >= metrics.horizontalAdvance("trail armed at 194.14")

    run(scenario)
    assert run.reporter.reported == []


def test_light_option_colours_window_and_chart_alike(qtbot):
    from frontend.widgets.chart import ChartWidget

    app = QApplication.instance()
    try:
        light = theme.apply("light", app)
        chart = ChartWidget()
        qtbot.addWidget(chart)
        assert app.palette().color(QPalette.ColorRole.Base).name() == light.base == "#ffffff"
        assert chart._plot.backgroundBrush().color().name() == light.chart_background
        assert "no symbol" in chart.empty_text()
    finally:
        theme.apply("dark", app)
    assert theme.current().name == "dark"


def test_view_menu_switches_the_theme(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with sim_clock_terminal(sim, tmp_path, qsettings) as (_core, window):
            app = QApplication.instance()
            action = window.controls["Light/dark theme"]
            try:
                action.trigger()
                assert theme.current().name == "light"
                assert app.palette().color(QPalette.ColorRole.Base).name() == theme.LIGHT.base
                assert (window.chart._plot.backgroundBrush().color().name()
                        == theme.LIGHT.chart_background)
            finally:
                if theme.current().name != "dark":
                    action.trigger()
            assert theme.current().name == "dark"
            assert (window.chart._plot.backgroundBrush().color().name()
                    == theme.DARK.chart_background)

    run(scenario)
    assert run.reporter.reported == []
