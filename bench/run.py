"""``make bench``: run every figure, write bench/results.json and docs/performance.md.

Usage: ``python -m bench [--quick] [--only NAME[,NAME...]] [--out FILE] [--no-doc]``.
Full scale is what docs/performance.md reports; ``--quick`` runs the same figures with
fewer repetitions and a shorter session (500 signals instead of 5,000) in a few minutes.
A figure that fails is recorded with its error and the others still run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = {
    "signal_wire": "bench.signal_wire",
    "fill_protect": "bench.fill_protect",
    "window_load": "bench.window_load",
    "startup": "bench.startup",
    "sim_engine": "bench.sim_engine",
}
"""Figure name -> module with ``run(scale) -> dict``; figure 4 (memory) is measured in
``window_load``'s session, where the 10,000 orders are put into the window's tables."""
PACKAGES = ("ib_insync", "PyQt6", "pyqtgraph", "qasync", "pydantic", "pydantic-settings")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine() -> dict[str, Any]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    dirty = _git("status", "--porcelain", "--untracked-files=no")
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "packages": versions,
            "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "git_commit": _git("rev-parse", "--short", "HEAD"),
            "git_dirty": bool(dirty and dirty != "unknown"),
            "load_average_start": list(os.getloadavg())}


def run_figures(names: list[str], scale: str) -> dict[str, Any]:
    """Each figure in its own interpreter (``bench.figure``); a failure is recorded with
    the end of its error output and the others still run."""
    figures: dict[str, Any] = {}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p))
    for name in names:
        print(f"bench: {name} ({scale}) ...", flush=True)
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / f"{name}.json"
            proc = subprocess.run([sys.executable, "-m", "bench.figure", name, scale,
                                   str(out)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            if proc.returncode == 0 and out.exists():
                figures[name] = json.loads(out.read_text())
            else:
                tail = [line for line in proc.stderr.splitlines() if line.strip()][-12:]
                figures[name] = {"error": tail[-1] if tail else f"exit {proc.returncode}",
                                 "traceback": "\n".join(tail)}
                print(f"bench: {name} failed: {figures[name]['error']}", file=sys.stderr,
                      flush=True)
        figures[name]["seconds"] = round(time.monotonic() - started, 1)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, shorter session")
    parser.add_argument("--smoke", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--only", default="", help="comma-separated figures: "
                        + ", ".join(FIGURES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs" / "performance.md"))
    parser.add_argument("--no-doc", action="store_true", help="write results.json only")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(FIGURES)
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        print(f"bench: unknown figure {', '.join(unknown)} (one of {', '.join(FIGURES)})",
              file=sys.stderr)
        return 2
    scale = "smoke" if args.smoke else "quick" if args.quick else "full"
    started = time.monotonic()
    results = {"machine": machine(), "scale": scale, "figures": run_figures(names, scale)}
    results["machine"]["load_average_end"] = list(os.getloadavg())
    results["seconds"] = round(time.monotonic() - started, 1)
    Path(args.out).write_text(json.dumps(results, indent=1, default=str) + "\n")
    print(f"bench: wrote {args.out} in {results['seconds']} s", flush=True)
    if not args.no_doc:
        from bench.report import write

        write(results, Path(args.doc))
        print(f"bench: wrote {args.doc}", flush=True)
    return 1 if any("error" in f for f in results["figures"].values()) else 0
