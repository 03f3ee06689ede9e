"""Every benchmark runs at its smallest size and returns the shape the report reads.

Benchmarks, not timed tests: nothing here looks at how long anything took, only that each
figure produced its numbers (a figure that silently measured nothing would show as a dash
in docs/performance.md) and that the report renders them.
"""

from __future__ import annotations

import asyncio
import json
import math

import pytest

from bench import fill_protect, report, signal_wire, sim_engine, startup, window_load
from bench.run import main as bench_main


@pytest.fixture(autouse=True)
def fresh_loop_policy():
    """The figures run their own loops (asyncio.run, qasync) and leave none set; later
    tests' blocking ib_insync calls need the implicit loop back, as tests/frontend does."""
    yield
    asyncio.set_event_loop_policy(None)


def is_summary(value) -> bool:
    return (isinstance(value, dict) and set(value) >= {"median", "min", "max", "reps"}
            and len(value["reps"]) >= 1 and all(math.isfinite(v) for v in value["reps"]))


def test_sim_engine_reports_step_and_intake_per_size():
    result = sim_engine.run("smoke")
    assert is_summary(result["floor_empty_step_ms"])
    for row in result["resting"].values():
        assert is_summary(row["step_ms"]) and is_summary(row["intake_per_s"])


def test_fill_protect_reports_the_gap_and_the_same_pass():
    result = fill_protect.run("smoke")
    assert result["history_orders"] > 0
    assert is_summary(result["fill_to_protected_p50_ms"])
    assert result["same_pass"]["reps"] == [1.0]  # the stop works in the fill's own pass


def test_signal_wire_reports_sigma9_raw_and_tcp_at_both_points():
    result = signal_wire.run("smoke")
    assert result["orders_per_chain"] >= 2
    assert len(result["points"]) == 2
    for point in result["points"].values():
        for name in ("sigma9", "raw", "tcp"):
            assert is_summary(point[f"{name}_p50_ms"]) and is_summary(point[f"{name}_p99_ms"])
        assert point["journal_tx_per_signal"]["median"] >= 1


def test_window_load_reports_lateness_cpu_and_memory(qapp):
    result = window_load.run("smoke")
    for phase in ("loaded", "floor_quiet"):
        assert is_summary(result[phase]["lateness_p99_ms"])
        assert is_summary(result[phase]["cpu_cores"])
    assert result["loaded"]["order_events_per_s"]["median"] > 0
    assert {"rss_mb_at_8", "rss_mb_at_20"} <= set(result["memory"])


def test_startup_reports_shown_connected_and_the_import_floors():
    result = startup.run("smoke")
    assert is_summary(result["window_shown_s"]) and is_summary(result["connected_s"])
    assert result["connected_s"]["median"] >= result["window_shown_s"]["median"]
    assert {"python", "import_pyqt6", "import_ib_insync"} <= set(result["floors_s"])


def test_the_runner_writes_results_and_the_table(tmp_path, monkeypatch):
    out, doc = tmp_path / "results.json", tmp_path / "performance.md"
    doc.write_text("# Performance\n\nprose kept\n\n<!-- bench:begin -->\nold\n"
                   "<!-- bench:end -->\n\nmore prose\n")
    assert bench_main(["--smoke", "--only", "sim_engine", "--out", str(out),
                       "--doc", str(doc)]) == 0
    results = json.loads(out.read_text())
    assert {"cpu", "cores", "python", "packages", "git_commit"} <= set(results["machine"])
    text = doc.read_text()
    assert "prose kept" in text and "more prose" in text and "\nold\n" not in text
    assert "Simulator market step, 30 resting orders" in text


@pytest.mark.parametrize("broken", [{}, {"figures": {"sim_engine": {"error": "boom"}}}])
def test_the_table_renders_missing_figures_as_dashes(broken):
    text = report.table(broken)
    assert "| what | Sigma9 |" in text
    if broken:
        assert "sim_engine: boom" in text
