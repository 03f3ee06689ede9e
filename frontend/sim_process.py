"""``sigma9 --sim``: the simulator as a child process that never outlives the terminal.

Why a child process and not a thread: the simulator runs its own asyncio loop and matching
engine; in a separate process it can neither stall the GUI thread nor be stalled by it, and it
is exactly what a trader would run by hand (``sigma9-sim``), so ``--sim`` tests the real wire.

The child is started with ``--port 0`` (unless ``sim.port`` says otherwise): the kernel picks a
free port, so two terminals never race for one, and the child's serving line
(``sigma9-sim: serving ... on HOST:PORT ...``) tells us which port it got.

How the child is guaranteed to end:

1. :class:`SimProcess` is a context manager; the launcher wraps the whole session in it, so a
   normal return, an exception, Ctrl+C (KeyboardInterrupt) and ``sys.exit`` all run
   :meth:`SimProcess.stop`.
2. :meth:`stop` sends SIGTERM (the simulator shuts down cleanly on it; on Windows this is
   TerminateProcess), waits ``stop_timeout`` seconds, then kills.
3. ``atexit`` calls :meth:`stop` too, for exit paths that skip the ``with`` block.
4. On Linux the child asks the kernel for SIGTERM when its parent dies
   (``PR_SET_PDEATHSIG``), which covers the parent being SIGKILLed or crashing in C++.
   There it also gets its own session, so a terminal Ctrl+C reaches only the parent, which
   then disconnects before stopping the child, instead of both dying in a random order.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import ctypes.util
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: an open SQLite file cannot be deleted there anyway
    fcntl = None  # type: ignore[assignment]

SERVING = re.compile(r"^sigma9-sim: serving (?P<symbols>\S*) on (?P<host>\S+):(?P<port>\d+)\b")
_PROJECT_ROOT = Path(__file__).resolve().parents[1]
_WILDCARD_HOSTS = {"0.0.0.0", "::", "", "*"}
_EOF = None


class SimStartError(Exception):
    """The simulator did not start; ``str`` is one line for the user, naming the cause."""


def sim_command(sim: Any, extra_args: Sequence[str] = (),
                python: str = sys.executable) -> list[str]:
    """``python -m backend.sim.cli ...`` for the ``[sim]`` settings section ``sim``.

    The interpreter running Sigma9 runs the child too, so the venv (and its ib_insync-free
    simulator) is the same one, whatever ``PATH`` says.
    """
    return [python, "-m", "backend.sim.cli",
            "--host", sim.host, "--port", str(sim.port),
            "--symbols", ",".join(sim.symbols), "--seed", str(sim.seed),
            "--tick-interval", repr(sim.tick_interval_s),
            "--volatility", repr(sim.volatility), "--drift", repr(sim.drift),
            "--account", sim.account, "--cash", repr(sim.starting_cash),
            "--commission-per-share", repr(sim.commission_per_share),
            "--commission-min", repr(sim.commission_min),
            "--log-level", "WARNING", *extra_args]


def _pdeathsig_preexec() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGTERM the child when this thread's process dies.

    libc and prctl are looked up here, in the parent: after fork only the call itself runs
    (no dlopen, no allocation), which is what makes a preexec_fn safe. The kernel ties the
    signal to the *thread* that forked, so this is only used from the main thread.
    """
    if not sys.platform.startswith("linux") or threading.current_thread() is not \
            threading.main_thread():
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


class SimProcess:
    """One ``sigma9-sim`` child: ``start()`` returns once it listens; ``stop()`` ends it."""

    def __init__(self, argv: Sequence[str], *, startup_timeout: float = 20.0,
                 stop_timeout: float = 3.0) -> None:
        self.argv = list(argv)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[str] | None = None
        self.host = ""
        self.port = 0
        self.symbols: tuple[str, ...] = ()
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._readers: list[threading.Thread] = []
        self._serving = threading.Event()

    @classmethod
    def from_settings(cls, sim: Any, extra_args: Sequence[str] = (), **kwargs: Any) -> SimProcess:
        return cls(sim_command(sim, extra_args), **kwargs)

    # -- lifecycle -------------------------------------------------------------------
    def start(self, wait: bool = True) -> SimProcess:
        """Spawn the child and block until its serving line (or raise SimStartError).

        Blocking is fine: the launcher calls this before the GUI or the event loop exists.
        With ``wait=False`` it returns at once and :meth:`wait_serving` blocks later: the
        launcher builds the terminal's imports and window while the child starts (its own
        imports take about as long, on another core), instead of one after the other.
        """
        if self.process is not None:
            raise RuntimeError("SimProcess.start() called twice")
        preexec = _pdeathsig_preexec()
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "PYTHONPATH": os.pathsep.join(
                   p for p in (str(_PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p)}
        try:
            self.process = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, bufsize=1, env=env,
                preexec_fn=preexec, start_new_session=preexec is not None)
        except OSError as exc:
            raise SimStartError(f"cannot start the simulator ({self.argv[0]}): "
                                f"{exc.strerror or exc}") from None
        atexit.register(self.stop)
        assert self.process.stdout is not None and self.process.stderr is not None
        self._reader(self.process.stdout, self._on_stdout, eof=True)
        self._reader(self.process.stderr, self._stderr_tail.append)
        if wait:
            self.wait_serving()
        return self

    def wait_serving(self) -> SimProcess:
        """Block until the started child reports its port (at once if it already did);
        SimStartError (the child stopped) if it exits or stays silent past the timeout."""
        if self._serving.is_set():
            return self
        if self.process is None:
            raise RuntimeError("SimProcess.wait_serving() before start()")
        try:
            self._wait_for_serving()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_for_serving(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SimStartError(f"the simulator did not report a listening port within "
                                    f"{self.startup_timeout:g}s{self._tail_note()}")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is _EOF:
                self._join_readers(2.0)
                code = self.process.wait(5) if self.process else None
                raise SimStartError(f"the simulator exited (status {code}) before listening"
                                    f"{self._tail_note()}")
            match = SERVING.match(line)
            if match:
                host = match["host"]
                self.host = "127.0.0.1" if host in _WILDCARD_HOSTS else host
                self.port = int(match["port"])
                self.symbols = tuple(s for s in match["symbols"].split(",") if s)
                self._serving.set()
                return

    def stop(self) -> int | None:
        """End the child (SIGTERM, then kill after ``stop_timeout``); returns its exit status.

        Idempotent and safe from ``atexit``, ``__exit__`` and ``finally`` alike.
        """
        proc = self.process
        if proc is None:
            return None
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait(5)
        self._join_readers(2.0)
        for pipe in (proc.stdout, proc.stderr):
            with contextlib.suppress(Exception):
                pipe.close()
        return proc.returncode

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- state -----------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def exit_reason(self) -> str | None:
        """None while the child runs; else one line saying how it ended (for the UI)."""
        if self.process is None or self.process.poll() is None:
            return None
        return f"the simulator exited (status {self.process.returncode}){self._tail_note()}"

    # -- pipes -----------------------------------------------------------------------
    def _reader(self, pipe: IO[str], sink: Callable[[str], None], eof: bool = False) -> None:
        """Drain ``pipe`` for the child's whole life: a full pipe would freeze the child.

        ``eof``: announce the end of the pipe to :meth:`_wait_for_serving` (the child died).
        """
        def run() -> None:
            with contextlib.suppress(ValueError, OSError):
                for line in pipe:
                    sink(line.rstrip("\r\n"))
            if eof:
                self._lines.put(_EOF)

        thread = threading.Thread(target=run, name="sigma9-sim-pipe", daemon=True)
        thread.start()
        self._readers.append(thread)

    def _on_stdout(self, line: str) -> None:
        if not self._serving.is_set():
            self._lines.put(line)

    def _join_readers(self, timeout: float) -> None:
        for thread in self._readers:
            thread.join(timeout)

    def _tail_note(self) -> str:
        tail = [line.strip() for line in self._stderr_tail if line.strip()]
        return f": {tail[-1]}" if tail else ""


# -- the --sim journal --------------------------------------------------------------------------
@contextlib.contextmanager
def sim_journal(journal: Path) -> Iterator[Path]:
    """The journal of one ``--sim`` session: fresh, next to the real one, never the real one.

    Why: the child simulator starts empty every run and numbers orders from the start again,
    so its trades must neither mix with paper/live history nor meet the last sim run's orders.
    The session uses ``<stem>.sim<suffix>``, emptied first and kept afterwards for a look.
    A second ``--sim`` running at the same time (it holds the ``.lock``) gets a private
    ``<stem>.sim-<pid><suffix>`` instead, removed when it ends, so neither deletes a journal
    the other has open.
    """
    if str(journal) == ":memory:":
        yield journal
        return
    suffix = journal.suffix or ".sqlite3"
    path = journal.with_name(f"{journal.stem}.sim{suffix}")
    with contextlib.suppress(OSError):  # if this fails, opening the journal says why
        path.parent.mkdir(parents=True, exist_ok=True)
    lock = _lock(path.with_name(path.name + ".lock"))
    private = lock is False or not _remove_sqlite(path)
    if private:
        path = journal.with_name(f"{journal.stem}.sim-{os.getpid()}{suffix}")
        _remove_sqlite(path)
    try:
        yield path
    finally:
        if private:
            _remove_sqlite(path)
        if lock:
            lock.close()  # closing the file releases the lock


def _lock(path: Path) -> IO[str] | bool | None:
    """An open file holding an exclusive lock; False if another process holds it; None if
    locking is not possible here (no fcntl, unwritable folder)."""
    if fcntl is None:
        return None
    try:
        handle = open(path, "a")  # noqa: SIM115 - held open for the whole session
    except OSError:
        return None
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return False
    return handle


def _remove_sqlite(path: Path) -> bool:
    """Delete an SQLite file and its -wal/-shm companions; False if one is in use (Windows)."""
    for candidate in (path, path.with_name(path.name + "-wal"),
                      path.with_name(path.name + "-shm")):
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue
        except OSError:
            return False
    return True
