"""Blocks for one dimension's items: same-question blocks first, then annealing against the selection models
(:mod:`builders.curate.blocks`), re-blocking what selection still solves."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import numpy as np

from builders.curate.blocks import BlockScorer, anneal
from builders.curate.construction import SELECTION_ROUNDS, Settings
from builders.curate.equivalence import Screen, normalise, screen
from builders.curate.similarity import selection_models
from scale_vqa.item import Item


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
        models = selection_models(embeddings is not None, ceiling=settings.ceiling)
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
