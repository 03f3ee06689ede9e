"""Columns as data: what a table shows, how each cell is formatted, aligned and coloured.

A table is a tuple of ``Column``s, so adding a column is one line and every model formats,
aligns and colours its cells the same way (vnpy's declarative monitors, without a cell class
per type). Formatters and colourers are plain functions of ``(value, row)``: they can be unit
tested without Qt models, and a cell never needs to know which table it is in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QColor

from backend.core.models import LegRole, OrderStatus, Side
from frontend import formatting

Row = Mapping[str, Any]
Formatter = Callable[[Any, Row], str]
Colourer = Callable[[Any, Row], "QColor | None"]

LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
CENTER = Qt.AlignmentFlag.AlignCenter

GREEN = QColor("#1b9e4b")
RED = QColor("#d32f2f")
AMBER = QColor("#c77800")
GREY = QColor("#8a8a8a")
BLUE = QColor("#1565c0")


def text(value: Any, row: Row) -> str:
    if value is None:
        return ""
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def price(value: Any, row: Row) -> str:
    """On the instrument's tick (``formatting.price``): 426.89, never 426.88724137931035."""
    return formatting.price(value)


def amount(value: Any, row: Row) -> str:
    """A price distance (trail amount): cents, never sub-penny places."""
    return formatting.amount(value)


def money(value: Any, row: Row) -> str:
    return formatting.money(value)


def quantity(value: Any, row: Row) -> str:
    return formatting.quantity(value)


def clock(value: Any, row: Row) -> str:
    """Local wall-clock time: what the trader compares with the screen's clock."""
    if not isinstance(value, datetime):
        return ""
    return value.astimezone().strftime("%H:%M:%S")


ROLE_NAMES: dict[LegRole, str] = formatting.ROLE_NAMES
"""A leg's name (``cancels.LEG_NAMES``): the same words in the window, headless and the log."""


def role(value: Any, row: Row) -> str:
    return formatting.leg_name(value)


def side_colour(value: Any, row: Row) -> QColor | None:
    return {Side.BUY: GREEN, Side.SELL: RED}.get(value)


STATUS_COLOURS: dict[OrderStatus, QColor] = {
    OrderStatus.FILLED: GREEN,
    OrderStatus.PARTIAL_FILL: AMBER,
    OrderStatus.CANCELLED: GREY,
    OrderStatus.ERROR: RED,
    OrderStatus.INACTIVE: RED,
}


def status_colour(value: Any, row: Row) -> QColor | None:
    return STATUS_COLOURS.get(value)


def pnl_colour(value: Any, row: Row) -> QColor | None:
    if value is None or Decimal(value) == 0:
        return None
    return GREEN if Decimal(value) > 0 else RED


def raw(value: Any, row: Row) -> Any:
    """Default sort value: the cell's own value (enums by their text, None first)."""
    if isinstance(value, enum.Enum):
        return value.value
    return value


@dataclass(frozen=True)
class Column:
    """One column: the row key it reads, its header, and how the value is shown.

    ``sort`` gives the value the proxy model sorts by (the raw value by default), so numbers
    sort as numbers and a "└ 12" child marker can still sort under its entry.
    """

    key: str
    title: str
    fmt: Formatter = text
    align: Qt.AlignmentFlag = LEFT
    color: Colourer | None = None
    sort: Callable[[Any, Row], Any] = raw
    tooltip: str = ""
    width: int = 0
    """Characters the column is sized for once (0: its title); the views never measure rows
    (``ResizeToContents`` re-measures every row on every change, which a ticking table
    cannot afford)."""
    stretch: bool = False
    """This column takes the room left (the one with the sentence: protection, message)."""


def sortable(value: Any) -> tuple[int, Any]:
    """Make mixed/None sort values comparable: None sorts first, numbers before text."""
    if value is None:
        return (0, 0)
    if isinstance(value, (int, float, Decimal)):
        return (1, value)
    if isinstance(value, datetime):
        return (1, value.timestamp())
    if isinstance(value, tuple):
        return (2, tuple(sortable(v) for v in value))
    return (3, str(value))
