"""The simulated account: cash, positions with average cost, P&L and margin.

Average cost includes commissions, as IB reports it (a long's cost plus the
commission, a short's proceeds less it); realized P&L is net of commissions
on both sides. Margin is a plain Reg-T model (50% initial, 25%
maintenance on gross position value) with 4x intraday buying power.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from backend.sim.models import Instrument

INITIAL_MARGIN = Decimal("0.5")
MAINT_MARGIN = Decimal("0.25")
BUYING_POWER_MULTIPLE = 4
CENTS = Decimal("0.01")


@dataclass
class Position:
    instrument: Instrument
    qty: Decimal = Decimal(0)
    avg_cost: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)


@dataclass(frozen=True)
class FillResult:
    """What one execution did to the account; realized is None for an opening fill."""

    realized: Decimal | None


class Account:
    def __init__(self, code: str, cash: Decimal) -> None:
        self.code = code
        self.cash = cash
        self.positions: dict[int, Position] = {}
        self.commissions = Decimal(0)

    def position(self, inst: Instrument) -> Position:
        return self.positions.setdefault(inst.con_id, Position(inst))

    def apply_fill(self, inst: Instrument, side: str, qty: Decimal, price: Decimal,
                   fee: Decimal) -> FillResult:
        pos = self.position(inst)
        signed = qty if side == "BUY" else -qty
        self.cash -= signed * price + fee
        self.commissions += fee
        if pos.qty == 0 or (pos.qty > 0) == (signed > 0):
            basis = pos.avg_cost * abs(pos.qty) + _opening_basis(signed, qty, price, fee)
            pos.qty += signed
            pos.avg_cost = basis / abs(pos.qty)
            return FillResult(None)
        closing = min(qty, abs(pos.qty))
        fee_closing = fee * closing / qty
        direction = 1 if pos.qty > 0 else -1
        realized = (price - pos.avg_cost) * closing * direction - fee_closing
        pos.realized += realized
        pos.qty += signed
        opening = qty - closing
        if pos.qty == 0:
            pos.avg_cost = Decimal(0)
        elif opening > 0:  # flipped through zero: the rest opens a new position
            pos.avg_cost = _opening_basis(signed, opening, price, fee - fee_closing) / opening
        return FillResult(realized)

    # -- valuation ---------------------------------------------------------
    def values(self, marks: dict[int, Decimal]) -> dict[str, Decimal]:
        gross = Decimal(0)
        market_value = Decimal(0)
        unrealized = Decimal(0)
        for con_id, pos in self.positions.items():
            mark = marks.get(con_id, pos.avg_cost)
            market_value += pos.qty * mark
            gross += abs(pos.qty * mark)
            unrealized += (mark - pos.avg_cost) * pos.qty
        net_liq = self.cash + market_value
        init_req = gross * INITIAL_MARGIN
        maint_req = gross * MAINT_MARGIN
        available = net_liq - init_req
        excess = net_liq - maint_req
        realized = sum((p.realized for p in self.positions.values()), Decimal(0))
        return {
            "NetLiquidation": net_liq,
            "TotalCashValue": self.cash,
            "CashBalance": self.cash,
            "EquityWithLoanValue": net_liq,
            "GrossPositionValue": gross,
            "InitMarginReq": init_req,
            "MaintMarginReq": maint_req,
            "AvailableFunds": available,
            "ExcessLiquidity": excess,
            "BuyingPower": max(available, Decimal(0)) * BUYING_POWER_MULTIPLE,
            "UnrealizedPnL": unrealized,
            "RealizedPnL": realized,
        }

    def cushion_percent(self, marks: dict[int, Decimal]) -> Decimal:
        values = self.values(marks)
        if values["NetLiquidation"] <= 0:
            return Decimal(0)
        return values["ExcessLiquidity"] / values["NetLiquidation"] * 100


def _opening_basis(signed: Decimal, qty: Decimal, price: Decimal, fee: Decimal) -> Decimal:
    """What opening ``qty`` adds to the position's basis: a long's cost includes the
    commission, a short's proceeds are net of it, so either way the commission counts
    against the trade when the position is closed."""
    return qty * price + fee if signed > 0 else qty * price - fee


def money(value: Decimal) -> str:
    return str(value.quantize(CENTS))
