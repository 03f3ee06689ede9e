"""One client connection: handshake, request dispatch and its subscriptions.

A request that cannot be parsed is answered with error 320 and logged; a number no
price or quantity can be, with 321; an internal error while answering one request
answers that request (320, with its id) and is logged once per request name. The
session keeps serving. Only a broken byte stream (no API prefix, an oversized length)
or a bound of ``link.Link`` (a stalled handshake or request, a client that stopped
reading) ends the connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from backend.sim import marketdata as md
from backend.sim import messages
from backend.sim.history import HistoryRequestError
from backend.sim.link import Limits, Link
from backend.sim.requests import REQUEST_NAMES, Cursor, parse_place_order
from backend.sim.session_account import AccountFeed, AccountRequests
from backend.sim.timefmt import TimeFormatError, parse_ib_time
from backend.sim.wire import FramingError, OutOfRange, ProtocolError, frame

if TYPE_CHECKING:
    from backend.sim.server import SimServer

log = logging.getLogger("sigma9.sim")
MIN_VERSION = 170
"""Every layout in ``messages`` is right from 170 on (PEG BEST/MID fields in openOrder and
completedOrder, advancedOrderRejectJson in errors, minSize in contractDetails); older
clients are refused rather than sent messages they would misread."""
_REQ_ID_INDEX = {"1": 2, "2": 2, "3": 1, "4": 2, "7": 2, "9": 2, "20": 1, "25": 2, "62": 2,
                 "76": 2, "77": 2, "92": 1, "93": 1}
"""Where each request carries its request (or order) id."""
_HELLO = re.compile(r"^v(\d{1,9})(?:\.\.(\d{1,9}))?(?:\s.*)?$", re.DOTALL)
TOO_MANY_TICKERS = "Max number of tickers has been reached."
"""Error 101's text (IB's API message codes)."""


class Session:
    def __init__(self, server: SimServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.link = Link(reader, writer, Limits.of(server.config), self._link_ended)
        self.version = 0
        self.client_id: int | None = None
        self.ready = False
        self.closed = False
        self.mkt_subs: dict[int, md.MarketDataSub] = {}
        self.bar_subs: dict[int, md.BarsSub] = {}
        self.account = AccountRequests(AccountFeed(
            account=server.config.account,
            positions=lambda: server.broker.account.positions.values(),
            send=self.send, error=self.error,
            snapshot=functools.partial(server.send_account_snapshot, self),
            multi=functools.partial(server.send_account_multi, self),
            summary=functools.partial(server.send_account_summary, self),
            pnl=functools.partial(server.send_pnl, self)))
        """Account requests and their subscriptions (``session_account``)."""
        self.seen_in_all: dict[int, int] = {}
        """Order id -> owner clientId of other clients' orders this client was shown by
        reqAllOpenOrders: those it may cancel (``Broker.cancel``)."""
        self._held: list[bytes] = []
        peer = writer.get_extra_info("peername")
        self.peer = f"{peer[0]}:{peer[1]}" if peer else "?"
        acct = self.account
        self.handlers: dict[int, Callable[[list[str]], None]] = {
            1: self.req_mkt_data, 2: self.cancel_mkt_data, 3: self.place_order,
            4: self.cancel_order, 5: self.req_open_orders, 6: acct.req_account_updates,
            7: self.req_executions, 8: self.req_ids, 9: self.req_contract_details,
            14: self.ignore, 15: self.req_auto_open_orders, 16: self.req_all_open_orders,
            17: acct.req_managed_accounts, 20: self.req_historical_data,
            25: self.cancel_historical_data, 49: self.req_current_time,
            58: self.req_global_cancel, 59: self.req_market_data_type, 61: acct.req_positions,
            62: acct.req_account_summary, 63: self.ignore, 64: acct.cancel_positions,
            71: self.ignore, 76: acct.req_account_updates_multi, 77: acct.cancel_multi,
            92: acct.req_pnl, 93: acct.cancel_pnl, 99: self.req_completed_orders,
        }

    # -- transport -----------------------------------------------------------
    @property
    def who(self) -> str:
        return f"{self.peer} (clientId {self.client_id})" if self.ready else self.peer

    def send(self, fields: list[object]) -> None:
        if self.closed:
            return
        data = frame(fields)
        if self.server.frozen:
            self._held.append(data)
        else:
            self.link.write(data)

    def flush_held(self) -> None:
        held, self._held = self._held, []
        for data in held:
            self.link.write(data)

    def error(self, req_id: int, code: int, text: str) -> None:
        self.send(messages.error(req_id, code, text))

    def close(self) -> None:
        """Flush what is queued, close, and let go of everything this session held."""
        self.link.close()
        self._ended()

    def _link_ended(self, kind: str, reason: str) -> None:
        self.server.notices.warn(kind, f"closing {self.who}: {reason}")
        self._ended()

    def _ended(self) -> None:
        self.closed = True
        self._held = []
        self.mkt_subs.clear()
        self.bar_subs.clear()
        self.account.stop()

    async def run(self) -> None:
        try:
            while not self.closed:
                try:
                    batch = await self.link.read(self.ready)
                except FramingError as exc:
                    self.server.notices.warn("framing", f"closing {self.who}: {exc}")
                    if self.version:  # before the handshake no message format is agreed
                        self.error(-1, 320, f"Error reading request: {exc}")
                    break
                if batch is None:
                    break
                for fields in batch:
                    await self.server.wait_unfrozen()
                    if self.closed:
                        break
                    self.handle(fields)
                await self.link.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self.close()
            self.server.forget(self)

    def handle(self, fields: list[str]) -> None:
        if not self.version:
            self.handshake(fields)
            return
        head = fields[0].strip() if fields else ""
        msg_id = int(head) if head.isdigit() and len(head) <= 9 else None
        name = REQUEST_NAMES.get(msg_id or 0, "an unknown request")
        try:
            if not self.ready:
                self.start_api(fields)
            else:
                handler = self.handlers.get(msg_id) if msg_id is not None else None
                if handler is None:
                    raise ProtocolError(f"unknown or unsupported message id {fields[:1]}")
                handler(fields)
        except OutOfRange as exc:
            self.server.notices.warn("out-of-range", f"client {self.who} sent {name} with {exc}")
            self.error(self._req_id_of(fields), 321,
                       f"Error validating request.-'bO' : cause - {exc}")
        except ProtocolError as exc:
            self.server.notices.warn("unparseable", f"client {self.who} sent a request that "
                                                    f"cannot be parsed: {exc}")
            self.error(self._req_id_of(fields), 320, f"Error reading request: {exc}")
        except Exception as exc:  # a bug answers this request and must break nothing else
            self.server.internal_error(name, self.who)
            self.error(self._req_id_of(fields), 320, "Error reading request: internal "
                       f"simulator error while answering {name}: {exc.__class__.__name__}")

    @staticmethod
    def _req_id_of(fields: list[str]) -> int:
        """The request or order id an error 320 should carry, so the client can fail that
        request at once instead of waiting for its timeout (-1 if it cannot be read)."""
        index = _REQ_ID_INDEX.get(fields[0].strip() if fields else "")
        if index is None or len(fields) <= index:
            return -1
        text = fields[index].strip()
        return int(text) if text.lstrip("-").isdigit() and len(text) <= 10 else -1

    # -- connection set-up ---------------------------------------------------
    def handshake(self, fields: list[str]) -> None:
        """Answer ``v<min>..<max>`` with min(max, ours); anything else ends the connection.

        Real TWS closes a connection whose hello it cannot use, without a message: no
        message format has been agreed yet, so nothing else could be decoded.
        """
        match = _HELLO.match(fields[0].strip()) if len(fields) == 1 else None
        if not match:
            log.warning("closing %s: expected 'v<min>..<max>', got %r", self.peer, fields[:2])
            self.close()
            return
        low = int(match.group(1))
        high = int(match.group(2) or low)
        top = self.server.config.server_version_max
        if low > top or high < MIN_VERSION or low > high:
            log.warning("closing %s: client wants versions %s..%s; this server speaks %s..%s",
                        self.peer, low, high, MIN_VERSION, top)
            self.close()
            return
        self.version = min(high, top)
        conn_time = time.strftime("%Y%m%d %H:%M:%S", time.gmtime(self.server.clock.now()))
        self.send([self.version, conn_time + " UTC"])

    def start_api(self, fields: list[str]) -> None:
        if not fields or fields[0] != "71":
            log.info("client %s sent %s before startApi; ignored", self.peer, fields[:1])
            return
        client_id = Cursor(fields, 2, "startApi").int("clientId", None)
        if client_id is None:
            raise ProtocolError("startApi: missing clientId")
        if self.server.client_in_use(client_id):
            self.error(-1, 326, "Unable to connect as the client id is already in use. "
                                "Retry with a unique client id.")
            self.server.loop_call_soon(self.close)
            return
        self.client_id = client_id
        self.ready = True
        account = self.server.config.account
        recovered = self.server.broker.live_orders(client_id)
        if recovered:  # IB pushes a returning client's open orders (and the end) first:
            self._send_orders(recovered)  # api_reconnect_recovered_cancel_status_aapl
        self.send([15, 1, account])
        self.send([9, 1, self.server.broker.next_order_id(client_id)])
        for code, text in ((2104, "Market data farm connection is OK:usfarm"),
                           (2106, "HMDS data farm connection is OK:ushmds"),
                           (2158, "Sec-def data farm connection is OK:secdefil")):
            self.error(-1, code, text)
        log.info("client %s connected as clientId %s (server version %s)",
                 self.peer, client_id, self.version)

    def ignore(self, fields: list[str]) -> None:
        pass

    # -- orders ----------------------------------------------------------------
    def place_order(self, fields: list[str]) -> None:
        spec = parse_place_order(fields, self.version)
        if spec.what_if:
            self.server.what_if(self, spec)
            return
        self.server.broker.place(self.client_id or 0, spec)
        self.server.faults.after_place_order(self, spec.order_id)  # faults.py: mid-chain drop

    def cancel_order(self, fields: list[str]) -> None:
        order_id = Cursor(fields, 2, "cancelOrder").int("orderId", None)
        if order_id is None:
            raise ProtocolError("cancelOrder: missing orderId")
        # Another client's order this one saw through reqAllOpenOrders may be cancelled by
        # its own order id (api_cross_client_cancel_aapl; Broker.cancel).
        self.server.broker.cancel(self.client_id or 0, order_id,
                                  self.seen_in_all.get(order_id))

    def req_global_cancel(self, fields: list[str]) -> None:
        self.server.broker.global_cancel()

    def _send_orders(self, orders) -> None:
        for order in orders:
            self.send(messages.open_order(order, self.version))
            self.send(messages.order_status(order))
        self.send([53, 1])

    def req_open_orders(self, fields: list[str]) -> None:
        self._send_orders(self.server.broker.live_orders(self.client_id))

    def req_all_open_orders(self, fields: list[str]) -> None:
        orders = self.server.broker.live_orders()
        self.seen_in_all.update({o.order_id: o.client_id for o in orders
                                 if o.client_id != self.client_id})
        self._send_orders(orders)

    def req_auto_open_orders(self, fields: list[str]) -> None:
        if self.client_id != 0:
            self.error(-1, 321, "Error validating request.-'bp' : cause - "
                                "reqAutoOpenOrders can only be called from client id 0")

    def req_completed_orders(self, fields: list[str]) -> None:
        for order in self.server.broker.completed_orders():
            self.send(messages.completed_order(order, self.version))
        self.send([102])

    def req_ids(self, fields: list[str]) -> None:
        self.send([9, 1, self.server.broker.next_order_id(self.client_id or 0)])

    def req_executions(self, fields: list[str]) -> None:
        cur = Cursor(fields, 2, "reqExecutions")
        req_id = cur.int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqExecutions: missing reqId")
        client_filter = cur.int("clientId") or 0
        account, since, symbol, sec_type, exchange, side = (
            cur.optional().strip() for _ in range(6))
        after = 0.0
        if since:
            try:
                after = parse_ib_time(since)[0].timestamp()
            except TimeFormatError as exc:
                raise ProtocolError(f"reqExecutions: time filter {exc}") from None
        master = self.server.config.master_client_id
        for e in self.server.broker.executions:
            visible = e.client_id == self.client_id or self.client_id == master
            if not visible or (client_filter and e.client_id != client_filter):
                continue
            if (account and account != e.account) or e.time < after:
                continue
            if symbol and symbol.upper() != e.instrument.symbol:
                continue
            if sec_type and sec_type.upper() != e.instrument.sec_type:
                continue
            if exchange and exchange.upper() not in (e.instrument.primary_exchange, "SMART"):
                continue
            if side and {"BUY": "BOT", "SELL": "SLD"}.get(side.upper(), side.upper()) != e.side:
                continue
            self.send(messages.exec_details(req_id, e, self.version))
            self.send(messages.commission_report(e))
        self.send([55, 1, req_id])

    # -- market data -------------------------------------------------------------
    def req_current_time(self, fields: list[str]) -> None:
        self.send([49, 1, int(self.server.clock.now())])

    def req_market_data_type(self, fields: list[str]) -> None:
        Cursor(fields, 2, "reqMarketDataType").int("marketDataType")

    def req_contract_details(self, fields: list[str]) -> None:
        cur = Cursor(fields, 2, "reqContractDetails")
        req_id = cur.int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqContractDetails: missing reqId")
        contract = cur.contract()
        inst = md.resolve(self.server.market, contract)
        if inst is None:
            self.error(req_id, 200, "No security definition has been found for the request")
            return
        for msg in md.contract_details_reply(req_id, inst, contract.exchange):
            self.send(msg)

    def req_mkt_data(self, fields: list[str]) -> None:
        req_id, contract, snapshot = md.parse_mkt_data(fields)
        inst = md.resolve(self.server.market, contract)
        if inst is None:
            self.error(req_id, 200, "No security definition has been found for the request")
            return
        lines = self.server.market_data_lines()
        if not snapshot and req_id not in self.mkt_subs and (
                lines >= self.server.config.max_market_data_lines):
            self.error(req_id, 101, TOO_MANY_TICKERS)  # IB's allowance is per account
            return
        for msg in md.subscription_preamble(req_id, inst, 1):
            self.send(msg)
        for msg in md.tick_messages(req_id, self.server.market.quote(inst.symbol), False):
            self.send(msg)
        if snapshot:
            self.send([57, 1, req_id])
        else:
            self.mkt_subs[req_id] = md.MarketDataSub(req_id, inst.symbol)

    def cancel_mkt_data(self, fields: list[str]) -> None:
        self.mkt_subs.pop(Cursor(fields, 2, "cancelMktData").int("reqId") or 0, None)

    def req_historical_data(self, fields: list[str]) -> None:
        req = md.parse_history(fields)
        inst = md.resolve(self.server.market, req.contract)
        if inst is None:
            self.error(req.req_id, 200, "No security definition has been found for the request")
            return
        bars = self.server.market.history(inst.symbol)
        try:
            msg, bar_seconds = md.history_reply(req, bars, self.server.clock.now())
        except HistoryRequestError as exc:
            self.error(req.req_id, 162, f"Historical Market Data Service error message:{exc}")
            return
        self.send(msg)
        if req.keep_up_to_date:
            self.bar_subs[req.req_id] = md.BarsSub(req.req_id, inst.symbol, bar_seconds,
                                                   req.format_date)

    def cancel_historical_data(self, fields: list[str]) -> None:
        self.bar_subs.pop(Cursor(fields, 2, "cancelHistoricalData").int("reqId") or 0, None)

    def on_market(self, symbol: str) -> None:
        """Ticks and bar updates; a send may end a slow reader's session midway (copies)."""
        quote = self.server.market.quote(symbol)
        for sub in list(self.mkt_subs.values()):
            if sub.symbol == symbol:
                for msg in md.tick_messages(sub.req_id, quote, sub.delayed):
                    self.send(msg)
        if self.bar_subs:
            bars = self.server.market.history(symbol)
            for bar_sub in list(self.bar_subs.values()):
                if bar_sub.symbol == symbol:
                    self.send(md.bar_update(bar_sub, bars))
