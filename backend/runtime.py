"""The composition root: builds and wires connector, journal and OrderManager.

The terminal, headless mode and the integration tests all start Sigma9's
trading core through ``TradingCore.start``, so they run the same wiring.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from backend.broker.connector import IBKRConnector
from backend.core.journal import Journal
from backend.core.order_manager import OrderManager
from backend.strategies.runner import StrategyRunner
from backend.strategies.seismograph import Seismograph, SeismographParams

log = logging.getLogger("sigma9")


def wire(connector: IBKRConnector, manager: OrderManager) -> None:
    """Broker events -> OrderManager handlers; reconnects trigger a reconciliation."""
    connector.order_placed.connect(manager.on_order_status)
    connector.order_status.connect(manager.on_order_status)
    connector.order_filled.connect(manager.on_fill)
    connector.order_error.connect(manager.on_order_error)
    connector.order_warning.connect(manager.on_order_warning)
    connector.order_unknown_code.connect(manager.on_unknown_code)
    connector.positions_update.connect(manager.on_positions)
    connector.tick.connect(manager.on_tick)

    def reconcile_after_reconnect() -> None:
        manager.tasks.spawn(manager.reconcile(), "reconcile after reconnect")

    connector.reconnected.connect(reconcile_after_reconnect)


@dataclass
class TradingCore:
    settings: object
    connector: IBKRConnector
    journal: Journal
    manager: OrderManager
    runner: StrategyRunner

    @classmethod
    def build(cls, settings, now=None) -> TradingCore:
        """``now`` (a callable giving an aware datetime) is the OMS's clock: the wall clock by
        default; tests and ``--sim`` may pass the simulator's (entries are refused outside
        regular hours by that clock, docs/oca.md)."""
        connector = IBKRConnector.from_settings(settings.broker)
        journal = Journal(settings.journal.path)
        manager = (OrderManager(connector, journal, settings) if now is None
                   else OrderManager(connector, journal, settings, now=now))
        wire(connector, manager)
        strategy = Seismograph(SeismographParams.from_settings(settings.strategy))
        runner = StrategyRunner.from_settings(strategy, connector.market, manager, settings,
                                              supervisor=manager.tasks)
        connector.tick.connect(runner.on_quote)
        connector.reconnected.connect(runner.on_reconnected)
        return cls(settings, connector, journal, manager, runner)

    async def start(self) -> list[str]:
        """Connect, then rebuild state; returns the symbols that had to be re-protected."""
        await self.connector.connect()
        return await self.manager.reconcile()

    async def stop(self) -> None:
        """Stop the OMS and the runner, wait until their tasks have ended, disconnect."""
        self.manager.close()
        await self.runner.close()
        await self.manager.tasks.stop()
        await self.connector.disconnect()
        self.journal.close()
