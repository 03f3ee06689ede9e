"""run_terminal: the desktop terminal's lifetime, from the first window to a clean stop.

The launcher runs it on a qasync loop::

    asyncio.run(run_terminal(settings, mode), loop_factory=qasync.QEventLoop)   # 3.11+
    qasync.run(run_terminal(settings, mode))                                    # 3.10

It builds the trading core and the window, shows the window, connects at once (with
``settings.broker``, which the launcher points at the simulator for ``--sim``), then waits
for the window to close. Closing stops the strategy runner and disconnects before returning,
so nothing is left half-sent. A refused connection is not fatal: the window stays up with the
reason in its log, and the trader can connect again.

ib_insync logs its own lines (e.g. ``Error 202, reqId 7: Order Canceled``) through the
``ib_insync`` logger; with no handler of its own Python would print them on the terminal
(logging's last resort). While the window is up they go to its log panel instead, as INFO
lines from ``ib_insync`` (IB's raw words: Sigma9's own reading of each code is the alert),
and not to the root logger (``ib_insync_to_panel``).

Exit codes: 0 after a clean stop; 1 if the core could not be built or did not stop cleanly
(the reason is printed as one ``sigma9: ...`` line and logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import sys
from collections.abc import Callable
from typing import Any

from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

from backend.runtime import TradingCore
from frontend.chart_slot import install_chart
from frontend.errors import ErrorReporter
from frontend.models.log import Level
from frontend.window import MainWindow

log = logging.getLogger("sigma9.ui")
IB_LOGGER = "ib_insync"


class _PanelLines(logging.Handler):
    """ib_insync's log records as lines of the window's log panel."""

    def __init__(self, append: Callable[[str], Any]) -> None:
        super().__init__(logging.INFO)
        self.append = append

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.append(f"{record.name}: {record.getMessage()}")


@contextlib.contextmanager
def ib_insync_to_panel(append: Callable[[str], Any]):
    """Route the ``ib_insync`` logger to ``append`` (not the terminal) for the block."""
    logger = logging.getLogger(IB_LOGGER)
    handler = _PanelLines(append)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate

EXIT_OK = 0
EXIT_FAILED = 1
CHART_AFTER_S = 1.0
"""The chart (pyqtgraph) is built once the connection is up, or after this long if it is
not yet: its import, a third of a second, would otherwise hold up the connection's
handshake (issue 12: window shown, then connected, as early as possible)."""


async def chart_when_connected(window: MainWindow, connecting: asyncio.Task) -> None:
    await asyncio.wait({connecting}, timeout=CHART_AFTER_S)
    install_chart(window)


async def run_terminal(settings: Any, mode: str, on_close: Callable[[], Any] | None = None,
                       qsettings: QSettings | None = None,
                       on_window: Callable[[MainWindow], Any] | None = None) -> int:
    """Run the terminal until its window closes; returns the process exit code.

    ``mode`` is ``"sim"`` when the endpoint is the built-in simulator (the badge says SIM),
    anything else for TWS/Gateway (PAPER or LIVE by account code). ``on_close`` runs after the
    core has stopped (e.g. to stop a simulator child); it may be a coroutine function.
    ``qsettings`` and ``on_window`` exist for tests and tools (screenshots).
    """
    app = QApplication.instance()
    if app is None:
        raise RuntimeError("run_terminal needs a QApplication: run it on a qasync.QEventLoop")
    loop = asyncio.get_running_loop()
    try:
        core = TradingCore.build(settings)
    except Exception as exc:
        print(f"sigma9: the trading core could not start: {exc}", file=sys.stderr)
        log.exception("TradingCore.build failed")
        return EXIT_FAILED
    # The window's close, not Qt's last-window rule, ends the session: the core must stop
    # while the loop still runs.
    app.setQuitOnLastWindowClosed(False)
    window = MainWindow(core, settings, mode, qsettings, lazy_chart=True)
    reporter = ErrorReporter(window).install(loop)
    reporter.listeners.append(
        lambda title, message: window.log.append(Level.ERROR, "error", f"{title}: {message}"))
    closed = asyncio.Event()
    window.closed.connect(closed.set)
    app.aboutToQuit.connect(window.close_now)
    window.show()
    if on_window is not None:
        on_window(window)
    ib_lines = contextlib.ExitStack()
    ib_lines.enter_context(ib_insync_to_panel(
        lambda text: window.log.append(Level.INFO, IB_LOGGER, text)))
    connecting = window.spawn(window.connect_broker())
    window.spawn(chart_when_connected(window, connecting))
    code = EXIT_OK
    try:
        await closed.wait()
    finally:
        window.close_now()  # cancelled from outside: no question left pending (idempotent)
        if not connecting.done():
            connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await connecting
        await window.drain()
        try:
            await core.stop()
        except Exception as exc:
            print(f"sigma9: the trading core did not stop cleanly: {exc}", file=sys.stderr)
            log.exception("TradingCore.stop failed")
            code = EXIT_FAILED
        reporter.uninstall()
        ib_lines.close()
        with contextlib.suppress(TypeError, RuntimeError):
            app.aboutToQuit.disconnect(window.close_now)
        window.deleteLater()
        if on_close is not None:
            result = on_close()
            if inspect.isawaitable(result):
                await result
    return code
