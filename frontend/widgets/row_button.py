"""A button drawn inside a table row: "Close" on each open position.

Why a delegate and not ``setIndexWidget``: index widgets belong to a view position, not to a
row's key, so they go stale as rows sort, filter and update many times a second; a delegate
is painted from the row's current data and hit-tested on click, so the button always acts
on the row it is drawn in (its key, read through ``KEY_ROLE``).

The button fills one column's cell (at most ``BUTTON_WIDTH``, at its right end; any text
keeps the rest), and only on rows ``shown_for`` accepts (a closed position has nothing to
close).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from PyQt6.QtCore import QEvent, QModelIndex, QRect, Qt
from PyQt6.QtGui import QMouseEvent
from PyQt6.QtWidgets import (
    QApplication,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionButton,
    QStyleOptionViewItem,
)

from frontend.models.table import KEY_ROLE, ROW_ROLE

BUTTON_WIDTH = 44


def button_rect(cell: QRect) -> QRect:
    """Where the button is drawn in ``cell``: its right end, inset by 2 px."""
    width = min(BUTTON_WIDTH, max(cell.width() - 4, 0))
    return QRect(cell.right() - width - 1, cell.top() + 2, width, max(cell.height() - 4, 0))


class RowButtonDelegate(QStyledItemDelegate):
    def __init__(self, label: str, on_click: Callable[[Any], object],
                 shown_for: Callable[[Mapping[str, Any]], bool], tip: str = "",
                 parent: Any = None) -> None:
        super().__init__(parent)
        self.label, self.on_click, self.shown_for, self.tip = label, on_click, shown_for, tip

    def _shown(self, index: QModelIndex) -> bool:
        row = index.data(ROW_ROLE)
        return isinstance(row, Mapping) and bool(self.shown_for(row))

    def paint(self, painter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        if not self._shown(index):
            super().paint(painter, option, index)
            return
        text_option = QStyleOptionViewItem(option)
        text_option.rect = option.rect.adjusted(0, 0, -(BUTTON_WIDTH + 4), 0)
        super().paint(painter, text_option, index)
        button = QStyleOptionButton()
        button.rect = button_rect(option.rect)
        button.text = self.label
        button.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Raised
        style = option.widget.style() if option.widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_PushButton, button, painter, option.widget)

    def editorEvent(self, event, model, option: QStyleOptionViewItem,
                    index: QModelIndex) -> bool:
        if (event.type() == QEvent.Type.MouseButtonRelease and isinstance(event, QMouseEvent)
                and event.button() == Qt.MouseButton.LeftButton and self._shown(index)
                and button_rect(option.rect).contains(event.position().toPoint())):
            self.on_click(index.data(KEY_ROLE))
            return True
        return super().editorEvent(event, model, option, index)

    def helpEvent(self, event, view, option, index) -> bool:
        if self.tip and self._shown(index) and button_rect(option.rect).contains(event.pos()):
            from PyQt6.QtWidgets import QToolTip

            QToolTip.showText(event.globalPos(), self.tip, view)
            return True
        return super().helpEvent(event, view, option, index)
