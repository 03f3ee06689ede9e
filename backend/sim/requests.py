"""Parsing of client requests, field by field, as TWS reads them.

``parse_place_order`` walks the placeOrder layout with the same predicates
the clients use when they write it (secType BAG, delta-neutral type set,
scale increment, hedge type, algo, PEG BENCH, condition count), so a
message from ib_insync (0.9.86, v176), ib_async (v178) or the official
``ibapi`` lands on the same fields.
"""

from __future__ import annotations

import builtins
from decimal import Decimal

from backend.sim.models import Condition, ContractRef, OrderSpec
from backend.sim.wire import (
    UNSET_DOUBLE,
    ProtocolError,
    parse_bool,
    parse_decimal,
    parse_float,
    parse_int,
)

FA_PROFILE_DROPPED = 177

# Condition fields after condType, by condType (see docs/simulator.md).
CONDITION_LAYOUTS: dict[int, tuple[str, ...]] = {
    1: ("conjunction", "is_more", "value", "con_id", "exchange", "trigger_method"),
    3: ("conjunction", "is_more", "value"),
    4: ("conjunction", "is_more", "value"),
    5: ("conjunction", "sec_type", "exchange", "symbol"),
    6: ("conjunction", "is_more", "value", "con_id", "exchange"),
    7: ("conjunction", "is_more", "value", "con_id", "exchange"),
}


class Cursor:
    """Reads fields in order; running out is a protocol error, not an IndexError."""

    def __init__(self, fields: list[str], start: int = 0, what: str = "request") -> None:
        self.fields = fields
        self.pos = start
        self.what = what

    def next(self, name: str = "field") -> str:
        if self.pos >= len(self.fields):
            raise ProtocolError(f"{self.what}: message ended before {name}")
        value = self.fields[self.pos]
        self.pos += 1
        return value

    def optional(self) -> str:
        """Trailing fields that older or newer layouts may omit."""
        if self.pos >= len(self.fields):
            return ""
        return self.next()

    def skip(self, count: int) -> None:
        for _ in range(count):
            self.next()

    def int(self, name: str, default: int | None = 0) -> int | None:
        return parse_int(self.next(name), default, name)

    # ``int`` and ``bool`` below name methods inside this class, hence ``builtins.``.
    def count(self, name: str, limit: builtins.int = 1000) -> builtins.int:
        value = parse_int(self.next(name), 0, name) or 0
        if not 0 <= value <= limit:
            raise ProtocolError(f"{self.what}: {name} {value} out of range")
        return value

    def decimal(self, name: str) -> Decimal | None:
        return parse_decimal(self.next(name), name)

    def bool(self, name: str) -> bool:
        return parse_bool(self.next(name), name)

    def contract(self) -> ContractRef:
        return ContractRef(
            con_id=self.int("conId") or 0,
            symbol=self.next("symbol"),
            sec_type=self.next("secType"),
            last_trade_date=self.next("lastTradeDate"),
            strike=self.next("strike"),
            right=self.next("right"),
            multiplier=self.next("multiplier"),
            exchange=self.next("exchange"),
            primary_exchange=self.next("primaryExchange"),
            currency=self.next("currency"),
            local_symbol=self.next("localSymbol"),
            trading_class=self.next("tradingClass"),
        )


def parse_condition(cur: Cursor) -> Condition:
    kind = cur.int("condType")
    layout = CONDITION_LAYOUTS.get(kind or 0)
    if layout is None:
        raise ProtocolError(f"placeOrder: unknown condition type {kind}")
    raw = {name: cur.next(name) for name in layout}
    conjunction = raw.get("conjunction", "a").strip().lower() or "a"
    if conjunction not in ("a", "o"):
        raise ProtocolError(f"placeOrder: condition conjunction {conjunction!r} is not 'a' or 'o'")
    return Condition(
        kind=kind or 0,
        conjunction=conjunction,
        is_more=parse_bool(raw.get("is_more", "1"), "isMore") if "is_more" in raw else True,
        value=raw.get("value", ""),
        con_id=parse_int(raw.get("con_id", ""), 0, "conId") or 0,
        exchange=raw.get("exchange", ""),
        trigger_method=parse_int(raw.get("trigger_method", ""), 0, "triggerMethod") or 0,
        sec_type=raw.get("sec_type", ""),
        symbol=raw.get("symbol", ""),
    )


def parse_place_order(fields: list[str], server_version: int) -> OrderSpec:
    """Parse msg 3 into an OrderSpec; raises ProtocolError on a malformed message."""
    cur = Cursor(fields, 1, "placeOrder")
    order_id = cur.int("orderId", None)
    if order_id is None or order_id < 0:
        raise ProtocolError("placeOrder: missing or negative orderId")
    contract = cur.contract()
    cur.skip(2)  # secIdType, secId
    action = cur.next("action").strip().upper()
    total_qty = cur.decimal("totalQuantity") or Decimal(0)
    order_type = cur.next("orderType").strip().upper()
    spec = OrderSpec(order_id=order_id, contract=contract, action=action,
                     total_qty=total_qty, order_type=order_type)
    spec.lmt_price = cur.decimal("lmtPrice")
    spec.aux_price = cur.decimal("auxPrice")
    spec.tif = cur.next("tif").strip().upper() or "DAY"
    spec.oca_group = cur.next("ocaGroup")
    spec.account = cur.next("account")
    spec.open_close = cur.next("openClose")
    spec.origin = cur.int("origin") or 0
    spec.order_ref = cur.next("orderRef")
    raw_transmit = cur.next("transmit")
    spec.transmit = True if not raw_transmit.strip() else parse_bool(raw_transmit, "transmit")
    spec.parent_id = cur.int("parentId") or 0
    spec.block_order = cur.bool("blockOrder")
    spec.sweep_to_fill = cur.bool("sweepToFill")
    spec.display_size = cur.int("displaySize") or 0
    spec.trigger_method = cur.int("triggerMethod") or 0
    spec.outside_rth = cur.bool("outsideRth")
    spec.hidden = cur.bool("hidden")
    if contract.sec_type.upper() == "BAG":
        cur.skip(8 * cur.count("comboLegCount"))
        cur.skip(cur.count("orderComboLegCount"))
        cur.skip(2 * cur.count("smartComboRoutingParamCount"))
    cur.next("sharesAllocation")
    cur.next("discretionaryAmt")
    spec.good_after_time = cur.next("goodAfterTime").strip()
    spec.good_till_date = cur.next("goodTillDate").strip()
    cur.skip(3)  # faGroup, faMethod, faPercentage
    if server_version < FA_PROFILE_DROPPED:
        cur.next("faProfile")
    spec.model_code = cur.next("modelCode")
    cur.skip(3)  # shortSaleSlot, designatedLocation, exemptCode
    spec.oca_type = cur.int("ocaType") or 0
    cur.skip(2)  # rule80A, settlingFirm
    spec.all_or_none = cur.bool("allOrNone")
    spec.min_qty = cur.int("minQty", None)
    cur.skip(11)  # percentOffset .. overridePercentageConstraints
    cur.skip(2)  # volatility, volatilityType
    dn_type = cur.next("deltaNeutralOrderType")
    cur.next("deltaNeutralAuxPrice")
    if dn_type.strip():
        cur.skip(8)
    cur.skip(2)  # continuousUpdate, referencePriceType
    spec.trail_stop_price = cur.decimal("trailStopPrice")
    spec.trailing_percent = cur.decimal("trailingPercent")
    cur.skip(2)  # scaleInitLevelSize, scaleSubsLevelSize
    increment = parse_float(cur.next("scalePriceIncrement"), "scalePriceIncrement")
    if increment is not None and 0 < increment < UNSET_DOUBLE:
        cur.skip(7)
    cur.skip(3)  # scaleTable, activeStartTime, activeStopTime
    spec.hedge_type = cur.next("hedgeType").strip().upper()
    if spec.hedge_type:
        spec.hedge_param = cur.next("hedgeParam").strip()
    cur.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if cur.bool("deltaNeutralContract"):
        cur.skip(3)
    spec.algo_strategy = cur.next("algoStrategy").strip()
    if spec.algo_strategy:
        spec.algo_params = [(cur.next("algoParam tag").strip(), cur.next("algoParam value"))
                            for _ in range(cur.count("algoParamCount"))]
    cur.next("algoId")
    spec.what_if = cur.bool("whatIf")
    cur.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if order_type == "PEG BENCH":
        cur.skip(5)
    condition_count = cur.count("conditionCount", 100)
    if condition_count:
        spec.conditions = [parse_condition(cur) for _ in range(condition_count)]
        spec.conditions_ignore_rth = cur.bool("conditionsIgnoreRth")
        spec.conditions_cancel_order = cur.bool("conditionsCancelOrder")
    _parse_tail(cur, spec, contract, order_type, server_version)
    return spec


def _parse_tail(cur: Cursor, spec: OrderSpec, contract: ContractRef, order_type: str,
                server_version: int) -> None:
    """The adjustable-stop block onwards; lenient, since layouts grow at the end."""
    spec.adjusted_order_type = cur.optional().strip()
    spec.trigger_price = parse_decimal(cur.optional(), "triggerPrice")
    spec.lmt_price_offset = parse_decimal(cur.optional(), "lmtPriceOffset")
    spec.adjusted_stop_price = parse_decimal(cur.optional(), "adjustedStopPrice")
    cur.optional()  # adjustedStopLimitPrice
    spec.adjusted_trailing_amount = parse_decimal(cur.optional(), "adjustedTrailingAmount")
    spec.adjustable_trailing_unit = parse_int(cur.optional(), 0, "adjustableTrailingUnit") or 0
    for _ in range(3):  # extOperator, softDollarTier name, value
        cur.optional()
    spec.cash_qty = parse_decimal(cur.optional(), "cashQty")
    for _ in range(8):  # mifid2 x4, dontUseAutoPriceForHedge, isOmsContainer, discrUpTo, priceMgmt
        cur.optional()
    if server_version >= 158:
        cur.optional()  # duration
    if server_version >= 160:
        cur.optional()  # postToAts
    if server_version >= 162:
        spec.auto_cancel_parent = parse_bool(cur.optional(), "autoCancelParent")


def parse_contract_request(fields: list[str], start: int, what: str) -> tuple[Cursor, ContractRef]:
    cur = Cursor(fields, start, what)
    return cur, cur.contract()


REQUEST_NAMES: dict[int, str] = {
    1: "reqMktData", 2: "cancelMktData", 3: "placeOrder", 4: "cancelOrder",
    5: "reqOpenOrders", 6: "reqAccountUpdates", 7: "reqExecutions", 8: "reqIds",
    9: "reqContractDetails", 14: "reqNewsBulletins", 15: "reqAutoOpenOrders",
    16: "reqAllOpenOrders", 17: "reqManagedAccts", 20: "reqHistoricalData",
    25: "cancelHistoricalData", 49: "reqCurrentTime", 58: "reqGlobalCancel",
    59: "reqMarketDataType", 61: "reqPositions", 62: "reqAccountSummary",
    63: "cancelAccountSummary", 64: "cancelPositions", 71: "startApi",
    76: "reqAccountUpdatesMulti", 77: "cancelAccountUpdatesMulti", 92: "reqPnL",
    93: "cancelPnL", 99: "reqCompletedOrders",
}
"""IB's names of the requests the simulator answers, by message id (for the log)."""
