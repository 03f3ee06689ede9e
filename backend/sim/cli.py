"""``sigma9-sim``: run the simulator as a local TWS on a TCP port.

``--scenario`` names a built-in scenario (``ignition``: accumulation-then-ignition episodes
for the Seismograph, shaped by the ``--episode-*`` flags) or a TOML file scripting prices,
e.g.::

    [[script]]
    symbol = "AAPL"
    then = "walk"
    points = [[0, 190.00], [30, 190.00, 5000], [31, 186.00]]   # [seconds, price(, size)]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from backend.sim import scenario
from backend.sim.admission import LOOPBACK, check_bind, describe
from backend.sim.config import SESSION_MODES, SimConfig
from backend.sim.server import SimServer
from backend.sim_scenarios import EPISODE_BAR_FLAG, SCENARIO_FLAG

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (and exit 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="sigma9-sim", description="A local TWS for Sigma9 and "
                "any TWS API client, over a simulated market and broker.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    p.add_argument("--trusted", default="", metavar="ADDR[,NETWORK...]",
                   help="addresses besides loopback that may connect (TWS's Trusted IPs); "
                        "needed to bind anything but loopback")
    p.add_argument("--port", type=int, default=4002, help="TCP port (0 picks a free one)")
    p.add_argument("--symbols", default="AAPL,MSFT,TSLA", help="comma-separated symbols")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--tick-interval", type=float, default=0.25, help="seconds between ticks")
    p.add_argument("--volatility", type=float, default=0.0004, help="per-tick log-return sd")
    p.add_argument("--drift", type=float, default=0.0, help="per-tick mean log return")
    p.add_argument("--account", default="DU1234567")
    p.add_argument("--cash", default="1000000", help="starting cash, USD")
    p.add_argument("--commission-per-share", default="0.005")
    p.add_argument("--commission-min", default="1.00")
    p.add_argument(SCENARIO_FLAG, metavar="NAME|FILE",
                   help="'ignition' (Seismograph episodes, staggered across the symbols) or a "
                        "TOML file with [[script]] price paths")
    p.add_argument(EPISODE_BAR_FLAG, type=int, default=5,
                   help="ignition: the strategy's bar size the episodes are shaped for")
    p.add_argument("--episode-period-bars", type=int, default=60,
                   help="ignition: bars between one symbol's episodes (shared out by symbol)")
    p.add_argument("--episode-accumulation-bars", type=int, default=20,
                   help="ignition: quiet bars before each ignition (> strategy's 15)")
    p.add_argument("--sessions", default="always_open", choices=SESSION_MODES,
                   help="always_open (default: a market that never closes) or us_equity "
                        "(IB's rules for pre-market, regular hours 09:30-16:00 US/Eastern, "
                        "after hours and closed, on the simulator's clock)")
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS)
    return p


def config_from_args(args: argparse.Namespace, scenario_name: str | None = None) -> SimConfig:
    symbols = tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip())
    if not symbols:
        raise ValueError("--symbols: give at least one symbol")
    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port: {args.port} is not a TCP port")
    if args.tick_interval <= 0:
        raise ValueError("--tick-interval must be positive")
    if args.volatility < 0:
        raise ValueError("--volatility must not be negative")
    try:
        cash = Decimal(args.cash)
        per_share = Decimal(args.commission_per_share)
        minimum = Decimal(args.commission_min)
    except InvalidOperation:
        raise ValueError("--cash and commissions must be numbers") from None
    if not args.account.strip():
        raise ValueError("--account must not be empty")
    trusted = (*LOOPBACK, *(t.strip() for t in args.trusted.split(",") if t.strip()))
    check_bind(args.host, trusted)  # refused as "--host …"/"--trusted …", before SimConfig
    try:
        return SimConfig(host=args.host, port=args.port, symbols=symbols, seed=args.seed,
                         trusted=trusted,
                         tick_interval_s=args.tick_interval, volatility=args.volatility,
                         drift=args.drift, account=args.account.strip(), starting_cash=cash,
                         commission_per_share=per_share, commission_min=minimum,
                         scenario=scenario_name, sessions=args.sessions,
                         episode_bar_seconds=args.episode_bar_seconds,
                         episode_period_bars=args.episode_period_bars,
                         episode_accumulation_bars=args.episode_accumulation_bars)
    except ValueError as exc:  # only the episode flags can be refused here
        raise ValueError(f"--scenario {scenario_name}: {exc}") from None


async def serve(config: SimConfig, scripts: list[dict]) -> None:
    server = SimServer(config)
    await server.start()
    for item in scripts:
        server.market.list_symbol(item["symbol"])
        server.market.script(item["symbol"], item["points"], item["then"])
    stop = asyncio.Event()
    # Ctrl+C and SIGTERM both stop cleanly, as in the terminal and headless mode. SIGINT is
    # installed explicitly: a process started in the background by a non-interactive shell
    # inherits SIGINT *ignored*, and Python then never raises KeyboardInterrupt (seen: a
    # suite run from a script could not stop its simulator child with SIGINT).
    with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows loops
        for sig in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    plan = server.market.episodes
    note = (f"; scenario {config.scenario}: some symbol ignites within "
            f"{plan.max_wait_s:g} s of any moment" if plan is not None else "")
    if server.broker.sessions.enabled:
        note += (f"; US-equity sessions, now "
                 f"{server.broker.sessions.session(server.clock.now()).value}")
    print(f"sigma9-sim: serving {','.join(server.market.symbols)} on "
          f"{config.host}:{server.port} (account {config.account}){note}; "
          f"trusted: {describe(config.trusted)}; Ctrl+C stops",
          flush=True)
    try:
        await stop.wait()  # SIGTERM (a process manager) stops as cleanly as Ctrl+C
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(message)s")
    try:
        name, scripts = scenario.resolve(args.scenario) if args.scenario else (None, [])
        config = config_from_args(args, name)
    except ValueError as exc:
        print(f"sigma9-sim: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(config, scripts))
    except KeyboardInterrupt:
        return 0
    except OSError as exc:
        print(f"sigma9-sim: cannot listen on {config.host}:{config.port}: {exc.strerror}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
