"""The leak audit: run the panel of text-only adversaries (:mod:`baselines.text_only.panel`) over an MCQ file
and measure how far the text alone gives the answers away.

The panel fits trainable adversaries without leakage (on another file, or grouped k-fold by slide) and re-runs
every adversary on shuffled options. On top of it the audit adds the per-item flags
(:mod:`builders.audit.flags`), the generator-artifact checks (:mod:`builders.audit.artifacts`) and, optionally,
the residual accuracy on the unflagged hard subset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from baselines.answerer import Answerer
from baselines.text_only.filecontext import structure_summary
from baselines.text_only.panel import AdversaryResult, PanelError, grouped_folds, run_adversary, run_panel, slide_groups
from baselines.text_only.registry import AdversarySpec
from builders.audit.artifacts import Check, EditProfile, artifact_checks, edit_profile
from builders.audit.flags import FlagCalibration, calibrate, choice_counts, gold_counts
from scale_vqa.item import Item
from scale_vqa.leakstats import LeakStat, leak_table

AuditError = PanelError
"""The audit cannot run on this input (the panel's :class:`~baselines.text_only.panel.PanelError`)."""


@dataclass
class ResidualRow:
    """Text-only accuracy on a hard subset, measured without circularity."""

    name: str
    method: str
    n: int
    stats: dict[str, LeakStat]


@dataclass
class AuditResult:
    source: str
    items: list[Item]
    adversaries: list[AdversaryResult]
    checks: list[Check]
    profile: EditProfile
    calibration: FlagCalibration
    flags: list[bool]
    gold_counts: list[int]
    seed: int
    folds: int | None
    fit_on: str | None
    residual: list[ResidualRow] = field(default_factory=list)
    residual_n: int = 0
    structure: dict[str, int] = field(default_factory=dict)
    """What the file offers the structure adversaries (:func:`~baselines.text_only.filecontext.structure_summary`)."""

    @property
    def best(self) -> AdversaryResult:
        return max(self.adversaries, key=lambda a: a.stats["all"].accuracy)


def run_audit(items: Sequence[Item], specs: Sequence[AdversarySpec], *, source: str = "",
              fit_items: Sequence[Item] | None = None, fit_name: str | None = None, folds: int = 5,
              seed: int = 0, permutations: int = 2000, target: float = 0.05, shuffle_check: bool = True,
              extra: Sequence[tuple[AdversarySpec, Answerer]] = (), residual: bool = False,
              progress: bool = True, jobs: int = 1, prefetch_embeddings: bool = True) -> AuditResult:
    """Run the panel (`specs`, plus ready-made answerers in `extra`, e.g. LLMs; see
    :func:`~baselines.text_only.panel.run_panel`) and everything derived from it."""
    items = list(items)
    results, fold_idx = run_panel(items, specs, source=source, fit_items=fit_items, fit_name=fit_name, folds=folds,
                                  seed=seed, shuffle_check=shuffle_check, extra=extra, progress=progress, jobs=jobs,
                                  prefetch_embeddings=prefetch_embeddings)
    counts = choice_counts(items, [r.letters for r in results])
    cal, flags = calibrate(items, counts, len(results), target=target, permutations=permutations, seed=seed)
    gold = [int(c) for c in gold_counts(items, counts)]
    audit = AuditResult(source, items, results, artifact_checks(items), edit_profile(items), cal,
                        [bool(f) for f in flags], gold, seed, len(fold_idx) if fold_idx else None, fit_name,
                        structure=structure_summary(items))
    if residual:
        add_residual(audit, specs, permutations=permutations, target=target)
    return audit


def add_residual(audit: AuditResult, specs: Sequence[AdversarySpec], *, permutations: int = 2000,
                 target: float = 0.05) -> None:
    """Text-only accuracy left on the hard subset (the unflagged items), without circularity.

    * ``leave-one-out``: adversary a is scored on the subset selected by the panel *without* a (threshold
      recalibrated), so a never scores an item it helped select;
    * ``refit``: each learned adversary is fitted afresh, grouped by slide, on the hard subset alone and scores
      only held-out slides of it — the position of a user who trains a text-only model on the subset.
    """
    items = audit.items
    keep = [i for i, f in enumerate(audit.flags) if not f]
    audit.residual_n = len(keep)
    rows: list[ResidualRow] = []
    for j, adv in enumerate(audit.adversaries):
        others = [r.letters for k, r in enumerate(audit.adversaries) if k != j]
        if not others:
            continue
        counts = choice_counts(items, others)
        _, flags = calibrate(items, counts, len(others), target=target, permutations=permutations,
                             seed=audit.seed)
        idx = [i for i, f in enumerate(flags) if not f]
        sub = [items[i] for i in idx]
        rows.append(ResidualRow(adv.name, "leave-one-out", len(sub),
                                leak_table(sub, [adv.correct[i] for i in idx]) if sub else {}))
    subset = [items[i] for i in keep]
    by_name = {s.name: s for s in specs}
    if subset and len(set(slide_groups(subset))) >= 2:
        folds = grouped_folds(subset, audit.folds or 5, audit.seed)
        for adv in audit.adversaries:
            spec = by_name.get(adv.name)
            if spec is None or spec.kind != "learned":
                continue
            r = run_adversary(spec, subset, seed=audit.seed, folds=folds, fit_items=None, fit_name=None,
                              shuffled=None)
            rows.append(ResidualRow(adv.name, "refit", len(subset), r.stats))
    audit.residual = rows
