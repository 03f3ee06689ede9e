"""A session's account requests: managed accounts, account updates (plain and multi),
account summary, positions and PnL.

Kept apart from ``session`` (framing, dispatch, orders, market data) so each file reads
in one sitting. The values themselves come from the broker's account through the
server, which also pushes updates to the subscriptions recorded here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backend.sim import messages
from backend.sim.requests import Cursor
from backend.sim.wire import ProtocolError

if TYPE_CHECKING:
    from backend.sim.server import SimServer


class AccountRequests:
    """Mixin of ``Session``: handlers of msgs 6, 17, 61, 62, 64, 76, 77, 92 and 93."""

    server: SimServer
    account_updates: bool
    positions_sub: bool
    multi_subs: set[int]
    pnl_subs: set[int]

    if TYPE_CHECKING:  # provided by Session; declared for the type checker only
        def send(self, fields: list[object]) -> None: ...
        def error(self, req_id: int, code: int, text: str) -> None: ...

    def req_managed_accounts(self, fields: list[str]) -> None:
        self.send([15, 1, self.server.config.account])

    def req_account_updates(self, fields: list[str]) -> None:
        cur = Cursor(fields, 2, "reqAccountUpdates")
        subscribe = cur.bool("subscribe")
        code = cur.optional().strip()
        if code and code != self.server.config.account:
            self.error(-1, 321, f"Error validating request.-'bA' : cause - account {code} "
                                "is not managed by this login")
            return
        self.account_updates = subscribe
        if subscribe:
            self.server.send_account_snapshot(self)
            self.send([54, 1, self.server.config.account])

    def req_account_updates_multi(self, fields: list[str]) -> None:
        req_id = Cursor(fields, 2, "reqAccountUpdatesMulti").int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqAccountUpdatesMulti: missing reqId")
        self.multi_subs.add(req_id)
        self.server.send_account_multi(self, req_id)
        self.send([74, 1, req_id])

    def cancel_multi(self, fields: list[str]) -> None:
        self.multi_subs.discard(Cursor(fields, 2, "cancelAccountUpdatesMulti").int("reqId") or 0)

    def req_account_summary(self, fields: list[str]) -> None:
        cur = Cursor(fields, 2, "reqAccountSummary")
        req_id = cur.int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqAccountSummary: missing reqId")
        cur.next("group")
        tags = [t.strip() for t in cur.next("tags").split(",") if t.strip()]
        self.server.send_account_summary(self, req_id, tags)
        self.send([64, 1, req_id])

    def req_positions(self, fields: list[str]) -> None:
        self.positions_sub = True
        for pos in self.server.broker.account.positions.values():
            self.send(messages.position(self.server.config.account, pos.instrument, pos.qty,
                                        pos.avg_cost))
        self.send([62, 1])

    def cancel_positions(self, fields: list[str]) -> None:
        self.positions_sub = False

    def req_pnl(self, fields: list[str]) -> None:
        req_id = Cursor(fields, 1, "reqPnL").int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqPnL: missing reqId")
        self.pnl_subs.add(req_id)
        self.server.send_pnl(self, req_id)

    def cancel_pnl(self, fields: list[str]) -> None:
        self.pnl_subs.discard(Cursor(fields, 1, "cancelPnL").int("reqId") or 0)
