"""Configuration of one simulator instance (a plain frozen dataclass: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from backend import sim_scenarios


@dataclass(frozen=True)
class SimConfig:
    host: str = "127.0.0.1"
    port: int = 4002
    symbols: tuple[str, ...] = ("AAPL", "MSFT", "TSLA")
    seed: int = 7
    tick_interval_s: float = 0.25
    volatility: float = 0.0004
    """Standard deviation of the per-tick log return."""
    drift: float = 0.0
    """Mean per-tick log return."""
    half_spread_ticks: int = 1
    account: str = "DU1234567"
    starting_cash: Decimal = Decimal("1000000")
    commission_per_share: Decimal = Decimal("0.005")
    commission_min: Decimal = Decimal("1.00")
    commission_max_pct: Decimal = Decimal("1.0")
    """Cap as a percentage of trade value, as IB's fixed-rate schedule does."""
    server_version_max: int = 178
    master_client_id: int | None = None
    """A client id that sees every client's executions, as TWS's "Master API client ID"."""
    # What a hostile network cannot do (docs/simulator.md, "Server limits and trust").
    trusted: tuple[str, ...] = ("127.0.0.0/8", "::1")
    """Addresses or networks that may connect (TWS's "Trusted IPs"); others are refused."""
    max_clients: int = 32
    """Connections at once, handshaking ones included (TWS serves up to 32 API clients)."""
    handshake_timeout_s: float = 10.0
    """A connection that has not completed startApi by then is closed."""
    max_request_bytes: int = 128 * 1024
    """A larger length prefix on a request closes the connection at once."""
    message_deadline_s: float = 10.0
    """A request whose first bytes arrived must be complete by then, or the link closes."""
    max_write_buffer_bytes: int = 8 * 1024 * 1024
    """Replies waiting for a client that does not read; past this it is disconnected."""
    socket_send_buffer_bytes: int | None = None
    """The kernel's send buffer per client (SO_SNDBUF); None keeps the OS's autotuning."""
    max_market_data_lines: int = 100
    """Streaming reqMktData lines across all clients (IB's default allowance); then 101."""
    history_days: int = 2
    start_prices: dict[str, Decimal] = field(default_factory=dict)
    scenario: str | None = None
    """A built-in scenario (``SCENARIOS``); None is the plain random walk."""
    episode_bar_seconds: int = 5
    """``ignition``: the bar size of the strategy the episodes are shaped for (5 for demos)."""
    episode_period_bars: int = 60
    """``ignition``: bars between one symbol's episodes; the symbols share it out (staggered)."""
    episode_accumulation_bars: int = 20
    """``ignition``: bars of quiet range before each ignition; must exceed the strategy's
    ``accumulation_bars`` (15) so its whole window lies in the range."""
    sessions: str = "always_open"
    """``always_open`` (demos, ``--sim``, tests) or ``us_equity``: IB's session rules on the
    simulator's clock (pre-market, regular hours, after hours, closed; ``sessions.py``)."""

    def __post_init__(self) -> None:
        from backend.sim.admission import check_bind  # also refuses a malformed trusted entry

        check_bind(self.host, self.trusted)
        if min(self.max_clients, self.max_request_bytes, self.max_write_buffer_bytes,
               self.handshake_timeout_s, self.message_deadline_s) <= 0:
            raise ValueError("connection limits and timeouts must be positive")
        if self.sessions not in SESSION_MODES:
            raise ValueError(f"unknown sessions mode {self.sessions!r} "
                             f"(one of: {', '.join(SESSION_MODES)})")
        if self.scenario is not None and self.scenario not in SCENARIOS:
            raise ValueError(f"unknown scenario {self.scenario!r} "
                             f"(built in: {', '.join(SCENARIOS)})")
        if self.scenario == "ignition":  # refuse an impossible schedule before serving
            from backend.sim.episodes import EpisodePlan

            EpisodePlan.starting(0.0, self.episode_bar_seconds, self.episode_period_bars,
                                 self.episode_accumulation_bars, len(self.symbols),
                                 self.tick_interval_s)


SCENARIOS = sim_scenarios.SCENARIOS
"""Named scenarios built into the market (``backend/sim/episodes.py``); the table lives in
``backend.sim_scenarios`` so the launcher can read it without importing the simulator."""
SESSION_MODES = ("always_open", "us_equity")
"""Trading-session modes (``backend/sim/sessions.py``)."""
