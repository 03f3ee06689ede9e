"""What an IB message code means for the order it names, decided by a table.

TWS sends errors, warnings and plain news through one callback, ``error(reqId, code,
text)``. Treating every code outside a short list as a failed order flattens positions on
warnings that leave the order working (2109, 399, 10349: ib-orders.md R12). So each
order- or connection-related code of IB's published list has a row (``ib_code_table``) with
a class, and the connector decides by the class (``order_action``):

- ``REJECTION`` ends the order: the order-error path, as before.
- ``WARNING`` / ``INFO`` / ``MARKET_DATA``: shown in the log, the order is left working.
- ``CANCEL_CONFIRM``: a confirmed cancel, not an error; the status path carries it.
- ``REQUEST_REFUSED``: IB refused a cancel or a modification. The order was not ended by the
  code, but the refusal shows the local view was stale (already filled, already cancelled,
  unknown to IB; 10326 may even cancel the leg), so its state is re-read from the broker.
- ``CONNECTIVITY``: the connection state (1100/1101/1102); on an order, a re-read.
- ``UNKNOWN`` (any code not in the table): logged and shown, then the order is re-read from
  the broker before anything is decided. An unknown code never ends an order by itself.

``MARKET_DATA`` and ``REQUEST_REFUSED`` are two classes beyond the issue's five: data codes
arrive on Sigma9's quote and bar requests and are routed to the market-data feed (listing
them keeps them out of UNKNOWN when TWS sends them with reqId -1), and a refused cancel is
neither a warning about a working order nor a confirmation.

Pure: no I/O, no ib_insync. ``docs/ib-codes.md`` is rendered from this table
(``python -m backend.broker.ib_codes > docs/ib-codes.md``); a test keeps the two equal.
"""

from __future__ import annotations

import enum
import sys
from dataclasses import dataclass

from backend.broker.ib_code_table import CONNECTION_STATES, EVIDENCE, ROWS
from backend.core.models import ConnectionState


class CodeClass(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    REJECTION = "rejection"
    CANCEL_CONFIRM = "cancel confirmation"
    REQUEST_REFUSED = "request refused"
    CONNECTIVITY = "connectivity"
    MARKET_DATA = "market data"
    UNKNOWN = "unknown"


class OrderAction(enum.Enum):
    """What the connector does with a code that names one of Sigma9's orders."""

    END = "order error: the order ended"
    KEEP = "shown; the order is left working"
    CONFIRM = "shown; a confirmed cancel, not an error"
    REREAD = "shown; the order's state is re-read from the broker"


ORDER_ACTIONS: dict[CodeClass, OrderAction] = {
    CodeClass.REJECTION: OrderAction.END,
    CodeClass.WARNING: OrderAction.KEEP,
    CodeClass.INFO: OrderAction.KEEP,
    CodeClass.MARKET_DATA: OrderAction.KEEP,
    CodeClass.CANCEL_CONFIRM: OrderAction.CONFIRM,
    CodeClass.REQUEST_REFUSED: OrderAction.REREAD,
    CodeClass.CONNECTIVITY: OrderAction.REREAD,
    CodeClass.UNKNOWN: OrderAction.REREAD,
}
"""A connectivity code attached to an order (10328) means IB could not confirm that order's
state: re-read it, as for an unknown code."""

SEVERITIES: dict[CodeClass, str] = {
    CodeClass.INFO: "info", CodeClass.CANCEL_CONFIRM: "info",
    CodeClass.WARNING: "warning", CodeClass.REQUEST_REFUSED: "warning",
    CodeClass.MARKET_DATA: "warning", CodeClass.CONNECTIVITY: "warning",
    CodeClass.UNKNOWN: "warning", CodeClass.REJECTION: "error",
}
"""How loud the log panel shows a code; a restored connection (1101/1102) is news."""


@dataclass(frozen=True)
class CodeRule:
    code: int
    klass: CodeClass
    meaning: str
    evidence: str = ""
    connection_state: ConnectionState | None = None

    @property
    def action(self) -> OrderAction:
        return ORDER_ACTIONS[self.klass]


def _build() -> dict[int, CodeRule]:
    table: dict[int, CodeRule] = {}
    for code, klass, meaning in ROWS:
        if code in table:
            raise ValueError(f"IB code {code} is listed twice")
        state = CONNECTION_STATES.get(code)
        table[code] = CodeRule(code, CodeClass[klass], meaning, EVIDENCE.get(code, ""),
                               ConnectionState[state] if state else None)
    return table


TABLE: dict[int, CodeRule] = _build()


def rule(code: int) -> CodeRule:
    """The code's row; a code IB's list (or this table) lacks is UNKNOWN, never a rejection."""
    found = TABLE.get(code)
    if found is not None:
        return found
    return CodeRule(code, CodeClass.UNKNOWN, "Not in Sigma9's code table.")


def classify(code: int) -> CodeClass:
    return rule(code).klass


def order_action(code: int) -> OrderAction:
    return rule(code).action


def ends_order(code: int) -> bool:
    """Whether ``code`` on an order means the order is over (only a REJECTION does).

    ib_insync marks an order Cancelled locally on any code outside its own short warning
    set (ib_insync #328, #502; its ``wrapper.error``); the connector undoes that for every
    code this returns False for.
    """
    return order_action(code) is OrderAction.END


def severity(code: int) -> str:
    """``info``, ``warning`` or ``error``: how the log panel shows the code."""
    found = rule(code)
    if found.connection_state is ConnectionState.CONNECTED:
        return "info"
    return SEVERITIES[found.klass]


# -- the table for humans ----------------------------------------------------------------
DOC_HEADER = """# IB message codes: what Sigma9 does with each

Generated from `backend/broker/ib_code_table.py` by
`python -m backend.broker.ib_codes > docs/ib-codes.md`; do not edit by hand (a test checks
that this page and the table agree). Why the classes exist: `backend/broker/ib_codes.py`.

A code that names one of Sigma9's orders is handled by its class:

| class | what the connector does with the order |
|---|---|
{actions}

Any code not listed is **unknown**: it is logged and shown, then the order is re-read from
the broker (open orders, then completed orders) and only the broker's answer, through the
normal status path, decides anything. An unknown code never flattens a position by itself.
ib_insync marks an order Cancelled on its own for most codes (ib_insync #328, #502): the
connector undoes that local mark for every code that is not a rejection.

Evidence: a row without an entry rests on IB's message-code page alone (IBKR Campus, TWS API
"Error Handling / Message Codes"; the older interactivebrokers.github.io/tws-api/
message_codes.html). `sigma9 paper-check` is where a trader's paper account confirms it.

| code | class | meaning | evidence |
|---|---|---|---|
"""


def render_markdown() -> str:
    actions = "\n".join(f"| {k.value} | {a.value} |" for k, a in ORDER_ACTIONS.items())
    rows = []
    for code in sorted(TABLE):
        r = TABLE[code]
        state = f" Sets the connection {r.connection_state.value}." if r.connection_state else ""
        rows.append(f"| {code} | {r.klass.value} | {r.meaning}{state} | {r.evidence} |")
    return DOC_HEADER.format(actions=actions) + "\n".join(rows) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render_markdown())
