"""Candles for the chart, recorded into a ``QPicture`` (the pyqtgraph candlestick idiom).

Completed bars are pictured once per bar, so panning replays a recording instead of
re-drawing ``max_bars`` rectangles; the forming candle is a separate one-candle item for the
same reason. Chart units: epoch seconds on x (what ``DateAxisItem`` reads) and float prices.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyqtgraph as pg
from PyQt6.QtCore import QPointF, QRectF
from PyQt6.QtGui import QPainter, QPicture

DEFAULT_BAR_SECONDS = 60.0
"""Bar spacing assumed until two bars reveal the real one (used for candle width only)."""

BODY_FRACTION = 0.7
"""Candle body width as a fraction of the bar spacing, leaving a gap between candles."""

UP_COLOUR = "#26a69a"
DOWN_COLOUR = "#ef5350"


@dataclass
class Candle:
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
        self._candles: list[Candle] = []
        self._width = DEFAULT_BAR_SECONDS * BODY_FRACTION
        self._picture = QPicture()
        self._up_pen = pg.mkPen(UP_COLOUR)
        self._down_pen = pg.mkPen(DOWN_COLOUR)
        self._up_brush = pg.mkBrush(UP_COLOUR)
        self._down_brush = pg.mkBrush(DOWN_COLOUR)

    def set_candles(self, candles: list[Candle], bar_seconds: float) -> None:
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


