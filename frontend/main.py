"""``sigma9`` command-line entry point.

The desktop terminal UI is built in a later milestone. Until then this entry point does the
parts that already exist, and says so plainly rather than pretending:

* ``sigma9 --check-config`` validates the layered configuration and prints a one-line summary;
* ``sigma9 --sim`` runs the TWS API simulator in the foreground (so ``make run`` does something
  useful on a fresh machine with no IB account);
* ``sigma9`` alone explains that the UI is not built yet.

Configuration errors print one ``sigma9: ...`` line on stderr and exit with status 2, the same
status argparse uses for bad arguments, so scripts can tell "misconfigured" from "crashed".
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from backend.settings import (
    Settings,
    SettingsError,
    default_config_path,
    load_settings,
    user_config_path,
)

# Where a foreground simulator listens when sim.port is 0 ("pick a free port" only makes sense
# when the terminal spawns the simulator itself and can tell its client the port). 4002 is the
# IB Gateway paper port, so clients configured for paper trading connect unchanged.
FOREGROUND_SIM_PORT = 4002

EXIT_CONFIG_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sigma9",
        description="Sigma9 trading terminal for Interactive Brokers.",
    )
    parser.add_argument(
        "--sim",
        action="store_true",
        help="use the built-in TWS API simulator instead of real TWS/Gateway",
    )
    parser.add_argument(
        "--host",
        help="API host: overrides broker.host (sim.host with --sim)",
    )
    parser.add_argument(
        "--port",
        type=int,
        help="API port: overrides broker.port (sim.port with --sim)",
    )
    parser.add_argument("--client-id", type=int, help="API client id: overrides broker.client_id")
    parser.add_argument(
        "--check-config",
        action="store_true",
        help="validate the configuration, print a one-line summary and exit",
    )
    return parser


def _overrides(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Turn command-line flags into nested overrides for ``load_settings`` (flags win)."""
    endpoint = {k: v for k, v in (("host", args.host), ("port", args.port)) if v is not None}
    overrides: dict[str, dict[str, Any]] = {}
    if endpoint:
        overrides["sim" if args.sim else "broker"] = endpoint
    if args.client_id is not None:
        overrides.setdefault("broker", {})["client_id"] = args.client_id
    return overrides


def _summary(settings: Settings) -> str:
    b, s = settings.broker, settings.sim
    files = str(default_config_path())
    user = user_config_path()
    if user is not None:
        files += f" + {user}"
    return (
        f"sigma9: config OK: broker {b.host}:{b.port} client_id={b.client_id} "
        f"account={b.account or '<first managed>'} "
        f"live_trading={'ENABLED' if b.live_trading_enabled else 'off'}; "
        f"sim {s.host}:{s.port} symbols={','.join(s.symbols)} seed={s.seed}; "
        f"journal {settings.journal.path}; files: {files}"
    )


def _run_simulator(settings: Settings) -> int:
    """Serve the simulator in the foreground until interrupted (stand-in for the terminal)."""
    try:
        from backend.sim import cli as sim_cli
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("backend.sim"):
            raise
        print("sigma9: the simulator entry point backend.sim.cli is missing", file=sys.stderr)
        return 1
    sim = settings.sim
    port = sim.port or FOREGROUND_SIM_PORT
    print(
        f"sigma9: the terminal UI is not built yet; serving the TWS API simulator on "
        f"{sim.host}:{port} (Ctrl+C to stop)",
        flush=True,
    )
    argv = ["--host", sim.host, "--port", str(port)]
    argv += ["--symbols", ",".join(sim.symbols), "--seed", str(sim.seed)]
    try:
        rc = sim_cli.main(argv)
    except KeyboardInterrupt:
        return 130
    return rc if isinstance(rc, int) else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(**_overrides(args))
    except SettingsError as exc:
        print(f"sigma9: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.check_config:
        print(_summary(settings))
        return 0
    if args.sim:
        return _run_simulator(settings)
    print(
        "sigma9: the terminal UI is not built yet; run `sigma9 --sim` (or `sigma9-sim`) "
        "to start the TWS API simulator"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
