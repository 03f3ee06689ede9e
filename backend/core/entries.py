"""Sending a Signal's entry: every check before anything reaches the broker, then the chain.

Composed into ``OrderManager`` (``manager.entries``), whose ``execute_entry`` parses the
signal and hands it here. Kept apart because this is where "one signal id, one entry" and
"a refusal names its real cause" are decided (issue 10; docs/oca.md "Idempotency",
docs/reliability.md "Recovery rules"), and it reads best on its own. The checks, in order:
duplicate id (journal, then the broker's orderRefs for a lost signal's retry), regular hours,
connection, the contract look-up (its failure refused by cause, ``errors.lookup_refusal``),
then the pre-trade rules of ``sizing``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, Protocol

from backend.core import sizing
from backend.core.errors import lookup_refusal
from backend.core.exit_plan import EntryParams, ExitParams, build_entry_chain
from backend.core.journal import Journal
from backend.core.market_hours import Session
from backend.core.models import ContractInfo, OrderIntent, OrderRecord
from backend.core.ports import BrokerPort
from backend.core.recovery_rules import LOST_OUTCOME, retry_refusal
from backend.core.signal import Signal, SignalRefused

log = logging.getLogger("sigma9.oms")
ACCEPTED = "accepted"


class EntryHost(Protocol):
    """What sending an entry reads of the OMS and asks it to do (``OrderManager``)."""

    def refuse(self, signal: Any, reason: str, code: str = "refused") -> SignalRefused: ...
    def entry_of(self, signal_id: str) -> OrderRecord | None: ...
    def trade_orders(self, signal_id: str) -> list[OrderRecord]: ...
    def open_symbols(self) -> set[str]: ...
    def pending_entry_symbols(self) -> set[str]: ...
    def accepted(self, signal: Signal) -> None: ...
    def sent(self, intents: list[OrderIntent], ids: list[str], signal_id: str) -> None: ...
    def now(self) -> datetime: ...
    def session_of(self, moment: datetime) -> Session: ...


def duplicate_reason(signal_id: str, outcome: str | None, existing: OrderRecord | None,
                     trade: list[OrderRecord],
                     broker_orders: Callable[[], Iterable[OrderRecord]]) -> str | None:
    """Why ``signal_id`` may not produce an entry now (it already did), or None.

    A signal whose entry was lost with the connection may be retried with its id, but only
    while the broker holds no working or executed order of it (``recovery_rules``): one id
    never makes two entries. ``broker_orders`` is asked only then: it maps every order of
    the session, and asking it on every entry made an entry's cost grow with the session
    (issue 12: 64% of ``execute_entry`` at 1,100 signals). Any other signal is answered by
    the journal's outcome and the OMS's own orders of the signal (``OrderLifecycle``'s
    index by base signal id), which hold every order the broker reported with its orderRef.
    """
    if outcome == LOST_OUTCOME:
        why = retry_refusal(signal_id, outcome, trade, broker_orders())
        return None if why is None else f"signal {signal_id} was lost, but {why}"
    if existing is not None or outcome == ACCEPTED:
        where = f"entry order {existing.order_id}" if existing else "an entry"
        return f"signal {signal_id} already produced {where}"
    return None


class EntrySender:
    def __init__(self, host: EntryHost, broker: BrokerPort, journal: Journal, settings: Any,
                 exits: ExitParams, entry: EntryParams) -> None:
        self.host, self.broker, self.journal, self.settings = host, broker, journal, settings
        self.exits, self.entry = exits, entry
        self.in_flight: set[str] = set()
        """Signal ids between their duplicate check and the end of their send. Claimed before
        the first ``await``: two overlapping calls with one id (a runner and a script, or a
        re-sent copy) would otherwise both pass the check while the first waits for the
        contract look-up, and both reach the broker (soak F8, seed 219)."""

    @property
    def lookup_timeout(self) -> float:
        """How long the contract look-up may take: as long as a handshake
        (``[broker] connect_timeout_s``)."""
        return float(getattr(self.settings.broker, "connect_timeout_s", 10.0))

    async def send(self, signal: Signal) -> str:
        """Check ``signal`` and send its chain; the entry's order id. Raises SignalRefused."""
        if signal.id in self.in_flight:
            raise self.host.refuse(signal, f"signal {signal.id} is already being sent",
                                   "duplicate")
        self.in_flight.add(signal.id)
        try:
            return await self._send(signal)
        finally:
            self.in_flight.discard(signal.id)

    async def _send(self, signal: Signal) -> str:
        host = self.host
        outcome = self.journal.signal_outcome(signal.id)
        duplicate = duplicate_reason(signal.id, outcome, host.entry_of(signal.id),
                                     host.trade_orders(signal.id), self.broker.get_all_orders)
        if duplicate is not None:
            raise host.refuse(signal, duplicate, "duplicate")
        if outcome == LOST_OUTCOME:
            log.warning("signal %s: its entry was lost; sending it again", signal.id)
        outside = sizing.session_refusal(signal.symbol, host.session_of(host.now()),
                                         self.entry.allow_outside_rth)
        if outside is not None:
            raise host.refuse(signal, outside.reason, outside.code)
        if not self.broker.is_connected():
            raise host.refuse(signal, "not connected to the broker", "disconnected")
        known = getattr(self.broker, "known_contract", None)
        info: ContractInfo | None = known(signal.symbol) if known is not None else None
        if info is None:
            timeout = self.lookup_timeout
            try:
                info = await asyncio.wait_for(self.broker.contract_info(signal.symbol),
                                              timeout)
            except Exception as exc:
                # The real cause: disconnected, timeout, unknown_symbol or internal_error.
                code, reason = lookup_refusal(exc, signal.symbol, timeout)
                raise host.refuse(signal, reason, code) from None
        quantity = sizing.entry_quantity(signal.reference_price, self.exits.safety_stop_pct,
                                         self.settings.risk)
        open_symbols, pending = host.open_symbols(), host.pending_entry_symbols()
        refusal = sizing.check_entry(
            symbol=signal.symbol, known_symbols={info.symbol},
            connected=self.broker.is_connected(), account_code=self.broker.account,
            live_trading_enabled=self.settings.broker.live_trading_enabled,
            open_symbols=open_symbols, pending_symbols=pending,
            open_count=len(open_symbols | pending),
            max_open_positions=self.settings.risk.max_open_positions, quantity=quantity)
        if refusal is not None:
            raise host.refuse(signal, refusal.reason, refusal.code)
        chain = build_entry_chain(signal.symbol, quantity, signal.reference_price, signal.atr,
                                  info.min_tick, self.exits, self.entry, host.now(), signal.id)
        # One transaction for the send (``journal_tx``): the accepted row is written before
        # anything is sent (docs/oca.md), the orders as they are sent, and all of it is
        # committed as ``place_chain`` returns, before the loop runs anything else.
        with self.journal.batch():
            host.accepted(signal)
            try:
                ids = await self.broker.place_chain(chain.entry, list(chain.legs))
            except Exception as exc:
                self.journal.record_signal(signal, "failed", str(exc))
                raise host.refuse(signal, f"the broker did not take the order: {exc}",
                                  "send_failed") from None
            host.sent([chain.entry, *chain.legs], ids, signal.id)
        log.info("signal %s: entry %s with exits %s", signal.id, ids[0], ids[1:])
        return ids[0]


def sent_records(intents: list[OrderIntent], ids: list[str], signal_id: str,
                 known: Mapping[str, OrderRecord], now: datetime
                 ) -> tuple[list[OrderRecord], list[dict[str, Any]]]:
    """The records of orders just sent (a known record is kept: the broker spoke first) and
    what was sent beyond them, per order: the ``legs_sent`` plans (pure)."""
    records, plans = [], []
    for intent, order_id in zip(intents, ids, strict=True):
        records.append(known.get(order_id) or OrderRecord(
            order_id=order_id, symbol=intent.symbol, side=intent.side,
            order_type=intent.order_type, quantity=intent.quantity, role=intent.role,
            signal_id=signal_id, oca_group=intent.oca_group, limit_price=intent.limit_price,
            stop_price=intent.stop_price if intent.stop_price is not None
            else intent.trail_stop_price, trail_amount=intent.trail_amount, updated_at=now))
        plans.append({"order_id": order_id, "outside_rth": intent.outside_rth,
                      "activation": str(intent.conditions[0].price) if intent.conditions
                      else None, "good_after_time": intent.good_after_time})
    return records, plans
