"""Errors reach the trader: an exception in a slot shows a dialog, never a silent failure.

Where exceptions go in a qasync application, and how each is caught here:

* a plain Qt slot: PyQt6 passes it to ``sys.excepthook`` (whose default aborts the app);
* an ``@asyncSlot`` coroutine: qasync's done-callback passes it to ``sys.excepthook`` too;
* a task nobody awaits (``loop.create_task``): the loop's exception handler.

``ErrorReporter`` becomes all three: it logs the traceback, tells its listeners (the log
panel) and shows a dialog. Headless mode has no window: ``ConsoleReporter`` takes the same
three places and prints one ``sigma9:`` line instead. Either way an exception in a slot can
never reach PyQt6's default handling, which aborts the process (qFatal, SIGABRT).

Failures Sigma9 words itself (a journal that cannot be written, a broker refusal) are shown
as their sentence, with no exception class in front: :func:`headline`.

The dialog is modeless (``show()``, not ``exec()``): ``exec()``
would spin a nested Qt event loop inside an asyncio callback, the trap of
docs/ib-orders.md P10. At most ``max_open`` dialogs are open at once, so an error repeated on
every tick cannot bury the screen; the rest still reach the log.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QMessageBox, QWidget

log = logging.getLogger("sigma9.ui")

ErrorListener = Callable[[str, str], None]
"""Called with (title, one-line message) for every reported error."""

WORDED_ERRORS: dict[str, str] = {
    "JournalError": "Journal write failed",
    "BrokerError": "Broker refused",
    "ConnectFailed": "Connection failed",
    "NotConnected": "Not connected",
    "UnknownSymbol": "Unknown symbol",
    "NonPaperAccount": "Order refused",
    "SettingsError": "Configuration error",
}
"""Exceptions whose ``str`` is already one sentence for the trader (by class name, so the UI
need not import the broker), and the title each is shown under."""


def headline(exc: BaseException) -> tuple[str, str]:
    """(title, one-line message) for ``exc``: its own sentence when Sigma9 worded it."""
    for klass in type(exc).__mro__:
        if klass.__name__ in WORDED_ERRORS:
            return WORDED_ERRORS[klass.__name__], " ".join(str(exc).split())
    text = " ".join(str(exc).split())
    return "Unexpected error", f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class ErrorReporter:
    def __init__(self, parent: QWidget | None = None, max_open: int = 3) -> None:
        self.parent = parent
        self.max_open = max_open
        self.listeners: list[ErrorListener] = []
        self.dialogs: list[QMessageBox] = []
        self.reported: list[tuple[str, str]] = []
        self._previous_hook: Callable[..., Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- installing --------------------------------------------------------------------
    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> ErrorReporter:
        """Become ``sys.excepthook`` (and ``loop``'s exception handler, if given)."""
        if self._previous_hook is None:
            self._previous_hook = sys.excepthook
            sys.excepthook = self.excepthook
        if loop is not None:
            loop.set_exception_handler(self.loop_handler)
            self._loop = loop
        return self

    def uninstall(self) -> None:
        if self._previous_hook is not None and sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        self._previous_hook = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.set_exception_handler(None)
        self._loop = None
        for dialog in list(self.dialogs):
            dialog.close()

    # -- the hooks -------------------------------------------------------------------------
    def excepthook(self, exc_type: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt) and self._previous_hook is not None:
            self._previous_hook(exc_type, exc, tb)
            return
        details = "".join(traceback.format_exception(exc_type, exc, tb))
        self.report(*headline(exc), details)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        message = context.get("message", "")
        if exc is None:
            log.warning("asyncio: %s", message)
            return
        details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        title, text = headline(exc)
        self.report("Background task failed" if title == "Unexpected error" else title, text,
                    f"{message}\n\n{details}")

    # -- reporting ----------------------------------------------------------------------------
    def report(self, title: str, message: str, details: str = "") -> None:
        log.error("%s: %s\n%s", title, message, details)
        self.reported.append((title, message))
        for listener in list(self.listeners):
            try:
                listener(title, message)
            except Exception:  # the reporter itself must never raise
                log.exception("error listener failed")
        if len(self.dialogs) < self.max_open:
            self._show(title, message, details)

    def _show(self, title: str, message: str, details: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Critical, f"Sigma9: {title}", message,
                          QMessageBox.StandardButton.Ok, self.parent)
        if details:
            box.setDetailedText(details)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.setWindowModality(Qt.WindowModality.NonModal)
        self.dialogs.append(box)
        box.finished.connect(lambda _result, b=box: self._forget(b))
        box.show()

    def _forget(self, box: QMessageBox) -> None:
        if box in self.dialogs:
            self.dialogs.remove(box)


def install_excepthook(parent: QWidget | None = None,
                       loop: asyncio.AbstractEventLoop | None = None) -> ErrorReporter:
    """Route slot and task exceptions to a dialog; returns the reporter (``uninstall()``)."""
    return ErrorReporter(parent).install(loop)


class ConsoleReporter:
    """Headless mode's ``ErrorReporter``: one ``sigma9:`` line per error, never a traceback.

    It takes ``sys.excepthook`` (so an exception in a Qt slot, a broker event handler or an
    ``asyncSlot`` cannot abort the process) and, if given, the loop's exception handler. The
    traceback goes to the log at DEBUG, where ``-v`` shows it. The same line repeated (an
    error on every tick) is printed once; the count is in ``reported``.
    """

    def __init__(self, err: TextIO | None = None) -> None:
        self.err = err
        self.reported: list[tuple[str, str]] = []
        self._seen: set[tuple[str, str]] = set()
        self._previous_hook: Callable[..., Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> ConsoleReporter:
        if self._previous_hook is None:
            self._previous_hook = sys.excepthook
            sys.excepthook = self.excepthook
        if loop is not None:
            loop.set_exception_handler(self.loop_handler)
            self._loop = loop
        return self

    def uninstall(self) -> None:
        if self._previous_hook is not None and sys.excepthook == self.excepthook:
            sys.excepthook = self._previous_hook
        self._previous_hook = None
        if self._loop is not None and not self._loop.is_closed():
            self._loop.set_exception_handler(None)
        self._loop = None

    def excepthook(self, exc_type: type[BaseException], exc: BaseException,
                   tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt) and self._previous_hook is not None:
            self._previous_hook(exc_type, exc, tb)
            return
        self.report(exc, tb)

    def loop_handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if exc is None:
            log.warning("asyncio: %s", context.get("message", ""))
            return
        self.report(exc, exc.__traceback__)

    def report(self, exc: BaseException, tb: TracebackType | None = None) -> None:
        title, message = headline(exc)
        log.debug("%s: %s\n%s", title, message,
                  "".join(traceback.format_exception(type(exc), exc, tb)))
        repeated = (title, message) in self._seen
        self._seen.add((title, message))
        if len(self.reported) < 1000:  # a record for tests and tools, bounded
            self.reported.append((title, message))
        if not repeated:
            print(f"sigma9: {title.lower()}: {message}", file=self.err or sys.stderr,
                  flush=True)
