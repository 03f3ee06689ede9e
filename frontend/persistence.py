"""What the terminal remembers between sessions (QSettings, organization "Sigma9").

Remembered: the window's geometry and dock layout, the last connection that succeeded, the
watchlist and the charted symbol. The rule for the connection and the watchlist: **the
configuration wins when it says something**. If the trader's config (or the command line)
sets an endpoint or a watchlist other than the shipped defaults, that is what this session
was asked to use; only when it carries the defaults does the remembered value apply. With the
simulator the launcher's endpoint always wins (its port is new every run).

**Per mode.** The connection and the watchlist are kept under one group per mode
(``sim/...`` for ``sigma9 --sim``, ``broker/...`` for TWS / IB Gateway), so a simulator
session's random port and its test symbols never reach a broker session (issue 11: a plain
``sigma9`` once connected to the last simulator's port and watched ZZZQX). Keys written by
older versions without a group are ignored: nothing says which mode wrote them.

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


def memory_scope(mode: str) -> str:
    """The QSettings group of a mode's connection and watchlist: ``sim`` or ``broker``."""
    return "sim" if mode.strip().lower() == "sim" else "broker"


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
    """``scope`` (see :func:`memory_scope`) prefixes the per-mode keys; the layout and the
    charted symbol are shared by every mode."""

    def __init__(self, qsettings: QSettings, scope: str = "broker") -> None:
        self.q = qsettings
        self.scope = scope

    def _key(self, name: str) -> str:
        return f"{self.scope}/{name}"

    def endpoint(self) -> Endpoint | None:
        host = self.q.value(self._key("connection/host"))
        if not host:
            return None
        try:
            return str(host), int(self.q.value(self._key("connection/port"))), int(
                self.q.value(self._key("connection/client_id")))
        except (TypeError, ValueError):
            return None

    def save_endpoint(self, host: str, port: int, client_id: int) -> None:
        self.q.setValue(self._key("connection/host"), host)
        self.q.setValue(self._key("connection/port"), port)
        self.q.setValue(self._key("connection/client_id"), client_id)

    def watchlist(self) -> list[str] | None:
        text = self.q.value(self._key("strategy/watchlist"))
        return [s for s in str(text).split(",") if s] if text else None

    def save_watchlist(self, symbols: list[str]) -> None:
        self.q.setValue(self._key("strategy/watchlist"), ",".join(symbols))

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
