"""Continuous checks while an episode runs, and the time each fault took to heal.

A thread samples the simulator every ``PERIOD_S`` (one marshalled call: our client's orders,
the positions, the freeze and whether the application is connected). I2 and a short are
violations the moment they are seen. I1 and the broker half of I5 get a grace period, but
only of *nominal* time: the application running and reconciled, connected, the simulator
not frozen. A position left uncovered for ``GRACE_S`` of nominal time is a violation, so a
drop or a freeze never counts against the application while it cannot act.

A fault is recovered at the first sample, ``SETTLE_S`` after it was injected, where the
application is nominal and every continuous check holds.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from soak import invariants as inv

PERIOD_S = 0.1
GRACE_S = 5.0
SETTLE_S = 0.3


@dataclass
class Sample:
    at: float
    orders: list[dict[str, Any]]
    positions: dict[str, dict[str, Any]]
    frozen: bool
    connected: bool


def take_sample(sim: Any, client_id: int) -> Sample:
    def read(s: Any) -> Sample:
        orders = [o.snapshot() for o in sorted(s.broker.orders.values(), key=lambda o: o.seq)
                  if o.client_id == client_id]
        positions = {p.instrument.symbol: {"qty": p.qty, "avg_cost": p.avg_cost,
                                           "realized": p.realized}
                     for p in s.broker.account.positions.values()}
        connected = any(x.ready and not x.closed and x.client_id == client_id
                        for x in s.sessions)
        return Sample(time.monotonic(), orders, positions, s.frozen, connected)
    return sim.call(read)


@dataclass
class Fault:
    kind: str
    at: float
    recovered_s: float | None = None


@dataclass
class Monitor:
    sim: Any
    app: Any
    client_id: int
    t0: float = field(default_factory=time.monotonic)
    grace_s: float = GRACE_S
    violations: dict[tuple[str, str], inv.Violation] = field(default_factory=dict)
    faults: list[Fault] = field(default_factory=list)
    all_hold: bool = False
    last: Sample | None = None
    _settled_since: float | None = None
    _uncovered_since: dict[str, float] = field(default_factory=dict)
    _limbo_since: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name="soak-monitor")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def fault(self, kind: str) -> None:
        with self._lock:
            self.faults.append(Fault(kind, time.monotonic()))

    def report(self, v: inv.Violation, at: float | None = None) -> None:
        with self._lock:
            stamp = (at if at is not None else time.monotonic()) - self.t0
            self.violations.setdefault((v.invariant, v.key), inv.Violation(
                v.invariant, v.key, f"{v.text} (t={stamp:.1f}s)"))

    def _run(self) -> None:
        while not self._stop.wait(PERIOD_S):
            try:
                self.check(take_sample(self.sim, self.client_id))
            except Exception:  # the simulator is stopping at the end of the episode
                if self._stop.is_set():
                    return
                raise

    def check(self, s: Sample) -> None:
        now = s.at
        nominal = self.app.ready and s.connected and not s.frozen
        if not nominal:
            self._settled_since = None
        elif self._settled_since is None:
            self._settled_since = now
        settled = self._settled_since
        uncovered = inv.uncovered(s.orders, s.positions)
        for symbol in list(self._uncovered_since):
            if symbol not in uncovered:
                del self._uncovered_since[symbol]
        for symbol, (qty, cov) in uncovered.items():
            since = self._uncovered_since.setdefault(symbol, now)
            if settled is not None and now - max(since, settled) > self.grace_s:
                self.report(inv.Violation(
                    "I1", symbol, f"{symbol} long {qty:f} but only {cov:f} covered for "
                    f"{now - since:.1f}s ({now - max(since, settled):.1f}s of it with the app "
                    f"connected): {inv.exits_text(s.orders, symbol)}"), now)
        for v in inv.duplicate_entries(s.orders) + inv.shorts(s.positions):
            self.report(v, now)
        limbo = inv.broker_limbo(s.orders)
        keys = {v.key for v in limbo}
        for key in list(self._limbo_since):
            if key not in keys:
                del self._limbo_since[key]
        for v in limbo:
            since = self._limbo_since.setdefault(v.key, now)
            if settled is not None and now - max(since, settled) > self.grace_s:
                self.report(v, now)
        holds = (nominal and not uncovered and not limbo and not inv.shorts(s.positions)
                 and not inv.duplicate_entries(s.orders))
        with self._lock:
            self.last, self.all_hold = s, holds
            if holds:
                for f in self.faults:
                    if f.recovered_s is None and now >= f.at + SETTLE_S:
                        f.recovered_s = round(now - f.at, 2)

    def unrecovered(self) -> list[Fault]:
        with self._lock:
            return [f for f in self.faults if f.recovered_s is None]


def total_realized(positions: dict[str, dict[str, Any]]) -> Decimal:
    return sum((Decimal(p["realized"]) for p in positions.values()), Decimal(0))
