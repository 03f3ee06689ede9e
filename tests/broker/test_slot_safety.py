"""No exception in a Qt slot may take the process down: proven in a child process.

PyQt6 hands an exception raised in a slot to ``sys.excepthook``; with the default hook it
then calls qFatal, which aborts the process (SIGABRT). That is how an OverflowError in
``Journal.upsert_order``, inside the OrderManager's slot for a broker report, ended the whole
terminal (issue 10). The terminal installs ``frontend.errors.ErrorReporter``; headless mode
now installs ``ConsoleReporter``. Each case runs in its own interpreter, because the failure
being guarded against is the death of the interpreter.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
from PyQt6.QtCore import QCoreApplication, QObject, pyqtSignal
from backend.core.journal import JournalError
from frontend.errors import ConsoleReporter

class Source(QObject):
    report = pyqtSignal(object)

def slot(record):
    raise {error}

app = QCoreApplication([])
if {install}:
    ConsoleReporter(sys.stderr).install()
source = Source()
source.report.connect(slot)
source.report.emit("a broker report")
source.report.emit("the same report again")
print("still running", flush=True)
"""


def run(error: str, install: bool) -> subprocess.CompletedProcess:
    code = SCRIPT.format(repo=str(REPO), error=error, install=install)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin"})


def test_without_a_hook_a_slot_exception_aborts_the_process():
    # The hazard itself, so the test below is known to guard against something real.
    proc = run("OverflowError('Python int too large to convert to SQLite INTEGER')", False)
    assert proc.returncode == -signal.SIGABRT, (proc.returncode, proc.stderr[-500:])
    assert "still running" not in proc.stdout


@pytest.mark.parametrize(("error", "line"), [
    ("OverflowError('Python int too large to convert to SQLite INTEGER')",
     "sigma9: unexpected error: OverflowError: Python int too large to convert to SQLite "
     "INTEGER"),
    ("JournalError('the journal at /j could not store order 7: the disk is full "
     "(database or disk is full); nothing of it was written')",
     "sigma9: journal write failed: the journal at /j could not store order 7: the disk is "
     "full (database or disk is full); nothing of it was written"),
], ids=["overflow", "journal-sentence"])
def test_with_the_console_reporter_the_process_carries_on_and_says_one_line(error, line):
    proc = run(error, True)

    assert proc.returncode == 0, proc.stderr[-500:]
    assert proc.stdout.strip() == "still running"
    assert proc.stderr.splitlines() == [line], "one line, said once, no traceback"


@pytest.mark.asyncio
async def test_the_headless_run_holds_the_console_reporter_while_it_runs(monkeypatch):
    import io

    import frontend.headless as headless
    from frontend.errors import ConsoleReporter

    seen = []

    async def session(*args, **kwargs) -> int:
        seen.append(sys.excepthook)
        return 0

    monkeypatch.setattr(headless, "_session", session)
    before = sys.excepthook

    assert await headless.run_headless(object(), 0, out=io.StringIO(), err=io.StringIO()) == 0

    assert isinstance(getattr(seen[0], "__self__", None), ConsoleReporter)
    assert sys.excepthook is before, "given back when the run ends"


def test_worded_errors_are_shown_as_their_sentence():
    from backend.broker.errors import NonPaperAccount, NotConnected
    from backend.core.journal import JournalError
    from frontend.errors import headline

    assert headline(JournalError("the journal at /j could not store order 7: the disk is "
                                 "full; nothing of it was written")) == (
        "Journal write failed",
        "the journal at /j could not store order 7: the disk is full; nothing of it was "
        "written")
    assert headline(NotConnected()) == ("Not connected", "not connected to TWS/IB Gateway")
    assert headline(NonPaperAccount("U1", "AAPL"))[0] == "Order refused"
    assert headline(ValueError("bad\nvalue")) == ("Unexpected error", "ValueError: bad value")
    assert headline(KeyError()) == ("Unexpected error", "KeyError")
