"""The soak's summary: episodes, faults by kind, violations by invariant, time to recover.

Pure: built from ``EpisodeResult`` objects, printed as text and written as JSON.
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from soak.episode import EpisodeResult

INVARIANTS = {
    "I1": "every position covered by a working stop / active trail, or being flattened",
    "I2": "no signal id with more than one entry at the broker",
    "I3": "journal fills equal the broker's executions",
    "I4": "realized P&L equals fills minus commissions (broker and journal)",
    "I5": "nothing in limbo after recovery (untransmitted, pending, stale journal, short)",
    "restart": "the application restarts and reconciles on its own journal",
}


def replay_command(seed: int) -> str:
    return f"python -m soak --replay {seed}"


def summarize(results: list[EpisodeResult], args: dict[str, Any]) -> dict[str, Any]:
    faults = Counter(k for r in results for k in r.faults)
    by_invariant: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        for v in r.violations:
            by_invariant.setdefault(v.invariant, []).append(
                {"seed": r.seed, "key": v.key, "text": v.text})
    recoveries = [s for r in results for _, s in r.recoveries if s is not None]
    unrecovered = Counter(k for r in results for k, s in r.recoveries if s is None)
    failing = sorted({r.seed for r in results if r.violations or r.error})
    return {
        "args": args,
        "episodes": len(results),
        "episodes_with_violations": sum(1 for r in results if r.violations),
        "harness_errors": [{"seed": r.seed, "error": r.error} for r in results if r.error],
        "faults": dict(sorted(faults.items())),
        "violations": {k: {"count": len(v), "episodes": len({x["seed"] for x in v}),
                           "items": v} for k, v in sorted(by_invariant.items())},
        "recovery_s": _stats(recoveries),
        "recovery_s_by_fault": {k: _stats([s for r in results for kind, s in r.recoveries
                                           if kind == k and s is not None])
                                for k in sorted(faults)},
        "unrecovered_faults": dict(sorted(unrecovered.items())),
        "failing_seeds": failing,
        "replay": {str(s): replay_command(s) for s in failing},
        "episode_results": [r.to_dict() for r in results],
    }


def _stats(values: list[float]) -> dict[str, Any]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"n": len(values), "median": round(statistics.median(ordered), 2),
            "p95": round(p95, 2), "max": round(ordered[-1], 2)}


def format_summary(s: dict[str, Any], max_items: int = 3) -> list[str]:
    lines = [f"soak: {s['episodes']} episodes, {s['episodes_with_violations']} with "
             "violations" + (f", {len(s['harness_errors'])} harness errors"
                             if s["harness_errors"] else "")]
    lines.append("faults injected: " + (", ".join(f"{k} {n}" for k, n in s["faults"].items())
                                        or "none"))
    r = s["recovery_s"]
    lines.append("time to recover: " + (f"median {r['median']}s, p95 {r['p95']}s, max "
                                        f"{r['max']}s over {r['n']} faults" if r["n"]
                                        else "no fault recovered"))
    by_kind = [f"{k} {v['median']}s" for k, v in s["recovery_s_by_fault"].items() if v["n"]]
    if by_kind:
        lines.append("  median by fault: " + ", ".join(by_kind))
    if s["unrecovered_faults"]:
        lines.append("never recovered: " + ", ".join(
            f"{k} {n}" for k, n in s["unrecovered_faults"].items()))
    lines.append("violations by invariant:")
    for key, title in INVARIANTS.items():
        v = s["violations"].get(key)
        if v is None:
            lines.append(f"  {key}: 0  ({title})")
            continue
        lines.append(f"  {key}: {v['count']} in {v['episodes']} episodes  ({title})")
        for item in v["items"][:max_items]:
            lines.append(f"      seed {item['seed']}: {item['text']}")
        if len(v["items"]) > max_items:
            lines.append(f"      ... {len(v['items']) - max_items} more in the JSON")
    for e in s["harness_errors"][:5]:
        lines.append(f"harness error, seed {e['seed']}: {e['error']}")
    if s["failing_seeds"]:
        lines.append("replay a failing seed:")
        lines += [f"  {cmd}" for cmd in list(s["replay"].values())[:20]]
        if len(s["replay"]) > 20:
            lines.append(f"  ... {len(s['replay']) - 20} more seeds in the JSON")
    return lines
