"""What a curation is made of: its settings, blocks, drops and the finished construction (one home for these
types; :mod:`builders.curate.engine` builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field

from builders.curate.equivalence import Thresholds
from scale_vqa.dimensions import Dimension
from scale_vqa.errors import BadInputError
from scale_vqa.item import Item

STEPS_PER_ITEM = 300
"""Annealing swaps per item to place."""
REGION_STEPS = 0.4
"""Region groups are annealed with this share of the swaps per item, per region: a swap moves a whole region
(one item in every dimension), and more swaps did not lower the selection or verification accuracies on val."""
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
    """Dropped items whose golds stay in the block as options (see :func:`builders.curate.regions.hide_matches`)."""

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
    ceiling: bool = False
    """Select against the *verification* models (``--ceiling``): a measurement of how far any block construction
    can get on this file, not a release (its verification is no longer independent of the selection)."""
    regions: bool = True
    """Group whole regions (:mod:`builders.curate.regions`) where the file has complete ones: attackers that solve
    a region's items together are then at chance by construction, at the cost of less freedom against
    question–option matching (``--no-region-groups`` builds per-dimension blocks only; see the README)."""
