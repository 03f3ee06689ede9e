"""The simulator's built-in scenario names and the flags that choose them, as plain data.

Outside the ``backend.sim`` package on purpose: importing anything inside it runs
``backend/sim/__init__``, which loads the whole server (about 0.09 s), and ``sigma9 --sim``
asks which scenario to pass before it can start the simulator child (issue 12, start-up).
``backend.sim.config`` and ``backend.sim.cli`` read these names from here, so the launcher
and the simulator share one table. Imports nothing.
"""

from __future__ import annotations

SCENARIOS = ("ignition",)
"""Named scenarios built into the market (``backend/sim/episodes.py``)."""

SCENARIO_FLAG = "--scenario"
"""``sigma9-sim --scenario NAME|FILE``."""

EPISODE_BAR_FLAG = "--episode-bar-seconds"
"""``sigma9-sim --episode-bar-seconds N``: the strategy's bar size the episodes are shaped for."""
