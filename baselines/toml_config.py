"""Reading the TOML files that ship with ``baselines`` (model configs, published tables) with errors that name the
file, the line and the field. Standard library only (``tomllib``)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from scale_vqa.problems import InputError, Problem, ValidationReport


class ConfigProblems:
    """Collects the problems of one TOML file; :meth:`raise_if_any` raises one :class:`InputError` with all."""

    def __init__(self, path: Path, text: str) -> None:
        self.path, self.lines = path, text.splitlines()
        self.report = ValidationReport()

    def line_of(self, field: str) -> int | None:
        """The 1-based line where the last part of a dotted `field` is assigned (or its table starts)."""
        name = field.rsplit(".", 1)[-1].split("[")[0]
        pattern = re.compile(rf"^\s*(\[+\s*)?[\w.\"-]*\b{re.escape(name)}\b\"?\s*(=|\]+)")
        for i, line in enumerate(self.lines, 1):
            if pattern.match(line):
                return i
        return None

    def add(self, field: str | None, message: str, severity: str = "error") -> None:
        self.report.add(Problem(str(self.path), message, severity,  # type: ignore[arg-type]
                                self.line_of(field) if field else None, None, field))

    def raise_if_any(self, what: str) -> None:
        if not self.report.ok:
            raise InputError(self.report, what)


def read_toml(path: str | Path) -> tuple[dict[str, Any], ConfigProblems]:
    """Parse `path`; a syntax error raises :class:`InputError` with its line."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    problems = ConfigProblems(path, text)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        where = re.search(r"\(at line (\d+), column \d+\)", str(exc))  # Python < 3.14 has no exc.lineno
        line = getattr(exc, "lineno", None) or (int(where.group(1)) if where else None)
        problems.report.add(Problem(str(path), f"not valid TOML: {exc}", "error", line))
        raise InputError(problems.report, str(path)) from None
    return data, problems


def check_keys(problems: ConfigProblems, table: Mapping[str, Any], allowed: Iterable[str], prefix: str = "") -> None:
    """Unknown keys are errors (a typo must not silently fall back to a default)."""
    allowed = set(allowed)
    for key in table:
        if key not in allowed:
            problems.add(prefix + key, f"unknown key {key!r}; allowed: {', '.join(sorted(allowed))}")


def take(problems: ConfigProblems, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...], *,
         prefix: str = "", default: Any = ..., choices: Iterable[Any] | None = None) -> Any:
    """``table[key]`` checked against `kind` (and `choices`); missing → `default`, or an error when required."""
    field = prefix + key
    if key not in table:
        if default is ...:
            problems.add(prefix.rstrip(".") or None, f"missing required key {field!r}")
            return None
        return default
    value = table[key]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):  # TOML true is not 1
        names = " or ".join(k.__name__ for k in kinds)
        problems.add(field, f"must be {names}, got {type(value).__name__} {value!r}")
        return None if default is ... else default
    if choices is not None:
        options = list(choices)
        if value not in options:
            problems.add(field, f"{value!r} is not one of {', '.join(map(repr, options))}")
            return None if default is ... else default
    return value
