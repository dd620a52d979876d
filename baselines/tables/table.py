"""The baselines table: published rows (papers' numbers) beside rows measured here, per dimension with 95 % CIs.

Measured rows come from result folders that hold ``key.json`` and ``predictions_<name>.jsonl`` files, scored by
the core scorer, so a number here equals ``scale-vqa score`` on the same files:

* run folders of ``scale-vqa eval`` / ``scale-vqa baselines run`` — one row per variant (all scales, blind,
  single scale, shuffled, circular, hard, matched and matched blind: the ``matched`` config of
  ``scale-vqa curate``);
* folders of ``scale-vqa baselines measure`` — random, majority letter and every text-only adversary.

A "random (expected)" row gives what a uniform guesser scores on the same items, with the exact central 95 %
range of its accuracy. Published and measured rows are never mixed: they sit in separate sections, each
measured section named by its split.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baselines.tables.reference import PublishedRow
from scale_vqa.atomic import atomic_dir, atomic_write_bytes, atomic_write_text
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.item import Item
from scale_vqa.markdown import markdown_table
from scale_vqa.release import canonical_split
from scale_vqa.results import read_result_folder
from scale_vqa.scoring import ScoreReport
from scale_vqa.stats import Z95, chance_range
from scale_vqa.variants import LABELS, group_label, group_name, group_order


@dataclass(frozen=True)
class Cell:
    """An accuracy (fraction) with its 95 % interval and item count."""

    acc: float
    lo: float
    hi: float
    n: int


@dataclass(frozen=True)
class Row:
    name: str
    source: str
    """``published`` (a paper's number) or ``measured`` (scored here)."""
    kind: str
    """``model``, ``text-only``, ``chance`` or ``published``."""
    variant: str
    split: str
    dims: dict[Dimension, Cell]
    avg: Cell
    """Macro over dimensions (the seed's AVG)."""
    provenance: str
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def cell(c: Cell) -> dict[str, Any]:
            return {"acc": c.acc, "ci95": [c.lo, c.hi], "n": c.n}

        return {"name": self.name, "source": self.source, "kind": self.kind, "variant": self.variant,
                "split": self.split, "dimensions": {d.value: cell(c) for d, c in self.dims.items()},
                "avg": cell(self.avg), "provenance": self.provenance, "note": self.note, **self.extra}


def published_row(p: PublishedRow) -> Row:
    dims = {d: Cell(round(p.scores[d] / 100, 6), *p.ci(d), p.n) for d in DIMENSIONS}
    src = p.source
    return Row(p.model, "published", "published", "", src.split, dims,
               Cell(round(p.avg / 100, 6), *p.avg_ci, p.n * len(DIMENSIONS)), f"{src.short}; {src.table}; {src.url}",
               p.discrepancy, {"citation": src.citation})


def report_row(name: str, rep: ScoreReport, *, kind: str, variant: str, split: str, provenance: str,
               note: str = "", extra: dict[str, Any] | None = None) -> Row:
    dims = {}
    for d, s in rep.per_dimension.items():
        a = s.accuracy
        dims[d] = Cell(a.value, a.ci[0], a.ci[1], a.n)
    return Row(name, "measured", kind, variant, split, dims, Cell(rep.macro, *rep.macro_ci, len(rep.results)),
               provenance, note, extra or {})


def chance_row(items: Sequence[Item], split: str, provenance: str = "") -> Row:
    """A uniform random guesser on `items`: expected accuracy and the exact central 95 % range (per dimension
    from the Poisson-binomial; AVG by the normal approximation of the mean of five independent dimensions)."""
    dims, var = {}, 0.0
    for d in DIMENSIONS:
        probs = [1 / it.n_options for it in items if it.dimension is d]
        if not probs:
            continue
        dims[d] = Cell(*chance_range(probs), len(probs))
        var += sum(p * (1 - p) for p in probs) / len(probs) ** 2
    mean = sum(c.acc for c in dims.values()) / len(dims) if dims else 0.0
    half = Z95 * math.sqrt(var) / len(dims) if dims else 0.0
    return Row("random (expected)", "measured", "chance", "", split, dims,
               Cell(mean, max(0.0, mean - half), min(1.0, mean + half), len(items)),
               provenance or "exact: 1/options per item", "interval: where 95 % of random guessers land")


def folder_rows(folder: str | Path, *, with_chance: bool = False) -> list[Row]:
    """Rows of a result folder (a ``scale-vqa eval`` run, or ``scale-vqa baselines measure`` output)."""
    res = read_result_folder(folder, circular=lambda group: group == group_name("circular"))
    meta, key = res.meta, res.key
    split = canonical_split(str(meta.get("split") or (key[0].split if key else "")))
    described = meta.get("rows") or {}

    def order(group: str) -> tuple[int, str]:
        return (list(described).index(group) if group in described else group_order(group)), group

    rows = [chance_row(key, split, f"{res.folder}/key.json")] if with_chance else []
    for group in sorted(res.reports, key=order):
        rep, provenance = res.reports[group], f"{res.folder}/predictions_{group}.jsonl"
        if group in described:  # a measure folder: described rows
            info = described[group]
            rows.append(report_row(info.get("name", group), rep, kind=info.get("kind", "text-only"), variant="",
                                   split=split, provenance=provenance, note=info.get("fit", ""),
                                   extra={k: info[k] for k in ("description",) if k in info}))
        else:
            rows.append(report_row(str(meta.get("name") or res.folder.name), rep, kind="model",
                                   variant=group_label(group), split=split,
                                   provenance=provenance, note=_run_note(meta),
                                   extra={"model_args": meta.get("model_args", {})}))
    return rows


def _run_note(meta: dict[str, Any]) -> str:
    bits = [f"{meta['backend']} backend" if meta.get("backend") else "",
            f"limit {meta['limit']}" if meta.get("limit") else ""]
    return ", ".join(b for b in bits if b)


def _pct(x: float, digits: int = 1) -> str:
    return "–" if x != x else f"{100 * x:.{digits}f}"


def _cell(c: Cell | None, cis: bool) -> str:
    """Accuracy at 2 dp (the seed's precision), its interval at 1 dp."""
    if c is None:
        return "–"
    return f"{_pct(c.acc, 2)} [{_pct(c.lo)}–{_pct(c.hi)}]" if cis else _pct(c.acc, 2)


def _label(r: Row) -> str:
    return r.name + (f" ({r.variant})" if r.variant else "")


def sections(rows: Iterable[Row]) -> list[tuple[str, list[Row]]]:
    """Published rows first (one section per source split), then measured rows per split."""
    out: dict[tuple[int, str], list[Row]] = {}
    for r in rows:
        out.setdefault((0 if r.source == "published" else 1, r.split), []).append(r)
    titles = []
    for (src, split), rs in sorted(out.items()):
        what = "Published (papers' numbers, CIs from the implied counts)" if src == 0 else "Measured here"
        titles.append((f"{what} — {split or 'unknown'} split", rs))
    return titles


def render(rows: Sequence[Row], *, cis: bool = True) -> str:
    """Markdown: one table per section; per dimension accuracy % [95 % CI], AVG, n and provenance notes."""
    header = ["Model", *(d.short for d in DIMENSIONS), "**AVG**", "n"]
    blocks = []
    for title, rs in sections(rows):
        notes, table = [], []
        for r in rs:
            cells = [_cell(r.dims.get(d), cis) for d in DIMENSIONS]
            mark = f" [{len(notes) + 1}]" if r.note and r.kind == "published" else ""
            if mark:
                notes.append(r.note)
            table.append([_label(r) + mark, *cells, f"**{_cell(r.avg, cis)}**", str(r.avg.n)])
        lines = [f"### {title}", "", markdown_table(header, table, "l" + "c" * (len(header) - 1))]
        srcs = sorted({r.provenance for r in rs if r.source == "published"})
        if srcs:
            lines += ["", *(f"Source: {s}" for s in srcs)]
        if notes:
            lines += ["", *(f"[{i}] {n}" for i, n in enumerate(notes, 1))]
        fits = sorted({r.note for r in rs if r.kind == "text-only" and r.note and r.note != "none"})
        if fits:
            lines += ["", "Text-only rows see no image; trainable ones are scored out of sample: " + "; ".join(fits)
                      + ". Chance rows: a uniform guesser."]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def plot(rows: Sequence[Row], path: str | Path) -> Path:
    """A dot plot: one line per row, AVG with its 95 % CI as a bar, each dimension as a marker; published rows
    hatched; the 25 % chance line dashed. Needs matplotlib (the audit/app extras)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = [r for _, rs in sections(rows) for r in rs]
    fig, ax = plt.subplots(figsize=(9, 0.42 * len(ordered) + 1.6))
    ys = list(range(len(ordered)))[::-1]
    markers = "osD^v"
    for y, r in zip(ys, ordered, strict=True):
        published = r.source == "published"
        ax.barh(y, 100 * r.avg.acc, height=0.6, color="#cccccc" if published else "#8fb3d9",
                hatch="//" if published else None, edgecolor="#666666")
        ax.errorbar(100 * r.avg.acc, y, xerr=[[100 * (r.avg.acc - r.avg.lo)], [100 * (r.avg.hi - r.avg.acc)]],
                    color="black", capsize=3, lw=1)
        for (d, c), m in zip(((d, r.dims.get(d)) for d in DIMENSIONS), markers, strict=True):
            if c is not None:
                ax.plot(100 * c.acc, y, m, ms=4, color="C" + str(DIMENSIONS.index(d)),
                        label=d.short if y == ys[0] else None)
    ax.axvline(25, ls="--", color="grey", lw=1)
    ax.set_yticks(ys, [f"{_label(r)} [{r.source}, {r.split}]" for r in ordered], fontsize=8)
    ax.set_xlim(0, 100)
    ax.set_xlabel("accuracy, % (bar: AVG with 95 % CI; markers: dimensions; dashed: chance)")
    ax.legend(loc="lower right", fontsize=7, ncols=5)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=120)
    plt.close(fig)
    atomic_write_bytes(path, png.getvalue())
    return Path(path)


def leaderboard_seed_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """The rows the leaderboard shows beside submissions (``leaderboard_app`` reads this list)."""
    out = []
    for r in rows:
        if r.kind == "model" and r.variant not in (LABELS[""], LABELS["blind"], LABELS["matched"],
                                                   LABELS["matched_blind"]):
            continue  # image ablations stay in the baselines report; the board shows rows, blind and matched runs
        d = r.to_dict()
        d.pop("model_args", None)
        d["name"] = _label(r)
        out.append(d)
    return out


ROW_LABELS = {"random": "random (seeded draw)", "position_prior": "majority letter"}
"""Adversary name → row label in measure folders (other adversaries: ``text-only: NAME``)."""


def write_measured(out: str | Path, items: Sequence[Item], results: Sequence[Any], meta: dict[str, Any]) -> Path:
    """Write a measure folder (atomically): ``key.json``, ``predictions_<adversary>.jsonl`` per answerer, and
    ``run.json`` describing each row. `results` are the audit's per-adversary results (name, kind, description,
    fit, letters)."""
    from scale_vqa.predictions import Prediction, write_predictions
    from scale_vqa.release import write_release

    with atomic_dir(out) as tmp:
        write_release(items, tmp / "key.json")
        described = {}
        for r in results:
            write_predictions({it.id: Prediction(letter) for it, letter in zip(items, r.letters, strict=True)},
                              tmp / f"predictions_{r.name}.jsonl")
            kind = {"heuristic": "text-only", "learned": "text-only", "embedding": "text-only"}.get(r.kind, r.kind)
            if r.name == "random":
                kind = "chance"
            label = ROW_LABELS.get(r.name, f"text-only: {r.name}")
            described[r.name] = {"name": label, "kind": kind, "description": r.description, "fit": r.fit}
        atomic_write_text(tmp / "run.json", json.dumps({**meta, "rows": described}, indent=2) + "\n")
    return Path(out)
