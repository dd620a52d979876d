"""``report.md`` and ``report.html`` of a curation (tables and a plot; the HTML page is the audit's)."""

from __future__ import annotations

import io
from collections import Counter

from builders.curate.construction import Construction
from builders.curate.verify import ALPHA, MARGIN_ALL, MARGIN_DIM, Verification
from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.markdown import markdown_table

PLOT = "verification.png"


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _window(w: object, n: int) -> str:
    if not w:
        return "none (n too small)"
    lo, hi = w  # type: ignore[misc]
    return f"{lo}–{hi} of {n} ({_pct(lo / n)}–{_pct(hi / n)} %)"


def markdown(c: Construction, v: Verification | None, *, n_source: int, k: int, seed: int,
             failures: list[str], plot: str | None, ceiling: bool = False) -> str:
    kinds = Counter(b.kind for b in c.blocks)
    parts = ["# Scale-VQA curation: matched blocks", "",
             f"Blocks of {k} items of one dimension, each from a different slide; every member's options are the "
             f"block's {k} golds, letters rotated so each letter is at most one member's gold. Region groups: the "
             f"same {k} regions share a block in every dimension. Seed {seed}.", "",
             f"- kept **{len(c.items)} of {n_source}** items ({_pct(len(c.items) / max(1, n_source))} %), "
             f"{len(c.blocks)} blocks ({kinds.get('region', 0)} in region groups, {kinds.get('same-question', 0)} "
             f"same-question, {kinds.get('balanced', 0)} balanced), {len(c.drops)} dropped",
             f"- dropped with their golds kept as distractors (their question gives them away in any block): "
             f"{sum(len(b.distractor_only) for b in c.blocks)}",
             f"- refused gold pairs (equivalence screen, judge, review): {len(c.refused)}"
             + (f"; LLM judge asked about {c.judged} pairs" if c.judged else ""), ""]
    if ceiling:
        parts += ["**Ceiling run (`--ceiling`)**: the blocks were selected against the verification models "
                  "themselves, so the verification below is not independent of the selection. It measures how far a "
                  "block construction can get on these items; do not release this file.", ""]
    if v is None:
        parts += ["Verification was skipped (--no-verify).", ""]
    else:
        best = v.best
        parts += ["## Verification", "",
                  f"Adversaries disjoint from the selection: the audit's panel (cross-fitted by slide, seed "
                  f"{seed + 1}) and structure attackers (option frequency, question–option matching, option sets "
                  f"solved jointly, a region's items solved together, a cross-fitted learned model) on other "
                  f"similarity models.", "",
                  f"- best adversary overall: **{best.adversary} {_pct(best.accuracy)} %** (chance "
                  f"{_pct(best.chance)} %)",
                  f"- largest per-dimension accuracy: **{_pct(v.max_dim['observed'])} %**; expected maximum under "
                  f"chance (gold letters permuted within each dimension): {_pct(v.max_dim['expected'])} % "
                  f"(95th percentile {_pct(v.max_dim['q95'])} %)",
                  f"- cells above chance after Holm over {sum(x.dimension != 'all' for x in v.cells)} adversary × "
                  f"dimension cells (α = {ALPHA}): **{sum(x.departs for x in v.cells)}**; below chance: "
                  f"{sum(x.below for x in v.cells)}" + (" (learners cross-fitted by slide see the golds of a block's "
                  "members on other slides and pick those texts, which are wrong here: a warning that public "
                  "answers of block-mates give items away, see the README)" if any(x.below for x in v.cells)
                  else ""),
                  f"- TOST margins n allows: overall ±{MARGIN_ALL} → equivalence when the count is in "
                  f"{_window(v.margins['overall']['window'], v.margins['overall']['n'])}; smallest margin at "
                  f"exact chance ±{v.margins['overall']['smallest_margin']}. Per dimension ±{MARGIN_DIM} → "
                  f"{_window(v.margins['per_dimension']['window'], v.margins['per_dimension']['n'])}; smallest "
                  f"±{v.margins['per_dimension']['smallest_margin']}.",
                  f"- gold letters: {', '.join(f'{a} {n}' for a, n in v.letters.items())}",
                  f"- retention {_pct(v.retention)} %; dimension shares (source → curated): "
                  + ", ".join(f"{d} {_pct(a)}→{_pct(b)}" for d, (a, b) in v.shares.items()), "",
                  f"**Result: {'PASS' if not failures else 'FAIL'}**" + ("" if not failures else
                                                                          " — " + "; ".join(failures)), ""]
        if plot:
            parts += [f"![per-dimension accuracy]({plot})", ""]
        dims = [d for d in DIMENSIONS if any(x.dimension == d.value for x in v.cells)]
        rows = []
        by = {(x.adversary, x.dimension): x for x in v.cells}
        names = sorted({x.adversary for x in v.cells}, key=lambda a: (-by[(a, "all")].accuracy, a))
        for a in names:
            allc = by[(a, "all")]
            row = [a, f"{_pct(allc.accuracy)}", "yes" if allc.tost_pass else "no"]
            for d in dims:
                x = by.get((a, d.value))
                row.append("–" if x is None else f"{_pct(x.accuracy)}{'†' if x.departs else ''}"
                           f"{'‡' if x.below else ''}"
                           f"{'' if x.tost_pass else '°'}")
            rows.append(row)
        parts += ["### Accuracy (%) per adversary", "",
                  f"TOST: equivalent to chance within ±{MARGIN_ALL} overall. Per dimension: † above chance after "
                  f"Holm, ‡ below chance after Holm; ° not shown equivalent within ±{MARGIN_DIM} (n too small for "
                  "most cells).", "",
                  markdown_table(["adversary", "all", f"TOST ±{MARGIN_ALL}", *(d.code for d in dims)], rows), ""]
    if c.drops:
        parts += ["## Dropped items", "", markdown_table(["id", "dimension", "reason"],
                                                         [[d.id, d.dimension.value, d.reason] for d in c.drops]), ""]
    return "\n".join(parts)


def plot_png(v: Verification) -> bytes:
    """Per dimension: the best adversary's accuracy and the chance level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dims = [d for d in DIMENSIONS if any(x.dimension == d.value for x in v.cells)]
    best = [max(x.accuracy for x in v.cells if x.dimension == d.value) * 100 for d in dims]
    chance = [next(x.chance for x in v.cells if x.dimension == d.value) * 100 for d in dims]
    fig, ax = plt.subplots(figsize=(7, 3.6))
    xs = range(len(dims))
    ax.bar(xs, best, 0.6, label="best adversary")
    ax.plot(xs, chance, "k--", label="chance")
    ax.axhline(v.max_dim["expected"] * 100, color="tab:red", linewidth=1,
               label="expected max under chance")
    ax.set_xticks(list(xs), [d.code for d in dims])
    ax.set_ylabel("text-only accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()
