"""A wire capture of a paper-check session, in the format the conformance suite reads.

Why a capture: the table the check prints is Sigma9's reading of what IB did; the capture
is what IB actually sent, byte for byte, so a trader can attach it to a bug report and the
project can add it to ``tests/conformance`` as evidence (an "Exact capture", like the live
captures of ThomasMarcelis/ibkr-go that docs/oca.md cites).

The format (one line per item, ``#`` lines are comments):

* header comments, the first ``# Exact capture ... sigma9 paper-check ... server_version=N``;
* ``handshake {"server_version": N, "connection_time": "..."}`` where the server's version
  answer arrived (the client's ``API\\0`` greeting is not a frame and is not written);
* ``# leg=L direction=client|server msg_id=M encoding=text payload_len=P t=SECONDS`` then
  ``raw client|server BASE64``: BASE64 of the frame exactly as on the wire, the 4-byte
  big-endian length followed by the payload. Below server version 201 (ib_insync asks for
  157..176) the payload is text: NUL-terminated fields, the first one the message id;
* ``disconnect`` when a connection ended.

The account code is replaced in every frame by a placeholder of the same length (so each
frame's length prefix stays true); the header says which placeholder.

It hooks ib_insync's connection object, the one place every byte passes: ``sendMsg`` for
what the client writes and the ``hasData`` event for what it receives.
"""

from __future__ import annotations

import base64
import json
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

from ib_insync import IB

PROTOBUF_MIN_SERVER_VERSION = 201
"""From this version on IB frames carry a 4-byte message id and a protobuf payload
(ibapi ``MIN_SERVER_VER_PROTOBUF``); below it they are text."""
GREETING = b"API\0"


@dataclass(frozen=True)
class Frame:
    leg: int
    direction: str  # "client" or "server"
    data: bytes  # 4-byte length + payload, as on the wire
    at: float  # seconds since the capture started

    @property
    def payload(self) -> bytes:
        return self.data[4:]

    def msg_id(self) -> str:
        """The message id: the first text field (text protocol)."""
        return self.payload.split(b"\0", 1)[0].decode("ascii", "replace")


@dataclass(frozen=True)
class Handshake:
    server_version: int
    connection_time: str


DISCONNECT = "disconnect"


@dataclass
class WireCapture:
    """Collects the frames of every connection of one IB client, in order."""

    frames: list[Frame | Handshake | str] = field(default_factory=list)
    server_version: int = 0
    connection_time: str = ""
    client_versions: str = ""
    leg: int = 0
    _rx: bytes = b""
    _awaiting_handshake: bool = False
    _early: list[Frame] = field(default_factory=list)
    _started: float = field(default_factory=time.monotonic)

    @classmethod
    def attach(cls, ib: IB) -> WireCapture:
        """Record everything ``ib`` sends and receives from now on."""
        capture = cls()
        conn = ib.client.conn
        send = conn.sendMsg

        def recorded_send(msg: bytes) -> None:
            capture.on_sent(msg)
            send(msg)

        # ib_insync has no hook for what it sends: an instance attribute shadows the method
        # on purpose, which mypy refuses for any method.
        conn.sendMsg = recorded_send  # type: ignore[method-assign]
        conn.hasData += capture.on_received
        conn.disconnected += capture.on_disconnected
        return capture

    def _now(self) -> float:
        return time.monotonic() - self._started

    # -- hooks ---------------------------------------------------------------------------
    def on_sent(self, data: bytes) -> None:
        if data.startswith(GREETING):  # a new connection: the version range, not a frame
            self.leg += 1
            self._rx = b""
            self._awaiting_handshake = True
            self.client_versions = data[len(GREETING) + 4:].decode("ascii", "replace")
            return
        for frame in split_frames(data)[0]:
            item = Frame(self.leg, "client", frame, self._now())
            # ib_insync answers the server's version (startApi) before this capture's
            # hasData handler sees that version: hold it so the file keeps wire order.
            (self._early if self._awaiting_handshake else self.frames).append(item)

    def on_received(self, data: bytes) -> None:
        frames, self._rx = split_frames(self._rx + data)
        for frame in frames:
            if self._awaiting_handshake:
                fields = frame[4:].split(b"\0")
                if len(fields) == 3 and fields[0].isdigit():  # "version\0time\0"
                    self._awaiting_handshake = False
                    self.server_version = int(fields[0])
                    self.connection_time = fields[1].decode("utf-8", "replace")
                    self.frames.append(Handshake(self.server_version, self.connection_time))
                    self.frames += self._early
                    self._early = []
                    continue
            self.frames.append(Frame(self.leg, "server", frame, self._now()))

    def on_disconnected(self, _message: str = "") -> None:
        if self.frames and self.frames[-1] != DISCONNECT:
            self.frames.append(DISCONNECT)

    # -- output --------------------------------------------------------------------------
    def lines(self, header: list[str], account: str = "") -> list[str]:
        """The capture as text lines; ``account`` is masked in every frame."""
        mask = account_placeholder(account) if account else ""
        out = [f"# {line}" if not line.startswith("#") else line for line in header]
        if mask:
            out.append(f"# Account {mask[:2]}… is written as {mask} (same length, so each "
                       "frame's length prefix stays true).")
        encoding = "protobuf" if self.server_version >= PROTOBUF_MIN_SERVER_VERSION else "text"
        for item in self.frames:
            if isinstance(item, str):
                out.append(item)
            elif isinstance(item, Handshake):
                out.append("handshake " + json.dumps({
                    "server_version": item.server_version,
                    "connection_time": item.connection_time}, separators=(",", ":")))
            else:
                data = item.data.replace(account.encode(), mask.encode()) if mask else item.data
                msg_id = item.msg_id() if encoding == "text" else str(
                    struct.unpack(">I", data[4:8])[0])
                out.append(f"# leg={item.leg} direction={item.direction} msg_id={msg_id} "
                           f"encoding={encoding} payload_len={len(data) - 4} t={item.at:.3f}")
                out.append(f"raw {item.direction} {base64.b64encode(data).decode('ascii')}")
        return out

    def write(self, path: Path, header: list[str], account: str = "") -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(self.lines(header, account)) + "\n", encoding="utf-8")
        return path


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Whole length-prefixed frames in ``buffer`` (prefix included), and the rest."""
    frames = []
    while len(buffer) >= 4:
        end = 4 + struct.unpack(">I", buffer[:4])[0]
        if len(buffer) < end:
            break
        frames.append(buffer[:end])
        buffer = buffer[end:]
    return frames, buffer


def account_placeholder(account: str) -> str:
    """``DU1234567`` -> ``DU9000001``: the sanitised form the public captures use."""
    if len(account) < 4:
        return "X" * len(account)
    return account[:2] + "9" + "0" * (len(account) - 4) + "1"
