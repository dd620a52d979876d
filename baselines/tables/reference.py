"""Published results from papers, as data: ``baselines/tables/published/*.toml``, one file per source table.

Every row keeps the paper's numbers unchanged and is marked *published*; it is never mixed with rows measured
here. Loading checks each row against the table's design (``n_per_dimension`` items per dimension): each
accuracy must be k/n for some integer k (to the printed precision) and AVG the mean of those, unless the row
explains the mismatch in ``discrepancy``. The implied counts give published rows Wilson 95 % intervals. A file
is read with :func:`scale_vqa.config.validate_config` (unknown keys are errors), so every problem names the
file, the line and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from scale_vqa.config import ConfigError, problems_from_errors, read_toml, validate_config
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.stats import stratified_interval, wilson_interval

REFERENCE_DIR = Path(__file__).with_name("published")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Strict):
    """A reference file's ``[source]`` table: where its rows come from."""

    key: str
    short: str
    """Short citation shown in tables, e.g. ``Phan et al. 2026, arXiv:2606.17412``."""
    citation: str
    table: str
    url: str
    split: str
    n_per_dimension: Annotated[int, Field(gt=0)]
    metric: str
    note: str = ""


Percent = Annotated[float, Field(ge=0, le=100, strict=True)]
RowTable = create_model("RowTable", __base__=Strict, model=(str, ...), avg=(Percent, ...), discrepancy=(str, ""),
                        **{d.value: (Percent, ...) for d in DIMENSIONS})
"""One ``[[rows]]`` table: the model, one accuracy (%) per dimension, AVG, and an optional discrepancy."""


class ReferenceFile(Strict):
    source: Source
    rows: Annotated[list[RowTable], Field(min_length=1)]  # type: ignore[valid-type]


@dataclass(frozen=True)
class PublishedRow:
    """One published row: accuracies in percent as printed, and the counts they imply."""

    model: str
    scores: dict[Dimension, float]
    avg: float
    source: Source
    counts: dict[Dimension, int]
    """k per dimension, with k/n closest to the printed accuracy."""
    discrepancy: str = ""

    @property
    def n(self) -> int:
        return self.source.n_per_dimension

    def ci(self, dim: Dimension) -> tuple[float, float]:
        """Wilson 95 % interval (fractions) from the implied count."""
        return wilson_interval(self.counts[dim], self.n)

    @property
    def avg_ci(self) -> tuple[float, float]:
        return stratified_interval([(self.counts[d], self.n) for d in DIMENSIONS])


def _implied(value: float, n: int) -> tuple[int, bool]:
    """The k whose k/n is closest to `value` %, and whether k/n prints as `value` at 2 dp."""
    k = round(value * n / 100)
    return k, abs(100 * k / n - value) < 0.005 + 1e-9


def _row(table: Any, source: Source) -> tuple[PublishedRow, list[str]]:
    """A published row and what in it breaks the table's design (empty when nothing does)."""
    n = source.n_per_dimension
    scores = {d: float(getattr(table, d.value)) for d in DIMENSIONS}
    counts, mismatches = {}, []
    for d, v in scores.items():
        counts[d], exact = _implied(v, n)
        if not exact:
            mismatches.append(f"{d.value} {v:g} is not k/{n}")
    implied_avg = 100 * sum(counts.values()) / (n * len(DIMENSIONS))
    if abs(implied_avg - table.avg) >= 0.005 + 1e-9:
        mismatches.append(f"avg {table.avg:g} is not the mean of the per-dimension counts ({implied_avg:.3f})")
    return PublishedRow(table.model, scores, float(table.avg), source, counts, table.discrepancy), mismatches


def load_reference(path: str | Path) -> list[PublishedRow]:
    """Rows of one reference file; raises :class:`~scale_vqa.config.ConfigError` naming file, line and field."""
    data, lines = read_toml(path)
    ref = validate_config(ReferenceFile, data, path, lines)
    out, errors = [], []
    for i, table in enumerate(ref.rows):
        row, mismatches = _row(table, ref.source)
        if mismatches and not row.discrepancy:
            errors.append({"loc": ("rows", i, "model"), "msg": f"{row.model}: " + "; ".join(mismatches)
                           + " — fix the transcription, or keep the published numbers and explain in 'discrepancy'"})
        out.append(row)
    names = [r.model for r in out]
    errors += [{"loc": ("rows",), "msg": f"model {name!r} appears more than once"}
               for name in sorted({m for m in names if names.count(m) > 1})]
    if errors:
        raise ConfigError(problems_from_errors(errors, path, lines), str(path))
    return out


def reference_files() -> list[Path]:
    return sorted(REFERENCE_DIR.glob("*.toml"))


def published_rows(paths: list[Path] | None = None) -> list[PublishedRow]:
    """Every shipped published row (or those of `paths`), in file and row order."""
    return [row for p in (paths if paths is not None else reference_files()) for row in load_reference(p)]
