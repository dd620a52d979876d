"""Structure-aware text-only attackers used to verify a construction (never to build it).

They see only questions and options, find the items that share an option set, and attack:
* ``freq``: the option text that recurs least (or most) across the file;
* ``match:<model>``: each item's option most similar to its question;
* ``joint:<model>``: each option set's texts assigned to its questions jointly (Hungarian, maximum total
  similarity);
* ``region:<model>``: the items of one region solved together (:mod:`baselines.text_only.region`);
* ``region_match:<model>``: the same, adding each item's question–option similarity, so the questions of a whole
  region are matched at once (the cohesion weight cross-fitted by slide);
* ``learned``: a logistic regression on all of these as features (per-model similarity, its within-item z-score
  and rank, similarity centred on the other questions sharing the option set, the joint assignment, option
  frequency, length, position), cross-fitted with ``GroupKFold`` by slide.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from baselines.answerer import argmax_by_text
from builders.curate.similarity import SimilarityModel
from scale_vqa.item import Item


@dataclass
class Attack:
    name: str
    description: str
    picks: list[int]
    """Chosen option index per item."""

    def correct(self, items: Sequence[Item]) -> list[bool]:
        return [it.letters[p] == it.answer for p, it in zip(self.picks, items, strict=True)]


def option_sets(items: Sequence[Item]) -> list[list[int]]:
    """Items grouped by identical option *sets* (order ignored), in first-seen order."""
    groups: dict[frozenset[str], list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[frozenset(it.options)].append(i)
    return list(groups.values())


def _pick(scores: np.ndarray, item: Item, *parts: object) -> int:
    """The best option of `item` under `scores` (ties: :func:`~baselines.answerer.argmax_by_text`)."""
    return argmax_by_text([float(x) for x in scores[:item.n_options]], item.options, *parts)


@dataclass
class PairFeatures:
    """Per model: similarity of each item's question to each of its options (items × options)."""

    sims: dict[str, np.ndarray]
    joint: dict[str, np.ndarray]
    """Per model: 1 where the joint assignment of the item's option set gives that option to the item."""
    centred: dict[str, np.ndarray]


@dataclass
class Space:
    """One similarity model's vectors of a file: its distinct questions and option texts, encoded together once
    and read by every attacker."""

    name: str
    questions: list[str]
    """Distinct questions, first-seen order."""
    qvecs: np.ndarray
    texts: list[str]
    """Distinct option texts, text order."""
    vecs: np.ndarray


def spaces(items: Sequence[Item], models: Sequence[SimilarityModel], seed: int) -> list[Space]:
    """Each model's :class:`Space` of `items`."""
    questions = list(dict.fromkeys(it.question for it in items))
    texts = sorted({o for it in items for o in it.options})
    out = []
    for m in models:
        q, a = m.encode(questions, texts, seed)
        out.append(Space(m.name, questions, np.asarray(q, dtype=np.float64), texts, np.asarray(a, dtype=np.float64)))
    return out


def pair_features(items: Sequence[Item], spaces: Sequence[Space]) -> PairFeatures:
    from scipy.optimize import linear_sum_assignment

    k = max(it.n_options for it in items)
    groups = option_sets(items)
    sims, joint, centred = {}, {}, {}
    for sp in spaces:
        where = {t: i for i, t in enumerate(sp.texts)}
        qrow = {q: i for i, q in enumerate(sp.questions)}
        full = sp.qvecs[[qrow[it.question] for it in items]] @ sp.vecs.T  # items × texts
        s = np.full((len(items), k), -np.inf)
        for i, it in enumerate(items):
            s[i, :it.n_options] = [full[i, where[o]] for o in it.options]
        j = np.zeros_like(s)
        c = np.zeros_like(s)
        for g in groups:
            opts = list(items[g[0]].options)
            cols = [where[o] for o in opts]
            sub = full[np.ix_(g, cols)]
            rows, assigned = linear_sum_assignment(-sub)
            sub_c = sub - sub.mean(axis=0, keepdims=True) if len(g) > 1 else sub
            for r, col in zip(rows, assigned, strict=True):
                i = g[r]
                j[i, items[i].options.index(opts[col])] = 1
            for r, i in enumerate(g):
                for ci, o in enumerate(opts):
                    c[i, items[i].options.index(o)] = sub_c[r, ci]
        sims[sp.name], joint[sp.name], centred[sp.name] = s, j, c
    return PairFeatures(sims, joint, centred)


def region_coherence(items: Sequence[Item], space: Space) -> list[int]:
    """Per item, the option the region attack (:mod:`baselines.text_only.region`) picks in `space`."""
    from baselines.text_only.region import coherent_choices, given_rows

    return coherent_choices(items, given_rows(space.texts, space.vecs))


def frequency(items: Sequence[Item]) -> np.ndarray:
    counts = Counter(o for it in items for o in it.options)
    k = max(it.n_options for it in items)
    out = np.zeros((len(items), k))
    for i, it in enumerate(items):
        out[i, :it.n_options] = [counts[o] for o in it.options]
    return out


def region_attacks(items: Sequence[Item], spaces: Sequence[Space]) -> list[Attack]:
    return [Attack(f"region:{sp.name}", f"a region's items solved together: the options that cohere most "
                   f"({sp.name})", region_coherence(items, sp)) for sp in spaces]


def region_match_attacks(items: Sequence[Item], spaces: Sequence[Space], folds: Sequence[Sequence[int]]
                         ) -> list[Attack]:
    """Per model, the region attack that also reads the questions
    (:func:`baselines.text_only.region.matched_choices`), its cohesion weight chosen on the other folds."""
    from baselines.text_only.region import best_weight, given_rows, matched_choices

    out = []
    for sp in spaces:
        ask, give = given_rows(sp.questions, sp.qvecs), given_rows(sp.texts, sp.vecs)
        per_weight = matched_choices(items, lambda qs, ts, ask=ask, give=give: (ask(qs), give(ts)))
        picks = [0] * len(items)
        for test in folds:
            held = set(test)
            w = best_weight(items, per_weight, [i for i in range(len(items)) if i not in held])
            for i in test:
                picks[i] = per_weight[w][i]
        out.append(Attack(f"region_match:{sp.name}", "a region's items solved together: options that cohere and "
                          f"match their questions ({sp.name}; cohesion weight cross-fitted)", picks))
    return out


def rule_attacks(items: Sequence[Item], feats: PairFeatures, seed: int) -> list[Attack]:
    """The rule attackers; every tie is broken by text (:func:`_pick`), so each attack's picks depend on its own
    name and the seed alone."""
    freq = frequency(items)
    out = [Attack(f"freq_{side}", f"the option text that recurs {word} across the file",
                  [_pick(sign * f, it, seed, f"freq_{side}") for f, it in zip(freq, items, strict=True)])
           for side, word, sign in (("rare", "least", -1.0), ("common", "most", 1.0))]
    for name, s in feats.sims.items():
        for attack, scores, what in (("match", s, "the option most similar to the question"),
                                     ("centred", feats.centred[name],
                                      "most similar after centring on the option set's questions"),
                                     ("joint", feats.joint[name], "option sets solved jointly: Hungarian assignment")):
            label = f"{attack}:{name}"
            out.append(Attack(label, f"{what} ({name})",
                              [_pick(row, it, seed, label) for row, it in zip(scores, items, strict=True)]))
    return out


def feature_tensor(items: Sequence[Item], feats: PairFeatures) -> np.ndarray:
    """items × options × features."""
    k = max(it.n_options for it in items)
    cols = []
    for name, s in feats.sims.items():
        s = np.where(np.isfinite(s), s, 0.0)
        mu, sd = s.mean(axis=1, keepdims=True), s.std(axis=1, keepdims=True) + 1e-9
        cols += [s, (s - mu) / sd, (s >= s.max(axis=1, keepdims=True)).astype(float),
                 np.argsort(np.argsort(-s, axis=1), axis=1).astype(float), feats.joint[name], feats.centred[name]]
    freq = frequency(items)
    cols += [freq / max(1.0, freq.max()), np.array([[len(o) for o in it.options] + [0] * (k - it.n_options)
                                                    for it in items], dtype=float) / 100.0]
    cols += [np.tile(np.eye(k)[p], (len(items), 1)) for p in range(k)]
    return np.stack(cols, axis=2)


def learned_attack(items: Sequence[Item], feats: PairFeatures, folds: Sequence[Sequence[int]], seed: int) -> Attack:
    """Logistic regression on every pair feature, cross-fitted: each fold is scored by a model fitted on the
    other folds (whole slides per fold)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x = feature_tensor(items, feats)
    n, k, f = x.shape
    y = np.zeros((n, k))
    for i, it in enumerate(items):
        y[i, it.letters.index(it.answer)] = 1
    picks = [0] * n
    for test in folds:
        test_set = set(test)
        train = [i for i in range(n) if i not in test_set]
        xt = x[train].reshape(-1, f)
        scaler = StandardScaler().fit(xt)
        model = LogisticRegression(C=0.5, max_iter=500).fit(scaler.transform(xt), y[train].ravel())
        scores = model.decision_function(scaler.transform(x[list(test)].reshape(-1, f))).reshape(len(test), k)
        for i, row in zip(test, scores, strict=True):
            picks[i] = _pick(row, items[i], seed, "learned")
    return Attack("learned", "logistic regression on every structure feature, cross-fitted by slide", picks)
