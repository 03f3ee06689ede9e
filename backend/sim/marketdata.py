"""Market-data and history requests: reqMktData, reqHistoricalData, reqContractDetails.

Functions here turn a request's fields into the reply message lists; the
session owns the subscriptions and the socket.
"""

from __future__ import annotations

import time as _time
from dataclasses import dataclass

from backend.sim import messages
from backend.sim.history import HistoryQuery, HistoryRequestError, aggregate, parse_query, wap
from backend.sim.market import Bar, Market, Quote
from backend.sim.models import ContractRef, Instrument
from backend.sim.requests import Cursor
from backend.sim.timefmt import TimeFormatError, format_ib_time, parse_ib_time
from backend.sim.wire import ProtocolError

# tick type ids (live, delayed)
BID, ASK, LAST, VOLUME, LAST_TIMESTAMP = (1, 66), (2, 67), (4, 68), (8, 74), (45, 88)
BID_SIZE, ASK_SIZE, LAST_SIZE = (0, 69), (3, 70), (5, 71)


@dataclass
class MarketDataSub:
    req_id: int
    symbol: str
    delayed: bool = False


@dataclass
class BarsSub:
    req_id: int
    symbol: str
    bar_seconds: int
    format_date: int


def resolve(market: Market, contract: ContractRef) -> Instrument | None:
    if contract.sec_type and contract.sec_type.upper() != "STK":
        return None
    if not contract.symbol and not contract.con_id:
        return None
    return market.find(contract.symbol, contract.con_id)


def tick_messages(req_id: int, quote: Quote, delayed: bool) -> list[list[object]]:
    i = 1 if delayed else 0
    return [
        [1, 6, req_id, BID[i], quote.bid, quote.bid_size, 1],
        [1, 6, req_id, ASK[i], quote.ask, quote.ask_size, 1],
        [1, 6, req_id, LAST[i], quote.last, quote.last_size, 0],
        [2, 6, req_id, VOLUME[i], quote.volume],
        [46, 6, req_id, LAST_TIMESTAMP[i], int(quote.time)],
    ]


def subscription_preamble(req_id: int, inst: Instrument, data_type: int) -> list[list[object]]:
    return [[81, req_id, inst.min_tick, "9c0001", 3], [58, 1, req_id, data_type]]


def parse_mkt_data(fields: list[str]) -> tuple[int, ContractRef, bool]:
    cur = Cursor(fields, 2, "reqMktData")
    req_id = cur.int("reqId", None)
    if req_id is None:
        raise ProtocolError("reqMktData: missing reqId")
    contract = cur.contract()
    if contract.sec_type.upper() == "BAG":
        cur.skip(4 * cur.count("comboLegCount"))
    if cur.bool("deltaNeutralContract"):
        cur.skip(3)
    cur.next("genericTickList")
    snapshot = cur.bool("snapshot")
    return req_id, contract, snapshot


@dataclass(frozen=True)
class HistoryRequest:
    req_id: int
    contract: ContractRef
    end: str
    bar_size: str
    duration: str
    format_date: int
    keep_up_to_date: bool


def parse_history(fields: list[str]) -> HistoryRequest:
    cur = Cursor(fields, 1, "reqHistoricalData")
    req_id = cur.int("reqId", None)
    if req_id is None:
        raise ProtocolError("reqHistoricalData: missing reqId")
    contract = cur.contract()
    cur.next("includeExpired")
    end = cur.next("endDateTime")
    bar_size = cur.next("barSize")
    duration = cur.next("duration")
    cur.next("useRTH")
    cur.next("whatToShow")
    format_date = cur.int("formatDate") or 1
    if contract.sec_type.upper() == "BAG":
        cur.skip(4 * cur.count("comboLegCount"))
    keep = cur.bool("keepUpToDate")
    return HistoryRequest(req_id, contract, end, bar_size, duration, format_date, keep)


def history_reply(req: HistoryRequest, bars: list[Bar], now: float) -> tuple[list[object], int]:
    """Return the historicalData message and the bar size in seconds."""
    end = now
    if req.end.strip():
        if req.keep_up_to_date:
            raise HistoryRequestError("keepUpToDate requires an empty endDateTime")
        try:
            end = parse_ib_time(req.end)[0].timestamp()
        except TimeFormatError as exc:
            raise HistoryRequestError(f"endDateTime: {exc}") from None
    query: HistoryQuery = parse_query(req.bar_size, req.duration, end)
    selected = aggregate(bars, query)
    msg: list[object] = [17, req.req_id, format_ib_time(end - query.duration_seconds),
                         format_ib_time(end), len(selected)]
    for bar in selected:
        msg += bar_fields(bar, req.format_date, query.bar_seconds)
    return msg, query.bar_seconds


def bar_date(bar: Bar, format_date: int, bar_seconds: int) -> str:
    """Daily bars are dated ``YYYYMMDD`` whatever formatDate asks; formatDate 2 (epoch
    seconds) applies to intraday bars only, as IB documents it."""
    if bar_seconds >= 86400:
        return _time.strftime("%Y%m%d", _time.gmtime(bar.time))
    if format_date == 2:
        return str(bar.time)
    return format_ib_time(bar.time)


def bar_fields(bar: Bar, format_date: int, bar_seconds: int) -> list[object]:
    return [bar_date(bar, format_date, bar_seconds), bar.open, bar.high, bar.low, bar.close,
            bar.volume, wap(bar), bar.count]


def bar_update(sub: BarsSub, bars: list[Bar]) -> list[object]:
    bucket = bars[-1].time - bars[-1].time % sub.bar_seconds
    parts = [b for b in bars[-(sub.bar_seconds // 5 + 1):] if b.time >= bucket]
    agg = Bar(bucket, parts[0].open, max(b.high for b in parts), min(b.low for b in parts),
              parts[-1].close, sum(b.volume for b in parts), sum(b.count for b in parts))
    return [90, sub.req_id, agg.count, bar_date(agg, sub.format_date, sub.bar_seconds),
            agg.open, agg.close, agg.high, agg.low, wap(agg), agg.volume]


def contract_details_reply(req_id: int, inst: Instrument, exchange: str) -> list[list[object]]:
    return [messages.contract_details(req_id, inst, exchange or inst.exchange), [52, 1, req_id]]
