"""The TCP server: accepts TWS API clients and routes broker reports to them.

``SimServer`` runs on an asyncio loop (in-process or in a thread, see
``control.SimThread``). It owns the clock, the market and the broker, so
orders and positions outlive any connection.

It admits only trusted peers, up to ``max_clients`` at once (``admission``), and routes
each broker report to the sessions TWS would tell: the order's own client, a client that
cancelled it, and the Master API client. A report that fails for one session is logged
once and never stops the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from decimal import Decimal

from backend.sim import messages
from backend.sim.account import Position, money
from backend.sim.admission import Admission, Notices, describe
from backend.sim.broker import Broker
from backend.sim.clock import SimClock
from backend.sim.config import SimConfig
from backend.sim.faults import Faults
from backend.sim.market import Market
from backend.sim.models import OrderSpec
from backend.sim.orders import ExecutionRecord, WorkingOrder
from backend.sim.session import Session
from backend.sim.validation import validate_spec

log = logging.getLogger("sigma9.sim")
ACCOUNT_PUSH_SECONDS = 3.0


class SimServer:
    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.clock = SimClock()
        self.market = Market(self.config, self.clock)
        self.broker = Broker(self.config, self.market, self.clock, self)
        self.market.listeners.append(self._on_market)
        self.sessions: list[Session] = []
        self.frozen_until = 0.0
        self._unfrozen = asyncio.Event()
        self._server: asyncio.AbstractServer | None = None
        self._tasks: list[asyncio.Task] = []
        self.port = self.config.port
        self.loop: asyncio.AbstractEventLoop | None = None
        self.admission = Admission(self.config.trusted, self.config.max_clients)
        self.notices = Notices(log)
        self._failed: set[str] = set()
        self.faults = Faults()
        """Armed faults (``faults.py``): a drop after the next N placeOrder messages."""

    # -- lifecycle -----------------------------------------------------------
    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self._unfrozen = asyncio.Event()
        self._unfrozen.set()
        self._server = await asyncio.start_server(self._accept, self.config.host, self.config.port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._tasks.append(asyncio.create_task(self._tick_loop(), name="sim-ticks"))
        log.info("sigma9-sim serving %s on %s:%s; trusted: %s; at most %s clients",
                 ",".join(self.market.symbols), self.config.host, self.port,
                 describe(self.config.trusted), self.config.max_clients)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.drop_all()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def serve_forever(self) -> None:
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        host = peer[0] if peer else None
        refusal = self.admission.refusal(host, len(self.sessions))
        if refusal is not None:  # closed before the handshake: no message format exists yet
            self.notices.warn(refusal.kind, f"refused connection from {host}: {refusal.text}")
            writer.close()
            return
        session = Session(self, reader, writer)
        self.sessions.append(session)
        await session.run()

    def forget(self, session: Session) -> None:
        if session in self.sessions:
            self.sessions.remove(session)

    def loop_call_soon(self, fn) -> None:
        asyncio.get_running_loop().call_soon(fn)

    def client_in_use(self, client_id: int) -> bool:
        return any(s.ready and not s.closed and s.client_id == client_id for s in self.sessions)

    def market_data_lines(self) -> int:
        """Streaming reqMktData lines across every client: IB's allowance is the account's."""
        return sum(len(s.mkt_subs) for s in self.sessions if not s.closed)

    def internal_error(self, what: str, who: str) -> None:
        """Log a bug with its traceback the first time ``what`` fails; after that quietly."""
        if what in self._failed:
            log.debug("internal error again in %s for %s", what, who, exc_info=True)
            return
        self._failed.add(what)
        log.exception("internal simulator error in %s for %s (logged once; the request, if "
                      "any, was answered with error 320)", what, who)

    def _each(self, sessions: Iterable[Session], what: str,
              deliver: Callable[[Session], None]) -> None:
        """``deliver`` to each session; one session's failure is logged and skipped."""
        for s in list(sessions):
            if s.closed:
                continue
            try:
                deliver(s)
            except Exception:
                self.internal_error(what, s.who)

    async def _tick_loop(self) -> None:
        last_push = self.clock.now()
        while True:
            await asyncio.sleep(self.config.tick_interval_s)
            try:
                if self.frozen and self.clock.now() >= self.frozen_until:
                    self.unfreeze()
                self.market.step()
                self.broker.on_clock()
                if self.clock.now() - last_push >= ACCOUNT_PUSH_SECONDS:
                    last_push = self.clock.now()
                    self._push_account()
            except Exception:
                log.exception("simulator tick failed; continuing")

    # -- control -------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self.frozen_until > 0

    def freeze(self, seconds: float) -> None:
        """Stop answering: requests wait, replies and ticks are held back."""
        self.frozen_until = self.clock.now() + seconds
        self._unfrozen.clear()

    def unfreeze(self) -> None:
        self.frozen_until = 0.0
        self._unfrozen.set()
        for session in list(self.sessions):
            session.flush_held()

    async def wait_unfrozen(self) -> None:
        while self.frozen:
            if self.clock.now() >= self.frozen_until:
                self.unfreeze()
                return
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._unfrozen.wait(), 0.05)

    def drop_all(self) -> None:
        for session in list(self.sessions):
            session.close()

    def _sessions_of(self, client_id: int, with_master: bool = True) -> list[Session]:
        """A client's sessions and the Master API client's, which "will automatically
        receive order status and trade callbacks from orders placed from other clients"
        (IB's TWS API guide, placing orders; its executions page: commission reports of all
        clients need the Master client ID)."""
        master = self.config.master_client_id if with_master else None
        return [s for s in self.sessions if s.ready and not s.closed and (
            s.client_id == client_id or (master is not None and s.client_id == master))]

    # -- BrokerListener ------------------------------------------------------
    def order_update(self, order: WorkingOrder, open_order: bool) -> None:
        """To the owner and to clients that cancelled the order; each orderStatus carries
        the receiving client's id (``api_cross_client_cancel_aapl``: clientId 2)."""
        heard = [(s, order.client_id) for s in self._sessions_of(order.client_id)]
        for client_id in sorted(order.observers - {order.client_id}):
            heard += [(s, client_id) for s in self._sessions_of(client_id, with_master=False)
                      if all(s is not other for other, _ in heard)]
        for s, client_id in heard:
            if s.closed:
                continue
            try:
                if open_order:
                    s.send(messages.open_order(order, s.version))
                s.send(messages.order_status(order, client_id))
            except Exception:
                self.internal_error("an order update", s.who)

    def execution(self, record: ExecutionRecord) -> None:
        self._each(self._sessions_of(record.client_id), "an execution",
                   lambda s: s.send(messages.exec_details(-1, record, s.version)))

    def commission(self, record: ExecutionRecord) -> None:
        self._each(self._sessions_of(record.client_id), "a commission report",
                   lambda s: s.send(messages.commission_report(record)))

    def order_error(self, client_id: int, order_id: int, code: int, text: str) -> None:
        log.info("order %s/%s: error %s %s", client_id, order_id, code, text)
        self._each(self._sessions_of(client_id, with_master=False), "an order error",
                   lambda s: s.error(order_id, code, text))

    def position_update(self, position: Position) -> None:
        acct = self.config.account
        self._each((s for s in self.sessions if s.ready and s.account.positions_sub), "a position",
                   lambda s: s.send(messages.position(acct, position.instrument, position.qty,
                                                      position.avg_cost)))
        self._push_account(positions=[position])

    # -- account pushes ------------------------------------------------------
    def _account_values(self) -> dict[str, Decimal]:
        return self.broker.account.values(self.broker.marks())

    def account_value_rows(self) -> list[tuple[str, str, str]]:
        values = self._account_values()
        rows = [(k, money(v), "USD") for k, v in values.items()]
        cushion = self.broker.account.cushion_percent(self.broker.marks()) / 100
        rows += [("Cushion", f"{cushion:.6f}", ""), ("AccountType", "INDIVIDUAL", ""),
                 ("AccountCode", self.config.account, ""), ("Currency", "USD", "USD")]
        return rows

    def send_account_snapshot(self, s: Session, positions: list[Position] | None = None) -> None:
        acct = self.config.account
        for key, value, currency in self.account_value_rows():
            s.send([6, 2, key, value, currency, acct])
        marks = self.broker.marks()
        for pos in positions if positions is not None else self.broker.account.positions.values():
            mark = marks.get(pos.instrument.con_id, pos.avg_cost)
            s.send(messages.portfolio(acct, pos.instrument, pos.qty, mark, pos.avg_cost,
                                      pos.realized))
        stamp = self.clock.utcnow().strftime("%H:%M")
        s.send([8, 1, stamp])

    def send_account_multi(self, s: Session, req_id: int) -> None:
        for key, value, currency in self.account_value_rows():
            s.send([73, 1, req_id, self.config.account, "", key, value, currency])

    def send_account_summary(self, s: Session, req_id: int, tags: list[str]) -> None:
        rows = self.account_value_rows()
        everything = any(t.upper().startswith("$LEDGER") for t in tags)
        for key, value, currency in rows:
            if everything or key in tags:
                s.send([63, 1, req_id, self.config.account, key, value, currency])

    def send_pnl(self, s: Session, req_id: int) -> None:
        values = self._account_values()
        realized, unrealized = values["RealizedPnL"], values["UnrealizedPnL"]
        s.send([94, req_id, money(realized + unrealized), money(unrealized), money(realized)])

    def _push_account(self, positions: list[Position] | None = None) -> None:
        def push(s: Session) -> None:
            if s.account.account_updates:
                self.send_account_snapshot(s, positions)
            for req_id in list(s.account.multi_subs):
                self.send_account_multi(s, req_id)
            for req_id in list(s.account.pnl_subs):
                self.send_pnl(s, req_id)
        self._each((s for s in self.sessions if s.ready), "an account update", push)

    def _on_market(self, symbol: str) -> None:
        self._each((s for s in self.sessions if s.ready), "market data",
                   lambda s: s.on_market(symbol))

    # -- what-if -------------------------------------------------------------
    def what_if(self, s: Session, spec: OrderSpec) -> None:
        inst = self.market.find(spec.contract.symbol, spec.contract.con_id)
        if inst is None:
            s.error(spec.order_id, 200, "No security definition has been found for the request")
            return
        listed = {q.instrument.con_id for q in self.market.symbols.values()}
        problem = validate_spec(spec, inst, listed, self.config.account)
        if problem is not None:  # IB checks a preview as an order (whatif_rejections: 10255)
            s.error(spec.order_id, problem.code, problem.text)
            return
        before = self._account_values()
        price = spec.lmt_price or self.market.quote(inst.symbol).ask
        change = spec.total_qty * price
        fee = spec.total_qty * self.config.commission_per_share
        fee = max(fee, self.config.commission_min)
        state = {
            "initMarginBefore": money(before["InitMarginReq"]),
            "maintMarginBefore": money(before["MaintMarginReq"]),
            "equityWithLoanBefore": money(before["EquityWithLoanValue"]),
            "initMarginChange": money(change / 2), "maintMarginChange": money(change / 4),
            "equityWithLoanChange": money(-fee),
            "initMarginAfter": money(before["InitMarginReq"] + change / 2),
            "maintMarginAfter": money(before["MaintMarginReq"] + change / 4),
            "equityWithLoanAfter": money(before["EquityWithLoanValue"] - fee),
            "commission": money(fee), "minCommission": money(fee), "maxCommission": money(fee),
            "commissionCurrency": "USD",
        }
        order = WorkingOrder(spec, s.client_id or 0, 0, inst, 0, self.clock.now())
        s.send(messages.open_order(order, s.version, what_if=state))
