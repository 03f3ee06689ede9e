"""The chart of the selected symbol: candles, the live last price and the trade's exit levels.

The trader watches this to see where a position's entry, safety stop, trail-activation price and
live trail sit against the tape, so the levels are plain horizontal lines with their names on
them and the candles are deliberately unadorned.

Design choices:

* **Decimal stops at the boundary.** Models carry ``Decimal`` (a stop sits on the tick grid);
  pyqtgraph wants floats. Conversion happens once, in the public methods, and tags show the
  price on its tick (``formatting.price``), as the tables do.
* **Tags never overlap, axes are prices, fills are marked** (``chart_parts``). With no data
  the chart says "no data for SYM" instead of drawing an empty 0-1 axis.
* **Quotes are cheap.** A symbol can tick many times a second; ``on_quote`` only records the
  price and arms a single-shot timer, so at most one redraw per ``REDRAW_MS`` moves the existing
  "last" line and re-pictures the one forming candle. Nothing is created per tick.
* **Completed bars are pictured once per bar.** Candles are recorded into a ``QPicture`` (the
  pyqtgraph candlestick idiom), so panning replays a recording instead of re-drawing
  ``max_bars`` rectangles; the forming candle is a separate one-candle item for the same reason.
* **Bounded.** At most ``max_bars`` completed bars are kept; older ones fall off the left.
* **Symbols are keyed as the backend keys them** (stripped, upper case), so "aapl" from a
  watchlist cell and "AAPL" from the feed are the same chart.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from decimal import Decimal

import pyqtgraph as pg
from PyQt6.QtCore import QRectF, Qt, QTimer
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from backend.core.models import Bar, Quote
from frontend import formatting, theme
from frontend.widgets.candles import DEFAULT_BAR_SECONDS, Candle, CandlestickItem
from frontend.widgets.chart_parts import FillMark, FillMarkers, PriceAxis, spread_labels

REDRAW_MS = 100
"""Quote redraws are coalesced to at most one per this many milliseconds (10 Hz is plenty)."""

RIGHT_MARGIN = 0.15
"""Empty space right of the newest bar, as a fraction of the time span: room for the forming
candle and the line labels, which would otherwise sit on top of the latest candles."""


LEVEL_COLOURS: dict[str, str] = {
    "entry": "#2962ff",
    "stop": "#ff1744",
    "activation": "#ffab00",
    "trail": "#d500f9",
}
"""One distinct colour per exit level; stop is a harder red than a down candle on purpose."""

LEVEL_NAMES = tuple(LEVEL_COLOURS)


def _symbol_key(symbol: str) -> str:
    return symbol.strip().upper()


def _to_float(value: Decimal | float | None) -> float | None:
    return None if value is None else float(value)


class ChartWidget(QWidget):
    """Candlestick chart of one symbol with last-price, entry, stop, activation and trail lines.

    Feed it with ``set_symbol``, ``add_bar`` (completed bars), ``on_quote`` (live ticks),
    ``set_levels`` and ``set_fills``; bars and quotes for any other symbol are ignored, so
    callers can forward a shared feed without filtering it first. Until a bar or a last
    price arrives the chart says "no data for SYM" instead of showing an empty 0-1 axis.
    """

    def __init__(self, parent: QWidget | None = None, max_bars: int = 500) -> None:
        super().__init__(parent)
        if max_bars < 1:
            raise ValueError(f"max_bars must be at least 1, got {max_bars}")
        self._max_bars = max_bars
        self._symbol = ""
        self._candles: list[Candle] = []
        self._last: float | None = None
        self._last_text = ""
        self._forming: Candle | None = None
        self._levels: dict[str, float | None] = dict.fromkeys(LEVEL_NAMES)
        self._no_data_reason = ""
        look = theme.current()

        self._plot = pg.PlotWidget(
            background=look.chart_background,
            axisItems={"bottom": pg.DateAxisItem(orientation="bottom"),
                       "right": PriceAxis(orientation="right")},
        )
        # Antialiasing on this view only: pg.setConfigOptions would change every plot in the
        # process, including ones other widgets own.
        self._plot.setAntialiasing(True)
        item = self._plot.getPlotItem()
        item.hideAxis("left")
        item.showAxis("right")  # prices on the right, as on every trading terminal
        for name in ("right", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(look.chart_foreground))
            axis.setTextPen(pg.mkPen(look.chart_foreground))
        item.showGrid(x=True, y=True, alpha=look.grid_alpha)
        item.setMenuEnabled(False)
        item.hideButtons()
        view = item.getViewBox()
        view.setAutoVisible(y=True)  # fit prices to the visible bars, not to all history

        self._bars_item = CandlestickItem(right_margin=RIGHT_MARGIN)
        self._forming_item = CandlestickItem()
        self._forming_item.setOpacity(0.6)  # still moving: visibly provisional
        self._fills_item = FillMarkers()
        item.addItem(self._bars_item)
        item.addItem(self._forming_item)
        item.addItem(self._fills_item)

        self._colours = {"last": look.last, **LEVEL_COLOURS}
        self._last_line = self._make_line(look.last, Qt.PenStyle.DotLine)
        self._level_lines = {name: self._make_line(colour, Qt.PenStyle.DashLine)
                             for name, colour in LEVEL_COLOURS.items()}
        self._lines = {"last": self._last_line, **self._level_lines}
        for line in self._lines.values():
            item.addItem(line)
        # Tags at the right edge, placed by spread_labels so that none covers another.
        self._tags = {name: pg.TextItem("", color=look.chart_background,
                                        fill=pg.mkBrush(self._colours[name]), anchor=(1, 0.5))
                      for name in self._lines}
        for tag in self._tags.values():
            tag.setVisible(False)
            tag.setZValue(10)
            item.addItem(tag, ignoreBounds=True)
        # A bound method, not a lambda: PyQt drops the connection when this widget is
        # destroyed, so a late range change cannot reach deleted tags.
        view.sigRangeChanged.connect(self._on_range_changed)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_live)

        self._empty = QLabel(self._plot)
        self._empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)
        self._empty.setStyleSheet(f"color: {look.chart_foreground}; font-size: 15px;"
                                  " background: transparent;")

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._plot)
        self._update_title()
        self._show_state()

    @staticmethod
    def _make_line(colour: str, style: Qt.PenStyle) -> pg.InfiniteLine:
        # Hidden until it has a value; a hidden line is also left out of the auto-range.
        line = pg.InfiniteLine(angle=0, movable=False,
                               pen=pg.mkPen(colour, width=1, style=style))
        line.setVisible(False)
        return line

    # --- public API -------------------------------------------------------------------------

    @property
    def symbol(self) -> str:
        """The charted symbol as the backend keys it; "" before the first ``set_symbol``."""
        return self._symbol

    def set_symbol(self, symbol: str) -> None:
        """Show ``symbol``: always starts from an empty chart (bars, quote and levels cleared)."""
        self._symbol = _symbol_key(symbol)
        self._no_data_reason = ""
        self.clear()

    def set_no_data(self, reason: str) -> None:
        """The broker has nothing for this symbol (unknown, no permission): say so and why."""
        self._no_data_reason = " ".join(reason.split())
        self._show_state()

    def add_bar(self, bar: Bar) -> None:
        """Add a completed bar; one with the time of a bar already shown replaces it (a revision).

        Bars are kept in time order even if history and live bars interleave, and completing a
        bar ends the forming candle that quotes were building.
        """
        if not self._symbol or _symbol_key(bar.symbol) != self._symbol:
            return
        candle = Candle(
            bar.time.timestamp(), float(bar.open), float(bar.high), float(bar.low), float(bar.close)
        )
        times = [c.t for c in self._candles]
        index = bisect.bisect_left(times, candle.t)
        if index < len(times) and times[index] == candle.t:
            self._candles[index] = candle
        else:
            self._candles.insert(index, candle)
        del self._candles[: max(len(self._candles) - self._max_bars, 0)]
        self._bars_item.set_candles(self._candles, self._bar_seconds())
        if self._candles[-1] is candle:
            self._forming = None
            self._forming_item.set_candles([], self._bar_seconds())
        if len(self._candles) == 1:
            self._show_state()

    def add_bars(self, bars: Iterable[Bar]) -> None:
        """``add_bar`` for many bars at once (a history load), drawn once: drawing after
        each bar re-renders every candle shown, n² for n bars (P2, issue 12)."""
        was_empty = not self._candles
        merged = {c.t: c for c in self._candles}
        added: list[Candle] = []
        for bar in bars:
            if not self._symbol or _symbol_key(bar.symbol) != self._symbol:
                continue
            candle = Candle(bar.time.timestamp(), float(bar.open), float(bar.high),
                            float(bar.low), float(bar.close))
            merged[candle.t] = candle
            added.append(candle)
        if not added:
            return
        self._candles = sorted(merged.values(), key=lambda c: c.t)[-self._max_bars:]
        self._bars_item.set_candles(self._candles, self._bar_seconds())
        if any(c is self._candles[-1] for c in added):
            self._forming = None
            self._forming_item.set_candles([], self._bar_seconds())
        if was_empty:
            self._show_state()

    def on_quote(self, quote: Quote) -> None:
        """Record a tick's last price; the drawing happens on the coalescing timer.

        A quote without a last trade (bid/ask only) is ignored: the "last" line is where the
        market traded, not a mid-price guess.
        """
        if not self._symbol or _symbol_key(quote.symbol) != self._symbol or quote.last is None:
            return
        price = float(quote.last)
        if not math.isfinite(price):
            return
        self._last = price
        self._last_text = formatting.price(quote.last)
        if self._forming is None:
            self._forming = Candle(self._forming_time(quote), price, price, price, price)
        else:
            self._forming.high = max(self._forming.high, price)
            self._forming.low = min(self._forming.low, price)
            self._forming.close = price
        if not self._redraw_timer.isActive():
            self._redraw_timer.start()

    def set_levels(
        self,
        entry: Decimal | None = None,
        stop: Decimal | None = None,
        activation: Decimal | None = None,
        trail: Decimal | None = None,
    ) -> None:
        """Show the trade's levels; every call sets all four, so an omitted one is hidden."""
        for name, value in zip(LEVEL_NAMES, (entry, stop, activation, trail), strict=True):
            line = self._level_lines[name]
            price = _to_float(value)
            self._levels[name] = price
            tag = self._tags[name]
            if price is None:
                line.setVisible(False)
                tag.setVisible(False)
                continue
            line.setVisible(True)
            line.setValue(price)
            tag.setText(f"{name} {formatting.price(value)}")
            tag.setVisible(True)
        self._place_tags()

    def apply_theme(self, look: theme.Theme | None = None) -> None:
        """Recolour for ``look`` (the current theme by default): a theme switch at runtime."""
        look = look or theme.current()
        self._plot.setBackground(look.chart_background)
        item = self._plot.getPlotItem()
        for name in ("right", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(look.chart_foreground))
            axis.setTextPen(pg.mkPen(look.chart_foreground))
        self._colours["last"] = look.last
        self._last_line.setPen(pg.mkPen(look.last, width=1, style=Qt.PenStyle.DotLine))
        for name, tag in self._tags.items():
            tag.setColor(look.chart_background)
            tag.fill = pg.mkBrush(self._colours[name])
            tag.update()
        self._empty.setStyleSheet(f"color: {look.chart_foreground}; font-size: 15px;"
                                  " background: transparent;")
        item.setTitle(self._symbol or "", color=look.chart_foreground)
        self._show_state()

    def set_fills(self, marks: list[FillMark]) -> None:
        """Mark these executions (already this symbol's): a triangle at each fill's price."""
        self._fills_item.set_marks(marks)

    def clear(self) -> None:
        """Drop bars, the forming candle, the last price, levels and fills; keep the symbol."""
        self._redraw_timer.stop()
        self._candles.clear()
        self._forming = None
        self._last = None
        self._bars_item.set_candles([], DEFAULT_BAR_SECONDS)
        self._forming_item.set_candles([], DEFAULT_BAR_SECONDS)
        self._fills_item.set_marks([])
        self._last_line.setVisible(False)
        self._tags["last"].setVisible(False)
        self.set_levels()
        self._update_title()
        self._show_state()
        self._plot.getPlotItem().enableAutoRange()

    # --- for tests and the rest of the UI ---------------------------------------------------

    def level_value(self, name: str) -> float | None:
        """The price a level line shows, or None when it is hidden; unknown names raise KeyError."""
        return self._levels[name]

    def label_text(self, name: str) -> str:
        """The tag of line ``name`` ("last" or a level), "" while it is hidden."""
        tag = self._tags[name]
        return tag.textItem.toPlainText() if tag.isVisible() else ""

    def label_rects(self) -> dict[str, QRectF]:
        """Scene rectangles of the visible tags (to check that none overlaps another)."""
        return {name: tag.sceneBoundingRect() for name, tag in self._tags.items()
                if tag.isVisible()}

    def fill_marks(self) -> list[FillMark]:
        return list(self._fills_item.marks)

    def empty_text(self) -> str:
        """What the chart says instead of a plot ("" when it shows data)."""
        return self._empty.text()

    def first_bar_time(self) -> float | None:
        """Epoch seconds of the oldest bar shown (fills before it are off the chart)."""
        return self._candles[0].t if self._candles else None

    def bar_count(self) -> int:
        return len(self._candles)

    def last_price(self) -> float | None:
        """The latest recorded last price (even if the coalesced redraw has not run yet)."""
        return self._last

    # --- internals --------------------------------------------------------------------------

    def _bar_seconds(self) -> float:
        """Bar spacing inferred from the two newest bars: the feed decides, not a setting."""
        if len(self._candles) >= 2:
            step = self._candles[-1].t - self._candles[-2].t
            if step > 0:
                return step
        return DEFAULT_BAR_SECONDS

    def _forming_time(self, quote: Quote) -> float:
        """Where the forming candle sits: one bar after the newest completed one.

        ``Bar.time`` is a bar's start, so the bar being formed starts one spacing later; with
        no bars yet, the quote's time floored to the assumed spacing stands in.
        """
        step = self._bar_seconds()
        if self._candles:
            return self._candles[-1].t + step
        return math.floor(quote.time.timestamp() / step) * step

    def _redraw_live(self) -> None:
        if self._last is None:
            return
        self._last_line.setVisible(True)
        self._last_line.setValue(self._last)
        tag = self._tags["last"]
        tag.setText(f"last {self._last_text}")
        tag.setVisible(True)
        forming = [self._forming] if self._forming is not None else []
        self._forming_item.set_candles(forming, self._bar_seconds())
        self._show_state()
        self._place_tags()

    def _has_data(self) -> bool:
        return bool(self._candles) or self._last is not None

    def _show_state(self) -> None:
        """Axes with data; otherwise a sentence instead of a meaningless 0-1 axis."""
        item = self._plot.getPlotItem()
        has_data = self._has_data()
        for name in ("right", "bottom"):
            axis = item.getAxis(name)
            axis.setStyle(showValues=has_data)
            axis.setTicks(None if has_data else [[], []])  # no tick marks on an empty view
        item.showGrid(x=has_data, y=has_data, alpha=theme.current().grid_alpha)
        if has_data:
            self._empty.setText("")
            self._empty.hide()
            return
        if not self._symbol:
            text = "no symbol: pick one in the watchlist"
        else:
            why = f": {self._no_data_reason}" if self._no_data_reason else ""
            text = f"no data for {self._symbol}{why}"
        self._empty.setText(text)
        self._empty.setWordWrap(True)
        self._empty.show()
        self._empty.raise_()
        self._fit_empty()

    def _fit_empty(self) -> None:
        self._empty.setGeometry(0, 0, self._plot.width(), self._plot.height())

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_empty()
        self._place_tags()

    def _on_range_changed(self, *_args: object) -> None:
        self._place_tags()

    def _place_tags(self) -> None:
        """Tags at the right edge at their prices, pushed apart where they would overlap."""
        shown = [name for name, tag in self._tags.items() if tag.isVisible()]
        if not shown:
            return
        view = self._plot.getPlotItem().getViewBox()
        (x_low, x_high), (y_low, y_high) = view.viewRange()
        pixel = view.viewPixelSize()[1] or 0.0
        height = max(self._tags[n].boundingRect().height() for n in shown)
        values = [self._lines[n].value() for n in shown]
        gap = (height + 2) * pixel if pixel > 0 else 0.0
        placed = spread_labels(values, gap, y_low + gap / 2, y_high - gap / 2)
        for name, y in zip(shown, placed, strict=True):
            self._tags[name].setPos(x_high, y)

    def _update_title(self) -> None:
        self._plot.getPlotItem().setTitle(self._symbol or "", color=theme.current()
                                          .chart_foreground)
