"""Fixtures for the terminal's GUI tests: offscreen Qt, a qasync loop, a terminal on the sim.

The asyncio loop is a ``qasync.QEventLoop`` over pytest-qt's QApplication, made per test and
closed after it, so Qt events (clicks, timers, repaints) and ib_insync's socket run on one
loop exactly as in the terminal. A scenario is an async function run to completion with a
30 s ceiling (the tests aim for well under 5 s each).

Error dialogs never block a test: ``frontend.errors.QMessageBox`` is replaced by a recorder,
and a GUI test fails at the end if anything reached the error reporter unexpectedly.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the app

import pytest  # noqa: E402
import qasync  # noqa: E402
from PyQt6.QtCore import QSettings  # noqa: E402

from backend.runtime import TradingCore  # noqa: E402
from backend.sim import SimThread  # noqa: E402
from frontend import errors as errors_module  # noqa: E402
from tests.oms.conftest import make_settings  # noqa: E402
from tests.sim.conftest import quiet_config  # noqa: E402


class RecordingBox:
    """Stands in for QMessageBox in ``frontend.errors``: records instead of showing."""

    shown: list[RecordingBox] = []

    class Icon:
        Critical = 3

    class StandardButton:
        Ok = 0x400

    def __init__(self, icon, title: str, text: str, buttons=None, parent=None) -> None:
        self.title, self.text, self.details = title, text, ""

        class _Signal:
            def connect(self, fn) -> None:
                pass

        self.finished = _Signal()

    def setDetailedText(self, text: str) -> None:
        self.details = text

    def setAttribute(self, *args) -> None:
        pass

    def setWindowModality(self, *args) -> None:
        pass

    def show(self) -> None:
        RecordingBox.shown.append(self)

    def close(self) -> None:
        pass


@pytest.fixture
def dialogs(monkeypatch) -> list[RecordingBox]:
    RecordingBox.shown = []
    monkeypatch.setattr(errors_module, "QMessageBox", RecordingBox)
    return RecordingBox.shown


@pytest.fixture
def run(qapp, dialogs) -> Iterator[Callable[..., Any]]:
    """``run(scenario)``: drive ``scenario()`` on a fresh qasync loop with an error reporter."""
    qapp.setQuitOnLastWindowClosed(False)  # as run_terminal does: closing ends no loop
    loop = qasync.QEventLoop(qapp)
    asyncio.set_event_loop(loop)
    reporter = errors_module.ErrorReporter().install(loop)

    def go(scenario: Callable[[], Any], timeout: float = 30) -> Any:
        return loop.run_until_complete(asyncio.wait_for(scenario(), timeout))

    go.reporter = reporter  # type: ignore[attr-defined]
    yield go
    reporter.uninstall()
    loop.close()
    # Back to "no loop was ever set" (not set_event_loop(None), which forbids the implicit
    # loop that blocking ib_insync calls in later tests rely on).
    asyncio.set_event_loop_policy(None)


@pytest.fixture
def sim() -> Iterator[SimThread]:
    with SimThread(quiet_config()) as thread:
        thread.set_price("AAPL", "100.00")
        yield thread


@pytest.fixture
def qsettings(tmp_path: Path) -> QSettings:
    """A throwaway INI file: the tests never read or write the user's settings."""
    return QSettings(str(tmp_path / "sigma9-ui.ini"), QSettings.Format.IniFormat)


def terminal_settings(sim: SimThread, tmp_path: Path, **sections):
    base = {"strategy": {"bar_size_s": 60, "warmup_duration": "120 S",
                         "watchlist": ["AAPL", "MSFT"]},
            # The test simulator is always open (its default): the OMS's calendar agrees.
            "entry": {"market_hours": "always_open"},
            "ui": {"tick_repaint_ms": 50, "log_max_lines": 500}}
    for name, values in sections.items():
        base[name] = {**base.get(name, {}), **values}
    return make_settings(sim, tmp_path / "journal.sqlite3", **base)


@contextlib.asynccontextmanager
async def open_terminal(sim: SimThread, tmp_path: Path, qsettings: QSettings, mode: str = "sim",
                        **sections) -> AsyncIterator[tuple[TradingCore, Any]]:
    """A TradingCore and its shown MainWindow, not yet connected; closed and stopped after."""
    from frontend.window import MainWindow

    settings = terminal_settings(sim, tmp_path, **sections)
    core = TradingCore.build(settings)
    window = MainWindow(core, settings, mode, qsettings)
    window.server_timer.stop()  # the tests poll the server time themselves
    window.show()
    try:
        yield core, window
    finally:
        window.close_now()  # no quit question: the test's trade may still be open
        await window.drain()
        await core.stop()
