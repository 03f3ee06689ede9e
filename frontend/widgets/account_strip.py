"""The account strip: net liquidation, buying power, and the day's realized and unrealized P&L.

Why in the window at all: a day trader sizes the next trade from buying power and stops for
the day on realized P&L; without them the terminal sends the trader back to TWS.

Where the numbers come from:

- Net liquidation and buying power are IB's own account values (``NetLiquidation``,
  ``BuyingPower``, kept updated by the reqAccountUpdates subscription ib_insync opens at
  connect; the simulator answers it too, ``backend/sim/account.py``), read through
  ``connector.account_values()``. Sigma9 does not compute margin itself.
- Realized and unrealized P&L are the OMS's portfolio's (``manager.portfolio.day_totals``),
  so they agree with the Positions table and its totals row. The day starts at midnight
  US/Eastern (the exchange's day): yesterday's closed trades are not today's P&L, and a
  position bought yesterday and sold today counts against its real cost basis.

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
from backend.core.market_hours import EASTERN
from backend.core.models import FillRecord, Position

DASH = "—"
FIELDS = (("net_liquidation", "Net liq"), ("buying_power", "Buying power"),
          ("realized", "Realized today"), ("unrealized", "Unrealized"))
"""The strip's figures in display order, with their labels (a table, not four methods)."""
PNL_FIELDS = frozenset({"realized", "unrealized"})


def money_text(value: Decimal | None) -> str:
    """``1,234.50`` (a loss as ``-1,234.50``); ``—`` when not known."""
    return DASH if value is None else f"{value:,.2f}"


def day_start(now: datetime) -> datetime:
    """Midnight US/Eastern of ``now``'s exchange day: where 'today's P&L' begins."""
    local = now.astimezone(EASTERN)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def day_realized(fills: Iterable[FillRecord], since: datetime) -> Decimal:
    """Realized P&L (net of commissions) booked from the fills since ``since`` alone: the
    fallback for a manager without a portfolio (a yesterday's cost basis is not seen)."""
    todays = [f for f in fills if (f.time if f.time.tzinfo else f.time.replace(
        tzinfo=timezone.utc)) >= since]
    return sum((b.realized for b in books_from_fills(todays).values()), Decimal(0))


def account_figures(values: Mapping[str, Decimal], realized: Decimal, unrealized: Decimal
                    ) -> dict[str, Decimal | None]:
    """The strip's four numbers: the broker's account values and the OMS's day P&L."""
    return {"net_liquidation": values.get("NetLiquidation"),
            "buying_power": values.get("BuyingPower"),
            "realized": realized, "unrealized": unrealized}


def day_pnl(manager: Any, now: datetime) -> tuple[Decimal, Decimal]:
    """(realized today, unrealized now) from ``manager.portfolio``, else from its fills."""
    since = day_start(now)
    portfolio = getattr(manager, "portfolio", None)
    if portfolio is not None and hasattr(portfolio, "day_totals"):
        totals = portfolio.day_totals(since)
        return totals.realized, totals.unrealized
    positions: Iterable[Position] = manager.get_active_positions()
    return (day_realized(manager.fills.values(), since),
            sum((p.unrealized_pnl for p in positions), Decimal(0)))


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
        return account_figures(values, *day_pnl(manager, datetime.now(timezone.utc)))

    def refresh(self) -> None:
        for key, value in self.figures().items():
            label = self.labels[key]
            label.setText(money_text(value))
            if key in PNL_FIELDS and value is not None:
                colour = "#2e7d32" if value > 0 else "#e53935" if value < 0 else ""
                label.setStyleSheet(f"color: {colour};" if colour else "")

    def text(self, key: str) -> str:
        return self.labels[key].text()
