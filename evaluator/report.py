"""``scale-vqa report RUN_DIR…``: models × variants, with the gains that say whether the images were used.

* *image gain* — all scales minus no images (``scale_vqa`` − ``scale_vqa_blind``);
* *cross-scale gain* — all scales minus the best single scale (``scale_vqa`` − best ``scale_vqa_single_*``);
* *shuffle drop* — all scales minus another region's images.

Each is a difference of macro accuracy (the headline) over the items both runs answered, with a 95 % paired
bootstrap interval (items resampled jointly within their dimension). Scores come from the run folders'
predictions through the core scorer, so they equal ``scale-vqa score`` on the same files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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


def read_run(folder: str | Path) -> Run:
    """Score every ``predictions_<group>.jsonl`` of a run folder against its ``key.json``."""
    res = read_result_folder(folder, circular=lambda group: group == group_name("circular"))
    reports = dict(sorted(res.reports.items(), key=lambda kv: group_order(kv[0])))
    return Run(res.folder, res.meta.get("name") or res.folder.name, reports)


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
    """The image gain, cross-scale gain and shuffle drop of a run (those its variants allow)."""
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
    return out


def render(runs: list[Run]) -> str:
    rows = [(f"{run.name} · {group_label(group)}", rep)
            for run in runs for group, rep in run.reports.items()]
    lines = [seed_table(rows), ""]
    for run in runs:
        run_gains = gains(run)
        for g in run_gains:
            lines.append(f"{run.name}: {g.name} (all scales − {g.minus}) {100 * g.diff:+.2f} points, "
                         f"95% CI [{100 * g.lo:+.2f}, {100 * g.hi:+.2f}] over {g.n} items")
        if not run_gains:
            lines.append(f"{run.name}: no ablation variants in this run (add scale_vqa_blind / "
                         "scale_vqa_single_* to --tasks)")
    fmt = [f"{run.name} · {group_label(g)} {pct(r.format_rate)}"
           for run in runs for g, r in run.reports.items() if r.format_rate is not None]
    if fmt:
        lines += ["", "format rate: " + "; ".join(fmt)]
    return "\n".join(lines)
