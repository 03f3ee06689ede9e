"""Who may connect: trusted addresses and the API-client limit, and how refusals are logged.

TWS takes API connections from loopback when "Allow connections from localhost only" is
set, and otherwise from the addresses under "Trusted IPs"; for any other peer it shows an
"accept incoming connection?" dialog (IB's TWS API settings: ibkrguides.com,
traderworkstation/api.htm; trade-commander.com/tws-api-settings). Unattended nobody
answers that dialog, so the simulator refuses such a peer at once. Each TWS session
"can receive up to 32 different client applications simultaneously"
(interactivebrokers.github.io/tws-api/connection.html); what TWS does with the 33rd has
no public evidence (``sigma9 paper-check`` must confirm): the simulator closes it before
the handshake, the only moment it can, since no message format is agreed yet.

A flood of refusals must not flood the log: ``Notices`` logs each kind of trouble at most
once per interval and counts the rest.
"""

from __future__ import annotations

import ipaddress
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1")
"""Always trusted by the CLI (TWS's localhost); a SimConfig may leave it out."""


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"--trusted: {entry!r} is not an IP address or network") from None
    return tuple(networks)


def host_is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip()).is_loopback
    except ValueError:
        return False


def check_bind(host: str, trusted: Iterable[str]) -> None:
    """Binding beyond loopback lets other machines reach the port: refuse it unless the
    addresses that may connect are named, so nobody opens a trading port by accident."""
    networks = parse_networks(trusted)
    if host_is_loopback(host) or any(not n.is_loopback for n in networks):
        return
    raise ValueError(f"--host {host or '(every interface)'}: other machines could reach the "
                     "port; name the ones that may connect with --trusted ADDR[,NETWORK...] "
                     "(TWS's Trusted IPs)")


def describe(trusted: Iterable[str]) -> str:
    """``loopback, 192.0.2.0/24``: for the serving line and the log."""
    networks = parse_networks(trusted)
    named = [str(n.network_address if n.num_addresses == 1 else n)
             for n in networks if not n.is_loopback]
    return ", ".join((["loopback"] if len(named) < len(networks) else []) + named) or "nobody"


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class Refusal:
    kind: str
    text: str


class Admission:
    """Decides, at accept time, whether a peer gets a session."""

    def __init__(self, trusted: Iterable[str], max_clients: int) -> None:
        self.networks = parse_networks(trusted)
        self.max_clients = max_clients

    def trusts(self, host: str | None) -> bool:
        address = _address(host) if host else None
        return address is not None and any(address in n for n in self.networks)

    def refusal(self, host: str | None, open_connections: int) -> Refusal | None:
        if not self.trusts(host):
            return Refusal("untrusted", "not a trusted address (TWS would ask whether to "
                                        f"accept it; start sigma9-sim with --trusted {host})")
        if open_connections >= self.max_clients:
            return Refusal("full", f"{open_connections} connections already open "
                                   f"(the limit; TWS serves up to 32 API clients)")
        return None


class Notices:
    """Warnings a flood could repeat thousands of times a second: each kind is logged at
    most once per ``interval_s``; the next one logged says how many were held back."""

    def __init__(self, logger: logging.Logger, interval_s: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[str, tuple[float, int]] = {}

    def warn(self, kind: str, message: str) -> None:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last[0] < self.interval_s:
            self._last[kind] = (last[0], last[1] + 1)
            return
        held = f" ({last[1]} more like it in the last {now - last[0]:.0f} s)" if (
            last and last[1]) else ""
        self.logger.warning("%s%s", message, held)
        self._last[kind] = (now, 0)
