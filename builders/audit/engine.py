"""The leak audit: run a panel of text-only adversaries over an MCQ file and measure how far the text alone
gives the answers away.

Trainable adversaries never score an item they were fitted on: they are fitted on another file (``fit_on``)
or cross-fitted with grouped k-fold by slide, so no slide's items are in both the training and the scored
fold. Every adversary is also run on the items with their options shuffled, to separate content-driven
shortcuts from position bias. See :mod:`builders.audit.flags` for the per-item flags and :mod:`builders.audit.artifacts`
for the generator-artifact checks.
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from baselines.answerer import Answer, Answerer
from baselines.text_only.registry import AdversarySpec
from builders.audit.artifacts import Check, EditProfile, artifact_checks, edit_profile
from builders.audit.flags import FlagCalibration, calibrate, choice_counts, gold_counts
from scale_vqa.item import Item
from scale_vqa.leakstats import LeakStat, leak_table


class AuditError(ValueError):
    """The audit cannot run on this input (too few slides to cross-fit, empty file, …)."""


@dataclass
class AdversaryResult:
    name: str
    kind: str
    description: str
    fit: str
    """How it was fitted: ``none``, ``grouped {k}-fold CV by slide`` or ``fit on FILE``."""
    letters: list[str | None]
    correct: list[bool]
    stats: dict[str, LeakStat]
    shuffled_stats: LeakStat | None = None
    content_agreement: float | None = None
    """Share of items where the shuffled run chose the same option *text* as the original run."""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": self.kind, "description": self.description, "fit": self.fit,
            "accuracy": {k: v.accuracy for k, v in self.stats.items()},
            "stats": {k: v.to_dict() for k, v in self.stats.items()},
            "shuffled": None if self.shuffled_stats is None else {
                "accuracy": self.shuffled_stats.accuracy, "ci": list(self.shuffled_stats.ci),
                "content_agreement": self.content_agreement},
            "seconds": round(self.seconds, 3),
        }


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

    @property
    def best(self) -> AdversaryResult:
        return max(self.adversaries, key=lambda a: a.stats["all"].accuracy)


def slide_groups(items: Sequence[Item]) -> list[str]:
    """Grouping key for cross-fitting: the slide, else the region, else the item."""
    return [it.wsi_name or it.path_id or it.id for it in items]


def grouped_folds(items: Sequence[Item], folds: int, seed: int) -> list[list[int]]:
    """Test-fold item indices, whole slides per fold, balanced by item count (largest slides first)."""
    groups: dict[str, list[int]] = {}
    for i, g in enumerate(slide_groups(items)):
        groups.setdefault(g, []).append(i)
    if len(groups) < 2:
        raise AuditError(f"cross-fitting needs items from at least 2 slides (found {len(groups)}); "
                         "fit the trainable adversaries on another file with --fit-on")
    k = min(folds, len(groups))
    rng = random.Random(seed)
    keys = sorted(groups)
    rng.shuffle(keys)
    keys.sort(key=lambda g: -len(groups[g]))
    out: list[list[int]] = [[] for _ in range(k)]
    for g in keys:
        min(out, key=len).extend(groups[g])
    return [sorted(f) for f in out]


def shuffle_options(item: Item, seed: int) -> Item:
    """The item with its options in a seeded random order (the gold letter moves with its text)."""
    rng = random.Random(f"{seed}:{item.id}")
    order = list(range(item.n_options))
    while item.n_options > 1 and order == list(range(item.n_options)):
        rng.shuffle(order)
    options = tuple(item.options[i] for i in order)
    gold = order.index(item.letters.index(item.answer))
    return item.with_(options=options, answer=item.letters[gold])


def _chosen_text(item: Item, letter: str | None) -> str | None:
    return item.options[item.letters.index(letter)] if letter and letter in item.letters else None


def run_adversary(spec: AdversarySpec, items: Sequence[Item], *, seed: int, folds: list[list[int]] | None,
                  fit_items: Sequence[Item] | None, fit_name: str | None, shuffled: Sequence[Item] | None,
                  make: Callable[[int], Answerer] | None = None) -> AdversaryResult:
    """Answer `items` (and their `shuffled` copies) with one adversary, fitting it without leakage."""
    t0 = time.perf_counter()
    make = make or spec.make
    probe = make(seed)
    n = len(items)
    answers: list[Answer | None] = [None] * n
    shuffled_answers: list[Answer | None] = [None] * n
    if not probe.trainable:
        fit_desc = "none"
        answers = list(probe.answer(items))
        if shuffled is not None:
            shuffled_answers = list(probe.answer(shuffled))
    elif fit_items is not None:
        fit_desc = f"fit on {fit_name}"
        probe.fit(fit_items)
        answers = list(probe.answer(items))
        if shuffled is not None:
            shuffled_answers = list(probe.answer(shuffled))
    else:
        assert folds is not None
        fit_desc = f"grouped {len(folds)}-fold CV by slide"
        for test in folds:
            test_set = set(test)
            model = make(seed).fit([items[i] for i in range(n) if i not in test_set])
            for i, a in zip(test, model.answer([items[i] for i in test]), strict=True):
                answers[i] = a
            if shuffled is not None:
                for i, a in zip(test, model.answer([shuffled[i] for i in test]), strict=True):
                    shuffled_answers[i] = a
    letters = [a.letter if a else None for a in answers]
    correct = [letter == it.answer for letter, it in zip(letters, items, strict=True)]
    result = AdversaryResult(spec.name, spec.kind, spec.description, fit_desc, letters, correct,
                             leak_table(items, correct))
    if shuffled is not None:
        s_letters = [a.letter if a else None for a in shuffled_answers]
        s_correct = [letter == it.answer for letter, it in zip(s_letters, shuffled, strict=True)]
        result.shuffled_stats = leak_table(shuffled, s_correct)["all"]
        same = sum(_chosen_text(a, x) == _chosen_text(b, y) and _chosen_text(a, x) is not None
                   for a, x, b, y in zip(items, letters, shuffled, s_letters, strict=True))
        result.content_agreement = same / n if n else 0.0
    result.seconds = time.perf_counter() - t0
    return result


def _progress(total: int, desc: str):
    try:
        from tqdm.auto import tqdm
    except ImportError:  # pragma: no cover - tqdm is in the audit extra
        return None
    return tqdm(total=total, desc=desc, unit="adversary", leave=False)


def _pool_init() -> None:
    """One thread per worker: the workers already use every core (OpenMP in gradient boosting would
    oversubscribe)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _pool_run(name: str, items: list[Item], kwargs: dict[str, object]) -> AdversaryResult:
    from baselines.text_only.registry import adversary_specs

    return run_adversary(adversary_specs()[name], items, **kwargs)  # type: ignore[arg-type]


def _run_panel(specs: Sequence[AdversarySpec], items: list[Item], kwargs: dict[str, object], jobs: int,
               bar: object | None) -> list[AdversaryResult]:
    """Run adversaries; registry adversaries without torch go to `jobs` worker processes (forkserver: forking
    a process that already ran OpenMP code — gradient boosting — can deadlock the child)."""
    from baselines.text_only.registry import adversary_specs

    results: list[AdversaryResult | None] = [None] * len(specs)
    registry = adversary_specs()
    main_file = getattr(sys.modules["__main__"], "__file__", None)
    if main_file and not Path(main_file).is_file():  # e.g. `python - <<EOF`: workers cannot re-import __main__
        jobs = 1
    remote = [i for i, s in enumerate(specs) if not s.needs and s.name in registry] if jobs > 1 else []
    if len(remote) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        order = sorted(remote, key=lambda i: specs[i].kind != "learned")  # slowest first
        ctx = multiprocessing.get_context("forkserver")
        with ProcessPoolExecutor(min(jobs, len(remote)), mp_context=ctx, initializer=_pool_init) as pool:
            futures = {pool.submit(_pool_run, specs[i].name, items, kwargs): i for i in order}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if bar is not None:
                    bar.update()  # type: ignore[attr-defined]
    else:
        remote = []
    for i in range(len(specs)):
        if i in remote:
            continue
        if bar is not None:
            bar.set_postfix_str(specs[i].name)  # type: ignore[attr-defined]
        results[i] = run_adversary(specs[i], items, **kwargs)  # type: ignore[arg-type]
        if bar is not None:
            bar.update()  # type: ignore[attr-defined]
    return [r for r in results if r is not None]


def run_panel(items: Sequence[Item], specs: Sequence[AdversarySpec], *, source: str = "",
              fit_items: Sequence[Item] | None = None, fit_name: str | None = None, folds: int = 5, seed: int = 0,
              shuffle_check: bool = True, extra: Sequence[tuple[AdversarySpec, Answerer]] = (),
              progress: bool = True, jobs: int = 1) -> tuple[list[AdversaryResult], list[list[int]] | None]:
    """Every adversary's answers, fitted without leakage (on `fit_items`, else grouped CV by slide), and the
    folds used: the audit without the flags (``scale-vqa baselines measure`` uses it directly)."""
    items = list(items)
    if not items:
        raise AuditError(f"{source or 'input'}: no items to audit")
    if fit_items is not None and not fit_items:
        raise AuditError(f"{fit_name}: no items to fit on")
    fold_idx = grouped_folds(items, folds, seed) if fit_items is None and any(
        s.make(seed).trainable for s in specs) else None
    shuffled = [shuffle_options(it, seed) for it in items] if shuffle_check else None
    bar = _progress(len(specs) + len(extra), "adversaries") if progress else None
    kwargs = {"seed": seed, "folds": fold_idx, "fit_items": fit_items, "fit_name": fit_name, "shuffled": shuffled}
    results = _run_panel(specs, items, kwargs, jobs, bar)
    for spec, answerer in extra:
        results.append(run_adversary(spec, items, seed=seed, folds=None, fit_items=None, fit_name=None,
                                     shuffled=None, make=lambda _s, a=answerer: a))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return results, fold_idx


def run_audit(items: Sequence[Item], specs: Sequence[AdversarySpec], *, source: str = "",
              fit_items: Sequence[Item] | None = None, fit_name: str | None = None, folds: int = 5,
              seed: int = 0, permutations: int = 2000, target: float = 0.05, shuffle_check: bool = True,
              extra: Sequence[tuple[AdversarySpec, Answerer]] = (), residual: bool = False,
              progress: bool = True, jobs: int = 1) -> AuditResult:
    """Run the panel (`specs`, plus ready-made answerers in `extra`, e.g. LLMs) and everything derived.

    With ``jobs > 1`` the offline adversaries run in that many worker processes (embedding adversaries, which
    hold a torch model, and the `extra` answerers stay in this process); results are identical to ``jobs=1``."""
    items = list(items)
    results, fold_idx = run_panel(items, specs, source=source, fit_items=fit_items, fit_name=fit_name, folds=folds,
                                  seed=seed, shuffle_check=shuffle_check, extra=extra, progress=progress, jobs=jobs)
    counts = choice_counts(items, [r.letters for r in results])
    cal, flags = calibrate(items, counts, len(results), target=target, permutations=permutations, seed=seed)
    gold = [int(c) for c in gold_counts(items, counts)]
    audit = AuditResult(source, items, results, artifact_checks(items), edit_profile(items), cal,
                        [bool(f) for f in flags], gold, seed, len(fold_idx) if fold_idx else None, fit_name)
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
