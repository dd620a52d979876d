"""Matched blocks: partition one dimension's items into blocks of k whose golds become every member's options.

The partition is found by simulated annealing over swaps, scored in vectorised batches. Hard constraints
(weighted far above anything else): members come from different slides and no two golds of a block were refused
by the equivalence screen. The soft objective removes what question–answer matching can exploit under each
*selection* similarity model: inside every block, exactly one member's question is most similar to its own gold
(raw, and after centring each gold on the block's questions), the own gold's rank among the block's golds is a
permutation of 1…k, the soft-max share of the own gold sums to one, and the best joint assignment of golds to
questions gets exactly one member right — each the expectation of a random block; and members' questions
should read alike (cohesion), so the question says little about which gold is its own. Items that do not fit (the
dimension's size modulo k, or more when hard constraints cannot all be met) stay unplaced.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

HARD = 1000.0
"""Loss of one hard-constraint violation (same slide or equivalent golds) inside a block."""
BATCH = 64
"""Swaps scored per vectorised batch."""


@dataclass(frozen=True)
class Partition:
    blocks: list[list[int]]
    """Indices (into the dimension's items) per block, each sorted, blocks sorted by first member."""
    unplaced: list[int]
    loss: float
    violations: int


class BlockScorer:
    """Loss of blocks of k under the selection similarity matrices `sims` (models × n × n; question rows, gold
    columns) and the hard-constraint matrix `forbid` (n × n, True where two items may not share a block)."""

    def __init__(self, sims: np.ndarray, forbid: np.ndarray, k: int, temperature: float = 0.05,
                 qsims: np.ndarray | None = None, cohesion: float = 20.0) -> None:
        sims = np.asarray(sims, dtype=np.float64)
        self.qsims = None if qsims is None else np.ascontiguousarray(np.moveaxis(np.asarray(qsims, float), 0, -1))
        self.cohesion = cohesion
        self.sims = np.ascontiguousarray(np.moveaxis(sims, 0, -1))  # n × n × models
        self.forbid = np.asarray(forbid, dtype=np.float64)
        self.k, self.temperature = k, temperature
        self.eye = np.arange(k)
        self.perms = np.array(list(itertools.permutations(range(k)))) if k <= 6 else None

    def _fixed_points(self, sub: np.ndarray) -> np.ndarray:
        """(batch, models): members the best joint assignment of golds to questions gets right, averaged over
        the assignments that tie for best (members with the same question tie, and then favour no gold)."""
        if self.perms is not None:
            scores = sub[:, self.eye[None, :], self.perms, :].sum(axis=2)  # batch × perms × models
            tied = scores >= scores.max(axis=1, keepdims=True) - 1e-9
            right = (self.perms == self.eye).sum(axis=-1)[None, :, None]
            return (tied * right).sum(axis=1) / tied.sum(axis=1)
        from scipy.optimize import linear_sum_assignment

        out = np.zeros(sub.shape[::3], dtype=float)
        for b in range(sub.shape[0]):
            for m in range(sub.shape[3]):
                out[b, m] = (linear_sum_assignment(-sub[b, :, :, m])[1] == self.eye).sum()
        return out

    def losses(self, blocks: np.ndarray) -> np.ndarray:
        """Loss of each block (rows of `blocks`, batch × k)."""
        k = self.k
        rows, cols = blocks[:, :, None], blocks[:, None, :]
        total = HARD * self.forbid[rows, cols].sum(axis=(1, 2)) / 2
        sub = self.sims[rows, cols]  # batch × k × k × models
        for mat in (sub, sub - sub.mean(axis=1, keepdims=True)):
            d = mat[:, self.eye, self.eye, :]  # batch × k × models
            above = (mat > d[:, :, None, :]).sum(axis=2)  # 0: own gold on top
            hits = (above == 0).sum(axis=1)
            total += 3.0 * ((hits - 1) ** 2).sum(axis=1)
            counts = (above[..., None] == self.eye).sum(axis=1)  # batch × models × k
            total += 0.5 * ((counts - 1) ** 2).sum(axis=(1, 2))
            soft = np.exp((mat - mat.max(axis=2, keepdims=True)) / self.temperature)
            share = (soft[:, self.eye, self.eye, :] / soft.sum(axis=2)).sum(axis=1)
            total += 2.0 * ((share - 1) ** 2).sum(axis=1)
        total += 2.0 * ((self._fixed_points(sub) - 1) ** 2).sum(axis=1)
        if self.qsims is not None:  # members whose questions read alike: the question tells less about its gold
            qq = self.qsims[rows, cols].sum(axis=(1, 2)) - self.qsims[blocks, blocks].sum(axis=1)
            total -= self.cohesion * qq.sum(axis=-1) / (k * (k - 1))
        return total

    def solved(self, block: Sequence[int]) -> bool:
        """Every model's best joint assignment of the block's golds to its questions gets every member right."""
        b = np.asarray([block])
        return bool((self._fixed_points(self.sims[b[:, :, None], b[:, None, :]]) >= len(block) - 1e-9).all())

    def violations(self, block: Sequence[int]) -> int:
        idx = np.asarray(block)
        return int(self.forbid[np.ix_(idx, idx)].sum()) // 2


def anneal(scorer: BlockScorer, n: int, *, seed: int, steps: int, keep_out: int = 0,
           start: Sequence[Sequence[int]] | None = None, t0: float = 3.0, t1: float = 0.02) -> Partition:
    """Partition items 0…n−1 into ⌊(n − keep_out)/k⌋ blocks of k by simulated annealing over `steps` swaps; the
    rest stay unplaced (a swap may exchange a placed and an unplaced item, so the hardest items end up
    unplaced). `start` warm-starts from earlier blocks."""
    k = scorer.k
    rng = random.Random(seed)
    n_blocks = max(0, (n - keep_out) // k)
    if start is not None:
        seen = [i for b in start for i in b][:n_blocks * k]
        rest = [i for i in range(n) if i not in set(seen)]
        rng.shuffle(rest)
        order = seen + rest
    else:
        order = list(range(n))
        rng.shuffle(order)
    if n_blocks == 0:
        return Partition([], sorted(order), 0.0, 0)
    blocks = np.array(order[:n_blocks * k]).reshape(n_blocks, k)
    bench = np.array(order[n_blocks * k:], dtype=int)
    losses = scorer.losses(blocks)
    n_slots = n_blocks * k + len(bench)
    batches = max(1, steps // BATCH)
    for it in range(batches):
        temp = t0 * (t1 / t0) ** (it / max(1, batches - 1))
        a = [rng.randrange(n_slots) for _ in range(BATCH)]
        c = [rng.randrange(n_slots) for _ in range(BATCH)]
        props: list[tuple[int, int, int, int]] = []  # (block a, slot a, block c or -1, slot c)
        for x, y in zip(a, c, strict=True):
            if x >= n_blocks * k:
                x, y = y, x
            if x >= n_blocks * k:
                continue
            ba, ia = divmod(x, k)
            if y >= n_blocks * k:
                props.append((ba, ia, -1, y - n_blocks * k))
            elif y // k != ba:
                props.append((ba, ia, y // k, y % k))
        if not props:
            continue
        cand = []
        for ba, ia, bc, ic in props:
            new_a = blocks[ba].copy()
            if bc == -1:
                new_a[ia] = bench[ic]
                cand += [new_a, new_a]
            else:
                new_c = blocks[bc].copy()
                new_a[ia], new_c[ic] = blocks[bc][ic], blocks[ba][ia]
                cand += [new_a, new_c]
        new_losses = scorer.losses(np.array(cand))
        touched: set[int] = set()
        for p, (ba, ia, bc, ic) in enumerate(props):
            if ba in touched or (bc != -1 and bc in touched) or (bc == -1 and -1 - ic in touched):
                continue
            la, lc = new_losses[2 * p], new_losses[2 * p + 1]
            delta = la - losses[ba] + (lc - losses[bc] if bc != -1 else 0.0)
            if delta <= 0 or rng.random() < math.exp(-delta / temp):
                if bc == -1:
                    bench[ic], blocks[ba] = blocks[ba][ia], cand[2 * p]
                    losses[ba] = la
                    touched.add(-1 - ic)
                else:
                    blocks[ba], blocks[bc] = cand[2 * p], cand[2 * p + 1]
                    losses[ba], losses[bc] = la, lc
                    touched.add(bc)
                touched.add(ba)
    out = sorted((sorted(int(i) for i in b) for b in blocks), key=lambda b: b[0])
    return Partition(out, sorted(int(i) for i in bench), float(losses.sum()),
                     sum(scorer.violations(b) for b in out))
