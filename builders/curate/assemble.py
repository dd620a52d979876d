"""Turn blocks into curated items: every member of a block gets the block's golds as its options, in a cyclic
rotation of one seeded order chosen so that, inside each block, every letter is exactly one member's gold."""

from __future__ import annotations

import random
from collections.abc import Sequence

from scale_vqa.item import LETTERS, Item


def block_options(members: Sequence[Item], seed: int, block_id: str) -> list[tuple[tuple[str, ...], str]]:
    """(options, gold letter) per member: a rotation of one seeded base order, gold letters all distinct."""
    k = len(members)
    rng = random.Random(f"{seed}:letters:{block_id}")
    golds = [m.gold_text for m in members]
    base = list(range(k))
    rng.shuffle(base)  # base[p] = which member's gold sits at base position p
    where = {m: p for p, m in enumerate(base)}
    target = list(range(k))
    rng.shuffle(target)  # member t's gold letter
    out = []
    for t in range(k):
        shift = (where[t] - target[t]) % k
        order = [base[(p + shift) % k] for p in range(k)]
        out.append((tuple(golds[m] for m in order), LETTERS[target[t]]))
    return out


def curated_items(items: Sequence[Item], blocks: Sequence[Sequence[int]], block_ids: Sequence[str],
                  seed: int) -> list[tuple[Item, str]]:
    """(curated item, block id) for every placed item, in the source order."""
    out: dict[int, tuple[Item, str]] = {}
    for block, bid in zip(blocks, block_ids, strict=True):
        members = [items[i] for i in block]
        for i, (options, letter) in zip(block, block_options(members, seed, bid), strict=True):
            out[i] = (items[i].with_(options=options, answer=letter), bid)
    return [out[i] for i in sorted(out)]
