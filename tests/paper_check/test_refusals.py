"""What the check refuses, through the real command line where the user meets it.

A live account is refused before anything is sent; no broker at the address is one
sentence and a non-zero exit, never a traceback. The CLI runs as a subprocess
(``python -m frontend.main paper-check``), exactly as ``sigma9 paper-check`` does.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from backend.broker.paper_check.runner import NotPaper
from tests.paper_check.conftest import REGULAR, run_check, start_sim

ROOT = Path(__file__).resolve().parents[2]


def sigma9(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "frontend.main", *args], cwd=cwd,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin",
                               "HOME": str(cwd)},
                          capture_output=True, text=True, timeout=60)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_no_connection_is_one_sentence_and_exit_1(tmp_path):
    port = closed_port()
    done = sigma9("paper-check", "--port", str(port), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith(f"sigma9 paper-check: nothing is listening on "
                                  f"127.0.0.1:{port}")
    assert list(tmp_path.glob("sigma9-paper-check-*.txt")) == []


@pytest.fixture
def live_sim():
    sim = start_sim(REGULAR, account="U7654321")
    yield sim
    sim.stop()


def test_a_live_account_is_refused_by_the_cli_before_any_order(live_sim, tmp_path):
    done = sigma9("paper-check", "--port", str(live_sim.port), cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == ("sigma9 paper-check: account U7654321 is not a paper account "
                           "(paper codes start with DU); sigma9 paper-check places orders, "
                           "so it runs on a paper account only.\n")
    assert live_sim.orders() == []


@pytest.mark.asyncio
async def test_a_live_account_is_refused_by_the_runner(live_sim, tmp_path):
    with pytest.raises(NotPaper, match="account U7654321 is not a paper account"):
        await run_check(live_sim, tmp_path / "cap.txt")
    assert live_sim.orders() == []
    assert not (tmp_path / "cap.txt").exists()


def test_an_account_the_login_does_not_manage_is_refused(live_sim, tmp_path):
    done = sigma9("paper-check", "--port", str(live_sim.port), "--account", "DU1111111",
                  cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr == ("sigma9 paper-check: account DU1111111 is not managed by this "
                           "login (it manages U7654321).\n")
    assert live_sim.orders() == []
