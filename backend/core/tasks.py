"""One place that starts the OMS's background tasks, and one that waits for broker state.

Why: a task started with a bare ``create_task`` and dropped can be garbage-collected
mid-flight, and its exception is only printed at interpreter exit. Every background task of
the core and the runtime (protection after a leg failure, the market entry's trail,
reconciliation after a reconnect, a re-read of an order, the runner's signal submissions and
bar flusher) goes through :class:`TaskSupervisor`: it names each task, keeps a reference
until it ends, logs a failure and reports it through one callback (the OrderManager's
publishes an ``Alert``, so the trader sees it), and cancels everything on stop. Timers
(``call_later``: the entry timeouts) are kept and cancelled the same way. Nautilus's task
helper is the model.

:class:`StateWaiter` lets a command wait for the broker's answer (e.g. "every exit leg of
this trade is cancelled") without polling: the OrderManager calls ``notify`` whenever it
stores an order update, and each waiter re-checks its condition then.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

log = logging.getLogger("sigma9.oms")


class TaskSupervisor:
    def __init__(self, on_failure: Callable[[str, BaseException], None]) -> None:
        self.tasks: set[asyncio.Task] = set()
        self.timers: set[asyncio.TimerHandle] = set()
        self._on_failure = on_failure

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run ``coro`` on the running loop; a failure is reported as ``(name, exception)``."""
        task = asyncio.get_event_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def call_later(self, delay: float, fn: Callable[..., Any], *args: Any,
                   name: str) -> asyncio.TimerHandle:
        """Call ``fn(*args)`` after ``delay`` seconds; kept until it runs, cancelled on stop,
        and an exception it raises is reported like a task's."""
        def run() -> None:
            self.timers.discard(handle)
            try:
                fn(*args)
            except Exception as exc:
                log.error("timer %s failed: %s", name, exc, exc_info=exc)
                self._on_failure(name, exc)

        handle = asyncio.get_event_loop().call_later(delay, run)
        self.timers.add(handle)
        return handle

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %s", task.get_name(), exc, exc_info=exc)
            self._on_failure(task.get_name(), exc)

    def cancel_all(self) -> None:
        """Cancel every task and timer (stop: nothing of this session runs on afterwards)."""
        for task in list(self.tasks):
            task.cancel()
        for timer in list(self.timers):
            timer.cancel()
        self.timers.clear()

    async def stop(self) -> None:
        """Cancel everything and wait until the tasks have ended."""
        pending = list(self.tasks)
        self.cancel_all()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


class StateWaiter:
    def __init__(self) -> None:
        self._changed = asyncio.Event()

    def notify(self) -> None:
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """True once ``predicate()`` holds (checked on every notify), False after ``timeout``."""
        loop = asyncio.get_event_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                return predicate()
        return True
