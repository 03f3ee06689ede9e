"""Figures 3 and 4: the real main window under a busy tape, and memory as orders pile up.

One terminal process as ``sigma9 --sim`` builds it (``TradingCore`` + ``MainWindow``,
offscreen Qt on a qasync loop), against a simulator child process (``bench.sim_child``:
``sigma9-sim``'s server with market-data lines for every symbol), as ``--sim`` runs one,
so the terminal's CPU is its own:

- Memory (figure 4): RSS (``/proc/self/status``) after 1,000 and 10,000 orders have gone
  through the OMS, the journal and the window's models. The orders are entries with their
  exits, each entry cancelled by the OMS once sent (its exits go with it), sent with
  ib_insync's throttle off so the 10,000 take seconds, not minutes. All entries are on one
  symbol: the chart follows entries (``ui.chart_follows_entries``), and a new symbol each
  time would measure the chart reloading its history instead. The journal lives on
  /dev/shm (memory) where there is one: on a disk each of its commits waits for fsync,
  which profiled at 40% of the filling time and capped it near 20 orders a second; that
  cost is the journal's transactions per signal, counted in figure 1.
- The window (figure 3), with those 10,000 orders in its tables: the simulator streams S
  symbols x R ticks/s (every symbol subscribed), and order events flow (an entry a second,
  cancelled half a second later; the OMS events are counted and reported per second).
  A ``QTimer`` firing every ``TICK_MS`` measures its own lateness (how long after its due
  time it ran: what a click or a repaint waits); CPU is process time over wall time.
  The floor, interleaved with each loaded phase: the same window and timer with no market
  data subscribed and no orders flowing. The target's 16 ms is one frame at 60 Hz.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import clock, ms, percentile, summary

TICK_MS = 10
CLIENT = 7


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sim(symbols: list[str], ticks_per_s: float, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.sim_child", str(port), str(1 / ticks_per_s),
         ",".join(symbols)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return proc
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the simulator child did not start listening")


class Lateness:
    """A precise timer measuring how late it fires, while ``recording``."""

    def __init__(self) -> None:
        from PyQt6.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._fired)
        self.samples: list[float] = []
        self.last = 0.0
        self.recording = False

    def start(self) -> None:
        self.last = clock()
        self.timer.start()

    def _fired(self) -> None:
        now = clock()
        if self.recording:
            self.samples.append(max(0.0, ms(now - self.last) - TICK_MS))
        self.last = now

    def take(self) -> list[float]:
        out, self.samples = self.samples, []
        return out


class Terminal:
    def __init__(self, workdir: Path, symbols: list[str], port: int) -> None:
        self.workdir, self.symbols, self.port = workdir, symbols, port
        self.core: Any = None
        self.window: Any = None
        self.events = 0
        self.turn = 0
        self.entries: list[str] = []

    async def start(self) -> None:
        from PyQt6.QtCore import QSettings

        from backend.runtime import TradingCore
        from backend.settings import load_settings
        from frontend.window import MainWindow

        settings = load_settings(
            broker={"port": self.port, "client_id": CLIENT, "connect_timeout_s": 10.0},
            journal={"path": str(self.workdir / "journal.sqlite3")},
            entry={"market_hours": "always_open"}, risk={"max_open_positions": 1000},
            strategy={"bar_size_s": 60, "warmup_duration": "120 S",
                      "watchlist": self.symbols[:2]})
        self.core = TradingCore.build(settings)
        qsettings = QSettings(str(self.workdir / "ui.ini"), QSettings.Format.IniFormat)
        self.window = MainWindow(self.core, settings, "sim", qsettings)
        self.window.show()
        if not await self.window.connect_broker():
            raise RuntimeError("the window could not connect to the simulator")
        self.core.manager.subscribe(self._count)

    def _count(self, *args: Any, **kwargs: Any) -> None:
        self.events += 1

    async def stop(self) -> None:
        if self.window is not None:
            self.window.close_now()
            await self.window.drain()
        if self.core is not None:
            await self.core.stop()

    def orders(self) -> int:
        return len(self.core.manager.orders)

    def throttle(self, on: bool) -> None:
        self.core.connector.ib.client.MaxRequests = 45 if on else 0

    async def entry(self) -> str | None:
        """One entry resting 10% under the market, then cancelled; None if refused."""
        from backend.strategies.signal import Signal, SignalRefused

        symbol = self.symbols[0]  # one symbol: the chart follows entries, and reloading
        self.turn += 1            # its history for each new symbol would dominate
        try:
            entry_id = await self.core.manager.execute_entry(Signal(
                symbol=symbol, reference_price="90.00", atr="1.00", reason="bench"))
        except SignalRefused:
            await asyncio.sleep(0.002)  # the previous entry's cancel is not in yet
            return None
        return entry_id

    def cancel(self, entry_id: str) -> None:
        with contextlib.suppress(Exception):
            self.core.manager.cancel(entry_id)


async def _fill_tables(term: Terminal, targets: list[int], budget_s: float) -> dict[str, Any]:
    """Send entries until the OMS knows each target number of orders; RSS at each. Past
    ``budget_s`` the filling stops where it is (``reached`` says how far: a slow window
    must not make ``make bench`` run for an hour; the rate shows why)."""
    memory: dict[str, Any] = {"start_rss_mb": rss_mb()}
    rates = []
    deadline = clock() + budget_s
    term.throttle(False)
    try:
        for target in targets:
            started, before = clock(), term.orders()
            while term.orders() < target and clock() < deadline:
                entry_id = await term.entry()
                if entry_id is not None:
                    term.cancel(entry_id)
                await asyncio.sleep(0)
            await asyncio.sleep(1.0)  # the cancels' reports land in the models
            memory[f"rss_mb_at_{target}"] = rss_mb()
            memory[f"reached_for_{target}"] = term.orders()
            rates.append((term.orders() - before) / (clock() - started - 1.0))
    finally:
        term.throttle(True)
    memory["orders_per_s_while_filling"] = rates
    return memory


async def _phase(term: Terminal, timer: Lateness, seconds: float, loaded: bool
                 ) -> dict[str, float]:
    if loaded:
        for symbol in term.symbols:
            await term.core.connector.market.subscribe(symbol)
    await asyncio.sleep(0.5)  # the stream is running before the timer records
    events0, cpu0, wall0 = term.events, time.process_time(), clock()
    timer.take()
    timer.recording = True
    end = clock() + seconds
    pending: list[tuple[float, str]] = []
    while clock() < end:
        if loaded:
            entry_id = await term.entry()
            if entry_id is not None:
                pending.append((clock() + 0.5, entry_id))
        for due, entry_id in list(pending):
            if clock() >= due:
                term.cancel(entry_id)
                pending.remove((due, entry_id))
        await asyncio.sleep(1.0 if loaded else 0.25)
    timer.recording = False
    for _due, entry_id in pending:
        term.cancel(entry_id)
    samples = timer.take()
    wall = clock() - wall0
    out = {"lateness_p50_ms": percentile(samples, 0.5), "lateness_p99_ms":
           percentile(samples, 0.99), "cpu_cores": (time.process_time() - cpu0) / wall,
           "order_events_per_s": (term.events - events0) / wall, "samples": len(samples)}
    if loaded:
        for symbol in term.symbols:
            term.core.connector.market.unsubscribe(symbol)
        await asyncio.sleep(0.5)
    return out


async def _session(symbols: list[str], ticks: float, targets: list[int], seconds: float,
                   reps: int, budget_s: float, workdir: Path) -> dict[str, Any]:
    port = free_port()
    sim = start_sim(symbols, ticks, port)
    term = Terminal(workdir, symbols, port)
    try:
        await term.start()
        memory = await _fill_tables(term, targets, budget_s)
        timer = Lateness()
        timer.start()
        loaded: dict[str, list[float]] = {}
        quiet: dict[str, list[float]] = {}
        for _ in range(reps):
            for into, is_loaded in ((quiet, False), (loaded, True)):
                got = await _phase(term, timer, seconds, is_loaded)
                for key, value in got.items():
                    into.setdefault(key, []).append(value)
        timer.timer.stop()
        return {"symbols": len(symbols), "ticks_per_s": ticks, "orders_in_tables":
                term.orders(), "phase_s": seconds, "timer_ms": TICK_MS,
                "loaded": {k: summary(v) for k, v in loaded.items()},
                "floor_quiet": {k: summary(v) for k, v in quiet.items()},
                "memory": memory}
    finally:
        await term.stop()
        sim.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            sim.wait(5)
        if sim.poll() is None:
            sim.kill()


def run(scale: str = "full") -> dict[str, Any]:
    """full: 200 symbols x 5 ticks/s, 1k and 10k orders (filling budget 150 s), 3 x 10 s
    phases; quick: 3 x 5 s (budget 90 s);
    smoke: 5 symbols, 20 orders, one short phase."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from frontend.main import run_qt

    if scale == "smoke":
        n, ticks, targets, seconds, reps, budget = 5, 5.0, [8, 20], 1.0, 1, 30.0
    elif scale == "quick":
        n, ticks, targets, seconds, reps, budget = 200, 5.0, [1_000, 10_000], 5.0, 3, 90.0
    else:
        n, ticks, targets, seconds, reps, budget = 200, 5.0, [1_000, 10_000], 10.0, 3, 150.0
    symbols = [f"L{i:03d}" for i in range(n)]
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    shm = Path("/dev/shm")  # see the module doc: the journal's fsyncs are figure 1's cost
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        return run_qt(lambda: _session(symbols, ticks, targets, seconds, reps, budget,
                                               Path(tmp)), app)
