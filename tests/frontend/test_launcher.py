"""The ``sigma9`` launcher: flags, the ``--sim`` child process, the no-display hint.

The child is the real ``sigma9-sim`` (``python -m backend.sim.cli``) wherever that matters;
stand-in children (``python -c ...``) are used only to misbehave on purpose: ignore SIGTERM,
never print the serving line, or die at once.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pytest
from ib_insync import IB

from backend.settings import load_settings
from frontend import main as launcher
from frontend.display import NO_DISPLAY_HINT, display_problem
from frontend.sim_process import SimProcess, SimStartError, sim_command, sim_journal

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No user config, no SIGMA9_* variables, a journal in tmp_path."""
    for name in list(os.environ):
        if name.startswith("SIGMA9_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("SIGMA9_JOURNAL__PATH", str(tmp_path / "journal.sqlite3"))
    return tmp_path


def fast_sim(**overrides):
    values = {"volatility": 0.0, "tick_interval_s": 0.05, **overrides}
    return load_settings(sim=values).sim


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gone(pid: int) -> bool:
    """True once ``pid`` is no process or only a zombie waiting for its reaper."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return True
    except OSError:  # no /proc (macOS): ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    return state in ("Z", "X")


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return False


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


def stand_in(code: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(code)]


# -- flags ----------------------------------------------------------------------------------
def test_flags_map_to_broker_settings():
    args = launcher.build_parser().parse_args(
        ["--host", "10.0.0.5", "--port", "7497", "--client-id", "9"])
    assert launcher._overrides(args) == {"broker": {"host": "10.0.0.5", "port": 7497,
                                                    "client_id": 9}}


def test_with_sim_host_and_port_say_where_the_simulator_listens():
    args = launcher.build_parser().parse_args(
        ["--sim", "--port", "0", "--client-id", "3", "--headless", "--minutes", "0.2"])
    assert launcher._overrides(args) == {"sim": {"port": 0}, "broker": {"client_id": 3}}
    assert args.headless and args.minutes == 0.2


@pytest.mark.parametrize("argv, fragment", [
    (["--headless", "--minutes", "-1"], "positive number of minutes"),
    (["--headless", "--minutes", "soon"], "not a number of minutes"),
    (["--port", "x"], "invalid int value"),
    (["--bogus"], "unrecognized arguments"),
])
def test_bad_flags_are_one_line_exit_2(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        launcher.main(argv)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("sigma9: ") and fragment in err


def test_minutes_without_headless_is_refused(clean_env, capsys):
    assert launcher.main(["--minutes", "1"]) == 2
    assert capsys.readouterr().err.strip() == (
        "sigma9: --minutes needs --headless (the window runs until you close it)")


def test_settings_error_is_one_line_exit_2(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("SIGMA9_BROKER__PORT", "99999")
    assert launcher.main(["--sim", "--headless"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("sigma9: invalid setting broker.port: ")


def test_bad_client_id_flag_is_a_settings_error(clean_env, capsys):
    assert launcher.main(["--client-id", "-4", "--check-config"]) == 2
    assert capsys.readouterr().err.startswith("sigma9: invalid setting broker.client_id")


# -- the simulator child --------------------------------------------------------------------
def test_sim_command_carries_the_sim_settings():
    argv = sim_command(fast_sim(symbols="AAPL,NVDA", seed=11), ["--scenario", "ignition"])
    assert argv[:3] == [sys.executable, "-m", "backend.sim.cli"]
    joined = " ".join(argv)
    assert "--port 0" in joined and "--symbols AAPL,NVDA" in joined and "--seed 11" in joined
    assert argv[-2:] == ["--scenario", "ignition"]


def test_child_listens_on_a_free_port_and_serves_ib_insync():
    with SimProcess.from_settings(fast_sim()) as first, \
            SimProcess.from_settings(fast_sim()) as second:
        assert first.port and second.port and first.port != second.port
        assert first.host == "127.0.0.1" and first.symbols == ("AAPL", "MSFT", "TSLA")

        async def accounts() -> list[str]:
            ib = IB()
            try:
                await ib.connectAsync(first.host, first.port, clientId=5, timeout=5)
                return ib.managedAccounts()
            finally:
                ib.disconnect()

        assert asyncio.run(accounts()) == ["DU1234567"]


def test_stop_ends_the_child_and_frees_the_port():
    sim = SimProcess.from_settings(fast_sim()).start()
    pid, port = sim.pid, sim.port
    assert sim.running and not refuses(port)
    assert sim.stop() == 0  # SIGTERM: the simulator shuts down cleanly
    assert not sim.running and wait_gone(pid) and refuses(port)
    assert sim.stop() == 0  # idempotent


def test_child_ends_when_the_parent_path_raises():
    with pytest.raises(RuntimeError, match="boom"), \
            SimProcess.from_settings(fast_sim()) as sim:
        pid = sim.pid
        raise RuntimeError("boom")
    assert wait_gone(pid)


def test_child_that_ignores_sigterm_is_killed():
    sim = SimProcess(stand_in("""
        import signal, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("sigma9-sim: serving AAPL on 127.0.0.1:1 (account DU1); Ctrl+C stops", flush=True)
        time.sleep(60)
    """), stop_timeout=0.5).start()
    started = time.monotonic()
    code = sim.stop()
    assert time.monotonic() - started < 5
    assert code == (-signal.SIGKILL if os.name == "posix" else code)


def test_child_that_cannot_listen_is_a_readable_error(capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SimStartError) as error:
            SimProcess.from_settings(fast_sim(port=port)).start()
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith("the simulator exited (status 1) before listening: ")
    assert f"cannot listen on 127.0.0.1:{port}" in message


def test_child_that_never_listens_times_out_and_is_stopped():
    sim = SimProcess(stand_in("import time; print('starting...', flush=True); "
                              "time.sleep(60)"), startup_timeout=0.5)
    with pytest.raises(SimStartError, match=r"did not report a listening port within 0.5s"):
        sim.start()
    assert not sim.running


def test_missing_interpreter_is_a_readable_error():
    with pytest.raises(SimStartError, match="cannot start the simulator"):
        SimProcess(["/nonexistent/python3", "-m", "backend.sim.cli"]).start()


def test_launcher_reports_a_simulator_that_cannot_start(clean_env, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert launcher.main(["--sim", "--port", str(port), "--headless",
                              "--minutes", "0.01"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sigma9: the simulator exited")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux")
def test_child_dies_with_a_killed_parent(tmp_path):
    parent = subprocess.Popen(stand_in(f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from backend.settings import load_settings
        from frontend.sim_process import SimProcess
        sim = SimProcess.from_settings(load_settings().sim).start()
        print(sim.pid, sim.port, flush=True)
        time.sleep(60)
    """), stdout=subprocess.PIPE, text=True, env={**os.environ, "HOME": str(tmp_path)})
    try:
        child_pid, port = map(int, parent.stdout.readline().split())
        assert not gone(child_pid)
        parent.kill()  # SIGKILL: no atexit, no finally
        parent.wait(5)
        assert wait_gone(child_pid), "the simulator outlived its parent"
        assert refuses(port)
    finally:
        parent.kill()
        parent.stdout.close()


# -- the --sim journal ----------------------------------------------------------------------
def test_sim_journal_is_fresh_and_beside_the_real_one(tmp_path):
    real = tmp_path / "journal.sqlite3"
    real.write_text("paper history")
    (tmp_path / "journal.sim.sqlite3").write_text("last sim run")
    (tmp_path / "journal.sim.sqlite3-wal").write_text("last sim run's wal")
    with sim_journal(real) as path:
        assert path == tmp_path / "journal.sim.sqlite3"
        assert not path.exists() and not (tmp_path / "journal.sim.sqlite3-wal").exists()
        path.write_text("this run")
    assert path.read_text() == "this run"  # kept for a look after the run
    assert real.read_text() == "paper history"


@pytest.mark.skipif(os.name != "posix", reason="flock")
def test_a_second_sim_session_gets_a_private_journal(tmp_path):
    real = tmp_path / "journal.sqlite3"
    with sim_journal(real) as first:
        first.write_text("first session, still open")
        with sim_journal(real) as second:
            assert second == tmp_path / f"journal.sim-{os.getpid()}.sqlite3"
            second.write_text("second session")
        assert not second.exists()  # private: removed when its session ends
        assert first.read_text() == "first session, still open"
    with sim_journal(real) as third:  # the lock went with the first session
        assert third == first and not third.exists()


# -- display ----------------------------------------------------------------------------------
def test_display_detection_rules():
    assert display_problem({}, "linux") == NO_DISPLAY_HINT
    assert display_problem({"DISPLAY": ":0"}, "linux") is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


def scrubbed_env(tmp_path: Path) -> dict[str, str]:
    drop = ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("SIGMA9_")}
    return {**env, "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland check is Linux")
@pytest.mark.parametrize("argv", [[], ["--sim"]])
def test_no_display_prints_one_line_instead_of_a_qt_abort(argv, tmp_path):
    done = subprocess.run([sys.executable, "-m", "frontend.main", *argv], cwd=REPO,
                          env=scrubbed_env(tmp_path), capture_output=True, text=True,
                          timeout=20)
    assert done.returncode == 2
    assert done.stderr == NO_DISPLAY_HINT + "\n" and done.stdout == ""
    assert not (tmp_path / ".local").exists()  # nothing started, no journal opened


# -- the real window, offscreen --------------------------------------------------------------
@pytest.mark.skipif(os.name != "posix", reason="SIGINT to a child process")
def test_ctrl_c_closes_the_window_and_ends_the_child(tmp_path):
    """``sigma9 --sim`` with the real terminal: Ctrl+C closes the window, the child ends."""
    env = {**scrubbed_env(tmp_path), "QT_QPA_PLATFORM": "offscreen",
           "XDG_CONFIG_HOME": str(tmp_path / ".config"),
           "SIGMA9_JOURNAL__PATH": str(tmp_path / "journal.sqlite3")}
    proc = subprocess.Popen([sys.executable, "-m", "frontend.main", "--sim"], cwd=REPO,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15  # the journal opens once the window's core is built
        while not (tmp_path / "journal.sim.sqlite3").exists() and proc.poll() is None:
            assert time.monotonic() < deadline, "the terminal never built its core"
            time.sleep(0.05)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
        [child] = map(int, children.read_text().split()) if children.exists() else [None]
        time.sleep(1.0)  # let it connect: the close must also disconnect cleanly
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    if child is not None:
        assert wait_gone(child)


# -- the window path (with a stand-in for frontend.terminal) ---------------------------------
@pytest.fixture
def fake_terminal(monkeypatch, qapp):
    """``frontend.terminal`` whose run_terminal records its call and connects like the UI."""
    calls: list[dict] = []
    module = types.ModuleType("frontend.terminal")

    async def run_terminal(settings, mode, on_close=None):
        call = {"settings": settings, "mode": mode, "pid": None, "accounts": None}
        calls.append(call)
        behaviour = calls_behaviour.get("raise")
        if settings.broker.port and mode == "SIM":
            ib = IB()
            await ib.connectAsync(settings.broker.host, settings.broker.port,
                                  clientId=settings.broker.client_id, timeout=5)
            call["accounts"] = ib.managedAccounts()
            ib.disconnect()
        if behaviour:
            raise behaviour
        if on_close is not None:  # as run_terminal does once the core has stopped
            result = on_close()
            if inspect.isawaitable(result):
                await result
            call["child_stopped_on_close"] = not started[0].running
        return 0

    calls_behaviour: dict = {}
    module.run_terminal = run_terminal
    monkeypatch.setitem(sys.modules, "frontend.terminal", module)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    started: list[SimProcess] = []
    original = SimProcess.start

    def spy(self, *args, **kwargs):
        started.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(SimProcess, "start", spy)
    quit_on_last = qapp.quitOnLastWindowClosed()
    yield types.SimpleNamespace(calls=calls, started=started, behaviour=calls_behaviour)
    qapp.setQuitOnLastWindowClosed(quit_on_last)


def test_gui_with_sim_connects_to_the_child_and_ends_it(clean_env, fake_terminal):
    assert launcher.main(["--sim", "--client-id", "4"]) == 0
    [call] = fake_terminal.calls
    [sim] = fake_terminal.started
    assert call["mode"] == "SIM" and call["accounts"] == ["DU1234567"]
    assert call["child_stopped_on_close"]
    broker = call["settings"].broker
    assert (broker.host, broker.port, broker.client_id) == ("127.0.0.1", sim.port, 4)
    assert call["settings"].journal.path == clean_env / "journal.sim.sqlite3"
    assert wait_gone(sim.pid)


def test_gui_without_sim_uses_the_broker_flags_and_auto_mode(clean_env, fake_terminal):
    assert launcher.main(["--host", "10.1.2.3", "--port", "7497", "--client-id", "8"]) == 0
    [call] = fake_terminal.calls
    broker = call["settings"].broker
    assert call["mode"] == "AUTO" and (broker.host, broker.port, broker.client_id) == (
        "10.1.2.3", 7497, 8)
    assert fake_terminal.started == []


def test_gui_failure_still_ends_the_child(clean_env, fake_terminal):
    fake_terminal.behaviour["raise"] = RuntimeError("window exploded")
    with pytest.raises(RuntimeError, match="window exploded"):
        launcher.main(["--sim"])
    [sim] = fake_terminal.started
    assert wait_gone(sim.pid)


def test_sim_scenario_follows_the_strategy_bars(clean_env):
    settings = load_settings()
    assert launcher.sim_bar_size(settings) == launcher.SIM_DEMO_BAR_S
    assert launcher.sim_bar_size(load_settings(strategy={"bar_size_s": 15})) == 15
    help_text = "--scenario NAME|FILE --episode-bar-seconds N"
    assert launcher.scenario_args(5, help_text) == [
        "--scenario", "ignition", "--episode-bar-seconds", "5"]
    assert launcher.scenario_args(5, "--seed SEED") == []


def test_gui_with_sim_builds_the_window_while_the_child_starts(clean_env, fake_terminal,
                                                                monkeypatch):
    """The child is spawned first and waited for only after the terminal's imports and
    QApplication exist: the two start-ups overlap instead of adding up."""
    steps: list[str] = []
    parts, wait_serving = launcher._gui_parts, SimProcess.wait_serving

    def gui_parts():
        steps.append(f"gui parts (child spawned: {fake_terminal.started[0].pid is not None})")
        return parts()

    def waited(self):
        steps.append("wait for the child's port")
        return wait_serving(self)

    monkeypatch.setattr(launcher, "_gui_parts", gui_parts)
    monkeypatch.setattr(SimProcess, "wait_serving", waited)
    assert launcher.main(["--sim"]) == 0
    assert steps == ["gui parts (child spawned: True)", "wait for the child's port"]
    [call] = fake_terminal.calls
    assert call["accounts"] == ["DU1234567"]  # and the window's session reached it


def test_gui_reports_a_simulator_that_cannot_start_after_building_nothing(clean_env, capsys,
                                                                          fake_terminal):
    """With the child started before the window's imports, a child that cannot listen is
    still one line and exit 1, and no window session starts."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert launcher.main(["--sim", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("sigma9: the simulator exited")
    assert fake_terminal.calls == []
    [sim] = fake_terminal.started
    assert wait_gone(sim.pid)
