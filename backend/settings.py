"""Sigma9 configuration: one frozen ``Settings`` object, built from layered sources.

Why one object: every component reads the same validated, immutable snapshot, so a typo in a
config file fails loudly at start-up instead of surfacing as odd behaviour mid-session, and no
component can mutate configuration behind another's back.

Sources, highest priority first (later ones only fill in what earlier ones leave unset):

1. keyword overrides passed to :func:`load_settings` (the command line uses these);
2. environment variables ``SIGMA9_<SECTION>__<KEY>`` (e.g. ``SIGMA9_BROKER__PORT=4001``);
3. the user file: ``$SIGMA9_CONFIG`` if set (it must exist), else
   ``~/.config/sigma9/config.toml`` if it exists;
4. the shipped ``config/default.toml``, which documents every key.

Nothing is read at import time: call :func:`load_settings`. Every failure (bad value, unknown
key, malformed TOML, missing file) is raised as :class:`SettingsError` whose ``str`` is a single
readable line, because it is shown to end users verbatim, not as a traceback. The line names
the key and the source that supplied it (the file, the environment variable, or the
overrides), and a config file must write each value with its TOML type: ``port = "4002"`` or
``live_trading_enabled = 1`` is refused, not converted (``settings_sources``). Every number
has a range, so an absurd value (a 10-billion-share fixed size, a timeout of years) is refused
at start-up rather than met mid-session.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings import SettingsError as _PydanticSettingsError

from backend.settings_sources import (
    Provenance,
    check_file_types,
    describe_validation_error,
    one_line,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised only on Python 3.10
    import tomli as tomllib

ENV_PREFIX = "SIGMA9_"
CONFIG_ENV_VAR = "SIGMA9_CONFIG"

# The canonical defaults live in the source tree (editable install); a regular wheel install
# ships a copy under <prefix>/share/sigma9 (see [tool.setuptools.data-files] in pyproject.toml).
_DEFAULT_CONFIG_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "config" / "default.toml",
    Path(sys.prefix) / "share" / "sigma9" / "default.toml",
)

Port = Annotated[int, Field(ge=1, le=65535)]
Host = Annotated[str, Field(min_length=1, max_length=253, pattern=r"^[^\s\x00-\x1f]+$")]
PositiveFloat = Annotated[float, Field(gt=0)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]
"""A positive duration of at most a day: a longer timeout or delay is a typo."""
Money = Annotated[float, Field(gt=0, le=1e10)]
SYMBOL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9. ]{0,11}$"
"""A ticker as IB spells a US stock (``BRK B`` has a space), at most 12 characters as in
``Signal.symbol``."""
MAX_SYMBOLS = 200


class SettingsError(Exception):
    """Configuration could not be loaded; ``str(err)`` is one line fit for end users."""


class _Section(BaseModel):
    """Base for config sections: immutable, strict about unknown keys, no NaN/inf sneaking in."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class BrokerSettings(_Section):
    """Connection to real TWS / IB Gateway."""

    host: Host = "127.0.0.1"
    port: Port = 4002
    client_id: int = Field(default=1, ge=0, le=2**31 - 1)
    account: str = Field(default="", max_length=32, pattern=r"^[A-Za-z0-9]*$")
    connect_timeout_s: float = Field(default=4.0, gt=0, le=600)
    live_trading_enabled: bool = False
    reconnect_initial_delay_s: float = Field(default=1.0, gt=0, le=3600)
    reconnect_max_delay_s: float = Field(default=30.0, gt=0, le=3600)

    @field_validator("reconnect_max_delay_s")
    @classmethod
    def _backoff_bounds(cls, value: float, info: ValidationInfo) -> float:
        # A field validator (not a model one) so the error names broker.reconnect_max_delay_s.
        initial = info.data.get("reconnect_initial_delay_s")
        if initial is not None and value < initial:
            raise ValueError(f"must be >= reconnect_initial_delay_s ({initial})")
        return value


class SimSettings(_Section):
    """The built-in TWS API simulator (market model, commissions, simulated account)."""

    host: Host = "127.0.0.1"
    port: int = Field(default=0, ge=0, le=65535)  # 0 = pick a free port when spawned
    # NoDecode: the env var may be JSON or a plain comma list; _parse_symbols handles both.
    symbols: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("AAPL", "MSFT", "TSLA"), min_length=1, max_length=MAX_SYMBOLS
    )
    seed: int = Field(default=7, ge=0, le=2**63 - 1)
    tick_interval_s: float = Field(default=0.25, gt=0, le=60)
    volatility: float = Field(default=0.0004, ge=0, le=0.5)
    drift: float = Field(default=0.0, ge=-0.1, le=0.1)
    commission_per_share: float = Field(default=0.005, ge=0, le=100)
    commission_min: float = Field(default=1.0, ge=0, le=10_000)
    commission_max_pct: float = Field(default=1.0, gt=0, le=100)
    starting_cash: Money = 1_000_000.0
    account: str = Field(default="DU1234567", min_length=1, max_length=32,
                         pattern=r"^[A-Za-z0-9]+$")

    @field_validator("symbols", mode="before")
    @classmethod
    def _parse_symbols(cls, value: Any) -> Any:
        """Accept ``AAPL,MSFT`` as well as ``["AAPL","MSFT"]`` from environment variables."""
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not a valid JSON list ({exc.msg})") from None
        return [part for part in (p.strip() for p in text.split(",")) if part]

    @field_validator("symbols")
    @classmethod
    def _check_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        cleaned = tuple(s.strip() for s in value)
        if any(not s for s in cleaned):
            raise ValueError("symbols must not be empty strings")
        bad = [s for s in cleaned if not re.match(SYMBOL_PATTERN, s)]
        if bad:
            raise ValueError(f"{bad[0][:20]!r} is not a ticker (letters, digits, '.' or "
                             "' ', at most 12)")
        dupes = sorted({s for s in cleaned if cleaned.count(s) > 1})
        if dupes:
            raise ValueError(f"duplicate symbols: {', '.join(dupes)}")
        return cleaned


class JournalSettings(_Section):
    """Where orders and fills are recorded."""

    path: Path = Path("~/.local/share/sigma9/journal.sqlite3")

    @field_validator("path")
    @classmethod
    def _expand_home(cls, value: Path) -> Path:
        # Expanded once here so every consumer gets a usable absolute-ish path.
        return value.expanduser()


class ExitSettings(_Section):
    """The server-side OCA exit group attached to every entry (docs/oca.md)."""

    safety_stop_pct: float = Field(default=2.0, gt=0, lt=100)
    time_stop_s: float = Field(default=180.0, gt=0, le=7 * 86_400)
    trail_atr_multiplier: float = Field(default=1.5, gt=0, le=100)
    trail_activation_pct: float = Field(default=3.0, gt=0, lt=100)
    oca_type: Literal[1, 2, 3] = 2
    tif: Literal["DAY", "GTC"] = "GTC"
    # False: IB resets outsideRth on MKT orders (ib_insync #141) and ignored it on a pre-market
    # STP (warning 2109, docs/ib-orders R8); docs/oca.md says what protection exists overnight.
    outside_rth: bool = False


class EntrySettings(_Section):
    """How a signal's entry is sent (docs/oca.md: the chain IB accepts)."""

    type: Literal["limit", "market"] = "limit"
    # At most 2.5: IB cancels a limit about 3% through the market at once (202; capture
    # api_order_type_matrix_aapl, order 381: cancelled at 2.94% over the market).
    max_slippage_pct: float = Field(default=0.5, ge=0, le=2.5)
    timeout_s: Seconds = 30.0
    allow_outside_rth: bool = False
    market_hours: Literal["us_equity", "always_open"] = "us_equity"
    """The session calendar entries are judged by: the exchange's (real IB), or none at all
    (sigma9-sim's default "always open" market, which ``sigma9 --sim`` starts)."""

    @field_validator("allow_outside_rth")
    @classmethod
    def _only_limit_entries_outside_rth(cls, value: bool, info: ValidationInfo) -> bool:
        # A field validator (not a model one) so the error names entry.allow_outside_rth.
        if value and info.data.get("type") == "market":
            raise ValueError("needs type = \"limit\": IB resets outsideRth on market orders, "
                             "which wait for the open (ib_insync #141)")
        return value


class RiskSettings(_Section):
    """Position sizing and pre-trade checks applied to every signal."""

    sizing: Literal["fixed", "risk"] = "fixed"
    fixed_shares: int = Field(default=100, ge=1, le=1_000_000)
    risk_per_trade_usd: Money = 200.0
    max_notional_usd: Money = 25_000.0
    max_open_positions: int = Field(default=5, ge=1, le=1000)
    on_leg_rejected_after_fill: Literal["reprotect", "flatten"] = "flatten"


class StrategySettings(_Section):
    """The Seismograph entry strategy and the live bars it reads (docs/strategy.md)."""

    bar_size_s: int = Field(default=60, ge=1, le=3600)
    atr_period: int = Field(default=14, ge=1, le=10_000)
    accumulation_bars: int = Field(default=15, ge=2, le=10_000)
    baseline_bars: int = Field(default=30, ge=1, le=10_000)
    range_atr_max: float = Field(default=2.0, gt=0, le=1000)
    volume_hold_ratio: float = Field(default=0.8, gt=0, le=1000)
    breakout_atr: float = Field(default=0.5, gt=0, le=1000)
    ignition_volume_ratio: float = Field(default=3.0, gt=0, le=1000)
    cooldown_bars: int = Field(default=30, ge=0, le=100_000)
    # IB duration string for the reqHistoricalData warm-up: "<count> <S|D|W|M|Y>".
    warmup_duration: str = Field(default="1 D", pattern=r"^[1-9][0-9]* [SDWMY]$")
    watchlist: Annotated[tuple[str, ...], NoDecode] = Field(
        default=("AAPL", "MSFT", "TSLA"), max_length=MAX_SYMBOLS)

    @field_validator("watchlist", mode="before")
    @classmethod
    def _parse_watchlist(cls, value: Any) -> Any:
        return SimSettings._parse_symbols(value)  # same spellings as sim.symbols

    @field_validator("watchlist")
    @classmethod
    def _check_watchlist(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return SimSettings._check_symbols(tuple(s.strip().upper() for s in value))


class UiSettings(_Section):
    """Presentation knobs for the desktop terminal."""

    log_max_lines: int = Field(default=2000, ge=1, le=1_000_000)
    tick_repaint_ms: int = Field(default=150, ge=1, le=10_000)
    chart_follows_entries: bool = True
    """A new entry brings its symbol to the chart (the trade the trader must watch)."""
    theme: Literal["dark", "light"] = "dark"


class Settings(BaseSettings):
    """The complete, validated, immutable Sigma9 configuration."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    broker: BrokerSettings = BrokerSettings()
    sim: SimSettings = SimSettings()
    journal: JournalSettings = JournalSettings()
    entry: EntrySettings = EntrySettings()
    exits: ExitSettings = ExitSettings()
    risk: RiskSettings = RiskSettings()
    strategy: StrategySettings = StrategySettings()
    ui: UiSettings = UiSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Priority: overrides > env > user file > default file (no .env or secrets dirs)."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        user = user_config_path()
        if user is not None:
            sources.append(_toml_source(settings_cls, user))
        sources.append(_toml_source(settings_cls, default_config_path()))
        return tuple(sources)


def default_config_path() -> Path:
    """Locate the shipped ``default.toml`` (source tree first, then the installed data copy)."""
    for candidate in _DEFAULT_CONFIG_CANDIDATES:
        if candidate.is_file():
            return candidate
    looked = ", ".join(str(c) for c in _DEFAULT_CONFIG_CANDIDATES)
    raise SettingsError(f"default configuration not found (looked in {looked})")


def user_config_path() -> Path | None:
    """The user override file, or None. An explicit ``$SIGMA9_CONFIG`` must exist."""
    explicit = os.environ.get(CONFIG_ENV_VAR, "").strip()
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise SettingsError(f"config file {path} (from ${CONFIG_ENV_VAR}) does not exist")
        return path
    candidate = Path.home() / ".config" / "sigma9" / "config.toml"
    return candidate if candidate.is_file() else None


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    """Read one TOML file, turning syntax/IO errors into a SettingsError naming the file."""
    try:
        source = TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(one_line(f"invalid TOML in {path}: {exc}")) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(one_line(f"cannot read config file {path}: {exc}")) from None
    problems = check_file_types(settings_cls, source.toml_data, path)
    if problems:
        raise SettingsError(one_line("; ".join(problems)))
    return source


def _provenance(overrides: dict[str, Any]) -> Provenance:
    """The sources as plain data, to name the one behind an invalid value."""
    files = []
    for path in (user_config_path(), default_config_path()):
        if path is not None:
            try:
                files.append((path, tomllib.loads(path.read_text(encoding="utf-8"))))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue  # reported by the source itself
    return Provenance(overrides, ENV_PREFIX, "__", files)


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings` from all sources; ``overrides`` win (nested dicts merge).

    Example: ``load_settings(broker={"port": 4001})`` keeps every other broker key as loaded.
    Raises :class:`SettingsError` (one line) on any problem.
    """
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc, Settings,
                                                      _provenance(overrides))) from None
    except _PydanticSettingsError as exc:
        cause = f": {exc.__cause__}" if exc.__cause__ else ""
        raise SettingsError(one_line(f"invalid setting: {exc}{cause}")) from None
