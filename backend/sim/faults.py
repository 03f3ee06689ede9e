"""Faults a test or the soak (``soak/``) injects into a running simulator.

Why a module of its own: the drop in the middle of a transmit chain is the fault that
leaves a broker holding an entry and untransmitted legs (issue 10, finding 1), and no
other control call can produce it: ``drop_connections`` acts between two requests the test
chooses, while a chain's placeOrder messages leave the client back to back. ``Faults`` is
told by the session after each placeOrder it handled (one hook line in ``Session``) and
closes that connection once the armed count is reached, so the rest of the chain is never
read, as when a real network drops mid-send.

The matchers pick one leg of a Sigma9 trade by its orderRef (``s9:<signal id>:<role>``,
``backend/core/exit_plan.order_ref``) for ``SimThread.reject_next_order(match=...)``.

Evidence: no capture shows TWS losing a connection between two placeOrder messages; what
the simulator does then (the received orders stay, a buffered one stays untransmitted) is
what ``Session`` already does for any closed connection and is documented as unverified in
docs/reliability.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from backend.sim.models import OrderSpec


class Closable(Protocol):
    client_id: int | None

    def close(self) -> None: ...


@dataclass
class ArmedDrop:
    """Close the connection right after ``remaining`` more placeOrder messages of a client
    (any client when ``client_id`` is None)."""

    remaining: int
    client_id: int | None = None


class Faults:
    """Armed connection faults of one ``SimServer`` (runs on its loop, like the broker)."""

    def __init__(self) -> None:
        self.drops: list[ArmedDrop] = []
        self.fired: list[tuple[int | None, int]] = []
        """(clientId, order id) of each placeOrder a drop fired after: the soak reports them."""

    def drop_after_orders(self, count: int, client_id: int | None = None) -> None:
        if count < 1:
            raise ValueError(f"a drop needs at least one placeOrder first, got {count}")
        self.drops.append(ArmedDrop(count, client_id))

    def clear(self) -> None:
        self.drops.clear()

    def after_place_order(self, session: Closable, order_id: int) -> None:
        """Called by ``Session.place_order`` once the message was handled."""
        for drop in list(self.drops):
            if drop.client_id is not None and drop.client_id != session.client_id:
                continue
            drop.remaining -= 1
            if drop.remaining <= 0:
                self.drops.remove(drop)
                self.fired.append((session.client_id, order_id))
                session.close()
                return


def role_of(order_ref: str) -> str:
    """The role part of a Sigma9 orderRef (``entry``, ``safety_stop``...), else ''."""
    parts = (order_ref or "").split(":")
    return parts[2] if len(parts) == 3 and parts[0] == "s9" else ""


def signal_of(order_ref: str) -> str:
    parts = (order_ref or "").split(":")
    return parts[1] if len(parts) == 3 and parts[0] == "s9" else ""


def leg(role: str, signal_id: str | None = None,
        reprotection: bool | None = None) -> Callable[[OrderSpec], bool]:
    """A ``reject_next_order`` matcher: the next order of that role (of that signal).

    A re-protection group's orderRef carries ``<signal id>~r<n>`` (``exit_plan``):
    ``reprotection=True`` matches only those, False only the signal's own chain, None both.
    """
    def match(spec: OrderSpec) -> bool:
        if role_of(spec.order_ref) != role:
            return False
        sid = signal_of(spec.order_ref)
        if reprotection is not None and ("~" in sid) != reprotection:
            return False
        return signal_id is None or sid.split("~")[0] == signal_id
    return match
