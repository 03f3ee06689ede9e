"""sigma9-sim: a local TWS that any TWS API client can trade against.

The package is layered like TWS itself: ``wire`` (framing and field codecs),
``requests`` (client -> server parsing), ``messages`` (server -> client
encoding), ``market`` (seeded and scripted prices), ``broker`` (the matching
engine, positions and account) and ``server`` (sockets, sessions, dispatch).
``control`` is the test- and CLI-facing handle over a running server.
"""

from backend.sim.config import SimConfig
from backend.sim.control import SimThread
from backend.sim.server import SimServer

__all__ = ["SimConfig", "SimServer", "SimThread"]
