"""FilteredTable: a table view over a ``TableProxy`` with a filter box above it.

One widget for the orders, positions, executions and log tables, so they all sort by
clicking a header, filter by typing, and report selections by row *key* (order id, symbol),
which stays valid while rows move under sorting and updates.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLineEdit,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from frontend.models.proxy import TableProxy
from frontend.models.table import ROW_ROLE


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
        self.view.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents)
        self.view.horizontalHeader().setStretchLastSection(True)
        self.view.setAlternatingRowColors(True)
        self.view.selectionModel().currentRowChanged.connect(self._on_current)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText(placeholder)
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self.proxy.set_text_filter)
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

    def add_widget(self, widget: QWidget) -> None:
        """Put ``widget`` (e.g. an action button) next to the filter box."""
        self.bar.addWidget(widget)

    def _on_current(self, current, _previous) -> None:
        if current.isValid():
            self.row_selected.emit(self.proxy.data(current, ROW_ROLE))

    def visible_keys(self) -> list[Any]:
        """Keys in the order the view shows them (after sorting and filtering)."""
        return [self.proxy.key_at(r) for r in range(self.proxy.rowCount())]
