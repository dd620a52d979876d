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

from collections import defaultdict
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from baselines.text_only.region import region_of
from builders.curate.blocks import HARD, BlockScorer, anneal
from builders.curate.equivalence import Screen
from scale_vqa.dimensions import Dimension
from scale_vqa.item import Item


class DimensionLike(Protocol):
    """What :class:`RegionBuilder` reads of a per-dimension builder
    (:class:`builders.curate.engine.DimensionBuilder`)."""

    items: list[Item]
    sims: np.ndarray
    qsims: np.ndarray

    def screen(self) -> Screen: ...


class SettingsLike(Protocol):
    k: int
    seed: int
    steps_per_item: int


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

    def __init__(self, builders: dict[Dimension, DimensionLike], settings: SettingsLike, max_keep_out: int) -> None:
        self.builders, self.s, self.max_keep_out = builders, settings, max_keep_out
        self.rounds: list[dict[str, object]] = []

    def partition(self) -> tuple[list[list[int]], list[int], dict[Dimension, Screen]]:
        """(groups of unit indices, units left out, each dimension's screen). A group never holds two units of
        one slide or two golds the screen refused in any dimension; what selection still solves in some
        dimension is refused and re-grouped (``SELECTION_ROUNDS``); units that fit nowhere are left out, at
        most ``max_keep_out`` beyond the remainder."""
        from builders.curate.engine import SELECTION_ROUNDS

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
                          steps=self.s.steps_per_item * n, keep_out=keep_out, start=start)
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
