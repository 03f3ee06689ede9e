"""backend.core.ledger: positions and P&L from fills, by hand and by property.

Hand-computed rows first (the arithmetic is in the comments), then hypothesis: whatever the
fills, once the position is flat again the realized P&L is exactly the sell proceeds minus
the buy cost minus every commission paid, with no Decimal rounding left over.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.core.ledger import Book, apply_fill, books_from_fills, unrealized
from backend.core.models import FillRecord, Side

D = Decimal
T0 = datetime(2026, 1, 5, 14, 30, 0, tzinfo=timezone.utc)
BUY, SELL = Side.BUY, Side.SELL


def fill(n: int, side: Side, qty: int, price: str | Decimal, commission: str | Decimal = "0",
         symbol: str = "AAPL", time: datetime | None = None, exec_id: str = "") -> FillRecord:
    return FillRecord(exec_id=exec_id or f"e{n:04d}", order_id=str(n), symbol=symbol, side=side,
                      quantity=qty, price=D(price), commission=D(commission),
                      time=time or T0 + timedelta(seconds=n))


def run(*fills: FillRecord) -> list[Book]:
    """The book after each fill, applied in the given order."""
    book, out = Book("AAPL"), []
    for f in fills:
        book = apply_fill(book, f)
        out.append(book)
    return out


# ------------------------------------------------------------------------- by hand

def test_round_trip_example():
    opened, closed = run(fill(1, BUY, 100, "100.01", "1.00"),
                         fill(2, SELL, 100, "104.39", "1.00"))
    # cost 100 x 100.01 + 1.00 = 10002.00 -> average 100.02
    assert (opened.quantity, opened.avg_cost, opened.realized, opened.commissions) == (
        100, D("100.02"), D(0), D("1.00"))
    # (104.39 - 100.02) x 100 - 1.00 = 436.00
    assert (closed.quantity, closed.avg_cost, closed.realized, closed.commissions) == (
        0, D(0), D("436.00"), D("2.00"))
    # check: proceeds 10439.00 - cost 10001.00 - commissions 2.00
    assert closed.realized == D("10439.00") - D("10001.00") - D("2.00")


def test_partial_closes():
    opened, first, second = run(fill(1, BUY, 100, "50.00", "1.00"),
                                fill(2, SELL, 40, "51.00", "1.00"),
                                fill(3, SELL, 60, "49.00", "1.00"))
    assert (opened.quantity, opened.avg_cost) == (100, D("50.01"))     # 5001.00 / 100
    # (51.00 - 50.01) x 40 - 1.00 = 38.60; the rest keeps its average
    assert (first.quantity, first.avg_cost, first.realized) == (60, D("50.01"), D("38.60"))
    # 38.60 + (49.00 - 50.01) x 60 - 1.00 = 38.60 - 61.60 = -23.00
    assert (second.quantity, second.realized, second.commissions) == (0, D("-23.00"), D("3.00"))
    # check: proceeds 2040 + 2940 - cost 5000 - commissions 3
    assert second.realized == D(4980) - D(5000) - D(3)


def test_adding_to_a_position_averages_the_cost():
    first, added, closed = run(fill(1, BUY, 100, "20.00", "1.00"),
                               fill(2, BUY, 100, "22.00", "1.00"),
                               fill(3, SELL, 200, "21.00", "2.00"))
    assert (first.quantity, first.avg_cost) == (100, D("20.01"))
    # (2001.00 + 2201.00) / 200 = 21.01
    assert (added.quantity, added.avg_cost, added.realized) == (200, D("21.01"), D(0))
    # (21.00 - 21.01) x 200 - 2.00 = -4.00
    assert (closed.quantity, closed.realized, closed.commissions) == (0, D("-4.00"), D("4.00"))


def test_adding_with_a_non_terminating_average_still_closes_exactly():
    _, added, closed = run(fill(1, BUY, 100, "10.00", "1"),
                           fill(2, BUY, 50, "10.30", "1"),
                           fill(3, SELL, 150, "11", "1"))
    # 1517.00 / 150 = 10.11333...: not representable, only the display is rounded
    assert added.avg_cost == D("1517.00") / 150
    assert added.avg_cost.quantize(D("0.0001")) == D("10.1133")
    # 1650 - 1515 - 3 = 132, exactly (no 132.0000000000000000000000005)
    assert closed.realized == D("132")


def test_partial_close_of_a_non_terminating_average_closes_exactly():
    books = run(fill(1, BUY, 3, "10.00", "1"), fill(2, SELL, 1, "10.30", "1"),
                fill(3, SELL, 2, "11", "1"))
    # proceeds 10.30 + 22.00 - cost 30.00 - commissions 3 = -0.70
    assert books[-1].realized == D("-0.70")
    assert books[-1].quantity == 0


def test_short_round_trip_books_the_proceeds_net_of_commission():
    opened, covered = run(fill(1, SELL, 100, "100.00", "1.00"),
                          fill(2, BUY, 100, "99.00", "1.00"))
    # a short's basis is its proceeds less commission: (10000 - 1) / 100 = 99.99
    assert (opened.quantity, opened.avg_cost) == (-100, D("99.99"))
    # (99.00 - 99.99) x -100 - 1.00 = 98.00 = proceeds 10000 - cost 9900 - commissions 2
    assert (covered.quantity, covered.realized) == (0, D("98.00"))


def test_flip_from_long_through_zero_to_short_and_back():
    long, flipped, flat = run(fill(1, BUY, 100, "10.00", "1.00"),
                              fill(2, SELL, 150, "12.00", "1.50"),
                              fill(3, BUY, 50, "11.00", "1.00"))
    assert (long.quantity, long.avg_cost) == (100, D("10.01"))
    # the 150-share sell: 100 close (commission 1.50 x 100/150 = 1.00), 50 open (0.50)
    # realized (12.00 - 10.01) x 100 - 1.00 = 198.00
    # the short's basis: 50 x 12.00 - 0.50 = 599.50 -> average 11.99
    assert (flipped.quantity, flipped.avg_cost, flipped.realized) == (-50, D("11.99"),
                                                                      D("198.00"))
    assert flipped.commissions == D("2.50")
    # cover: (11.00 - 11.99) x -50 - 1.00 = 48.50; total 246.50
    assert (flat.quantity, flat.avg_cost, flat.realized) == (0, D(0), D("246.50"))
    # check: sells 1800 - buys (1000 + 550) - commissions 3.50
    assert flat.realized == D(1800) - D(1550) - D("3.50")


def test_flip_from_short_through_zero_to_long():
    short, flipped = run(fill(1, SELL, 100, "20.00", "1.00"),
                         fill(2, BUY, 300, "19.00", "3.00"))
    assert (short.quantity, short.avg_cost) == (-100, D("19.99"))
    # close 100 (commission 1.00): (19.00 - 19.99) x -100 - 1.00 = 98.00
    # open 200 long at 19.00 + 2.00 / 200 = 19.01
    assert (flipped.quantity, flipped.avg_cost, flipped.realized) == (200, D("19.01"),
                                                                      D("98.00"))


def test_fill_without_a_commission_report_yet_books_at_zero_commission():
    (book,) = run(fill(1, BUY, 10, "5.00"))
    assert (book.quantity, book.avg_cost, book.commissions) == (10, D("5.00"), D(0))


# --------------------------------------------------------------------- books_from_fills

def test_books_from_fills_applies_fills_in_time_order():
    in_time = [fill(1, BUY, 100, "10.00"), fill(2, SELL, 100, "12.00"),
               fill(3, BUY, 100, "11.00")]
    book = books_from_fills([in_time[2], in_time[0], in_time[1]])["AAPL"]
    # time order: +200 realized, then a new 100 at 11.00. List order would give
    # 200 @ 10.50 and 150 realized.
    assert (book.quantity, book.avg_cost, book.realized) == (100, D("11.00"), D("200.00"))


def test_books_from_fills_breaks_time_ties_by_exec_id():
    same = T0
    buy_low = fill(1, BUY, 100, "10.00", time=same, exec_id="0001.01")
    sell = fill(2, SELL, 100, "12.00", time=same, exec_id="0001.02")
    buy_high = fill(3, BUY, 100, "11.00", time=same, exec_id="0001.03")
    book = books_from_fills([buy_high, sell, buy_low])["AAPL"]
    assert (book.quantity, book.avg_cost, book.realized) == (100, D("11.00"), D("200.00"))


def test_books_from_fills_keeps_symbols_apart():
    books = books_from_fills([
        fill(1, BUY, 100, "100.01", "1.00"),
        fill(2, BUY, 10, "400.00", "1.00", symbol="MSFT"),
        fill(3, SELL, 100, "104.39", "1.00"),
        fill(4, SELL, 4, "410.00", "1.00", symbol="MSFT"),
    ])
    assert set(books) == {"AAPL", "MSFT"}
    assert (books["AAPL"].quantity, books["AAPL"].realized) == (0, D("436.00"))
    # MSFT: avg 4001 / 10 = 400.10; (410.00 - 400.10) x 4 - 1.00 = 38.60
    msft = books["MSFT"]
    assert (msft.symbol, msft.quantity, msft.avg_cost, msft.realized, msft.commissions) == (
        "MSFT", 6, D("400.10"), D("38.60"), D("2.00"))


def test_books_from_no_fills_is_empty():
    assert books_from_fills([]) == {}


# --------------------------------------------------------------------------- unrealized

@pytest.mark.parametrize(("quantity", "avg", "mark", "expected"), [
    (100, "100.02", "101.00", "98.00"),      # (101.00 - 100.02) x 100
    (100, "100.02", "99.02", "-100.00"),     # (99.02 - 100.02) x 100
    (-50, "11.99", "11.00", "49.50"),        # (11.00 - 11.99) x -50
    (-50, "11.99", "12.99", "-50.00"),
    (100, "100.02", None, "0"),              # no mark yet
    (0, "0", "101.00", "0"),                 # flat
])
def test_unrealized(quantity, avg, mark, expected):
    book = Book("AAPL", quantity=quantity, avg_cost=D(avg))
    assert unrealized(book, D(mark) if mark is not None else None) == D(expected)


def test_unrealized_of_a_book_built_from_fills():
    book = books_from_fills([fill(1, BUY, 100, "100.01", "1.00")])["AAPL"]
    assert unrealized(book, D("104.39")) == D("437.00")


# --------------------------------------------------------------------------- property

prices = st.integers(min_value=1, max_value=50_000_000).map(lambda n: D(n).scaleb(-4))
"""0.0001 .. 5000.0000, exact."""
fees = st.integers(min_value=0, max_value=2_000_000).map(lambda n: D(n).scaleb(-5))
"""0 .. 20.00000, exact (IB reports commissions with odd decimals)."""


def _accounting_identity(fills: list[FillRecord]) -> Decimal:
    proceeds = sum((f.price * f.quantity for f in fills if f.side is SELL), D(0))
    cost = sum((f.price * f.quantity for f in fills if f.side is BUY), D(0))
    commissions = sum((f.commission for f in fills), D(0))
    return proceeds - cost - commissions


@st.composite
def buys_then_sells(draw) -> list[FillRecord]:
    buys = draw(st.lists(st.tuples(st.integers(1, 10_000), prices, fees), min_size=1,
                         max_size=6))
    total = sum(q for q, _, _ in buys)
    cuts = sorted(draw(st.lists(st.integers(1, max(total - 1, 1)), max_size=5, unique=True)))
    cuts = [c for c in cuts if 0 < c < total]
    sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
    sells = [(q, draw(prices), draw(fees)) for q in sizes]
    out = [fill(n, BUY, q, p, c) for n, (q, p, c) in enumerate(buys)]
    out += [fill(len(out) + n, SELL, q, p, c) for n, (q, p, c) in enumerate(sells)]
    return out


@settings(max_examples=300, deadline=None)
@given(buys_then_sells())
def test_flat_after_buys_then_sells_realized_is_proceeds_minus_cost_minus_commissions(fills):
    book = books_from_fills(fills)["AAPL"]
    assert book.quantity == 0
    assert book.realized == _accounting_identity(fills)
    assert book.commissions == sum((f.commission for f in fills), D(0))


@st.composite
def any_sequence_ending_flat(draw) -> list[FillRecord]:
    """Buys and sells in any order (shorts and flips included), closed by a final fill."""
    steps = draw(st.lists(st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 5_000),
                                    prices, fees), min_size=1, max_size=8))
    out = [fill(n, side, q, p, c) for n, (side, q, p, c) in enumerate(steps)]
    position = sum(f.quantity if f.side is BUY else -f.quantity for f in out)
    if position:
        side = SELL if position > 0 else BUY
        out.append(fill(len(out), side, abs(position), draw(prices), draw(fees)))
    return out


@settings(max_examples=300, deadline=None)
@given(any_sequence_ending_flat())
def test_flat_after_any_sequence_realized_is_proceeds_minus_cost_minus_commissions(fills):
    book = books_from_fills(fills)["AAPL"]
    assert (book.quantity, book.avg_cost) == (0, D(0))
    assert book.realized == _accounting_identity(fills)
