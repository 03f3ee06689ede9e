"""Small statistics for the benchmarks: percentiles, and the median and spread of repeats.

Every figure is a list of repetitions; the report shows the median of them and the spread
(min..max), so one noisy repetition on a shared machine is visible instead of hidden.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation; nan for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summary(reps: Sequence[float]) -> dict[str, float | list[float]]:
    """Median, min and max of the repetitions, with the repetitions themselves."""
    values = [float(v) for v in reps]
    if not values:
        return {"median": float("nan"), "min": float("nan"), "max": float("nan"), "reps": []}
    return {"median": statistics.median(values), "min": min(values), "max": max(values),
            "reps": values}


def interleave(reps: int, cases: dict[str, Callable[[], float]]) -> dict[str, dict]:
    """Run each case once per round, round after round, so a figure and its floor see the
    same machine load; return each case's ``summary``."""
    results: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(reps):
        for name, case in cases.items():
            results[name].append(case())
    return {name: summary(values) for name, values in results.items()}


def ms(seconds: float) -> float:
    return seconds * 1000.0


def clock() -> float:
    return time.perf_counter()
