"""The table in docs/performance.md, written from bench/results.json.

Only the part between the ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` markers is
rewritten; the prose around it (method, analysis) is kept. The "before" column comes from
bench/baseline.json (the same harness run before the issue-12 changes, see the doc).
Every cell is the median of the repetitions with their spread (min-max) in brackets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
BASELINE = Path(__file__).resolve().parent / "baseline.json"


def _get(tree: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def cell(stat: Any, unit: str = "ms", digits: int = 2, scale: float = 1.0) -> str:
    """``median (min-max) unit`` of a ``stats.summary``; a dash when not measured."""
    if not isinstance(stat, dict) or "median" not in stat:
        return "—"
    med, low, high = (stat[k] * scale for k in ("median", "min", "max"))
    if med != med:  # nan
        return "—"
    spread = "" if low == high else f" ({low:.{digits}f}–{high:.{digits}f})"
    return f"{med:.{digits}f}{spread} {unit}".strip()


def verdict(stat: Any, limit: float, below: bool = True, scale: float = 1.0) -> str:
    """" met" or " **missed**" for a median against its target (a dash's worth if none)."""
    value = stat.get("median") if isinstance(stat, dict) else stat
    if not isinstance(value, (int, float)) or value != value:
        return ""
    value *= scale
    return " met" if (value < limit if below else value >= limit) else " **missed**"


def _ratio(a: Any, b: Any) -> str:
    if not (isinstance(a, dict) and isinstance(b, dict)) or not b.get("median"):
        return "—"
    return f"{a['median'] / b['median']:.2f}×"


def _signal_rows(now: dict, before: dict) -> list[list[str]]:
    rows = []
    points = _get(now, "signal_wire", "points") or {}
    old = _get(before, "signal_wire", "points") or {}
    for point, data in points.items():
        prior = old.get(point) or (list(old.values())[0 if point == min(points, key=int)
                                                     else -1] if old else {})
        for q in ("p50", "p99"):
            ours, raw = data.get(f"sigma9_{q}_ms"), data.get(f"raw_{q}_ms")
            rows.append([f"Signal → whole chain at the simulator, {q}, "
                         f"{data.get('signals_in_session', point)} signals in",
                         cell(ours), f"raw ib_insync {cell(raw)}; TCP round trip "
                         f"{cell(data.get(f'tcp_{q}_ms'), digits=3)}",
                         f"{_ratio(ours, raw)} raw" + (
                             " (target ≤ 1.2×)" + verdict(_over(ours, raw), 1.2 + 1e-9)
                             if q == "p50" else ""),
                         cell(prior.get(f"sigma9_{q}_ms")) if prior else "—"])
        rows.append([f"Journal transactions per signal, {data.get('signals_in_session', point)}"
                     " signals in", cell(data.get("journal_tx_per_signal"), "", 1), "—",
                     "≤ 2" + verdict(data.get("journal_tx_per_signal"), 2 + 1e-9),
                     cell(prior.get("journal_tx_per_signal"), "", 1) if prior else "—"])
    return rows


def _fill_rows(now: dict, before: dict) -> list[list[str]]:
    f, b = now.get("fill_protect") or {}, before.get("fill_protect") or {}
    same = _get(f, "same_pass", "median")
    return [
        [f"Fill → stop working at the simulator, p50, {f.get('history_orders', '?')} finished "
         "orders", cell(f.get("fill_to_protected_p50_ms"), digits=3),
         f"one report of a resting chain {cell(f.get('floor_chain_call_per_report_ms'), digits=3)}",
         "< 1 ms, same pass" + verdict(f.get("fill_to_protected_p50_ms"), 1.0),
         cell(b.get("fill_to_protected_p50_ms"), digits=3)],
        ["Fill → stop working, p99", cell(f.get("fill_to_protected_p99_ms"), digits=3), "—",
         "< 1 ms", cell(b.get("fill_to_protected_p99_ms"), digits=3)],
        ["Stop working in the fill's own matching pass",
         "—" if same is None else ("yes, every time" if same == 1.0 else "not always"), "—",
         "yes", "—" if _get(b, "same_pass", "median") is None else
         ("yes" if _get(b, "same_pass", "median") == 1.0 else "no")],
    ]


def _window_rows(now: dict, before: dict) -> list[list[str]]:
    w, b = now.get("window_load") or {}, before.get("window_load") or {}
    what = (f"{w.get('symbols', '?')} symbols × {w.get('ticks_per_s', '?')} ticks/s, "
            f"{w.get('orders_in_tables', '?')} orders in the tables")
    loaded, quiet = w.get("loaded") or {}, w.get("floor_quiet") or {}
    bl = b.get("loaded") or {}
    mem, bmem = w.get("memory") or {}, b.get("memory") or {}
    keys = sorted((k for k in mem if k.startswith("rss_mb_at_")),
                  key=lambda k: int(k.rsplit("_", 1)[1]))
    rows = [
        [f"Window event-loop lateness p99, {what}, "
         f"{cell(loaded.get('order_events_per_s'), 'order events/s', 1)}",
         cell(loaded.get("lateness_p99_ms"), digits=1),
         f"same window, no stream {cell(quiet.get('lateness_p99_ms'), digits=1)}; a frame 16 ms",
         "< 16 ms" + verdict(loaded.get("lateness_p99_ms"), 16.0),
         cell(bl.get("lateness_p99_ms"), digits=1)],
        ["Window event-loop lateness p50", cell(loaded.get("lateness_p50_ms"), digits=2),
         f"no stream {cell(quiet.get('lateness_p50_ms'), digits=2)}", "—",
         cell(bl.get("lateness_p50_ms"), digits=2)],
        ["Terminal CPU under that load (process time / wall)",
         cell(loaded.get("cpu_cores"), "cores", 2),
         f"no stream {cell(quiet.get('cpu_cores'), 'cores', 2)}",
         "< 0.5 core" + verdict(loaded.get("cpu_cores"), 0.5),
         cell(bl.get("cpu_cores"), "cores", 2)],
    ]
    for key in keys:
        n = key.rsplit("_", 1)[1]
        reached = mem.get(f"reached_for_{n}", n)
        short = f" (the filling budget ran out before {n})" if str(reached) != n and int(
            reached) < int(n) else ""
        rows.append([f"RSS after {reached} orders through OMS, journal and window{short}",
                     f"{mem[key]:.0f} MB", f"at start {mem.get('start_rss_mb', 0):.0f} MB", "—",
                     f"{bmem[key]:.0f} MB" if key in bmem else "—"])
    rates = mem.get("orders_per_s_while_filling") or []
    if len(rates) >= 2 and len(keys) >= 2:
        brates = bmem.get("orders_per_s_while_filling") or []
        rows.append([f"Orders through OMS and window per second, 0 → "
                     f"{keys[0].rsplit('_', 1)[1]} vs → {keys[-1].rsplit('_', 1)[1]} in the "
                     "tables (throttle off)", f"{rates[0]:.0f} vs {rates[-1]:.0f}/s", "—",
                     "the same at 10,000 rows as at 10",
                     f"{brates[0]:.0f} vs {brates[-1]:.0f}/s" if len(brates) >= 2 else "—"])
    if len(keys) >= 2:
        growth = mem[keys[-1]] - mem[keys[0]]
        old = (f"{bmem[keys[-1]] - bmem[keys[0]]:.0f} MB"
               if keys[0] in bmem and keys[-1] in bmem else "—")
        rows.append([f"RSS growth {keys[0].rsplit('_', 1)[1]} → {keys[-1].rsplit('_', 1)[1]} "
                     "orders", f"{growth:.0f} MB", "—", "< 50 MB" + verdict(growth, 50.0), old])
    return rows


def _startup_rows(now: dict, before: dict) -> list[list[str]]:
    s, b = now.get("startup") or {}, before.get("startup") or {}
    floors = s.get("floors_s") or {}
    floor = "; ".join(f"{k.replace('import_', 'import ')} {cell(v, 's', 2)}"
                      for k, v in floors.items())
    return [["`sigma9 --sim`: process start → window shown", cell(s.get("window_shown_s"), "s"),
             floor, "< 0.4 s" + verdict(s.get("window_shown_s"), 0.4),
             cell(b.get("window_shown_s"), "s")],
            ["`sigma9 --sim`: process start → connected", cell(s.get("connected_s"), "s"), "—",
             "< 0.6 s" + verdict(s.get("connected_s"), 0.6), cell(b.get("connected_s"), "s")]]


def _sim_rows(now: dict, before: dict) -> list[list[str]]:
    e, b = now.get("sim_engine") or {}, before.get("sim_engine") or {}
    rows = []
    floor = cell(e.get("floor_empty_step_ms"))
    for size, data in (e.get("resting") or {}).items():
        prior = _get(b, "resting", size) or {}
        rows.append([f"Simulator market step, {size} resting orders over "
                     f"{e.get('symbols', '?')} symbols", cell(data.get("step_ms")),
                     f"no orders {floor}", "< 5 ms at 10,000" + verdict(data.get("step_ms"), 5.0)
                     if size == "10000" else "—",
                     cell(prior.get("step_ms"))])
    for size, data in (e.get("resting") or {}).items():
        prior = _get(b, "resting", size) or {}
        rows.append([f"Simulator order intake, {size} resting", cell(
            data.get("intake_per_s"), "orders/s", 0), "—",
            "≥ 5,000/s" + verdict(data.get("intake_per_s"), 5000.0, below=False),
            cell(prior.get("intake_per_s"), "orders/s", 0)])
    return rows


def table(results: dict[str, Any], baseline: dict[str, Any] | None = None) -> str:
    now = results.get("figures", {})
    before = (baseline or {}).get("figures", {})
    m = results.get("machine", {})
    packages = ", ".join(f"{k} {v}" for k, v in (m.get("packages") or {}).items())
    lines = [
        f"Run: {m.get('date_utc', '?')}, commit `{m.get('git_commit', '?')}`"
        f"{' (with uncommitted changes)' if m.get('git_dirty') else ''}, scale "
        f"**{results.get('scale', '?')}**, {results.get('seconds', '?')} s. "
        f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores, Python "
        f"{m.get('python', '?')}, {m.get('platform', '?')}; {packages}. Load average "
        f"{_load(m.get('load_average_start'))} at the start, {_load(m.get('load_average_end'))}"
        " at the end.",
        "",
        "| what | Sigma9 | floor (same run) | target | before |",
        "|---|---|---|---|---|",
    ]
    for row in (_signal_rows(now, before) + _fill_rows(now, before) + _window_rows(now, before)
                + _startup_rows(now, before) + _sim_rows(now, before)):
        lines.append("| " + " | ".join(row) + " |")
    errors = {name: f["error"] for name, f in now.items() if isinstance(f, dict) and "error" in f}
    if errors:
        lines += ["", "Figures that failed in this run:"]
        lines += [f"- {name}: {text}" for name, text in errors.items()]
    return "\n".join(lines)


def _over(a: Any, b: Any) -> float | None:
    if not (isinstance(a, dict) and isinstance(b, dict)) or not b.get("median"):
        return None
    return float(a["median"] / b["median"])


def _load(values: Any) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"


def write(results: dict[str, Any], doc: Path) -> None:
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else None
    block = f"{BEGIN}\n{table(results, baseline)}\n{END}"
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{BEGIN}\n{END}\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    doc.write_text(text)
