"""``sigma9 --sim`` with two timestamps: run as ``python -m bench.startup_probe --sim``.

The terminal is started exactly as the ``sigma9`` script starts it (``frontend.main.main``),
with ``run_terminal`` given the ``on_window`` callback it offers tools: it prints
``SHOWN <epoch>`` once the window is shown, ``CONNECTED <epoch>`` once the broker
connection is up, then closes the window, so the session ends as a user's would.
No terminal code is changed for this, and the probe imports nothing of the terminal
before ``main`` does (``run_terminal`` is wrapped as the launcher imports it).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import time
from typing import Any


def _probe(window: Any) -> None:
    from PyQt6.QtCore import QTimer

    print(f"SHOWN {time.time():.6f}", flush=True)
    poll = QTimer(window)
    poll.setInterval(2)

    def check() -> None:
        if window.core.connector.is_connected():
            poll.stop()
            print(f"CONNECTED {time.time():.6f}", flush=True)
            QTimer.singleShot(0, window.close_now)

    poll.timeout.connect(check)
    poll.start()


def _wrap(terminal: Any) -> None:
    run_terminal = terminal.run_terminal

    async def probed(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("on_window", _probe)
        return await run_terminal(*args, **kwargs)

    terminal.run_terminal = probed


class _WrapWhenImported(importlib.abc.MetaPathFinder):
    """Wraps ``frontend.terminal.run_terminal`` when the launcher imports it, so the probe
    does not import the terminal (and its libraries) before ``main`` runs: the launcher
    starts the simulator child first and imports the window while it starts."""

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "frontend.terminal":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None:
            return spec
        loader: Any = spec.loader
        exec_module = loader.exec_module

        def exec_and_wrap(module: Any) -> None:
            exec_module(module)
            _wrap(module)

        loader.exec_module = exec_and_wrap
        return spec


def main() -> int:
    from frontend import main as entry

    sys.meta_path.insert(0, _WrapWhenImported())
    return entry.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
