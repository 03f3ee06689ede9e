"""Where a setting came from, and whether a config file wrote it with the right TOML type.

Split from ``settings`` because these are questions about the sources, not the values.

Why type-check files at all, when pydantic converts: pydantic's lax mode turns ``port =
"4002"`` into 4002, ``port = true`` into 1, and ``live_trading_enabled = "yes"`` (or ``1``)
into True. A config file is typed (TOML has integers, floats, booleans and strings), so a
value written with the wrong type is a mistake, and for the live-trading interlock a
dangerous one. Environment variables are text by nature, so they keep pydantic's usual
conversions.

Why provenance: "invalid setting broker.port" leaves the trader to hunt through two files,
the environment and the command line. Each error names the one source that supplied the
value, in priority order (overrides, environment, user file, shipped defaults).
"""

from __future__ import annotations

import os
import types
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

TOML_KINDS: dict[type, tuple[tuple[type, ...], str]] = {
    bool: ((bool,), "true or false"),
    int: ((int,), "a whole number"),
    float: ((int, float), "a number"),
    str: ((str,), "a quoted string"),
    Path: ((str,), "a quoted path"),
    tuple: ((list,), "a list"),
}
"""A field's Python type -> the TOML value types that may spell it, and how to say so."""

TOML_TYPE_NAMES: dict[type, str] = {
    bool: "a boolean", int: "a whole number", float: "a number", str: "a string",
    list: "a list", dict: "a table",
}


def _base_type(annotation: Any) -> Any:
    """``Annotated[int, Field(...)]`` -> int; ``tuple[str, ...]`` -> tuple."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    origin = get_origin(annotation)
    if origin is Literal:
        kinds = {type(v) for v in get_args(annotation)}
        return kinds.pop() if len(kinds) == 1 else None
    if origin in (Union, types.UnionType):
        return None  # not used by Settings today; left to pydantic
    return origin or annotation


def file_type_problem(model: type[BaseModel], section: str, key: str,
                      value: Any) -> str | None:
    """Why ``value`` is the wrong TOML type for ``section.key``, or None if it fits."""
    field = model.model_fields.get(key)
    if field is None:
        return None  # unknown keys are pydantic's to name (with the known ones)
    wanted = TOML_KINDS.get(_base_type(field.annotation))
    if wanted is None:
        return None
    allowed, words = wanted
    if type(value) in allowed:
        return None
    got = TOML_TYPE_NAMES.get(type(value), type(value).__name__)
    shown = f'"{value}"' if isinstance(value, str) else repr(value)
    if isinstance(value, bool):
        shown = "true" if value else "false"
    return f"must be {words}, not {got} ({shown})"


def check_file_types(settings_cls: type[BaseModel], data: Mapping[str, Any],
                     path: Path) -> list[str]:
    """One ``invalid setting a.b: ... in <file>`` per value of the wrong TOML type."""
    problems = []
    for section, table in data.items():
        field = settings_cls.model_fields.get(section)
        model = field.annotation if field is not None else None
        if not (isinstance(table, dict) and isinstance(model, type)
                and issubclass(model, BaseModel)):
            continue  # an unknown section or a non-table: pydantic says so
        for key, value in table.items():
            problem = file_type_problem(model, section, key, value)
            if problem:
                problems.append(f"invalid setting {section}.{key}: {problem} in {path}")
    return problems


class Provenance:
    """Which source supplied each ``section.key``, highest priority first."""

    def __init__(self, overrides: Mapping[str, Any], env_prefix: str, delimiter: str,
                 files: list[tuple[Path, Mapping[str, Any]]]) -> None:
        self.overrides = overrides
        self.env_prefix, self.delimiter = env_prefix, delimiter
        self.files = files

    def source_of(self, loc: tuple[int | str, ...]) -> str:
        """Where the value at ``loc`` came from, as the trader would look for it."""
        names = [str(p) for p in loc if isinstance(p, str)]
        if not names:
            return ""
        if _has(self.overrides, names):
            return "the command-line or caller's overrides"
        env = self._env_name(names)
        if env:
            return f"${env}"
        for path, data in self.files:
            if _has(data, names):
                return str(path)
        return ""

    def _env_name(self, names: list[str]) -> str:
        wanted = (self.env_prefix + self.delimiter.join(names)).upper()
        section = (self.env_prefix + names[0]).upper()
        for name in os.environ:
            if name.upper() == wanted or (len(names) > 1 and name.upper() == section):
                return name
        return ""


def _has(data: Mapping[str, Any], names: list[str]) -> bool:
    node: Any = data
    for name in names:
        if not isinstance(node, Mapping):
            return False
        match = next((k for k in node if str(k).lower() == name.lower()), None)
        if match is None:
            return False
        node = node[match]
    return True


PATTERN_HINTS: dict[str, str] = {
    "broker.host": "must be a host name or address, without spaces or control characters",
    "broker.account": "must be an IB account code: letters and digits only",
    "sim.account": "must be an IB account code: letters and digits only",
    "strategy.warmup_duration": 'must be an IB duration: "<count> <S|D|W|M|Y>", e.g. "1 D"',
}
"""Words for a value that does not match its pattern (pydantic would print the regex)."""


def describe_validation_error(exc: ValidationError, settings_cls: type[BaseModel],
                              provenance: Provenance | None = None) -> str:
    """Render pydantic errors as ``invalid setting a.b: problem (got X) in <source>``,
    joined by '; '."""
    parts = []
    for err in exc.errors(include_url=False):
        key = _dotted(err["loc"])
        source = provenance.source_of(err["loc"]) if provenance else ""
        where = f" in {source}" if source else ""
        if err["type"] == "extra_forbidden":
            allowed = _allowed_keys(settings_cls, err["loc"][:-1])
            hint = f" (known keys: {', '.join(allowed)})" if allowed else ""
            parts.append(f"unknown setting {key}{where}{hint}")
            continue
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "string_pattern_mismatch":
            msg = PATTERN_HINTS.get(key, msg)
        shown = "input" in err and not isinstance(err["input"], dict)  # dict = whole section
        got = f" (got {_show(err['input'])})" if shown else ""
        parts.append(f"invalid setting {key or '<root>'}: {msg}{got}{where}")
    return one_line("; ".join(parts))


def _dotted(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _allowed_keys(settings_cls: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names valid at ``loc`` (a path of section names), for 'did you mean' hints."""
    model: Any = settings_cls
    for part in loc:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        model = field.annotation if field is not None else None
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return []
    return list(model.model_fields)


def _show(value: Any) -> str:
    """Show a bad input the way the user typed it: bare for simple strings, repr otherwise."""
    plain = (isinstance(value, str) and value and value == value.strip()
             and value.isprintable())
    text = value if plain else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def one_line(text: str) -> str:
    return " ".join(text.split())
