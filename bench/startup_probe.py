"""``sigma9 --sim`` with two timestamps: run as ``python -m bench.startup_probe --sim``.

The terminal is started exactly as the ``sigma9`` script starts it (``frontend.main.main``),
with ``run_terminal`` given the ``on_window`` callback it offers tools: it prints
``SHOWN <epoch>`` once the window is shown, ``CONNECTED <epoch>`` once the broker
connection is up, then closes the window, so the session ends as a user's would.
No terminal code is changed for this.
"""

from __future__ import annotations

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


def main() -> int:
    from frontend import main as entry
    from frontend import terminal

    run_terminal = terminal.run_terminal

    async def probed(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("on_window", _probe)
        return await run_terminal(*args, **kwargs)

    terminal.run_terminal = probed  # type: ignore[assignment]
    return entry.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
