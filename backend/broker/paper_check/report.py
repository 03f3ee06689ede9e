"""What the paper check prints: the announcement, the PASS / FAIL / CANNOT-CHECK table and
the capture's header. Pure text functions, so the wording is tested without a broker."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from backend.broker.paper_check.probes import Evidence
from backend.broker.paper_check.rows import PROBES, ROWS, Need, Outcome, Row
from backend.core.market_hours import Session

if TYPE_CHECKING:
    from backend.broker.paper_check.runner import Options


@dataclass(frozen=True)
class Result:
    row: Row
    outcome: Outcome
    detail: str


def _no_check(_evidence: Evidence) -> tuple[bool, str]:
    raise AssertionError("the clean-up row is judged by the runner")


CLEANUP_ROW = Row("nothing-left", "paper check itself",
                  "no order or position of the check's own is left at the end",
                  "read back from the broker (open orders, positions)", "", _no_check)


def judge(row: Row, evidence: Evidence) -> Result:
    """PASS or FAIL from the row's check; CANNOT-CHECK when the probe had no evidence."""
    if evidence.missing:
        return Result(row, Outcome.CANNOT, evidence.missing)
    if row.check is None:  # a row no run can confirm; the runner reports those itself
        return Result(row, Outcome.CANNOT, row.never)
    try:
        passed, detail = row.check(evidence)
    except (KeyError, AttributeError, TypeError) as exc:
        return Result(row, Outcome.FAIL, f"IB's answers lacked what this row reads ({exc!r})")
    return Result(row, Outcome.PASS if passed else Outcome.FAIL, detail)


def announce(options: Options, account: str, session: Session,
             cannot: list[str]) -> list[str]:
    lines = [f"sigma9 paper-check: {options.host}:{options.port}, account {account}, "
             f"symbol {options.symbol}, client id {options.client_id}; the market is in "
             f"{session.value} (US/Eastern)."]
    fill_rows = [r.key for r in ROWS if not r.never and Need.FILL in PROBES[r.probe].needs]
    if options.fills:
        lines.append(f"Rows that need a fill ({', '.join(fill_rows)}) BUY 1 share of "
                     f"{options.symbol} on this paper account and sell it again; every other "
                     "order is priced far from the market so that nothing fills. "
                     "Use --no-fills to skip them.")
    else:
        lines.append(f"--no-fills: nothing is meant to fill; {', '.join(fill_rows)} are "
                     "SKIPPED.")
    if cannot:
        where = ("Outside regular hours" if not session.is_regular
                 else "During regular hours")
        lines.append(f"{where} these rows cannot be checked now: {', '.join(cannot)} "
                     "(CANNOT-CHECK).")
    never = [r.key for r in ROWS if r.never]
    lines.append(f"No run of the check can show {', '.join(never)} (CANNOT-CHECK: see "
                 "the table).")
    return lines


WIDTHS = (12, 18, 30)


def table(results: list[Result]) -> list[str]:
    """One block per row: result, row, docs/oca.md row, what IB did; then the assumption."""
    head = ("RESULT", "ROW", "DOCS/OCA.MD", "WHAT IB DID / WHY")
    lines = ["  ".join(h.ljust(w) for h, w in zip(head, WIDTHS, strict=False)) + head[3]]
    indent = " " * (sum(WIDTHS) + 2 * len(WIDTHS))
    for r in results:
        cells = (r.outcome.value, r.row.key, r.row.oca_row[:WIDTHS[2]])
        first = "  ".join(c.ljust(w) for c, w in zip(cells, WIDTHS, strict=True))
        wrapped = textwrap.wrap(r.detail, 70) or [""]
        lines.append(first + "  " + wrapped[0])
        lines += [indent + more for more in wrapped[1:]]
        lines.append(" " * (WIDTHS[0] + 2) + f"assumes: {r.row.assumption} "
                     f"[evidence: {r.row.evidence}]")
    counts = {o: sum(r.outcome is o for r in results) for o in Outcome}
    lines.append(", ".join(f"{n} {o.value}" for o, n in counts.items() if n))
    return lines


def capture_header(options: Options, started: datetime, server_version: int,
                   results: list[Result]) -> list[str]:
    stamp = started.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return [
        f"Exact capture {stamp}-sigma9_paper_check of a sigma9 paper-check session at "
        f"server_version={server_version}, {options.host}:{options.port}.",
        "Evidence about IB only when the server was TWS or IB Gateway (not sigma9-sim).",
        f"Symbol {options.symbol}, fills {'on' if options.fills else 'off (--no-fills)'}; "
        "frames: 4-byte big-endian length + payload as on the wire (text below 201).",
        "Results: " + ", ".join(f"{r.row.key}={r.outcome.value}" for r in results) + ".",
    ]
