"""The rows' checks and the run's gating, as tables: what IB might answer -> the verdict.

Each failing case is the answer IB would give if the assumption were wrong (the simulator
cannot be made to answer that way, so these cases are built by hand from ib_insync's own
Order and PriceCondition objects).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from ib_insync import Order, PriceCondition, TimeCondition

from backend.broker.paper_check import rows
from backend.broker.paper_check.observe import OrderSeen
from backend.broker.paper_check.probes import Evidence
from backend.broker.paper_check.report import judge
from backend.broker.paper_check.rows import PROBES, ROWS, Need, Outcome
from backend.broker.paper_check.runner import blocked, not_checkable_now
from backend.core.market_hours import Session

ROOT = Path(__file__).resolve().parents[2]


def seen(*statuses: tuple[str, str], codes: tuple[int, ...] = (), echo: Order | None = None,
         filled: float = 0.0) -> OrderSeen:
    return OrderSeen(statuses=list(statuses), errors=[(c, "") for c in codes], echo=echo,
                     filled=filled)


def evidence(facts=None, **orders) -> Evidence:
    ev = Evidence(facts=dict(facts or {}))
    for label, value in orders.items():
        order_seen, sent = value if isinstance(value, tuple) else (value, Order())
        ev.orders[label], ev.sent[label] = order_seen, sent
    return ev


def gat_case(echoed: str, codes=()) -> Evidence:
    sent = Order(goodAfterTime="20261202 15:03:00 UTC")
    return evidence(time_stop=(seen(("PreSubmitted", "child"), codes=codes,
                                    echo=Order(goodAfterTime=echoed)), sent))


def legacy_case(trail: OrderSeen, entry: OrderSeen, leftover=0) -> Evidence:
    return evidence({"leftover": Decimal(leftover)}, trail=trail, entry=entry)


def condition(price: float, is_more: bool = True) -> PriceCondition:
    return PriceCondition(price=price, conId=265598, exch="SMART", isMore=is_more)


def conditions_case(trail_echo: list) -> Evidence:
    def order(conds, cancel):
        return Order(conditions=conds, conditionsCancelOrder=cancel)
    return evidence(
        time_stop=(seen(echo=order([condition(103.0)], True)), order([condition(103.0)], True)),
        trail=(seen(echo=order(trail_echo, False)), order([condition(103.0)], False)))


def group_case(names: tuple[str, str, str], refs=("s9:x:a", "s9:x:b", "s9:x:c")) -> Evidence:
    labels = ("stop", "time_stop", "trail")
    return evidence(**{label: (seen(echo=Order(ocaGroup=name, orderRef=ref)),
                               Order(ocaGroup="S9-x", orderRef=f"s9:x:{label[0]}"))
                       for label, name, ref in zip(labels, names, refs, strict=True)})


CASES = [
    ("stop held child,trigger", rows.stop_child_held,
     evidence({"held": {"stop": ("PreSubmitted", "child,trigger")}}), True),
    ("stop held trigger only", rows.stop_child_held,
     evidence({"held": {"stop": ("PreSubmitted", "trigger")}}), False),
    ("GAT echoed in US/Eastern", rows.gat_accepted, gat_case("20261202 10:03:00 US/Eastern"),
     True),
    ("GAT echoed an hour off", rows.gat_accepted, gat_case("20261202 11:03:00 US/Eastern"),
     False),
    ("GAT with 2174", rows.gat_accepted, gat_case("20261202 15:03:00 UTC", codes=(2174,)),
     False),
    ("GAT echoed without a zone", rows.gat_accepted, gat_case("20261202 15:03:00"), False),
    ("328 and nothing released", rows.legacy_refused,
     legacy_case(seen(codes=(328,)), seen(("Cancelled", ""), codes=(202,))), True),
    ("no 328: the MKT parent filled", rows.legacy_refused,
     legacy_case(seen(("PreSubmitted", "")), seen(("Submitted", ""), ("Filled", ""),
                                                    filled=1), leftover=0), False),
    ("conditions as sent", rows.conditions_echoed, conditions_case([condition(103.0)]), True),
    ("trail condition dropped", rows.conditions_echoed, conditions_case([]), False),
    ("trail condition flipped", rows.conditions_echoed,
     conditions_case([condition(103.0, is_more=False)]), False),
    ("one group, renamed", rows.legs_share_group, group_case(("1234",) * 3,
                                                             refs=("s9:x:s", "s9:x:t", "s9:x:t")),
     True),
    ("legs split across groups", rows.legs_share_group,
     group_case(("S9-x", "S9-x", "1234"), refs=("s9:x:s", "s9:x:t", "s9:x:t")), False),
    ("orderRef lost", rows.legs_share_group,
     group_case(("S9-x",) * 3, refs=("", "s9:x:t", "s9:x:t")), False),
    ("sibling cancelled by the group", rows.client_cancel_ends_group,
     evidence({"both_working": True, "sibling_ended": True},
              b=seen(("Submitted", ""), ("Cancelled", ""), codes=(202,))), True),
    ("sibling kept working", rows.client_cancel_ends_group,
     evidence({"both_working": True, "sibling_ended": False}, b=seen(("Submitted", ""))),
     False),
    ("reused name refused", rows.oca_name_single_use,
     evidence(reuse=seen(("Inactive", ""), codes=(201,))), True),
    ("reused name works", rows.oca_name_single_use, evidence(reuse=seen(("Submitted", ""))),
     False),
    ("fresh name working, warned 399", rows.fresh_name_accepted,
     evidence(fresh=(seen(("PreSubmitted", ""), codes=(399,)), Order(ocaGroup="S9-x~r1"))),
     True),
    ("fresh name refused", rows.fresh_name_accepted,
     evidence(fresh=(seen(("Inactive", ""), codes=(201,)), Order(ocaGroup="S9-x~r1"))), False),
    ("system cancel spares the sibling", rows.system_cancel_spares_group,
     evidence({"condition_cancelled": True, "sibling_working": True},
              conditioned=seen(("Cancelled", "")), sibling=seen(("Submitted", ""))), True),
    ("system cancel took the sibling", rows.system_cancel_spares_group,
     evidence({"condition_cancelled": True, "sibling_working": False},
              conditioned=seen(("Cancelled", "")), sibling=seen(("Cancelled", ""))), False),
    ("2109 and working", rows.stop_outside_rth_warned,
     evidence({"ended_before_cancel": False}, stop=seen(("PreSubmitted", ""), codes=(2109,))),
     True),
    ("outsideRth honoured (no 2109)", rows.stop_outside_rth_warned,
     evidence({"ended_before_cancel": False}, stop=seen(("PreSubmitted", ""))), False),
    ("MKT held with 399", rows.market_held_outside_rth,
     evidence({"leftover": Decimal(0)}, entry=seen(("PreSubmitted", ""), codes=(399,),
                                                  echo=Order(outsideRth=False))), True),
    ("MKT filled outside hours", rows.market_held_outside_rth,
     evidence({"leftover": Decimal(0)}, entry=seen(("Filled", ""), filled=1)), False),
]


@pytest.mark.parametrize("name, check, ev, passed", CASES, ids=[c[0] for c in CASES])
def test_check(name, check, ev, passed):
    assert check(ev)[0] is passed


def test_a_probe_without_evidence_is_cannot_check_and_missing_answers_fail():
    row = next(r for r in ROWS if r.key == "limit-fill")
    assert judge(row, Evidence(missing="the limit entry did not fill within 20s")).outcome \
        is Outcome.CANNOT
    broken = judge(row, Evidence())  # no facts at all: IB never answered what it reads
    assert broken.outcome is Outcome.FAIL and "lacked" in broken.detail


def test_a_row_no_run_can_confirm_is_cannot_check_even_if_judged():
    row = next(r for r in ROWS if r.never)
    result = judge(row, Evidence())
    assert (result.outcome, result.detail) == (Outcome.CANNOT, row.never)


def test_an_echoed_condition_of_another_kind_fails_the_conditions_row():
    row = next(r for r in ROWS if r.check is rows.conditions_echoed)
    ev = conditions_case([TimeCondition(isMore=True, time="20261202 15:03:00 UTC")])
    result = judge(row, ev)
    assert result.outcome is Outcome.FAIL and "TimeCondition" in result.detail


def test_every_row_reads_a_known_probe_or_says_why_none_can_and_keys_are_unique():
    assert {r.probe for r in ROWS if not r.never} == set(PROBES)
    assert all(r.probe == "" and r.check is None for r in ROWS if r.never)
    assert len({r.key for r in ROWS}) == len(ROWS)


def test_every_row_names_a_row_of_docs_oca_md():
    table = (ROOT / "docs" / "oca.md").read_text(encoding="utf-8")
    legs = {line.split("|")[1].strip() for line in table.splitlines()
            if line.startswith("| ") and line.count("|") > 4}
    unknown = {r.oca_row for r in ROWS if not any(leg.startswith(r.oca_row) for leg in legs)}
    assert unknown == set()


GATES = [
    (frozenset(), True, Session.CLOSED, None),
    (frozenset({Need.FILL}), False, Session.REGULAR, Outcome.SKIPPED),
    (frozenset({Need.FILL, Need.REGULAR}), True, Session.PRE_MARKET, Outcome.CANNOT),
    (frozenset({Need.FILL, Need.REGULAR}), True, Session.REGULAR, None),
    (frozenset({Need.OUTSIDE}), True, Session.REGULAR, Outcome.CANNOT),
    (frozenset({Need.OUTSIDE}), True, Session.AFTER_HOURS, None),
    (frozenset({Need.FILL, Need.OUTSIDE}), False, Session.CLOSED, Outcome.SKIPPED),
]


@pytest.mark.parametrize("needs, fills, session, outcome", GATES)
def test_gate(needs, fills, session, outcome):
    got = blocked(needs, fills, session)
    assert (got[0] if got else None) is outcome


def test_outside_regular_hours_lists_exactly_the_regular_only_rows():
    regular_only = [r.key for r in ROWS
                    if not r.never and Need.REGULAR in PROBES[r.probe].needs]
    assert not_checkable_now(True, Session.PRE_MARKET) == regular_only
    assert not_checkable_now(True, Session.CLOSED) == regular_only
