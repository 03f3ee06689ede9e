"""The account strip: net liquidation, buying power, and the day's realized and unrealized P&L.

Why in the window at all: a day trader sizes the next trade from buying power and stops for
the day on realized P&L; without them the terminal sends the trader back to TWS.

Where the numbers come from:

- Net liquidation and buying power are IB's own account values (``NetLiquidation``,
  ``BuyingPower``, kept updated by the reqAccountUpdates subscription ib_insync opens at
  connect; the simulator answers it too, ``backend/sim/account.py``), read through
  ``connector.account_values()``. Sigma9 does not compute margin itself.
- Realized and unrealized P&L are the OMS's, from its fills and marks (``manager``), so they
  agree with the Positions table. Realized counts today's fills only (UTC date of the fill):
  yesterday's closed trades are not today's P&L.

The strip reads on a timer (``refresh``) rather than per tick: the numbers are for glancing,
and one read per second costs nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any

from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QHBoxLayout, QLabel, QWidget

from backend.core.ledger import books_from_fills
from backend.core.models import FillRecord, Position

DASH = "—"
FIELDS = (("net_liquidation", "Net liq"), ("buying_power", "Buying power"),
          ("realized", "Realized today"), ("unrealized", "Unrealized"))
"""The strip's figures in display order, with their labels (a table, not four methods)."""
PNL_FIELDS = frozenset({"realized", "unrealized"})


def money_text(value: Decimal | None) -> str:
    """``1,234.50``; a loss in parentheses-free minus form; ``—`` when not known."""
    return DASH if value is None else f"{value:,.2f}"


def day_realized(fills: Iterable[FillRecord], today: datetime) -> Decimal:
    """Realized P&L (net of commissions) of the trades closed by today's fills."""
    todays = [f for f in fills if f.time.astimezone(timezone.utc).date() == today.date()]
    return sum((b.realized for b in books_from_fills(todays).values()), Decimal(0))


def account_figures(values: Mapping[str, Decimal], positions: Iterable[Position],
                    fills: Iterable[FillRecord], now: datetime) -> dict[str, Decimal | None]:
    """The strip's four numbers from the broker's account values and the OMS's books."""
    return {"net_liquidation": values.get("NetLiquidation"),
            "buying_power": values.get("BuyingPower"),
            "realized": day_realized(fills, now),
            "unrealized": sum((p.unrealized_pnl for p in positions), Decimal(0))}


class AccountStrip(QWidget):
    REFRESH_MS = 1000

    def __init__(self, core: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.core = core
        self.labels: dict[str, QLabel] = {}
        layout = QHBoxLayout(self)
        layout.setContentsMargins(8, 0, 8, 0)
        for key, title in FIELDS:
            layout.addWidget(QLabel(f"{title}:"))
            label = QLabel(DASH)
            label.setObjectName(f"account_{key}")
            label.setMinimumWidth(90)
            self.labels[key] = label
            layout.addWidget(label)
            layout.addSpacing(10)
        self.setToolTip("net liquidation and buying power as IB reports them; P&L from "
                        "Sigma9's fills (realized: today's fills, net of commissions)")
        self.timer = QTimer(self)
        self.timer.setInterval(self.REFRESH_MS)
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    def figures(self) -> dict[str, Decimal | None]:
        connector, manager = self.core.connector, self.core.manager
        values = connector.account_values() if connector.is_connected() else {}
        return account_figures(values, manager.get_active_positions(),
                               manager.fills.values(), datetime.now(timezone.utc))

    def refresh(self) -> None:
        for key, value in self.figures().items():
            label = self.labels[key]
            label.setText(money_text(value))
            if key in PNL_FIELDS and value is not None:
                colour = "#2e7d32" if value > 0 else "#e53935" if value < 0 else ""
                label.setStyleSheet(f"color: {colour};" if colour else "")

    def text(self, key: str) -> str:
        return self.labels[key].text()
