"""Control of a running simulator, for tests, the CLI and the terminal's --sim mode.

``SimThread`` runs a ``SimServer`` on its own event loop in a daemon thread,
so a test can drive it with ib_insync's blocking API from the main thread.
Every control call is marshalled onto the simulator's loop and waits for it,
so the test never races the matching engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from backend.sim.config import SimConfig
from backend.sim.models import OrderSpec
from backend.sim.server import SimServer

T = TypeVar("T")


class SimThread:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig(port=0)
        self.server: SimServer | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sigma9-sim",
                                        daemon=True)

    # -- lifecycle -----------------------------------------------------------
    def start(self) -> SimThread:
        self._thread.start()

        async def boot() -> SimServer:
            server = SimServer(self.config)
            await server.start()
            return server

        self.server = asyncio.run_coroutine_threadsafe(boot(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self.server is not None:
            asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    def __enter__(self) -> SimThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.port

    def call(self, fn: Callable[[SimServer], T]) -> T:
        """Run ``fn(server)`` on the simulator's loop and return its result."""
        assert self.server is not None
        server = self.server

        async def run() -> T:
            return fn(server)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    # -- scripting the market --------------------------------------------------
    def set_price(self, symbol: str, price: float | str, size: int | None = None) -> None:
        """Hold ``symbol`` at ``price``; with ``size``, every tick from now trades that many
        shares (so a test can make volume surge or stop), else sizes stay random."""
        self.call(lambda s: s.market.set_price(symbol, price, size))

    def script(self, symbol: str, points: list[tuple], then: str = "hold") -> None:
        """Points are ``(seconds, price)`` or ``(seconds, price, size)``, step-wise."""
        self.call(lambda s: s.market.script(symbol, points, then))

    def quote(self, symbol: str) -> dict[str, Decimal]:
        def read(s: SimServer) -> dict[str, Decimal]:
            q = s.market.quote(symbol)
            return {"bid": q.bid, "ask": q.ask, "last": q.last}
        return self.call(read)

    def advance_time(self, seconds: float) -> None:
        """Move the simulator's clock forward and re-evaluate time-driven orders at once."""
        def advance(s: SimServer) -> None:
            s.clock.advance(seconds)
            s.broker.evaluate_all()
        self.call(advance)

    def set_time(self, moment: datetime) -> None:
        """Set the simulator's clock to ``moment`` (timezone-aware; it runs on from there at
        wall speed) and re-evaluate every order at once, as ``advance_time`` does.

        With ``SimConfig(sessions="us_equity")`` this is how a test crosses the open or the
        close, and how a replay puts the simulator at the moment a capture was taken. The
        clock may move backwards; orders are judged by the new time from then on.
        """
        def move(s: SimServer) -> None:
            s.clock.set(moment)
            s.broker.evaluate_all()
        self.call(move)

    def now(self) -> float:
        """The simulator's clock (epoch seconds), which ``advance_time`` moves ahead of the wall."""
        return self.call(lambda s: s.clock.now())

    def session(self) -> str:
        """The trading session at the simulator's clock: ``pre-market``, ``regular hours``,
        ``after hours`` or ``closed`` (always ``regular hours`` when always open)."""
        return self.call(lambda s: s.broker.sessions.session(s.clock.now()).value)

    # -- stepping --------------------------------------------------------------
    def pause(self) -> None:
        """Stop the periodic ticks: prices hold and nothing matches unless the test says so.

        With partial fills every pass fills a little more, so a test that wants to look at
        the state after exactly one fill must own the passes: while paused, only
        ``set_price``/``script``, ``advance_time``, ``match`` and client requests run them.
        """
        def pause(s: SimServer) -> None:
            s.market.paused = True
            s.broker.paused = True
        self.call(pause)

    def resume(self) -> None:
        def resume(s: SimServer) -> None:
            s.market.paused = False
            s.broker.paused = False
        self.call(resume)

    @contextlib.contextmanager
    def paused(self) -> Iterator[SimThread]:
        self.pause()
        try:
            yield self
        finally:
            self.resume()

    def match(self, passes: int = 1) -> None:
        """Run ``passes`` matching passes over every live order at the current prices."""
        def run(s: SimServer) -> None:
            for _ in range(passes):
                s.broker.evaluate_all()
        self.call(run)

    # -- faults ----------------------------------------------------------------
    def drop_connections(self) -> None:
        self.call(lambda s: s.drop_all())

    def freeze(self, seconds: float) -> None:
        self.call(lambda s: s.freeze(seconds))

    def drop_after_orders(self, count: int, client_id: int | None = None) -> None:
        """Drop the connection right after the next ``count`` placeOrder messages (of
        ``client_id``, else of any client): the rest of a transmit chain is never read
        (``faults.py``)."""
        self.call(lambda s: s.faults.drop_after_orders(count, client_id))

    def reject_next_order(self, code: int = 201, text: str = "",
                          match: Callable[[OrderSpec], bool] | None = None) -> None:
        message = text or ("Order rejected - reason:Rejected by sigma9-sim control"
                           if code == 201 else f"Rejected by sigma9-sim control (code {code})")
        self.call(lambda s: s.broker.reject_next(code, message, match))

    def warn_next_order(self, code: int, text: str,
                        match: Callable[[OrderSpec], bool] | None = None) -> None:
        """IB's ``code`` for the next matching order once it is released; the order is
        accepted and keeps working (a warning, or a code no table knows)."""
        self.call(lambda s: s.broker.warn_next(code, text, match))

    def halt(self, symbol: str) -> None:
        """A trading halt in ``symbol``: orders are accepted and rest, nothing executes."""
        self.call(lambda s: s.broker.halted.add(symbol.upper()))

    def resume_trading(self, symbol: str) -> None:
        self.call(lambda s: s.broker.halted.discard(symbol.upper()))

    def set_partial_fills(self, max_qty_per_fill: int | None) -> None:
        value = Decimal(max_qty_per_fill) if max_qty_per_fill else None
        self.call(lambda s: setattr(s.broker, "partial_fill_qty", value))

    def end_session(self) -> None:
        """End the trading day by hand: DAY orders expire, GTC orders carry over (and ones
        their conditions activated without executing wait for them again). With sessions on,
        the clock crossing the close does this (``set_time``)."""
        self.call(lambda s: s.broker.end_session())

    # -- broker state ----------------------------------------------------------
    def orders(self, client_id: int | None = None) -> list[dict[str, Any]]:
        return self.call(lambda s: [o.snapshot() for o in sorted(
            s.broker.orders.values(), key=lambda o: o.seq)
            if client_id is None or o.client_id == client_id])

    def order(self, order_id: int, client_id: int = 1) -> dict[str, Any]:
        return self.call(lambda s: s.broker.orders[(client_id, order_id)].snapshot())

    def executions(self) -> list[dict[str, Any]]:
        return self.call(lambda s: [e.snapshot() for e in s.broker.executions])

    def positions(self) -> dict[str, dict[str, Decimal]]:
        return self.call(lambda s: {
            p.instrument.symbol: {"qty": p.qty, "avg_cost": p.avg_cost, "realized": p.realized}
            for p in s.broker.account.positions.values()})

    def account_values(self) -> dict[str, Decimal]:
        return self.call(lambda s: s.broker.account.values(s.broker.marks()))

    def connected_clients(self) -> list[int]:
        return self.call(lambda s: [x.client_id for x in s.sessions
                                    if x.ready and not x.closed and x.client_id is not None])
