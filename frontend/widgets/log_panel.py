"""LogPanel: the log and alerts panel over the bounded ``LogModel``.

It follows new lines only while the trader is at the bottom: scrolling up to read an alert
must not be undone by the next tick's message. "Alerts only" keeps the lines to act on
(warnings, errors, alerts), e.g. refused signals and broker errors with their reasons.
"""

from __future__ import annotations

from PyQt6.QtCore import QModelIndex
from PyQt6.QtWidgets import QWidget

from frontend.models.log import LogModel, is_alert
from frontend.widgets.table_view import FilteredTable


class LogPanel(FilteredTable):
    def __init__(self, model: LogModel, parent: QWidget | None = None) -> None:
        super().__init__(model, "filter the log", ("Alerts only", is_alert), parent)
        self.view.setSortingEnabled(False)  # a log reads in arrival order
        self.proxy.sort(-1)
        self.view.setWordWrap(False)
        self._follow = True
        self.view.verticalScrollBar().valueChanged.connect(self._on_scroll)
        self.proxy.rowsInserted.connect(self._on_rows)

    def _on_scroll(self, value: int) -> None:
        bar = self.view.verticalScrollBar()
        self._follow = value >= bar.maximum() - 2

    def _on_rows(self, _parent: QModelIndex, _first: int, _last: int) -> None:
        if self._follow:
            self.view.scrollToBottom()
