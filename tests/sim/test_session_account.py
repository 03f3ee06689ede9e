"""``AccountRequests`` on its own: it answers through the ``AccountFeed`` it is given and
holds the subscriptions the server pushes to, with no session or server behind it."""

from __future__ import annotations

from backend.sim.session_account import AccountFeed, AccountRequests

ACCOUNT = "DU1234567"


def requests() -> tuple[AccountRequests, list[tuple]]:
    heard: list[tuple] = []
    feed = AccountFeed(
        account=ACCOUNT, positions=lambda: [],
        send=lambda fields: heard.append(("send", *fields)),
        error=lambda req_id, code, text: heard.append(("error", req_id, code)),
        snapshot=lambda: heard.append(("snapshot",)),
        multi=lambda req_id: heard.append(("multi", req_id)),
        summary=lambda req_id, tags: heard.append(("summary", req_id, *tags)),
        pnl=lambda req_id: heard.append(("pnl", req_id)))
    return AccountRequests(feed), heard


def test_another_account_is_refused_with_321_and_subscribes_nothing():
    acct, heard = requests()
    acct.req_account_updates(["6", "2", "1", "DU999"])
    assert heard == [("error", -1, 321)] and not acct.account_updates


def test_subscriptions_answer_through_the_feed_and_end_with_the_connection():
    acct, heard = requests()
    acct.req_account_updates(["6", "2", "1", ACCOUNT])
    acct.req_account_updates_multi(["76", "1", "9", ACCOUNT, "", "1"])
    acct.req_pnl(["92", "7", ACCOUNT, ""])
    acct.req_positions(["61", "1"])
    acct.req_account_summary(["62", "1", "4", "All", "NetLiquidation,BuyingPower"])
    assert heard == [("snapshot",), ("send", 54, 1, ACCOUNT), ("multi", 9), ("send", 74, 1, 9),
                     ("pnl", 7), ("send", 62, 1),
                     ("summary", 4, "NetLiquidation", "BuyingPower"), ("send", 64, 1, 4)]
    assert (acct.account_updates, acct.positions_sub, acct.multi_subs, acct.pnl_subs) == (
        True, True, {9}, {7})
    acct.stop()
    assert (acct.account_updates, acct.positions_sub, acct.multi_subs, acct.pnl_subs) == (
        False, False, set(), set())
