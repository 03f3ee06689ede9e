"""What can go wrong when the OMS asks the broker something, as types the core can read.

Why types: a refusal must name its real cause (issue 10, finding 5). Reading exception text
would tie the core to one broker's wording; instead the broker layer raises subclasses of
these (``backend.broker.errors``), and anything else is classified by its Python type.
The core imports no broker module, so the types live here.
"""

from __future__ import annotations

import asyncio


class BrokerUnavailable(Exception):
    """The broker cannot be asked right now: not connected, or the connection dropped."""


class ContractNotFound(Exception):
    """The broker answered, and it has no contract for the symbol."""


REFUSAL_OF_LOOKUP: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    # (exception types, refusal code) - checked in order; the first match wins.
    ((ContractNotFound,), "unknown_symbol"),
    ((BrokerUnavailable, ConnectionError), "disconnected"),  # ib_insync: 'Socket disconnect'
    ((TimeoutError, asyncio.TimeoutError), "timeout"),
)
"""How an exception from a contract look-up becomes a refusal code (docs/api.md)."""

LOOKUP_SENTENCES: dict[str, str] = {
    "unknown_symbol": "{exc}",
    "disconnected": "the connection to the broker was lost while looking up {symbol} ({exc})",
    "timeout": "the broker did not answer the {symbol} contract look-up within {timeout:g} s",
    "internal_error": "the {symbol} contract look-up failed inside Sigma9 ({kind}: {exc})",
}


def lookup_refusal(exc: BaseException, symbol: str, timeout: float) -> tuple[str, str]:
    """(code, one sentence) for an exception raised while looking up ``symbol``."""
    code = next((code for kinds, code in REFUSAL_OF_LOOKUP if isinstance(exc, kinds)),
                "internal_error")
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return code, LOOKUP_SENTENCES[code].format(exc=text, symbol=symbol, timeout=timeout,
                                               kind=type(exc).__name__)
