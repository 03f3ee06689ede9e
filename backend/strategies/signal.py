"""The Signal's old home, kept for scripts: ``Signal`` now lives in ``backend.core.signal``.

The OrderManager consumes Signals, so the type belongs to the core (which imports nothing
from the strategies). These are the very same objects, not copies: ``isinstance`` and
pickling work whichever path a script imports from (docs/api.md).
"""

from backend.core.signal import MalformedSignal, Signal, SignalRefused, parse_signal

__all__ = ["MalformedSignal", "Signal", "SignalRefused", "parse_signal"]
