"""Trading strategies, written against ``backend.core`` only.

Strategies see quotes and submit orders through core interfaces, so the same code runs against
real TWS/Gateway, the simulator, or a unit-test fake. They must not import ``ib_insync``,
``backend.broker`` or ``frontend``.
"""
