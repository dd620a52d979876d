"""Published results from papers, as data: ``baselines/reference/*.toml``, one file per source table.

Every row keeps the paper's numbers unchanged and is marked *published*; it is never mixed with rows measured
here. Loading checks each row against the table's design (``n_per_dimension`` items per dimension): each
accuracy must be k/n for some integer k (to the printed precision) and AVG the mean of those, unless the row
explains the mismatch in ``discrepancy``. The implied counts give published rows Wilson 95 % intervals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from baselines.toml_config import check_keys, read_toml, take
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.stats import stratified_interval, wilson_interval

REFERENCE_DIR = Path(__file__).with_name("published")
SOURCE_KEYS = ("key", "short", "citation", "table", "url", "split", "n_per_dimension", "metric", "note")


@dataclass(frozen=True)
class Source:
    key: str
    short: str
    """Short citation shown in tables, e.g. ``Phan et al. 2026, arXiv:2606.17412``."""
    citation: str
    table: str
    url: str
    split: str
    n_per_dimension: int
    metric: str
    note: str = ""


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


def load_reference(path: str | Path) -> list[PublishedRow]:
    """Rows of one reference file; raises :class:`~scale_vqa.problems.InputError` naming file, line and field."""
    data, problems = read_toml(path)
    check_keys(problems, data, ("source", "rows"))
    src = data.get("source")
    if not isinstance(src, dict):
        problems.add(None, "missing [source] table (citation, url, split, n_per_dimension, …)")
        problems.raise_if_any(str(path))
        raise AssertionError
    check_keys(problems, src, SOURCE_KEYS, "source.")
    fields = {k: take(problems, src, k, str, prefix="source.") for k in ("key", "short", "citation", "table", "url",
                                                                          "split", "metric")}
    n = take(problems, src, "n_per_dimension", int, prefix="source.")
    note = take(problems, src, "note", str, prefix="source.", default="")
    problems.raise_if_any(str(path))
    source = Source(**fields, n_per_dimension=n, note=note)
    rows = data.get("rows")
    if not isinstance(rows, list) or not rows:
        problems.add(None, "no [[rows]]")
    rows = rows if isinstance(rows, list) else []
    out = []
    for i, row in enumerate(rows):
        prefix = f"rows[{i}]."
        check_keys(problems, row, ("model", "avg", "discrepancy", *(d.value for d in DIMENSIONS)), prefix)
        model = take(problems, row, "model", str, prefix=prefix)
        scores = {d: take(problems, row, d.value, (int, float), prefix=prefix) for d in DIMENSIONS}
        avg = take(problems, row, "avg", (int, float), prefix=prefix)
        discrepancy = take(problems, row, "discrepancy", str, prefix=prefix, default="")
        if model is None or avg is None or any(v is None for v in scores.values()):
            continue
        counts, mismatches = {}, []
        for d, v in scores.items():
            if not 0 <= v <= 100:
                problems.add(prefix + d.value, f"{v} is not a percentage")
            counts[d], exact = _implied(float(v), n)
            if not exact:
                mismatches.append(f"{d.value} {v} is not k/{n}")
        implied_avg = 100 * sum(counts.values()) / (n * len(DIMENSIONS))
        if abs(implied_avg - avg) >= 0.005 + 1e-9:
            mismatches.append(f"avg {avg} is not the mean of the per-dimension counts ({implied_avg:.3f})")
        if mismatches and not discrepancy:
            problems.add(prefix + "model", f"{model}: " + "; ".join(mismatches)
                         + " — fix the transcription, or keep the published numbers and explain in 'discrepancy'")
        out.append(PublishedRow(model, {d: float(v) for d, v in scores.items()}, float(avg), source, counts,
                                discrepancy))
    names = [r.model for r in out]
    for name in {n_ for n_ in names if names.count(n_) > 1}:
        problems.add(None, f"model {name!r} appears more than once")
    problems.raise_if_any(str(path))
    return out


def reference_files() -> list[Path]:
    return sorted(REFERENCE_DIR.glob("*.toml"))


def published_rows(paths: list[Path] | None = None) -> list[PublishedRow]:
    """Every shipped published row (or those of `paths`), in file and row order."""
    return [row for p in (paths if paths is not None else reference_files()) for row in load_reference(p)]
