"""A bare TWS API socket client for tests that must control every byte.

ib_insync and ibapi both hide the handshake and refuse to send malformed
messages; this client sends exactly what a test asks for and reads replies
as field lists, so tests can check version negotiation, refusals and
what the server does with garbage.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from backend.sim.wire import FrameReader, frame, frame_raw

Fields = list[str]


class WireClient:
    def __init__(self, port: int, timeout: float = 2.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.reader = FrameReader(expect_api_prefix=False)
        self.pending: list[Fields] = []
        self.closed = False
        self.server_version = 0

    # -- sending ---------------------------------------------------------------
    def send_bytes(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, *fields: object) -> None:
        self.sock.sendall(frame(list(fields)))

    def hello(self, versions: str = "v100..178") -> Fields | None:
        """Send the API prefix and a version range; return the server's reply or None."""
        self.send_bytes(b"API\0" + frame_raw(versions.encode()))
        reply = self.read(2.0)
        if reply is not None:
            self.server_version = int(reply[0])
        return reply

    def connect(self, client_id: int, versions: str = "v100..178") -> list[Fields]:
        """Handshake and startApi; return everything up to the 2158 farm message."""
        assert self.hello(versions) is not None, "server refused the handshake"
        self.send(71, 2, client_id, "")
        return self.read_until(lambda f: f[:1] == ["4"] and f[3:4] == ["2158"])

    # -- receiving -------------------------------------------------------------
    def read(self, timeout: float = 2.0) -> Fields | None:
        """The next message, or None when the socket closed or nothing came in time."""
        deadline = time.monotonic() + timeout
        while not self.pending:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closed:
                return None
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                return None
            except OSError:
                self.closed = True
                return None
            if not data:
                self.closed = True
                return None
            self.pending.extend(self.reader.feed(data))
        return self.pending.pop(0)

    def read_until(self, stop: Callable[[Fields], bool], timeout: float = 2.0) -> list[Fields]:
        """Messages up to and including the first for which ``stop`` is true."""
        deadline = time.monotonic() + timeout
        seen: list[Fields] = []
        while True:
            msg = self.read(max(deadline - time.monotonic(), 0.0))
            if msg is None:
                raise AssertionError(f"no matching message in {timeout}s; got {seen[-10:]}")
            seen.append(msg)
            if stop(msg):
                return seen

    def wait_closed(self, timeout: float = 2.0) -> bool:
        """True once the server has closed the connection (messages before that are dropped)."""
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.read(max(deadline - time.monotonic(), 0.0))
        return self.closed

    def current_time(self, timeout: float = 2.0) -> int:
        """Ask reqCurrentTime and return its answer, skipping anything else in between."""
        self.send(49, 1)
        reply = self.read_until(lambda f: f[:1] == ["49"], timeout)
        return int(reply[-1][2])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> WireClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
