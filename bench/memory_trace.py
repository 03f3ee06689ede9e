"""Where figure 4's memory per order goes: tracemalloc over ``bench.window_load``'s filling.

``python -m bench.memory_trace N1 N2 [DEPTH]`` (offscreen Qt): the terminal of figure 4
(``TradingCore`` + ``MainWindow`` against ``bench.sim_child``, 20 symbols, no stream), filled
with entries cancelled once sent until the OMS knows N1 orders; tracemalloc starts there,
and the growth to N2 orders is printed by traceback (top 15), by line and by file. RSS
under tracemalloc is inflated by its own bookkeeping; the traced sizes are what counts.
Not a figure of ``make bench``: a tool for reading where the bytes are.
"""

from __future__ import annotations

import asyncio
import gc
import os
import sys
import tempfile
import tracemalloc
from pathlib import Path

from bench import window_load as wl


async def _fill(term: wl.Terminal, target: int) -> None:
    while term.orders() < target:
        entry_id = await term.entry()
        if entry_id is not None:
            term.cancel(entry_id)
        await asyncio.sleep(0)
    await asyncio.sleep(1.5)  # the cancels' reports land in the models


def _print(before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, orders: int,
           depth: int) -> None:
    keep = [tracemalloc.Filter(False, tracemalloc.__file__)]
    before, after = before.filter_traces(keep), after.filter_traces(keep)
    diff = after.compare_to(before, "traceback")
    total = sum(d.size_diff for d in diff)
    print(f"traced growth {total / 1e6:.1f} MB over {orders} orders "
          f"({total / max(orders, 1) / 1e3:.1f} KB an order)")
    for d in diff[:15]:
        print(f"--- {d.size_diff / 1e6:.2f} MB in {d.count_diff} blocks")
        for line in d.traceback.format()[-2 * depth:]:
            print("   ", line)
    for key in ("lineno", "filename"):
        print(f"==== by {key}")
        for stat in after.compare_to(before, key)[:25]:
            print(stat)


async def _session(workdir: Path, first: int, second: int, depth: int) -> None:
    symbols = [f"L{i:03d}" for i in range(20)]
    port = wl.free_port()
    sim = wl.start_sim(symbols, 5.0, port)
    term = wl.Terminal(workdir, symbols, port)
    try:
        await term.start()
        term.throttle(False)
        await _fill(term, first)
        gc.collect()
        tracemalloc.start(depth)
        before, rss0, n0 = tracemalloc.take_snapshot(), wl.rss_mb(), term.orders()
        await _fill(term, second)
        gc.collect()
        after = tracemalloc.take_snapshot()
        print(f"orders {n0} -> {term.orders()}, RSS {rss0:.0f} -> {wl.rss_mb():.0f} MB "
              "(inflated by tracemalloc)")
        _print(before, after, term.orders() - n0, depth)
    finally:
        await term.stop()
        sim.terminate()
        sim.wait(5)


def main(argv: list[str]) -> int:
    first, second = int(argv[0]), int(argv[1])
    depth = int(argv[2]) if len(argv) > 2 else 6
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from frontend.main import run_qt

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setQuitOnLastWindowClosed(False)
    shm = Path("/dev/shm")
    where = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    with tempfile.TemporaryDirectory(dir=where) as tmp:
        run_qt(lambda: _session(Path(tmp), first, second, depth), app)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
