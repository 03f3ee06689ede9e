"""One soak episode: a fresh simulator, the application in its own process, a seeded plan.

The simulator runs here (``SimThread``), so the soak injects faults through its control
interface and reads the broker's truth directly; the application (``soak/app.py``) talks
to it over TCP like any TWS client. After the plan, the armed faults are cleared and the
episode waits for recovery; then the application is stopped cleanly, its journal read, and
every invariant checked once more against the simulator (``invariants``).
"""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from backend.sim import SimConfig, SimThread
from backend.sim.faults import leg
from soak import invariants as inv
from soak.monitor import Monitor, take_sample, total_realized
from soak.plan import PRICES, Plan, Step, fault_kind, make_plan
from soak.proc import AppProcess

CLIENT_ID = 7
RECOVERY_TIMEOUT_S = 15.0
"""How long the end of an episode waits for every invariant to hold."""


@dataclass
class EpisodeResult:
    seed: int
    faults: list[str]
    violations: list[inv.Violation]
    recoveries: list[tuple[str, float | None]]
    """(fault kind, seconds to recover or None if it never did)."""
    duration_s: float
    final_recovery_s: float | None
    log: list[str] = field(default_factory=list)
    error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "faults": self.faults,
                "violations": [{"invariant": v.invariant, "key": v.key, "text": v.text}
                               for v in self.violations],
                "recoveries": [{"fault": k, "seconds": s} for k, s in self.recoveries],
                "duration_s": round(self.duration_s, 2),
                "final_recovery_s": self.final_recovery_s, "error": self.error}


class Driver:
    """Executes a plan's steps against the simulator and the application."""

    def __init__(self, sim: SimThread, app: AppProcess, monitor: Monitor) -> None:
        self.sim, self.app, self.monitor = sim, app, monitor
        self.signals: dict[str, dict[str, str]] = {}
        self.faults: list[str] = []
        self.restart_failures: list[str] = []
        self.armed = True

    def run(self, step: Step) -> None:
        kind = fault_kind(step)
        if kind:
            self.faults.append(kind)
            self.monitor.fault(kind)
        getattr(self, f"do_{step.kind}")(step)

    def do_signal(self, step: Step) -> None:
        base = PRICES[step.symbol]
        ask = self.sim.quote(step.symbol)["ask"]
        signal = {"id": step.signal_id, "symbol": step.symbol, "reference_price": str(ask),
                  "atr": str((base / 100).quantize(Decimal("0.01"))), "reason": "soak"}
        self.signals[step.signal_id] = signal
        self.app.send({"op": "signal", "signal": signal})

    def do_duplicate(self, step: Step) -> None:
        signal = self.signals.get(step.signal_id)
        if signal is not None:
            self.app.send({"op": "signal", "signal": signal})

    def do_reject(self, step: Step) -> None:
        matches = leg(step.role, step.signal_id)
        self.sim.reject_next_order(201, match=lambda spec: self.armed and matches(spec))

    def do_reject_again(self, step: Step) -> None:
        matches = leg(step.role, step.signal_id, reprotection=True)
        self.sim.reject_next_order(201, match=lambda spec: self.armed and matches(spec))

    def do_drop_after_orders(self, step: Step) -> None:
        self.sim.drop_after_orders(step.count, CLIENT_ID)

    def do_partial_fills(self, step: Step) -> None:
        self.sim.set_partial_fills(step.count or None)

    def do_freeze(self, step: Step) -> None:
        self.sim.freeze(step.seconds)

    def do_drop(self, step: Step) -> None:
        self.sim.drop_connections()

    def do_sigkill(self, step: Step) -> None:
        """Kill, then restart as a supervisor would: a start that fails (the broker frozen at
        the handshake) is retried; only one that never comes up is a violation."""
        self.app.kill()
        time.sleep(step.seconds)
        for _attempt in range(3):
            self.app.start()
            if self.app.wait_ready(30):
                return
            self.app.stop(5)
            time.sleep(1.0)
        self.restart_failures.append(
            f"the application did not start and reconcile on its journal in 3 attempts "
            f"after a SIGKILL (last: {self._last_words()})")

    def _last_words(self) -> str:
        gen = self.app.generation
        found = self.app.find(lambda e: e["gen"] == gen and e["event"] == "start_failed")
        return str(found.get("error")) if found else "no answer"

    def do_price(self, step: Step) -> None:
        base = PRICES[step.symbol]
        if step.move == "stop":
            self.sim.set_price(step.symbol, str(base * Decimal("0.97")))
        elif step.move == "trail":
            self.sim.set_price(step.symbol, str(base * Decimal("1.04")))
            time.sleep(0.6)
            self.sim.set_price(step.symbol, str(base * Decimal("1.015")))

    def do_cancel_exits(self, step: Step) -> None:
        """Sabotage for the harness's own test: end the symbol's exits at the broker without
        telling anyone, so the application still believes the position protected and only a
        checker reading the broker's own state can see it naked."""
        def cancel(s: Any) -> None:
            for o in list(s.broker.orders.values()):
                if (o.client_id == CLIENT_ID and o.instrument.symbol == step.symbol
                        and o.spec.action == "SELL" and not o.done):
                    o.status = "Cancelled"
        self.sim.call(cancel)

    def do_wait(self, step: Step) -> None:
        time.sleep(step.seconds)

    def clear_faults(self) -> None:
        """Before recovery: armed drops go, and an unfired rejection never matches now."""
        self.armed = False
        self.sim.call(lambda s: s.faults.clear())


def _journal_rows(path: Path) -> tuple[list[dict], list[dict]]:
    """Orders and fills as the journal holds them now (read while the app may be writing)."""
    if not path.exists():
        return [], []
    conn = sqlite3.connect(str(path), timeout=2)
    conn.row_factory = sqlite3.Row
    try:
        orders = [dict(r) for r in conn.execute("SELECT * FROM orders")]
        fills = [dict(r) for r in conn.execute("SELECT * FROM fills")]
    finally:
        conn.close()
    return orders, fills


def _journal_final(path: Path) -> tuple[list[dict], list[dict], Decimal | None]:
    from backend.core.journal import Journal

    with Journal(path) as journal:
        orders = [o.to_dict() for o in journal.orders()]
        fills = [f.to_dict() for f in journal.fills()]
        return orders, fills, journal.realized_pnl()


def _wait_recovered(monitor: Monitor, journal: Path, timeout: float) -> float | None:
    """Seconds until every check holds, journal included, or None past the timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        time.sleep(0.25)
        if not monitor.all_hold or monitor.last is None or monitor.unrecovered():
            continue
        try:
            orders, _fills = _journal_rows(journal)
        except sqlite3.Error:
            continue
        if not (inv.journal_limbo(orders, monitor.last.orders)
                or inv.orphans(orders, monitor.last.orders)):
            return round(time.monotonic() - start, 2)
    return None


def final_checks(sim: SimThread, journal: Path) -> list[inv.Violation]:
    sample = take_sample(sim, CLIENT_ID)
    executions = [e for e in sim.executions() if e["client_id"] == CLIENT_ID]
    j_orders, j_fills, j_realized = _journal_final(journal)
    out = [inv.Violation("I1", sym, f"at the end {sym} long {qty:f}, covered {cov:f}: "
                         f"{inv.exits_text(sample.orders, sym)}")
           for sym, (qty, cov) in inv.uncovered(sample.orders, sample.positions).items()]
    out += inv.duplicate_entries(sample.orders)
    out += inv.fills_mismatch(executions, j_fills)
    out += inv.pnl_mismatch(executions, total_realized(sample.positions), j_realized)
    out += inv.broker_limbo(sample.orders) + inv.journal_limbo(j_orders, sample.orders)
    out += inv.orphans(j_orders, sample.orders)
    out += inv.shorts(sample.positions)
    return out


def run_episode(seed: int, keep_dir: Path | None = None, verbose: bool = False,
                plan: Plan | None = None, grace_s: float | None = None,
                recovery_timeout_s: float = RECOVERY_TIMEOUT_S) -> EpisodeResult:
    """Run ``make_plan(seed)`` (or ``plan``); ``grace_s`` shortens I1's grace and
    ``recovery_timeout_s`` the wait for recovery at the end (the short run in the tests)."""
    plan = plan or make_plan(seed)
    work = Path(tempfile.mkdtemp(prefix=f"soak-{seed}-"))
    started = time.monotonic()
    sim = SimThread(SimConfig(port=0, volatility=0.0, tick_interval_s=0.05,
                              seed=seed % 10_000)).start()
    app: AppProcess | None = None
    monitor: Monitor | None = None
    driver: Driver | None = None
    error = ""
    final_recovery = None
    violations: list[inv.Violation] = []
    try:
        for symbol, price in PRICES.items():
            sim.set_price(symbol, str(price))
        journal = work / "journal.sqlite3"
        app = AppProcess(plan.settings(sim.port, str(journal), CLIENT_ID), work)
        app.start()
        if not app.wait_ready(30):
            raise RuntimeError("the application did not start: "
                               + (app.log_lines(started)[-1:] or ["no output"])[0])
        monitor = Monitor(sim, app, CLIENT_ID, t0=started)
        if grace_s is not None:
            monitor.grace_s = grace_s
        monitor.start()
        driver = Driver(sim, app, monitor)
        for step in plan.steps:
            if verbose:
                print(f"{time.monotonic() - started:7.2f} step {step.describe()}", flush=True)
            driver.run(step)
        driver.clear_faults()
        final_recovery = _wait_recovered(monitor, journal, recovery_timeout_s)
        monitor.stop()
        # Nothing may execute once the application is gone: its journal is compared with the
        # broker as of its stop (a time stop coming due later would be no fault of its own).
        sim.pause()
        time.sleep(0.3)
        if not app.stop():
            error = "the application did not stop cleanly when asked"
        violations = list(monitor.violations.values())
        violations += [inv.Violation("restart", f"restart {i}", text)
                       for i, text in enumerate(driver.restart_failures)]
        seen = {(v.invariant, v.key) for v in violations}
        violations += [v for v in final_checks(sim, journal) if (v.invariant, v.key) not in seen]
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"
    finally:
        if monitor is not None:
            monitor.stop()
        if app is not None:
            with contextlib.suppress(Exception):
                app.stop(5)
        with contextlib.suppress(Exception):
            sim.stop()
    log = [*plan.describe(), *(app.log_lines(started) if app else [])]
    result = EpisodeResult(
        seed=seed, faults=driver.faults if driver else [], violations=violations,
        recoveries=[(f.kind, f.recovered_s) for f in monitor.faults] if monitor else [],
        duration_s=time.monotonic() - started, final_recovery_s=final_recovery, log=log,
        error=error)
    if keep_dir is not None:
        keep_dir.mkdir(parents=True, exist_ok=True)
        (keep_dir / f"episode-{seed}.log").write_text("\n".join(
            [*log, "", *(f"{v.invariant} {v.key}: {v.text}" for v in violations)]) + "\n")
        if violations or error:
            target = keep_dir / f"episode-{seed}"
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(work, target)
    shutil.rmtree(work, ignore_errors=True)
    return result


__all__ = ["CLIENT_ID", "EpisodeResult", "Plan", "run_episode"]
