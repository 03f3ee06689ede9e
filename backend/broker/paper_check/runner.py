"""``sigma9 paper-check``: connect, refuse anything but paper, run the probes, report.

The order of a run, and why:

1. Connect (one sentence if that fails) and pick the account; an account whose code does
   not start with ``DU`` is refused before anything is sent (ib-orders P11: paper codes
   start with DU by convention).
2. Say what will happen: which rows trade 1 share, which cannot run in this session.
3. Price the symbol (the ask; delayed-frozen data is enough, every no-fill price sits
   half the price away), then run the probes in order within the time budget.
4. Cancel whatever of its own is still open, sell back any share it bought, and prove
   that nothing of its own is left: that is a row too.
5. Print the table and write the wire capture.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from ib_insync import IB, Contract, Stock

from backend.broker.errors import explain_connect_failure
from backend.broker.paper_check import report
from backend.broker.paper_check.capture import WireCapture
from backend.broker.paper_check.context import Context
from backend.broker.paper_check.observe import ServerLog
from backend.broker.paper_check.orders import Pricing
from backend.broker.paper_check.probes import Evidence
from backend.broker.paper_check.rows import PROBES, ROWS, Need, Outcome
from backend.core.exit_plan import EntryParams, ExitParams
from backend.core.market_hours import Session, session_at

log = logging.getLogger("sigma9.paper_check")
PAPER_PREFIX = "DU"
DEFAULT_CLIENT_ID = 909
"""Not the terminal's id, so the check can run beside it without error 326."""
DELAYED_FROZEN = 4
"""reqMarketDataType 4: live if subscribed, else delayed, else the last value (closed)."""


class PaperCheckError(Exception):
    """A reason the check cannot run, as one sentence (exit code 1)."""


class Disconnected(PaperCheckError):
    def __init__(self, ctx: Context, during: str) -> None:
        left = ", ".join(str(i) for i in ctx.open_ids()) or "none known"
        super().__init__(f"the connection to TWS/IB Gateway was lost during {during}; "
                         f"check the paper account for orders the check left open "
                         f"(ids {left}) and for a {ctx.pricing.symbol} position it bought")


class NotPaper(PaperCheckError):
    """The account is not a paper account (exit code 2)."""


@dataclass(frozen=True)
class Options:
    host: str = "127.0.0.1"
    port: int = 4002
    client_id: int = DEFAULT_CLIENT_ID
    account: str = ""
    symbol: str = "AAPL"
    fills: bool = True
    capture: Path | None = None
    connect_timeout: float = 8.0
    timeout: float = 10.0
    settle: float = 1.0


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def default_capture_path(moment: datetime) -> Path:
    return Path(f"sigma9-paper-check-{moment.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}.txt")


def blocked(needs: frozenset[Need], fills: bool, session: Session) -> tuple[Outcome, str] | None:
    """Why a probe with ``needs`` cannot run now, or None."""
    if Need.FILL in needs and not fills:
        return Outcome.SKIPPED, "--no-fills: this row trades 1 share"
    if Need.REGULAR in needs and not session.is_regular:
        return Outcome.CANNOT, f"needs regular hours (now: {session.value})"
    if Need.OUTSIDE in needs and session.is_regular:
        return Outcome.CANNOT, "needs the pre-market, after hours or a closed market"
    return None


def not_checkable_now(fills: bool, session: Session) -> list[str]:
    """Rows this session rules out (not the ones no run can check: ``Row.never``)."""
    return [row.key for row in ROWS if not row.never
            and (b := blocked(PROBES[row.probe].needs, fills, session))
            and b[0] is Outcome.CANNOT]


async def _connect(ib: IB, options: Options) -> str:
    saw_326 = asyncio.Event()

    def on_error(req_id, code, text, contract) -> None:
        if code == 326:
            saw_326.set()

    ib.errorEvent += on_error
    attempt = asyncio.ensure_future(ib.connectAsync(
        options.host, options.port, clientId=options.client_id,
        timeout=options.connect_timeout, account=options.account))
    refused = asyncio.ensure_future(saw_326.wait())
    try:
        await asyncio.wait({attempt, refused}, return_when=asyncio.FIRST_COMPLETED)
        if not attempt.done():
            attempt.cancel()
            with contextlib.suppress(BaseException):
                await attempt
            raise ConnectionError("client id in use")
        attempt.result()
    except (Exception, asyncio.TimeoutError) as exc:
        ib.disconnect()
        raise PaperCheckError(explain_connect_failure(
            exc, options.host, options.port, options.client_id, options.connect_timeout,
            saw_326.is_set())) from None
    finally:
        refused.cancel()
        ib.errorEvent -= on_error
    accounts = ib.managedAccounts()
    account = options.account or (accounts[0] if accounts else "")
    if options.account and options.account not in accounts:
        raise PaperCheckError(f"account {options.account} is not managed by this login "
                              f"(it manages {', '.join(accounts) or 'none'})")
    if not account.startswith(PAPER_PREFIX):
        raise NotPaper(f"account {account or '(none)'} is not a paper account (paper codes "
                       f"start with {PAPER_PREFIX}); sigma9 paper-check places orders, so it "
                       "runs on a paper account only")
    return account


async def _qualify(ib: IB, symbol: str) -> tuple[Contract, Decimal]:
    details = await ib.reqContractDetailsAsync(Stock(symbol, "SMART", "USD"))
    contract = details[0].contract if len(details) == 1 else None
    if contract is None:
        raise PaperCheckError(f"IB has no single US stock {symbol!r} on SMART "
                              f"({len(details)} matches); choose another --symbol")
    contract.exchange = "SMART"
    return contract, Decimal(str(details[0].minTick or 0.01))


def _valid(value: float) -> bool:
    return value is not None and not math.isnan(value) and value > 0


async def _reference(ib: IB, contract: Contract, timeout: float) -> Decimal:
    """The ask (the signal's reference); the last or close price when no ask is quoted."""
    ib.reqMarketDataType(DELAYED_FROZEN)
    ticker = ib.reqMktData(contract, "", False, False)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while asyncio.get_running_loop().time() < deadline:
            if _valid(ticker.ask):
                return Decimal(str(ticker.ask))
            if _valid(ticker.last) or _valid(ticker.close):
                await asyncio.sleep(0.3)  # an ask may follow the last
                if _valid(ticker.ask):
                    return Decimal(str(ticker.ask))
                return Decimal(str(ticker.last if _valid(ticker.last) else ticker.close))
            await asyncio.sleep(0.05)
    finally:
        ib.cancelMktData(contract)
    bars = await ib.reqHistoricalDataAsync(contract, "", "2 D", "1 day", "TRADES", True)
    if bars:
        return Decimal(str(bars[-1].close))
    raise PaperCheckError(f"no price for {contract.symbol} (no quote and no history)")


async def _run_probes(ctx: Context, fills: bool) -> dict[str, report.Result]:
    results = {row.key: report.Result(row, Outcome.CANNOT, row.never)
               for row in ROWS if row.never}
    for probe in PROBES.values():
        rows = [row for row in ROWS if row.probe == probe.name]
        why = blocked(probe.needs, fills, ctx.session)
        if why is None and ctx.out_of_time():
            why = (Outcome.CANNOT, "out of time (the run keeps under two minutes)")
        if why is not None:
            for row in rows:
                results[row.key] = report.Result(row, why[0], why[1])
            continue
        try:
            evidence = await probe.run(ctx)
        except Exception as exc:  # a probe that breaks must not stop the cleanup
            if not ctx.ib.isConnected():
                raise Disconnected(ctx, probe.name) from None
            log.exception("probe %s failed", probe.name)
            evidence = Evidence(missing=f"the probe failed: {exc}")
        for row in rows:
            results[row.key] = report.judge(row, evidence)
    return {row.key: results[row.key] for row in ROWS}  # in the table's order


async def _clean_up(ctx: Context) -> report.Result:
    """Cancel what is open, sell back what was bought, then prove it from the broker."""
    await ctx.cancel(ctx.open_ids(), reserve=0)
    off = await ctx.flatten("end", reserve=0)
    listed = await ctx.ib.reqOpenOrdersAsync()  # the broker's list, not ib_insync's memory
    ours = {t.order.orderId for t in listed if t.order.clientId == ctx.ib.client.clientId}
    # Listed but ended (Inactive after a rejection, say) is not left working.
    still = sorted({i for i in ours & set(ctx.sent) if not ctx.seen(i).done}
                   | set(ctx.open_ids()))
    ok = not still and off == 0
    detail = (f"{len(ctx.sent)} orders sent, none open; position back to "
              f"{ctx.start_position}" if ok else
              f"open orders {still or 'none'}; position off by {off}")
    return report.Result(report.CLEANUP_ROW, Outcome.PASS if ok else Outcome.FAIL, detail)


@dataclass(frozen=True)
class RunReport:
    results: tuple[report.Result, ...]
    capture: Path

    @property
    def exit_code(self) -> int:
        """0 when no row FAILED (CANNOT-CHECK and SKIPPED rows are not failures), else 1."""
        return 1 if any(r.outcome is Outcome.FAIL for r in self.results) else 0

    def outcome(self, key: str) -> Outcome:
        return next(r.outcome for r in self.results if r.row.key == key)


async def _checks(ib: IB, server_log: ServerLog, options: Options, account: str,
                  exits: ExitParams, entry: EntryParams, out: Callable[[str], None],
                  now: Callable[[], datetime], run_id: str) -> dict[str, report.Result]:
    session = session_at(now())
    for line in report.announce(options, account, session,
                                not_checkable_now(options.fills, session)):
        out(line)
    contract, tick = await _qualify(ib, options.symbol)
    reference = await _reference(ib, contract, min(options.timeout, 5.0))
    pricing = Pricing(contract.symbol, contract.conId, tick, reference, account, exits, entry)
    ctx = Context(ib, server_log, contract, pricing, run_id=run_id, now=now, session=session,
                  timeout=options.timeout, settle=options.settle)
    ctx.start_position = ctx.position()
    out(f"Reference price {reference} (tick {tick}); far-from-market prices "
        f"{pricing.far_below()} / {pricing.far_above()}.")
    try:
        results = await _run_probes(ctx, options.fills)
    finally:  # even a failure halfway must not leave the check's orders working
        if ib.isConnected():
            cleanup = await _clean_up(ctx)
    if not ib.isConnected():
        raise Disconnected(ctx, "the clean-up")
    results[cleanup.row.key] = cleanup
    return results


async def run_paper_check(options: Options, exits: ExitParams, entry: EntryParams,
                          out: Callable[[str], None] = print,
                          now: Callable[[], datetime] = utc_now) -> RunReport:
    """One check: prints as it goes, writes the capture; raises PaperCheckError (a
    sentence) when it cannot connect, the account is not paper, or the symbol is unknown.

    ``now`` is the clock the sessions and the time stop's goodAfterTime are read from
    (tests give the simulator's clock, so both agree on the session).
    """
    ib = IB()
    capture = WireCapture.attach(ib)
    server_log = ServerLog.attach(ib, options.client_id)
    started = now()
    try:
        account = await _connect(ib, options)
    except PaperCheckError:
        ib.disconnect()  # now, on this loop: not from IB.__del__ after the loop is gone
        raise
    results: dict[str, report.Result] = {}
    path = options.capture or default_capture_path(started)
    try:
        results = await _checks(ib, server_log, options, account, exits, entry, out, now,
                                run_id=f"pc{started:%m%d%H%M%S}")
    except ConnectionError as exc:  # ib_insync's "Not connected" outside a probe
        raise PaperCheckError(f"the connection to {options.host}:{options.port} was lost "
                              f"({exc})") from None
    finally:
        ib.disconnect()
        capture.on_disconnected()  # the socket closes on a later loop turn: say it now
        capture.write(path, report.capture_header(options, started, capture.server_version,
                                                  list(results.values())), account)
    for line in report.table(list(results.values())):
        out(line)
    out(f"Wire capture written to {path} (attach it to a bug report).")
    return RunReport(tuple(results.values()), path)
