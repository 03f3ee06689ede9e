"""Framing and field codecs of the TWS API socket protocol (text era, <= v178).

Every message is a 4-byte big-endian length followed by NUL-terminated ASCII
fields. Clients disagree on how they spell "unset": ib_insync sends ``""``,
the official ``ibapi`` often sends the sentinels literally. The parsers here
accept every spelling so the rest of the simulator never sees a sentinel.
"""

from __future__ import annotations

import math
import struct
from decimal import Decimal, InvalidOperation

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The default bound of a ``FrameReader``: what a client accepts from a server (a long
history reply). The server reads requests with ``SimConfig.max_request_bytes``, far less."""

UNSET_INT = 2147483647
UNSET_LONG = 9223372036854775807
UNSET_DOUBLE = 1.7976931348623157e308
UNSET_DECIMAL = 2**127 - 1
"""ibapi's ``UNSET_DECIMAL``: what it sends for a quantity nobody set."""
_UNSET_SPELLINGS = frozenset(
    {"", str(UNSET_INT), str(UNSET_LONG), str(UNSET_DECIMAL), "1.7976931348623157e+308",
     "1.7976931348623157e308"}
)
_DBL_MAX_PREFIX = "1.797693134862"
"""Java, Python and .NET spell Double.MAX_VALUE differently; all share this prefix."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_EXPONENT = 308
"""TWS keeps prices and sizes in doubles: a number outside their range is not a price."""
MAX_INTEGER_DIGITS = 12
"""No price or quantity reaches a trillion (10**12). Bounding them where they are read
keeps every later product (value, margin, commission, formatted to the cent) inside
Decimal's 28 digits: a 1e28 quantity once broke every reply that formatted it."""


class ProtocolError(ValueError):
    """A request that cannot be parsed; answered with error 320, never fatal."""


class OutOfRange(ProtocolError):
    """A number no price or quantity can be: answered with error 321 (a validation error,
    as TWS answers a value it can read but not accept), never stored."""


class FramingError(ProtocolError):
    """The byte stream itself is broken; the connection cannot be resynchronised."""


def is_unset(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in _UNSET_SPELLINGS:
        return True
    if lowered.startswith(_DBL_MAX_PREFIX) and "e" in lowered:
        try:
            return float(lowered) >= UNSET_DOUBLE  # "1.79769313486232E+308" reads as inf
        except ValueError:
            return False
    return False


def parse_int(text: str, default: int | None = None, name: str = "field") -> int | None:
    """Integers, also spelled ``100.0``; anything outside 64 bits is not an id or a count."""
    if is_unset(text):
        return default
    stripped = text.strip()
    if len(stripped) > 40:
        raise ProtocolError(f"{name}: expected an integer, got {text[:40]!r}...")
    try:
        value = int(stripped)
    except ValueError:
        try:
            number = float(stripped)
        except ValueError:
            raise ProtocolError(f"{name}: expected an integer, got {text!r}") from None
        if not number.is_integer():
            raise ProtocolError(f"{name}: expected an integer, got {text!r}") from None
        value = int(number)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ProtocolError(f"{name}: {text!r} is out of range")
    return value


def parse_decimal(text: str, name: str = "field") -> Decimal | None:
    """Prices and quantities. ``Infinity``/``Infinite`` are refused where a number is needed."""
    if is_unset(text):
        return None
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ProtocolError(f"{name}: expected a number, got {text!r}") from None
    if not value.is_finite():
        raise ProtocolError(f"{name}: expected a finite number, got {text!r}")
    if value and not -MAX_EXPONENT <= value.adjusted() < MAX_INTEGER_DIGITS:
        raise OutOfRange(f"{name} {text.strip()[:40]!r} is out of range "
                         f"(a price or quantity is below 1E+{MAX_INTEGER_DIGITS})")
    return value


def parse_float(text: str, name: str = "field") -> float | None:
    if is_unset(text):
        return None
    lowered = text.strip().lower()
    if lowered in ("infinite", "infinity", "inf"):
        return math.inf
    try:
        return float(text)
    except ValueError:
        raise ProtocolError(f"{name}: expected a number, got {text!r}") from None


def parse_bool(text: str, name: str = "field") -> bool:
    lowered = text.strip().lower()
    if lowered in ("", "0", "false"):
        return False
    if lowered in ("1", "true"):
        return True
    value = parse_int(text, 0, name)
    return bool(value)


def fmt(value: object) -> str:
    """Encode one outgoing field the way TWS spells it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, Decimal):
        return fmt_decimal(value)
    if isinstance(value, float):
        if value == UNSET_DOUBLE:
            return str(UNSET_DOUBLE)
        return repr(value)
    return str(value)


def fmt_decimal(value: Decimal) -> str:
    """``100`` not ``1E+2``; ``101.25`` not ``101.2500``. Never raises: ``quantize`` did for
    integers of 28 digits or more, which broke a whole reply (issue 8 §5)."""
    if value == value.to_integral_value():
        return format(value.to_integral_value(), "f")
    return format(value.normalize(), "f")


def frame(fields: list[object] | tuple[object, ...]) -> bytes:
    payload = "".join(fmt(f) + "\0" for f in fields).encode("ascii", errors="replace")
    return struct.pack(">I", len(payload)) + payload


def frame_raw(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


class FrameReader:
    """Incremental splitter of a byte stream into field lists.

    The first thing a client sends is ``API\\0`` without a length prefix;
    ``expect_api_prefix`` handles that once.
    """

    def __init__(self, expect_api_prefix: bool = True,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._need_prefix = expect_api_prefix
        self.max_message_bytes = max_message_bytes

    @property
    def pending(self) -> int:
        """Bytes of a message (or of the API prefix) that has begun but not ended."""
        return len(self._buffer)

    def clear(self) -> None:
        """Drop whatever is buffered (the connection is gone)."""
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[list[str]]:
        self._buffer.extend(data)
        messages: list[list[str]] = []
        if self._need_prefix:
            if len(self._buffer) < 4:
                if not b"API\0".startswith(bytes(self._buffer)):
                    raise FramingError("connection did not start with the API prefix")
                return messages
            if bytes(self._buffer[:4]) != b"API\0":
                raise FramingError("connection did not start with the API prefix")
            del self._buffer[:4]
            self._need_prefix = False
        while len(self._buffer) >= 4:
            (length,) = struct.unpack(">I", self._buffer[:4])
            if length > self.max_message_bytes:
                raise FramingError(f"message length {length} exceeds {self.max_message_bytes}")
            if len(self._buffer) < 4 + length:
                break
            payload = bytes(self._buffer[4 : 4 + length])
            del self._buffer[: 4 + length]
            text = payload.decode("ascii", errors="replace")
            fields = text.split("\0")
            if fields and fields[-1] == "":
                fields.pop()
            messages.append(fields)
        return messages
