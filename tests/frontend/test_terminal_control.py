"""Manual control from the window, against the simulator (issue 11, "Manual control").

Closing one position from its row menu, the exit-leg warning from the orders menu, and the
order ticket: each test clicks the real widgets offscreen, answers the question as a trader
would (through the window's injectable ``confirm``/``choose``), and then checks the
simulator's own orders and positions.
"""

from __future__ import annotations

from decimal import Decimal

from PyQt6.QtCore import Qt

from backend.core.models import LegRole
from frontend.trade_actions import CLOSE_POSITION, KEEP
from tests.frontend.conftest import open_terminal
from tests.frontend.test_terminal_sim import connect
from tests.frontend.test_trade_actions import Answer, select, trade
from tests.helpers import eventually
from tests.oms.conftest import CLIENT_ID, broker_orders, held, live

LEFT = Qt.MouseButton.LeftButton


def menu_action(window, table, key: str, label: str):
    """Right-click the row of ``key`` in ``table``: the menu's one action, checked by label."""
    select(table, key)
    view = table.view
    point = view.visualRect(view.currentIndex()).center()
    menu = window._row_menu(table, point, label, window.actions.close_position
                            if table is window.positions_table else window.actions.cancel_order)
    assert menu is not None, "a row was under the pointer"
    [action] = menu.actions()
    assert action.text() == label
    return menu, action


def test_close_one_position_from_its_row_menu_ends_its_legs_and_sells_it(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            await eventually(lambda: window.positions.row("AAPL") is not None,
                             what="the position row")
            questions: list[str] = []

            def yes(title, text):
                questions.append(text)
                return True

            window.confirm = yes
            menu, action = menu_action(window, window.positions_table, "AAPL",
                                       "Close position…")
            action.trigger()
            await eventually(lambda: held(sim) == 0, what="flat at the broker")
            menu.close()
            assert "Close 100 AAPL at market?" in questions[0], "the question names the shares"
            orders = broker_orders(sim)
            for leg in legs.values():
                assert orders[leg.order_id]["status"] == "Cancelled", leg.role
            assert live(orders) == {}
            sells = [o for o in orders.values() if o["action"] == "SELL"
                     and o["order_type"] == "MKT" and o["status"] == "Filled"
                     and o["parent_id"] == 0]
            assert len(sells) == 1 and int(sells[0]["filled"]) == 100, "one market sell, once"

    run(scenario)
    assert run.reporter.reported == []


def test_the_close_button_in_the_position_row_asks_then_closes_it(
        run, sim, tmp_path, qsettings, qtbot):
    from frontend.widgets.row_button import button_rect

    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            await eventually(lambda: (window.positions.row("AAPL") or {}).get("quantity"),
                             what="the position row")
            view, proxy = window.positions_table.view, window.positions_table.proxy
            row = next(r for r in range(proxy.rowCount()) if proxy.key_at(r) == "AAPL")
            cell = proxy.index(row, window.positions.column_index("close"))
            view.scrollTo(cell)
            where = button_rect(view.visualRect(cell)).center()
            questions: list[str] = []
            window.confirm = lambda title, text: questions.append(text) or False
            qtbot.mouseClick(view.viewport(), LEFT, pos=where)
            await eventually(lambda: questions, what="the close question")
            assert "Close 100 AAPL at market?" in questions[0]
            assert held(sim) == 100, "declined: nothing sent"

            window.confirm = lambda title, text: True
            qtbot.mouseClick(view.viewport(), LEFT, pos=where)
            await eventually(lambda: held(sim) == 0, what="flat at the broker")
            orders = broker_orders(sim)
            assert all(orders[leg.order_id]["status"] == "Cancelled" for leg in legs.values())
            await eventually(lambda: window.positions.row("AAPL")["quantity"] == 0,
                             what="the row shows it closed")
            questions.clear()
            window.confirm = lambda title, text: questions.append(text) or True
            qtbot.mouseClick(view.viewport(), LEFT, pos=where)
            assert questions == [], "a closed position has no button"

    run(scenario)
    assert run.reporter.reported == []


def test_cancel_from_the_orders_menu_warns_that_ib_cancels_the_whole_group(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            legs = await trade(qtbot, window, core, sim)
            stop = legs[LegRole.SAFETY_STOP]
            window.choose = answer = Answer(KEEP)
            menu, action = menu_action(window, window.orders_table, stop.order_id,
                                       "Cancel order…")
            action.trigger()
            await eventually(lambda: answer.asked, what="the exit-leg question")
            menu.close()
            [(title, text, answers)] = answer.asked
            assert title == "Cancel an exit leg"
            assert f"OCA group {stop.oca_group}" in text and "(3 orders)" in text
            assert "cancels all protection of 100 AAPL" in text
            assert answers[0] == CLOSE_POSITION and answers[-1] == KEEP
            await eventually(lambda: any("kept, nothing sent" in m
                                         for m in window.log.messages()), what="kept")
            assert len(live(broker_orders(sim))) == 3 and held(sim) == 100

    run(scenario)
    assert run.reporter.reported == []


def fill_ticket(window, symbol: str, side: str = "BUY", quantity: int = 100,
                order_type: str = "LMT", limit: str = "100.05", attach: bool = True) -> None:
    t = window.ticket
    t.symbol_edit.setText(symbol)
    t.side_box.setCurrentText(side)
    t.quantity_spin.setValue(quantity)
    t.type_box.setCurrentText(order_type)
    t.limit_edit.setText(limit)
    t.attach_box.setChecked(attach)


def test_order_ticket_sends_an_entry_with_its_exit_group(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            asked: list[str] = []
            window.confirm = lambda title, text: asked.append(text) or True
            fill_ticket(window, "aapl", limit="100.05")
            assert window.ticket.attach_box.isChecked(), "exits attached by default"
            qtbot.mouseClick(window.ticket.send_button, LEFT)
            await eventually(lambda: len(live(broker_orders(sim))) == 3
                             and held(sim) == 100, what="entry filled, exits live")
            assert "BUY 100 AAPL limit 100.05 with its exit group" in asked[0]
            orders = broker_orders(sim)
            [entry] = [o for o in orders.values() if o["action"] == "BUY"]
            assert entry["order_type"] == "LMT"
            assert Decimal(str(entry["lmt_price"])) == Decimal("100.05")
            exits = [o for o in orders.values() if o["action"] == "SELL"]
            assert sorted(o["order_type"] for o in exits) == ["MKT", "STP", "TRAIL"]
            assert len({o["oca_group"] for o in exits}) == 1 and exits[0]["oca_group"]
            assert all(o["parent_id"] == entry["order_id"] for o in exits)
            signal_id = entry["order_ref"].split(":")[1]
            assert signal_id.startswith("manual-"), "a signal id: duplicates, reconciliation"
            assert {o["order_ref"].split(":")[1] for o in exits} == {signal_id}
            assert core.manager.journal.signal_outcome(signal_id) == "accepted"
            assert any(e.source == "ticket" and "orders" in e.message
                       for e in window.log.entries)

    run(scenario)
    assert run.reporter.reported == []


def test_order_ticket_market_buy_gets_the_trail_after_the_fill(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            window.confirm = lambda title, text: True
            # The exits of a market entry are priced from the ask the ticket sees (or the last).
            # Wait for what the ticket reads (a quote with an ask or a last, or the OMS's mark):
            # a quote object can exist before its first price (seen once under load).
            def priced() -> bool:
                quote = window.ticket.quote_of("AAPL")
                return core.manager.marks.get("AAPL") is not None or bool(
                    getattr(quote, "ask", None) or getattr(quote, "last", None))
            await eventually(priced, what="a price for AAPL")
            fill_ticket(window, "AAPL", order_type="MKT", limit="")
            ids = await window.ticket.submit()
            assert ids, window.ticket.message_label.text()
            await eventually(lambda: held(sim) == 100 and len(live(broker_orders(sim))) == 3,
                             what="filled, stop + time stop + trail live")
            exits = [o for o in broker_orders(sim).values() if o["action"] == "SELL"]
            assert sorted(o["order_type"] for o in exits) == ["MKT", "STP", "TRAIL"]
            assert len({o["oca_group"] for o in exits}) == 1

    run(scenario)
    assert run.reporter.reported == []


def test_order_ticket_refuses_with_a_sentence_and_sends_nothing(
        run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            window.confirm = lambda title, text: True
            fill_ticket(window, "AAPL")
            assert await window.ticket.submit() == []
            assert "Not connected" in window.ticket.message_label.text()
            await connect(qtbot, window, core)
            cases = [(dict(symbol="ZZZQX"), "not a symbol the broker knows"),
                     (dict(symbol="AAPL", limit="100.005"), "tick"),
                     (dict(symbol="AAPL", side="SELL", attach=False), "short"),
                     (dict(symbol="AAPL", limit="abc"), "not a number")]
            for fields, words in cases:
                fill_ticket(window, **fields)
                assert await window.ticket.submit() == []
                text = window.ticket.message_label.text()
                assert words in text and text.endswith("."), text
                assert "Traceback" not in text
            assert broker_orders(sim) == {}, "nothing reached the broker"
            assert sim.orders(CLIENT_ID) == []

    run(scenario)
    assert run.reporter.reported == []


def test_the_same_ticket_is_never_sent_twice(run, sim, tmp_path, qsettings, qtbot):
    async def scenario():
        async with open_terminal(sim, tmp_path, qsettings) as (core, window):
            await connect(qtbot, window, core)
            ticket_id = window.ticket.ticket_id
            first = await core.manager.place_manual("AAPL", "BUY", 10, order_type="LMT",
                                                    limit_price="100.05", ticket_id=ticket_id)
            from backend.core.manual_ticket import ManualOrderRefused

            try:
                await core.manager.place_manual("AAPL", "BUY", 10, order_type="LMT",
                                                limit_price="100.05", ticket_id=ticket_id)
            except ManualOrderRefused as exc:
                assert exc.code == "duplicate"
            else:
                raise AssertionError("a repeated ticket was sent again")
            await eventually(lambda: len(broker_orders(sim)) == len(first), what="orders")
            assert len([o for o in broker_orders(sim).values() if o["action"] == "BUY"]) == 1

    run(scenario)
    assert run.reporter.reported == []


# -- the ticket's rules, as a table ------------------------------------------------------------
BAD_TICKETS = [
    (dict(symbol=""), "bad_symbol", "Type a symbol first."),
    (dict(symbol="AA$L"), "bad_symbol", "'AA$L' is not a ticker."),
    (dict(side="HOLD"), "bad_side", "Side must be BUY or SELL, not 'HOLD'."),
    (dict(quantity="1.5"), "bad_quantity", "Quantity must be a whole number of shares, not 1.5."),
    (dict(quantity=0), "bad_quantity", "Quantity must be at least 1 share, not 0."),
    (dict(quantity="ten"), "bad_quantity", "Quantity 'ten' is not a number of shares."),
    (dict(order_type="STP"), "bad_type", "Order type must be MKT or LMT, not 'STP'."),
    (dict(order_type="LMT", limit_price=""), "bad_price", "A limit order needs a limit price."),
    (dict(order_type="LMT", limit_price="-1"), "bad_price",
     "Limit price must be positive, not -1."),
]


def test_a_bad_ticket_is_refused_naming_the_field():
    import pytest

    from backend.core.manual_ticket import ManualOrderRefused, parse_ticket

    base = dict(symbol="AAPL", side="BUY", quantity=100, order_type="MKT", limit_price=None)
    for fields, code, sentence in BAD_TICKETS:
        with pytest.raises(ManualOrderRefused) as caught:
            parse_ticket(**{**base, **fields})
        assert (caught.value.code, caught.value.reason) == (code, sentence), fields
    ticket = parse_ticket(" aapl ", "buy", "100", "lmt", "100.05")
    assert (ticket.symbol, ticket.quantity, ticket.limit_price) == ("AAPL", 100,
                                                                   Decimal("100.05"))
    assert ticket.protected_entry


def test_tick_session_and_sell_rules():
    from backend.core.manual_ticket import parse_ticket, sell_refusal, session_rule, tick_refusal
    from backend.core.market_hours import Session

    lmt = parse_ticket("AAPL", "BUY", 10, "LMT", "100.005")
    assert tick_refusal(lmt, Decimal("0.01")).code == "off_tick"
    assert tick_refusal(parse_ticket("AAPL", "BUY", 10, "LMT", "100.05"), Decimal("0.01")) is None
    mkt = parse_ticket("AAPL", "BUY", 10, "MKT")
    assert session_rule(mkt, Session.PRE_MARKET).code == "outside_rth"
    assert session_rule(mkt, Session.REGULAR) is None
    assert session_rule(lmt, Session.PRE_MARKET) is None, "a limit may rest outside RTH"
    sell = parse_ticket("AAPL", "SELL", 100, "MKT")
    assert sell_refusal(sell, held=100, protected=100).code == "protected"
    assert sell_refusal(sell, held=50, protected=0).code == "short"
    assert sell_refusal(sell, held=100, protected=0) is None
    assert sell_refusal(mkt, held=0, protected=0) is None
