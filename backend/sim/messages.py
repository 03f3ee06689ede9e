"""Encoders of server -> client messages, as field lists, for server versions 157..178.

Clients decode many messages by exact field count, so every layout here is
written out in full, with the version-dependent fields guarded exactly where
TWS guards them: faProfile exists below 177, execDetails gains
pendingPriceRevision at 178.
"""

from __future__ import annotations

from decimal import Decimal

from backend.sim.account import money
from backend.sim.models import Condition, Instrument
from backend.sim.orders import ExecutionRecord, WorkingOrder
from backend.sim.timefmt import format_ib_time
from backend.sim.wire import UNSET_DOUBLE

FA_PROFILE_DROPPED = 177
PENDING_PRICE_REVISION = 178

Fields = list[object]


def error(req_id: int, code: int, text: str) -> Fields:
    return [4, 2, req_id, code, text, ""]


def contract_c11(inst: Instrument, exchange: str | None = None) -> Fields:
    """conId, symbol, secType, lastTradeDate, strike, right, multiplier, exchange, currency,
    localSymbol, tradingClass."""
    return [inst.con_id, inst.symbol, inst.sec_type, "", "0", "", "",
            exchange if exchange is not None else inst.exchange, inst.currency, inst.symbol,
            trading_class(inst)]


def trading_class(inst: Instrument) -> str:
    return "NMS" if inst.primary_exchange == "NASDAQ" else inst.symbol


def _price(value: Decimal | None) -> object:
    return value if value is not None else ""


def _conditions(conds: list[Condition], ignore_rth: bool, cancel: bool) -> Fields:
    out: Fields = [len(conds)]
    for c in conds:
        is_more = "1" if c.is_more else "0"
        tail: dict[int, Fields] = {
            1: [c.conjunction, is_more, c.value, c.con_id, c.exchange, c.trigger_method],
            3: [c.conjunction, is_more, c.value],
            4: [c.conjunction, is_more, c.value],
            5: [c.conjunction, c.sec_type, c.exchange, c.symbol],
            6: [c.conjunction, is_more, c.value, c.con_id, c.exchange],
            7: [c.conjunction, is_more, c.value, c.con_id, c.exchange],
        }
        out += [c.kind, *tail[c.kind]]
    if conds:
        out += [ignore_rth, cancel]
    return out


def _order_head(o: WorkingOrder) -> Fields:
    s = o.spec
    oca = o.oca_echo if o.oca_echo is not None else s.oca_group  # ib_insync #606
    return [s.action, s.total_qty, s.order_type, _price(s.lmt_price), _price(s.aux_price), s.tif,
            oca, s.account, s.open_close or "O", s.origin, s.order_ref]


def _hedge(o: WorkingOrder) -> Fields:
    return [o.spec.hedge_type, o.spec.hedge_param] if o.spec.hedge_type else [""]


def _algo(o: WorkingOrder) -> Fields:
    s = o.spec
    if not s.algo_strategy:
        return [""]
    return [s.algo_strategy, len(s.algo_params), *(x for pair in s.algo_params for x in pair)]


def open_order(o: WorkingOrder, version: int, what_if: dict[str, str] | None = None) -> Fields:
    s, inst = o.spec, o.instrument
    trail_stop = o.trail_stop if o.trail_stop is not None else s.trail_stop_price
    f: Fields = [5, s.order_id, inst.con_id, inst.symbol, inst.sec_type, "", "0", "", "",
                 s.contract.exchange or inst.exchange, inst.currency, inst.symbol,
                 trading_class(inst)]
    f += _order_head(o)
    f += [o.client_id, o.perm_id, s.outside_rth, s.hidden, "0", s.good_after_time, "",
          "", "", ""]  # discretionaryAmt, goodAfterTime, sharesAllocation, faGroup/Method/Pct
    if version < FA_PROFILE_DROPPED:
        f += [""]
    f += [s.model_code, s.good_till_date, "", "", "", "0", "", "", "0", "", "", "", "", ""]
    f += [s.display_size, s.block_order, s.sweep_to_fill, s.all_or_none,
          s.min_qty if s.min_qty is not None else "", s.oca_type, "0", "0", "", s.parent_id,
          s.trigger_method]
    f += ["", "0", "", ""]  # volatility, volatilityType, deltaNeutralOrderType, dnAuxPrice
    f += ["0", "0", _price(trail_stop), _price(s.trailing_percent), "", "", "", 0, 0, 0]
    f += ["", "", "", *_hedge(o)]  # scaleInitLevelSize, scaleSubsLevelSize, scaleIncrement
    f += ["0", "", "", "0", "0", *_algo(o)]  # optOutSmartRouting .. dncPresent, algo
    state = what_if or {}
    f += ["0", s.what_if, "PreSubmitted" if s.what_if else o.status]
    f += [state.get(k, "") for k in (
        "initMarginBefore", "maintMarginBefore", "equityWithLoanBefore", "initMarginChange",
        "maintMarginChange", "equityWithLoanChange", "initMarginAfter", "maintMarginAfter",
        "equityWithLoanAfter", "commission", "minCommission", "maxCommission")]
    f += [state.get("commissionCurrency", ""), o.warning]
    f += ["0", "0"]  # randomizeSize, randomizePrice
    f += _conditions(s.conditions, s.conditions_ignore_rth, s.conditions_cancel_order)
    f += [s.adjusted_order_type, _price(s.trigger_price), _price(trail_stop),
          _price(s.lmt_price_offset), _price(s.adjusted_stop_price), "",
          _price(s.adjusted_trailing_amount), s.adjustable_trailing_unit]
    f += ["", "", "", _price(s.cash_qty), "0", "0", "0", "0"]
    f += ["", "0", s.auto_cancel_parent]  # duration, postToAts, autoCancelParent (>=159..162)
    f += ["", "", "", "", ""]  # >=170: minTradeQty .. midOffsetAtHalf
    return f


def order_status(o: WorkingOrder, client_id: int | None = None) -> Fields:
    """``client_id``: the receiving client's, when it is not the owner (a canceller)."""
    return [3, o.order_id, o.status, o.filled, o.remaining, o.avg_fill_price, o.perm_id,
            o.spec.parent_id, o.last_fill_price,
            o.client_id if client_id is None else client_id, o.why_held, ""]


def completed_order(o: WorkingOrder, version: int) -> Fields:
    s, inst = o.spec, o.instrument
    f: Fields = [101, *contract_c11(inst, s.contract.exchange or inst.exchange)]
    f += _order_head(o)
    f += [o.perm_id, s.outside_rth, s.hidden, "0", s.good_after_time, "", "", ""]
    if version < FA_PROFILE_DROPPED:
        f += [""]
    f += [s.model_code, s.good_till_date, "", "", "", "0", "", "", "", "", "", "", ""]
    f += [s.display_size, s.sweep_to_fill, s.all_or_none,
          s.min_qty if s.min_qty is not None else "", s.oca_type, s.trigger_method]
    f += ["", "0", "", ""]
    f += ["0", "0", _price(o.trail_stop), _price(s.trailing_percent), "", 0, 0, 0]
    f += ["", "", "", ""]  # scale x3, hedgeType
    f += ["", "", "0", "0", ""]  # clearingAccount, clearingIntent, notHeld, dnc, algoStrategy
    f += ["0", o.status, "0", "0"]
    f += _conditions(s.conditions, s.conditions_ignore_rth, s.conditions_cancel_order)
    f += [_price(o.trail_stop), _price(s.lmt_price_offset), _price(s.cash_qty), "0", "0", "",
          o.filled, "0", s.auto_cancel_parent, "", "0", "0", "",
          format_ib_time(o.completed_time or 0), o.completed_status]
    f += ["", "", "", "", ""]
    return f


def exec_details(req_id: int, e: ExecutionRecord, version: int) -> Fields:
    f: Fields = [11, req_id, e.order_id, *contract_c11(e.instrument), e.exec_id,
                 format_ib_time(e.time), e.account, e.instrument.primary_exchange, e.side,
                 e.shares, e.price, e.perm_id, e.client_id, 0, e.cum_qty, e.avg_price,
                 e.order_ref, "", "", "", 2]
    if version >= PENDING_PRICE_REVISION:
        f.append(0)
    return f


def commission_report(e: ExecutionRecord) -> Fields:
    realized = e.realized if e.realized is not None else UNSET_DOUBLE
    return [59, 1, e.exec_id, e.commission, e.instrument.currency, realized, UNSET_DOUBLE, ""]


def position(account: str, inst: Instrument, qty: Decimal, avg_cost: Decimal) -> Fields:
    return [61, 3, account, *contract_c11(inst, inst.primary_exchange), qty, avg_cost]


def portfolio(account: str, inst: Instrument, qty: Decimal, mark: Decimal, avg_cost: Decimal,
              realized: Decimal) -> Fields:
    unrealized = (mark - avg_cost) * qty
    return [7, 8, inst.con_id, inst.symbol, inst.sec_type, "", "0", "", "",
            inst.primary_exchange, inst.currency, inst.symbol, trading_class(inst), qty, mark,
            money(qty * mark), avg_cost, money(unrealized), money(realized), account]


def contract_details(req_id: int, inst: Instrument, exchange: str) -> Fields:
    return [10, req_id, inst.symbol, inst.sec_type, "", "0", "", exchange, inst.currency,
            inst.symbol, trading_class(inst), trading_class(inst), inst.con_id, inst.min_tick,
            "", "ACTIVETIM,ADJUST,ALERT,DAY,GAT,GTC,GTD,IOC,LMT,MKT,STP,STPLMT,TRAIL,CONDORDER",
            f"SMART,{inst.primary_exchange}", 1, 0, inst.long_name, inst.primary_exchange, "",
            "Technology", "Computers", "Computers", "UTC", "", "", "", "", 0,
            1, "", "", "26", "", "COMMON", 1, 1, 100]
