"""What the terminal remembers between sessions (QSettings, organization "Sigma9").

Remembered: the window's geometry and dock layout, the last connection that succeeded, the
watchlist and the charted symbol. The rule for the connection and the watchlist: **the
configuration wins when it says something**. If the trader's config (or the command line)
sets an endpoint or a watchlist other than the shipped defaults, that is what this session
was asked to use; only when it carries the defaults does the remembered value apply. With the
simulator the launcher's endpoint always wins (its port is new every run).

Tests hand the window a QSettings on a temporary INI file, so they never touch the user's.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import QByteArray, QSettings

from backend.settings import BrokerSettings, StrategySettings

ORGANIZATION = "Sigma9"
APPLICATION = "Terminal"

Endpoint = tuple[str, int, int]


def default_qsettings() -> QSettings:
    return QSettings(ORGANIZATION, APPLICATION)


def initial_endpoint(broker: Any, remembered: Endpoint | None, mode: str) -> Endpoint:
    configured = (broker.host, broker.port, broker.client_id)
    defaults = BrokerSettings()
    if mode.strip().lower() == "sim" or remembered is None:
        return configured
    if configured == (defaults.host, defaults.port, defaults.client_id):
        return remembered
    return configured


def initial_watchlist(configured: tuple[str, ...], remembered: list[str] | None) -> list[str]:
    if remembered and tuple(configured) == StrategySettings().watchlist:
        return remembered
    return list(configured)


class TerminalMemory:
    def __init__(self, qsettings: QSettings) -> None:
        self.q = qsettings

    def endpoint(self) -> Endpoint | None:
        host = self.q.value("connection/host")
        if not host:
            return None
        try:
            return str(host), int(self.q.value("connection/port")), int(
                self.q.value("connection/client_id"))
        except (TypeError, ValueError):
            return None

    def save_endpoint(self, host: str, port: int, client_id: int) -> None:
        self.q.setValue("connection/host", host)
        self.q.setValue("connection/port", port)
        self.q.setValue("connection/client_id", client_id)

    def watchlist(self) -> list[str] | None:
        text = self.q.value("strategy/watchlist")
        return [s for s in str(text).split(",") if s] if text else None

    def save_watchlist(self, symbols: list[str]) -> None:
        self.q.setValue("strategy/watchlist", ",".join(symbols))

    def chart_symbol(self) -> str:
        return str(self.q.value("chart/symbol") or "")

    def save_chart_symbol(self, symbol: str) -> None:
        self.q.setValue("chart/symbol", symbol)

    def layout(self) -> tuple[QByteArray | None, QByteArray | None]:
        return self.q.value("window/geometry"), self.q.value("window/state")

    def save_layout(self, geometry: QByteArray, state: QByteArray) -> None:
        self.q.setValue("window/geometry", geometry)
        self.q.setValue("window/state", state)

    def sync(self) -> None:
        self.q.sync()
