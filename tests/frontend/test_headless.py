"""``sigma9 --headless``: event lines as they happen, and the summary at the end.

The end-to-end runs start ``python -m frontend.main`` as a trader would, with HOME and the
journal in tmp_path and no display at all (headless must not need one). The trade lines are
checked in-process against a SimThread, where a signal can be handed to the core directly
instead of waiting minutes for the market to produce one.
"""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from backend.core.models import (
    FillRecord,
    LegRole,
    OrderRecord,
    OrderStatus,
    OrderType,
    Position,
    Side,
)
from backend.runtime import TradingCore
from backend.sim import SimThread
from backend.strategies.signal import Signal
from frontend.headless import EventPrinter, build_summary, format_summary
from tests.frontend.test_launcher import free_port, wait_gone
from tests.helpers import eventually
from tests.oms.conftest import make_settings
from tests.sim.conftest import quiet_config

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 3, 2, 15, 30, tzinfo=timezone.utc)
SUMMARY_KEYS = ("signals:", "orders:", "fills:", "realized P&L:", "open positions:")


def env_for(tmp_path: Path) -> dict[str, str]:
    drop = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SIGMA9_")}
    return {**env, "HOME": str(tmp_path), "PYTHONPATH": str(REPO),
            "SIGMA9_JOURNAL__PATH": str(tmp_path / "journal.sqlite3"),
            "SIGMA9_STRATEGY__WARMUP_DURATION": "600 S"}


def sigma9(*args: str) -> list[str]:
    return [sys.executable, "-m", "frontend.main", *args]


def simulator_pid(stdout: str) -> int:
    return int(re.search(r"simulator pid (\d+)", stdout).group(1))


def test_sim_headless_run_prints_events_and_summary(tmp_path):
    done = subprocess.run(sigma9("--sim", "--headless", "--minutes", "0.1"), cwd=REPO,
                          env=env_for(tmp_path), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Traceback" not in done.stderr
    assert re.search(r"^\d\d:\d\d:\d\d connection connected: connected to 127\.0\.0\.1:\d+ "
                     r"as client 1, account DU1234567$", out, re.M)
    assert re.search(r"^\d\d:\d\d:\d\d armed on AAPL, MSFT, TSLA$", out, re.M)
    summary = out[out.index("--- summary: "):].splitlines()
    assert "(account DU1234567)" in summary[0]
    for key, line in zip(SUMMARY_KEYS, summary[1:], strict=True):
        assert line.startswith(key), summary
    assert wait_gone(simulator_pid(out))
    # --sim keeps its own journal, next to (never in) the real one
    assert (tmp_path / "journal.sim.sqlite3").exists()
    assert not (tmp_path / "journal.sqlite3").exists()


def start_headless(tmp_path: Path) -> tuple[subprocess.Popen, list[str]]:
    """``sigma9 --sim --headless`` until Ctrl+C, read up to its "armed" line."""
    proc = subprocess.Popen(sigma9("--sim", "--headless"), cwd=REPO, env=env_for(tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and proc.poll() is None:
        lines.append(proc.stdout.readline())
        if " armed on " in lines[-1]:
            return proc, lines
    proc.kill()
    raise AssertionError(f"never armed: {lines} {proc.stderr.read()}")


def test_ctrl_c_ends_the_run_with_a_summary_and_ends_the_child(tmp_path):
    proc, lines = start_headless(tmp_path)
    try:
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 0, err
    assert "stopping early: interrupted" in out and "--- summary: " in out
    assert "Traceback" not in err
    assert wait_gone(simulator_pid(out))


def test_a_simulator_that_dies_ends_the_run_with_exit_1(tmp_path):
    proc, lines = start_headless(tmp_path)
    try:
        os.kill(simulator_pid("".join(lines)), signal.SIGKILL)
        rest, err = proc.communicate(timeout=10)
    finally:
        proc.kill()
    out = "".join(lines) + rest
    assert proc.returncode == 1, err
    assert re.search(r"stopping early: the simulator exited \(status -9\)", out)
    assert "--- summary: " in out and "Traceback" not in err


def test_nothing_listening_is_one_line_exit_1(tmp_path):
    port = free_port()
    done = subprocess.run(sigma9("--headless", "--port", str(port), "--minutes", "0.1"),
                          cwd=REPO, env=env_for(tmp_path), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert done.stderr == (f"sigma9: nothing is listening on 127.0.0.1:{port}: start TWS or "
                           "IB Gateway and enable the API socket on that port (paper: Gateway "
                           "4002, TWS 7497)\n")
    assert "--- summary" not in done.stdout


# -- the summary, from a known set of fills -----------------------------------------------------
def fill(exec_id, symbol, side, qty, price, commission, minute):
    return FillRecord(exec_id, f"o-{exec_id}", symbol, side, qty, Decimal(price),
                      T0.replace(minute=minute), Decimal(commission))


def order(order_id, status, role=LegRole.ENTRY, side=Side.BUY):
    return OrderRecord(order_id, "AAPL", side, OrderType.MARKET, 100, status, role)


def test_summary_from_known_fills():
    prior = [fill("p1", "MSFT", Side.BUY, 10, "400.00", "1.00", 0)]
    session = [
        fill("s1", "AAPL", Side.BUY, 100, "100.00", "1.00", 31),
        fill("s2", "AAPL", Side.SELL, 100, "101.00", "1.00", 32),  # +100 - 1 - 1 = +98
        fill("s3", "MSFT", Side.SELL, 10, "410.00", "1.00", 33),   # 4100 - 4001 - 1 = +98
        fill("s4", "TSLA", Side.BUY, 5, "200.00", "1.00", 34),     # still open
    ]
    positions = [
        Position("TSLA", 5, Decimal("200.2"), unrealized_pnl=Decimal("49.00"),
                 commissions=Decimal("1.00"), market_price=Decimal("210.00"),
                 protected_by=(LegRole.SAFETY_STOP, LegRole.TIME_STOP,
                               LegRole.PROFIT_HARVESTER)),
        Position("NVDA", 3, Decimal("120"), unrealized_pnl=Decimal("-1.5")),
    ]
    orders = [order("1", OrderStatus.FILLED), order("2", OrderStatus.FILLED, side=Side.SELL),
              order("3", OrderStatus.CANCELLED, LegRole.TIME_STOP, Side.SELL),
              order("4", OrderStatus.PENDING, LegRole.SAFETY_STOP, Side.SELL),
              order("5", OrderStatus.ERROR, LegRole.PROFIT_HARVESTER, Side.SELL)]
    summary = build_summary(prior_fills=prior, all_fills=prior + session, session_orders=orders,
                            positions=positions, signals=3, entries=2, refused=1,
                            elapsed_s=90, endpoint="127.0.0.1:4002", account="DU1234567")
    assert summary.realized == Decimal("196.00") and summary.commissions == Decimal("4.00")
    assert format_summary(summary) == [
        "--- summary: 1.5 min on 127.0.0.1:4002 (account DU1234567) ---",
        "signals:        3 (2 entered, 1 refused)",
        "orders:         5 (2 filled, 1 cancelled, 1 working, 1 rejected)",
        "fills:          4 (215 shares), commissions 4.00",
        "realized P&L:   +196.00 (after commissions)",
        "open positions: 2",
        "  TSLA 5 @ 200.20 avg cost incl. commission, mark 210.00, unrealized +49.00; "
        "protected by stop, time stop, trail",
        "  NVDA 3 @ 120.00 avg cost incl. commission, unrealized -1.50; "
        "UNPROTECTED (no live exit at the broker)",
    ]


def test_summary_of_a_quiet_session():
    summary = build_summary(prior_fills=[], all_fills=[], session_orders=[], positions=[],
                            signals=0, entries=0, refused=0, elapsed_s=6)
    assert format_summary(summary) == [
        "--- summary: 0.1 min ---",
        "signals:        0 (0 entered, 0 refused)",
        "orders:         0 (0 filled, 0 cancelled, 0 working, 0 rejected)",
        "fills:          0 (0 shares), commissions 0.00",
        "realized P&L:   0.00 (after commissions)",
        "open positions: none",
    ]


# -- event lines from a real trade (in-process) -----------------------------------------------
@pytest.mark.asyncio
async def test_trade_events_are_printed_as_they_happen(tmp_path):
    with SimThread(quiet_config()) as sim:
        sim.set_price("AAPL", "100.00")
        core = TradingCore.build(make_settings(sim, tmp_path / "j.sqlite3",
                                                 entry={"market_hours": "always_open"}))
        out = io.StringIO()
        printer = EventPrinter(out, now=lambda: T0)
        printer.attach(core)
        await core.start()
        try:
            await core.manager.execute_entry(Signal(
                id="sig-1", symbol="AAPL", reference_price=Decimal("100.00"),
                atr=Decimal("1.00"), reason="test"))
            await eventually(lambda: "protected: " in out.getvalue(), what="protected position")
            sim.set_price("AAPL", "97.00")  # through the 98.00 safety stop
            await eventually(lambda: "positions: none" in out.getvalue(), what="stopped out")
            await eventually(lambda: out.getvalue().count("-> CANCELLED") == 2,
                             what="the other legs cancelled by OCA")
        finally:
            await core.stop()
    lines = out.getvalue().splitlines()
    assert all(line.startswith("15:30:00 ") for line in lines)
    text = "\n".join(line[9:] for line in lines)
    assert "connection connected: connected to 127.0.0.1:" in text
    assert re.search(r"^order \d+ AAPL BUY 100 LMT limit 100\.50 \[entry\]: PENDING$", text, re.M)
    assert re.search(r"^order \d+ AAPL SELL 100 STP stop 98\.00 \[stop\]: PENDING$",
                     text, re.M)
    assert re.search(r"^order \d+ AAPL \[entry\]: PENDING -> FILLED 100/100 @ 100\.01$",
                     text, re.M)
    assert re.search(r"^fill AAPL BUY 100 @ 100\.01, commission 1\.00 \(order \d+\)$", text,
                     re.M)
    assert re.search(r"^fill AAPL SELL 100 @ 96\.99, commission 1\.00 \(order \d+\)$", text,
                     re.M)
    assert "positions: AAPL 100 (protected: " in text
    assert text.index("fill AAPL BUY") < text.index("fill AAPL SELL") < text.index(
        "positions: none")
