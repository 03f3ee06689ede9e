"""``sigma9-sim`` as a trader runs it: a subprocess, a serving line, a real client.

The CLI is run as ``python -m backend.sim.cli`` from the repository root (what the
``sigma9-sim`` entry point calls), with ``--port 0`` so the serving line names the port.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ib_insync import IB, Stock

from tests.sim.conftest import wait_until

REPO = Path(__file__).resolve().parents[2]
SERVING = re.compile(r"^sigma9-sim: serving (\S+) on 127\.0\.0\.1:(\d+) \(account (\S+)\)")
STOP_BOUND_S = 30
"""How long a stopped server may take to exit: a bound for a hang, not a speed check (5 s
was missed twice under two concurrent suites while the process was merely descheduled)."""
FAST = ["--port", "0", "--tick-interval", "0.05", "--volatility", "0", "--log-level", "WARNING"]


def run_cli(*args: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backend.sim.cli", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout)


class Served:
    def __init__(self, process: subprocess.Popen[str], match: re.Match[str]) -> None:
        self.process = process
        self.symbols = match.group(1).split(",")
        self.port = int(match.group(2))
        self.account = match.group(3)


@pytest.fixture
def serve_cli(event_loop_for_ib) -> Iterator:
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, sigint_ignored: bool = False) -> Served:
        # ``sigint_ignored``: started as a non-interactive shell starts a background job.
        ignore = (lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if sigint_ignored \
            else None
        process = subprocess.Popen([sys.executable, "-m", "backend.sim.cli", *FAST, *args],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, preexec_fn=ignore)
        started.append(process)
        line = process.stdout.readline()  # blocks until the server is listening
        match = SERVING.match(line)
        assert match, f"no serving line: {line!r}; stderr {process.stderr.read()!r}"
        return Served(process, match)

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_BOUND_S)
        process.stdout.close()
        process.stderr.close()


def test_serves_a_real_client_and_stops_cleanly_on_sigint(serve_cli):
    served = serve_cli("--symbols", "AAPL,NVDA", "--account", "DU7654321")
    assert served.symbols == ["AAPL", "NVDA"] and served.account == "DU7654321"
    ib = IB()
    ib.connect("127.0.0.1", served.port, clientId=1, timeout=5)
    try:
        assert ib.managedAccounts() == ["DU7654321"]
        assert ib.client.serverVersion() == 176
        (details,) = ib.reqContractDetails(Stock("NVDA", "SMART", "USD"))
        assert details.contract.conId == 4815747
    finally:
        ib.disconnect()
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(STOP_BOUND_S) == 0


def test_sigterm_stops_it_cleanly_too(serve_cli):
    served = serve_cli()
    served.process.terminate()
    assert served.process.wait(STOP_BOUND_S) == 0


@pytest.mark.parametrize(("args", "complaint"), [
    (["--bogus"], "unrecognized arguments: --bogus"),
    (["--port", "abc"], "argument --port: invalid int value: 'abc'"),
    (["--port", "70000"], "--port: 70000 is not a TCP port"),
    (["--log-level", "LOUD"], "argument --log-level: invalid choice: 'LOUD'"),
    (["--symbols", ","], "--symbols: give at least one symbol"),
    (["--cash", "lots"], "--cash and commissions must be numbers"),
    (["--scenario", "/nonexistent/s.toml"], "--scenario: cannot read /nonexistent/s.toml"),
])
def test_bad_flags_give_one_readable_line_and_exit_2(args, complaint):
    result = run_cli(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("sigma9-sim: ") and complaint in lines[0]


@pytest.mark.parametrize(("toml", "complaint"), [
    ("[[script]]\nsymbol = 'AAPL'\n", "needs 'symbol' and 'points'"),
    ("[[script]]\nsymbol = 'AAPL'\npoints = [[0, 'x']]\n", "is not [seconds, price]"),
    ("[[script]]\nsymbol = 'AAPL'\npoints = [[0, -5]]\n", "a price > 0"),
    ("[[script]]\nsymbol = 'AAPL'\nthen = 'fly'\npoints = [[0, 1]]\n", "then must be"),
    ("[[script\n", "is not valid TOML"),
])
def test_a_bad_scenario_is_refused_before_serving(tmp_path, toml, complaint):
    scenario = tmp_path / "bad.toml"
    scenario.write_text(toml)
    result = run_cli("--port", "0", "--scenario", str(scenario))
    assert result.returncode == 2 and result.stdout == ""
    assert complaint in result.stderr and len(result.stderr.splitlines()) == 1


def test_a_busy_port_is_one_line_and_exit_1(serve_cli):
    served = serve_cli()
    result = run_cli("--port", str(served.port))
    assert result.returncode == 1
    assert result.stderr.startswith(f"sigma9-sim: cannot listen on 127.0.0.1:{served.port}")


def test_a_scenario_scripts_the_price_a_client_sees(serve_cli, tmp_path):
    scenario = tmp_path / "gap.toml"
    scenario.write_text(
        "[[script]]\nsymbol = 'AAPL'\nthen = 'hold'\npoints = [[0, 123.45], [0.8, 120.10]]\n"
        "[[script]]\nsymbol = 'ZYX'\npoints = [[0, 42.00]]\n")
    started = time.monotonic()
    served = serve_cli("--scenario", str(scenario))
    assert "ZYX" in served.symbols  # a scripted symbol is listed even if not in --symbols
    ib = IB()
    ib.connect("127.0.0.1", served.port, clientId=1, timeout=5)
    try:
        aapl = Stock("AAPL", "SMART", "USD")
        ib.qualifyContracts(aapl)
        ticker = ib.reqMktData(aapl)
        if time.monotonic() - started < 0.7:  # still before the scripted gap
            wait_until(ib, lambda: ticker.last == 123.45, what="the first scripted price")
            assert (ticker.bid, ticker.ask) == (123.44, 123.46)
        wait_until(ib, lambda: ticker.last == 120.10, timeout=3, what="the scripted gap")
        zyx = Stock("ZYX", "SMART", "USD")
        ib.qualifyContracts(zyx)
        (snapshot,) = ib.reqTickers(zyx)
        assert snapshot.last == 42.0
    finally:
        ib.disconnect()


def test_sigint_stops_it_even_when_started_with_sigint_ignored(serve_cli):
    """A background job of a non-interactive shell inherits SIGINT ignored; Ctrl+C (or a
    script's kill -INT) must still stop the simulator cleanly, as it does the terminal."""
    served = serve_cli("--symbols", "AAPL", sigint_ignored=True)
    served.process.send_signal(signal.SIGINT)
    assert served.process.wait(STOP_BOUND_S) == 0

