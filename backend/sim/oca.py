"""OCA ("one cancels all") groups as IB defines their three types.

- ocaType 1: the first execution of any member cancels every other member.
- ocaType 2: each execution reduces the others by the executed quantity,
  *with block*: while one member is executing, the others may not.
- ocaType 3: reduce without block: members that trade in the same instant
  are all filled before the reduction lands, so the group can overfill.
Groups are keyed by account and name, because OCA groups are account-wide.

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

    @staticmethod
    def group_key(order: WorkingOrder) -> str:
        if not order.spec.oca_group:
            return ""
        return f"{order.spec.account}|{order.spec.oca_group}"

    def add(self, order: WorkingOrder) -> None:
        key = self.group_key(order)
        if key and order not in self.groups.setdefault(key, []):
            self.groups[key].append(order)

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
