"""Broker-neutral domain model and services (orders, positions, quotes, journal).

This is the centre of the dependency graph: the frontend and the broker adapter both depend on
it, and it depends on neither, so it stays testable without Qt or a live connection. It must not
import ``ib_insync``, ``PyQt6`` or anything from ``frontend``/``backend.broker``.
"""
