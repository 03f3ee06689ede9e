"""Replay a capture against an in-process sigma9-sim and compare order by order.

How a replay runs (docs/simulator.md, "Conformance with live IB captures"):

* The simulator's market is put where IB's was (``capture_market``): the capture's own
  quotes, else its fills, else the "current market price of X" IB named in a
  price-band message, else the delayed-quote anchor its header names, else the
  market named for the capture or its day from other captures (``allowances.MARKET_BY_CAPTURE``,
  ``MARKET_BY_DAY``). Prices are
  then sent unchanged, so an order far from (or near) IB's market is as far from (or
  near) the simulator's.
* With trading sessions available (``SimConfig.sessions``), the simulator runs
  ``us_equity`` and its clock is set to the capture's connection time
  (``capture_moment``), so IB's session answers (399 outside regular hours) can match.
* Each leg (connection) connects the official ibapi client with the client id the
  capture's own answers show (``leg_client_ids``); requests are re-sent in order, and
  before each one the replay waits until the simulator has given every answer the
  capture shows up to that point (an order's status, an error code, an end marker),
  or for ``WINDOW_S`` at most. A missing answer is waited for once, then once more at
  the end (``SETTLE_S``), so a slow machine is not mistaken for a difference.
* Then every order the capture's client placed or cancelled is compared
  (``compare``): error codes and texts, the collapsed status sequence, the collapsed
  whyHeld sequence, the final status and filled quantity, and executed shares and
  sides (never prices: those are the market's), with the variations of IB's own that
  ``allowances`` lists (transient statuses, the price band's wording, a cut recording).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from backend.sim import SimConfig, SimThread
from tests.conformance.allowances import (
    MARKET_BY_CAPTURE,
    RECORDING_CUT,
    relative_band,
    tolerated_statuses,
)
from tests.conformance.capture import Capture, Event, OrderStory, load_capture, story_of
from tests.conformance.client import ReplayClient, wait_for
from tests.helpers import until

WINDOW_S = 1.0
SETTLE_S = 2.0
TICK_NAMES = {1: "bid", 2: "ask", 4: "last", 66: "bid", 67: "ask", 68: "last"}
"""Live and delayed (66-68: the captures' paper account had delayed data) quote ticks."""
GATEWAY_ZONE = ZoneInfo("Europe/Amsterdam")
"""The captures' Gateway ran in Central Europe: ``CET``/"Central European Standard Time"
in the handshake is the local zone's name, DST included (an April fill stamped
15:07:09Z arrived 77 s after a 17:05:52 connection)."""

MARKET_BY_DAY: dict[str, tuple[Decimal, str]] = {
    "20260413": (Decimal("257.68"), "api_oca_trigger_aapl (IB: current market price 257.68)"),
    "20260414": (Decimal("257.68"), "no capture of that day shows AAPL's price; the day "
                                    "before's (its far-from-market orders sit at 5%)"),
    "20260415": (Decimal("263.88"), "api_tif_attribute_matrix_aapl (TRAIL fill 263.88)"),
    "20260610": (Decimal("292.34"), "api_order_rejects_aapl (IB: current market price "
                                    "292.34)"),
    "20260704": (Decimal("308.40"), "api_reconnect_recovered_cancel_status_aapl's 15.42 "
                                    "limit, the ibkr-go driver's anchor / 20"),
    "20260824": (Decimal("310.52"), "api_bracket_trailing_stop_aapl.sv225 (delayed last "
                                    "tick 310.52, 22:42 CET)"),
}
_MARKET_TEXT = re.compile(r"current market price of (\d+(?:\.\d+)?)")
_ANCHOR = re.compile(r"anchor (\d+(?:\.\d+)?)")
_PERM = re.compile(r"permId =\d+")
_TOKEN = re.compile(r"request\.-'[^']*' :")


@dataclass
class ReplayResult:
    capture: Capture
    market: Decimal
    moment: datetime | None
    expected: dict[int, OrderStory]
    observed: dict[int, OrderStory]
    missing: list[str] = field(default_factory=list)

    def mismatches(self, order_id: int | None = None,
                   errors_recorded: bool = True) -> list[str]:
        ids = [order_id] if order_id is not None else list(self.expected)
        return [m for oid in ids
                for m in compare(self.expected[oid], self.observed[oid], errors_recorded)]


def capture_market(cap: Capture, symbol: str = "AAPL") -> tuple[Decimal, str]:
    """IB's market for ``symbol`` when the capture was taken, and where it came from."""
    ticks: dict[str, Decimal] = {}
    for e in cap.server_answers():
        name = TICK_NAMES.get(e.fields.get("tick_type")) if e.kind == "tick_price" else None
        if name and e.fields["price"] > 0:
            ticks.setdefault(name, e.fields["price"])
    if "last" in ticks:
        return ticks["last"], "the capture's last-price tick"
    if "bid" in ticks and "ask" in ticks:
        return (ticks["bid"] + ticks["ask"]) / 2, "the capture's bid/ask ticks"
    fills = [e.fields["price"] for e in cap.server_answers()
             if e.kind == "execution" and e.fields.get("symbol", symbol) == symbol]
    if fills:
        return fills[0], "the capture's first fill"
    for e in cap.server_answers():
        if e.kind == "error" and (m := _MARKET_TEXT.search(e.fields["message"])):
            return Decimal(m.group(1)), "IB's price-band message"
    for line in cap.header + [str(e.fields) for e in cap.events]:
        if m := _ANCHOR.search(line):
            return Decimal(m.group(1)), "the delayed-quote anchor named in the capture"
    if cap.name in MARKET_BY_CAPTURE:
        return MARKET_BY_CAPTURE[cap.name]
    day = capture_day(cap)
    if day in MARKET_BY_DAY:
        return MARKET_BY_DAY[day]
    raise LookupError(f"{cap.name}: no evidence of AAPL's market on {day}")


def capture_day(cap: Capture) -> str:
    moment = capture_moment(cap)
    return moment.astimezone(GATEWAY_ZONE).strftime("%Y%m%d") if moment else ""


def capture_moment(cap: Capture) -> datetime | None:
    """The first connection time, as an aware datetime: in the zone the server named when
    it is an explicit one (``UTC``, ``US/Eastern``: sigma9-sim, so a ``sigma9 paper-check``
    capture of it), else in ``GATEWAY_ZONE``."""
    for line in cap.handshakes + cap.header:
        if m := re.search(r'"connection_time":"(\d{8} \d{2}:\d{2}:\d{2}) ?([^"]*)"', line):
            return datetime.strptime(m.group(1), "%Y%m%d %H:%M:%S").replace(
                tzinfo=_named_zone(m.group(2)))
    return None


def _named_zone(name: str) -> ZoneInfo:
    """``UTC``/``GMT`` or an ``Area/City`` name as written; anything else (``CET``, "Central
    European Standard Time", none) is the captures' Gateway zone."""
    if name in ("UTC", "GMT") or "/" in name:
        try:
            return ZoneInfo(name)
        except (ValueError, KeyError):
            pass
    return GATEWAY_ZONE


def leg_client_ids(cap: Capture) -> dict[int, int]:
    """Each leg's client id, read from IB's answers: the clientId of the first status
    answering that leg's cancel (IB reports the cancelling client), else of the first
    status or echo in the leg, else 1."""
    out: dict[int, int] = {}
    for leg in cap.legs():
        events = [e for e in cap.events if e.leg == leg]
        cancel_at = next((e.index for e in events
                          if e.side == "client" and e.kind == "cancel_order"), None)
        statuses = [e for e in events if e.kind in ("order_status", "open_order")
                    and e.fields.get("client_id") is not None]
        after = [e for e in statuses if cancel_at is not None and e.index > cancel_at
                 and e.kind == "order_status"]
        pick = after[0] if after else (statuses[0] if statuses else None)
        out[leg] = int(pick.fields["client_id"]) if pick else 1
    return out


def markers(events: list, order_ids: set[int]) -> set[tuple]:
    """What answers a list of events holds: (kind, order id, status or code), plus the
    n-th end-of-list marker of each list request."""
    out: set[tuple] = set()
    ends: dict[str, int] = {}
    for ev in events:
        kind, oid, fields = (ev.kind, ev.order_id, ev.fields) if isinstance(ev, Event) else ev
        if kind == "order_status" and oid in order_ids:
            out.add((kind, oid, fields["status"]))
        elif kind == "error" and oid in order_ids:
            out.add((kind, oid, fields["code"]))
        elif kind in ("open_order_end", "completed_orders_end", "executions_end"):
            ends[kind] = ends.get(kind, 0) + 1
            out.add((kind, None, ends[kind]))
    return out


def replay_capture(source: Capture | str | Path, sim: SimThread | None = None,
                   config: SimConfig | None = None,
                   market: Decimal | None = None) -> ReplayResult:
    """Replay ``source`` (a Capture or a transcript path) and return both sides' stories.
    With ``sim`` the caller's simulator is used as it is; else one is started with
    ``config`` (default: a still market, sessions on when the simulator has them).
    ``market`` overrides AAPL's price when the capture holds no evidence of it (a
    capture with neither raises LookupError rather than guess)."""
    cap = source if isinstance(source, Capture) else load_capture(source)
    if market is None:
        market, _ = capture_market(cap)
    moment = capture_moment(cap)
    if sim is not None:
        return _run(cap, sim, market, moment)
    with SimThread(config or replay_config()) as own:
        return _run(cap, own, market, moment)


def replay_config(**overrides) -> SimConfig:
    base = dict(port=0, volatility=0.0, tick_interval_s=0.05, seed=7)
    if "sessions" in SimConfig.__dataclass_fields__:
        base["sessions"] = "us_equity"
    base.update(overrides)
    return SimConfig(**base)


def _run(cap: Capture, sim: SimThread, market: Decimal,
         moment: datetime | None) -> ReplayResult:
    for symbol in sim.config.symbols:
        if symbol == "AAPL":
            sim.set_price(symbol, str(market))
    if moment is not None and hasattr(sim, "set_time"):
        sim.set_time(moment)
    ids = set(cap.order_ids())
    events: list = []
    changed = threading.Condition()
    missing: set[tuple] = set()
    clients = leg_client_ids(cap)
    current: ReplayClient | None = None
    seen: list[Event] = []
    last_sent = 0

    def settle(timeout: float, again: bool = False) -> None:
        wanted = markers(seen, ids) - (set() if again else missing)
        wait_for(changed, lambda: wanted <= markers(events, ids), timeout)
        missing.update(wanted - markers(events, ids))
        if again:
            missing.intersection_update(wanted - markers(events, ids))

    try:
        for ev in replayed_events(cap):
            if current is None or current.leg != ev.leg:
                if current is not None:
                    settle(WINDOW_S)
                    current.stop()
                    _wait_gone(sim, clients[current.leg])
                current = ReplayClient(events, changed, ev.leg)
                current.start(sim.port, clients[ev.leg])
            if ev.side == "client":
                settle(WINDOW_S)
                with changed:
                    last_sent = len(events)
                current.send(ev.kind, ev.order_id, ev.fields)
            elif not _stale_snapshot_end(cap, ev, ids):
                seen.append(ev)
        settle(SETTLE_S, again=True)  # a slow answer still counts at the end
    finally:
        if current is not None:
            current.stop()
    with changed:
        live = list(events)
    if cap.name in RECORDING_CUT:
        live = _cut_after_last_request(cap, live, last_sent)
    return ReplayResult(cap, market, moment, cap.orders(),
                        {oid: story_of(live, oid) for oid in cap.order_ids()},
                        sorted(map(str, missing)))


def _cut_after_last_request(cap: Capture, live: list, sent_at: int) -> list:
    """``live`` without the simulator's answers to the capture's last request (those from
    ``sent_at`` on) for orders IB's recording shows no answer to after that request."""
    last = max(e.index for e in replayed_events(cap) if e.side == "client")
    answered = {e.order_id for e in cap.events if e.side == "server" and e.index > last}
    return [ev for i, ev in enumerate(live) if i < sent_at or ev[1] in answered]


def _wait_gone(sim: SimThread, client_id: int, timeout: float = 3.0) -> None:
    """A leg reconnecting with the same client id must find the old one gone (else 326)."""
    until(lambda: client_id not in sim.connected_clients(), timeout,
          what=f"client {client_id}'s previous connection to close")


def _stale_snapshot_end(cap: Capture, ev: Event, ids: set[int]) -> bool:
    """The openOrderEnd of the snapshot IB pushed at connection, when it listed only
    orders left over from earlier sessions (every August capture starts so): the
    simulator, which never saw those orders, rightly pushes no snapshot."""
    if ev.kind != "open_order_end":
        return False
    before = [e for e in cap.events if e.leg == ev.leg and e.index < ev.index]
    if any(e.side == "client" for e in before):
        return False
    return not any(e.kind == "open_order" and e.order_id in ids for e in before)


def replayed_events(cap: Capture) -> list[Event]:
    """The capture without its trailing requests that no recorded answer follows: a
    capture that ends on, say, a cleanup global cancel did not record IB's answers to
    it, so the simulator's answers to it could only be compared with nothing."""
    last_answer = max((i for i, e in enumerate(cap.events) if e.side == "server"), default=-1)
    return [e for i, e in enumerate(cap.events) if i <= last_answer or e.side == "server"]


def normalise_text(text: str) -> str:
    """Error texts compared as IB wrote them, but for permanent ids (sanitised in the
    captures, the simulator's own in a replay) and the token IB quotes in 321 (a
    mangled field that differs between IB's own captures: 'bF' in April, 'bC' in June);
    runs of white space are one space, as the semantic captures render IB's line breaks.
    The price band's 202 is compared by its stable part and its band ratio
    (``allowances.relative_band``: IB changed its wording between April and June)."""
    text = _TOKEN.sub("request.-'<token>' :", _PERM.sub("permId =<permId>", text))
    text = relative_band(text)
    return " ".join(text.split())


def error_differences(ib: OrderStory, sim: OrderStory) -> list[str]:
    """The error codes in order, then each one's text (``normalise_text``)."""
    oid = ib.order_id
    ib_err = [(c, normalise_text(t)) for c, t in ib.errors]
    sim_err = [(c, normalise_text(t)) for c, t in sim.errors]
    if [c for c, _ in ib_err] != [c for c, _ in sim_err]:
        return [f"order {oid}: error codes IB {[c for c, _ in ib_err]} "
                f"sim {[c for c, _ in sim_err]}"]
    return [f"order {oid}: error {c} text IB {a!r} sim {b!r}"
            for (c, a), (_, b) in zip(ib_err, sim_err, strict=True) if a != b]


def compare(ib: OrderStory, sim: OrderStory, errors_recorded: bool = True) -> list[str]:
    """One sentence per field in which the simulator's story of the order differs.
    ``errors_recorded=False`` for a capture whose recorder kept no error line at all
    (``tests/conformance/test_replay.py``, ``ERRORS_NOT_RECORDED``): codes are not compared."""
    oid = ib.order_id
    out = error_differences(ib, sim) if errors_recorded else []
    if ib.statuses != tolerated_statuses(ib.statuses, sim.statuses):
        out.append(f"order {oid}: statuses IB {ib.statuses} sim {sim.statuses}")
    if ib.why_held != sim.why_held:
        out.append(f"order {oid}: whyHeld IB {ib.why_held} sim {sim.why_held}")
    if ib.filled != sim.filled:
        out.append(f"order {oid}: final filled IB {ib.filled} sim {sim.filled}")
    if (ib.fill_shares, sorted(set(ib.fill_sides))) != (sim.fill_shares,
                                                        sorted(set(sim.fill_sides))):
        out.append(f"order {oid}: executions IB {ib.fill_shares} {sorted(set(ib.fill_sides))}"
                   f" sim {sim.fill_shares} {sorted(set(sim.fill_sides))}")
    return out
