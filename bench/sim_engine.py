"""Figure 6, the simulator: one market step and order intake with N resting orders.

The engine is driven directly, on this thread, the way the server's tick loop drives it
(``Market.step`` then ``Broker.on_clock``), with a ``SimServer`` as the broker's listener
and no client connected, so what is timed is matching and bookkeeping, not sockets.
The resting orders are brackets as Sigma9 sends them (a LMT entry 20% below the market,
a LMT take-profit and a STP stop under it, the last one transmitting), spread evenly over
200 symbols: every child is held by its unfilled parent and nothing is near the market,
so a step changes nothing and its cost is pure overhead.
The floor beside it is the market step alone with no orders at all.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from backend.sim.config import SimConfig
from backend.sim.models import ContractRef, OrderSpec
from backend.sim.server import SimServer
from bench.stats import clock, ms, summary

CLIENT = 1


def symbols(count: int) -> tuple[str, ...]:
    return tuple(f"B{i:03d}" for i in range(count))


def new_server(symbol_count: int) -> SimServer:
    config = SimConfig(port=0, symbols=symbols(symbol_count),
                       starting_cash=Decimal("1000000000"))
    return SimServer(config)


def bracket(server: SimServer, symbol: str, first_id: int) -> list[OrderSpec]:
    """A resting bracket: entry LMT 20% under the market, TP 20% over, STP 30% under."""
    last = server.market.quote(symbol).last
    contract = ContractRef(symbol=symbol, sec_type="STK", exchange="SMART", currency="USD")
    tick = Decimal("0.01")
    below = (last * Decimal("0.8")).quantize(tick)
    above = (last * Decimal("1.2")).quantize(tick)
    stop = (last * Decimal("0.7")).quantize(tick)
    qty = Decimal(1)
    return [
        OrderSpec(first_id, contract, "BUY", qty, "LMT", lmt_price=below, tif="GTC",
                  transmit=False),
        OrderSpec(first_id + 1, contract, "SELL", qty, "LMT", lmt_price=above, tif="GTC",
                  parent_id=first_id, transmit=False),
        OrderSpec(first_id + 2, contract, "SELL", qty, "STP", aux_price=stop, tif="GTC",
                  parent_id=first_id, transmit=True),
    ]


def place_resting(server: SimServer, count: int, next_id: int) -> int:
    """Place ``count`` resting orders (rounded down to whole brackets); the next free id."""
    names = list(server.market.symbols)
    for i in range(count // 3):
        for spec in bracket(server, names[i % len(names)], next_id):
            server.broker.place(CLIENT, spec)
        next_id += 3
    return next_id


def step_time(server: SimServer, steps: int) -> list[float]:
    """Milliseconds of each market step (every symbol ticks, then the clock pass)."""
    out = []
    for _ in range(steps):
        start = clock()
        server.market.step()
        server.broker.on_clock()
        out.append(ms(clock() - start))
    return out


def intake_rate(server: SimServer, orders: int, next_id: int) -> tuple[float, int]:
    """Orders per second accepted by ``Broker.place`` (brackets, as above)."""
    start = clock()
    after = place_resting(server, orders, next_id)
    elapsed = clock() - start
    return (after - next_id) / elapsed, after


def run(scale: str = "full") -> dict[str, Any]:
    """``scale``: full (100/1k/10k resting, 200 symbols), quick (fewer steps and reps) or
    smoke (tiny, for the test that checks the shape)."""
    if scale == "smoke":
        sizes, symbol_count, steps, reps, intake = [30], 10, 2, 1, 30
    elif scale == "quick":
        sizes, symbol_count, steps, reps, intake = [100, 1_000, 10_000], 200, 5, 3, 600
    else:
        sizes, symbol_count, steps, reps, intake = [100, 1_000, 10_000], 200, 20, 3, 1_500
    rows: dict[str, Any] = {}
    floor_reps: list[float] = []
    for size in sizes:
        step_p50: list[float] = []
        step_max: list[float] = []
        rates: list[float] = []
        for _ in range(reps):
            empty = new_server(symbol_count)  # the floor, interleaved with each repetition
            floor_reps.append(summary(step_time(empty, steps))["median"])
            server = new_server(symbol_count)
            next_id = place_resting(server, size, 1)
            times = step_time(server, steps)
            step_p50.append(summary(times)["median"])
            step_max.append(max(times))
            rate, _ = intake_rate(server, intake, next_id)
            rates.append(rate)
        rows[str(size)] = {"step_ms": summary(step_p50), "step_max_ms": summary(step_max),
                           "intake_per_s": summary(rates)}
    return {"symbols": symbol_count, "steps_per_rep": steps, "intake_orders": intake,
            "resting": rows, "floor_empty_step_ms": summary(floor_reps)}
