"""The adversary panel: answer an MCQ file with every text-only adversary, fitted without leakage.

Trainable adversaries never score an item they were fitted on: they are fitted on another file (``fit_items``)
or cross-fitted with scikit-learn's ``GroupKFold`` by slide, so no slide's items are in both the training and the
scored fold. Every adversary can also be run on the items with their options shuffled, to separate
content-driven shortcuts from position bias. ``scale-vqa baselines measure`` uses the panel directly; the leak
audit (``builders.audit``) adds the per-item flags on top.
"""

from __future__ import annotations

import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from baselines.answerer import Answer, Answerer
from baselines.text_only.registry import AdversarySpec
from scale_vqa.errors import BadInputError
from scale_vqa.item import Item
from scale_vqa.leakstats import LeakStat, leak_table

SPLITTER = "GroupKFold"
"""The cross-fitting splitter (scikit-learn), recorded in the audit report."""


class PanelError(BadInputError):
    """The panel cannot run on this input (no items, too few slides to cross-fit, …)."""


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
    embedding: dict[str, str | None] | None = None
    """For an adversary that reads sentence embeddings: the encoder's model and the dtype it ran in."""

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "kind": self.kind, "description": self.description, "fit": self.fit,
            "accuracy": {k: v.accuracy for k, v in self.stats.items()},
            "stats": {k: v.to_dict() for k, v in self.stats.items()},
            "shuffled": None if self.shuffled_stats is None else {
                "accuracy": self.shuffled_stats.accuracy, "ci": list(self.shuffled_stats.ci),
                "content_agreement": self.content_agreement},
            "seconds": round(self.seconds, 3),
            **({} if self.embedding is None else {"embedding": self.embedding}),
        }


def slide_groups(items: Sequence[Item]) -> list[str]:
    """Grouping key for cross-fitting: the slide, else the region, else the item."""
    return [it.wsi_name or it.path_id or it.id for it in items]


def grouped_folds(items: Sequence[Item], folds: int, seed: int) -> list[list[int]]:
    """Test-fold item indices from scikit-learn's ``GroupKFold`` over :func:`slide_groups`: whole slides per
    fold, balanced by item count (largest slide first, into the lightest fold).

    Slides with equally many items are taken in a seeded random order. ``GroupKFold`` takes equal-sized groups
    highest label first (a stable sort since scikit-learn 1.9), so each slide's label is its place in that order,
    counted from the end."""
    import numpy as np
    from sklearn.model_selection import GroupKFold

    groups = slide_groups(items)
    order = sorted(set(groups))
    if len(order) < 2:
        raise PanelError(f"cross-fitting needs items from at least 2 slides (found {len(order)}); "
                         "fit the trainable adversaries on another file with --fit-on")
    if folds < 2:
        raise PanelError(f"cross-fitting needs at least 2 folds (got {folds})")
    random.Random(seed).shuffle(order)
    label = {g: len(order) - 1 - i for i, g in enumerate(order)}
    splitter = GroupKFold(n_splits=min(folds, len(order)))
    split = splitter.split(np.zeros((len(items), 1)), groups=np.array([label[g] for g in groups]))
    return [test.tolist() for _, test in split]


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


def _observe(answerer: Answerer, items: Sequence[Item]) -> Answerer:
    """Show a file-reading answerer (one with ``observe``, e.g. the structure adversaries) the whole file it
    works on: questions and options, never answers."""
    observe = getattr(answerer, "observe", None)
    if callable(observe):
        observe(items)
    return answerer


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
        _observe(probe, items)
        answers = list(probe.answer(items))
        if shuffled is not None:
            shuffled_answers = list(probe.answer(shuffled))
    elif fit_items is not None:
        fit_desc = f"fit on {fit_name}"
        _observe(probe, fit_items).fit(fit_items)
        _observe(probe, items)
        answers = list(probe.answer(items))
        if shuffled is not None:
            shuffled_answers = list(probe.answer(shuffled))
    else:
        assert folds is not None
        fit_desc = f"grouped {len(folds)}-fold CV by slide"
        for test in folds:
            test_set = set(test)
            model = _observe(make(seed), items).fit([items[i] for i in range(n) if i not in test_set])
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
    if _needs_embeddings(spec):
        from baselines.text_only.embedding import shared_embedder

        result.embedding = dict((getattr(probe, "embedder", None) or shared_embedder()).settings)
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
    import sklearn.ensemble  # noqa: F401 - load its OpenMP first: a thread limit binds loaded libraries only
    from threadpoolctl import threadpool_limits

    from baselines.text_only.registry import adversary_specs

    with threadpool_limits(1):  # as in the main process: more threads changed results on 1005 items, and spin
        return run_adversary(adversary_specs()[name], items, **kwargs)  # type: ignore[arg-type]


def _needs_embeddings(spec: AdversarySpec) -> bool:
    return "sentence_transformers" in spec.needs


@contextmanager
def _one_thread(on: bool) -> Iterator[None]:
    if not on:
        yield
        return
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        yield
        return

    with threadpool_limits(1):
        yield


def _run_one(spec: AdversarySpec, items: list[Item], kwargs: dict[str, object], bar: object | None) -> AdversaryResult:
    if bar is not None:
        bar.set_postfix_str(spec.name)  # type: ignore[attr-defined]
    result = run_adversary(spec, items, **kwargs)  # type: ignore[arg-type]
    if bar is not None:
        bar.update()  # type: ignore[attr-defined]
    return result


def _run_specs(specs: Sequence[AdversarySpec], items: list[Item], kwargs: dict[str, object], jobs: int,
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
    local = [i for i in range(len(specs)) if i not in remote]
    embed = deque(i for i in local if _needs_embeddings(specs[i]))
    rest = deque(i for i in local if not _needs_embeddings(specs[i]))
    # Adversaries that read embeddings wait until the background encoding is done (see :func:`run_panel`): the
    # rest runs meanwhile, and whatever of it is left runs after them. The models here keep to one thread: that
    # leaves the other core(s) to the encoder, and OpenMP threads that spin on a busy machine made gradient
    # boosting up to 5× slower.
    with _one_thread(True):
        while embed or rest:
            i = embed.popleft() if embed and (not rest or _embeddings_ready()) else rest.popleft()
            results[i] = _run_one(specs[i], items, kwargs, bar)
    return [r for r in results if r is not None]


def _embeddings_ready() -> bool:
    """Whether the shared embedder's vectors can be read without waiting for a background encoding."""
    from baselines.text_only.embedding import shared_embedder

    return shared_embedder().ready


def run_panel(items: Sequence[Item], specs: Sequence[AdversarySpec], *, source: str = "",
              fit_items: Sequence[Item] | None = None, fit_name: str | None = None, folds: int = 5, seed: int = 0,
              shuffle_check: bool = True, extra: Sequence[tuple[AdversarySpec, Answerer]] = (),
              progress: bool = True, jobs: int = 1,
              prefetch_embeddings: bool = True) -> tuple[list[AdversaryResult], list[list[int]] | None]:
    """Every adversary's answers, fitted without leakage (on `fit_items`, else grouped CV by slide), and the
    folds used. `extra` holds ready-made answerers (e.g. LLMs), run as they are.

    Every distinct question and option text is embedded once per run, in one batched call in a worker
    process, while the adversaries that need no embeddings run here; those that do run as soon as it is done
    (whatever of the rest is left runs after them) and read the shared vectors (``prefetch_embeddings=False``:
    encoded here when first needed). With ``jobs > 1`` the
    offline adversaries run in that many worker processes (embedding adversaries and the `extra` answerers
    stay in this process); results are identical to ``jobs=1``.
    Raises :class:`PanelError` when the input cannot be audited."""
    items = list(items)
    if not items:
        raise PanelError(f"{source or 'input'}: no items to audit")
    if fit_items is not None and not fit_items:
        raise PanelError(f"{fit_name}: no items to fit on")
    fold_idx = grouped_folds(items, folds, seed) if fit_items is None and any(
        s.make(seed).trainable for s in specs) else None
    shuffled = [shuffle_options(it, seed) for it in items] if shuffle_check else None
    if prefetch_embeddings and any(_needs_embeddings(s) for s in specs):
        from baselines.text_only.embedding import panel_texts, shared_embedder

        # every distinct text once, in one batch, in a worker process while the other adversaries run
        shared_embedder().prefetch(panel_texts([*items, *(fit_items or ())]))
    bar = _progress(len(specs) + len(extra), "adversaries") if progress else None
    kwargs = {"seed": seed, "folds": fold_idx, "fit_items": fit_items, "fit_name": fit_name, "shuffled": shuffled}
    results = _run_specs(specs, items, kwargs, jobs, bar)
    for spec, answerer in extra:
        results.append(run_adversary(spec, items, seed=seed, folds=None, fit_items=None, fit_name=None,
                                     shuffled=None, make=lambda _s, a=answerer: a))
        if bar is not None:
            bar.update()
    if bar is not None:
        bar.close()
    return results, fold_idx
