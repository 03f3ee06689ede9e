"""One client socket's bytes, bounded as a server facing a hostile network must bound them.

Two clocks and two sizes (docs/simulator.md, "Server limits and trust"):

- the handshake (API prefix, version, startApi) must end within ``handshake_timeout_s``;
- a request whose first bytes have arrived must be complete within ``message_deadline_s``,
  however slowly the rest trickles in;
- a length prefix above ``max_request_bytes`` ends the connection before its body is read;
- replies queued for a client that does not read are capped at ``max_write_buffer_bytes``:
  past it the connection is aborted, so the queue is dropped rather than flushed.

A handshaken client that is merely quiet is never timed out: TWS keeps idle API clients.
TWS's own figures for these bounds are not public (``sigma9 paper-check`` cannot see them
either); the defaults are generous for any real client.
"""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backend.sim.wire import FrameReader

if TYPE_CHECKING:
    from backend.sim.config import SimConfig

READ_CHUNK = 65536
Ending = Callable[[str, str], None]
"""Told (kind, reason) when the link ends itself: a deadline passed, a reader stalled."""


@dataclass(frozen=True)
class Limits:
    handshake_timeout_s: float
    message_deadline_s: float
    max_request_bytes: int
    max_write_buffer_bytes: int
    socket_send_buffer_bytes: int | None = None

    @classmethod
    def of(cls, config: SimConfig) -> Limits:
        return cls(config.handshake_timeout_s, config.message_deadline_s,
                   config.max_request_bytes, config.max_write_buffer_bytes,
                   config.socket_send_buffer_bytes)


class Link:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 limits: Limits, on_end: Ending) -> None:
        self.reader = reader
        self.writer = writer
        self.limits = limits
        self.on_end = on_end
        self.frames = FrameReader(max_message_bytes=limits.max_request_bytes)
        self._loop = asyncio.get_running_loop()
        self.opened = self._loop.time()
        self._message_started: float | None = None
        self.closed = False
        sock = writer.get_extra_info("socket")
        if limits.socket_send_buffer_bytes and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, limits.socket_send_buffer_bytes)

    # -- writing -------------------------------------------------------------------------------
    def write(self, data: bytes) -> None:
        if self.closed:
            return
        self.writer.write(data)
        waiting, limit = self.writer.transport.get_write_buffer_size(), \
            self.limits.max_write_buffer_bytes
        if waiting > limit:
            self.abort("slow-reader", f"it is not reading its messages ({waiting} bytes "
                                      f"waiting; the limit is {limit})")

    async def drain(self) -> None:
        if not self.closed:
            await self.writer.drain()

    # -- reading -------------------------------------------------------------------------------
    async def read(self, handshaken: bool) -> list[list[str]] | None:
        """The messages the next bytes complete; None once the connection has ended.

        Raises ``FramingError`` when the stream itself is broken.
        """
        deadline, kind, reason = self._deadline(handshaken)
        try:
            if deadline is None:
                data = await self.reader.read(READ_CHUNK)
            else:
                data = await self._read_by(deadline)
        except asyncio.TimeoutError:  # the builtin TimeoutError only from 3.11 on
            self.abort(kind, reason)
            return None
        if not data:
            return None
        batch = self.frames.feed(data)
        if not self.frames.pending:
            self._message_started = None
        elif batch or self._message_started is None:
            self._message_started = self._loop.time()
        return batch

    async def _read_by(self, deadline: float) -> bytes:
        if sys.version_info >= (3, 11):  # bytes already buffered are read even past it
            async with asyncio.timeout_at(deadline):
                return await self.reader.read(READ_CHUNK)
        # Python 3.10 has no asyncio.timeout_at
        return await asyncio.wait_for(self.reader.read(READ_CHUNK),
                                      max(deadline - self._loop.time(), 0.0))

    def _deadline(self, handshaken: bool) -> tuple[float | None, str, str]:
        limits = self.limits
        if not handshaken:
            return (self.opened + limits.handshake_timeout_s, "handshake",
                    f"no API handshake within {limits.handshake_timeout_s:g} s")
        if self._message_started is not None:
            return (self._message_started + limits.message_deadline_s, "partial",
                    f"a request was still incomplete after {limits.message_deadline_s:g} s "
                    f"({self.frames.pending} bytes of it had arrived)")
        return None, "", ""

    # -- ending --------------------------------------------------------------------------------
    def close(self) -> None:
        """Flush what is queued (a last error message), then close."""
        if not self.closed:
            self.closed = True
            self.frames.clear()
            self.writer.close()

    def abort(self, kind: str, reason: str) -> None:
        """End at once, dropping the queue, and say why."""
        if not self.closed:
            self.closed = True
            self.frames.clear()
            self.writer.transport.abort()
            self.on_end(kind, reason)
