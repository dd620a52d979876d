"""What ``scale-vqa curate`` writes: ``curated.json`` (release format, ``extra_info.curation`` per item),
``curation.json`` (the construction record), ``review.csv`` (one row per block) — all byte-identical for the
same input and seed — and reading a signed-off ``review.csv`` back (``--apply-review``)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path

from builders.curate.construction import Construction, Settings
from builders.curate.verify import Verification
from scale_vqa.errors import BadInputError
from scale_vqa.item import Item

STRATEGY = "matched"
REVIEW_FIELDS = ("block", "dimension", "kind", "members", "reject", "note")
"""review.csv columns before the golds (``gold_1`` … ``gold_k``)."""


def curated_records(c: Construction, settings: Settings) -> list[dict[str, object]]:
    members = {b.id: sorted(b.sources) for b in c.blocks}
    group_of = {b.id: b.group for b in c.blocks}
    out = []
    for it in c.items:
        rec = it.to_release()
        bid = c.block_of[it.id]
        cur: dict[str, object] = {"strategy": STRATEGY, "block": bid, "seed": settings.seed}
        if group_of.get(bid):
            cur["region_group"] = group_of[bid]
        if settings.ceiling:  # a measurement: `scale-vqa build` refuses to publish it
            cur["ceiling"] = True
        # the items whose golds are the options, in id order: never which option came from which (that names the gold)
        rec["extra_info"]["curation"] = {**cur, "source_ids": list(members[bid])}  # type: ignore[index]
        out.append(rec)
    return out


def curated_json(c: Construction, settings: Settings) -> str:
    return json.dumps(curated_records(c, settings), ensure_ascii=False, indent=2) + "\n"


def curation_record(c: Construction, settings: Settings, *, sources: Sequence[tuple[str, str]], n_source: int,
                    verification: Verification | None, judge: dict[str, object] | None,
                    review: str | None, models: dict[str, list[dict[str, str]]]) -> dict[str, object]:
    golds = c.golds()
    return {
        "strategy": STRATEGY, "block_size": settings.k, "seed": settings.seed, "max_drop": settings.max_drop,
        "region_groups": settings.regions, "ceiling": settings.ceiling,
        "thresholds": settings.thresholds.to_dict(), "annealing_steps_per_item": settings.steps_per_item,
        "sources": [{"path": Path(p).name, "sha256": h} for p, h in sources],
        "n_source": n_source, "n_curated": len(c.items), "retention": round(len(c.items) / max(1, n_source), 6),
        "similarity_models": models, "judge": judge, "review": review,
        "blocks": [b.to_dict(golds) for b in c.blocks],
        "drops": [d.to_dict() for d in c.drops],
        "refused_pairs": c.refused, "reblocking_rounds": c.rounds,
        "verification": verification.to_dict() if verification is not None else None,
    }


def review_csv(c: Construction, k: int) -> str:
    golds = c.golds()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*REVIEW_FIELDS, *(f"gold_{i + 1}" for i in range(k))])
    for b in c.blocks:
        w.writerow([b.id, b.dimension.value, b.kind, " | ".join(b.sources), "", "",
                    *(golds[m] for m in b.sources)])
    return buf.getvalue()


def read_review(path: str | Path) -> list[tuple[str, str, str]]:
    """Rejected pairs (id, id, reason) from a signed-off review.csv: ``reject`` is empty (accept), ``all`` (every
    pair of the block) or pairs of gold positions such as ``1-3; 2-4``. Errors name the file, line and field."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInputError(f"{path}: cannot read the review: {exc}") from exc
    rows = list(csv.DictReader(io.StringIO(text)))
    out: list[tuple[str, str, str]] = []
    for line, row in enumerate(rows, start=2):
        if row.get("members") is None or row.get("reject") is None:
            raise BadInputError(f"{path}:{line}: field 'members'/'reject': missing (expected the columns "
                                f"{', '.join(REVIEW_FIELDS)})")
        members = [m.strip() for m in row["members"].split("|") if m.strip()]
        reject = row["reject"].strip().lower()
        if not reject:
            continue
        if reject == "all":
            pairs = [(a, b) for x, a in enumerate(range(len(members))) for b in range(x + 1, len(members))]
        else:
            pairs = []
            for part in reject.replace(",", ";").split(";"):
                bits = part.strip().split("-")
                if len(bits) != 2 or not all(b.strip().isdigit() for b in bits):
                    raise BadInputError(f"{path}:{line}: field 'reject': {part.strip()!r} is not a pair of gold "
                                        "positions such as 1-3 (or 'all')")
                a, b = (int(x) - 1 for x in bits)
                if not (0 <= a < len(members) and 0 <= b < len(members)) or a == b:
                    raise BadInputError(f"{path}:{line}: field 'reject': {part.strip()!r} names no two of the "
                                        f"block's {len(members)} golds")
                pairs.append((a, b))
        note = (row.get("note") or "").strip()
        out += [(members[a], members[b], "review" + (f": {note}" if note else "")) for a, b in pairs]
    return out


def items_unchanged(source: Sequence[Item], curated: Sequence[Item]) -> list[str]:
    """Problems if a curated item lost its question, images, rationale or gold text, or a distractor equals its
    gold (empty when all is well)."""
    by_id = {it.id: it for it in source}
    out = []
    for it in curated:
        src = by_id[it.id]
        if (it.question, it.images, it.rationale, it.gold_text) != (src.question, src.images, src.rationale,
                                                                    src.gold_text):
            out.append(f"{it.id}: changed beyond its distractors")
        if sum(o == it.gold_text for o in it.options) != 1:
            out.append(f"{it.id}: a distractor equals its gold")
    return out
