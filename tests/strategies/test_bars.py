"""BarBuilder: OHLCV aggregation, wall-clock alignment, gaps, volume deltas, flush."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from backend.core.models import Bar, Quote
from backend.strategies.bars import BarBuilder, ib_bar_size, interval_start

T0 = datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def q(t: float, last: str | None, volume: int | None = None, symbol: str = "AAPL",
      ask: str | None = None) -> Quote:
    return Quote(symbol, None, Decimal(ask) if ask else None,
                 Decimal(last) if last is not None else None,
                 Decimal(volume) if volume is not None else None, at(t))


def bar(t: float, o: str, h: str, lo: str, c: str, v: int, symbol: str = "AAPL") -> Bar:
    return Bar(symbol, at(t), Decimal(o), Decimal(h), Decimal(lo), Decimal(c), Decimal(v))


def feed(builder: BarBuilder, quotes: list[Quote]) -> list[Bar]:
    return [b for b in (builder.on_quote(x) for x in quotes) if b is not None]


def test_aggregates_ohlcv_within_one_minute():
    b = BarBuilder(60)
    done = feed(b, [
        q(1, "100.00", 5000),  # baseline volume only
        q(10, "100.40", 5100),
        q(20, "99.80", 5250),
        q(59.999, "100.10", 5300),
        q(60, "100.20", 5310),  # next minute: completes the first bar
    ])
    assert done == [bar(0, "100.00", "100.40", "99.80", "100.10", 300)]
    assert b.open_bar("AAPL") == bar(60, "100.20", "100.20", "100.20", "100.20", 10)


@pytest.mark.parametrize(
    ("size", "moment", "start"),
    [
        (60, at(37.5), at(0)),
        (60, at(60), at(60)),
        (60, at(119.999999), at(60)),
        (5, at(37.5), at(35)),
        (5, at(5), at(5)),
        (3600, datetime(2024, 3, 4, 15, 59, 59, tzinfo=timezone.utc),
         datetime(2024, 3, 4, 15, 0, tzinfo=timezone.utc)),
    ],
)
def test_alignment_to_wall_clock_multiples(size, moment, start):
    assert interval_start(moment, size) == start


def test_alignment_is_in_utc_whatever_the_quote_zone():
    new_york = timezone(timedelta(hours=-5))
    moment = datetime(2024, 3, 4, 9, 30, 42, tzinfo=new_york)
    assert interval_start(moment, 60) == datetime(2024, 3, 4, 14, 30, tzinfo=timezone.utc)


def test_five_second_bars_for_demos():
    b = BarBuilder(5)
    done = feed(b, [q(0.5, "10.00", 100), q(3, "10.05", 110), q(4.9, "10.02", 130),
                    q(5.1, "10.03", 131), q(9.9, "10.01", 140), q(10.0, "10.04", 141)])
    assert done == [bar(0, "10.00", "10.05", "10.00", "10.02", 30),
                    bar(5, "10.03", "10.03", "10.01", "10.01", 10)]


def test_minutes_without_ticks_produce_no_bars():
    b = BarBuilder(60)
    done = feed(b, [q(5, "50.00", 0), q(30, "50.10", 100),
                    q(4 * 60 + 5, "50.50", 400),  # 3 silent minutes later
                    q(4 * 60 + 50, "50.40", 450), q(5 * 60 + 1, "50.45", 460)])
    assert [x.time for x in done] == [at(0), at(240)]
    assert done[0] == bar(0, "50.00", "50.10", "50.00", "50.10", 100)
    # The volume counted in the minute after the gap is all the counter grew by then.
    assert done[1] == bar(240, "50.50", "50.50", "50.40", "50.40", 350)


def test_volume_counter_reset_rebaselines_without_counting():
    b = BarBuilder(60)
    done = feed(b, [q(1, "20.00", 90_000), q(2, "20.01", 90_500),
                    q(3, "20.02", 400),  # counter restarted (new session / resubscribe)
                    q(4, "20.03", 460), q(61, "20.04", 470)])
    assert done[0].volume == Decimal(500 + 60)


def test_first_quote_sets_the_volume_baseline_only():
    b = BarBuilder(60)
    done = feed(b, [q(1, "20.00", 1_000_000), q(61, "20.01", 1_000_000)])
    assert done[0].volume == 0


def test_quotes_without_volume_field_still_build_prices():
    b = BarBuilder(60)
    done = feed(b, [q(1, "7.00"), q(2, "7.10"), q(3, "6.90"), q(61, "7.00")])
    assert done == [bar(0, "7.00", "7.10", "6.90", "6.90", 0)]


def test_bid_ask_only_updates_neither_open_nor_extend_bars():
    b = BarBuilder(60)
    done = feed(b, [q(1, "30.00", 100), q(2, "30.10", 150),
                    # later minutes: only the ask moves; last and volume repeat
                    q(65, "30.10", 150, ask="30.12"), q(130, "30.10", 150, ask="30.11"),
                    q(185, "30.20", 170)])
    assert done == [bar(0, "30.00", "30.10", "30.00", "30.10", 50)]
    assert b.open_bar("AAPL") == bar(180, "30.20", "30.20", "30.20", "30.20", 20)


def test_same_price_trade_is_seen_through_volume():
    b = BarBuilder(60)
    done = feed(b, [q(1, "30.00", 100), q(65, "30.00", 180), q(121, "30.00", 181)])
    assert [x.time for x in done] == [at(0), at(60)]
    assert done[1].volume == 80


def test_flush_emits_only_finished_intervals_once():
    b = BarBuilder(60)
    feed(b, [q(1, "10.00", 0), q(30, "10.20", 50)])
    assert b.flush(at(59.9)) == []
    assert b.flush(at(60)) == [bar(0, "10.00", "10.20", "10.00", "10.20", 50)]
    assert b.flush(at(600)) == []
    assert b.open_bar("AAPL") is None
    # A new tick starts a fresh bar; its volume is the delta from the last counter seen.
    assert b.on_quote(q(125, "10.30", 80)) is None
    assert b.flush(at(180)) == [bar(120, "10.30", "10.30", "10.30", "10.30", 30)]


def test_late_quote_after_flush_does_not_rewrite_history():
    b = BarBuilder(60)
    feed(b, [q(1, "10.00", 0), q(30, "10.20", 50)])
    b.flush(at(61))
    assert b.on_quote(q(59, "99.00", 70)) is None  # belongs to the emitted minute: dropped
    assert b.open_bar("AAPL") is None
    feed(b, [q(70, "10.10", 90)])
    assert b.flush(at(120)) == [bar(60, "10.10", "10.10", "10.10", "10.10", 20)]


def test_late_quote_volume_goes_to_the_open_bar():
    b = BarBuilder(60)
    feed(b, [q(1, "10.00", 0), q(61, "10.20", 50), q(59, "9.00", 80)])
    assert b.open_bar("AAPL") == bar(60, "10.20", "10.20", "10.20", "10.20", 80)


def test_flush_covers_every_symbol_in_time_order():
    b = BarBuilder(60)
    feed(b, [q(61, "5.00", 0, symbol="MSFT"), q(2, "7.00", 0, symbol="AAPL"),
             q(70, "5.10", 10, symbol="MSFT")])
    flushed = b.flush(at(200))
    assert [(x.symbol, x.time) for x in flushed] == [("AAPL", at(0)), ("MSFT", at(60))]


def test_symbols_are_independent():
    b = BarBuilder(60)
    done = feed(b, [q(1, "10.00", 1000, "AAPL"), q(2, "200.00", 50, "MSFT"),
                    q(3, "10.50", 1100, "AAPL"), q(4, "199.00", 80, "MSFT"),
                    q(61, "10.40", 1150, "AAPL")])
    assert done == [bar(0, "10.00", "10.50", "10.00", "10.50", 100)]
    assert b.open_bar("MSFT") == bar(0, "200.00", "200.00", "199.00", "199.00", 30, "MSFT")


def test_reset_forgets_partial_bar_and_volume_baseline():
    b = BarBuilder(60)
    feed(b, [q(1, "10.00", 1000), q(2, "10.10", 1100)])
    b.reset("AAPL")
    assert b.open_bar("AAPL") is None
    # After an outage the counter jumped; reset made the next quote a baseline, not a burst.
    feed(b, [q(300, "10.30", 90_000), q(310, "10.35", 90_100)])
    assert b.flush(at(360)) == [bar(300, "10.30", "10.35", "10.30", "10.35", 100)]


def test_naive_times_are_refused():
    b = BarBuilder(60)
    with pytest.raises(ValueError, match="timezone-aware"):
        b.on_quote(Quote("AAPL", None, None, Decimal(1), None, datetime(2024, 3, 4, 9, 30)))
    with pytest.raises(ValueError, match="timezone-aware"):
        b.flush(datetime(2024, 3, 4, 9, 30))


@pytest.mark.parametrize("size", [0, -60, 1.5, True])
def test_bad_bar_size_is_refused(size):
    with pytest.raises(ValueError):
        BarBuilder(size)


@pytest.mark.parametrize(("seconds", "setting"), [(5, "5 secs"), (60, "1 min"),
                                                  (300, "5 mins"), (3600, "1 hour")])
def test_ib_bar_size_table(seconds, setting):
    assert ib_bar_size(seconds) == setting


def test_ib_bar_size_without_history_is_an_error():
    with pytest.raises(ValueError, match="7-second"):
        ib_bar_size(7)
