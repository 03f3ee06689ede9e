"""KeyedTableModel: rows addressed by key, changed in place, repainted as little as possible.

Broker events arrive one order/fill/position at a time, often many per second. Rebuilding a
table per event (``QTableWidget`` churn, or ``beginResetModel``) loses the selection and the
scroll position and repaints everything. Instead this model keeps:

* ``keys``: the row order (insertion order; sorting is the proxy's job),
* ``index_of``: key -> row, so an update finds its row without a scan,
* ``rows``: the cached cell values of each row, compared before anything is emitted.

A new key is a structural change (``beginInsertRows``); a changed row emits ONE
``dataChanged`` spanning its columns; an unchanged row emits nothing. Tick-driven cells
(last price, unrealized P&L) are staged with :meth:`stage` and applied by a single-shot QTimer
every ``repaint_ms``, so a symbol ticking 20 times a second costs at most one repaint per
interval, and the latest value wins.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt, QTimer

from frontend.models.columns import Column

SORT_ROLE = Qt.ItemDataRole.UserRole + 1
"""The proxy sorts by this role: a column's ``sort`` value, not its display text."""
KEY_ROLE = Qt.ItemDataRole.UserRole + 2
"""The row's key: selections are restored by key, never by row number."""
ROW_ROLE = Qt.ItemDataRole.UserRole + 3
"""The whole cached row (a dict), for views that act on a selection."""
_DISPLAY = int(Qt.ItemDataRole.DisplayRole)
_ALIGN = int(Qt.ItemDataRole.TextAlignmentRole)
_FOREGROUND = int(Qt.ItemDataRole.ForegroundRole)
_UNUSED = frozenset(int(r) for r in (Qt.ItemDataRole.FontRole, Qt.ItemDataRole.CheckStateRole,
                                     Qt.ItemDataRole.DecorationRole,
                                     Qt.ItemDataRole.BackgroundRole))
"""Roles a painted cell is asked for that these tables never set."""


class KeyedTableModel(QAbstractTableModel):
    columns: tuple[Column, ...] = ()

    def __init__(self, parent: QObject | None = None, repaint_ms: int = 150) -> None:
        super().__init__(parent)
        self.keys: list[Hashable] = []
        self.index_of: dict[Hashable, int] = {}
        self.rows: dict[Hashable, dict[str, Any]] = {}
        self._column_of = {c.key: i for i, c in enumerate(self.columns)}
        self._staged: dict[Hashable, dict[str, Any]] = {}
        self._repaint = QTimer(self)
        self._repaint.setSingleShot(True)
        self._repaint.setInterval(repaint_ms)
        self._repaint.timeout.connect(self.flush)

    # -- Qt model interface ------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.keys)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.columns):
            return None
        column = self.columns[section]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.title
        if role == Qt.ItemDataRole.ToolTipRole and column.tooltip:
            return column.tooltip
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.keys):
            return None
        key = self.keys[index.row()]
        row = self.rows[key]
        column = self.columns[index.column()]
        value = row.get(column.key)
        if role == Qt.ItemDataRole.DisplayRole:
            return column.fmt(value, row)
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return column.align
        if role == Qt.ItemDataRole.ForegroundRole and column.color is not None:
            return column.color(value, row)
        if role == SORT_ROLE:
            return column.sort(value, row)
        if role == KEY_ROLE:
            return key
        if role == ROW_ROLE:
            return dict(row)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.tooltip(row, column)
        return None

    def tooltip(self, row: Mapping[str, Any], column: Column) -> str | None:
        return None

    def cell_roles(self, row: int, column: int, roles: Sequence[int]) -> list[Any]:
        """``data`` for several roles of one cell in one call (``TableProxy.multiData``).

        Painting a cell asks for seven roles (font, alignment, colour, check state, icon,
        text, background): through ``data`` that is seven calls into Python per cell, plus
        the index checks of each, so a full repaint of a table (every row insert causes one)
        cost about 15 ms. One call per cell makes it a fraction of that, at any row count.
        """
        if type(self).data is not KeyedTableModel.data:  # a subclass answers roles itself
            index = self.index(row, column)
            return [self.data(index, role) for role in roles]
        if not (0 <= row < len(self.keys) and 0 <= column < len(self.columns)):
            return [None] * len(roles)
        values = self.rows[self.keys[row]]
        spec = self.columns[column]
        value = values.get(spec.key)
        out: list[Any] = []
        for role in roles:
            if role == _DISPLAY:
                out.append(spec.fmt(value, values))
            elif role == _ALIGN:
                out.append(spec.align)
            elif role == _FOREGROUND:
                out.append(spec.color(value, values) if spec.color is not None else None)
            elif role in _UNUSED:
                out.append(None)
            else:
                out.append(self.data(self.index(row, column), role))
        return out

    # -- changes ------------------------------------------------------------------------
    def upsert(self, key: Hashable, values: Mapping[str, Any]) -> bool:
        """Insert ``key`` or merge ``values`` into its row; True if anything changed."""
        at = self.index_of.get(key)
        if at is None:
            row = len(self.keys)
            self.beginInsertRows(QModelIndex(), row, row)
            self.keys.append(key)
            self.index_of[key] = row
            self.rows[key] = dict(values)
            self.endInsertRows()
            return True
        current = self.rows[key]
        changed = {k: v for k, v in values.items() if current.get(k, _MISSING) != v}
        if not changed:
            return False
        current.update(changed)
        self._row_changed(at)
        return True

    def remove(self, key: Hashable) -> bool:
        at = self.index_of.get(key)
        if at is None:
            return False
        self.beginRemoveRows(QModelIndex(), at, at)
        del self.keys[at]
        del self.rows[key]
        self._staged.pop(key, None)
        self.index_of = {k: i for i, k in enumerate(self.keys)}
        self.endRemoveRows()
        return True

    def sync(self, rows: Mapping[Hashable, Mapping[str, Any]], drop_missing: bool = False) -> None:
        """Apply a full snapshot: upsert each row; with ``drop_missing``, remove the others."""
        for key, values in rows.items():
            self.upsert(key, values)
        if drop_missing:
            for key in [k for k in self.keys if k not in rows]:
                self.remove(key)

    def clear(self) -> None:
        self.beginResetModel()
        self.keys.clear()
        self.index_of.clear()
        self.rows.clear()
        self._staged.clear()
        self.endResetModel()

    def stage(self, key: Hashable, values: Mapping[str, Any]) -> None:
        """Queue a tick-driven change; applied (latest wins) on the next repaint."""
        if key not in self.index_of:
            return
        self._staged.setdefault(key, {}).update(values)
        if not self._repaint.isActive():
            self._repaint.start()

    def flush(self) -> None:
        """Apply staged tick changes: one ``dataChanged`` per row that really changed."""
        staged, self._staged = self._staged, {}
        for key, values in staged.items():
            at = self.index_of.get(key)
            if at is None:
                continue
            current = self.rows[key]
            changed = {k: v for k, v in values.items() if current.get(k, _MISSING) != v}
            if changed:
                current.update(changed)
                self._row_changed(at)

    def _row_changed(self, at: int) -> None:
        self.dataChanged.emit(self.index(at, 0), self.index(at, len(self.columns) - 1))

    # -- reading ---------------------------------------------------------------------------
    def row(self, key: Hashable) -> dict[str, Any] | None:
        return self.rows.get(key)

    def column_index(self, key: str) -> int:
        return self._column_of[key]

    def values(self, column_key: str) -> Iterable[Any]:
        return (self.rows[k].get(column_key) for k in self.keys)


class _Missing:
    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return "<missing>"


_MISSING = _Missing()
