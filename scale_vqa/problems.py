"""`Problem` and `ValidationReport`: every defect of an input file, with file, line, index and field."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Literal

from .errors import BadInputError

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Problem:
    """One defect. `index` is the 0-based position of the record in the file (array element or JSONL
    record), `line` the 1-based line where that record (or the syntax error) starts, `field` a dotted path
    inside the record such as ``options.B``."""

    file: str
    message: str
    severity: Severity = "error"
    line: int | None = None
    index: int | None = None
    field: str | None = None
    item_id: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line is not None else "")
        parts = [where + ":", self.severity + ":"]
        if self.index is not None:
            parts.append(f"[{self.index}]")
        if self.item_id:
            parts.append(f"(id {self.item_id})")
        if self.field:
            parts.append(f"{self.field}:")
        parts.append(self.message)
        return " ".join(parts)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class ValidationReport:
    """All problems found while reading one or more files."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, problem: Problem) -> None:
        self.problems.append(problem)

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.problems)

    def __len__(self) -> int:
        return len(self.problems)

    def format(self, limit: int | None = None) -> str:
        """One problem per line, errors first; at most `limit` lines plus a count of the rest."""
        ordered = self.errors + self.warnings
        shown = ordered if limit is None else ordered[:limit]
        lines = [str(p) for p in shown]
        if len(ordered) > len(shown):
            lines.append(f"… and {len(ordered) - len(shown)} more problem(s)")
        return "\n".join(lines)


class InputError(BadInputError):
    """Raised when an input file has errors; `report` lists every one of them (exit 1)."""

    def __init__(self, report: ValidationReport, what: str = "input") -> None:
        self.report = report
        n = len(report.errors)
        super().__init__(f"{what}: {n} error(s)\n{report.format(limit=20)}")
