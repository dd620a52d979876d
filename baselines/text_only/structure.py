"""Adversaries that attack the structure a construction gives a whole file, not one item: option texts that
recur across items, items that share one option set (solved jointly), and how well each option matches its
own question, lexically and by embedding; plus learned scorers over all of these.

They are regular panel members, so every audit runs them. On a file whose items each have their own option
set (the released splits) joint solving has nothing to share and answers each item alone, and frequencies that
never vary leave the frequency rule to its seeded random tie-break: chance.

Each reads a :class:`~baselines.text_only.filecontext.FileContext` of the whole audited file (questions and
options, never answers). The panel hands it the file with :meth:`FileAnswerer.observe` before a cross-fitted
copy is fitted on some slides and scores the others; a trainable one learns only from its training items'
answers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from baselines.answerer import Answer, Answerer, AnswererError, argmax_by_text, argmax_letter, tie_break_rng
from baselines.text_only.features import gold_vector, group_offsets, within_item
from baselines.text_only.filecontext import FileContext, file_context, normalise
from baselines.text_only.learned import dense_features, fit_pointwise
from baselines.text_only.matching import LEXICAL
from scale_vqa.item import Item


class FileAnswerer(Answerer):
    """An answerer that reads the :class:`FileContext` of the file it audits.

    :meth:`observe` sets the file (the panel calls it with the whole audited file before fitting a fold's
    copy); otherwise the context is that of the items being fitted or answered."""

    def __init__(self, seed: int = 0, embedder: object | None = None) -> None:
        self.seed = seed
        self.embedder = embedder
        self.context: FileContext | None = None

    def observe(self, items: Sequence[Item]) -> FileAnswerer:
        """Read the label-free facts of the whole file `items` (questions and options, never answers)."""
        self.context = file_context(items, self.embedder)
        return self

    def context_for(self, items: Sequence[Item]) -> FileContext:
        if self.context is not None and self.context.covers(items):
            return self.context
        return file_context(items, self.embedder)

    def _answer(self, item: Item, scores: Sequence[float], choice: int | None = None) -> Answer:
        if choice is None:
            letter = argmax_letter(scores, item.letters, tie_break_rng(self.seed, self.name, item.id))
        else:
            letter = item.letters[choice]
        return Answer(letter, tuple(float(s) for s in scores))


# ---- option-text frequency ---------------------------------------------------------------------------------


class OptionFrequency(FileAnswerer):
    """The option whose text recurs most (or least) often as an option across the file. The direction is
    learned per dimension on the training items (the one that would have found more golds there)."""

    name = "option_frequency"
    description = ("the option whose text recurs most (or least: direction learned per dimension) as an option "
                   "across the file")
    trainable = True

    def __init__(self, seed: int = 0, embedder: object | None = None) -> None:
        super().__init__(seed, embedder)
        self.direction: dict[str, float] = {}

    def fit(self, items: Sequence[Item]) -> Answerer:
        ctx = self.context_for(items)
        hits: Counter[tuple[str, str]] = Counter()
        for it in items:
            f = ctx.frequencies(it)
            g = f[it.letters.index(it.answer)]
            for side, best in (("most", max(f)), ("least", min(f))):
                if max(f) > min(f) and g == best and f.count(best) == 1:
                    hits[it.dimension.value, side] += 1
                    hits["*", side] += 1

        def sign(key: str) -> float:
            return -1.0 if hits[key, "least"] > hits[key, "most"] else 1.0

        self.direction = {key: sign(key) for key in {k for k, _ in hits} | {"*"}}
        return self

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        ctx = self.context_for(items)
        out = []
        for it in items:
            d = self.direction.get(it.dimension.value, self.direction.get("*", 1.0))
            scores = [d * f for f in ctx.frequencies(it)]
            out.append(self._answer(it, scores, argmax_by_text(scores, [normalise(o) for o in it.options],
                                                               self.seed, self.name)))
        return out


# ---- question–option matching, per item and joint ----------------------------------------------------------

MEASURE_WORDS = {
    "tfidf": "TF-IDF cosine, word and character n-grams",
    "bm25": "BM25, options as documents",
    "emb": "MiniLM embedding cosine",
}


class QuestionMatch(FileAnswerer):
    """The option that matches its question best under one measure, each item on its own."""

    def __init__(self, measure: str, seed: int = 0, embedder: object | None = None) -> None:
        super().__init__(seed, embedder)
        self.measure = measure
        self.name = f"qo_{measure}"
        self.description = f"the option closest to its question ({MEASURE_WORDS[measure]})"

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        ctx = self.context_for(items)
        return [self._answer(it, ctx.item_scores(it, self.measure)) for it in items]


class JointMatch(FileAnswerer):
    """Items that share one option set are solved together: their questions are matched to the set's texts by
    maximum total question–option score, each text at most once (⌈items / texts⌉ times when more items than
    texts share a set). Items in no such group are answered on their own (as :class:`QuestionMatch`)."""

    def __init__(self, measure: str, seed: int = 0, embedder: object | None = None) -> None:
        super().__init__(seed, embedder)
        self.measure = measure
        self.name = f"joint_{measure}"
        self.description = (f"items sharing one option set solved together: questions matched one-to-one to the "
                            f"set's texts ({MEASURE_WORDS[measure]}); other items on their own")

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        ctx = self.context_for(items)
        joint = ctx.joint(self.measure, self.seed)
        out = []
        for it in items:
            text = joint[ctx.position(it)]
            opts = [normalise(o) for o in it.options]
            out.append(self._answer(it, ctx.item_scores(it, self.measure),
                                    None if text is None else opts.index(text)))
        return out


# ---- learned over every structure feature -------------------------------------------------------------------


@dataclass(frozen=True)
class MatchSpec:
    name: str
    model: str
    """``lr`` (logistic regression) or ``gbm`` (histogram gradient boosting)."""
    embedding: bool = False

    @property
    def measures(self) -> tuple[str, ...]:
        return (*LEXICAL, "emb") if self.embedding else LEXICAL

    @property
    def description(self) -> str:
        model = {"lr": "logistic regression", "gbm": "gradient boosting"}[self.model]
        emb = ", embedding" if self.embedding else ""
        return (f"{model} on question–option match (TF-IDF, BM25{emb}; per item, per shared option set and "
                f"jointly assigned), option-text frequency and the dense option features; shared sets then "
                f"solved jointly")


MATCH_LEARNED = (MatchSpec("lr_match", "lr"), MatchSpec("gbm_match", "gbm"))
MATCH_LEARNED_EMB = (MatchSpec("gbm_match+emb", "gbm", embedding=True),)

JOINT_FOR_FEATURES = {"tfidf_word": "tfidf", "tfidf_char": "tfidf", "bm25": "bm25", "emb": "emb"}


def structure_features(ctx: FileContext, items: Sequence[Item], measures: Sequence[str], seed: int) -> np.ndarray:
    """One row per (item, option): for each measure the raw question–option score and its standing among the
    questions sharing the option set (both also normalised within the item), the option's log frequency in the
    file (likewise), whether each joint assignment gives it to this question, and the item's group size.

    Each item's rows depend on the file and the item alone, so they are built once per context and reused
    (every fold and every adversary that reads the same measures)."""
    joints = list(dict.fromkeys(JOINT_FOR_FEATURES[m] for m in measures))
    memo: dict[int, tuple[Item, np.ndarray]] = ctx.memo.setdefault(("structure_features", tuple(measures), seed),
                                                                  {})  # type: ignore[assignment]
    blocks = []
    for it in items:
        hit = memo.get(id(it))
        if hit is None or hit[0] is not it:  # the memo holds the item, so its id is not reused meanwhile
            hit = memo[id(it)] = (it, _item_structure_features(ctx, it, measures, joints, seed))
        blocks.append(hit[1])
    return np.vstack(blocks)


def _item_structure_features(ctx: FileContext, it: Item, measures: Sequence[str], joints: Sequence[str],
                             seed: int) -> np.ndarray:
    cols = [ctx.item_scores(it, m) for m in measures] + [ctx.column_z(it, m) for m in measures]
    cols.append([math.log(f) for f in ctx.frequencies(it)])
    q = np.column_stack(cols)
    assigned = np.column_stack([ctx.assigned(it, j, seed) for j in joints])
    size = ctx.group_size(it)
    group = np.tile([float(size > 1), math.log(size)], (it.n_options, 1))
    return np.hstack([within_item(q), assigned, group])


class MatchLearned(FileAnswerer):
    """A fitted option scorer over :func:`structure_features` and the dense option-only features; items of a
    shared option set answered together are then assigned jointly by their fitted log-probabilities."""

    trainable = True

    def __init__(self, spec: MatchSpec, seed: int = 0, embedder: object | None = None) -> None:
        super().__init__(seed, embedder)
        self.spec, self.name, self.description = spec, spec.name, spec.description
        self.model: object | None = None

    def _matrix(self, items: Sequence[Item], fit: bool) -> np.ndarray:
        from sklearn.preprocessing import StandardScaler

        ctx = self.context_for(items)
        if fit:
            self.train = tuple(items)
        x = np.hstack([structure_features(ctx, items, self.spec.measures, self.seed),
                       dense_features(self.train, items)])
        if fit:
            self.scaler = StandardScaler().fit(x)
        return self.scaler.transform(x)

    def fit(self, items: Sequence[Item]) -> Answerer:
        if not items:
            raise AnswererError(f"{self.name}: no training items")
        self.model = fit_pointwise(self.spec.model, self._matrix(items, fit=True), gold_vector(items), self.seed)
        return self

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        if self.model is None:
            raise AnswererError(f"{self.name} must be fitted before it answers")
        if not items:
            return []
        proba = self.model.predict_proba(self._matrix(items, fit=False))[:, 1]  # type: ignore[attr-defined]
        logp = np.log(np.clip(proba, 1e-12, None))
        offsets = group_offsets(items)
        scores = [logp[offsets[i]:offsets[i + 1]].tolist() for i in range(len(items))]
        choices = self.context_for(items).solve_jointly(items, scores, (self.seed, self.name))
        return [self._answer(it, s, c) for it, s, c in zip(items, scores, choices, strict=True)]


# ---- the panel's view ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StructureSpec:
    name: str
    kind: str
    description: str
    make: Callable[[int], Answerer]
    embedding: bool = False


def structure_specs() -> list[StructureSpec]:
    """Every structure adversary, in report order."""
    specs = [StructureSpec(OptionFrequency.name, "structure", OptionFrequency.description,
                           lambda s: OptionFrequency(s))]
    for measure in ("tfidf", "bm25"):
        specs.append(StructureSpec(f"qo_{measure}", "structure", QuestionMatch(measure).description,
                                   lambda s, m=measure: QuestionMatch(m, s)))
    for measure in ("tfidf", "bm25", "emb"):
        specs.append(StructureSpec(f"joint_{measure}", "structure", JointMatch(measure).description,
                                   lambda s, m=measure: JointMatch(m, s), embedding=measure == "emb"))
    for ms in (*MATCH_LEARNED, *MATCH_LEARNED_EMB):
        specs.append(StructureSpec(ms.name, "learned", ms.description, lambda s, ms=ms: MatchLearned(ms, s),
                                   embedding=ms.embedding))
    return specs


STRUCTURE_NAMES = frozenset(s.name for s in structure_specs())
