"""Take ``docs/screenshot.png``: the real terminal window, mid-trade, rendered offscreen.

Why a script rather than a hand-made picture: the README should show what ``make run``
shows, and a script can be re-run whenever the window changes. Everything in the picture is
real: an in-process simulator (``SimThread``), the trading core, ``frontend.terminal``'s
``run_terminal`` and its ``MainWindow``, connected over TCP, armed on the watchlist. Only the
market and the two signals are scripted, so the picture is the same every time and takes
well under a minute instead of waiting for the market to produce a setup:

1. MSFT: a signal, the entry with its three exit legs, a rally through the trail's activation
   and a pull-back into the trail: a closed, profitable trade in the executions and P&L;
2. AAPL: a signal and entry, then a climb through the ignition level: an open position whose
   time stop the ignition skipped and whose trail now trails, its stop and live trail at
   the broker, drawn on the chart as levels, and each leg in words in the positions table.

Usage (from the repository root; ``make screenshot`` does this)::

    QT_QPA_PLATFORM=offscreen .venv/bin/python scripts/screenshot.py [--out docs/screenshot.png]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before anything loads Qt
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from PyQt6.QtCore import QSettings  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from backend.settings import load_settings  # noqa: E402
from backend.sim import SimConfig, SimThread  # noqa: E402
from backend.strategies.signal import Signal  # noqa: E402
from frontend.main import run_qt  # noqa: E402

SIZE = (1600, 1000)
"""Large enough that every column of the Orders and Positions tables reads in full."""
BAR_S = 5
WATCHLIST = ["AAPL", "MSFT", "TSLA"]


def climb(start: Decimal, gain_pct: float, seconds: float, seed: int,
          step_s: float = 0.5) -> list[tuple[float, str]]:
    """A noisy step-wise path from ``start`` to ``start * (1 + gain_pct/100)``."""
    rng = random.Random(seed)
    steps = max(int(seconds / step_s), 1)
    points = []
    for i in range(steps + 1):
        drift = float(start) * gain_pct / 100 * i / steps
        noise = float(start) * rng.gauss(0, 0.0006) if 0 < i < steps else 0.0
        points.append((i * step_s, f"{float(start) + drift + noise:.2f}"))
    return points


async def until(predicate, timeout: float, what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def trade(core, sim: SimThread, symbol: str, atr: str) -> str:
    """A signal handed to the core the way the runner hands it: events, entry, exits."""
    ask = sim.quote(symbol)["ask"]
    signal = Signal(symbol=symbol, reference_price=ask, atr=Decimal(atr),
                    reason="scripted for the screenshot: quiet range, then ignition")
    core.runner.publish("signal", signal=signal.model_dump(mode="json"))
    order_id = await core.manager.execute_entry(signal)
    core.runner.publish("entry", signal_id=signal.id, symbol=symbol, order_id=order_id)
    await until(lambda: core.manager.position_quantity(symbol) > 0
                and core.manager.is_protected(symbol), 10, f"{symbol} filled and protected")
    return order_id


def _protection(window, symbol: str) -> str:
    model = window.positions
    if symbol not in model.index_of:
        return ""
    return model.data(model.index(model.index_of[symbol], model.column_index("protection")))


async def direct(window, sim: SimThread, out: Path, size: tuple[int, int] = SIZE) -> None:
    core = window.core
    await until(core.connector.is_connected, 15, "the connection")
    await window.arm(WATCHLIST)
    window.select_symbol("MSFT")
    await asyncio.sleep(3)

    # MSFT: in, up through the +3% activation, back into the trail: a closed winner.
    await trade(core, sim, "MSFT", "0.80")
    start = sim.quote("MSFT")["last"]
    sim.script("MSFT", climb(start, 3.8, 6, seed=1), then="hold")
    await asyncio.sleep(7)
    top = sim.quote("MSFT")["last"]
    sim.script("MSFT", climb(top, -0.6, 3, seed=2), then="walk")
    await until(lambda: core.manager.position_quantity("MSFT") == 0, 20, "the MSFT trail exit")

    # AAPL: in, then a steady climb: an open, protected position on the chart.
    window.select_symbol("AAPL")
    await asyncio.sleep(4)
    await trade(core, sim, "AAPL", "0.45")
    start = sim.quote("AAPL")["last"]
    # Through the +3 % ignition, then steady: the time stop is skipped, the trail trails.
    sim.script("AAPL", climb(start, 3.6, 20, seed=3), then="hold")
    await asyncio.sleep(21)
    await until(lambda: "trailing: stop" in _protection(window, "AAPL"), 10,
                "the AAPL trail trailing in the positions table")

    # Only awaits from here: QApplication.processEvents() inside a task would run other
    # tasks' steps re-entrantly ("Cannot enter into task ...").
    window.resize(*size)
    window.first_run_layout()  # the first-run proportions at this size, as `make run` opens
    await asyncio.sleep(0.5)  # coalesced repaints (ui.tick_repaint_ms) land
    out.parent.mkdir(parents=True, exist_ok=True)
    if not window.grab().save(str(out)):
        raise OSError(f"could not write {out}")
    print(f"screenshot: wrote {out} ({window.width()}x{window.height()})")


async def scene(sim: SimThread, settings, qsettings: QSettings, out: Path,
                size: tuple[int, int] = SIZE) -> int:
    from frontend.terminal import run_terminal

    windows = []
    terminal = asyncio.ensure_future(run_terminal(settings, "sim", qsettings=qsettings,
                                                  on_window=windows.append))
    await until(lambda: windows or terminal.done(), 15, "the window")
    if terminal.done():
        return terminal.result()
    window = windows[0]
    try:
        await direct(window, sim, out, size)
    finally:
        # A position is open on purpose: close without the quit question (the exits stay
        # at the simulator, which ends with the script).
        close_now = getattr(window, "close_now", None)
        (close_now or window.close)()
    return await terminal


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshot.png")
    parser.add_argument("--size", default=f"{SIZE[0]}x{SIZE[1]}",
                        help="window size WIDTHxHEIGHT (default %(default)s)")
    args = parser.parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        parser.error(f"--size must be WIDTHxHEIGHT, e.g. 1600x1000, not {args.size!r}")
    with tempfile.TemporaryDirectory(prefix="sigma9-shot-") as tmp, \
            SimThread(SimConfig(port=0, seed=11, tick_interval_s=0.1)) as sim:
        settings = load_settings(
            broker={"port": sim.port, "client_id": 1},
            journal={"path": str(Path(tmp) / "journal.sqlite3")},
            strategy={"bar_size_s": BAR_S, "warmup_duration": "1800 S",
                      "watchlist": WATCHLIST},
            entry={"market_hours": "always_open"},  # the SimThread trades around the clock
            ui={"tick_repaint_ms": 100})
        qsettings = QSettings(str(Path(tmp) / "ui.ini"), QSettings.Format.IniFormat)
        app = QApplication.instance() or QApplication([sys.argv[0]])
        app.setApplicationName("Sigma9")
        return run_qt(lambda: scene(sim, settings, qsettings, args.out.resolve(),
                                    (width, height)), app)


if __name__ == "__main__":
    sys.exit(main())
