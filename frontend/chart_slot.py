"""The chart's place in the window before pyqtgraph is loaded, and the swap to the real one.

Why: pyqtgraph (with numpy under it) is the largest import of the window, about a third of
a second, and the first frame does not need it: the trader first sees the tables, the
connection bar and the log. ``sigma9`` therefore builds the window around a
:class:`PendingChart` (a "loading chart…" label that remembers the symbol and ignores
bars, quotes and levels), shows it, connects, and only then calls :func:`install_chart`,
which imports the chart, puts it in the placeholder's place and hands it to the
``ChartPanel``, which loads the symbol's history and levels into it (issue 12, start-up).
Nothing is lost meanwhile: the history is fetched once the real chart is there, and the
levels are recomputed from the OMS's state.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QSizePolicy, QWidget


class PendingChart(QLabel):
    """Stands in for ``ChartWidget`` until it is loaded: the same calls, nothing drawn."""

    pending = True

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("loading chart…", parent)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Take the room the chart will take (a QLabel's own policy would let the docks
        # claim it at first show, and the real chart would then get a sliver; H7).
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self._symbol = ""

    @property
    def symbol(self) -> str:
        return self._symbol

    def set_symbol(self, symbol: str) -> None:
        self._symbol = symbol.strip().upper()

    def first_bar_time(self) -> float | None:
        return None

    def bar_count(self) -> int:
        return 0

    def _ignore(self, *_args: Any, **_kwargs: Any) -> None:
        """Bars, quotes, levels and fills before the chart exists: the real chart gets
        them from the broker's history and the OMS's state when it is installed."""

    add_bar = add_bars = on_quote = set_levels = set_fills = set_no_data = _ignore
    apply_theme = _ignore


def is_pending(chart: Any) -> bool:
    return bool(getattr(chart, "pending", False))


def install_chart(window: Any) -> Any:
    """Build the real chart in the placeholder's place (idempotent); returns the chart."""
    if not is_pending(window.chart):
        return window.chart
    from frontend.widgets.chart import ChartWidget  # pyqtgraph: here, not at start-up

    chart = ChartWidget(window)
    window.setCentralWidget(chart)  # Qt deletes the placeholder
    window.chart = chart
    relayout = getattr(window, "first_run_layout", None)
    if callable(relayout):
        relayout()  # the docks give the new chart its room back (H7)
    window.chart_panel.attach(chart)
    return chart
