"""One task supervisor: every background task named and kept, a failure logged and shown to
the trader as an Alert, everything cancelled on stop."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from backend.core import events as ev
from backend.core.tasks import TaskSupervisor
from backend.runtime import wire
from backend.strategies.runner import StrategyRunner
from tests.helpers import eventually

pytestmark = pytest.mark.asyncio


async def _settle(supervisor: TaskSupervisor) -> None:
    while supervisor.tasks:
        await asyncio.gather(*supervisor.tasks, return_exceptions=True)


async def test_a_failing_task_is_published_as_an_alert_naming_it(manager):
    seen: list[ev.Event] = []
    manager.subscribe(seen.append)

    async def broken() -> None:
        raise RuntimeError("socket closed")

    manager.tasks.spawn(broken(), "trail of AAPL")
    await _settle(manager.tasks)
    assert seen == [ev.Alert("trail of AAPL failed: socket closed")]
    assert manager.journal.events("alert")[-1]["payload"] == {
        "message": "trail of AAPL failed: socket closed"}


async def test_a_failing_timer_is_reported_like_a_task():
    failures: list[tuple[str, str]] = []
    supervisor = TaskSupervisor(lambda name, exc: failures.append((name, str(exc))))
    done = asyncio.Event()

    def broken() -> None:
        done.set()
        raise ValueError("no such order")

    supervisor.call_later(0, broken, name="entry timeout of 5")
    await done.wait()
    await eventually(lambda: failures, what="the timer's failure reported")
    assert failures == [("entry timeout of 5", "no such order")]
    assert not supervisor.timers


async def test_stop_cancels_every_task_and_timer_and_waits_for_them():
    supervisor = TaskSupervisor(lambda name, exc: pytest.fail(f"{name}: {exc}"))
    started = asyncio.Event()
    fired: list[str] = []

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    tasks = [supervisor.spawn(forever(), f"task {i}") for i in range(3)]
    supervisor.call_later(3600, fired.append, "late", name="timer")
    await started.wait()
    await supervisor.stop()
    assert all(t.cancelled() for t in tasks)
    assert not supervisor.tasks and not supervisor.timers and fired == []


async def test_the_reconnect_reconciliation_goes_through_the_supervisor_by_name():
    class Signal:
        def __init__(self) -> None:
            self.slots: list = []

        def connect(self, fn) -> None:
            self.slots.append(fn)

        def emit(self) -> None:
            for fn in self.slots:
                fn()

    names = ("order_placed", "order_status", "order_filled", "order_error", "order_warning",
             "order_unknown_code", "positions_update", "tick", "reconnected")
    connector = SimpleNamespace(**{n: Signal() for n in names})
    reconciled = asyncio.Event()

    async def reconcile() -> list[str]:
        reconciled.set()
        return []

    supervisor = TaskSupervisor(lambda name, exc: pytest.fail(f"{name}: {exc}"))
    manager = SimpleNamespace(tasks=supervisor, reconcile=reconcile, **{
        n: (lambda *a: None) for n in ("on_order_status", "on_fill", "on_order_error",
                                       "on_order_warning", "on_unknown_code", "on_positions",
                                       "on_tick")})  # no _spawn: wire must not need it
    wire(connector, manager)  # type: ignore[arg-type]
    connector.reconnected.emit()
    assert [t.get_name() for t in supervisor.tasks] == ["reconcile after reconnect"]
    await reconciled.wait()


async def test_the_runner_starts_its_tasks_through_the_supervisor_it_is_given(manager):
    class Market:
        async def subscribe(self, symbol: str) -> None:
            pass

        async def historical_bars(self, symbol, duration, bar_size) -> list:
            return []

    strategy = SimpleNamespace(warm_up=lambda symbol, bars: None)
    runner = StrategyRunner(strategy, Market(), manager, bar_size_s=60,  # type: ignore[arg-type]
                            supervisor=manager.tasks)
    assert await runner.arm(["AAPL"]) == ["AAPL"]
    assert {t.get_name() for t in manager.tasks.tasks} == {"bar flusher"}
    await runner.close()
    await manager.tasks.stop()
    assert not manager.tasks.tasks


async def test_a_runner_on_its_own_shows_a_task_failure_as_an_alert():
    runner = StrategyRunner(strategy=None, market=None, entries=None,  # type: ignore[arg-type]
                            bar_size_s=60)
    seen: list[ev.Event] = []
    runner.subscribe(seen.append)

    async def broken() -> None:
        raise RuntimeError("history feed gone")

    runner.supervisor.spawn(broken(), "bar flusher")
    await _settle(runner.supervisor)
    assert seen == [ev.Alert("bar flusher failed: history feed gone")]
