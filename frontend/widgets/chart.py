"""The chart of the selected symbol: candles, the live last price and the trade's exit levels.

The trader watches this to see where a position's entry, safety stop, trail-activation price and
live trail sit against the tape, so the levels are plain horizontal lines with their names on
them and the candles are deliberately unadorned.

Design choices:

* **Decimal stops at the boundary.** Models carry ``Decimal`` (a stop sits on the tick grid);
  pyqtgraph wants floats. Conversion happens once, in the public methods, and labels show the
  ``Decimal``'s own text so the trader reads exactly the price that went to the broker.
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
from dataclasses import dataclass
from decimal import Decimal

import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF, Qt, QTimer
from PyQt6.QtGui import QPainter, QPicture
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from backend.core.models import Bar, Quote

REDRAW_MS = 100
"""Quote redraws are coalesced to at most one per this many milliseconds (10 Hz is plenty)."""

DEFAULT_BAR_SECONDS = 60.0
"""Bar spacing assumed until two bars reveal the real one (used for candle width only)."""

BODY_FRACTION = 0.7
"""Candle body width as a fraction of the bar spacing, leaving a gap between candles."""

RIGHT_MARGIN = 0.15
"""Empty space right of the newest bar, as a fraction of the time span: room for the forming
candle and the line labels, which would otherwise sit on top of the latest candles."""

BACKGROUND = "#131722"
FOREGROUND = "#b2b5be"
GRID_ALPHA = 0.12
UP_COLOUR = "#26a69a"
DOWN_COLOUR = "#ef5350"
LAST_COLOUR = "#d1d4dc"

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


@dataclass
class _Candle:
    """One candle in chart units: epoch seconds and float prices."""

    t: float
    open: float
    high: float
    low: float
    close: float


class CandlestickItem(pg.GraphicsObject):
    """Candles recorded into a ``QPicture``: replaying a recording keeps panning smooth.

    ``dataBounds`` is implemented (not just ``boundingRect``) so the view can fit the y range to
    the candles actually visible, which is what a trader expects after scrolling back.
    """

    def __init__(self, right_margin: float = 0.0) -> None:
        super().__init__()
        self._right_margin = right_margin
        self._candles: list[_Candle] = []
        self._width = DEFAULT_BAR_SECONDS * BODY_FRACTION
        self._picture = QPicture()
        self._up_pen = pg.mkPen(UP_COLOUR)
        self._down_pen = pg.mkPen(DOWN_COLOUR)
        self._up_brush = pg.mkBrush(UP_COLOUR)
        self._down_brush = pg.mkBrush(DOWN_COLOUR)

    def set_candles(self, candles: list[_Candle], bar_seconds: float) -> None:
        self.prepareGeometryChange()
        self._candles = list(candles)
        self._width = bar_seconds * BODY_FRACTION
        self._picture = QPicture()
        painter = QPainter(self._picture)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        half = self._width / 2
        for c in self._candles:
            up = c.close >= c.open
            painter.setPen(self._up_pen if up else self._down_pen)
            painter.setBrush(self._up_brush if up else self._down_brush)
            painter.drawLine(QPointF(c.t, c.low), QPointF(c.t, c.high))
            painter.drawRect(QRectF(c.t - half, c.open, self._width, c.close - c.open))
        painter.end()
        self.update()

    def candle_count(self) -> int:
        return len(self._candles)

    def paint(self, painter, *args) -> None:
        painter.drawPicture(0, 0, self._picture)

    def boundingRect(self) -> QRectF:
        # Computed from the data: QPicture.boundingRect() is an integer QRect, which would clip
        # a candle whose whole range lies between two whole dollars.
        if not self._candles:
            return QRectF()
        half = self._width / 2
        left = self._candles[0].t - half
        right = self._candles[-1].t + half
        low = min(c.low for c in self._candles)
        high = max(c.high for c in self._candles)
        return QRectF(left, low, right - left, high - low)

    def dataBounds(self, axis, frac=1.0, orthoRange=None):
        if not self._candles:
            return None
        half = self._width / 2
        if axis == 0:
            left, right = self._candles[0].t - half, self._candles[-1].t + half
            margin = max((right - left) * self._right_margin, 2 * half) if self._right_margin else 0
            return (left, right + margin)
        shown = self._candles
        if orthoRange is not None:
            lo, hi = orthoRange
            shown = [c for c in self._candles if lo - half <= c.t <= hi + half]
        if not shown:
            return None
        return (min(c.low for c in shown), max(c.high for c in shown))


class ChartWidget(QWidget):
    """Candlestick chart of one symbol with last-price, entry, stop, activation and trail lines.

    Feed it with ``set_symbol``, ``add_bar`` (completed bars), ``on_quote`` (live ticks) and
    ``set_levels``; bars and quotes for any other symbol are ignored, so callers can forward a
    shared feed without filtering it first.
    """

    def __init__(self, parent: QWidget | None = None, max_bars: int = 500) -> None:
        super().__init__(parent)
        if max_bars < 1:
            raise ValueError(f"max_bars must be at least 1, got {max_bars}")
        self._max_bars = max_bars
        self._symbol = ""
        self._candles: list[_Candle] = []
        self._last: float | None = None
        self._last_text = ""
        self._forming: _Candle | None = None
        self._levels: dict[str, float | None] = dict.fromkeys(LEVEL_NAMES)

        self._plot = pg.PlotWidget(
            background=BACKGROUND, axisItems={"bottom": pg.DateAxisItem(orientation="bottom")}
        )
        # Antialiasing on this view only: pg.setConfigOptions would change every plot in the
        # process, including ones other widgets own.
        self._plot.setAntialiasing(True)
        item = self._plot.getPlotItem()
        item.hideAxis("left")
        item.showAxis("right")  # prices on the right, as on every trading terminal
        for name in ("right", "bottom"):
            axis = item.getAxis(name)
            axis.setPen(pg.mkPen(FOREGROUND))
            axis.setTextPen(pg.mkPen(FOREGROUND))
        item.showGrid(x=True, y=True, alpha=GRID_ALPHA)
        item.setMenuEnabled(False)
        item.hideButtons()
        view = item.getViewBox()
        view.setAutoVisible(y=True)  # fit prices to the visible bars, not to all history

        self._bars_item = CandlestickItem(right_margin=RIGHT_MARGIN)
        self._forming_item = CandlestickItem()
        self._forming_item.setOpacity(0.6)  # still moving: visibly provisional
        item.addItem(self._bars_item)
        item.addItem(self._forming_item)

        # Level labels sit above their lines and the "last" tag below its own, so a stop hugging
        # the market stays readable.
        self._last_line = self._make_line("last", LAST_COLOUR, Qt.PenStyle.DotLine, below=True)
        self._level_lines = {
            name: self._make_line(name, colour, Qt.PenStyle.DashLine, below=False)
            for name, colour in LEVEL_COLOURS.items()
        }
        for line in (self._last_line, *self._level_lines.values()):
            item.addItem(line)

        self._redraw_timer = QTimer(self)
        self._redraw_timer.setSingleShot(True)
        self._redraw_timer.setInterval(REDRAW_MS)
        self._redraw_timer.timeout.connect(self._redraw_live)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._plot)
        self._update_title()

    @staticmethod
    def _make_line(name: str, colour: str, style: Qt.PenStyle, below: bool) -> pg.InfiniteLine:
        # Hidden until it has a value; a hidden line is also left out of the auto-range.
        anchor = (1, 0) if below else (1, 1)  # text's top-right or bottom-right on the line
        line = pg.InfiniteLine(
            angle=0,
            movable=False,
            pen=pg.mkPen(colour, width=1, style=style),
            label=name,
            labelOpts={"position": 0.98, "color": colour, "anchors": [anchor, anchor]},
        )
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
        self.clear()

    def add_bar(self, bar: Bar) -> None:
        """Add a completed bar; one with the time of a bar already shown replaces it (a revision).

        Bars are kept in time order even if history and live bars interleave, and completing a
        bar ends the forming candle that quotes were building.
        """
        if not self._symbol or _symbol_key(bar.symbol) != self._symbol:
            return
        candle = _Candle(
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
        self._last_text = str(quote.last)
        if self._forming is None:
            self._forming = _Candle(self._forming_time(quote), price, price, price, price)
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
            if price is None:
                line.setVisible(False)
                continue
            # Shown first: a hidden label ignores text and value changes and would show stale text.
            line.setVisible(True)
            line.setValue(price)
            line.label.setFormat(f"{name} {value}")

    def clear(self) -> None:
        """Drop bars, the forming candle, the last price and the levels; keep the symbol."""
        self._redraw_timer.stop()
        self._candles.clear()
        self._forming = None
        self._last = None
        self._bars_item.set_candles([], DEFAULT_BAR_SECONDS)
        self._forming_item.set_candles([], DEFAULT_BAR_SECONDS)
        self._last_line.setVisible(False)
        self.set_levels()
        self._update_title()
        self._plot.getPlotItem().enableAutoRange()

    # --- for tests and the rest of the UI ---------------------------------------------------

    def level_value(self, name: str) -> float | None:
        """The price a level line shows, or None when it is hidden; unknown names raise KeyError."""
        return self._levels[name]

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
        self._last_line.label.setFormat(f"last {self._last_text}")
        forming = [self._forming] if self._forming is not None else []
        self._forming_item.set_candles(forming, self._bar_seconds())

    def _update_title(self) -> None:
        self._plot.getPlotItem().setTitle(self._symbol or "no symbol", color=FOREGROUND)
