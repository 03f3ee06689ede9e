"""Wilder ATR against a hand-computed 20-bar reference, and incremental == batch."""

from __future__ import annotations

import random
from decimal import Decimal
from fractions import Fraction

import pytest

from backend.strategies.indicators import WilderATR, true_range, true_ranges, wilder_atr
from tests.strategies.synthetic import make_bar, random_walk

# (high, low, close) with the true range worked out by hand. Bar 4 gaps up (|high - prev close|
# wins), bar 7 gaps down (|low - prev close| wins), bar 15 jumps (|high - prev close| again).
REFERENCE = [
    # high    low      close    TR       why
    ("10.50", "10.00", "10.20", "0.50"),  # first bar: high - low
    ("10.60", "10.10", "10.50", "0.50"),  # h-l .50, |h-pc| .40, |l-pc| .10
    ("10.80", "10.40", "10.70", "0.40"),  # h-l .40, |h-pc| .30, |l-pc| .10
    ("11.40", "11.00", "11.30", "0.70"),  # gap up: |11.40-10.70| = .70 > h-l .40
    ("11.35", "10.90", "11.00", "0.45"),  # h-l .45, |h-pc| .05, |l-pc| .40
    ("11.10", "10.70", "10.80", "0.40"),  # h-l .40, |h-pc| .10, |l-pc| .30
    ("10.30", "10.00", "10.10", "0.80"),  # gap down: |10.00-10.80| = .80 > h-l .30
    ("10.40", "10.05", "10.35", "0.35"),  # h-l .35, |h-pc| .30, |l-pc| .05
    ("10.50", "10.30", "10.45", "0.20"),
    ("10.60", "10.40", "10.55", "0.20"),
    ("10.70", "10.45", "10.50", "0.25"),
    ("10.55", "10.40", "10.42", "0.15"),
    ("10.48", "10.38", "10.40", "0.10"),
    ("10.45", "10.35", "10.44", "0.10"),
    ("10.90", "10.60", "10.85", "0.46"),  # |10.90-10.44| = .46 > h-l .30
    ("11.00", "10.80", "10.95", "0.20"),
    ("10.95", "10.50", "10.55", "0.45"),  # h-l .45 = |l-pc| .45, |h-pc| 0
    ("10.60", "10.40", "10.58", "0.20"),
    ("10.70", "10.55", "10.65", "0.15"),
    ("10.80", "10.60", "10.75", "0.20"),
]

# Period 5: dividing by 5 terminates, so every value is exact. By hand:
#   ATR_4 = (.50+.50+.40+.70+.45)/5 = 2.55/5 = .51
#   ATR_5 = (.51*4 + .40)/5 = 2.44/5 = .488
#   ATR_6 = (.488*4 + .80)/5 = 2.752/5 = .5504
#   ATR_7 = (.5504*4 + .35)/5 = 2.5516/5 = .51032   ... and so on.
ATR5 = [None, None, None, None, "0.51", "0.488", "0.5504", "0.51032", "0.448256", "0.3986048",
        "0.36888384", "0.325107072", "0.2800856576", "0.24406852608", "0.287254820864",
        "0.2698038566912", "0.30584308535296", "0.284674468282368", "0.2577395746258944",
        "0.24619165970071552"]

# Period 14, to 10 places: ATR_13 = sum(TR_0..13)/14 = 5.10/14 = 0.3642857142...
ATR14 = [None] * 13 + ["0.3642857143", "0.3711224490", "0.3588994169", "0.3654066014",
                       "0.3535918442", "0.3390495696", "0.3291174575"]

Q10 = Decimal("1e-10")


def _bars():
    return [make_bar("REF", i, float(c), float(h), float(lo), float(c), 1000)
            for i, (h, lo, c, _tr) in enumerate(REFERENCE)]


def _fraction_atr(trs: list[Fraction], n: int) -> list[Fraction | None]:
    """An independent, exact-rational ATR for cross-checking the Decimal one."""
    out: list[Fraction | None] = []
    atr: Fraction | None = None
    for i, tr in enumerate(trs):
        if i == n - 1:
            atr = sum(trs[:n], Fraction(0)) / n
        elif i >= n:
            assert atr is not None
            atr = (atr * (n - 1) + tr) / n
        out.append(atr)
    return out


def test_true_ranges_match_hand_computed_values():
    assert true_ranges(_bars()) == [Decimal(tr) for *_, tr in REFERENCE]


def test_period_5_atr_is_exactly_the_hand_computed_series():
    expected = [None if v is None else Decimal(v) for v in ATR5]
    assert wilder_atr(_bars(), 5) == expected


def test_period_14_atr_matches_reference_and_exact_rationals():
    got = wilder_atr(_bars(), 14)
    assert [None if v is None else v.quantize(Q10) for v in got] == [
        None if v is None else Decimal(v) for v in ATR14]
    exact = _fraction_atr([Fraction(tr) for *_, tr in REFERENCE], 14)
    for mine, ref in zip(got, exact, strict=True):
        assert (mine is None) == (ref is None)
        if mine is not None:
            assert abs(Fraction(mine) - ref) < Fraction(1, 10**24)


@pytest.mark.parametrize("period", [1, 2, 5, 14, 20])
def test_incremental_equals_batch_exactly(period):
    bars = random_walk(random.Random(period), bars=120)
    atr = WilderATR(period)
    incremental = [atr.update(bar) for bar in bars]
    assert incremental == wilder_atr(bars, period)
    assert atr.count == len(bars) and atr.ready


def test_incremental_state_before_and_at_seed():
    atr = WilderATR(5)
    for i, bar in enumerate(_bars()[:4]):
        assert atr.update(bar) is None and not atr.ready and atr.count == i + 1
    assert atr.update(_bars()[4]) == Decimal("0.51")


def test_fewer_bars_than_period_gives_no_atr():
    assert wilder_atr(_bars()[:3], 5) == [None, None, None]
    assert wilder_atr([], 5) == []


def test_result_does_not_depend_on_the_callers_decimal_context():
    import decimal

    bars = [make_bar("BIG", i, 1234.56 + i, 1235.01 + i, 1000.01 + i, 1234.56 + i, 1)
            for i in range(20)]
    with decimal.localcontext() as ctx:
        ctx.prec = 3
        low_precision = wilder_atr(bars, 14)
    assert low_precision == wilder_atr(bars, 14)
    assert low_precision[13] == Decimal("235.00")


@pytest.mark.parametrize("period", [0, -1, 2.5, True])
def test_bad_period_is_refused(period):
    with pytest.raises(ValueError):
        WilderATR(period)
    with pytest.raises(ValueError):
        wilder_atr(_bars(), period)


@pytest.mark.parametrize(
    ("high", "low", "prev", "expected"),
    [
        ("10", "9", None, "1"),
        ("10", "9", "9.5", "1"),  # inside: high - low
        ("12", "11", "10", "2"),  # gap up
        ("9", "8", "10", "2"),  # gap down
    ],
)
def test_true_range_table(high, low, prev, expected):
    got = true_range(Decimal(high), Decimal(low), None if prev is None else Decimal(prev))
    assert got == Decimal(expected)


def test_true_range_refuses_inverted_bar():
    with pytest.raises(ValueError):
        true_range(Decimal(1), Decimal(2), None)
