"""Interactive Brokers adapter: translates between ``ib_insync`` and ``backend.core``.

This is the ONLY package allowed to import ``ib_insync``; keeping the third-party client behind
one boundary means it can be swapped (e.g. for ``ib_async``) or faked without touching the GUI
or the core. It depends on ``backend.core``, never on ``frontend``.
"""
