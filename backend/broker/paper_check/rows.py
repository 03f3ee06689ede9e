"""The assumptions a paper check confirms: one row each, as data, with a small check.

Every row names the assumption as docs/oca.md states it (its row there), the evidence the
assumption rests on today, the probe whose answers it reads (``probes.py``), and a pure
check of those answers returning (passed, what IB did). A probe's needs decide when its rows
cannot run: FILL rows trade 1 share (skipped by ``--no-fills``), REGULAR rows need regular
hours (conditions and fills), OUTSIDE rows need the pre-market, after hours or a closed
market (IB's 399 and 2109 only show there).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ib_insync import OrderCondition, PriceCondition

from backend.broker.paper_check import probes
from backend.broker.paper_check.observe import WORKING_STATUSES
from backend.broker.paper_check.probes import Evidence

UTC = timezone.utc


class Need(enum.Enum):
    FILL = "trades 1 share"
    REGULAR = "regular hours only"
    OUTSIDE = "outside regular hours only"


class Outcome(enum.Enum):
    PASS = "PASS"
    FAIL = "FAIL"
    CANNOT = "CANNOT-CHECK"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class Probe:
    name: str
    run: Callable
    needs: frozenset[Need]


PROBES: dict[str, Probe] = {p.name: p for p in (
    Probe("limit_held", probes.limit_held, frozenset()),
    Probe("legacy_328", probes.legacy_328, frozenset({Need.FILL})),
    Probe("oca_pair", probes.oca_pair, frozenset()),
    Probe("system_cancel", probes.system_cancel, frozenset({Need.REGULAR})),
    Probe("stop_outside_rth", probes.stop_outside_rth, frozenset({Need.OUTSIDE})),
    Probe("market_outside_rth", probes.market_outside_rth,
          frozenset({Need.FILL, Need.OUTSIDE})),
    Probe("limit_filled", probes.limit_filled, frozenset({Need.FILL, Need.REGULAR})),
    Probe("market_filled", probes.market_filled, frozenset({Need.FILL, Need.REGULAR})),
)}
"""In run order. ``legacy_328`` can fill only if IB no longer refuses the chain."""

Verdict = tuple[bool, str]



def _states(ev: Evidence, labels) -> str:
    return "; ".join(f"{label} {ev.orders[label].describe()}" for label in labels)


# -- the limit chain, parent far below the market ------------------------------------------
def limit_chain_accepted(ev: Evidence) -> Verdict:
    held = ev.facts["held"]
    ok = all(status in WORKING_STATUSES for status, _ in held.values())
    return ok, "; ".join(f"{k} {s}({w})" if w else f"{k} {s or 'no status'}"
                         for k, (s, w) in held.items())


def trail_child_accepted(ev: Evidence) -> Verdict:
    status, why = ev.facts["held"]["trail"]
    codes = [c for s in ev.orders.values() for c in s.codes]
    return status in WORKING_STATUSES and 328 not in codes, (
        f"TRAIL child {status or 'no status'}({why}), codes {sorted(set(codes)) or 'none'}")


def stop_child_held(ev: Evidence) -> Verdict:
    status, why = ev.facts["held"]["stop"]
    return (status, why) == ("PreSubmitted", "child,trigger"), f"{status} whyHeld {why!r}"


def _instant(text: str) -> datetime | None:
    """``YYYYMMDD HH:MM:SS <zone>`` or ``YYYYMMDD-HH:MM:SS`` (UTC) as an aware moment.

    None for anything else, a zone-less time included: TWS reads that in its login zone,
    which the check cannot know (and which is what warning 2174 is about).
    """
    text = text.strip()
    try:
        if len(text) >= 17 and text[8] == "-":
            return datetime.strptime(text[:17], "%Y%m%d-%H:%M:%S").replace(tzinfo=UTC)
        zone = text[17:].strip()
        if not zone:
            return None
        return datetime.strptime(text[:17], "%Y%m%d %H:%M:%S").replace(tzinfo=ZoneInfo(zone))
    except (ValueError, ZoneInfoNotFoundError):
        return None


def gat_accepted(ev: Evidence) -> Verdict:
    seen = ev.orders["time_stop"]
    sent = ev.sent["time_stop"].goodAfterTime
    echoed = seen.echo.goodAfterTime if seen.echo else ""
    same = _instant(echoed) is not None and _instant(echoed) == _instant(sent)
    ok = seen.working or seen.saw("PreSubmitted")
    ok = ok and 2174 not in seen.codes and same
    return ok, (f"sent {sent!r}, echoed {echoed!r}"
                f"{'' if 2174 not in seen.codes else ', warning 2174'}")


def _condition_text(order) -> str:
    conds = ", ".join(f"{'>=' if c.isMore else '<='}{c.price:g} on {c.conId}"
                      for c in getattr(order, "conditions", []) or [])
    return f"[{conds}] cancelOrder={order.conditionsCancelOrder}"


def _price_terms(conditions: list[OrderCondition]) -> list[tuple[int, bool, float]]:
    """Sigma9 sends price conditions only: another kind in an echo fails the row (judge)."""
    terms = []
    for c in conditions:
        if not isinstance(c, PriceCondition):
            raise TypeError(f"{type(c).__name__} where a PriceCondition was sent")
        terms.append((c.conId, c.isMore, round(c.price, 6)))
    return terms


def conditions_echoed(ev: Evidence) -> Verdict:
    details, ok = [], True
    for label in ("time_stop", "trail"):
        sent, echo = ev.sent[label], ev.orders[label].echo
        if echo is None:
            ok = False
            details.append(f"{label}: no echo")
            continue
        same = (_price_terms(sent.conditions) == _price_terms(echo.conditions)
                and bool(sent.conditionsCancelOrder) == bool(echo.conditionsCancelOrder))
        ok = ok and same
        details.append(f"{label} {_condition_text(echo)}")
    return ok, "; ".join(details)


def legs_share_group(ev: Evidence) -> Verdict:
    labels = ("stop", "time_stop", "trail")
    echoes = [echo for label in labels if (echo := ev.orders[label].echo) is not None]
    if len(echoes) != len(labels):
        return False, "a leg was never echoed"
    groups = {echo.ocaGroup for echo in echoes}
    refs = all(echo.orderRef == ev.sent[label].orderRef
               for label, echo in zip(labels, echoes, strict=True))
    sent = ev.sent["stop"].ocaGroup
    name = next(iter(groups)) if len(groups) == 1 else sorted(groups)
    how = "kept" if name == sent else f"replaced while the parent is unfilled (sent {sent})"
    return len(groups) == 1 and refs, (f"ocaGroup echoed {name!r} ({how}); orderRef "
                                       f"{'echoed' if refs else 'LOST'}")


def parent_cancel_ends_children(ev: Evidence) -> Verdict:
    children = [ev.orders[label] for label in ("stop", "time_stop", "trail")]
    ok = ev.facts["children_ended"] and all(s.status == "Cancelled" for s in children)
    return ok, _states(ev, ("stop", "time_stop", "trail"))


# -- variants ------------------------------------------------------------------------------
def legacy_refused(ev: Evidence) -> Verdict:
    trail, entry = ev.orders["trail"], ev.orders["entry"]
    released = entry.saw("Submitted") or entry.saw("Filled") or entry.filled > 0
    return (328 in trail.codes and not released and ev.facts["leftover"] == 0,
            f"TRAIL {trail.describe()}; MKT parent {entry.describe()}")


def client_cancel_ends_group(ev: Evidence) -> Verdict:
    sibling = ev.orders["b"]
    ok = ev.facts["both_working"] and ev.facts["sibling_ended"] and sibling.status == "Cancelled"
    return ok, f"cancelled one; the other {sibling.describe()}"


def oca_name_single_use(ev: Evidence) -> Verdict:
    reuse = ev.orders["reuse"]
    refused = bool(reuse.errors) or reuse.status in ("Cancelled", "Inactive")
    return refused and not reuse.saw("Submitted"), f"reused name: {reuse.describe()}"


def fresh_name_accepted(ev: Evidence) -> Verdict:
    fresh = ev.orders["fresh"]
    return fresh.working and not fresh.done, (
        f"{ev.sent['fresh'].ocaGroup!r}: {fresh.describe()}")


def system_cancel_spares_group(ev: Evidence) -> Verdict:
    conditioned = ev.orders["conditioned"]
    ok = (ev.facts["condition_cancelled"] and conditioned.status == "Cancelled"
          and ev.facts["sibling_working"])
    return ok, f"conditioned {conditioned.describe()}; sibling {ev.orders['sibling'].describe()}"


def stop_outside_rth_warned(ev: Evidence) -> Verdict:
    stop = ev.orders["stop"]
    worked = stop.saw("PreSubmitted") or stop.saw("Submitted")
    ended_by_ib = ev.facts["ended_before_cancel"]
    return 2109 in stop.codes and worked and not ended_by_ib, stop.describe()


def market_held_outside_rth(ev: Evidence) -> Verdict:
    entry = ev.orders["entry"]
    echoed = entry.echo.outsideRth if entry.echo else "not echoed"
    ok = 399 in entry.codes and entry.filled == 0 and ev.facts["leftover"] == 0
    return ok, f"{entry.describe()}; outsideRth echoed {echoed}"


# -- filled chains ---------------------------------------------------------------------------
def _protected(ev: Evidence) -> Verdict:
    before = ev.facts["before_cancel"]
    ok = all(ev.facts["legs_working"].values())
    return ok, f"filled at {ev.facts['avg_fill']}; " + "; ".join(
        f"{k} {v}" for k, v in before.items() if k != "entry")


def limit_entry_protected(ev: Evidence) -> Verdict:
    return _protected(ev)


def leg_cancel_ends_group(ev: Evidence) -> Verdict:
    others = [ev.orders[label] for label in ("time_stop", "trail")]
    ok = ev.facts["group_ended"] and all(s.status == "Cancelled" for s in others)
    return ok, "cancelled the stop; " + _states(ev, ("time_stop", "trail"))


def order_ref_on_execution(ev: Evidence) -> Verdict:
    refs, sent = ev.facts["entry_exec_refs"], ev.sent["entry"].orderRef
    return bool(refs) and all(r == sent for r in refs), f"sent {sent!r}, executions {refs}"


def market_children_work(ev: Evidence) -> Verdict:
    working = ev.facts["legs_working"]
    before = ev.facts["before_cancel"]
    return working["stop"] and working["time_stop"], (
        f"filled at {ev.facts['avg_fill']}; stop {before['stop']}; "
        f"time_stop {before['time_stop']}")


def trail_joins_group(ev: Evidence) -> Verdict:
    legs = {label: ev.orders[label] for label in ("stop", "time_stop", "trail")}
    groups = {label: s.echo.ocaGroup if s.echo else "" for label, s in legs.items()}
    ok = (len(set(groups.values())) == 1 and legs["trail"].saw("PreSubmitted")
          and ev.facts["group_ended"] and legs["trail"].status == "Cancelled")
    return ok, (f"ocaGroup after the fill {groups}; cancelling the stop left the trail "
                f"{legs['trail'].status}")


@dataclass(frozen=True)
class Row:
    key: str
    oca_row: str
    """The row of docs/oca.md's table ("leg / rule") whose last column this row confirms."""
    assumption: str
    evidence: str
    """What the assumption rests on today: a capture, an IB page, an issue, or nothing."""
    probe: str
    check: Callable[[Evidence], Verdict] | None
    never: str = ""
    """Why no run of the check can confirm it (always CANNOT-CHECK), for rows docs/oca.md
    lists that one share and two minutes cannot show."""


def _row(key, oca_row, assumption, evidence, probe, check) -> Row:
    return Row(key, oca_row, assumption, evidence, probe, check)


def _never(key, oca_row, assumption, evidence, why) -> Row:
    return Row(key, oca_row, assumption, evidence, "", None, never=why)


ROWS: tuple[Row, ...] = (
    _row("limit-chain", "Limit entry",
         "LMT parent + STP + time stop + TRAIL in one transmit chain is accepted, legs held",
         "api_bracket_place_aapl (R2); 328's own text (R1)", "limit_held",
         limit_chain_accepted),
    _row("trail-under-lmt", "Trail, limit entry",
         "a TRAIL child with an activating PriceCondition is accepted under a LMT parent",
         "328's text (R1); no capture with a condition", "limit_held", trail_child_accepted),
    _row("stop-held", "Safety stop",
         "a STP child of an unfilled LMT parent is held PreSubmitted, whyHeld child,trigger",
         "api_bracket_place_aapl (R2)", "limit_held", stop_child_held),
    _row("gat-utc", "Time stop",
         "goodAfterTime 'YYYYMMDD HH:MM:SS UTC' is accepted without 2174 and echoed",
         "api_tif_attribute_matrix_aapl (R7)", "limit_held", gat_accepted),
    _row("conditions-echo", "Time stop",
         "the legs' PriceConditions and conditionsCancelOrder come back as sent",
         "api_conditions_matrix_aapl (R5)", "limit_held", conditions_echoed),
    _row("legs-by-orderref", "Leg identity",
         "the legs share one ocaGroup (TWS may rename it) and keep their orderRef",
         "#606 (R3)", "limit_held", legs_share_group),
    _row("parent-cancel", "Entry timeout",
         "cancelling an unfilled parent cancels its attached legs",
         "IB's bracket-order page (P1)", "limit_held", parent_cancel_ends_children),
    _row("mkt-trail-328", "Transmit chain",
         "the old chain (TRAIL child under a MKT parent) gets 328 and nothing is released",
         "api_bracket_trailing_stop_aapl (R1)", "legacy_328", legacy_refused),
    _row("oca-client-cancel", "Cancelling one exit leg",
         "a client cancel of one OCA member cancels the whole group",
         "IBKR Campus OCA glossary; a paper report (R4)", "oca_pair",
         client_cancel_ends_group),
    _row("oca-name-reuse", "OMS cancels",
         "an OCA group name cannot be used again once its orders ended",
         "TWS order-ticket guide as quoted by users (R4); no capture", "oca_pair",
         oca_name_single_use),
    _row("fresh-group-name", "OMS cancels",
         "a fresh name S9-<id>~r1 is accepted after the old group ended",
         "no public evidence", "oca_pair", fresh_name_accepted),
    _row("oca-system-cancel", "Time stop",
         "an OCA member IB cancels by its own condition (conditionsCancelOrder, here on a "
         "far buy limit) leaves the others working",
         "no public evidence (R4: 'confirm on paper')", "system_cancel",
         system_cancel_spares_group),
    _row("stp-outside-rth", "`outsideRth` on exits",
         "outsideRth on a SMART STP is ignored with warning 2109; the stop keeps working",
         "a user's paper report (R8)", "stop_outside_rth", stop_outside_rth_warned),
    _row("mkt-outside-rth", "Entries outside regular hours",
         "a MKT order outside regular hours gets 399 and waits for the open",
         "#141; api_bracket_place_aapl's 399 (R2, R8)", "market_outside_rth",
         market_held_outside_rth),
    _row("limit-fill", "Limit entry",
         "once the LMT entry fills, stop, time stop and trail are all working together",
         "no capture of a filled bracket with conditions", "limit_filled",
         limit_entry_protected),
    _row("orderref-on-fill", "Leg identity",
         "the entry's orderRef comes back on its execution",
         "orderRef on executions (IB's Execution class); no capture", "limit_filled",
         order_ref_on_execution),
    _row("leg-cancel-group", "Cancelling one exit leg",
         "cancelling the stop of a filled entry cancels time stop and trail too",
         "R4 (OCA glossary)", "limit_filled", leg_cancel_ends_group),
    _row("stp-under-mkt", "Market entry",
         "a MKT parent with STP and time-stop children is accepted; both work after the fill",
         "no public capture (issue 9)", "market_filled", market_children_work),
    _row("trail-after-fill", "Trail, market entry",
         "an unattached TRAIL sent after the fill joins the children's OCA group",
         "#606 (ocaGroup restored after the fill); no public evidence", "market_filled",
         trail_joins_group),
    _never("oca-partial", "One OCA group, ocaType 2",
           "a partial fill of one leg reduces the others by the filled quantity",
           "P3 (IB's OCA page)", "needs a partly filled exit leg; 1 share cannot show it"),
    _never("partial-entry", "Partial entry fill",
           "children of a partly filled parent work for the filled quantity",
           "no public capture", "needs a partly filled entry; 1 share cannot show it"),
    _never("trail-trails", "Trail, limit entry",
           "an activated trail trails from trailStopPrice",
           "P6 (nautilus PR 4292); no capture",
           "needs the price to reach the activation level (+3%)"),
)
