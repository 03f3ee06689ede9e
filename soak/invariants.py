"""The five promises of issue 10, checked against the simulator's own state.

Pure functions over plain snapshots (``SimThread.orders()``, ``positions()``,
``executions()`` and rows read from the journal), so each rule is testable with made-up
data and the checker never trusts what the application says about itself.

- I1 every long is covered for its full quantity by a working stop or an active trail, or
  is being sold at market (a flatten, or a time stop that came due);
- I2 no signal id has more than one entry that could execute at the broker;
- I3 the journal's fills equal the broker's executions;
- I4 realized P&L equals fills minus commissions to the cent: recomputed here from the
  broker's executions, and compared with the broker's books and the journal's;
- I5 nothing in limbo: no untransmitted or pending order at the broker, no journal order
  open that the broker has finished or does not know (nor a working broker order the journal
  holds as finished or lacks), no short position.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

STOPS = frozenset({"STP", "STP LMT"})
TRAILS = frozenset({"TRAIL", "TRAIL LIMIT"})
WORKING = frozenset({"PreSubmitted", "Submitted"})
DONE = frozenset({"Filled", "Cancelled", "ApiCancelled", "Inactive"})
PENDING = frozenset({"PendingSubmit", "PendingCancel", "ApiPending"})
JOURNAL_CLOSED = frozenset({"FILLED", "CANCELLED", "ERROR", "INACTIVE", "LOST", "REJECTED",
                            "EXPIRED"})
"""Journal statuses that are not "open" (INACTIVE: the broker parked it; LOST and the
others: names the redesign may add)."""
HALF_CENT = Decimal("0.005")

Order = dict[str, Any]


@dataclass(frozen=True)
class Violation:
    invariant: str
    key: str
    """What it is about (a symbol, a signal id, an order id): one report per key."""
    text: str


def role(order: Order) -> str:
    parts = str(order.get("order_ref") or "").split(":")
    return parts[2] if len(parts) == 3 and parts[0] == "s9" else ""


def signal_id(order: Order) -> str:
    parts = str(order.get("order_ref") or "").split(":")
    return parts[1].split("~")[0] if len(parts) == 3 and parts[0] == "s9" else ""


def _released(order: Order) -> bool:
    return not order["buffered"] and not order.get("discarded")


def protects(order: Order) -> bool:
    """A SELL that will act on its own: a stop waiting for its trigger (not held by an unfilled
    parent), a trail whose activation has happened, or a market sell already released."""
    if order["action"] != "SELL" or order["status"] not in WORKING or not _released(order):
        return False
    if order["held_by"] is not None:
        return False  # parent unfilled, goodAfterTime ahead, activation not reached
    kind = order["order_type"]
    return kind in STOPS or kind in TRAILS or kind == "MKT"


def coverage(orders: Iterable[Order], symbol: str) -> Decimal:
    """Shares the protecting orders of ``symbol`` would sell; an OCA group counts once (its
    largest member), since its members sell the same shares."""
    groups: dict[str, Decimal] = {}
    alone = Decimal(0)
    for o in orders:
        if o["symbol"] != symbol or not protects(o):
            continue
        left = Decimal(o["remaining"])
        if o.get("oca_group"):
            groups[o["oca_group"]] = max(groups.get(o["oca_group"], Decimal(0)), left)
        else:
            alone += left
    return alone + sum(groups.values(), Decimal(0))


def exits_text(orders: Iterable[Order], symbol: str) -> str:
    legs = [f"{o['order_id']} {role(o) or 'manual'} {o['order_type']} {o['status']}"
            f"{' held:' + o['held_by'] if o['held_by'] else ''} rem {o['remaining']}"
            for o in orders if o["symbol"] == symbol and o["action"] == "SELL"
            and o["status"] not in DONE]
    return "; ".join(legs) or "no live SELL"


def uncovered(orders: list[Order], positions: dict[str, dict]
              ) -> dict[str, tuple[Decimal, Decimal]]:
    """I1: symbol -> (long quantity, covered quantity) where coverage falls short."""
    out = {}
    for symbol, p in positions.items():
        qty = Decimal(p["qty"])
        if qty > 0:
            cov = coverage(orders, symbol)
            if cov < qty:
                out[symbol] = (qty, cov)
    return out


def duplicate_entries(orders: list[Order]) -> list[Violation]:
    """I2: entries of one signal id that executed or can still execute."""
    by_signal: dict[str, list[Order]] = {}
    for o in orders:
        if role(o) == "entry" and (Decimal(o["filled"]) > 0
                                   or (o["status"] in WORKING and _released(o))):
            by_signal.setdefault(signal_id(o), []).append(o)
    return [Violation("I2", sid, f"signal {sid} has {len(os_)} entries at the broker: "
                      + ", ".join(f"{o['order_id']} ({o['status']}, filled {o['filled']})"
                                  for o in os_))
            for sid, os_ in by_signal.items() if len(os_) > 1]


def shorts(positions: dict[str, dict]) -> list[Violation]:
    return [Violation("I5", f"short {s}", f"{s} is short {p['qty']} at the broker "
                      "(exits sold more than was bought)")
            for s, p in positions.items() if Decimal(p["qty"]) < 0]


def broker_limbo(orders: list[Order]) -> list[Violation]:
    """I5 at the broker: orders neither done nor really working."""
    out = []
    for o in orders:
        if o["status"] in DONE:
            continue
        what = ("untransmitted (transmit=False, never released)" if o["buffered"]
                else f"stuck {o['status']}" if o["status"] in PENDING else "")
        if what:
            out.append(Violation("I5", f"order {o['order_id']}",
                                 f"broker order {o['order_id']} {o['symbol']} "
                                 f"{role(o) or 'manual'} {o['order_type']} is {what}"))
    return out


def _broker_order(orders_by_id: dict[str, Order], perm: dict[str, Order],
                  order_id: str) -> tuple[bool, Order | None]:
    """(comparable, the broker's order) for a journal order id; synthetic ids are skipped."""
    if order_id.isdigit():
        return True, orders_by_id.get(order_id)
    if order_id.startswith("perm-") and order_id[5:].isdigit():
        return True, perm.get(order_id[5:])
    return False, None


def journal_limbo(journal_orders: list[dict], orders: list[Order]) -> list[Violation]:
    """I5 in the journal: an order held open that the broker finished or never knew."""
    by_id = {str(o["order_id"]): o for o in orders}
    perm = {str(o["perm_id"]): o for o in orders}
    out = []
    for j in journal_orders:
        if str(j["status"]) in JOURNAL_CLOSED:
            continue
        comparable, broker = _broker_order(by_id, perm, str(j["order_id"]))
        if not comparable:
            continue
        if broker is None:
            state = "does not know it"
        elif broker["status"] in DONE:
            state = f"has it {broker['status']}"
        elif broker["buffered"]:
            state = "holds it untransmitted"
        else:
            continue
        out.append(Violation("I5", f"journal {j['order_id']}",
                             f"journal order {j['order_id']} {j['symbol']} {j['role']} is "
                             f"{j['status']} but the broker {state}"))
    return out


def orphans(journal_orders: list[dict], orders: list[Order]) -> list[Violation]:
    """I5 the other way round: a working order at the broker that the journal does not have,
    or holds as finished (nobody would manage it: it may sell shares that are not there)."""
    journal = {str(j["order_id"]): j for j in journal_orders}
    out = []
    for o in orders:
        if o["status"] not in WORKING or not _released(o):
            continue
        j = journal.get(str(o["order_id"])) or journal.get(f"perm-{o['perm_id']}")
        if j is not None and str(j["status"]) not in JOURNAL_CLOSED:
            continue
        state = "does not have it" if j is None else f"has it {j['status']}"
        out.append(Violation("I5", f"orphan {o['order_id']}",
                             f"broker order {o['order_id']} {o['symbol']} {role(o) or 'manual'} "
                             f"{o['order_type']} is working but the journal {state}"))
    return out


def fills_mismatch(executions: list[dict], journal_fills: list[dict]) -> list[Violation]:
    """I3: the same executions, with the same shares, price and commission."""
    broker = {e["exec_id"]: e for e in executions}
    journal = {f["exec_id"]: f for f in journal_fills}
    out = []
    for exec_id in sorted(broker.keys() - journal.keys()):
        e = broker[exec_id]
        out.append(Violation("I3", exec_id, f"execution {exec_id} ({e['symbol']} {e['side']} "
                             f"{e['shares']} @ {e['price']}) is missing from the journal"))
    for exec_id in sorted(journal.keys() - broker.keys()):
        out.append(Violation("I3", exec_id, f"journal fill {exec_id} is unknown to the broker"))
    for exec_id in sorted(broker.keys() & journal.keys()):
        e, f = broker[exec_id], journal[exec_id]
        same = (Decimal(e["shares"]) == Decimal(f["quantity"])
                and Decimal(e["price"]) == Decimal(f["price"])
                and Decimal(e["commission"]) == Decimal(f["commission"]))
        if not same:
            out.append(Violation("I3", exec_id, f"fill {exec_id}: broker {e['shares']} @ "
                                 f"{e['price']} fee {e['commission']}, journal "
                                 f"{f['quantity']} @ {f['price']} fee {f['commission']}"))
    return out


def realized_from_executions(executions: list[dict]) -> Decimal:
    """Average cost with commissions in the basis, per symbol, in arrival order: over a
    round trip exactly proceeds - cost - every commission ("fills minus commissions")."""
    total = Decimal(0)
    books: dict[str, tuple[Decimal, Decimal]] = {}  # symbol -> (signed qty, basis)
    for e in executions:
        qty, basis = books.get(e["symbol"], (Decimal(0), Decimal(0)))
        shares, price, fee = Decimal(e["shares"]), Decimal(e["price"]), Decimal(e["commission"])
        signed = shares if e["side"] == "BOT" else -shares
        if qty == 0 or (qty > 0) == (signed > 0):
            basis += shares * price + fee if signed > 0 else -(shares * price - fee)
            qty += signed
        else:
            closing = min(abs(signed), abs(qty))
            unit = basis / qty
            direction = 1 if qty > 0 else -1
            total += (price - unit) * closing * direction - fee * closing / shares
            basis -= unit * closing * direction
            qty += signed if abs(signed) <= abs(qty) else 0
            left = shares - closing
            if left:  # a reversal opens the other way with the rest of the fill
                qty = -left if signed < 0 else left
                part_fee = fee * left / shares
                basis = left * price + part_fee if signed > 0 else -(left * price - part_fee)
            if qty == 0:
                basis = Decimal(0)
        books[e["symbol"]] = (qty, basis)
    return total


def pnl_mismatch(executions: list[dict], broker_realized: Decimal,
                 journal_realized: Decimal | None) -> list[Violation]:
    """I4, to the cent."""
    expected = realized_from_executions(executions)
    out = []
    if abs(broker_realized - expected) >= HALF_CENT:
        out.append(Violation("I4", "broker", f"broker realized P&L {broker_realized:.2f} but "
                             f"fills minus commissions give {expected:.2f}"))
    if journal_realized is not None and abs(journal_realized - expected) >= HALF_CENT:
        out.append(Violation("I4", "journal", f"journal realized P&L {journal_realized:.2f} "
                             f"but the broker's fills minus commissions give {expected:.2f}"))
    return out
