"""The connector's link to TWS: connecting, the handshake's failures, and reconnecting.

Split from ``connector`` so that everything about the socket's life sits in one place.

Connecting ends in one of two ways, always within the connect timeout: connected (and
synced), or ``ConnectFailed`` with one sentence (``errors.explain_connect_failure``). The
ways a port can fail to be TWS are tried deliberately in tests/broker/test_hostile_servers.py:
nothing listening, a port that accepts and never answers, a client id in use (TWS answers 326
and closes), and a server that answers garbage. ib_insync itself does not bound the whole
attempt: a garbled server-version reply raises inside its protocol callback, and then it
waits for a handshake that never comes; a reply whose length prefix claims gigabytes makes it
wait for bytes that never come. So the attempt is bounded here as a whole, and what the
server sent is named in the sentence when it was not the protocol.

Reconnect: a drop that Sigma9 did not ask for starts a backoff loop (initial -> max delay,
doubling). Once back, market data is resubscribed and ``reconnected`` is emitted so the
OrderManager reconciles with the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from backend.broker.errors import ConnectFailed, explain_connect_failure
from backend.core.models import ConnectionState

if TYPE_CHECKING:
    from backend.broker.connector import IBKRConnector

log = logging.getLogger("sigma9.broker")

ATTEMPT_TIMEOUTS = 4
"""ib_insync applies the timeout to each of four steps (TCP, handshake, the sync requests,
the executions); the whole attempt is cut after all four, a safety net for a step that
ignores its own."""


class Link:
    def __init__(self, connector: IBKRConnector) -> None:
        self.c = connector
        self.want_connected = False
        """Automatic reconnects are wanted only once a connection has been made: the
        disconnect that cleans up a failed first attempt must not start the retry loop."""
        self.reconnect_task: asyncio.Task | None = None
        self.saw_326 = False
        self.refused: asyncio.Future | None = None
        self.garbled: str = ""
        """Set when the server's first reply was not the TWS API (see ``on_unreadable``)."""

    def attach(self) -> None:
        """Listen to the connector's ib_insync client (called when the client is made)."""
        ib = self.c.ib
        ib.disconnectedEvent += self.on_disconnected
        # ib_insync reads the socket in an eventkit handler: what it cannot parse lands on
        # the event's error_event (with a listener, eventkit logs no traceback).
        ib.client.conn.hasData.error_event += self.on_unreadable

    # -- connecting --------------------------------------------------------------------------
    async def connect(self) -> None:
        c = self.c
        self.want_connected = False
        c._set_state(ConnectionState.CONNECTING, f"connecting to {c.host}:{c.port}")
        try:
            await self.connect_once()
        except ConnectFailed as exc:
            c._set_state(ConnectionState.DISCONNECTED, str(exc))
            raise
        self.want_connected = True

    async def connect_once(self) -> None:
        c = self.c
        self.saw_326, self.garbled = False, ""
        loop = asyncio.get_running_loop()
        self.refused = loop.create_future()
        attempt = loop.create_task(c.ib.connectAsync(
            c.host, c.port, clientId=c.client_id, timeout=c.timeout,
            account=c.requested_account))
        try:
            # TWS answers a clientId in use with 326 and a closed socket; ib_insync would
            # wait out its whole timeout, so stop waiting as soon as the 326 is seen. A
            # garbled reply also ends the wait at once (``on_unreadable``).
            done, _ = await asyncio.wait({attempt, self.refused},
                                         timeout=c.timeout * ATTEMPT_TIMEOUTS + 1,
                                         return_when=asyncio.FIRST_COMPLETED)
            if not attempt.done():
                attempt.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await attempt
                if self.refused in done and not self.saw_326:
                    raise ConnectionError(self.garbled)
                raise (ConnectionError("client id in use") if self.saw_326
                       else asyncio.TimeoutError())
            attempt.result()
            self.refused = None
        except asyncio.CancelledError:
            # disconnect() during a retry: the attempt must not live on and connect later.
            attempt.cancel()
            self.refused = None
            raise
        except (Exception, asyncio.TimeoutError) as exc:
            self.refused = None
            c.ib.disconnect()
            if self.garbled:
                raise ConnectFailed(f"{c.host}:{c.port} answered with something that is not "
                                    f"the TWS API ({self.garbled}): is this port TWS or IB "
                                    "Gateway?") from None
            raise ConnectFailed(explain_connect_failure(
                exc, c.host, c.port, c.client_id, c.timeout, self.saw_326)) from None
        accounts = c.ib.managedAccounts()
        if c.requested_account and c.requested_account not in accounts:
            c.ib.disconnect()
            raise ConnectFailed(f"account {c.requested_account} is not managed by this "
                                f"login (it manages {', '.join(accounts) or 'none'})")
        c.account = c.requested_account or (accounts[0] if accounts else "")
        c._set_state(ConnectionState.CONNECTED,
                     f"connected to {c.host}:{c.port} as client {c.client_id}, "
                     f"account {c.account}")
        c.inbound.emit_positions()

    def on_326(self) -> None:
        self.saw_326 = True
        if self.refused is not None and not self.refused.done():
            self.refused.set_result(True)

    def on_unreadable(self, _event: object, error: Exception) -> None:
        """ib_insync could not read what the server sent. While connecting, the server is
        not TWS (or not a TWS API we speak): stop waiting and say so. Once connected, one
        line in the log; ib_insync's own decoder keeps going with the next message."""
        what = f"{type(error).__name__}: {error}"
        connecting = self.refused is not None and not self.refused.done()
        if not connecting:
            log.warning("unreadable data from %s:%s ignored (%s)", self.c.host, self.c.port,
                        what)
            return
        log.warning("%s:%s sent something ib_insync cannot read (%s)", self.c.host,
                    self.c.port, what)
        self.garbled = self.garbled or what[:80]
        assert self.refused is not None
        self.refused.set_result(True)

    # -- disconnecting and reconnecting ------------------------------------------------------
    async def disconnect(self) -> None:
        c = self.c
        self.want_connected = False
        if self.reconnect_task is not None:
            self.reconnect_task.cancel()
            self.reconnect_task = None
        c.market.forget_tickers()
        c.ib.disconnect()
        c._set_state(ConnectionState.DISCONNECTED, "disconnected")

    def on_disconnected(self) -> None:
        # ib_insync may fire this twice for one drop (ib_async #207): stay idempotent.
        if not self.want_connected or self.reconnect_task is not None:
            return
        self.c.market.forget_tickers()
        self.c._set_state(ConnectionState.RECONNECTING, "connection lost; reconnecting")
        self.reconnect_task = asyncio.get_event_loop().create_task(self.reconnect_loop())

    async def reconnect_loop(self) -> None:
        c = self.c
        delay, ceiling = c.reconnect_delays
        try:
            while self.want_connected:
                await asyncio.sleep(delay)
                try:
                    await self.connect_once()
                except ConnectFailed as exc:
                    c._set_state(ConnectionState.RECONNECTING,
                                 f"{exc}; retrying in {min(delay * 2, ceiling):g}s")
                    delay = min(delay * 2, ceiling)
                    continue
                await c.market.resubscribe()
                c.reconnected.emit()
                return
        finally:
            self.reconnect_task = None
