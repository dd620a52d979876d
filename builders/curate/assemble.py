"""Turn blocks into curated items: every member of a block gets the block's golds as its options, in a cyclic
rotation of one seeded order chosen so that, inside each block, every letter is exactly one member's gold."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from scale_vqa.item import LETTERS, Item


def block_options(members: Sequence[Item], seed: int, block_id: str, extra: Sequence[str] = (),
                  spare_letter: str | None = None) -> list[tuple[tuple[str, ...], str]]:
    """(options, gold letter) per member: a rotation of one seeded base order, gold letters all distinct. `extra`
    texts (golds of dropped items) are options of every member and no member's gold; with them, the letter no
    member gets is `spare_letter` when given."""
    golds = [m.gold_text for m in members] + list(extra)
    k = len(golds)
    rng = random.Random(f"{seed}:letters:{block_id}")
    base = list(range(k))
    rng.shuffle(base)  # base[p] = which member's gold sits at base position p
    where = {m: p for p, m in enumerate(base)}
    target = list(range(k))
    rng.shuffle(target)  # member t's gold letter
    if extra and spare_letter is not None and LETTERS.index(spare_letter) < k:  # members avoid the spare letter
        spare = LETTERS.index(spare_letter)
        t = target.index(spare)
        target[t], target[len(members)] = target[len(members)], target[t]
    out = []
    for t in range(len(members)):
        shift = (where[t] - target[t]) % k
        order = [base[(p + shift) % k] for p in range(k)]
        out.append((tuple(golds[m] for m in order), LETTERS[target[t]]))
    return out


def curated_items(items: Sequence[Item], blocks: Sequence[Sequence[int]], block_ids: Sequence[str],
                  seed: int, extra: Sequence[Sequence[int]] | None = None) -> list[tuple[Item, str]]:
    """(curated item, block id) for every placed item, in the source order. `extra` holds, per block, dropped
    items whose golds stay as options; the letter left free in such a block is the most used one so far, so
    gold letters stay balanced."""
    out: dict[int, tuple[Item, str]] = {}
    used: Counter[str] = Counter()
    for n, (block, bid) in enumerate(zip(blocks, block_ids, strict=True)):
        members = [items[i] for i in block]
        texts = [items[i].gold_text for i in (extra[n] if extra else ())]
        k = len(members) + len(texts)
        spare = max(LETTERS[:k], key=lambda x: (used[x], x)) if texts else None
        for i, (options, letter) in zip(block, block_options(members, seed, bid, texts, spare), strict=True):
            out[i] = (items[i].with_(options=options, answer=letter), bid)
            used[letter] += 1
    return [out[i] for i in sorted(out)]
