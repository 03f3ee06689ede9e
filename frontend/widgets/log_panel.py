"""LogPanel: the log and alerts panel over the bounded ``LogModel``.

It follows new lines only while the trader is at the bottom (``FilteredTable``, as every
table does): scrolling up to read an alert must not be undone by the next message.
Following is done on the scroll bar's range change (after the view has laid out the new
rows), not on row insertion, when the range is stale.
"Alerts only" keeps the lines to act on (warnings, errors, alerts), e.g. refused signals and
broker errors with their reasons.
"""

from __future__ import annotations

from PyQt6.QtWidgets import QWidget

from frontend.models.log import LogModel, is_alert
from frontend.widgets.table_view import FilteredTable


class LogPanel(FilteredTable):
    def __init__(self, model: LogModel, parent: QWidget | None = None) -> None:
        super().__init__(model, "filter the log", ("Alerts only", is_alert), parent)
        self.view.setSortingEnabled(False)  # a log reads in arrival order
        self.proxy.sort(-1)
        self.view.setWordWrap(False)  # following new lines: FilteredTable
