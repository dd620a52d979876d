"""Config files (TOML and YAML) checked with errors that name the file, the line and the field — one approach for
every spoke's configs.

A spoke describes its config as a typed model (pydantic, with ``extra="forbid"`` so a typo is an error, not a
silent default) and reads it with :func:`validate_config`. This module stays standard library: it calls the
model's ``model_validate`` and turns the structured errors it raises (``exc.errors()``: ``loc``, ``msg``) into
:class:`~scale_vqa.problems.Problem` lines, all of them at once, in one :class:`ConfigError` (exit 1). Where a
field sits in the file comes from a *line map* (dotted key → 1-based line): :func:`toml_lines` for TOML; a YAML
reader builds its own from the parser's node marks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from .problems import InputError, Problem, ValidationReport

T = TypeVar("T")
LineMap = Mapping[str, int]
"""Dotted key (``generation.max_tokens``, ``rows.0.name``) → the 1-based line where it is set."""


class ConfigError(InputError):
    """A config file (or override) that cannot be used; `report` has every problem with file, line and field."""

    def __init__(self, report: ValidationReport, what: str = "config") -> None:
        super().__init__(report, what)


def config_error(file: str | Path, message: str, *, line: int | None = None, field: str | None = None) -> ConfigError:
    """A :class:`ConfigError` holding one problem."""
    report = ValidationReport()
    report.add(Problem(str(file), message, "error", line, None, field))
    return ConfigError(report, str(file))


def line_of(lines: LineMap, field: str | None) -> int | None:
    """The line of `field`, or of its closest enclosing key that the map knows (``a.b.c`` → ``a.b`` → ``a``)."""
    while field:
        if field in lines:
            return lines[field]
        field = field.rpartition(".")[0]
    return None


def _dotted(loc: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in loc)


def problems_from_errors(errors: list[dict[str, Any]], file: str | Path, lines: LineMap) -> ValidationReport:
    """Structured validation errors (pydantic's ``exc.errors()``) → problems with file, line and field."""
    report = ValidationReport()
    for err in errors:
        field = _dotted(err.get("loc", ()))
        message = str(err.get("msg", "invalid"))
        if err.get("type") == "extra_forbidden":
            message = "unknown key (a typo? it would be ignored)"
        elif "input" in err and err.get("type") not in ("missing",) and not isinstance(err["input"], dict | list):
            message += f", got {err['input']!r}"
        report.add(Problem(str(file), message, "error", line_of(lines, field), None, field or None))
    return report


def validate_config(model: Callable[..., T] | type[T], data: Any, file: str | Path, lines: LineMap | None = None) -> T:
    """``model.model_validate(data)``, or :class:`ConfigError` listing every problem with its file, line and
    field. `model` is any class with pydantic's ``model_validate`` (or a ``TypeAdapter``'s ``validate_python``)."""
    validate = getattr(model, "model_validate", None) or model.validate_python  # type: ignore[union-attr]
    try:
        return validate(data)
    except Exception as exc:
        errors = getattr(exc, "errors", None)
        if not callable(errors):
            raise
        raise ConfigError(problems_from_errors(errors(), file, lines or {}), str(file)) from None


_TABLE = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")


def _key_parts(text: str) -> list[str]:
    return [p.strip().strip("\"'") for p in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", text)]


def toml_lines(text: str) -> dict[str, int]:
    """The line map of a TOML document: tables, arrays of tables (numbered ``rows.0``, ``rows.1`` …) and keys.
    Multi-line values are skipped over; keys inside inline tables are not mapped (their line is the key's)."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    prefix: list[str] = []
    in_multiline: str | None = None
    for n, raw in enumerate(text.splitlines(), 1):
        if in_multiline:
            if in_multiline in raw:
                in_multiline = None
            continue
        table = _TABLE.match(raw)
        if table:
            parts = _key_parts(table.group(2))
            name = ".".join(parts)
            if table.group(1) == "[[":
                index = counts.get(name, 0)
                counts[name] = index + 1
                lines.setdefault(name, n)
                parts = [*parts, str(index)]
            prefix = parts
            lines.setdefault(".".join(prefix), n)
            continue
        key = _KEY.match(raw)
        if key:
            lines.setdefault(".".join([*prefix, *_key_parts(key.group(1))]), n)
            rest = raw[key.end():]
            for quote in ('"""', "'''"):
                if rest.count(quote) == 1:
                    in_multiline = quote
    return lines


def read_toml(path: str | Path) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse a TOML file into its data and its line map; a syntax error is a :class:`ConfigError` with its line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column \d+\)", str(exc))  # Python < 3.14 has no exc.lineno
        line = getattr(exc, "lineno", None) or (int(where.group(1)) if where else None)
        raise config_error(path, f"not valid TOML: {exc}", line=line) from None
    return data, toml_lines(text)
