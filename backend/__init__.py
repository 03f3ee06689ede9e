"""Sigma9 backend: everything that is not the GUI.

Layering (imports only point the way of the arrows)::

    frontend  ->  backend.core  <-  backend.broker
                       ^
               backend.strategies

``backend.core`` holds the broker-neutral domain model and services, so the GUI and the
strategies never depend on a particular API client. ``backend.broker`` adapts Interactive
Brokers to that model and is the only package allowed to import ``ib_insync``.
``backend.sim`` is a standalone TWS API simulator that speaks the wire protocol, so the whole
stack can run without an IB account. ``backend.settings`` is the single configuration object.
"""
