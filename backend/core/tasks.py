"""One place that starts the OMS's background tasks, and one that waits for broker state.

Why: a task started with a bare ``create_task`` and dropped can be garbage-collected
mid-flight, and its exception is only printed at interpreter exit. Every task of the OMS
(protection after a leg failure, the market entry's trail, entry timeouts, reconciliation)
goes through :class:`TaskSupervisor`, which keeps a reference until it ends and reports
failures through one callback (Nautilus's task helper is the model).

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
        self._on_failure = on_failure

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task:
        """Run ``coro`` on the running loop; a failure is reported as ``(name, exception)``."""
        task = asyncio.get_event_loop().create_task(coro, name=name)
        self.tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task) -> None:
        self.tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("task %s failed: %s", task.get_name(), exc, exc_info=exc)
            self._on_failure(task.get_name(), exc)

    def cancel_all(self) -> None:
        for task in list(self.tasks):
            task.cancel()


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
