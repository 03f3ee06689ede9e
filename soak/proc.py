"""The application process (``soak/app.py``) seen from the soak: start, talk, kill, stop.

Its stdout is read on a thread into a list of timestamped events, so the driver can wait for
one ("ready", a signal's answer) without blocking the monitor, and the episode log keeps
everything the application said.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent


class AppProcess:
    def __init__(self, settings: dict[str, Any], log_dir: Path) -> None:
        self.settings = settings
        self.log_dir = log_dir
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.generation = 0
        """Incremented on each start: events carry it, so a restart's 'ready' is its own."""
        self._proc: subprocess.Popen[str] | None = None
        self._cond = threading.Condition()
        self._stderr: IO[str] | None = None

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.generation += 1
        if self._stderr is not None:  # the previous generation's, after a kill
            self._stderr.close()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "SIGMA9_CONFIG": "",
               "QT_QPA_PLATFORM": "offscreen"}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", ""))
                                            if p)
        self._stderr = open(self.log_dir / f"app-{self.generation}.stderr", "w")  # noqa: SIM115
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "soak.app", "--settings", json.dumps(self.settings)],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, env=env, bufsize=1)
        gen = self.generation
        threading.Thread(target=self._read, args=(self._proc, gen), daemon=True,
                         name=f"soak-app-{gen}").start()

    def _read(self, proc: subprocess.Popen[str], gen: int) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                event = json.loads(line)
            except ValueError:
                event = {"event": "stdout", "line": line.rstrip()[:300]}
            event["gen"] = gen
            with self._cond:
                self.events.append((time.monotonic(), event))
                self._cond.notify_all()
        with self._cond:
            self.events.append((time.monotonic(), {"event": "exited", "gen": gen,
                                                   "rc": proc.wait()}))
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def ready(self) -> bool:
        """Started, reconciled and still running (this generation)."""
        return self.running and self.find(lambda e: e["event"] == "ready"
                                          and e["gen"] == self.generation) is not None

    def send(self, message: dict[str, Any]) -> bool:
        if not self.running or self._proc is None or self._proc.stdin is None:
            return False
        try:
            self._proc.stdin.write(json.dumps(message) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            return False
        return True

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed but what SQLite already committed."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, signal.SIGKILL)
            self._proc.wait(10)

    def stop(self, timeout: float = 15.0) -> bool:
        """A clean stop (the journal is closed); True if it ended by itself in time."""
        if self._proc is None:
            return True
        clean = True
        if self._proc.poll() is None:
            self.send({"op": "stop"})
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                clean = False
                self.kill()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None
        return clean and self._proc.returncode == 0

    # -- events ------------------------------------------------------------------------
    def find(self, pred: Callable[[dict[str, Any]], bool]) -> dict[str, Any] | None:
        with self._cond:
            return next((e for _, e in self.events if pred(e)), None)

    def wait_for(self, pred: Callable[[dict[str, Any]], bool],
                 timeout: float) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = next((e for _, e in self.events if pred(e)), None)
                left = deadline - time.monotonic()
                if found is not None or left <= 0:
                    return found
                self._cond.wait(min(left, 0.2))

    def wait_ready(self, timeout: float = 30.0) -> bool:
        gen = self.generation
        found = self.wait_for(lambda e: e["gen"] == gen and e["event"] in
                              ("ready", "start_failed", "exited"), timeout)
        return found is not None and found["event"] == "ready"

    def log_lines(self, since: float) -> list[str]:
        with self._cond:
            return [f"{t - since:7.2f} [{e['gen']}] {json.dumps(e)[:400]}"
                    for t, e in self.events]
