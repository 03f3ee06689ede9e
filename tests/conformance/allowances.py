"""What a comparison with IB's captures allows for, and what it takes from outside them.

Each entry names its evidence (the live captures in ``captures/``, ThomasMarcelis/ibkr-go)
and docs/simulator.md ("Conformance with live IB captures") lists the same:

- ``OPTIONAL_TRANSIENTS``: statuses IB sends in some captures and leaves out in others of
  the same situation; the simulator sends the fullest sequence and the comparison may drop
  them from the simulator's side only (``tolerated_statuses``).
- ``relative_band``: the price band's 202 compared by its stable part and its band ratio.
- ``RECORDING_CUT``: captures whose recording stops before IB had answered the last request.
- ``MARKET_BY_CAPTURE``: AAPL's price for a capture that holds no evidence of it.
"""

from __future__ import annotations

import re
from decimal import Decimal

MARKET_BY_CAPTURE: dict[str, tuple[Decimal, str]] = {
    "place_order_lmt_buy_aapl": (Decimal("292.70"), "place_order_mkt_sell_aapl's fill, 6 s "
                                                    "earlier (11 June, 15:30:11 CET)"),
    "include_overnight_lifecycle_aapl.sv225": (
        Decimal("309.16"), "api_order_fill_aapl.sv225's first fill, 97 s earlier (25 August, "
                           "20:11:28 CET)"),
    "order_lifecycle_sv203_live": (
        Decimal("308.40"), "no capture of 10 July shows AAPL's price: 4 July's "
                           "(api_reconnect_recovered_cancel_status_aapl); only a bound "
                           "matters, and the capture gives it: its $50 BUY limit rested "
                           "unfilled and inside the price band, so IB's market was far above"),
    "empty_tif_default_aapl": (
        Decimal("320.20"), "its 16.01 BUY limit x 20: the ibkr-go driver places its far limits "
                           "at 1/20 of its quote anchor (15.53 with AAPL at 310.65 on 24 "
                           "August, 15.48 at 309.16 on 25 August); only a bound matters, and "
                           "the limit rested unfilled"),
    "whatif_rejections": (
        Decimal("308.40"), "no capture of 11 July shows AAPL's price: 4 July's; what-if "
                           "previews never execute, and the answers compared (200, 10255) "
                           "are about the contract and the algo, not the price"),
    "whatif_tif_default_live": (
        Decimal("308.40"), "no capture of 11 July shows AAPL's price: 4 July's; a what-if "
                           "MKT preview never executes (the answer compared: 10349)"),
}
"""AAPL's price for a capture that holds no evidence of it, with the evidence used."""
RECORDING_CUT: dict[str, str] = {
    "api_order_type_matrix_aapl": "its header: 'Retained capture frames 4-5, 32-342, and "
                                  "433-442 ... the final verification query [is] omitted': "
                                  "the global cancel's answers end with frame 442, after "
                                  "three orders; a minute earlier the same Gateway answered "
                                  "161 for every filled order (api_order_fill_aapl)",
}
"""Captures whose recording ends before IB had answered their last request in full: the
simulator's answers to that request are compared only for the orders IB's recording
answered after it (``_cut_after_last_request``)."""
OPTIONAL_TRANSIENTS: dict[str, frozenset[str]] = {
    "PreSubmitted": frozenset({"Submitted", "Filled", "PendingCancel"}),
    "Submitted": frozenset({"Filled", "PendingCancel"}),
    "PendingCancel": frozenset({"Cancelled"}),
}
"""A status IB sometimes sends and sometimes leaves out just before the status named here,
for the same kind of order in the same situation (ib-orders P8: orderStatus is not
guaranteed for every transition). The simulator always sends the fullest sequence; a
comparison drops such a status from the SIMULATOR's sequence only, and only where that
makes it IB's (``tolerated_statuses``), so a status IB did send is never excused:

- PreSubmitted before Submitted: a resting LMT, ``api_order_rest_cancel_aapl`` and
  ``api_tif_attribute_matrix_aapl`` 246 (with) vs ``api_order_rest_cancel_161_aapl``,
  ``api_cross_client_cancel_aapl`` (without); a MKT, ``api_order_type_matrix_aapl`` 391
  (with) vs 379/380 (without, same session).
- PreSubmitted before Filled, Submitted before Filled: a MKT filled at once,
  ``api_pairs_trading_aapl_msft`` 278 (PreSubmitted, Filled) vs 279 (Submitted, Filled),
  ``api_order_fill_aapl.sv225`` 601 (PreSubmitted, Submitted, Filled) vs 600 (Submitted,
  Filled), ``api_order_fill_aapl`` 373 (all three) vs 371 (PreSubmitted, Filled).
- PreSubmitted before PendingCancel: the price band's cancel, ``api_oca_trigger_aapl`` 51
  and ``api_order_rejects_aapl`` 348 (with) vs ``api_order_type_matrix_aapl`` 381 (without).
- Submitted before PendingCancel: a client cancel of a resting LMT soon after it was
  placed, ``api_order_rest_cancel_aapl`` (PreSubmitted, Submitted, PendingCancel) vs
  ``order_lifecycle_sv203_live`` (PreSubmitted, PendingCancel).
- PendingCancel before Cancelled: a client cancel of a resting LMT,
  ``api_order_rest_cancel_aapl`` and ``order_lifecycle_sv203_live`` (with) vs
  ``api_order_rest_cancel_161_aapl`` and ``place_order_lmt_buy_aapl`` (without).
"""

_BAND = re.compile(r"more aggressive than (\d+(?:\.\d+)?)\.(.*?)current market price of "
                   r"(\d+(?:\.\d+)?)\..*$", re.DOTALL)


def tolerated_statuses(ib: list[str], sim: list[str]) -> list[str]:
    """``sim`` with optional transients (``OPTIONAL_TRANSIENTS``) removed where removing
    some of them turns it into ``ib``; otherwise ``sim`` unchanged, so a real difference
    is shown as the simulator sent it. A status is optional only before the status that
    followed it in the simulator's own sequence; nothing is ever removed from ``ib``."""

    def fits(i: int, j: int) -> bool:
        if i == len(sim):
            return j == len(ib)
        if j < len(ib) and sim[i] == ib[j] and fits(i + 1, j + 1):
            return True
        return (i + 1 < len(sim) and sim[i + 1] in OPTIONAL_TRANSIENTS.get(sim[i], ())
                and fits(i + 1, j))

    return list(ib) if fits(0, 0) else list(sim)


def relative_band(text: str) -> str:
    """A price-band 202 up to "current market price of X.", its two prices replaced by
    the ratio of the band's limit to the market (both move with the market, which is never
    compared; the ratio is IB's band, 2.94% in April and June alike), ``<br>`` as space.
    IB worded the rest differently over time: April (``api_oca_trigger_aapl``,
    ``api_bracket_trigger_aapl``) "... Please submit your order using a limit price that is
    closer to the current market price of 257.68."; June (``api_order_rejects_aapl``,
    ``api_order_type_matrix_aapl``) "... your order <br>using ... price of 292.34. or convert
    your order to an <br>algorithmic Order (IBALGO)". Which wording a date gets is not
    knowable; the simulator sends June's. Any other text is returned as it is."""

    def relative(m: re.Match) -> str:
        ratio = (Decimal(m.group(1)) / Decimal(m.group(3))).quantize(Decimal("0.0001"))
        return (f"more aggressive than <market x {ratio}>.{m.group(2)}current market price "
                f"of <market>.")

    out = _BAND.sub(relative, text)
    return out.replace("<br>", " ") if out != text else text
