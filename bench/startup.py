"""Figure 5, start-up: process start to window shown, and to connected, with ``--sim``.

Each repetition starts a fresh interpreter (``python -m bench.startup_probe --sim``, the
``sigma9`` entry point with a timestamping ``on_window`` hook), with HOME set to a
throwaway directory so no user settings or journal are read or written. The clock is the
wall clock (``time.time``), read by the parent just before it starts the child and by the
child at each moment. The floors, interleaved with each repetition: a bare interpreter,
and interpreters that only import PyQt6's widgets, ib_insync and pyqtgraph.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stats import summary

FLOORS = {"python": "pass", "import_pyqt6": "import PyQt6.QtWidgets",
          "import_ib_insync": "import ib_insync", "import_pyqtgraph": "import pyqtgraph"}


def _env(home: str) -> dict[str, str]:
    env = dict(os.environ, HOME=home, QT_QPA_PLATFORM="offscreen", XDG_CONFIG_HOME=home,
               XDG_DATA_HOME=home)
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


def _floor(code: str, env: dict[str, str]) -> float:
    start = time.time()
    subprocess.run([sys.executable, "-c", code], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - start


def _terminal(env: dict[str, str]) -> tuple[float, float]:
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "bench.startup_probe", "--sim"], env=env,
                          capture_output=True, text=True, timeout=60)
    stamps = dict(line.split()[:2] for line in proc.stdout.splitlines()
                  if line.startswith(("SHOWN ", "CONNECTED ")))
    if "SHOWN" not in stamps or "CONNECTED" not in stamps:
        raise RuntimeError(f"sigma9 --sim printed no timestamps (exit {proc.returncode}): "
                           f"{proc.stderr.strip().splitlines()[-1:]}")
    return float(stamps["SHOWN"]) - start, float(stamps["CONNECTED"]) - start


def run(scale: str = "full") -> dict[str, Any]:
    reps = {"smoke": 1, "quick": 3}.get(scale, 5)
    shown, connected = [], []
    floors: dict[str, list[float]] = {name: [] for name in FLOORS}
    with tempfile.TemporaryDirectory() as home:
        env = _env(home)
        _terminal(env)  # a first run compiles bytecode; not counted
        for _ in range(reps):
            for name, code in FLOORS.items():
                floors[name].append(_floor(code, env))
            a, b = _terminal(env)
            shown.append(a)
            connected.append(b)
    return {"window_shown_s": summary(shown), "connected_s": summary(connected),
            "floors_s": {name: summary(v) for name, v in floors.items()}}
