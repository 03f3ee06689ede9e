"""The journal's file: created owner-only, checked before use, held by one process at a time.

Split from ``journal`` because these are questions about the file on disk, not its records.
Every refusal is a :class:`JournalError` with one sentence naming the file, and the file is
left exactly as it was:

* a damaged file (``PRAGMA quick_check``), or one that is not a database at all;
* one locked by another process (another Sigma9, or an SQL tool holding a write lock);
* a read-only file, or a folder where SQLite cannot create its -wal and -shm files;
* a journal another running Sigma9 holds (:class:`ProcessLock`): two sessions writing one
  trading history would each rebuild from the other's half.

The journal holds the whole trading history, so it is created readable by its owner only
(0600), in the folders it creates (0700); SQLite gives its -wal and -shm files the mode of
the database file. An existing journal readable by others loses those bits when opened.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import stat
from pathlib import Path

FILE_MODE = 0o600
FOLDER_MODE = 0o700
BUSY_TIMEOUT_S = 1.0
"""How long a write waits for another process's lock: the journal is written from the event
loop, so a long wait would freeze the terminal; a held lock is refused instead."""

# SQLite's error (by name, Python >= 3.11) -> what it means for the trader, in words.
SQLITE_PROBLEMS: dict[str, str] = {
    "SQLITE_NOTADB": "it is not a database Sigma9 can read (damaged, or another kind of file)",
    "SQLITE_CORRUPT": "the file is damaged",
    "SQLITE_BUSY": "it is locked by another process (another Sigma9, or an SQL tool holding "
                   "it open)",
    "SQLITE_LOCKED": "it is locked by another connection",
    "SQLITE_READONLY": "it is read-only",
    "SQLITE_FULL": "the disk is full",
    "SQLITE_CANTOPEN": "the file cannot be opened (is its folder writable?)",
    "SQLITE_IOERR": "the disk reported an I/O error",
    "SQLITE_PERM": "permission denied",
}


ENVIRONMENTAL = ("SQLITE_FULL", "SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_IOERR",
                 "SQLITE_READONLY", "SQLITE_CANTOPEN")
"""Failures of the file's state, not of the write: the same write may succeed later."""


class JournalError(Exception):
    """The journal cannot be opened or written; ``str`` is one sentence naming the file."""


def problem(exc: sqlite3.Error) -> str:
    """One clause for an SQLite failure, naming its cause when SQLite gives one."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    for prefix, words in SQLITE_PROBLEMS.items():
        if name == prefix or name.startswith(prefix + "_"):
            return f"{words} ({exc})"
    return str(exc) or type(exc).__name__


def connect(path: str | Path) -> sqlite3.Connection:
    """An autocommit connection in WAL mode to a checked, writable journal file."""
    where = f"cannot open the journal at {path}"
    if isinstance(path, Path):
        prepare(path, where)
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(str(path), isolation_level=None, timeout=BUSY_TIMEOUT_S)
        conn.row_factory = sqlite3.Row
        check_intact(conn, where)
        conn.execute("PRAGMA journal_mode=WAL")
        # A write probe: a read-only file or folder, or another process's lock, is refused
        # now rather than at the first fill.
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
    except (sqlite3.Error, JournalError) as exc:
        if conn is not None:
            conn.close()
        if isinstance(exc, JournalError):
            raise
        raise JournalError(f"{where}: {problem(exc)}") from None
    return conn


def prepare(path: Path, where: str) -> None:
    """Create the folders (0700) and the file (0600); refuse what cannot be written."""
    if path.is_dir():
        raise JournalError(f"{where}: it is a directory")
    missing = [p for p in reversed(path.parents) if not p.exists()]
    try:
        for folder in missing:
            folder.mkdir(mode=FOLDER_MODE)
    except OSError as exc:
        raise JournalError(f"{where}: its folder cannot be created "
                           f"({exc.strerror or exc})") from None
    if not path.parent.is_dir():
        raise JournalError(f"{where}: its folder cannot be created ({path.parent} is a file)")
    if not path.exists():
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
        except FileExistsError:
            pass  # created meanwhile by someone else: judged below like any file
        except OSError as exc:
            raise JournalError(f"{where}: the file cannot be created in its folder "
                               f"({exc.strerror or exc})") from None
    if not os.access(path, os.R_OK | os.W_OK):
        raise JournalError(f"{where}: it is read-only, and Sigma9 must record every order "
                           "and fill (make it writable or choose another journal.path)")
    owner_only(path)


def owner_only(path: Path) -> None:
    """Take the group's and others' bits off a file we own (the trading history)."""
    info = path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(path, mode & ~0o077)


def check_intact(conn: sqlite3.Connection, where: str) -> None:
    """A damaged file is refused at open, untouched, instead of failing mid-session."""
    rows = conn.execute("PRAGMA quick_check").fetchall()
    problems = [" ".join(str(r[0]).split()) for r in rows if str(r[0]) != "ok"]
    if problems:
        raise JournalError(f"{where}: the file is damaged (SQLite's check found "
                           f"{len(problems)} problem{'s' if len(problems) > 1 else ''}, "
                           f"first: {problems[0][:120]}); it was left as it is, so move it "
                           "aside to start a new journal")


class ProcessLock:
    """One process at a time per journal: a POSIX lock on ``<journal>.lock``.

    Why a separate file: SQLite keeps POSIX locks on the database file itself, and closing
    any other descriptor of that file would drop them. Why POSIX (``lockf``) and not
    ``flock``: POSIX locks belong to the process, so the same process may reopen its journal
    (a restart within one test, or a tool), while another process is refused. The kernel
    drops the lock when the process dies, so a SIGKILL leaves nothing to clean up. The lock
    file holds the owner's pid, for the sentence. (POSIX semantics also mean that when one
    of two journals a process holds on the same file closes, the process's lock goes: a
    process that opens its journal twice is trusted to be one Sigma9.)
    """

    def __init__(self, journal: Path) -> None:
        self.path = journal.with_name(journal.name + ".lock")
        where = f"cannot open the journal at {journal}"
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        except OSError as exc:
            raise JournalError(f"{where}: its lock file cannot be created "
                               f"({exc.strerror or exc})") from None
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
            self.release()
            raise JournalError(f"{where}: another running Sigma9 (pid {holder}) is using it; "
                               "stop that one, or give this one its own journal.path") from None
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the POSIX lock
            self._fd = None
