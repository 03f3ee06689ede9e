"""``sigma9 paper-check``: proof, on the trader's own paper account, of what Sigma9 assumes
about IB (issue 9, docs/oca.md).

Layers: ``capture`` (the wire capture), ``observe`` (what the server said per order),
``orders`` (Sigma9's chains and the variants, built by ``backend.core.exit_plan``),
``context`` (send / wait / cancel / flatten within the time budget), ``probes`` (the
placements), ``rows`` (the assumptions and their checks, as a table), ``report`` (text),
``runner`` (one run) and ``cli`` (the command line). It lives under ``backend/broker`` because
it talks to IB through ib_insync directly: it must see IB's own answers, not Sigma9's
reading of them.
"""
