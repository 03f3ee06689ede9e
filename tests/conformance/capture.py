"""Reader of TWS-protocol transcripts: the public live captures and ``sigma9 paper-check``.

A transcript is one line per message (see ``tests/conformance/captures/README.md``):
``# ...`` comments (the header names its provenance; ``# leg=N ...`` sets the
connection leg of the next frame), ``handshake {...}``, ``disconnect``, ``sleep 6s``,
semantic JSON (``client place_order {...}``, ``server order_status {...}``) and raw
frames (``raw client|server BASE64``, decoded in ``frames.py``). Both encodings land on
one event model, so a replay compares like with like whichever form a capture has.

Public API (also described in /tmp/team/capture_api.md):
``load_capture(path) -> Capture``, ``parse_capture(text, name) -> Capture``,
``Capture.client_requests()``, ``Capture.server_answers()``, ``Capture.orders()``,
``Capture.order_ids()``, ``Capture.legs()``, ``story_of(events, order_id)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.conformance.frames import decode_client, decode_server, frame_bytes
from tests.conformance.recorder import json_order_fields

LIVE_MARKERS = ("grounded by live api capture", "exact capture", "live-derived",
                "live recorder capture", "exact public-api capture",
                "grounded by live paper gateway", "exact public api capture",
                "exact paper ib gateway capture")
FARM_CODES = frozenset({2104, 2106, 2107, 2108, 2119, 2158})

# Semantic kinds as ibkr-go writes them -> the event model's kinds.
SEMANTIC_KINDS = {"api_error": "error", "execution_detail": "execution",
                  "commission_report": "commission", "completed_order_end": "completed_orders_end"}


@dataclass(frozen=True)
class Event:
    """One message: ``side`` client or server, ``kind`` as in ``frames.CLIENT_KINDS`` /
    ``recorder.Recorder``; ``order_id`` is the order (or error request) id."""

    leg: int
    side: str
    kind: str
    order_id: int | None
    fields: dict[str, Any]
    index: int


@dataclass
class OrderStory:
    """What happened to one order id, in arrival order."""

    order_id: int
    statuses: list[str] = field(default_factory=list)
    why_held: list[str] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    filled: Decimal = Decimal(0)
    fill_shares: Decimal = Decimal(0)
    fill_sides: list[str] = field(default_factory=list)

    @property
    def final_status(self) -> str:
        return self.statuses[-1] if self.statuses else ""


@dataclass
class Capture:
    name: str
    header: list[str]
    server_version: int | None
    events: list[Event]
    handshakes: list[str] = field(default_factory=list)
    """The JSON of every ``handshake`` line (one per leg), e.g. its connection_time."""

    @property
    def live(self) -> bool:
        text = " ".join(self.header).lower()
        return any(marker in text for marker in LIVE_MARKERS)

    def client_requests(self) -> list[Event]:
        return [e for e in self.events if e.side == "client"]

    def server_answers(self) -> list[Event]:
        return [e for e in self.events if e.side == "server"]

    def legs(self) -> list[int]:
        return sorted({e.leg for e in self.events})

    def order_ids(self) -> list[int]:
        """Ids this capture's client placed or cancelled, first use first."""
        seen: dict[int, None] = {}
        for e in self.client_requests():
            if e.kind in ("place_order", "cancel_order") and e.order_id is not None:
                seen.setdefault(e.order_id, None)
        return list(seen)

    def orders(self) -> dict[int, OrderStory]:
        return {oid: story_of(self.server_answers(), oid) for oid in self.order_ids()}


def collapse(values: Iterable[str]) -> list[str]:
    """Consecutive repeats folded: IB re-sends the same status with every openOrder echo,
    and how many echoes arrive is not behaviour anyone relies on."""
    out: list[str] = []
    for value in values:
        if not out or out[-1] != value:
            out.append(value)
    return out


def story_of(events: Iterable[Event | tuple[str, int | None, dict]], order_id: int) -> OrderStory:
    """The order's statuses (collapsed), whyHeld values (collapsed), errors (farm
    notices dropped), filled quantity and executions, from capture events or from the
    ``(kind, order_id, fields)`` triples a ``Recorder`` collected live."""
    story = OrderStory(order_id)
    statuses, held = [], []
    exec_ids: set[str] = set()
    for ev in events:
        kind, oid, fields = (ev.kind, ev.order_id, ev.fields) if isinstance(ev, Event) else ev
        if oid != order_id:
            continue
        if kind == "order_status":
            statuses.append(fields["status"])
            held.append(fields.get("why_held", ""))
            story.filled = fields.get("filled") or Decimal(0)
        elif kind == "error" and fields["code"] not in FARM_CODES:
            story.errors.append((fields["code"], fields["message"]))
        elif kind == "execution" and fields.get("exec_id") not in exec_ids:
            exec_ids.add(fields.get("exec_id"))
            story.fill_shares += fields["shares"]
            story.fill_sides.append(fields["side"])
    story.statuses, story.why_held = collapse(statuses), collapse(held)
    return story


def load_capture(path: str | Path) -> Capture:
    path = Path(path)
    return parse_capture(path.read_text(encoding="utf-8"), name=path.name.removesuffix(".txt"))


_SERVER_VERSION = re.compile(r"server_version[ =](\d+)")
_LEG = re.compile(r"^#\s*leg=(\d+)")


def parse_capture(text: str, name: str = "capture") -> Capture:
    """Parse a transcript; a line of no known form raises ValueError naming it."""
    header: list[str] = []
    events: list[Event] = []
    handshakes: list[str] = []
    version: int | None = None
    leg, explicit_leg, body_started = 1, False, False
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip()
        if not line:
            continue
        if line.startswith("#"):
            if not body_started:
                header.append(line)
                if version is None and (m := _SERVER_VERSION.search(line)):
                    version = int(m.group(1))
            if m := _LEG.match(line):
                leg, explicit_leg = int(m.group(1)), True
            continue
        body_started = True
        word, _, rest = line.partition(" ")
        if word == "handshake":
            version = json.loads(rest).get("server_version", version)
            handshakes.append(rest)
        elif word == "disconnect":
            if not explicit_leg:
                leg += 1
        elif word == "sleep":
            pass
        elif word == "raw":
            side, _, b64 = rest.partition(" ")
            events.extend(_raw(side, b64, version or 0, leg, len(events), number))
        elif word in ("client", "server"):
            events.append(_semantic(word, rest, leg, len(events), number))
        else:
            raise ValueError(f"{name}:{number}: unknown line {line[:60]!r}")
    return Capture(name, header, version, events, handshakes)


def _raw(side: str, b64: str, version: int, leg: int, index: int, number: int) -> list[Event]:
    data = frame_bytes(b64)
    try:
        if side == "client":
            triples = [decode_client(data, version)]
        elif side == "server":
            triples = decode_server(data, version)
        else:
            raise ValueError(f"side {side!r}")
    except Exception as exc:
        raise ValueError(f"line {number}: cannot decode {side} frame: {exc}") from exc
    return [Event(leg, side, kind, oid, fields, index + i)
            for i, (kind, oid, fields) in enumerate(triples)]


def _semantic(side: str, rest: str, leg: int, index: int, number: int) -> Event:
    kind, _, payload = rest.partition(" ")
    raw = json.loads(payload) if payload.strip() else {}
    kind = SEMANTIC_KINDS.get(kind, kind)
    if side == "client" and kind == "place_order":
        return Event(leg, side, kind, int(raw["order_id"]), json_order_fields(raw), index)
    if side == "client" and kind == "req_open_orders":
        kind = "req_all_open_orders" if raw.get("scope") == "all" else "req_open_orders"
        return Event(leg, side, kind, None, {}, index)
    fields = dict(raw)
    oid = raw.get("order_id", raw.get("req_id"))
    if kind == "error":
        fields = {"code": int(raw["code"]), "message": raw.get("message", "")}
    elif kind == "order_status":
        fields = {"status": raw["status"], "filled": Decimal(raw.get("filled") or 0),
                  "why_held": raw.get("why_held", ""),
                  "client_id": int(raw.get("client_id") or 0),
                  "perm_id": int(raw.get("perm_id") or 0)}
    elif kind == "execution":
        fields = {"side": raw.get("side", ""), "shares": Decimal(raw.get("shares") or 0),
                  "price": Decimal(raw.get("price") or 0), "exec_id": raw.get("exec_id"),
                  "symbol": raw.get("symbol", ""), "req_id": int(raw.get("req_id") or -1)}
    elif kind == "open_order":
        fields["client_id"] = int(raw.get("client_id") or 0)
    return Event(leg, side, kind, None if oid in (None, "") else int(oid), fields, index)
