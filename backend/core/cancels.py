"""What cancelling an order really does at IB, said before it is done (issue 9 section 3).

IB's rule (ib-orders R4; IBKR Campus glossary "One-Cancels-All (OCA) Order"; a paper report
shows the siblings PendingCancel -> Cancelled + 202 about 0.2 s later): a **client** cancel of
one OCA member cancels the whole group. So "cancel the time stop" really means "remove all
protection of the position". The OMS therefore never cancels a single exit leg: it refuses
unless the caller confirms the whole group, and it offers closing the position instead.

Pure: the OrderManager gathers the records and asks; the sentence is shown verbatim in the
terminal's confirmation dialog, so it names the shares and the symbol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from backend.core.models import LegRole, OrderRecord

EXIT_ROLES = frozenset({LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER})
LEG_NAMES: dict[LegRole, str] = {
    LegRole.SAFETY_STOP: "stop",
    LegRole.TIME_STOP: "time stop",
    LegRole.PROFIT_HARVESTER: "trail",
    LegRole.ENTRY: "entry",
    LegRole.FLATTEN: "closing order",
    LegRole.MANUAL: "order",
}


@dataclass(frozen=True)
class CancelImpact:
    order_id: str
    is_exit_leg: bool
    symbol: str
    shares: int
    """Shares left without protection by the cancel (0 while the entry has not filled)."""
    group: str
    """The OCA group the cancel ends ("" for an order that is not an exit leg)."""
    cancels: tuple[str, ...]
    """Every order id the cancel ends: the whole group, plus an entry that has not filled."""
    sentence: str
    offer_close_position: bool


class ExitLegCancelRefused(Exception):
    """Cancelling an exit leg needs ``confirm_group=True``; ``impact`` says what it would do."""

    def __init__(self, impact: CancelImpact) -> None:
        super().__init__(f"{impact.sentence[:-1]}; confirm to cancel the whole group"
                         + (", or close the position instead." if impact.offer_close_position
                            else "."))
        self.impact = impact


class CloseRefused(Exception):
    """``close_position`` could not go ahead; ``str`` is one sentence for the trader."""


def exit_cancel_impact(leg: OrderRecord, group: Sequence[OrderRecord],
                       entry: OrderRecord | None, shares: int) -> CancelImpact:
    """Cancelling exit ``leg``: IB ends every live member of ``group`` (its OCA group).

    ``entry`` is the trade's entry; while it has not filled, cancelling its exits would let it
    fill unprotected, so the entry is cancelled as well. ``shares`` is the position held.
    """
    name = LEG_NAMES[leg.role]
    members = tuple(r.order_id for r in group if not r.status.is_final)
    if leg.order_id not in members:
        members = (leg.order_id, *members)
    pending_entry = entry is not None and not entry.status.is_final and entry.filled == 0
    cancels = ((entry.order_id,) if pending_entry and entry else ()) + members
    group_name = leg.oca_group or "its OCA group"
    if shares > 0:
        sentence = (f"Cancelling {name} {leg.order_id} cancels all protection of {shares} "
                    f"{leg.symbol}: IB cancels every order of OCA group {group_name} "
                    f"({len(members)} orders).")
    elif pending_entry:
        sentence = (f"Cancelling {name} {leg.order_id} cancels every exit of the pending "
                    f"{leg.symbol} entry (OCA group {group_name}), so the entry "
                    f"{entry.order_id if entry else ''} is cancelled too.")
    else:
        sentence = (f"Cancelling {name} {leg.order_id} cancels every order of OCA group "
                    f"{group_name} ({len(members)} orders) for {leg.symbol}.")
    return CancelImpact(order_id=leg.order_id, is_exit_leg=True, symbol=leg.symbol,
                        shares=max(shares, 0), group=leg.oca_group, cancels=cancels,
                        sentence=sentence, offer_close_position=shares > 0)


def other_cancel_impact(record: OrderRecord, attached: Sequence[OrderRecord]) -> CancelImpact:
    """Cancelling an entry or any non-exit order; ``attached`` are an entry's live children."""
    name = LEG_NAMES[record.role]
    children = tuple(r.order_id for r in attached if not r.status.is_final)
    if record.role is LegRole.ENTRY and record.filled > 0:
        sentence = (f"Cancelling entry {record.order_id} stops buying {record.symbol}; the "
                    f"{record.filled} shares bought keep their exits.")
        cancels: tuple[str, ...] = (record.order_id,)
    elif record.role is LegRole.ENTRY and children:
        sentence = (f"Cancelling entry {record.order_id} for {record.symbol} also cancels its "
                    f"{len(children)} attached exits at the broker.")
        cancels = (record.order_id, *children)
    else:
        sentence = f"Cancelling {name} {record.order_id} for {record.symbol} ends that order."
        cancels = (record.order_id,)
    return CancelImpact(order_id=record.order_id, is_exit_leg=False, symbol=record.symbol,
                        shares=0, group="", cancels=cancels, sentence=sentence,
                        offer_close_position=False)


_IB_CANCEL_PREFIX = "Order Canceled - reason:"
_PLAIN_REASONS: dict[str, str] = {
    "": "",
    "Order was discarded.": "discarded by IB: it was never placed",
    "conditions met": "its price condition traded",
}
"""IB's 202 reasons (after "Order Canceled - reason:") in the trader's words. IB sends an
empty reason for nearly every cancel (``backend/sim/cancels.py`` lists the captures), so the
empty reason says nothing more than the Cancelled status already does."""


def plain_reason(message: str) -> str:
    """An order's last broker note in plain words: "IB 202: Order Canceled - reason:" -> "".

    Codes other than 202 keep IB's own sentence without the "IB nnn:" prefix (and without
    the ``<br>`` tags IB puts in long texts); anything else is returned as it is.
    """
    text = " ".join(message.replace("<br>", " ").split())
    if text.startswith("IB "):
        head, _, rest = text.partition(": ")
        if head[3:].split(" ")[0].isdigit():
            text = rest
    if text.startswith(_IB_CANCEL_PREFIX):
        reason = text[len(_IB_CANCEL_PREFIX):].strip()
        return _PLAIN_REASONS.get(reason, reason)
    return text
