"""The simulator child for ``bench.window_load``: ``sigma9-sim`` with enough market-data lines.

The simulator enforces IB's default allowance of 100 market-data lines per session
(``SimConfig.max_market_data_lines``, error 101 beyond it), which the ``sigma9-sim`` CLI
does not change. The window benchmark streams every one of its S symbols, so this child
serves the same ``backend.sim.cli.serve`` with the allowance raised to S.
Usage: ``python -m bench.sim_child PORT TICK_INTERVAL_S SYMBOL[,SYMBOL...]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from decimal import Decimal

from backend.sim.cli import serve
from backend.sim.config import SimConfig


def main(argv: list[str]) -> int:
    port, interval, symbols = int(argv[0]), float(argv[1]), tuple(argv[2].split(","))
    config = SimConfig(port=port, symbols=symbols, tick_interval_s=interval, volatility=0.0002,
                       seed=7, starting_cash=Decimal("1000000000"),
                       max_market_data_lines=max(100, len(symbols)))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, []))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
