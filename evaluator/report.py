"""``scale-vqa report RUN_DIR…``: models × variants, with the gains that say whether the images were used.

* *image gain* — all scales minus no images (``scale_vqa`` − ``scale_vqa_blind``);
* *cross-scale gain* — all scales minus the best single scale (``scale_vqa`` − best ``scale_vqa_single_*``);
* *shuffle drop* — all scales minus another region's images;
* *question gain* — all scales minus images and options without the question (``scale_vqa_no_question``): what
  the question adds over the image + options shortcut;
* *format effect* — for runs of one model in different prompt formats (``run.json``'s ``prompt_format``), each
  variant both ran in one format minus the other (the default ``seed`` first): how much the wording alone moves
  the score.

Each is a difference of macro accuracy (the headline) over the items both runs answered, with a 95 % paired
bootstrap interval (items resampled jointly within their dimension). Scores come from the run folders'
predictions through the core scorer, so they equal ``scale-vqa score`` on the same files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

from scale_vqa.formats import PromptFormat
from scale_vqa.report import pct, seed_table
from scale_vqa.results import read_result_folder
from scale_vqa.scoring import ScoreReport
from scale_vqa.stats import paired_bootstrap_macro
from scale_vqa.variants import group_label, group_name, group_order, group_suffix

SINGLES = tuple(group_name(s) for s in ("single_low", "single_mid", "single_high"))


@dataclass(frozen=True)
class Gain:
    name: str
    minus: str
    diff: float
    lo: float
    hi: float
    n: int


@dataclass
class Run:
    folder: Path
    name: str
    reports: dict[str, ScoreReport]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompt_format(self) -> str | None:
        """``run.json``'s prompt format (None for folders that do not record one)."""
        return self.meta.get("prompt_format")

    @property
    def model(self) -> str:
        """What identifies the model across runs: its weights or API model, else the row name."""
        args = self.meta.get("model_args") or {}
        return str(args.get("pretrained") or args.get("model") or self.name)


def read_run(folder: str | Path) -> Run:
    """Score every ``predictions_<group>.jsonl`` of a run folder against its ``key.json``."""
    res = read_result_folder(folder, circular=lambda group: group == group_name("circular"))
    reports = dict(sorted(res.reports.items(), key=lambda kv: group_order(kv[0])))
    return Run(res.folder, res.meta.get("name") or res.folder.name, reports, res.meta)


def gain(a: ScoreReport, b: ScoreReport, name: str, minus: str, reps: int = 2000) -> Gain:
    """Macro accuracy of `a` minus `b` over their common items, with a paired bootstrap CI."""
    ra = {r.id: r for r in a.results}
    rb = {r.id: r for r in b.results}
    strata: dict[str, tuple[list[bool], list[bool]]] = {}
    for item_id in ra.keys() & rb.keys():
        xs, ys = strata.setdefault(ra[item_id].dimension.value, ([], []))
        xs.append(ra[item_id].correct)
        ys.append(rb[item_id].correct)
    diff, lo, hi = paired_bootstrap_macro(list(strata.values()), reps=reps)
    return Gain(name, minus, diff, lo, hi, sum(len(x) for x, _ in strata.values()))


def gains(run: Run) -> list[Gain]:
    """The image gain, cross-scale gain, shuffle drop and question gain of a run (those its variants allow)."""
    reps = run.reports
    std = reps.get(group_name(""))
    out: list[Gain] = []
    if std is None:
        return out
    if group_name("blind") in reps:
        out.append(gain(std, reps[group_name("blind")], "image gain", "no images"))
    singles = [(g, reps[g]) for g in SINGLES if g in reps]
    if singles:
        best, rep = max(singles, key=lambda kv: kv[1].macro)
        out.append(gain(std, rep, "cross-scale gain", f"best single scale ({group_suffix(best)})"))
    if group_name("shuffled") in reps:
        out.append(gain(std, reps[group_name("shuffled")], "shuffle drop", "another region's images"))
    if group_name("no_question") in reps:
        out.append(gain(std, reps[group_name("no_question")], "question gain", "no question"))
    return out


def _format_rank(fmt: str | None) -> int:
    order = [f.value for f in PromptFormat]
    return order.index(fmt) if fmt in order else len(order)


def format_effects(runs: list[Run], reps: int = 2000) -> list[tuple[str, Gain]]:
    """For every two runs of one model in different prompt formats: per variant both ran, the macro accuracy
    of one format minus the other's (``seed`` first), paired over their common items. Returns (model, gain)."""
    out: list[tuple[str, Gain]] = []
    for a, b in combinations(runs, 2):
        if a.model != b.model or not a.prompt_format or not b.prompt_format or a.prompt_format == b.prompt_format:
            continue
        if _format_rank(b.prompt_format) < _format_rank(a.prompt_format):
            a, b = b, a
        for group in sorted(a.reports.keys() & b.reports.keys(), key=group_order):
            name = f"format effect on {group_label(group)} ({a.prompt_format} − {b.prompt_format})"
            out.append((a.name, gain(a.reports[group], b.reports[group], name, b.prompt_format, reps=reps)))
    return out


def _row_name(run: Run, runs: list[Run]) -> str:
    """The run's name, with its prompt format when the runs compared do not all share one."""
    formats = {r.prompt_format for r in runs}
    return f"{run.name} [{run.prompt_format or 'format not recorded'}]" if len(formats) > 1 else run.name


def render(runs: list[Run]) -> str:
    rows = [(f"{_row_name(run, runs)} · {group_label(group)}", rep)
            for run in runs for group, rep in run.reports.items()]
    lines = [seed_table(rows), ""]
    for run in runs:
        run_gains = gains(run)
        name = _row_name(run, runs)
        for g in run_gains:
            lines.append(f"{name}: {g.name} (all scales − {g.minus}) {100 * g.diff:+.2f} points, "
                         f"95% CI [{100 * g.lo:+.2f}, {100 * g.hi:+.2f}] over {g.n} items")
        if not run_gains:
            lines.append(f"{name}: no ablation variants in this run (add scale_vqa_blind / "
                         "scale_vqa_single_* / scale_vqa_no_question to --tasks)")
    effects = format_effects(runs)
    if effects:
        lines.append("")
    for model, g in effects:
        lines.append(f"{model}: {g.name} {100 * g.diff:+.2f} points, "
                     f"95% CI [{100 * g.lo:+.2f}, {100 * g.hi:+.2f}] over {g.n} items (paired)")
    fmt = [f"{_row_name(run, runs)} · {group_label(g)} {pct(r.format_rate)}"
           for run in runs for g, r in run.reports.items() if r.format_rate is not None]
    if fmt:
        lines += ["", "format rate: " + "; ".join(fmt)]
    return "\n".join(lines)
