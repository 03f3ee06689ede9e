"""The chart's small parts: price axis text, label placement, fill markers.

Kept apart from ``chart.py`` because each is a rule of its own that tests read directly:

* **Price axis.** pyqtgraph's default tick text is for arbitrary floats ("00.250" ticks when
  the view is 0-1); a price axis writes prices, with the decimals the tick spacing needs.
* **Labels never overlap.** Each level line (entry, stop, activation, trail) and the last
  price has a tag at the right edge. A stop hugging the market or the trail riding just
  under the last put the tags on top of each other, so :func:`spread_labels` keeps them in
  price order and pushes neighbours apart by at least one tag height; the lines themselves
  stay exactly at their prices.
* **Fill markers.** A triangle at each execution (up, green: bought; down, red: sold), so a
  closed trade still shows where it went in and out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

import pyqtgraph as pg

BUY_COLOUR = "#2979ff"
SELL_COLOUR = "#ff9100"
"""Not the candles' green and red: a marker must stand out on the bar it sits on."""
MARK_OUTLINE = "#ffffff"


def price_decimals(spacing: float) -> int:
    """Decimals a tick spacing needs: 2 for a cent or more, more for sub-penny views."""
    if spacing <= 0 or not math.isfinite(spacing):
        return 2
    return max(2, min(6, math.ceil(-math.log10(spacing) - 1e-9)))


class PriceAxis(pg.AxisItem):
    """Tick labels as prices: ``101.25``, never ``00.250`` or ``1e+02``."""

    def tickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph's name
        places = price_decimals(spacing * scale)
        return [f"{v * scale:.{places}f}" for v in values]


def spread_labels(values: Sequence[float], gap: float,
                  low: float | None = None, high: float | None = None) -> list[float]:
    """Where each label goes so that no two are closer than ``gap``; in input order.

    Labels keep the order of their values (the highest price's tag stays on top) and move
    as little as needed: from the top down each is put at its value or one ``gap`` under
    the one above. If that runs below ``low`` the whole stack is lifted, never above
    ``high``. With room to spare every label sits exactly at its value.
    """
    if not values:
        return []
    order = sorted(range(len(values)), key=lambda i: values[i], reverse=True)
    placed: dict[int, float] = {}
    previous: float | None = None
    for i in order:
        y = values[i] if previous is None else min(values[i], previous - gap)
        placed[i] = previous = y
    if low is not None and previous is not None and previous < low:
        lift = low - previous
        if high is not None:
            top = placed[order[0]]
            lift = min(lift, max(high - top, 0.0))
        for i in placed:
            placed[i] += lift
    return [placed[i] for i in range(len(values))]


@dataclass(frozen=True)
class FillMark:
    """One execution on the chart: epoch seconds, price, and whether it bought."""

    t: float
    price: Decimal
    bought: bool


class FillMarkers(pg.ScatterPlotItem):
    """Triangles at fills: up and green below a buy, down and red above a sell."""

    def __init__(self) -> None:
        super().__init__(size=14, pxMode=True)
        self.marks: list[FillMark] = []

    def set_marks(self, marks: Sequence[FillMark]) -> None:
        self.marks = list(marks)
        spots = [{
            "pos": (m.t, float(m.price)),
            "symbol": "t1" if m.bought else "t",
            "brush": pg.mkBrush(BUY_COLOUR if m.bought else SELL_COLOUR),
            "pen": pg.mkPen(MARK_OUTLINE, width=1),
        } for m in self.marks]
        self.setData(spots)
