"""Market data by symbol: subscriptions that survive reconnects, ticks as Sigma9 Quotes."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timezone
from datetime import time as dt_time
from decimal import Decimal
from typing import TYPE_CHECKING

from backend.core.models import Bar, Quote

if TYPE_CHECKING:
    from ib_insync import Ticker

    from backend.broker.connector import IBKRConnector


def _decimal(value: float | None) -> Decimal | None:
    if value is None or (isinstance(value, float) and (math.isnan(value) or value <= 0)):
        return None
    return Decimal(str(value))


class MarketDataFeed:
    def __init__(self, connector: IBKRConnector) -> None:
        self.connector = connector
        self.symbols: set[str] = set()
        self.tickers: dict[str, Ticker] = {}
        self._req_ids: dict[int, str] = {}

    async def subscribe(self, symbol: str) -> None:
        """Stream quotes for ``symbol``; an unknown symbol raises UnknownSymbol.

        NotConnected while disconnected, even for a symbol whose contract is cached (else
        ib_insync's own ConnectionError would escape the broker layer).
        """
        symbol = symbol.strip().upper()
        self.connector._require_connection()
        contract, _info = await self.connector._qualify(symbol)
        self.symbols.add(symbol)
        if symbol not in self.tickers:
            ticker = self.connector.ib.reqMktData(contract, "", False, False)
            self.tickers[symbol] = ticker
            req_id = self.connector.ib.wrapper.ticker2ReqId["mktData"].get(ticker)
            if req_id is not None:
                self._req_ids[req_id] = symbol

    def unsubscribe(self, symbol: str) -> None:
        symbol = symbol.strip().upper()
        self.symbols.discard(symbol)
        ticker = self.tickers.pop(symbol, None)
        if ticker is not None and ticker.contract is not None \
                and self.connector.ib.isConnected():
            self.connector.ib.cancelMktData(ticker.contract)

    def forget_tickers(self) -> None:
        """The connection is gone: tickers die with it, subscriptions are kept for later."""
        self.tickers.clear()
        self._req_ids.clear()

    async def resubscribe(self) -> None:
        self.forget_tickers()
        for symbol in sorted(self.symbols):
            try:
                await self.subscribe(symbol)
            except Exception as exc:  # keep the others streaming
                self.connector.market_data_error.emit(symbol, str(exc))

    def owns_request(self, req_id: int) -> bool:
        return req_id in self._req_ids

    def on_error(self, req_id: int, code: int, text: str) -> None:
        symbol = self._req_ids.get(req_id, "?")
        self.connector.market_data_error.emit(symbol, f"IB error {code}: {text}")

    def last_price(self, symbol: str) -> Decimal | None:
        ticker = self.tickers.get(symbol)
        if ticker is None:
            return None
        return _decimal(ticker.last) or _decimal(ticker.close)

    def quote(self, symbol: str) -> Quote | None:
        ticker = self.tickers.get(symbol)
        return self._to_quote(symbol, ticker) if ticker is not None else None

    @staticmethod
    def _to_quote(symbol: str, t: Ticker) -> Quote:
        when = t.time or datetime.now(timezone.utc)
        return Quote(symbol, _decimal(t.bid), _decimal(t.ask), _decimal(t.last),
                     _decimal(t.volume), when)

    def on_pending_tickers(self, tickers) -> None:
        for ticker in tickers:
            symbol = ticker.contract.symbol
            if symbol in self.tickers:
                self.connector.tick.emit(self._to_quote(symbol, ticker))

    async def historical_bars(self, symbol: str, duration: str = "1 D",
                              bar_size: str = "1 min") -> list[Bar]:
        self.connector._require_connection()
        contract, _info = await self.connector._qualify(symbol)
        bars = await asyncio.wait_for(self.connector.ib.reqHistoricalDataAsync(
            contract, "", duration, bar_size, "TRADES", False, 2), 30)
        from ib_insync import util

        out = []
        for b in bars:
            when = util.parseIBDatetime(b.date) if isinstance(b.date, str) else b.date
            if not isinstance(when, datetime):  # ib_insync dates a daily bar: its midnight
                when = datetime.combine(when, dt_time.min)
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            out.append(Bar(symbol, when, Decimal(str(b.open)), Decimal(str(b.high)),
                           Decimal(str(b.low)), Decimal(str(b.close)), Decimal(str(b.volume))))
        return out
