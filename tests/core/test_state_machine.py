"""The order state machine, edge by edge.

The expected edges are written out here independently of ``TRANSITIONS``: the test is the
specification, so widening or narrowing the table must be a deliberate change in both places.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from backend.core.models import LegRole, OrderRecord, OrderStatus, OrderType, Side
from backend.core.state_machine import (
    SURPRISING_EDGES,
    TRANSITIONS,
    InvalidTransition,
    apply_status,
    surprise,
    transition,
)

P, PF, F, C, E, IN = (OrderStatus.PENDING, OrderStatus.PARTIAL_FILL, OrderStatus.FILLED,
                     OrderStatus.CANCELLED, OrderStatus.ERROR, OrderStatus.INACTIVE)

ALLOWED = [
    # (from, to, why it happens)
    (P, P, "status repeated (filled/whyHeld changed, reconnect replay)"),
    (P, PF, "part of the order executed"),
    (P, F, "fully executed"),
    (P, C, "cancelled by us, by OCA or by IB"),
    (P, E, "unrecognised broker status"),
    (P, IN, "rejected or held by IB"),
    (PF, PF, "another partial execution"),
    (PF, F, "the rest executed"),
    (PF, C, "the unfilled rest cancelled"),
    (PF, E, "unrecognised broker status"),
    (PF, IN, "the rest parked by IB"),
    (F, F, "a repeated Filled status"),
    (C, C, "a repeated Cancelled status"),
    (C, F, "fill after cancel ack / ib_insync local cancel while live"),
    (C, PF, "ib_insync local cancel, then part executes"),
    (C, P, "ib_insync local cancel, then IB says Submitted"),
    (C, IN, "ib_insync local cancel of a rejection IB reports as Inactive"),
    (C, E, "unrecognised broker status"),
    (E, E, "repeated"),
    (E, P, "broker reports it live"),
    (E, PF, "broker reports executions"),
    (E, F, "broker reports it filled"),
    (E, C, "broker reports it cancelled"),
    (E, IN, "broker reports it inactive"),
    (IN, IN, "repeated"),
    (IN, P, "resubmitted"),
    (IN, PF, "resubmitted and partly filled"),
    (IN, F, "resubmitted and filled"),
    (IN, C, "cancelled while parked"),
    (IN, E, "unrecognised broker status"),
]

IMPOSSIBLE = [
    (F, P), (F, PF), (F, C), (F, E), (F, IN),  # filled is terminal
    (PF, P),                                    # executed shares cannot be unexecuted
]


def _record(status: OrderStatus = P, **kw) -> OrderRecord:
    base = dict(order_id="17", symbol="AAPL", side=Side.SELL, order_type=OrderType.STOP,
                quantity=100, status=status, role=LegRole.SAFETY_STOP,
                stop_price=Decimal("183.50"), signal_id="sig1")
    base.update(kw)
    return OrderRecord(**base)


@pytest.mark.parametrize(("current", "new", "why"), ALLOWED,
                         ids=[f"{a.value}->{b.value}" for a, b, _ in ALLOWED])
def test_allowed_edge_returns_new_status(current, new, why):
    # Act
    result = transition(current, new)

    # Assert
    assert result is new, why
    assert new in TRANSITIONS[current]


@pytest.mark.parametrize(("current", "new"), IMPOSSIBLE,
                         ids=[f"{a.value}->{b.value}" for a, b in IMPOSSIBLE])
def test_impossible_edge_raises_naming_both_states(current, new):
    with pytest.raises(InvalidTransition) as info:
        transition(current, new)

    assert current.value in str(info.value)
    assert new.value in str(info.value)
    assert info.value.current is current and info.value.new is new


def test_spec_lists_cover_every_pair_exactly_once():
    # Arrange
    allowed = {(a, b) for a, b, _ in ALLOWED}
    impossible = set(IMPOSSIBLE)
    every_pair = set(itertools.product(OrderStatus, repeat=2))

    # Assert: the two lists partition all pairs, and the table says the same thing
    assert allowed.isdisjoint(impossible)
    assert allowed | impossible == every_pair
    table_edges = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}
    assert table_edges == allowed


@pytest.mark.parametrize("status", list(OrderStatus))
def test_every_status_has_a_row_and_may_repeat(status):
    assert status in TRANSITIONS[status]
    assert transition(status, status) is status


def test_table_rows_are_immutable_data():
    assert all(isinstance(targets, frozenset) for targets in TRANSITIONS.values())


@pytest.mark.parametrize(("edge", "reason"), sorted(SURPRISING_EDGES.items(),
                                                    key=lambda kv: (kv[0][0].value,
                                                                    kv[0][1].value)))
def test_every_surprising_edge_is_allowed_and_explained(edge, reason):
    current, new = edge
    assert transition(current, new) is new
    assert surprise(current, new) == reason
    assert reason.strip()


@pytest.mark.parametrize(("current", "new"), [(P, F), (P, C), (PF, C), (C, C), (IN, IN)])
def test_ordinary_edges_are_not_surprising(current, new):
    assert surprise(current, new) is None


def test_fill_after_cancel_is_flagged_as_surprising():
    assert "cancel" in surprise(C, F)


def test_apply_status_returns_changed_copy_and_leaves_original():
    # Arrange
    original = _record(P)
    when = datetime(2026, 1, 5, 15, 0, tzinfo=timezone.utc)

    # Act
    updated = apply_status(original, PF, filled=40, avg_fill_price=Decimal("183.49"),
                           broker_status="Submitted", updated_at=when)

    # Assert
    assert updated is not original
    assert original.status is P and original.filled == 0
    assert updated.status is PF
    assert updated.filled == 40
    assert updated.avg_fill_price == Decimal("183.49")
    assert updated.broker_status == "Submitted"
    assert updated.updated_at == when
    assert updated.remaining == 60
    assert (updated.order_id, updated.symbol, updated.role) == ("17", "AAPL", LegRole.SAFETY_STOP)


def test_apply_status_refuses_impossible_edge_naming_the_order():
    with pytest.raises(InvalidTransition) as info:
        apply_status(_record(F, filled=100), P, broker_status="Submitted")

    message = str(info.value)
    assert "order 17" in message
    assert "FILLED" in message and "PENDING" in message
    assert info.value.order_id == "17"


def test_apply_status_rejects_unknown_field():
    with pytest.raises(TypeError):
        apply_status(_record(P), F, no_such_field=1)


def test_invalid_transition_is_a_value_error():
    assert issubclass(InvalidTransition, ValueError)
