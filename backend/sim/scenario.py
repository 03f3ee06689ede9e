"""``--scenario``: a built-in scenario by name, or a TOML file of scripted price paths.

Why one flag for both: a trader asks for "a market that does X", whether X is one of the
simulator's own behaviours (``ignition``: accumulation-then-ignition episodes, see
``episodes.py``) or a path of their own. A value naming a built-in scenario selects it; any
other value is read as a file, so every existing ``--scenario FILE.toml`` keeps working (a
file literally called ``ignition`` can still be given as ``./ignition``).

A scenario file scripts symbols' paths as data: times (seconds after start), prices and,
optionally, trade sizes, step-wise::

    [[script]]
    symbol = "AAPL"
    then = "walk"                      # or "hold" the last price
    points = [[0, 190.00], [30, 190.00, 5000], [31, 186.00]]

Everything is checked before the server starts, and a problem is one line naming it.
"""

from __future__ import annotations

import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI (see pyproject)
    import tomli as tomllib

from backend.sim.config import SCENARIOS


def resolve(value: str) -> tuple[str | None, list[dict]]:
    """(built-in scenario name or None, scripts) for a ``--scenario`` value."""
    if value.strip().lower() in SCENARIOS:
        return value.strip().lower(), []
    path = Path(value)
    if not path.exists() and path.suffix == "" and len(path.parts) == 1:
        raise ValueError(f"--scenario: {value!r} is neither a built-in scenario "
                         f"({', '.join(SCENARIOS)}) nor a file")
    return None, load_scenario(path)


def load_scenario(path: Path) -> list[dict]:
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ValueError(f"--scenario: cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"--scenario: {path} is not valid TOML: {exc}") from None
    scripts = data.get("script", [])
    if not isinstance(scripts, list):
        raise ValueError(f"--scenario: {path}: 'script' must be an array of tables")
    return [_check_script(i + 1, item) for i, item in enumerate(scripts)]


def _check_script(number: int, item: object) -> dict:
    """Refuse a malformed script before the server starts, naming what is wrong."""
    where = f"--scenario: script #{number}"
    if not isinstance(item, dict) or not item.get("symbol") or not item.get("points"):
        raise ValueError(f"{where} needs 'symbol' and 'points'")
    if not isinstance(item["symbol"], str) or not item["symbol"].strip().isalnum():
        raise ValueError(f"{where}: symbol {item['symbol']!r} is not a ticker")
    if item.get("then", "hold") not in ("hold", "walk"):
        raise ValueError(f"{where}: then must be 'hold' or 'walk', not {item['then']!r}")
    points = [_check_point(where, point) for point in item["points"]]
    return {"symbol": item["symbol"].strip().upper(), "points": points,
            "then": item.get("then", "hold")}


def _check_point(where: str, point: object) -> tuple:
    shape = f"{where}: point {point!r}"
    if not isinstance(point, (list, tuple)):  # a TOML array; a string would unpack by char
        raise ValueError(f"{shape} is not [seconds, price] or [seconds, price, size]")
    try:
        seconds, price, *rest = point
        parsed = (float(seconds), Decimal(str(price)))
    except (TypeError, ValueError, InvalidOperation):
        raise ValueError(f"{shape} is not [seconds, price] or [seconds, price, size]") from None
    if len(rest) > 1:
        raise ValueError(f"{shape} is not [seconds, price] or [seconds, price, size]")
    if parsed[0] < 0 or not parsed[1].is_finite() or parsed[1] <= 0:
        raise ValueError(f"{shape} needs seconds >= 0 and a price > 0")
    if not rest:
        return parsed
    size = rest[0]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"{shape}: the size must be a whole number of shares >= 0")
    return (*parsed, size)
