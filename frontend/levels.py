"""The chart's trade levels: entry, safety stop, trail activation and the live trail.

Where each number comes from (all of it is what the broker holds, except where noted):

* **entry**: the entry order's average fill price.
* **stop**: the live safety-stop leg's stop price.
* **activation**: the level of the PriceCondition that wakes the trail (and cancels the time
  stop). IB does not echo conditions in order status, so it is recomputed exactly as
  ``exit_plan.exit_levels`` built it: the signal's reference price x (1 + activation%),
  rounded to the tick. The reference comes from the OrderManager's signals of this session,
  else from the journal (after a restart), else the entry's fill price. The tick is 0.01, the
  grid of US stocks above $1 (Rule 612), which is what the simulator and the exit builder use.
* **trail**: shown once the price has reached the activation level (the trail is dormant
  before that). It is the higher of the broker's reported trailing stop and
  ``highest last since activation - trail amount``: IB does not stream the ratchet, so the
  terminal follows it from the ticks it sees, and never shows it below the broker's value.

When no exit leg is live for the symbol there is no trade on, and every level is hidden.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from backend.core.exit_plan import ExitParams, base_signal_id, round_to_tick
from backend.core.models import LegRole, OrderRecord, OrderStatus, Quote, Side

PENNY = Decimal("0.01")
EXIT_ROLES = (LegRole.SAFETY_STOP, LegRole.TIME_STOP, LegRole.PROFIT_HARVESTER)


@dataclass(frozen=True)
class ChartLevels:
    entry: Decimal | None = None
    stop: Decimal | None = None
    activation: Decimal | None = None
    trail: Decimal | None = None

    def as_kwargs(self) -> dict[str, Decimal | None]:
        return {"entry": self.entry, "stop": self.stop, "activation": self.activation,
                "trail": self.trail}


def _live(record: OrderRecord) -> bool:
    return not record.status.is_final and record.status is not OrderStatus.INACTIVE


def _id_number(order_id: str) -> int:
    return int(order_id) if order_id.isdigit() else -1


def current_trade(orders: Iterable[OrderRecord], symbol: str) -> tuple[str, list[OrderRecord]]:
    """The signal id of ``symbol``'s live trade and its live exit legs ("" and [] if none)."""
    legs = [r for r in orders if r.symbol == symbol and r.role in EXIT_ROLES
            and r.side is Side.SELL and _live(r)]
    if not legs:
        return "", []
    newest = max(legs, key=lambda r: _id_number(r.order_id))
    signal_id = base_signal_id(newest.signal_id)
    return signal_id, [r for r in legs if base_signal_id(r.signal_id) == signal_id]


def activation_level(reference: Decimal, params: ExitParams, tick: Decimal = PENNY) -> Decimal:
    return round_to_tick(reference * (1 + params.trail_activation_pct / 100), tick)


class LevelTracker:
    """Follows one symbol's trade for the chart; ``levels()`` is cheap enough per tick."""

    def __init__(self, orders: Callable[[], Iterable[OrderRecord]],
                 reference_of: Callable[[str], Decimal | None], params: ExitParams,
                 tick: Decimal = PENNY) -> None:
        self.orders = orders
        self.reference_of = reference_of
        self.params = params
        self.tick = tick
        self.symbol = ""
        self._signal_id = ""
        self._high: Decimal | None = None

    def set_symbol(self, symbol: str) -> None:
        self.symbol = symbol.strip().upper()
        self._signal_id, self._high = "", None

    def on_quote(self, quote: Quote) -> None:
        if quote.symbol != self.symbol or quote.last is None:
            return
        if self._high is None or quote.last > self._high:
            self._high = quote.last

    def levels(self) -> ChartLevels:
        records = list(self.orders())
        signal_id, legs = current_trade(records, self.symbol)
        if not legs:
            self._signal_id, self._high = "", None
            return ChartLevels()
        if signal_id != self._signal_id:  # a new trade: highs of the last one do not count
            self._signal_id, self._high = signal_id, None
        entry = next((r for r in records if r.role is LegRole.ENTRY
                      and r.signal_id == signal_id), None)
        entry_price = entry.avg_fill_price if entry is not None else None
        by_role = {r.role: r for r in legs}
        stop_leg = by_role.get(LegRole.SAFETY_STOP)
        reference = self.reference_of(signal_id) or entry_price
        activation = activation_level(reference, self.params, self.tick) if reference else None
        return ChartLevels(entry=entry_price,
                           stop=stop_leg.stop_price if stop_leg else None,
                           activation=activation,
                           trail=self._trail(by_role.get(LegRole.PROFIT_HARVESTER), activation))

    def _trail(self, leg: OrderRecord | None, activation: Decimal | None) -> Decimal | None:
        if leg is None or activation is None or self._high is None or self._high < activation:
            return None
        candidates = [leg.stop_price] if leg.stop_price is not None else []
        if leg.trail_amount is not None:
            candidates.append(self._high - leg.trail_amount)
        return max(candidates) if candidates else None
