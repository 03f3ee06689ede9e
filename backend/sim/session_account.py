"""A session's account requests: managed accounts, account updates (plain and multi),
account summary, positions and PnL, and the subscriptions they open.

Kept apart from ``session`` (framing, dispatch, orders, market data) so each file reads
in one sitting. ``Session`` owns an ``AccountRequests`` and gives it an ``AccountFeed``
bound to itself: the values come from the broker's account through the server, which
pushes updates to the subscriptions recorded here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from backend.sim import messages
from backend.sim.account import Position
from backend.sim.requests import Cursor
from backend.sim.wire import ProtocolError


@dataclass(frozen=True)
class AccountFeed:
    """What account answers are made of, for one client: nothing else of the session."""

    account: str
    """The one managed account (``SimConfig.account``)."""
    positions: Callable[[], Iterable[Position]]
    send: Callable[[list[object]], None]
    error: Callable[[int, int, str], None]
    snapshot: Callable[[], None]
    """Account values, portfolio rows and the update time (``SimServer``'s rows)."""
    multi: Callable[[int], None]
    summary: Callable[[int, list[str]], None]
    pnl: Callable[[int], None]


class AccountRequests:
    """Handlers of msgs 6, 17, 61, 62, 64, 76, 77, 92 and 93, and what they subscribe to
    (the server reads the subscriptions to push account updates)."""

    def __init__(self, feed: AccountFeed) -> None:
        self.feed = feed
        self.account_updates = False
        self.positions_sub = False
        self.multi_subs: set[int] = set()
        self.pnl_subs: set[int] = set()

    def stop(self) -> None:
        """The connection ended: nothing is pushed to it any more."""
        self.multi_subs.clear()
        self.pnl_subs.clear()
        self.account_updates = self.positions_sub = False

    def req_managed_accounts(self, fields: list[str]) -> None:
        self.feed.send([15, 1, self.feed.account])

    def req_account_updates(self, fields: list[str]) -> None:
        cur = Cursor(fields, 2, "reqAccountUpdates")
        subscribe = cur.bool("subscribe")
        code = cur.optional().strip()
        if code and code != self.feed.account:
            self.feed.error(-1, 321, f"Error validating request.-'bA' : cause - account "
                                     f"{code} is not managed by this login")
            return
        self.account_updates = subscribe
        if subscribe:
            self.feed.snapshot()
            self.feed.send([54, 1, self.feed.account])

    def req_account_updates_multi(self, fields: list[str]) -> None:
        req_id = Cursor(fields, 2, "reqAccountUpdatesMulti").int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqAccountUpdatesMulti: missing reqId")
        self.multi_subs.add(req_id)
        self.feed.multi(req_id)
        self.feed.send([74, 1, req_id])

    def cancel_multi(self, fields: list[str]) -> None:
        self.multi_subs.discard(Cursor(fields, 2, "cancelAccountUpdatesMulti").int("reqId") or 0)

    def req_account_summary(self, fields: list[str]) -> None:
        cur = Cursor(fields, 2, "reqAccountSummary")
        req_id = cur.int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqAccountSummary: missing reqId")
        cur.next("group")
        tags = [t.strip() for t in cur.next("tags").split(",") if t.strip()]
        self.feed.summary(req_id, tags)
        self.feed.send([64, 1, req_id])

    def req_positions(self, fields: list[str]) -> None:
        self.positions_sub = True
        for pos in self.feed.positions():
            self.feed.send(messages.position(self.feed.account, pos.instrument, pos.qty,
                                             pos.avg_cost))
        self.feed.send([62, 1])

    def cancel_positions(self, fields: list[str]) -> None:
        self.positions_sub = False

    def req_pnl(self, fields: list[str]) -> None:
        req_id = Cursor(fields, 1, "reqPnL").int("reqId", None)
        if req_id is None:
            raise ProtocolError("reqPnL: missing reqId")
        self.pnl_subs.add(req_id)
        self.feed.pnl(req_id)

    def cancel_pnl(self, fields: list[str]) -> None:
        self.pnl_subs.discard(Cursor(fields, 1, "cancelPnL").int("reqId") or 0)
