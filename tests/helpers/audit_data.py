"""Synthetic MCQ sets for audit tests: one built like the released data (distractors are edits of the gold), one
with no text signal at all (independent random options, gold letter uniform)."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import ImageRefs, Item

WORDS = (
    "gland", "stroma", "nucleus", "mitosis", "necrosis", "fibrosis", "mucin", "lymphocyte", "vessel", "duct",
    "lobule", "capsule", "tumour", "epithelium", "cytoplasm", "chromatin", "nucleolus", "border", "sheet", "nest",
    "cord", "papilla", "crypt", "villus", "margin",
)
ADJ = (
    "dense", "loose", "irregular", "regular", "large", "small", "atypical", "benign", "focal", "diffuse",
    "central", "peripheral", "eosinophilic", "basophilic", "crowded", "sparse",
)


def phrase(rng: random.Random, n: int = 6) -> list[str]:
    return [rng.choice(ADJ) if i % 2 == 0 else rng.choice(WORDS) for i in range(n)]


def _item(i: int, options: list[str], gold: int, slide: int) -> Item:
    dim = DIMENSIONS[i % len(DIMENSIONS)]
    return Item(id=f"syn-{i:05d}", question=f"What does region {i} show?", options=tuple(options),
                answer="ABCDEFGHIJ"[gold], dimension=dim, images=ImageRefs(f"s{slide}/r{i}_lo.jpg"),
                wsi_name=f"slide{slide}", path_id=f"s{slide}-r{i}", split="test", number=i)


def edited_items(n: int, seed: int = 0, slides: int = 10, n_options: int = 4) -> list[Item]:
    """Items whose distractors each change one word of the gold: the gold is the option-set centre."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        gold_words = phrase(rng)
        options = [" ".join(gold_words)]
        positions = rng.sample(range(len(gold_words)), n_options - 1)
        for p in positions:
            w = list(gold_words)
            pool = ADJ if p % 2 == 0 else WORDS
            w[p] = rng.choice([x for x in pool if x != w[p]])
            options.append(" ".join(w))
        order = list(range(n_options))
        rng.shuffle(order)
        out.append(_item(i, [options[j] for j in order], order.index(0), i % slides))
    return out


def random_items(n: int, seed: int = 0, slides: int = 10, n_options: int = 4) -> list[Item]:
    """Items with unrelated random options and a uniformly random gold: no text signal."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        options = [" ".join(phrase(rng, rng.randint(3, 9))) for _ in range(n_options)]
        out.append(_item(i, options, rng.randrange(n_options), i % slides))
    return out


def mixed(n_leaky: int, n_clean: int) -> list[Item]:
    """Edit-leaky items (ids L…) among items without text signal (ids C…)."""
    return ([it.with_(id=f"L{i}") for i, it in enumerate(edited_items(n_leaky, seed=1))]
            + [it.with_(id=f"C{i}") for i, it in enumerate(random_items(n_clean, seed=2))])


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """One OpenMP/BLAS thread in a test module (autouse where imported). The learned adversaries fit a few hundred
    rows: more threads only add overhead, and on a busy 2-core runner spinning OpenMP threads made gradient
    boosting ~5× slower (the audit's worker processes run one thread each for the same reason)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # no audit extra: nothing to limit
        yield
        return
    with threadpool_limits(limits=1):
        yield


def token(rng: random.Random) -> str:
    """A random made-up word (unique with high probability)."""
    return "".join(rng.choice("bcdfghjklmnpqrstvwxz") + rng.choice("aeiou") for _ in range(4))


def matched_blocks(n_blocks: int, k: int = 4, seed: int = 0, cue: str = "none") -> list[Item]:
    """Blocks of `k` items that share one option set (the block's `k` golds, in a random order per item), each
    item from another slide. `cue` links a question to its gold:

    * ``none``: questions are random words: exchangeable, no text signal;
    * ``own``: each question repeats a word of its own gold;
    * ``hub``: each question repeats a word of its own gold and two words of the block's first gold (the hub),
      so answering each item alone picks the hub for every item, while assigning the texts one-to-one works.
    """
    rng = random.Random(seed)
    out = []
    for b in range(n_blocks):
        own = [token(rng) for _ in range(k)]
        hub = [token(rng), token(rng)]
        golds = [" ".join([own[j], *phrase(rng, 4), *(hub if j == 0 else [token(rng), token(rng)])])
                 for j in range(k)]
        dim = DIMENSIONS[b % len(DIMENSIONS)]
        for j in range(k):
            order = list(range(k))
            rng.shuffle(order)
            words = {"none": [token(rng), token(rng), token(rng)], "own": [own[j], token(rng), token(rng)],
                     "hub": [own[j], *hub]}[cue]
            i = b * k + j
            slide = (b + j) % 12
            out.append(Item(id=f"blk-{i:05d}", question=f"Which statement fits {' '.join(words)}?",
                            options=tuple(golds[o] for o in order), answer="ABCDEFGHIJ"[order.index(j)],
                            dimension=dim, images=ImageRefs(f"s{slide}/r{i}_lo.jpg"), wsi_name=f"slide{slide}",
                            path_id=f"s{slide}-r{i}", split="test", number=i))
    return out


def recurring_items(n: int, seed: int = 0, gold_recurs: bool = True) -> list[Item]:
    """Items with unique option sets where either the gold texts or the distractor texts come from a small pool
    that recurs across the file (the other options are unique random phrases)."""
    rng = random.Random(seed)
    pool = [" ".join(phrase(rng, 5)) for _ in range(6)]
    out = []
    for i in range(n):
        unique = [" ".join(phrase(rng, rng.randint(4, 8))) + f" {token(rng)}" for _ in range(4)]
        options = [rng.choice(pool), *unique[:3]] if gold_recurs else [unique[0], *rng.sample(pool, 3)]
        order = list(range(4))
        rng.shuffle(order)
        out.append(_item(i, [options[j] for j in order], order.index(0), i % 10))
    return out
