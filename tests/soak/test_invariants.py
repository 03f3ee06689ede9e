"""The soak's checker on made-up broker and journal states: each rule fails when it must.

If these pass while a rule is broken, the soak's "0 violations" means nothing, so every
rule is shown one state that breaks it and one that does not.
"""

from __future__ import annotations

from decimal import Decimal

from soak import invariants as inv
from soak.plan import FAULT_KINDS, fault_kind, make_plan


def order(order_id: int, role: str, order_type: str = "STP", action: str = "SELL",
          status: str = "PreSubmitted", qty: int = 100, filled: int = 0,
          held_by: str | None = None, buffered: bool = False, oca: str = "S9-a",
          signal: str = "a", symbol: str = "AAPL") -> dict:
    return {"order_id": order_id, "perm_id": 1000 + order_id, "symbol": symbol,
            "action": action, "order_type": order_type, "status": status,
            "total_qty": Decimal(qty), "filled": Decimal(filled),
            "remaining": Decimal(qty - filled), "held_by": held_by, "buffered": buffered,
            "discarded": False, "oca_group": oca, "order_ref": f"s9:{signal}:{role}"}


LONG = {"AAPL": {"qty": Decimal(100), "realized": Decimal(0)}}


def test_a_working_stop_covers_the_position() -> None:
    orders = [order(2, "safety_stop"), order(3, "time_stop", "MKT", held_by="good_after_time"),
              order(4, "profit_harvester", "TRAIL", held_by="conditions")]
    assert inv.uncovered(orders, LONG) == {}


def test_a_dormant_trail_and_a_time_stop_are_not_protection() -> None:
    orders = [order(3, "time_stop", "MKT", held_by="good_after_time"),
              order(4, "profit_harvester", "TRAIL", held_by="conditions")]
    assert inv.uncovered(orders, LONG) == {"AAPL": (Decimal(100), Decimal(0))}


def test_an_active_trail_or_a_released_market_sell_is_protection() -> None:
    assert inv.uncovered([order(4, "profit_harvester", "TRAIL")], LONG) == {}
    assert inv.uncovered([order(9, "flatten", "MKT", status="Submitted", oca="")], LONG) == {}


def test_an_oca_group_counts_once_and_a_short_stop_leaves_shares_naked() -> None:
    group = [order(2, "safety_stop", qty=40), order(4, "profit_harvester", "TRAIL", qty=40)]
    assert inv.uncovered(group, LONG) == {"AAPL": (Decimal(100), Decimal(40))}


def test_stop_under_an_unfilled_parent_or_untransmitted_does_not_protect() -> None:
    assert inv.uncovered([order(2, "safety_stop", held_by="parent")], LONG)
    assert inv.uncovered([order(2, "safety_stop", buffered=True)], LONG)


def test_two_entries_of_one_signal_break_i2() -> None:
    one = [order(1, "entry", "LMT", "BUY", "Filled", filled=100)]
    two = one + [order(5, "entry", "LMT", "BUY", "Filled", filled=100)]
    rejected = one + [order(5, "entry", "LMT", "BUY", "Inactive")]
    assert inv.duplicate_entries(one) == [] and inv.duplicate_entries(rejected) == []
    assert [v.invariant for v in inv.duplicate_entries(two)] == ["I2"]


def test_untransmitted_orders_and_stale_journal_rows_are_limbo() -> None:
    orders = [order(1, "entry", "LMT", "BUY", "PreSubmitted", buffered=True),
              order(2, "safety_stop", status="Cancelled")]
    assert [v.key for v in inv.broker_limbo(orders)] == ["order 1"]
    journal = [{"order_id": "1", "status": "PENDING", "symbol": "AAPL", "role": "entry"},
               {"order_id": "2", "status": "PENDING", "symbol": "AAPL", "role": "safety_stop"},
               {"order_id": "3", "status": "PENDING", "symbol": "AAPL", "role": "time_stop"},
               {"order_id": "4", "status": "CANCELLED", "symbol": "AAPL", "role": "trail"},
               {"order_id": "pos-AAPL", "status": "FILLED", "symbol": "AAPL", "role": "entry"}]
    texts = [v.text for v in inv.journal_limbo(journal, orders)]
    assert len(texts) == 3
    assert "untransmitted" in texts[0] and "Cancelled" in texts[1] and "not know" in texts[2]


def test_a_working_order_the_journal_lost_or_closed_is_limbo() -> None:
    orders = [order(2, "safety_stop"), order(3, "time_stop", "MKT", held_by="good_after_time"),
              order(4, "profit_harvester", "TRAIL", status="Cancelled")]
    journal = [{"order_id": "2", "status": "PENDING"}, {"order_id": "4", "status": "CANCELLED"}]
    assert [v.key for v in inv.orphans(journal, orders)] == ["orphan 3"]
    closed = [{"order_id": "2", "status": "CANCELLED"}, {"order_id": "3", "status": "PENDING"}]
    assert "has it CANCELLED" in inv.orphans(closed, orders)[0].text


def test_a_short_is_limbo() -> None:
    assert [v.invariant for v in inv.shorts({"AAPL": {"qty": Decimal(-40)}})] == ["I5"]


def execution(exec_id: str, side: str, shares: int, price: str, fee: str = "1.00") -> dict:
    return {"exec_id": exec_id, "symbol": "AAPL", "side": side, "shares": Decimal(shares),
            "price": Decimal(price), "commission": Decimal(fee)}


def test_fills_must_match_the_broker_exactly() -> None:
    execs = [execution("e1", "BOT", 100, "100.01"), execution("e2", "SLD", 100, "101.00")]
    same = [{"exec_id": "e1", "quantity": 100, "price": "100.01", "commission": "1.00"},
            {"exec_id": "e2", "quantity": 100, "price": "101.00", "commission": "1.00"}]
    assert inv.fills_mismatch(execs, same) == []
    assert len(inv.fills_mismatch(execs, same[:1])) == 1
    wrong_fee = [same[0], {**same[1], "commission": "1.50"}]
    assert len(inv.fills_mismatch(execs, wrong_fee)) == 1


def test_realized_is_fills_minus_commissions_to_the_cent() -> None:
    execs = [execution("e1", "BOT", 100, "100.01"), execution("e2", "SLD", 40, "101.00"),
             execution("e3", "SLD", 60, "99.00", "1.20")]
    # proceeds 4040 + 5940 - cost 10001 - fees 3.20
    assert inv.realized_from_executions(execs) == Decimal("-24.20")
    assert inv.pnl_mismatch(execs, Decimal("-24.20"), Decimal("-24.204")) == []
    bad = inv.pnl_mismatch(execs, Decimal("-24.19"), Decimal("-23.20"))
    assert [v.key for v in bad] == ["broker", "journal"]


def test_plans_are_seeded_and_cover_every_fault_kind() -> None:
    assert make_plan(17) == make_plan(17) and make_plan(17) != make_plan(18)
    kinds = {fault_kind(s) for seed in range(1, 60) for s in make_plan(seed).steps} - {""}
    expected = {"drop", "drop_mid_chain", "freeze", "sigkill", "duplicate_signal",
                "partial_fills", *(f"reject_{r}" for r in
                                   ("entry", "safety_stop", "time_stop", "profit_harvester")),
                *(f"second_reject_{r}" for r in ("safety_stop", "time_stop", "profit_harvester"))}
    assert kinds == expected and set(FAULT_KINDS) >= {"reject", "sigkill"}
