"""``sigma9``: the command-line entry point of the terminal.

* ``sigma9`` opens the terminal on TWS / IB Gateway (``broker.host:port``, paper Gateway
  127.0.0.1:4002 by default); the window badge shows paper or live once the account is known.
* ``sigma9 --sim`` first starts ``sigma9-sim`` as a child process on a free local port and
  connects to it; the child ends with the terminal (see :mod:`frontend.sim_process`).
* ``sigma9 [--sim] --headless [--minutes N]`` runs the same core without a window and prints
  events and a summary (:mod:`frontend.headless`).
* ``sigma9 --check-config`` validates the configuration and prints a one-line summary.
* ``sigma9 paper-check [--no-fills] ...`` checks on a paper account that IB does what
  docs/oca.md assumes (see ``sigma9 paper-check --help``).

Why the GUI runs on a qasync loop: ib_insync is asyncio; with Qt's event loop driving asyncio
(``asyncio.Runner``/``asyncio.run`` with ``loop_factory=QEventLoop``), broker I/O and the
window share one thread and nothing ever blocks it (docs: ib-orders P10).

Every failure the user can fix is one ``sigma9: ...`` line: configuration errors and bad flags
exit 2 (as argparse does), a missing display or a missing Qt system library (with its
``apt-get install`` line) exits 2 with a hint instead of Qt aborting, and
a broker or simulator that cannot be reached exits 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from backend.settings import (
    Settings,
    SettingsError,
    StrategySettings,
    default_config_path,
    load_settings,
    user_config_path,
)
from frontend.display import display_problem
from frontend.qt_libs import qt_platform_problem
from frontend.sim_process import SimProcess, SimStartError, sim_journal

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG_ERROR = 2
EXIT_INTERRUPTED = 130

PAPER_CHECK = "paper-check"
"""``sigma9 paper-check``: proof on the trader's paper account (backend/broker/paper_check)."""

MODE_SIM = "SIM"
MODE_AUTO = "AUTO"
"""Paper or live is decided by the account after connecting (ib-orders P11)."""

SIM_SCENARIO = "ignition"
"""The simulator's built-in scenario of Seismograph setups, so ``--sim`` shows trades."""
SIM_DEMO_BAR_S = 5
"""Strategy bar size under ``--sim`` when the config keeps the shipped 60 s: the ignition
scenario then brings a setup every couple of minutes instead of every twenty."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line on stderr (exit 2), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_CONFIG_ERROR, f"{self.prog}: {message} (see --help)\n")


def _minutes(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of minutes") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of minutes")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sigma9", description="Sigma9 trading terminal for Interactive "
                     "Brokers (TWS or IB Gateway; paper Gateway 127.0.0.1:4002 by default).",
                     epilog=f"sigma9 {PAPER_CHECK} --help: check IB's behaviour on your "
                            "paper account.")
    parser.add_argument("--sim", action="store_true",
                        help="start the built-in TWS API simulator as a child process on a "
                             "free local port and connect to it (it ends with the terminal)")
    parser.add_argument("--host", help="API host: overrides broker.host (with --sim: the "
                                       "address the simulator binds, sim.host)")
    parser.add_argument("--port", type=int, help="API port: overrides broker.port (with "
                                                 "--sim: sim.port; default 0 = a free port)")
    parser.add_argument("--client-id", type=int, help="API client id: overrides "
                                                      "broker.client_id")
    parser.add_argument("--headless", action="store_true",
                        help="no window: print events as they happen and a summary at the end")
    parser.add_argument("--minutes", type=_minutes, metavar="N",
                        help="with --headless: stop after N minutes (decimals allowed; "
                             "default: run until Ctrl+C)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration, print a one-line summary and exit")
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


# -- --sim -------------------------------------------------------------------------------------
def scenario_args(bar_size_s: int, help_text: str | None = None) -> list[str]:
    """``--scenario ignition`` shaped for the strategy's bars, if this simulator has it.

    Read from ``backend.sim_scenarios``, the table the simulator's own config and parser use,
    which imports nothing: importing the simulator (about 0.09 s) only to ask would delay the
    child's start (issue 12). ``help_text`` (a simulator's ``--help``) is asked instead when
    given, so a simulator without the flags gets none and trades its plain random walk.
    """
    from backend.sim_scenarios import EPISODE_BAR_FLAG, SCENARIO_FLAG, SCENARIOS

    if SIM_SCENARIO not in SCENARIOS:
        return []
    words = (help_text.split() if help_text is not None
             else [SCENARIO_FLAG, EPISODE_BAR_FLAG])
    if SCENARIO_FLAG not in words:
        return []
    args = [SCENARIO_FLAG, SIM_SCENARIO]
    if EPISODE_BAR_FLAG in words:
        args += [EPISODE_BAR_FLAG, str(bar_size_s)]
    return args


def sim_bar_size(settings: Settings) -> int:
    """The strategy's bar size under ``--sim``: the demo 5 s unless the user chose a size."""
    shipped = StrategySettings.model_fields["bar_size_s"].default
    bar = settings.strategy.bar_size_s
    return SIM_DEMO_BAR_S if bar == shipped else bar


def settings_for_sim(settings: Settings, sim: SimProcess, bar_size_s: int,
                     journal_path: Path) -> Settings:
    """Point the broker at the running child (its account), the journal at the sim one."""
    broker = settings.broker.model_copy(update={
        "host": sim.host, "port": sim.port, "account": settings.sim.account})
    journal = settings.journal.model_copy(update={"path": journal_path})
    strategy = settings.strategy.model_copy(update={"bar_size_s": bar_size_s})
    # The child simulator trades around the clock (its default), so the OMS's calendar agrees.
    entry = settings.entry.model_copy(update={"market_hours": "always_open"})
    return settings.model_copy(update={"broker": broker, "journal": journal,
                                       "strategy": strategy, "entry": entry})


# -- the GUI ---------------------------------------------------------------------------------
def run_qt(coro_factory: Any, app: Any) -> Any:
    """``asyncio.run(coro, loop_factory=QEventLoop)``, spelled for Python 3.10 to 3.13.

    ``asyncio.run`` takes ``loop_factory`` only from 3.12; ``asyncio.Runner`` (what it is
    made of) has it from 3.11; 3.10 gets qasync's event-loop-policy shim.
    """
    import qasync

    def qt_loop() -> asyncio.AbstractEventLoop:
        # Also the thread's current loop: ib_insync finds its loop through the policy
        # (util.getLoop), which a loop_factory alone does not set.
        loop = qasync.QEventLoop(app)
        asyncio.set_event_loop(loop)
        return loop

    try:
        if sys.version_info >= (3, 11):
            with asyncio.Runner(loop_factory=qt_loop) as runner:
                return runner.run(coro_factory())
        return qasync.run(coro_factory())  # pragma: no cover - Python 3.10 only
    finally:
        asyncio.set_event_loop(None)


async def gui_session(app: Any, run_terminal: Any, settings: Settings, mode: str,
                      on_close: Any = None) -> int:
    """Run the terminal until its window closes; Ctrl+C or SIGTERM closes the window.

    Qt's C++ loop only lets Python's signal handlers run when Python code runs, so a 200 ms
    no-op timer keeps Ctrl+C responsive. The first signal closes the windows without the
    window's quit question (the terminal then disconnects in order; the exits stay at the
    broker); a second one cancels the session outright.
    ``app.quit()`` from elsewhere is run_terminal's to handle (it closes its window).
    """
    from PyQt6.QtCore import QTimer

    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    interrupts = 0

    def on_interrupt() -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            # Asked from the shell: no quit question in the window (nobody may be there).
            for widget in app.topLevelWidgets():
                if hasattr(widget, "close_now"):
                    widget.close_now()
            app.closeAllWindows()
        elif task is not None:
            task.cancel()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.signal(sig, lambda *_: loop.call_soon_threadsafe(on_interrupt))
    wake = QTimer()
    wake.timeout.connect(lambda: None)
    wake.start(200)
    try:
        result = await run_terminal(settings, mode, on_close=on_close)
        return result if isinstance(result, int) else EXIT_OK
    finally:
        wake.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _gui_parts() -> tuple[Any, Any] | None:
    """``(run_terminal, app)``: the terminal's imports and the QApplication, or None (said
    why) when this build has no window. With ``--sim`` this runs while the child starts."""
    try:
        from frontend.terminal import run_terminal
    except ModuleNotFoundError as exc:
        if exc.name != "frontend.terminal":
            raise
        print("sigma9: the terminal window (frontend/terminal.py) is missing from this "
              "build; use --headless", file=sys.stderr)
        return None
    from PyQt6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Sigma9")
    # The session ends when run_terminal returns (after it disconnected), not when Qt
    # decides the last window is gone: quitting first would stop the loop mid-cleanup.
    app.setQuitOnLastWindowClosed(False)
    return run_terminal, app


def _run_gui(settings: Settings, mode: str, sim: SimProcess | None,
             parts: tuple[Any, Any] | None = None) -> int:
    parts = parts or _gui_parts()
    if parts is None:
        return EXIT_FAILED
    run_terminal, app = parts
    try:
        # With --sim the child stops as soon as the core has disconnected, in a worker
        # thread so the loop never waits on it; the launcher's ``with`` covers other exits.
        on_close = (lambda: asyncio.to_thread(sim.stop)) if sim is not None else None
        return run_qt(lambda: gui_session(app, run_terminal, settings, mode, on_close), app)
    except asyncio.CancelledError:
        return EXIT_INTERRUPTED
    except RuntimeError as exc:
        if "Event loop stopped before Future completed" in str(exc):
            return EXIT_OK  # app.quit() from elsewhere; the Runner's close cleaned up
        raise


def _run_headless(settings: Settings, minutes: float | None, sim: SimProcess | None) -> int:
    from frontend.headless import run_headless

    label = ""
    if sim is not None:
        scenario = SIM_SCENARIO if SIM_SCENARIO in sim.argv else "random walk"
        label = f"(simulator pid {sim.pid}, scenario {scenario})"
    check = sim.exit_reason if sim else None
    return asyncio.run(run_headless(settings, minutes, label=label, abort_check=check))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == [PAPER_CHECK]:  # a subcommand with flags of its own
        from backend.broker.paper_check.cli import main as paper_check

        return paper_check(argv[1:])
    args = build_parser().parse_args(argv)
    if args.minutes is not None and not args.headless:
        print("sigma9: --minutes needs --headless (the window runs until you close it)",
              file=sys.stderr)
        return EXIT_CONFIG_ERROR
    try:
        settings = load_settings(**_overrides(args))
    except SettingsError as exc:
        print(f"sigma9: {exc}", file=sys.stderr)
        return EXIT_CONFIG_ERROR
    if args.check_config:
        print(_summary(settings))
        return EXIT_OK
    if not args.headless:
        # Checked before any child starts or Qt can abort the process: no display, or Qt's
        # X11 plugin missing a system library (frontend/qt_libs.py).
        problem = display_problem() or qt_platform_problem()
        if problem:
            print(problem, file=sys.stderr)
            return EXIT_CONFIG_ERROR
    try:
        with contextlib.ExitStack() as stack:
            sim, parts = None, None
            if args.sim:
                bar = sim_bar_size(settings)
                scenario = scenario_args(bar)
                if not scenario:  # an older simulator: keep the configured bars
                    bar = settings.strategy.bar_size_s
                sim = SimProcess.from_settings(settings.sim, scenario)
                stack.callback(sim.stop)
                # The window's imports and QApplication are made while the child starts
                # (each about a third of a second, on two cores), not after it listens.
                sim.start(wait=args.headless)
                journal = stack.enter_context(sim_journal(settings.journal.path))
                if not args.headless:
                    parts = _gui_parts()
                    if parts is None:
                        return EXIT_FAILED
                sim.wait_serving()
                settings = settings_for_sim(settings, sim, bar, journal)
            if args.headless:
                return _run_headless(settings, args.minutes, sim)
            return _run_gui(settings, MODE_SIM if args.sim else MODE_AUTO, sim, parts)
    except SimStartError as exc:
        print(f"sigma9: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
