"""Sorting and filtering for every table, in one QSortFilterProxyModel.

The source models never reorder their rows (their key -> row index must stay cheap and
stable); the views look at them through this proxy. Sorting compares each column's
``sort`` value in Python, because those values are Decimals, datetimes and tuples (the
Orders table sorts a leg under its entry by ``(entry id, leg rank)``) that Qt's QVariant
comparison cannot order. Filtering is a case-insensitive text match over every column,
optionally narrowed by a row predicate ("working orders only", "alerts only").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PyQt6.QtCore import QModelIndex, QObject, QSortFilterProxyModel, Qt

from frontend.models.columns import sortable
from frontend.models.table import KEY_ROLE, ROW_ROLE, SORT_ROLE, KeyedTableModel

RowPredicate = Callable[[Mapping[str, Any]], bool]


class TableProxy(QSortFilterProxyModel):
    def __init__(self, source: KeyedTableModel, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setSourceModel(source)
        self.setSortRole(SORT_ROLE)
        self.setFilterKeyColumn(-1)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)
        self._predicate: RowPredicate | None = None

    def set_text_filter(self, text: str) -> None:
        self.setFilterFixedString(text.strip())

    def set_predicate(self, predicate: RowPredicate | None) -> None:
        """Show only rows for which ``predicate(row)`` is true (None shows every row)."""
        self.beginFilterChange()  # Qt 6.9+: replaces the deprecated invalidateFilter()
        self._predicate = predicate
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def multiData(self, index: QModelIndex, roleDataSpan: Any) -> None:  # noqa: N802, N803
        """Every role a painted cell needs in one call to the source (``cell_roles``),
        not one ``data`` call per role: a repaint's cost is mostly these calls (P2)."""
        cell_roles = getattr(self.sourceModel(), "cell_roles", None)
        if cell_roles is None or not index.isValid():
            super().multiData(index, roleDataSpan)
            return
        source = self.mapToSource(index)
        items = list(roleDataSpan)
        values = cell_roles(source.row(), source.column(), [item.role() for item in items])
        for item, value in zip(items, values, strict=True):
            item.setData(value)

    def lessThan(self, left: QModelIndex, right: QModelIndex) -> bool:
        a = self.sourceModel().data(left, SORT_ROLE)
        b = self.sourceModel().data(right, SORT_ROLE)
        return sortable(a) < sortable(b)

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:
        if self._predicate is not None:
            row = self.sourceModel().data(self.sourceModel().index(source_row, 0), ROW_ROLE)
            if row is None or not self._predicate(row):
                return False
        return super().filterAcceptsRow(source_row, source_parent)

    def key_at(self, row: int) -> Any:
        """The source key of proxy row ``row``."""
        return self.data(self.index(row, 0), KEY_ROLE)
