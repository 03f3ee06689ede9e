"""IBKRConnector: the one room in Sigma9 that talks to IB through ib_insync.

It turns commands (place a chain, cancel, query) into ib_insync calls and
ib_insync's events into Qt signals carrying Sigma9's own immutable models.
Only the ``*Async`` ib_insync API is used: the connector lives on the
qasync loop (or any running asyncio loop), never a nested or blocking one.

Connecting, the handshake's failures and reconnecting (a backoff loop, then market data
resubscribed and ``reconnected`` emitted so the OrderManager reconciles) live in ``link``.
Codes 1100/1101/1102 (TWS lost / regained IB's servers) are
reflected in the connection state; 1101 also resubscribes market data.

Every other IB code is decided by the table in ``ib_codes`` (docs/ib-codes.md): only a
rejection ends an order; a warning leaves it working; an unknown code, or a refused cancel,
makes the connector re-read the order from the broker before anything is decided.

What comes in is handled by ``inbound`` (guarded: an absurd report is refused and dropped,
never allowed to take the process down). What goes out passes ``errors.check_may_send``
first: no order of any kind reaches an account that is not a paper one unless
``broker.live_trading_enabled`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING

from PyQt6.QtCore import QObject, pyqtSignal

from backend.broker import mapping
from backend.broker.bounds import AbsurdValue
from backend.broker.errors import (
    BrokerError,
    NotConnected,
    UnknownSymbol,
    check_may_send,
)
from backend.broker.inbound import Inbound
from backend.broker.link import Link
from backend.broker.market_data import MarketDataFeed
from backend.broker.order_codes import OrderCodes
from backend.broker.trail_stops import follow_trail_stops
from backend.core.exit_plan import ExitParams, build_exit_group, parse_order_ref
from backend.core.models import (
    ConnectionState,
    ContractInfo,
    FillRecord,
    LegRole,
    OrderIntent,
    OrderRecord,
    OrderType,
    Position,
    Side,
)

if TYPE_CHECKING:  # imported where used: the window is built before ib_insync is loaded
    from ib_insync import IB, Contract, Trade

log = logging.getLogger("sigma9.broker")


class IBKRConnector(QObject):
    """Signals carry Sigma9 models (``backend.core.models``), never ib_insync objects."""

    connection_state = pyqtSignal(object, str)  # ConnectionState, human message
    reconnected = pyqtSignal()
    order_placed = pyqtSignal(object)  # OrderRecord
    order_status = pyqtSignal(object)  # OrderRecord, on every status change
    order_filled = pyqtSignal(object)  # FillRecord, once its commission is known
    order_cancelled = pyqtSignal(object)  # OrderRecord
    order_error = pyqtSignal(str, str)  # order_id, message: IB ended the order (a rejection)
    order_warning = pyqtSignal(str, int, str)  # order_id, code, text: the order keeps working
    order_unknown_code = pyqtSignal(str, int, str)  # order_id, code, text: re-read follows
    positions_update = pyqtSignal(list)  # list[Position]
    broker_message = pyqtSignal(int, str)  # code, text: warnings and info for the log panel
    tick = pyqtSignal(object)  # Quote
    market_data_error = pyqtSignal(str, str)  # symbol, message

    def __init__(self, host: str = "127.0.0.1", port: int = 4002, client_id: int = 1,
                 account: str = "", timeout: float = 4.0, reconnect_initial_delay: float = 1.0,
                 reconnect_max_delay: float = 30.0, ib: IB | None = None,
                 live_trading_enabled: bool = False) -> None:
        super().__init__()
        self.host, self.port, self.client_id = host, port, client_id
        self.requested_account = account
        self.live_trading_enabled = live_trading_enabled
        self.timeout = timeout
        self.reconnect_delays = (reconnect_initial_delay, reconnect_max_delay)
        self._ib: IB | None = None
        self.account = ""
        self.state = ConnectionState.DISCONNECTED
        self._contracts: dict[str, tuple[Contract, ContractInfo]] = {}
        self._tasks: set[asyncio.Task] = set()
        self.market = MarketDataFeed(self)
        self.codes = OrderCodes(self)
        self.inbound = Inbound(self)
        self._on_error = self.inbound.on_error  # the tests speak IB codes to it directly
        self.link = Link(self)
        if ib is not None:
            self._attach(ib)

    @property
    def ib(self) -> IB:
        """ib_insync's client, made on first use (connecting, or a test's call).

        Importing ib_insync (numpy comes with it, through eventkit) takes about a third of a
        second, and nothing the window's first frame shows needs it: the terminal builds and
        shows the window, then connects (issue 12, start-up)."""
        if self._ib is None:
            from ib_insync import IB

            self._attach(IB())
        assert self._ib is not None
        return self._ib

    def _attach(self, ib: IB) -> None:
        """Subscribe the connector's handlers to ``ib``'s events (once, when it is made)."""
        self._ib = ib
        self.inbound.attach()
        self.link.attach()
        ib.pendingTickersEvent += self.market.on_pending_tickers
        follow_trail_stops(ib, self.inbound.on_order_status)  # live trail (ib_async #102)

    @classmethod
    def from_settings(cls, broker) -> IBKRConnector:
        return cls(broker.host, broker.port, broker.client_id, broker.account,
                   broker.connect_timeout_s, broker.reconnect_initial_delay_s,
                   broker.reconnect_max_delay_s,
                   live_trading_enabled=getattr(broker, "live_trading_enabled", False))

    # -- connection ------------------------------------------------------------
    def is_connected(self) -> bool:
        return (self._ib is not None and self._ib.isConnected()
                and self.state in (ConnectionState.CONNECTED, ConnectionState.BROKER_LOST))

    def _set_state(self, state: ConnectionState, message: str) -> None:
        self.state = state
        log.info("connection %s: %s", state.value, message)
        self.connection_state.emit(state, message)

    async def connect(self) -> None:
        """Connect and sync; raises ConnectFailed with one readable sentence (``link``)."""
        await self.link.connect()

    async def disconnect(self) -> None:  # type: ignore[override]
        # Shadows QObject.disconnect (Qt's signal-disconnect) on purpose: the connector's
        # public API (TradingCore.stop, scripts) has always called it to close the link.
        await self.link.disconnect()

    # -- contracts -------------------------------------------------------------
    async def contract_info(self, symbol: str) -> ContractInfo:
        return (await self._qualify(symbol))[1]

    def known_contract(self, symbol: str) -> ContractInfo | None:
        """The contract already looked up this session (what ``contract_info`` answers from
        its cache), without a coroutine: an entry on a known symbol need not wait a turn of
        the event loop for it (issue 12: signal to wire)."""
        found = self._contracts.get(symbol.strip().upper())
        return found[1] if found else None

    async def _qualify(self, symbol: str) -> tuple[Contract, ContractInfo]:
        symbol = symbol.strip().upper()
        if symbol in self._contracts:
            return self._contracts[symbol]
        self._require_connection()
        from ib_insync import Stock

        contract = Stock(symbol, "SMART", "USD")
        details = await self.ib.reqContractDetailsAsync(contract)
        if len(details) != 1 or details[0].contract is None:
            raise UnknownSymbol(symbol)
        d = details[0]
        qualified = details[0].contract
        qualified.exchange = "SMART"
        info = ContractInfo(symbol, qualified.conId, Decimal(str(d.minTick or 0.01)),
                            qualified.exchange, qualified.currency)
        self._contracts[symbol] = (qualified, info)
        return qualified, info

    def _require_connection(self) -> None:
        if not self.ib.isConnected():
            raise NotConnected()

    # -- placing -----------------------------------------------------------------
    async def place_chain(self, parent: OrderIntent | None,
                          children: list[OrderIntent]) -> list[str]:
        """Send a parent with its attached children in ONE transmit chain.

        Every order id is reserved before anything is sent; the parent and all
        children but the last go with transmit=False, the last with True, so the
        broker never holds the entry without its stop. Without a parent, each
        order is sent live on its own (protecting a position that exists).
        """
        self._require_connection()
        intents = ([parent] if parent else []) + list(children)
        if not intents:
            return []
        symbol = intents[0].symbol
        if any(i.symbol != symbol for i in intents):
            raise BrokerError("one chain must trade one symbol")
        check_may_send(self.account, self.live_trading_enabled, symbol)
        contract, info = await self._qualify(symbol)
        ids = [self.ib.client.getReqId() for _ in intents]
        orders = mapping.chain_orders(parent, list(children), ids, self.account, info.con_id)
        trades: list[Trade] = []
        try:
            for order in orders:
                trades.append(self.ib.placeOrder(contract, order))
        except Exception as exc:
            # Nothing half-sent: whatever left already is cancelled (untransmitted included).
            for trade in trades:
                try:
                    self.ib.cancelOrder(trade.order)
                except Exception:
                    log.exception("could not cancel %s after a failed send", trade.order.orderId)
            raise BrokerError(f"the order chain for {symbol} could not be sent: {exc}") from None
        records = [self._record(t) for t in trades]
        for record in records:
            self.order_placed.emit(record)
        return [r.order_id for r in records]

    async def place_market_order(self, symbol: str, qty: int, action: str,
                                 order_ref: str = "") -> str:
        intent = OrderIntent(LegRole.MANUAL, symbol, Side(action.upper()), qty,
                             OrderType.MARKET, order_ref=order_ref)
        return (await self.place_chain(None, [intent]))[0]

    async def place_stop_order(self, symbol: str, qty: int, stop_price: Decimal,
                               action: str = "SELL") -> str:
        intent = OrderIntent(LegRole.MANUAL, symbol, Side(action.upper()), qty, OrderType.STOP,
                             stop_price=Decimal(str(stop_price)), tif="GTC")
        return (await self.place_chain(None, [intent]))[0]

    async def place_trailing_stop(self, symbol: str, qty: int, trail_amt: Decimal,
                                  action: str = "SELL") -> str:
        intent = OrderIntent(LegRole.MANUAL, symbol, Side(action.upper()), qty, OrderType.TRAIL,
                             trail_amount=Decimal(str(trail_amt)), tif="GTC")
        return (await self.place_chain(None, [intent]))[0]

    async def place_oca_group(self, symbol: str, qty: int, entry_price: Decimal,
                              atr: Decimal, params: ExitParams | None = None,
                              signal_id: str = "", entry_time: datetime | None = None
                              ) -> list[str]:
        """Protect ``qty`` shares of an existing position with the three-leg exit group.

        The legs are priced from ``entry_price`` on the contract's tick grid and sent
        unattached (the position exists), each live at once, in one OCA group.
        """
        _contract, info = await self._qualify(symbol)
        legs = build_exit_group(info.symbol, qty, Decimal(str(entry_price)), Decimal(str(atr)),
                                info.min_tick, params or ExitParams(),
                                entry_time or datetime.now(timezone.utc),
                                signal_id or f"manual-{uuid.uuid4().hex[:12]}",
                                attach_to_parent=False)
        return await self.place_exit_legs(legs)

    async def place_exit_legs(self, legs: list[OrderIntent],
                              parent: OrderIntent | None = None) -> list[str]:
        """Legs built by ``exit_plan.build_exit_group``, attached to ``parent`` if given."""
        if not legs or len({leg.oca_group for leg in legs}) != 1 or not legs[0].oca_group:
            raise BrokerError("an OCA group needs legs that share one ocaGroup name")
        return await self.place_chain(parent, legs)

    # -- cancelling ------------------------------------------------------------------
    def cancel_order(self, order_id: str) -> None:
        self._require_connection()
        trade = self._trade(order_id)
        if trade is None:
            raise BrokerError(f"order {order_id} is not known to this session")
        self.ib.cancelOrder(trade.order)

    def cancel_order_id(self, order_id: str) -> None:
        """Cancel by id an order this session may not know: what a drop in the middle of a
        chain left untransmitted at TWS (ib_insync forgets every order on a disconnect, and
        TWS keeps untransmitted orders, ib_insync #71). IB answers 202 or 10147 (not found);
        either is only logged (docs/reliability.md, "Recovery rules")."""
        self._require_connection()
        trade = self._trade(order_id)
        if trade is not None:
            self.ib.cancelOrder(trade.order)
        else:
            self.ib.client.cancelOrder(int(order_id), "")

    def cancel_all_orders(self) -> None:
        """reqGlobalCancel: every open order of the account, whichever client sent it."""
        self._require_connection()
        self.ib.reqGlobalCancel()

    # -- queries ---------------------------------------------------------------------
    def account_values(self, tags: tuple[str, ...] = ("NetLiquidation", "BuyingPower")
                       ) -> dict[str, Decimal]:
        """The account's values by tag, as kept updated by the reqAccountUpdates ib_insync
        sends at connect (the terminal's account strip); a tag not reported is absent."""
        values: dict[str, Decimal] = {}
        for v in self.ib.accountValues(self.account or ""):
            if v.tag in tags and v.currency and not v.modelCode:
                with contextlib.suppress(ArithmeticError, ValueError):
                    values[v.tag] = Decimal(v.value)
        return values

    def get_open_orders(self) -> list[OrderRecord]:
        return self._sane(self._record, self.ib.openTrades(), "an open order")

    def get_all_orders(self) -> list[OrderRecord]:
        return self._sane(self._record, self.ib.trades(), "an order")

    def get_positions(self) -> list[Position]:
        return self._sane(lambda p: mapping.position_to_model(
            p, self.market.last_price(p.contract.symbol)),
            [p for p in self.ib.positions(self.account or "") if p.position], "a position")

    @staticmethod
    def _sane(convert, items, what: str) -> list:
        """Each item mapped; one the mapping refuses (``AbsurdValue``) is logged and left
        out, so one absurd report cannot hide the others."""
        out = []
        for item in items:
            try:
                out.append(convert(item))
            except AbsurdValue as exc:
                log.warning("refused %s: %s; left out", what, exc)
        return out

    async def server_time(self) -> tuple[datetime, float]:
        """The broker's clock and the round trip that read it, in seconds.

        The terminal's status bar shows both: a clock far from the local one, or a slow
        round trip, tells the trader that stops and conditions run on a lagging view.
        """
        self._require_connection()
        started = time.monotonic()
        when = await asyncio.wait_for(self.ib.reqCurrentTimeAsync(), self.timeout)
        return when, time.monotonic() - started

    def get_executions(self) -> list[FillRecord]:
        return self._sane(mapping.fill_to_record, self.ib.fills(), "an execution")

    async def reread_order(self, order_id: str) -> OrderRecord | None:
        """The broker's own word on one order, on ``order_status`` (``OrderCodes.reread``)."""
        return await self.codes.reread(order_id)

    async def refresh_open_orders(self) -> None:
        """Re-read the open orders: each answer carries a trail's current stop (trail_stops)."""
        self._require_connection()
        async with self.codes.open_orders_lock:
            await self.ib.reqOpenOrdersAsync()

    async def refresh(self) -> None:
        """Re-read open orders and executions from the broker (after a reconnect)."""
        self._require_connection()
        async with self.codes.open_orders_lock:
            await self.ib.reqOpenOrdersAsync()
        await self.ib.reqExecutionsAsync()

    def order(self, order_id: str) -> OrderRecord | None:
        """The order as this session knows it; None if unknown, or if what the broker last
        said of it is refused (logged; the re-read that follows brings the broker's word)."""
        trade = self._trade(order_id)
        found = self._sane(self._record, [trade] if trade else [], f"order {order_id}")
        return found[0] if found else None

    # -- ib_insync events -> Qt signals --------------------------------------------
    def _trade(self, order_id: str) -> Trade | None:
        """The trade Sigma9 keys ``order_id`` (an order id, or ``perm-<permId>``), ours or
        bound from TWS (client 0). A look-up in ib_insync's own index of trades (its
        ``orderKey``: (clientId, orderId), or permId for an order without an id), not a scan:
        every status and every IB code asks this (a scan was 13% of a 7,000-order session)."""
        trades = self.ib.wrapper.trades
        order_id = str(order_id)
        if order_id.startswith("perm-"):
            perm = order_id.removeprefix("perm-")
            trade = trades.get(int(perm)) if perm.isdigit() else None
            return trade if trade is not None and not trade.order.orderId else None
        if not order_id.isdigit() or int(order_id) <= 0:
            return None
        number = int(order_id)
        return trades.get((self.client_id, number)) or trades.get((0, number))

    @staticmethod
    def _record(trade: Trade) -> OrderRecord:
        signal_id, role = parse_order_ref(trade.order.orderRef)
        return mapping.trade_to_record(trade, role, signal_id)

    def _spawn(self, coro) -> None:
        """Run ``coro`` on the loop, keep a reference, and log (never swallow) its failure."""
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)

        def done(t: asyncio.Task) -> None:
            self._tasks.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.error("broker task failed: %s", t.exception())

        task.add_done_callback(done)

