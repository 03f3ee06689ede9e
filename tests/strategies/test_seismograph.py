"""The Seismograph: fires on accumulation-then-ignition, stays quiet otherwise, once per setup."""

from __future__ import annotations

import dataclasses
import random
from datetime import timedelta
from decimal import Decimal
from itertools import pairwise

import pytest

from backend.core.models import Bar, Quote
from backend.settings import StrategySettings
from backend.strategies.indicators import wilder_atr
from backend.strategies.seismograph import Seismograph, SeismographParams
from backend.strategies.signal import Signal
from tests.strategies.synthetic import (
    SetupShape,
    follow_through,
    make_bar,
    random_walk,
    setup_series,
)

DEFAULT = SetupShape()


def run(strategy: Seismograph, bars: list[Bar]) -> list[tuple[int, Signal]]:
    return [(i, s) for i, s in enumerate(map(strategy.on_bar, bars)) if s is not None]


def shifted(bars: list[Bar], delta: timedelta) -> list[Bar]:
    return [dataclasses.replace(b, time=b.time + delta) for b in bars]


def measure(bars: list[Bar], p: SeismographParams) -> dict[str, Decimal]:
    """The four rule quantities for the last bar, computed from scratch (not via the class)."""
    atr = wilder_atr(bars[:-1], p.atr_period)[-1]
    acc = bars[-1 - p.accumulation_bars:-1]
    base = bars[-1 - p.history_bars:-1 - p.accumulation_bars]
    high, low = max(b.high for b in acc), min(b.low for b in acc)
    acc_mean = sum(b.volume for b in acc) / len(acc)
    return {
        "range_atr_max": (high - low) / atr,
        "volume_hold_ratio": acc_mean / (sum(b.volume for b in base) / len(base)),
        "breakout_atr": (bars[-1].close - high) / atr,
        "ignition_volume_ratio": bars[-1].volume / acc_mean,
    }


# --- it fires ------------------------------------------------------------------------------

FIRING = {
    "flat box": (DEFAULT, SeismographParams()),
    "ascending box": (dataclasses.replace(DEFAULT, shape="ascending"), SeismographParams()),
    "volume building": (dataclasses.replace(DEFAULT, shape="building"), SeismographParams()),
    "volume rising 1.5x": (dataclasses.replace(DEFAULT, acc_volume=1.5), SeismographParams()),
    "500-dollar stock": (dataclasses.replace(DEFAULT, price=500, scale=5), SeismographParams()),
    "4-dollar stock": (dataclasses.replace(DEFAULT, price=4, scale=0.04), SeismographParams()),
    "other seed": (dataclasses.replace(DEFAULT, seed=8), SeismographParams()),
    "short windows, 5 s bars": (
        dataclasses.replace(DEFAULT, acc_bars=10, lead_bars=30, bar_size_s=5),
        SeismographParams(bar_size_s=5, atr_period=10, accumulation_bars=10, baseline_bars=20)),
    "long windows": (
        dataclasses.replace(DEFAULT, acc_bars=25, lead_bars=60),
        SeismographParams(accumulation_bars=25, baseline_bars=35, range_atr_max=Decimal(2.5))),
}


@pytest.mark.parametrize(("shape", "params"), FIRING.values(), ids=FIRING.keys())
def test_fires_once_on_the_ignition_bar(shape, params):
    bars = setup_series("AAPL", shape)
    fired = run(Seismograph(params), bars)
    assert [i for i, _ in fired] == [len(bars) - 1]


def test_signal_fields():
    bars = setup_series("AAPL")
    (_, signal), = run(Seismograph(), bars)
    ignition = bars[-1]
    acc = bars[-16:-1]
    low, high = min(b.low for b in acc), max(b.high for b in acc)
    assert signal.id == f"seis-AAPL-{int(ignition.time.timestamp())}"
    assert signal.symbol == "AAPL" and signal.action == "BUY"
    assert signal.reference_price == ignition.close  # no quote seen: the close
    assert signal.atr == wilder_atr(bars, 14)[-1]  # the ATR including the breakout bar
    assert signal.timestamp == ignition.time + timedelta(seconds=60)  # bar end, not wall clock
    m = measure(bars, SeismographParams())
    assert signal.score == pytest.approx(
        float(m["breakout_atr"]) * float(m["ignition_volume_ratio"]), rel=1e-3)
    for text in (f"{low}-{high}", "15 bars", f"close {ignition.close}", f"broke {high}",
                 f"{m['breakout_atr']:.2f} ATR", f"{m['ignition_volume_ratio']:.2f}x",
                 f"range {m['range_atr_max']:.2f} ATR"):
        assert text in signal.reason, text


def test_reference_price_is_the_latest_ask():
    bars = setup_series("AAPL")
    strategy = Seismograph()
    run(strategy, bars[:-1])
    strategy.on_quote(Quote("AAPL", Decimal("101.90"), Decimal("101.97"), Decimal("101.94"),
                            None, bars[-1].time + timedelta(seconds=59)))
    assert strategy.on_bar(bars[-1]).reference_price == Decimal("101.97")


def test_stale_ask_is_not_used():
    bars = setup_series("AAPL")
    strategy = Seismograph()
    strategy.on_quote(Quote("AAPL", None, Decimal("95.00"), None, None, bars[0].time))
    (_, signal), = run(strategy, bars)
    assert signal.reference_price == bars[-1].close


def test_symbol_with_space_gives_a_valid_id():
    bars = [dataclasses.replace(b, symbol="BRK B") for b in setup_series()]
    (_, signal), = run(Seismograph(), bars)
    assert signal.id.startswith("seis-BRK_B-") and signal.symbol == "BRK B"


# --- it stays quiet ------------------------------------------------------------------------

QUIET = {
    "range too wide": dataclasses.replace(DEFAULT, box=1.0),
    "range far too wide": dataclasses.replace(DEFAULT, box=1.6),
    "volume dries up": dataclasses.replace(DEFAULT, acc_volume=0.5),
    "volume fades": dataclasses.replace(DEFAULT, acc_volume=0.7),
    "breakout without volume": dataclasses.replace(DEFAULT, ignition_volume=2.0),
    "breakout on 2.8x volume": dataclasses.replace(DEFAULT, ignition_volume=2.8),
    "close barely above range": dataclasses.replace(DEFAULT, breakout=0.12),
    "close inside range": dataclasses.replace(DEFAULT, breakout=-0.1),
}


@pytest.mark.parametrize("shape", QUIET.values(), ids=QUIET.keys())
def test_quiet_when_one_ingredient_is_missing(shape):
    assert run(Seismograph(), setup_series("AAPL", shape)) == []


@pytest.mark.parametrize("rule", ["range_atr_max", "volume_hold_ratio", "breakout_atr",
                                  "ignition_volume_ratio"])
def test_each_threshold_is_the_boundary(rule):
    """Set one threshold exactly at the series' measured value, then just past it."""
    bars = setup_series("AAPL")
    measured = measure(bars, SeismographParams())[rule]
    nudge = Decimal("1.001") if rule == "range_atr_max" else Decimal("0.999")
    at_boundary = SeismographParams(**{rule: measured * nudge})
    past_boundary = SeismographParams(**{rule: measured / nudge})
    assert len(run(Seismograph(at_boundary), bars)) == 1
    assert run(Seismograph(past_boundary), bars) == []


def exact_series(quiet_bars: int = 45, close: str = "100.20", volume: int = 3000) -> list[Bar]:
    """Identical quiet bars (TR = ATR = 0.20 exactly, range 0.20, volume 1000) + one ignition.

    With range_atr_max 1, volume_hold_ratio 1, breakout_atr 0.5 and ignition_volume_ratio 3,
    the defaults of this series sit exactly on every threshold.
    """
    quiet = [make_bar("EXACT", i, 100, 100.10, 99.90, 100, 1000) for i in range(quiet_bars)]
    return quiet + [make_bar("EXACT", quiet_bars, 100, float(close), 100, float(close), volume)]


ON_THE_LINE = SeismographParams(range_atr_max=Decimal(1), volume_hold_ratio=Decimal(1),
                                breakout_atr=Decimal("0.5"), ignition_volume_ratio=Decimal(3))


def test_every_threshold_is_inclusive():
    bars = exact_series()
    assert measure(bars, ON_THE_LINE) == {"range_atr_max": 1, "volume_hold_ratio": 1,
                                          "breakout_atr": Decimal("0.5"),
                                          "ignition_volume_ratio": 3}
    assert len(run(Seismograph(ON_THE_LINE), bars)) == 1


@pytest.mark.parametrize("change", [
    {"close": "100.19"},  # breakout 0.45 ATR
    {"volume": 2999},  # surge just under 3x
    {"range_atr_max": Decimal("0.99")},
    {"volume_hold_ratio": Decimal("1.01")},
])
def test_a_hair_past_any_threshold_is_quiet(change):
    series_args = {k: v for k, v in change.items() if k in ("close", "volume")}
    params = dataclasses.replace(ON_THE_LINE, **{k: v for k, v in change.items()
                                                  if k not in series_args})
    assert run(Seismograph(params), exact_series(**series_args)) == []


def test_atr_needs_one_wilder_step_beyond_its_seed():
    p = dataclasses.replace(ON_THE_LINE, accumulation_bars=3, baseline_bars=3)
    assert run(Seismograph(p), exact_series(quiet_bars=14)) == []  # ATR seeded, not smoothed
    assert len(run(Seismograph(p), exact_series(quiet_bars=15))) == 1


def test_needs_full_history_before_judging():
    bars = setup_series("AAPL", dataclasses.replace(DEFAULT, lead_bars=20))  # 35 before ignition
    assert run(Seismograph(), bars) == []  # default needs 15 + 30
    assert len(run(Seismograph(SeismographParams(baseline_bars=20)), bars)) == 1  # exactly 35
    assert run(Seismograph(SeismographParams(baseline_bars=21)), bars) == []


def test_needs_a_warmed_atr_even_with_short_windows():
    p = SeismographParams(atr_period=14, accumulation_bars=3, baseline_bars=3)
    bars = setup_series("AAPL", dataclasses.replace(DEFAULT, lead_bars=4, acc_bars=3))
    assert len(bars) == 8 < p.atr_period + 1
    assert run(Seismograph(p), bars) == []


def test_zero_volume_never_ignites():
    bars = [dataclasses.replace(b, volume=Decimal(0)) for b in setup_series("AAPL")]
    assert run(Seismograph(), bars) == []


# --- one setup, one signal -----------------------------------------------------------------


def test_no_second_signal_while_price_runs_above_the_range():
    bars = setup_series("AAPL")
    strategy = Seismograph()
    assert len(run(strategy, bars)) == 1
    assert strategy.on_bar(bars[-1]) is None  # the same bar again
    more = follow_through(bars, 60, step=0.05, volume=60_000)
    assert run(strategy, more) == []


def test_more_ignition_bars_inside_the_cooldown_do_not_signal():
    bars = setup_series("AAPL")
    strategy = Seismograph(SeismographParams(range_atr_max=Decimal(50)))
    assert len(run(strategy, bars)) == 1
    last = bars[-1]
    surges = [make_bar("AAPL", 0, float(last.close), float(last.close) + 0.6, float(last.close),
                       float(last.close) + 0.5, 200_000, start=last.time + timedelta(minutes=i))
              for i in range(1, 31)]
    assert run(strategy, surges) == []


@pytest.mark.parametrize(("cooldown", "spacing"), [(0, 16), (5, 16), (15, 16), (30, 31)])
def test_signals_are_spaced_by_a_fresh_window_and_the_cooldown(cooldown, spacing):
    """With every other rule wide open, a steady climb would signal on every bar; the spacing
    between signals is max(cooldown, accumulation) + 1 bars."""
    p = SeismographParams(cooldown_bars=cooldown, range_atr_max=Decimal(1000),
                          volume_hold_ratio=Decimal("0.01"), breakout_atr=Decimal("0.01"),
                          ignition_volume_ratio=Decimal("0.01"))
    bars = [make_bar("UP", i, 100 + i * 0.5, 100 + i * 0.5 + 0.3, 100 + i * 0.5 - 0.1,
                     100 + i * 0.5 + 0.2, 1000) for i in range(200)]
    indices = [i for i, _ in run(Seismograph(p), bars)]
    assert indices[0] == p.history_bars
    assert {b - a for a, b in pairwise(indices)} == {spacing}


def test_a_fresh_setup_after_the_cooldown_signals_again():
    first = setup_series("AAPL")
    later = shifted(setup_series("AAPL", dataclasses.replace(DEFAULT, seed=3)),
                    first[-1].time - first[0].time + timedelta(minutes=1))
    fired = run(Seismograph(), first + later)
    assert [i for i, _ in fired] == [len(first) - 1, len(first) + len(later) - 1]
    assert fired[0][1].id != fired[1][1].id
    # A cooldown longer than the gap between them suppresses the second.
    long_cooldown = SeismographParams(cooldown_bars=len(later) + 5)
    assert [i for i, _ in run(Seismograph(long_cooldown), first + later)] == [len(first) - 1]


def test_replay_after_reset_gives_the_same_signal():
    bars = setup_series("AAPL")
    strategy = Seismograph()
    (_, original), = run(strategy, bars)
    strategy.reset("AAPL")
    (_, replayed), = run(strategy, bars)
    assert replayed == original  # same id, timestamp, price, ATR, reason, score
    (_, fresh), = run(Seismograph(), bars)
    assert fresh == original


def test_warm_up_then_live_ignition_fires_like_a_continuous_feed():
    bars = setup_series("AAPL")
    (_, continuous), = run(Seismograph(), bars)
    strategy = Seismograph()
    strategy.warm_up("AAPL", bars[:-1])
    assert strategy.on_bar(bars[-2]) is None  # the live builder repeating history's last bar
    assert strategy.on_bar(bars[-1]) == continuous


def test_a_setup_inside_the_warm_up_history_is_spent():
    bars = setup_series("AAPL")
    strategy = Seismograph()
    strategy.warm_up("AAPL", bars)
    assert run(strategy, follow_through(bars, 40)) == []
    assert strategy.state_of("AAPL").last_signal_id == f"seis-AAPL-{int(bars[-1].time.timestamp())}"


# --- per-symbol isolation ------------------------------------------------------------------


def test_interleaved_symbols_fire_exactly_as_they_would_alone():
    aapl = setup_series("AAPL")
    tsla = setup_series("TSLA", dataclasses.replace(DEFAULT, price=180, scale=2, seed=5,
                                                     lead_bars=50))
    msft = random_walk(random.Random(11), symbol="MSFT", bars=len(tsla))
    alone = {s: [sig for _, sig in run(Seismograph(), series)]
             for s, series in (("AAPL", aapl), ("TSLA", tsla), ("MSFT", msft))}
    assert len(alone["AAPL"]) == 1 and len(alone["TSLA"]) == 1

    mixed = sorted(aapl + tsla + msft, key=lambda b: (b.time, b.symbol))
    strategy = Seismograph()
    together = [sig for _, sig in run(strategy, mixed)]
    for symbol, expected in alone.items():
        assert [s for s in together if s.symbol == symbol] == expected
    assert set(strategy.symbols) == {"AAPL", "TSLA", "MSFT"}


def test_a_signal_on_one_symbol_does_not_cool_down_another():
    aapl = setup_series("AAPL")
    msft = setup_series("MSFT")  # same shape, same times: both must fire on the same bar
    mixed = [b for pair in zip(aapl, msft, strict=True) for b in pair]
    fired = run(Seismograph(), mixed)
    assert [s.symbol for _, s in fired] == ["AAPL", "MSFT"]


def test_reset_of_one_symbol_leaves_the_other():
    aapl, msft = setup_series("AAPL"), setup_series("MSFT")
    strategy = Seismograph()
    run(strategy, aapl[:-1] + msft[:-1])
    strategy.reset("MSFT")
    assert strategy.on_bar(aapl[-1]) is not None
    assert strategy.on_bar(msft[-1]) is None  # MSFT has no history any more


# --- parameters ----------------------------------------------------------------------------


def test_defaults_are_the_shipped_settings():
    assert SeismographParams.from_settings(StrategySettings()) == SeismographParams()


def test_settings_floats_become_exact_decimals():
    p = SeismographParams.from_settings(StrategySettings(range_atr_max=2.1, breakout_atr=0.3))
    assert p.range_atr_max == Decimal("2.1") and p.breakout_atr == Decimal("0.3")


@pytest.mark.parametrize("bad", [{"accumulation_bars": 0}, {"atr_period": 0},
                                 {"cooldown_bars": -1}, {"breakout_atr": Decimal(0)},
                                 {"range_atr_max": Decimal(-1)}])
def test_bad_params_are_refused(bad):
    with pytest.raises(ValueError):
        SeismographParams(**bad)
