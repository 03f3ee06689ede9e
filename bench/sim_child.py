"""Simulator child processes for the benchmarks: the simulator in its own process, as TWS is.

- ``python -m bench.sim_child PORT TICK_INTERVAL_S SYMBOL[,SYMBOL...]`` (``bench.window_load``):
  ``sigma9-sim``'s server with enough market-data lines. The simulator enforces IB's
  default allowance of 100 market-data lines per session
  (``SimConfig.max_market_data_lines``, error 101 beyond it), which the ``sigma9-sim`` CLI
  does not change; the window benchmark streams every one of its S symbols, so this child
  serves the same ``backend.sim.cli.serve`` with the allowance raised to S.
- ``python -m bench.sim_child chains`` (``bench.signal_wire``): a simulator on a free port
  with ``bench.signal_wire.ChainHook`` on its loop, its clock at ``REGULAR_HOURS`` and every
  symbol at ``MARKET``. Its first stdout line is ``ready PORT SIM_NOW WALL_NOW``; then one
  line per chain the simulator holds: ``CLIENT STAMP`` (``time.perf_counter()``, i.e.
  CLOCK_MONOTONIC, which both processes read alike), and for each client's first chain a
  third field, the chain's ``OrderSpec`` list pickled in base64 (raw ib_insync's template).
  The line is written after the stamp, so writing it is not timed. It exits when its stdin
  closes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import pickle
import sys
import time
from decimal import Decimal
from typing import Any

from backend.sim.cli import serve
from backend.sim.config import SimConfig


def main(argv: list[str]) -> int:
    if argv and argv[0] == "chains":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(_chains())
        return 0
    port, interval, symbols = int(argv[0]), float(argv[1]), tuple(argv[2].split(","))
    config = SimConfig(port=port, symbols=symbols, tick_interval_s=interval, volatility=0.0002,
                       seed=7, starting_cash=Decimal("1000000000"),
                       max_market_data_lines=max(100, len(symbols)))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, []))
    return 0


async def _chains() -> None:
    from backend.sim.server import SimServer
    from bench import signal_wire as sw

    server = SimServer(SimConfig(port=0, volatility=0.0, tick_interval_s=0.25, seed=7,
                                 symbols=sw.SYMBOLS, starting_cash=Decimal("1e9")))
    await server.start()
    server.clock.set(sw.REGULAR_HOURS)
    server.broker.evaluate_all()
    for symbol in sw.SYMBOLS:
        server.market.set_price(symbol, str(sw.MARKET))
    out = sys.stdout
    sent_template: set[int] = set()

    def report(client_id: int, stamp: float, chain: list[Any]) -> None:
        line = f"{client_id} {stamp!r}"
        if client_id not in sent_template:
            sent_template.add(client_id)
            line += " " + base64.b64encode(pickle.dumps(chain)).decode()
        out.write(line + "\n")
        out.flush()

    sw.ChainHook(server, report)
    out.write(f"ready {server.port} {server.clock.now()!r} {time.time()!r}\n")
    out.flush()
    loop = asyncio.get_running_loop()
    # stdin closing (the bench process ending, however it ends) stops the child
    await loop.run_in_executor(None, sys.stdin.read)
    await server.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
