"""What TWS fills in or rewrites on an order it accepts, and the warnings it adds.

Pure functions over the accepted ``OrderSpec`` (and its parent's), applied once at entry so
that every later echo (openOrder, completedOrder) carries what TWS would show:

- goodAfterTime and goodTillDate are echoed in the instrument's zone, ``YYYYMMDD HH:MM:SS
  US/Eastern``, whatever zone the client wrote (``api_tif_attribute_matrix_aapl``, August
  2026: ``20260824 22:46:45 UTC`` came back as ``20260824 18:46:45 US/Eastern``); one sent
  without a zone is read in the login zone (UTC here) and draws warning 2174 (ib-orders P5;
  the text is IB's as published in its message-code list; no capture shows it).
- REL without an offset gets 0.01 (``api_order_relative_cancel_aapl`` echo).
- A beta hedge child's quantity is derived from its parent (``api_hedge_order_aapl``).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from backend.sim import order_rules
from backend.sim.models import OrderSpec
from backend.sim.order_types import DEFAULT_REL_OFFSET
from backend.sim.timefmt import parse_ib_time

ECHO_ZONE = "US/Eastern"
"""The zone TWS echoes order times in for US stocks (the capture's login zone was CET)."""

IMPLIED_ZONE = (2174, "Warning: You submitted request with date-time attributes without "
                      "explicit time zone. Please switch to use yyyymmdd-hh:mm:ss in UTC or "
                      "use instrument time zone, like US/Eastern. Implied time zone "
                      "functionality will be removed in the next API release")

OCA_REUSED = ("OCA group {name} is already finished: OCA group names cannot be used again "
              "(sigma9-sim; IB's answer is unverified)")


def echo_time(text: str) -> tuple[str, bool]:
    """(the time as TWS echoes it, whether the client gave a zone)."""
    moment, zoned = parse_ib_time(text)
    local = moment.astimezone(ZoneInfo(ECHO_ZONE))
    return datetime.strftime(local, "%Y%m%d %H:%M:%S") + f" {ECHO_ZONE}", zoned


def normalise(spec: OrderSpec, parent: OrderSpec | None) -> list[tuple[int, str]]:
    """Rewrite ``spec`` as TWS keeps it; return the warnings to send after its echo."""
    warnings: list[tuple[int, str]] = []
    zoneless = False
    if spec.good_after_time:
        spec.good_after_time, zoned = echo_time(spec.good_after_time)
        zoneless |= not zoned
    if spec.good_till_date:
        spec.good_till_date, zoned = echo_time(spec.good_till_date)
        zoneless |= not zoned
    if zoneless:
        warnings.append(IMPLIED_ZONE)
    if spec.order_type == "REL" and spec.aux_price is None:
        spec.aux_price = DEFAULT_REL_OFFSET
    if parent is not None and spec.hedge_type:
        spec.total_qty = order_rules.hedge_quantity(spec.hedge_type, spec.hedge_param,
                                                    parent.total_qty, spec.total_qty)
    return warnings
