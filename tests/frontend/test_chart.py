"""ChartWidget: symbol filter, bounded bars, coalesced quotes, level lines, offscreen render.

Prices go in as ``Decimal`` (as the backend sends them) and come out as floats, so each
expectation is the float of a literal, never a value computed by the widget.
"""

from __future__ import annotations

import ast
import os
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the app

import pytest  # noqa: E402

from backend.core.models import Bar, Quote  # noqa: E402
from frontend.widgets import chart as chart_module  # noqa: E402
from frontend.widgets import chart_parts  # noqa: E402
from frontend.widgets.chart import LEVEL_COLOURS, ChartWidget  # noqa: E402

T0 = datetime(2026, 1, 5, 14, 30, tzinfo=timezone.utc)
MINUTE = timedelta(minutes=1)


def bar(i: int, symbol: str = "AAPL", close: str = "100.50") -> Bar:
    return Bar(
        symbol=symbol,
        time=T0 + i * MINUTE,
        open=Decimal("100.00"),
        high=Decimal("101.25"),
        low=Decimal("99.75"),
        close=Decimal(close),
        volume=Decimal(1000),
    )


def quote(last: str | None, symbol: str = "AAPL", seconds: int = 0) -> Quote:
    return Quote(
        symbol=symbol,
        bid=Decimal("100.49"),
        ask=Decimal("100.51"),
        last=None if last is None else Decimal(last),
        volume=Decimal(500),
        time=T0 + timedelta(seconds=seconds),
    )


@pytest.fixture
def chart(qtbot):
    widget = ChartWidget(max_bars=5)
    qtbot.addWidget(widget)
    widget.set_symbol("AAPL")
    return widget


# --- symbol -------------------------------------------------------------------------------


def test_new_chart_has_no_symbol_and_ignores_data(qtbot):
    widget = ChartWidget()
    qtbot.addWidget(widget)
    widget.add_bar(bar(0))
    widget.on_quote(quote("100.10"))
    assert (widget.symbol, widget.bar_count(), widget.last_price()) == ("", 0, None)


def test_symbol_is_keyed_like_the_backend(chart):
    chart.set_symbol("  msft ")
    assert chart.symbol == "MSFT"
    chart.add_bar(bar(0, symbol="MSFT"))
    assert chart.bar_count() == 1


def test_set_symbol_starts_an_empty_chart(chart):
    chart.add_bar(bar(0))
    chart.on_quote(quote("100.10"))
    chart.set_levels(entry=Decimal("100.00"))
    chart.set_symbol("MSFT")
    assert chart.symbol == "MSFT"
    assert (chart.bar_count(), chart.last_price(), chart.level_value("entry")) == (0, None, None)


def test_max_bars_must_be_positive(qtbot):
    with pytest.raises(ValueError, match="max_bars"):
        ChartWidget(max_bars=0)


# --- bars ---------------------------------------------------------------------------------


def test_bars_are_counted_and_other_symbols_ignored(chart):
    chart.add_bar(bar(0))
    chart.add_bar(bar(1, symbol="MSFT"))
    chart.add_bar(bar(1))
    assert chart.bar_count() == 2


def test_bars_are_bounded_keeping_the_newest(chart):
    for i in range(8):
        chart.add_bar(bar(i))
    assert chart.bar_count() == 5
    times = [c.t for c in chart._bars_item._candles]
    assert times == [(T0 + i * MINUTE).timestamp() for i in range(3, 8)]


def test_a_bar_at_a_shown_time_replaces_it(chart):
    chart.add_bar(bar(0, close="100.50"))
    chart.add_bar(bar(0, close="101.00"))
    assert chart.bar_count() == 1
    assert chart._bars_item._candles[0].close == 101.0


def test_out_of_order_bars_are_kept_in_time_order(chart):
    for i in (2, 0, 1):
        chart.add_bar(bar(i))
    times = [c.t for c in chart._bars_item._candles]
    assert times == sorted(times)


def test_bar_prices_are_floats_of_the_decimals(chart):
    chart.add_bar(bar(0))
    candle = chart._bars_item._candles[0]
    assert (candle.open, candle.high, candle.low, candle.close) == (100.0, 101.25, 99.75, 100.5)
    assert candle.t == T0.timestamp()  # epoch seconds, as DateAxisItem reads them


# --- quotes -------------------------------------------------------------------------------


def test_quotes_update_the_last_price(chart):
    chart.on_quote(quote("100.10"))
    chart.on_quote(quote("100.20"))
    assert chart.last_price() == 100.2


@pytest.mark.parametrize(
    "ignored",
    [quote("99.00", symbol="MSFT"), quote(None)],
    ids=["other symbol", "no last trade"],
)
def test_quotes_that_do_not_move_the_last_price(chart, ignored):
    chart.on_quote(quote("100.10"))
    chart.on_quote(ignored)
    assert chart.last_price() == 100.1


def test_quote_redraws_are_coalesced(chart, qtbot, monkeypatch):
    redraws = []
    original = chart._redraw_live
    monkeypatch.setattr(chart, "_redraw_live", lambda: (redraws.append(1), original()))
    chart._redraw_timer.timeout.disconnect()
    chart._redraw_timer.timeout.connect(chart._redraw_live)
    for cents in range(100):
        chart.on_quote(quote(f"100.{cents:02d}"))
    assert not chart._last_line.isVisible()  # nothing drawn per tick
    qtbot.waitUntil(lambda: chart._last_line.isVisible(), timeout=2000)
    assert len(redraws) == 1
    assert chart._last_line.value() == 100.99
    assert chart.label_text("last") == "last 100.99"


def test_quotes_build_a_forming_candle_after_the_newest_bar(chart, qtbot):
    chart.add_bar(bar(0))
    chart.add_bar(bar(1))
    for last in ("100.40", "100.90", "100.10", "100.30"):
        chart.on_quote(quote(last, seconds=120))
    qtbot.waitUntil(lambda: chart._forming_item.candle_count() == 1, timeout=2000)
    forming = chart._forming_item._candles[0]
    assert forming.t == (T0 + 2 * MINUTE).timestamp()
    assert (forming.open, forming.high, forming.low, forming.close) == (100.4, 100.9, 100.1, 100.3)
    chart.add_bar(bar(2))  # the bar completes: the provisional candle goes
    assert chart._forming_item.candle_count() == 0


# --- levels -------------------------------------------------------------------------------


def test_levels_are_shown_with_their_values_and_labels(chart):
    chart.set_levels(
        entry=Decimal("100.00"),
        stop=Decimal("98.50"),
        activation=Decimal("102.00"),
        trail=Decimal("99.25"),
    )
    expected = {"entry": 100.0, "stop": 98.5, "activation": 102.0, "trail": 99.25}
    for name, value in expected.items():
        line = chart._level_lines[name]
        assert chart.level_value(name) == value
        assert line.isVisible() and line.value() == value
        assert chart.label_text(name).split()[0] == name


def test_level_labels_show_the_exact_decimal(chart):
    chart.set_levels(stop=Decimal("98.50"))
    assert chart.label_text("stop") == "stop 98.50"


def test_none_hides_a_level(chart):
    chart.set_levels(entry=Decimal("100.00"), stop=Decimal("98.50"))
    chart.set_levels(entry=Decimal("100.00"), trail=Decimal("99.00"))
    assert chart.level_value("stop") is None
    assert not chart._level_lines["stop"].isVisible()
    assert chart.level_value("activation") is None
    assert (chart.level_value("entry"), chart.level_value("trail")) == (100.0, 99.0)


def test_levels_have_distinct_colours():
    assert len(set(LEVEL_COLOURS.values())) == len(LEVEL_COLOURS) == 4


def test_unknown_level_name_raises(chart):
    with pytest.raises(KeyError):
        chart.level_value("target")


# --- clear --------------------------------------------------------------------------------


def test_clear_drops_everything_but_the_symbol(chart, qtbot):
    chart.add_bar(bar(0))
    chart.on_quote(quote("100.10"))
    chart.set_levels(entry=Decimal("100.00"), stop=Decimal("98.50"))
    chart.clear()
    assert chart.symbol == "AAPL"
    assert (chart.bar_count(), chart.last_price()) == (0, None)
    assert all(chart.level_value(name) is None for name in LEVEL_COLOURS)
    qtbot.wait(chart_module.REDRAW_MS * 2)  # a pending redraw must not resurrect the last line
    assert not chart._last_line.isVisible()


# --- rendering ----------------------------------------------------------------------------


def test_renders_offscreen(chart, qtbot):
    for i in range(5):
        chart.add_bar(bar(i, close="101.00" if i % 2 else "99.90"))
    chart.on_quote(quote("100.30", seconds=300))
    chart.set_levels(entry=Decimal("100.00"), stop=Decimal("99.00"), trail=Decimal("99.50"))
    chart.resize(640, 400)
    chart.show()
    qtbot.waitExposed(chart)
    qtbot.waitUntil(lambda: chart._last_line.isVisible(), timeout=2000)
    pixmap = chart.grab()
    assert not pixmap.isNull()
    assert pixmap.size() == chart.size()


def test_chart_never_imports_ib_insync():
    tree = ast.parse(Path(chart_module.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module}
    assert not {name for name in imported if name.split(".")[0] == "ib_insync"}


# --- labels, axes, fills and the empty state ------------------------------------------------


@pytest.mark.parametrize(("values", "gap", "expected"), [
    ([100.0, 90.0], 1.0, [100.0, 90.0]),            # room to spare: exactly at the prices
    ([100.0, 99.9], 1.0, [100.0, 99.0]),            # the lower one moves down one gap
    ([99.9, 100.0, 99.95], 1.0, [98.0, 100.0, 99.0]),  # input order kept, price order kept
    ([], 1.0, []),
])
def test_spread_labels(values, gap, expected):
    assert chart_parts.spread_labels(values, gap) == pytest.approx(expected)


def test_spread_labels_lifts_the_stack_off_the_bottom():
    assert chart_parts.spread_labels([1.0, 1.0], 1.0, low=0.5, high=10) == pytest.approx(
        [1.5, 0.5])


@pytest.mark.parametrize(("spacing", "places"), [(1.0, 2), (0.25, 2), (0.01, 2), (0.001, 3),
                                                 (0.0001, 4), (0, 2)])
def test_price_axis_decimals(spacing, places):
    assert chart_parts.price_decimals(spacing) == places


def test_price_axis_writes_prices(qtbot):
    axis = chart_parts.PriceAxis(orientation="right")
    assert axis.tickStrings([100.0, 100.25], 1.0, 0.25) == ["100.00", "100.25"]


def test_tags_never_overlap(chart, qtbot):
    """Trail just under the last, entry on the last: each tag stays readable."""
    for i in range(5):
        chart.add_bar(bar(i))
    chart.resize(640, 400)
    chart.show()
    qtbot.waitExposed(chart)
    chart.set_levels(entry=Decimal("100.30"), stop=Decimal("99.80"), trail=Decimal("100.28"))
    chart.on_quote(quote("100.30", seconds=300))
    qtbot.waitUntil(lambda: chart.label_text("last") == "last 100.30", timeout=2000)
    rects = chart.label_rects()
    assert set(rects) == {"last", "entry", "stop", "trail"}
    names = list(rects)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not rects[a].intersects(rects[b]), (a, b, rects[a], rects[b])


def test_fill_markers_mark_buys_and_sells(chart):
    marks = [chart_parts.FillMark(T0.timestamp(), Decimal("100.01"), True),
             chart_parts.FillMark((T0 + MINUTE).timestamp(), Decimal("101.50"), False)]
    chart.set_fills(marks)
    assert chart.fill_marks() == marks
    symbols = [spot.symbol() for spot in chart._fills_item.points()]
    assert symbols == ["t1", "t"]  # up for the buy, down for the sell
    chart.set_symbol("MSFT")
    assert chart.fill_marks() == []


def test_no_data_state_instead_of_an_empty_axis(chart, qtbot):
    axis = chart._plot.getPlotItem().getAxis("right")
    assert chart.empty_text() == "no data for AAPL"
    assert not axis.style["showValues"]
    chart.set_no_data("IB 200: No security definition has been found")
    assert chart.empty_text() == "no data for AAPL: IB 200: No security definition has been found"
    chart.add_bar(bar(0))
    assert chart.empty_text() == "" and axis.style["showValues"]
    chart.set_symbol("ZZZQX")  # the previous symbol's axis does not stay behind
    assert chart.empty_text() == "no data for ZZZQX" and not axis.style["showValues"]


def test_apply_theme_recolours_the_chart(chart):
    from frontend import theme

    chart.apply_theme(theme.LIGHT)
    assert chart._plot.backgroundBrush().color().name() == theme.LIGHT.chart_background
    chart.apply_theme(theme.DARK)
    assert chart._plot.backgroundBrush().color().name() == theme.DARK.chart_background
