"""Region groups: k regions (``path_id``, else the image paths), each from a different slide, whose items form a
block in *every* dimension at once.

Within one region the golds of its items describe one piece of tissue, so they cohere (the Correspondence gold
names what the Diagnosis gold implies, the same finding recurs in Confirmation and Explanation, …). With
per-dimension blocks, an attacker who sees a region's items together picks, in each item, the option that
coheres with the options of the region's other items: its own region's golds. When the same k regions share a
block in every dimension, every region of a group sees the same option sets in every dimension, so any rule
that reads options across items — but not the questions — gives the k regions the same answers and gets
exactly one in k right.

A *unit* is a region with exactly one item in every dimension the file has. Units are partitioned into groups
of k by simulated annealing (:func:`builders.curate.blocks.anneal`) against the sum of the per-dimension block
losses plus one on the question–gold similarity summed over dimensions (an attacker that assigns whole regions'
golds to whole regions' questions). Items of regions that are not units are left to the per-dimension
construction.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence

import numpy as np

from baselines.text_only.region import region_of
from builders.curate.blocks import HARD, BlockScorer, anneal
from builders.curate.construction import JUDGE_ROUNDS, REGION_STEPS, SELECTION_ROUNDS, Drop, Placed, Settings
from builders.curate.dimension import DimensionBuilder
from builders.curate.equivalence import Screen
from builders.curate.judge import PairJudge
from builders.curate.judge import refusals as judge_refusals
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.item import Item


def region_key(item: Item) -> str | None:
    """The region an item describes (:func:`baselines.text_only.region.region_of`), or None when the release
    names neither a ``path_id`` nor images."""
    key = region_of(item)
    return None if key.startswith("item:") else key


def units(items: Sequence[Item], dims: Sequence[Dimension]) -> dict[str, dict[Dimension, int]]:
    """Regions with exactly one item in each of `dims`: region → dimension → index into `items`, in first-seen
    order. Every item of a unit shares the unit's slide (a region lies on one slide)."""
    by_region: dict[str, dict[Dimension, list[int]]] = defaultdict(lambda: defaultdict(list))
    for i, it in enumerate(items):
        key = region_key(it)
        if key is not None:
            by_region[key][it.dimension].append(i)
    out: dict[str, dict[Dimension, int]] = {}
    for key, per_dim in by_region.items():
        if set(per_dim) == set(dims) and all(len(v) == 1 for v in per_dim.values()):
            slides = {items[v[0]].wsi_name or key for v in per_dim.values()}
            if len(slides) == 1:
                out[key] = {d: v[0] for d, v in per_dim.items()}
    return out


class GroupScorer:
    """Loss of groups of k units: the per-dimension block losses (units are indexed alike in every dimension's
    scorer) plus the block loss of the similarity summed over dimensions (each dimension's matrix scaled to unit
    spread), which stands for an attacker that matches whole regions."""

    def __init__(self, scorers: Sequence[BlockScorer], forbid: np.ndarray) -> None:
        self.scorers = list(scorers)
        self.k = self.scorers[0].k
        self.forbid = forbid
        total = sum(s.sims / s.sims.reshape(-1, s.sims.shape[-1]).std(axis=0).clip(1e-9) for s in self.scorers)
        self.summed = BlockScorer(np.moveaxis(total, -1, 0), np.zeros_like(forbid, dtype=bool), self.k)

    def losses(self, blocks: np.ndarray) -> np.ndarray:
        hard = HARD * self.forbid[blocks[:, :, None], blocks[:, None, :]].sum(axis=(1, 2)) / 2
        return sum((s.losses(blocks) for s in self.scorers), self.summed.losses(blocks) + hard)

    def violations(self, block: Sequence[int]) -> int:
        idx = np.asarray(block)
        return int(self.forbid[np.ix_(idx, idx)].sum()) // 2


class RegionBuilder:
    """Groups of k units from the per-dimension builders (``sims``, ``qsims`` and ``screen()`` over the units'
    items, unit u being item u of every builder)."""

    def __init__(self, builders: dict[Dimension, DimensionBuilder], settings: Settings, max_keep_out: int) -> None:
        self.builders, self.s, self.max_keep_out = builders, settings, max_keep_out
        self.rounds: list[dict[str, object]] = []

    def partition(self) -> tuple[list[list[int]], list[int], dict[Dimension, Screen]]:
        """(groups of unit indices, units left out, each dimension's screen). A group never holds two units of
        one slide or two golds the screen refused in any dimension; what selection still solves in some
        dimension is refused and re-grouped (``SELECTION_ROUNDS``); units that fit nowhere are left out, at
        most ``max_keep_out`` beyond the remainder."""
        k = self.s.k
        screens = {d: b.screen() for d, b in self.builders.items()}
        n = len(next(iter(self.builders.values())).items)
        hard = np.zeros((n, n), dtype=bool)
        for scr in screens.values():
            hard |= scr.matrix()
        free = np.zeros((n, n), dtype=bool)
        scorers = [BlockScorer(b.sims, free, k, qsims=b.qsims) for b in self.builders.values()]
        forbid, keep_out, start = hard.copy(), 0, None
        self.rounds = []
        for attempt in range(SELECTION_ROUNDS + self.max_keep_out + 1):
            part = anneal(GroupScorer(scorers, forbid), n, seed=self.s.seed + attempt,
                          steps=int(REGION_STEPS * self.s.steps_per_item) * n, keep_out=keep_out, start=start)
            solved = [g for g in part.blocks if any(sc.solved(g) for sc in scorers)]
            broken = sum(int(hard[np.ix_(g, g)].sum()) // 2 for g in part.blocks)
            self.rounds.append({"dimension": "region groups", "attempt": attempt, "violations": broken,
                                "selection_solved_blocks": len(solved)})
            if not broken and (not solved or attempt >= SELECTION_ROUNDS):
                break
            if broken and attempt >= SELECTION_ROUNDS:
                if keep_out >= self.max_keep_out:
                    break
                keep_out += 1
            for g in solved:
                forbid[np.ix_(g, g)] = True
            np.fill_diagonal(forbid, False)
            start = part.blocks
        groups = [g for g in part.blocks if not hard[np.ix_(g, g)].any()]
        left = sorted([*part.unplaced, *(u for g in part.blocks if hard[np.ix_(g, g)].any() for u in g)])
        return groups, left, screens


HIDDEN_REASON = ("dropped to hide question–option matching: every selection model finds its gold from its question "
                 "inside its block; its gold stays in the block as a distractor of the other members")


def hide_matches(items: list[Item], groups: list[list[int]], rows: dict[Dimension, list[int]],
                  builders: dict[Dimension, DimensionBuilder], settings: Settings, spare: int) -> list[int]:
    """Items of region groups to drop with their gold kept as a distractor-only option: those whose own gold is
    the most similar of their block's golds to their question under every selection model, the most blatant
    first (largest mean margin), at most one per block, within the drop budget left after `budget_used` and the
    per-dimension leftovers (`spare` items), keeping every dimension's share within 2 points of the source."""
    k = settings.k
    if spare <= 0:
        return []
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
    hidden: list[int] = []
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
        hidden.append(i)
        per_dim[d] += 1
        blocks_hit.add(where[i])
    return hidden


def region_stage(items: list[Item], settings: Settings, diagnoses: dict[str, str], embeddings: np.ndarray | None,
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
        new = []
        for d in dims:
            n, refused_here = judge_refusals(judge, dim_builders[d].items, groups)
            judged, new = judged + n, new + refused_here
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
    hidden = hide_matches(items, groups, rows, dim_builders, settings, limit - leftovers)
    hidden_set = set(hidden)
    grouped: set[int] = set()
    for n, g in enumerate(groups):
        for d in dims:
            members = sorted(rows[d][u] for u in g)
            gone = [i for i in members if i in hidden_set]
            placed.append(([i for i in members if i not in hidden_set], "region", n, gone))
            grouped.update(members)
    drops += [Drop(items[i].id, items[i].dimension, HIDDEN_REASON) for i in hidden]  # most blatant first
    for d in dims:
        its = dim_builders[d].items
        for (a, b), reasons in sorted(screens[d].reasons.items()):
            refused.append({"dimension": d.value, "ids": [its[a].id, its[b].id], "reasons": reasons})
    return grouped, judged
