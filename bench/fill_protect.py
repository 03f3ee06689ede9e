"""Figure 2, fill to protected: from the entry's execution to its stop working, at the
simulator, with 10,000 finished orders in its history.

A bracket (MKT entry, LMT take-profit, STP stop; the stop transmits) is placed on the
simulator's own loop, as a client's three placeOrder messages are, with one ib_insync
client connected so every report is really pushed to a session. A recorder wrapped
around the broker's listener stamps the entry's execution and the first report of the
stop working (PreSubmitted, whyHeld ``trigger``, no longer held by its parent), and
counts the matching passes (``Broker.evaluate``) between them: the target is the same
pass. The floor is the same chain's three reports with nothing executing (an entry LMT
far from the market): what a report costs by itself.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backend.sim.config import SimConfig
from backend.sim.control import SimThread
from backend.sim.models import ContractRef, OrderSpec
from bench.stats import clock, ms, percentile, summary

HISTORY_CLIENT = 7
CLIENT = 1
SYMBOL = "AAPL"


class Recorder:
    """Passes every report on and stamps the two moments of one bracket."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.parent_id = 0
        self.stop_id = 0
        self.filled_at: float | None = None
        self.protected_at: float | None = None
        self.pass_at_fill = 0
        self.pass_at_protect = 0
        self.passes = 0

    def arm(self, parent_id: int, stop_id: int) -> None:
        self.parent_id, self.stop_id = parent_id, stop_id
        self.filled_at = self.protected_at = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def execution(self, record: Any) -> None:
        if record.order_id == self.parent_id and self.filled_at is None:
            self.filled_at, self.pass_at_fill = clock(), self.passes
        self.inner.execution(record)

    def order_update(self, order: Any, open_order: bool) -> None:
        if (order.order_id == self.stop_id and self.filled_at is not None
                and self.protected_at is None and order.held_by is None and not order.done):
            self.protected_at, self.pass_at_protect = clock(), self.passes
        self.inner.order_update(order, open_order)


def _contract() -> ContractRef:
    return ContractRef(symbol=SYMBOL, sec_type="STK", exchange="SMART", currency="USD")


def _history(server: Any, first: int, count: int) -> None:
    """``count`` finished orders: market buys and sells of one share, alternating."""
    for i in range(first, first + count):
        server.broker.place(HISTORY_CLIENT, OrderSpec(
            i + 1, _contract(), "BUY" if i % 2 == 0 else "SELL", Decimal(1), "MKT"))


def _bracket(server: Any, first: int, entry_type: str) -> None:
    last = server.market.quote(SYMBOL).last
    tick = Decimal("0.01")
    entry = OrderSpec(first, _contract(), "BUY", Decimal(10), entry_type, transmit=False)
    if entry_type == "LMT":
        entry.lmt_price = (last * Decimal("0.5")).quantize(tick)
    broker = server.broker
    broker.place(CLIENT, entry)
    broker.place(CLIENT, OrderSpec(first + 1, _contract(), "SELL", Decimal(10), "LMT",
                                   lmt_price=(last * Decimal("1.5")).quantize(tick),
                                   parent_id=first, transmit=False))
    broker.place(CLIENT, OrderSpec(first + 2, _contract(), "SELL", Decimal(10), "STP",
                                   aux_price=(last * Decimal("0.6")).quantize(tick),
                                   parent_id=first, transmit=True))
    broker.cancel(CLIENT, first + 2 if entry_type == "MKT" else first)  # leave it finished


def run(scale: str = "full") -> dict[str, Any]:
    history, reps, per_rep = {"smoke": (20, 1, 3), "quick": (10_000, 3, 30)}.get(
        scale, (10_000, 3, 100))
    import asyncio

    from ib_insync import IB  # the client whose session receives every push

    asyncio.set_event_loop(asyncio.new_event_loop())  # an earlier figure's run closed its own
    sim = SimThread(SimConfig(port=0, starting_cash=Decimal("1000000000"))).start()
    ib = IB()
    try:
        sim.pause()  # no periodic passes: only the bracket's own pass runs
        ib.connect("127.0.0.1", sim.port, clientId=CLIENT, timeout=10)
        for first in range(0, history, 500):  # in batches: each call has a 10 s limit
            sim.call(lambda s, f=first: _history(s, f, min(500, history - f)))
            ib.sleep(0.05)  # read the pushes, as a live client does
        recorder: Recorder = sim.call(lambda s: _install(s))
        fill_p50, fill_p99, floor_p50, same_pass = [], [], [], []
        next_id = 100_000
        for _ in range(reps):
            gaps, floors, passes = [], [], []
            for _ in range(per_rep):
                recorder.arm(next_id, next_id + 2)
                sim.call(lambda s, n=next_id: _bracket(s, n, "MKT"))
                next_id += 3
                assert recorder.filled_at is not None and recorder.protected_at is not None
                gaps.append(ms(recorder.protected_at - recorder.filled_at))
                passes.append(recorder.pass_at_protect - recorder.pass_at_fill)
                start = clock()
                sim.call(lambda s, n=next_id: _bracket(s, n, "LMT"))
                floors.append(ms(clock() - start) / 4)  # per report of the resting chain
                next_id += 3
            fill_p50.append(percentile(gaps, 0.5))
            fill_p99.append(percentile(gaps, 0.99))
            floor_p50.append(percentile(floors, 0.5))
            same_pass.append(float(max(passes) == 0))
        ib.sleep(0)
    finally:
        ib.disconnect()
        sim.stop()
    return {"history_orders": history, "brackets_per_rep": per_rep,
            "fill_to_protected_p50_ms": summary(fill_p50),
            "fill_to_protected_p99_ms": summary(fill_p99),
            "same_pass": summary(same_pass),
            "floor_chain_call_per_report_ms": summary(floor_p50)}


def _install(server: Any) -> Recorder:
    broker = server.broker
    recorder = Recorder(broker.listener)
    broker.listener = recorder
    evaluate = broker.evaluate

    def counted(symbol: str) -> None:
        recorder.passes += 1
        evaluate(symbol)

    broker.evaluate = counted
    return recorder
