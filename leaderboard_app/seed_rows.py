"""Seed rows: reference rows the leaderboard shows beside submissions, never ranked with them — papers' published
numbers (marked ``published``) and baselines measured by us (``baseline``: chance, text-only, a seed model's run).

They come from a JSON list written by ``scale-vqa baselines table --export-leaderboard FILE``; the package ships
``seed_rows.json`` (the seed paper's published rows), and ``scale-vqa leaderboard --seed-rows FILE`` replaces it.
Only rows of the answer key's split are shown.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.problems import InputError, Problem, ValidationReport

SEED_ROWS_FILE = Path(__file__).with_name("seed_rows.json")
SOURCES = {"published": "published", "measured": "baseline"}
"""Seed row ``source`` → the Source column: a paper's number, or a baseline measured by Scale-VQA."""


@dataclass(frozen=True)
class SeedRow:
    name: str
    source: str
    """``published`` or ``baseline``."""
    split: str
    avg: float
    avg_ci: tuple[float, float] | None
    dims: tuple[float, ...]
    dim_cis: tuple[tuple[float, float], ...] | None
    provenance: str
    link: str


def _link(provenance: str) -> str:
    return next((part.strip() for part in provenance.split(";") if part.strip().startswith("http")), "")


def load_seed_rows(path: str | Path = SEED_ROWS_FILE) -> list[SeedRow]:
    """Read and check a seed-rows file; every problem is reported with the file, row index and field."""
    path = Path(path)
    report = ValidationReport()

    def bad(index: int | None, field: str | None, message: str) -> None:
        report.add(Problem(str(path), message, "error", None, index, field))

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        report.add(Problem(str(path), f"not valid JSON: {exc.msg}", "error", exc.lineno))
        raise InputError(report, str(path)) from None
    if not isinstance(data, list):
        bad(None, None, "must be a JSON list of rows (scale-vqa baselines table --export-leaderboard)")
        raise InputError(report, str(path))
    out = []
    for i, row in enumerate(data):
        if not isinstance(row, dict):
            bad(i, None, "must be an object")
            continue
        name, source, split = row.get("name"), row.get("source"), row.get("split")
        for field, value in (("name", name), ("split", split)):
            if not isinstance(value, str) or not value:
                bad(i, field, "must be a non-empty string")
        if source not in SOURCES:
            bad(i, "source", f"must be one of {', '.join(SOURCES)}, got {source!r}")
        dims = row.get("dimensions")
        if not isinstance(dims, dict) or set(dims) != {d.value for d in DIMENSIONS}:
            bad(i, "dimensions", "must give every dimension: " + ", ".join(d.value for d in DIMENSIONS))
            continue
        cells = [dims[d.value] for d in DIMENSIONS] + [row.get("avg")]
        ok = True
        for d, cell in zip([*(f"dimensions.{d.value}" for d in DIMENSIONS), "avg"], cells, strict=True):
            acc = cell.get("acc") if isinstance(cell, dict) else None
            ci = cell.get("ci95") if isinstance(cell, dict) else None
            if not isinstance(acc, int | float) or not 0 <= acc <= 1:
                bad(i, d + ".acc", f"must be a fraction in [0, 1], got {acc!r}")
                ok = False
            if ci is not None and not (isinstance(ci, list) and len(ci) == 2 and ci[0] <= ci[1]):
                bad(i, d + ".ci95", f"must be [low, high], got {ci!r}")
                ok = False
        if not ok or not report.ok:
            continue
        cis = [tuple(c["ci95"]) if c.get("ci95") else None for c in cells]
        out.append(SeedRow(name, SOURCES[source], split, float(cells[-1]["acc"]), cis[-1],  # type: ignore[arg-type]
                           tuple(float(c["acc"]) for c in cells[:-1]),
                           None if any(c is None for c in cis[:-1]) else tuple(cis[:-1]),  # type: ignore[arg-type]
                           str(row.get("provenance", "")), _link(str(row.get("provenance", "")))))
    if not report.ok:
        raise InputError(report, str(path))
    return out

