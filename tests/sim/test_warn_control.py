"""``SimThread.warn_next_order``: IB's code for one chosen order, which keeps working.

Real IB sends codes such as 399 after the echo of an order it accepted and holds
(``api_bracket_place_aapl``: openOrder, orderStatus PreSubmitted, then 399 per leg). The
control sends any code that way, so the connector's handling of warnings and of codes no
table knows can be tested against a broker whose order book really is unchanged.
"""

from __future__ import annotations

from ib_insync import LimitOrder, StopOrder

from tests.sim.conftest import wait_until


def status(sim, order_id: int) -> str:
    return next((o["status"] for o in sim.orders(1) if o["order_id"] == order_id), "")


def test_the_code_follows_the_echo_and_the_order_keeps_working(sim, ib, aapl):
    seen: list[tuple[int, int, str, str]] = []
    ib.errorEvent += lambda req, code, text, _c: seen.append(
        (req, code, text, sim.order(req)["status"] if req > 0 else ""))
    sim.warn_next_order(10349, "Order TIF was set to DAY based on order preset.",
                        match=lambda spec: spec.order_type == "STP")
    other = ib.placeOrder(aapl, LimitOrder("BUY", 10, 50))
    stop = ib.placeOrder(aapl, StopOrder("SELL", 10, 40, tif="GTC"))
    wait_until(ib, lambda: any(code == 10349 for _r, code, _t, _s in seen), what="10349")

    ((req, _code, text, status_then),) = [s for s in seen if s[1] == 10349]
    assert req == stop.order.orderId, "only the matching order is warned"
    assert text == "Order TIF was set to DAY based on order preset."
    assert status_then in ("PreSubmitted", "Submitted"), "sent after the order was accepted"
    sim.match(3)
    assert sim.order(stop.order.orderId)["status"] in ("PreSubmitted", "Submitted")
    assert sim.order(other.order.orderId)["status"] == "Submitted"
    # One warning per call: the next matching order is placed without one.
    again = ib.placeOrder(aapl, StopOrder("SELL", 10, 39, tif="GTC"))
    wait_until(ib, lambda: status(sim, again.order.orderId) in ("PreSubmitted", "Submitted"),
               what="the second stop accepted")
    ib.sleep(0.1)
    assert [s for s in seen if s[1] == 10349 and s[0] == again.order.orderId] == []


def test_a_buffered_leg_is_warned_when_its_chain_is_released(sim, ib, aapl):
    codes: list[tuple[int, int]] = []
    ib.errorEvent += lambda req, code, _t, _c: codes.append((req, code))
    sim.warn_next_order(2109, "Order Event Warning: Attribute 'Outside Regular Trading Hours' "
                        "is ignored based on the order type and destination. PlaceOrder is "
                        "now processed.", match=lambda spec: spec.order_type == "STP")
    parent = LimitOrder("BUY", 10, 50, orderId=ib.client.getReqId(), transmit=False)
    child = StopOrder("SELL", 10, 40, orderId=ib.client.getReqId(), parentId=parent.orderId,
                      transmit=False)
    last = LimitOrder("SELL", 10, 200, orderId=ib.client.getReqId(), parentId=parent.orderId,
                      transmit=True)
    ib.placeOrder(aapl, parent)
    ib.placeOrder(aapl, child)
    ib.sleep(0.1)
    assert (child.orderId, 2109) not in codes, "nothing is said about an untransmitted order"
    ib.placeOrder(aapl, last)
    wait_until(ib, lambda: (child.orderId, 2109) in codes, what="2109 on release")
    assert sim.order(child.orderId)["status"] == "PreSubmitted"
