"""The application under soak: Sigma9's trading core as its own process.

Why a separate process: SIGKILL and a restart on the same journal are among the faults, and
only a process of its own can be killed without taking the simulator and the checker with
it. This is the same wiring the terminal and headless mode run (``TradingCore``): the
connector, the journal and the OrderManager, with reconcile on start.

Protocol, one JSON object per line:
- stdin: ``{"op": "signal", "signal": {...}}`` calls ``execute_entry``; ``{"op": "stop"}``
  stops the core cleanly (journal closed) and exits 0.
- stdout: ``{"event": "ready", "reprotected": [...]}`` once reconciled; ``entered`` or
  ``refused`` (with the SignalRefused code) per signal; every OrderManager event as
  ``{"event": "core", "kind": ...}``; connection states as ``{"event": "connection"}``.

Run: ``python -m soak.app --settings '<json of load_settings overrides>'``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import enum
import json
import logging
import sys
import threading
from decimal import Decimal
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return _plain(value.model_dump())
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def emit(event: str, **fields: Any) -> None:
    print(json.dumps({"event": event, **_plain(fields)}), flush=True)


def core_event(*args: Any) -> None:
    """Listener for the OrderManager, whatever its event shape: ``(kind, payload)`` strings
    today, one event object after the redesign (issue 10 part 1)."""
    try:
        if len(args) == 2 and isinstance(args[0], str):
            emit("core", kind=args[0], payload=args[1])
        elif len(args) == 1:
            obj = args[0]
            kind = getattr(obj, "kind", None) or type(obj).__name__
            emit("core", kind=str(kind), payload=obj)
        else:
            emit("core", kind="?", payload=list(args))
    except Exception as exc:  # a listener must never take the core down
        emit("listener_error", error=repr(exc))


def _stdin_lines(loop: asyncio.AbstractEventLoop, queue: asyncio.Queue) -> None:
    for line in sys.stdin:
        loop.call_soon_threadsafe(queue.put_nowait, line)
    loop.call_soon_threadsafe(queue.put_nowait, None)


async def _signal(core: Any, data: dict[str, Any]) -> None:
    signal_id = data.get("id", "")
    try:
        order_id = await core.manager.execute_entry(data)
    except Exception as exc:
        if type(exc).__name__ == "SignalRefused":  # wherever the redesign keeps the class
            emit("refused", id=signal_id, code=getattr(exc, "code", ""),
                 reason=getattr(exc, "reason", str(exc)))
        else:
            emit("error", id=signal_id, error=f"{type(exc).__name__}: {exc}")
    else:
        emit("entered", id=signal_id, order_id=order_id)


async def run(overrides: dict[str, Any]) -> int:
    from backend.runtime import TradingCore
    from backend.settings import load_settings

    settings = load_settings(**overrides)
    core = TradingCore.build(settings)
    core.manager.listeners.append(core_event)
    core.connector.connection_state.connect(
        lambda state, message: emit("connection", state=state, message=message))
    try:
        reprotected = await core.start()
    except Exception as exc:
        emit("start_failed", error=f"{type(exc).__name__}: {exc}")
        with contextlib.suppress(Exception):
            await core.stop()
        return 2
    emit("ready", reprotected=reprotected)
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()
    threading.Thread(target=_stdin_lines, args=(loop, queue), daemon=True).start()
    tasks: set[asyncio.Task] = set()
    while True:
        line = await queue.get()
        if line is None:
            break
        try:
            message = json.loads(line)
        except ValueError:
            emit("bad_input", line=line.strip()[:200])
            continue
        op = message.get("op")
        if op == "stop":
            break
        if op == "signal":
            task = loop.create_task(_signal(core, message.get("signal") or {}))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif op == "ping":
            emit("pong", n=message.get("n"))
        else:
            emit("bad_input", line=line.strip()[:200])
    for task in list(tasks):
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.wait_for(task, 5)
    await asyncio.sleep(0.2)  # let statuses already on the wire land in the journal
    await core.stop()
    emit("stopped")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soak.app")
    parser.add_argument("--settings", required=True, help="JSON of load_settings overrides")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return asyncio.run(run(json.loads(args.settings)))


if __name__ == "__main__":
    sys.exit(main())
