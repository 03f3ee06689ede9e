"""FilteredTable: a table view over a ``TableProxy`` with a filter box above it.

One widget for the orders, positions, executions and log tables, so they all sort by
clicking a header, filter by typing, and report selections by row *key* (order id, symbol),
which stays valid while rows move under sorting and updates.

Column widths are computed once from each column's declared width in characters
(``Column.width``), not by ``ResizeToContents``: that mode measures every row again on
every change, which costs the most exactly when the market is busiest, and it let a raw
average cost push the protection column off screen. The sentence column (``stretch``) takes
the room left, and the trader can still drag any border. A model with ``totals()`` gets a
totals line under the table (the positions' day P&L), refreshed with the model's repaints.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PyQt6.QtCore import Qt, QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from frontend.models.proxy import TableProxy
from frontend.models.table import ROW_ROLE

CELL_PADDING_PX = 22
"""Room for the cell margins and the sort arrow around the text."""
ROW_PADDING_PX = 6


class FilteredTable(QWidget):
    row_selected = pyqtSignal(object)  # the selected row's values (a dict)

    def __init__(self, model, placeholder: str = "filter",
                 toggle: tuple[str, Callable[[Mapping[str, Any]], bool]] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.proxy = TableProxy(model, self)
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(22)
        self.size_columns()
        self._lines_of = getattr(model, "lines_of", None)
        # Lines are the model's own (one per leg): never wrapped, so a row's height holds.
        self.view.setWordWrap(False)
        if callable(self._lines_of):
            self._rows_timer = QTimer(self)
            self._rows_timer.setSingleShot(True)
            self._rows_timer.setInterval(0)
            self._rows_timer.timeout.connect(self.fit_rows)
            for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved,
                           self.proxy.layoutChanged, self.proxy.modelReset,
                           self.proxy.dataChanged):
                signal.connect(self._rows_changed)
        self.view.setAlternatingRowColors(True)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(placeholder)
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text_filter)
        # New rows stay in view: while the trader is at the bottom, the view follows them
        # (on the scroll bar's range change, after the rows are laid out); scrolling up to
        # read stops that until the bottom is reached again.
        self.following = True
        scroll = self.view.verticalScrollBar()
        scroll.valueChanged.connect(self._on_scroll)
        scroll.rangeChanged.connect(self._on_range)
        self.toggle: QCheckBox | None = None
        self.bar = bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.filter_edit, 1)
        if toggle is not None:
            label, predicate = toggle
            self.toggle = QCheckBox(label)
            self.toggle.toggled.connect(
                lambda on: self.proxy.set_predicate(predicate if on else None))
            bar.addWidget(self.toggle)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addLayout(bar)
        layout.addWidget(self.view)
        self.totals_label: QLabel | None = None
        if callable(getattr(model, "totals", None)):
            self._add_totals(layout)

    def size_columns(self) -> None:
        """Each column at its declared width (characters of digits) or its title's."""
        header = self.view.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        metrics = self.view.fontMetrics()
        digit = metrics.horizontalAdvance("0")
        title_metrics = header.fontMetrics()
        self._stretch: tuple[int, int] | None = None
        for index, column in enumerate(getattr(self.model, "columns", ())):
            title = max((title_metrics.horizontalAdvance(line)
                         for line in column.title.split("\n")), default=0)
            width = max(title, column.width * digit) + CELL_PADDING_PX
            header.resizeSection(index, width)
            if column.stretch:
                self._stretch = (index, width)
        self._fit_stretch()

    def _on_scroll(self, value: int) -> None:
        self.following = value >= self.view.verticalScrollBar().maximum() - 2

    def _on_range(self, _minimum: int, maximum: int) -> None:
        if self.following:
            self.view.verticalScrollBar().setValue(maximum)

    def _rows_changed(self, *_args: object) -> None:
        self._rows_timer.start()

    def fit_rows(self) -> None:
        """Each row as tall as its lines (a position: one line per exit leg).

        Set from the model's count, never measured (``resizeRowsToContents`` would lay out
        every cell again on every tick); re-applied when rows move under sorting.
        """
        header = self.view.verticalHeader()
        line = self.view.fontMetrics().lineSpacing()
        for proxy_row in range(self.proxy.rowCount()):
            row = self.proxy.data(self.proxy.index(proxy_row, 0), ROW_ROLE) or {}
            lines = max(int(self._lines_of(row)), 1)
            height = max(22, lines * line + ROW_PADDING_PX) if lines > 1 else 22
            if header.sectionSize(proxy_row) != height:
                header.resizeSection(proxy_row, height)

    def _fit_stretch(self) -> None:
        """The sentence column takes the room left, but never less than its own width.

        (Qt's Stretch mode would squeeze it to a few pixels in a narrow dock and scroll the
        sentence out of view instead of the numbers.)
        """
        if self._stretch is None:
            return
        index, minimum = self._stretch
        header = self.view.horizontalHeader()
        others = sum(header.sectionSize(i) for i in range(header.count())
                     if i != index and not header.isSectionHidden(i))
        header.resizeSection(index, max(minimum, self.view.viewport().width() - others))

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        super().resizeEvent(event)
        self._fit_stretch()

    def _add_totals(self, layout: QVBoxLayout) -> None:
        self.totals_label = QLabel()
        self.totals_label.setObjectName("totals")
        layout.addWidget(self.totals_label)
        self._totals_timer = QTimer(self)
        self._totals_timer.setSingleShot(True)
        self._totals_timer.setInterval(0)
        self._totals_timer.timeout.connect(self.refresh_totals)
        for signal in (self.model.dataChanged, self.model.rowsInserted,
                       self.model.rowsRemoved, self.model.modelReset):
            signal.connect(self._totals_changed)
        self.refresh_totals()

    def _totals_changed(self, *_args: object) -> None:
        self._totals_timer.start()  # coalesced: one recount per burst of row changes

    def refresh_totals(self) -> None:
        if self.totals_label is not None:
            self.totals_label.setText(self.model.totals().text())

    def add_widget(self, widget: QWidget) -> None:
        """Put ``widget`` (e.g. an action button) next to the filter box."""
        self.bar.addWidget(widget)

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self.row_selected.emit(self.proxy.data(current, ROW_ROLE))

    def visible_keys(self) -> list[Any]:
        """Keys in the order the view shows them (after sorting and filtering)."""
        return [self.proxy.key_at(r) for r in range(self.proxy.rowCount())]
