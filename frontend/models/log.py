"""LogModel: the log and alerts panel's lines, bounded to ``ui.log_max_lines``.

An unbounded log view is a slow leak: a session that runs all day would keep every tick
warning. Lines live in a deque; when it is full the oldest line leaves through
``beginRemoveRows`` before the new one enters through ``beginInsertRows``, so the view keeps
its scroll position and nothing is ever reset.

Each line has a level, and the levels the trader must act on (warnings, errors, alerts) are
what the panel's "alerts only" filter keeps (:func:`is_alert`).
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from PyQt6.QtCore import QAbstractTableModel, QModelIndex, QObject, Qt
from PyQt6.QtGui import QColor

from frontend.models.columns import AMBER, CENTER, GREY, RED, Column, clock, text
from frontend.models.table import KEY_ROLE, ROW_ROLE, SORT_ROLE


class Level(enum.Enum):
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"
    ALERT = "ALERT"


LEVEL_COLOURS: dict[Level, QColor] = {
    Level.DEBUG: GREY, Level.WARNING: AMBER, Level.ERROR: RED, Level.ALERT: RED}


@dataclass(frozen=True)
class LogEntry:
    level: Level
    source: str
    message: str
    time: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


def level_colour(value: Any, row: Mapping[str, Any]) -> QColor | None:
    return LEVEL_COLOURS.get(value)


LOG_COLUMNS: tuple[Column, ...] = (
    Column("time", "Time", clock, CENTER, width=8),
    Column("level", "Level", text, CENTER, level_colour, width=7),
    Column("source", "Source", width=10),
    Column("message", "Message", color=lambda v, row: LEVEL_COLOURS.get(row.get("level")),
           width=24, stretch=True),
)


def is_alert(row: Mapping[str, Any]) -> bool:
    """Proxy predicate for "alerts only": what the trader has to look at."""
    return row.get("level") in (Level.WARNING, Level.ERROR, Level.ALERT)


class LogModel(QAbstractTableModel):
    columns = LOG_COLUMNS

    def __init__(self, max_lines: int = 2000, parent: QObject | None = None) -> None:
        super().__init__(parent)
        if max_lines < 1:
            raise ValueError("the log must keep at least one line")
        self.max_lines = max_lines
        self.entries: deque[LogEntry] = deque()
        self._first_seq = 0  # sequence number of entries[0]: a stable key per line

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.columns)

    def headerData(self, section: int, orientation: Qt.Orientation,
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if (role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal
                and 0 <= section < len(self.columns)):
            return self.columns[section].title
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.entries):
            return None
        entry = self.entries[index.row()]
        row = {"time": entry.time, "level": entry.level, "source": entry.source,
               "message": entry.message}
        column = self.columns[index.column()]
        value = row[column.key]
        if role == Qt.ItemDataRole.DisplayRole:
            return column.fmt(value, row)
        if role == Qt.ItemDataRole.ToolTipRole and column.key == "message":
            return entry.message
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return column.align
        if role == Qt.ItemDataRole.ForegroundRole and column.color is not None:
            return column.color(value, row)
        if role == SORT_ROLE:
            return (self._first_seq + index.row()) if column.key == "time" else column.sort(
                value, row)
        if role == KEY_ROLE:
            return self._first_seq + index.row()
        if role == ROW_ROLE:
            return row
        return None

    def append(self, level: Level, source: str, message: str) -> LogEntry:
        entry = LogEntry(level, source, " ".join(str(message).split()))
        if len(self.entries) >= self.max_lines:
            self.beginRemoveRows(QModelIndex(), 0, 0)
            self.entries.popleft()
            self._first_seq += 1
            self.endRemoveRows()
        row = len(self.entries)
        self.beginInsertRows(QModelIndex(), row, row)
        self.entries.append(entry)
        self.endInsertRows()
        return entry

    def messages(self, level: Level | None = None) -> list[str]:
        return [e.message for e in self.entries if level is None or e.level is level]
