"""OCA ("one cancels all") groups as IB defines their three types.

- ocaType 1: the first execution of any member cancels every other member.
- ocaType 2: each execution reduces the others by the executed quantity,
  *with block*: while one member is executing, the others may not.
- ocaType 3: reduce without block: members that trade in the same instant
  are all filled before the reduction lands, so the group can overfill.
Groups are keyed by account and name, because OCA groups are account-wide.

A name is single-use: once every member of a group is done, the name cannot start a new
group (TWS's order-ticket guide as quoted by users, ib-orders R4). What TWS answers to a
reused name is not captured; the simulator refuses the order with 201 (``finished``), the
strict reading, so code that passes here also passes if IB merely starts a fresh group:
paper-check.

"Block" is per matching pass (one instant): a member that filled part of its
quantity earlier and now rests unmarketable does not hold the group, because
that would leave a protective sibling (a stop) unable to execute for as long
as, say, a partly filled take-profit sits on the book.
"""

from __future__ import annotations

from backend.sim.orders import WorkingOrder


class OcaBook:
    def __init__(self) -> None:
        self.groups: dict[str, list[WorkingOrder]] = {}
        self.used: set[str] = set()
        """Every group key that ever had a member."""

    @staticmethod
    def group_key(order: WorkingOrder) -> str:
        if not order.spec.oca_group:
            return ""
        return f"{order.spec.account}|{order.spec.oca_group}"

    def add(self, order: WorkingOrder) -> None:
        key = self.group_key(order)
        if key and order not in self.groups.setdefault(key, []):
            self.groups[key].append(order)
            self.used.add(key)

    def finished(self, account: str, name: str) -> bool:
        """True when ``name`` was used in ``account`` and no member of it is still working."""
        key = f"{account}|{name}"
        return key in self.used and not any(not o.done for o in self.groups.get(key, []))

    def discard(self, order: WorkingOrder) -> None:
        key = self.group_key(order)
        if key and order in self.groups.get(key, []):
            self.groups[key].remove(order)

    def siblings(self, order: WorkingOrder) -> list[WorkingOrder]:
        key = self.group_key(order)
        return [o for o in self.groups.get(key, []) if o is not order and not o.done]

    def blocked(self, order: WorkingOrder, executed_this_pass: set[str]) -> bool:
        """Block (types 1 and 2): once a member executed in this pass, the others wait."""
        key = self.group_key(order)
        if not key or order.spec.oca_type == 3:
            return False
        return key in executed_this_pass
