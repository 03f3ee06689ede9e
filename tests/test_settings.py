"""Tests for the layered, frozen configuration (backend.settings) and its CLI surface.

Every test runs with SIGMA9_* variables cleared and HOME pointed at an empty temp dir, so a
developer's own ~/.config/sigma9/config.toml or shell exports cannot change the outcome.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from backend.settings import Settings, SettingsError, default_config_path, load_settings
from frontend.main import main

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TOML = REPO_ROOT / "config" / "default.toml"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.upper().startswith("SIGMA9_"):
            monkeypatch.delenv(name)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _expected(section: str, key: str, raw: object) -> object:
    """Map a raw TOML value to the type the settings model exposes."""
    if isinstance(raw, list):
        return tuple(raw)
    if (section, key) == ("journal", "path"):
        return Path(str(raw)).expanduser()
    return raw


def _assert_one_line_error(message: str) -> None:
    assert "\n" not in message
    assert "Traceback" not in message
    assert message.strip() == message and message


# --- defaults ---------------------------------------------------------------------------------


def test_defaults_load_and_match_shipped_toml() -> None:
    assert default_config_path() == DEFAULT_TOML
    shipped = tomllib.loads(DEFAULT_TOML.read_text(encoding="utf-8"))
    settings = load_settings()

    assert set(shipped) == set(Settings.model_fields)
    for section, table in shipped.items():
        model = getattr(settings, section)
        assert set(table) == set(type(model).model_fields), section
        for key, raw in table.items():
            expected = _expected(section, key, raw)
            assert getattr(model, key) == expected, f"{section}.{key}"
            # The Python-side defaults must not drift from the documented file either.
            py_default = type(model).model_fields[key].default
            assert _expected(section, key, py_default) == expected, f"{section}.{key}"


def test_every_default_key_is_commented() -> None:
    lines = DEFAULT_TOML.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if "=" in line and not line.lstrip().startswith("#"):
            assert lines[i - 1].lstrip().startswith("#"), f"uncommented key: {line!r}"


def test_spot_check_defaults() -> None:
    s = load_settings()
    assert (s.broker.host, s.broker.port, s.broker.client_id) == ("127.0.0.1", 4002, 1)
    assert s.broker.live_trading_enabled is False
    assert s.sim.symbols == ("AAPL", "MSFT", "TSLA")
    assert s.sim.port == 0 and s.sim.seed == 7
    assert s.ui.log_max_lines == 2000
    # issue 9: the entry that IB accepts with every exit attached, and no outsideRth promises
    assert (s.entry.type, s.entry.max_slippage_pct, s.entry.timeout_s) == ("limit", 0.5, 30.0)
    assert s.entry.allow_outside_rth is False and s.exits.outside_rth is False


def test_market_entry_outside_rth_is_refused_with_the_reason(isolated_env: Path) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(entry={"type": "market", "allow_outside_rth": True})
    message = str(info.value)
    _assert_one_line_error(message)
    assert message.startswith("invalid setting entry.allow_outside_rth:")
    assert "limit" in message and "#141" in message


# --- layering ---------------------------------------------------------------------------------


def test_env_overrides_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMA9_BROKER__PORT", "4001")
    monkeypatch.setenv("SIGMA9_BROKER__LIVE_TRADING_ENABLED", "true")
    monkeypatch.setenv("SIGMA9_SIM__SYMBOLS", "AAPL, NVDA")
    s = load_settings()
    assert s.broker.port == 4001
    assert s.broker.live_trading_enabled is True
    assert s.broker.host == "127.0.0.1"  # untouched keys keep their defaults
    assert s.sim.symbols == ("AAPL", "NVDA")


def test_env_accepts_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMA9_SIM__SYMBOLS", '["IBM", "GE"]')
    assert load_settings().sim.symbols == ("IBM", "GE")


def test_user_file_from_env_var_overrides_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = _write(tmp_path / "user.toml", "[broker]\nclient_id = 9\n[sim]\nseed = 42\n")
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))
    s = load_settings()
    assert s.broker.client_id == 9
    assert s.sim.seed == 42
    assert s.broker.port == 4002  # partial section: the rest still comes from the default


def test_home_config_file_is_used_when_present(isolated_env: Path) -> None:
    _write(isolated_env / ".config" / "sigma9" / "config.toml", "[ui]\ntick_repaint_ms = 40\n")
    assert load_settings().ui.tick_repaint_ms == 40


def test_priority_overrides_then_env_then_user_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    user = _write(tmp_path / "user.toml", "[broker]\nport = 7497\nclient_id = 5\nhost = 'h'\n")
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))
    monkeypatch.setenv("SIGMA9_BROKER__PORT", "4001")
    monkeypatch.setenv("SIGMA9_BROKER__CLIENT_ID", "6")
    s = load_settings(broker={"client_id": 7})
    assert s.broker.host == "h"  # user file beats default
    assert s.broker.port == 4001  # env beats user file
    assert s.broker.client_id == 7  # explicit override beats env


# --- errors -----------------------------------------------------------------------------------


def test_invalid_env_value_names_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMA9_BROKER__PORT", "70000")
    with pytest.raises(SettingsError) as info:
        load_settings()
    message = str(info.value)
    _assert_one_line_error(message)
    assert message.startswith("invalid setting broker.port:")
    assert "65535" in message and "70000" in message


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[sim]\ntick_interval_s = 0\n", "sim.tick_interval_s"),
        ("[sim]\nsymbols = []\n", "sim.symbols"),
        ("[sim]\nsymbols = ['A', 'A']\n", "sim.symbols"),
        ("[broker]\nreconnect_max_delay_s = 0.5\n", "broker.reconnect_max_delay_s"),
        ("[ui]\nlog_max_lines = 'many'\n", "ui.log_max_lines"),
        ("[sim]\nvolatility = nan\n", "sim.volatility"),
        ("[entry]\ntype = 'stop'\n", "entry.type"),
        ("[entry]\nmax_slippage_pct = -0.1\n", "entry.max_slippage_pct"),
        ("[entry]\nmax_slippage_pct = 3.0\n", "entry.max_slippage_pct"),
        ("[entry]\ntimeout_s = 0\n", "entry.timeout_s"),
        ("[entry]\nallow_outside_rth = 'sometimes'\n", "entry.allow_outside_rth"),
        ("[entry]\ntype = 'market'\nallow_outside_rth = true\n", "entry.allow_outside_rth"),
        ("[exits]\noutside_rth = 'yes please'\n", "exits.outside_rth"),
    ],
)
def test_invalid_file_value_names_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toml: str, key: str
) -> None:
    monkeypatch.setenv("SIGMA9_CONFIG", str(_write(tmp_path / "bad.toml", toml)))
    with pytest.raises(SettingsError) as info:
        load_settings()
    _assert_one_line_error(str(info.value))
    assert f"invalid setting {key}:" in str(info.value)


def test_unknown_key_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    user = _write(tmp_path / "user.toml", "[broker]\nprot = 4001\n")
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))
    with pytest.raises(SettingsError) as info:
        load_settings()
    _assert_one_line_error(str(info.value))
    assert "unknown setting broker.prot" in str(info.value)
    assert "port" in str(info.value)  # lists the keys that do exist


def test_unknown_section_and_env_key_are_errors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIGMA9_CONFIG", str(_write(tmp_path / "u.toml", "[colour]\nx = 1\n")))
    with pytest.raises(SettingsError, match="unknown setting colour"):
        load_settings()
    monkeypatch.delenv("SIGMA9_CONFIG")
    monkeypatch.setenv("SIGMA9_SIM__TICKS", "3")
    with pytest.raises(SettingsError, match=r"unknown setting sim\.ticks"):
        load_settings()


def test_malformed_toml_names_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    user = _write(tmp_path / "broken.toml", "[broker\nport = 1\n")
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))
    with pytest.raises(SettingsError) as info:
        load_settings()
    _assert_one_line_error(str(info.value))
    assert str(user) in str(info.value)


def test_missing_explicit_user_file_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.toml"
    monkeypatch.setenv("SIGMA9_CONFIG", str(missing))
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings()


# --- immutability -----------------------------------------------------------------------------


def test_settings_are_frozen() -> None:
    s = load_settings()
    with pytest.raises(ValidationError):
        s.broker.port = 1  # type: ignore[misc]
    with pytest.raises(ValidationError):
        s.broker = s.broker  # type: ignore[misc]
    assert isinstance(s.sim.symbols, tuple)


# --- command line -----------------------------------------------------------------------------


def _run_cli(*args: str, env_extra: dict[str, str], home: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SIGMA9_")}
    env.update(HOME=str(home), **env_extra)
    return subprocess.run(
        [sys.executable, "-m", "frontend.main", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_check_config_rejects_bad_port_with_one_line(isolated_env: Path) -> None:
    proc = _run_cli("--check-config", env_extra={"SIGMA9_BROKER__PORT": "70000"}, home=isolated_env)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("sigma9: ") and "broker.port" in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_check_config_ok_prints_one_line(isolated_env: Path) -> None:
    proc = _run_cli("--check-config", env_extra={}, home=isolated_env)
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 1
    assert "config OK" in proc.stdout and "127.0.0.1:4002" in proc.stdout


def test_import_reads_no_configuration(isolated_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("SIGMA9_")}
    env.update(HOME=str(isolated_env), SIGMA9_BROKER__PORT="70000", SIGMA9_CONFIG="/nonexistent")
    code = "import backend.settings, frontend.main"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr


def test_cli_flags_override_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check-config", "--host", "gw", "--port", "7497", "--client-id", "3"]) == 0
    out = capsys.readouterr().out
    assert "broker gw:7497 client_id=3" in out
    assert main(["--check-config", "--sim", "--port", "4010"]) == 0
    assert "sim 127.0.0.1:4010" in capsys.readouterr().out


def test_bad_cli_override_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--check-config", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("sigma9: invalid setting broker.port:") and err.count("\n") == 1


# --- bad input, tried deliberately -------------------------------------------------------------
# Each bad configuration is one line naming the key and the source that supplied it. A config
# file is typed: a value of the wrong TOML type is refused, never converted (pydantic's lax mode
# used to turn "4002" into 4002, true into port 1 and live_trading_enabled = "yes" into True).


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('[broker]\nport = "4002"\n', 'broker.port: must be a whole number, not a string ("4002")'),
        ("[broker]\nport = true\n", "broker.port: must be a whole number, not a boolean (true)"),
        ("[broker]\nport = 4002.0\n",
         "broker.port: must be a whole number, not a number (4002.0)"),
        ("[broker]\nlive_trading_enabled = 1\n",
         "broker.live_trading_enabled: must be true or false, not a whole number (1)"),
        ('[broker]\nlive_trading_enabled = "yes"\n',
         'broker.live_trading_enabled: must be true or false, not a string ("yes")'),
        ('[sim]\nsymbols = "AAPL"\n', 'sim.symbols: must be a list, not a string ("AAPL")'),
        ("[sim]\ntick_interval_s = true\n",
         "sim.tick_interval_s: must be a number, not a boolean (true)"),
        ('[entry]\ntimeout_s = "30"\n', 'entry.timeout_s: must be a number, not a string ("30")'),
        ("[journal]\npath = 5\n", "journal.path: must be a quoted path, not a whole number (5)"),
        ("[exits]\noca_type = true\n",
         "exits.oca_type: must be a whole number, not a boolean (true)"),
    ],
    ids=["port-string", "port-bool", "port-float", "live-int", "live-string", "symbols-string",
         "interval-bool", "timeout-string", "path-int", "oca-bool"],
)
def test_a_file_value_of_the_wrong_type_is_refused_naming_key_and_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toml: str, expected: str
) -> None:
    user = _write(tmp_path / "user.toml", toml)
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))

    with pytest.raises(SettingsError) as info:
        load_settings()

    message = str(info.value)
    _assert_one_line_error(message)
    assert message == f"invalid setting {expected} in {user}"


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[sim]\nseed = 99999999999999999999\n", "sim.seed"),
        ("[sim]\nseed = -1\n", "sim.seed"),
        ("[risk]\nfixed_shares = 10000000000\n", "risk.fixed_shares"),
        ("[risk]\nmax_notional_usd = 1e300\n", "risk.max_notional_usd"),
        ("[risk]\nmax_open_positions = 100000\n", "risk.max_open_positions"),
        ("[broker]\nconnect_timeout_s = 1e9\n", "broker.connect_timeout_s"),
        ("[broker]\nreconnect_max_delay_s = 1e9\n", "broker.reconnect_max_delay_s"),
        ("[exits]\ntime_stop_s = 1e12\n", "exits.time_stop_s"),
        ("[entry]\ntimeout_s = 1e7\n", "entry.timeout_s"),
        ("[ui]\ntick_repaint_ms = 1000000000\n", "ui.tick_repaint_ms"),
        ("[ui]\nlog_max_lines = 1000000000\n", "ui.log_max_lines"),
        ("[sim]\nstarting_cash = 1e300\n", "sim.starting_cash"),
        ("[sim]\nvolatility = 5.0\n", "sim.volatility"),
        ('[broker]\nhost = "gw host"\n', "broker.host"),
        ('[broker]\naccount = "DU1; rm -rf"\n', "broker.account"),
        ('[sim]\nsymbols = ["AAPL", "NOT A TICKER AT ALL"]\n', "sim.symbols"),
        ('[strategy]\nwatchlist = ["AA$PL"]\n', "strategy.watchlist"),
    ],
)
def test_out_of_range_file_values_name_key_and_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, toml: str, key: str
) -> None:
    user = _write(tmp_path / "user.toml", toml)
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))

    with pytest.raises(SettingsError) as info:
        load_settings()

    message = str(info.value)
    _assert_one_line_error(message)
    assert message.startswith(f"invalid setting {key}:")
    assert message.endswith(f" in {user}")
    assert "pattern" not in message and "^" not in message, "words, not a regex"


def test_an_unknown_key_names_its_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    user = _write(tmp_path / "user.toml", "[broker]\nprot = 4001\n")
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))

    with pytest.raises(SettingsError) as info:
        load_settings()

    assert str(info.value).startswith(f"unknown setting broker.prot in {user} (known keys: ")


def test_a_bad_environment_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMA9_RISK__FIXED_SHARES", "10000000000")

    with pytest.raises(SettingsError) as info:
        load_settings()

    message = str(info.value)
    _assert_one_line_error(message)
    assert message.startswith("invalid setting risk.fixed_shares:")
    assert message.endswith(" in $SIGMA9_RISK__FIXED_SHARES")


def test_environment_text_still_converts(monkeypatch: pytest.MonkeyPatch) -> None:
    # Variables are text by nature: the usual spellings keep working there.
    monkeypatch.setenv("SIGMA9_BROKER__PORT", "4001")
    monkeypatch.setenv("SIGMA9_BROKER__LIVE_TRADING_ENABLED", "false")
    s = load_settings()
    assert s.broker.port == 4001 and s.broker.live_trading_enabled is False


def test_a_bad_override_names_the_overrides() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(broker={"port": 0})

    assert str(info.value).endswith(" in the command-line or caller's overrides")


def test_the_value_from_the_winning_source_is_the_one_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # The user file sets a good port; the environment's bad one wins, and is the one named.
    user = _write(tmp_path / "user.toml", "[broker]\nport = 4001\n")
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))
    monkeypatch.setenv("SIGMA9_BROKER__PORT", "70000")

    with pytest.raises(SettingsError) as info:
        load_settings()

    assert str(info.value).endswith(" in $SIGMA9_BROKER__PORT")


def test_a_nul_in_a_value_is_shown_escaped(monkeypatch: pytest.MonkeyPatch,
                                           tmp_path: Path) -> None:
    user = _write(tmp_path / "user.toml", '[broker]\naccount = "DU1\\u0000"\n')
    monkeypatch.setenv("SIGMA9_CONFIG", str(user))

    with pytest.raises(SettingsError) as info:
        load_settings()

    assert "\x00" not in str(info.value) and "'DU1\\x00'" in str(info.value)
