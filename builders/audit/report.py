"""Everything the audit writes: ``audit.json``, ``report.md``, ``report.html`` (with the per-dimension plot),
``flags.jsonl``, the console table, and the hard subset with its construction record."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

from builders.audit.engine import AdversaryResult, AuditResult
from scale_vqa.atomic import atomic_write_bytes, atomic_write_text
from scale_vqa.dimensions import DIMENSIONS, Dimension
from scale_vqa.leakstats import LeakStat
from scale_vqa.markdown import markdown_table
from scale_vqa.release import write_release

PLOT = "per_dimension.png"
COLUMNS = ["all", *(d.value for d in DIMENSIONS)]
HEADERS = ["All", *(d.code for d in DIMENSIONS)]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _p(p: float) -> str:
    return "<1e-300" if p <= 0 else (f"{p:.2g}" if p < 0.001 else f"{p:.3f}")


def _cell(s: LeakStat | None, ci: bool = True) -> str:
    if s is None:
        return "–"
    star = "*" if s.p_value < 0.01 else ""
    return f"{_pct(s.accuracy)}{star} [{_pct(s.ci[0])}–{_pct(s.ci[1])}]" if ci else f"{_pct(s.accuracy)}{star}"


def ranked(audit: AuditResult) -> list[AdversaryResult]:
    return sorted(audit.adversaries, key=lambda a: -a.stats["all"].accuracy)


def _splitter(audit: AuditResult) -> dict[str, str]:
    """Which splitter made the grouped folds (scikit-learn's, whose order of equal-sized slides is stable from
    1.9 on): the same folds as the hand-written splitter of earlier versions of this toolkit."""
    if not audit.folds:
        return {}
    import sklearn

    return {"splitter": f"scikit-learn {sklearn.__version__} GroupKFold"}


def to_json(audit: AuditResult) -> dict[str, object]:
    cal = audit.calibration
    return {
        "source": audit.source, "n_items": len(audit.items), "seed": audit.seed,
        "fit": {"fit_on": audit.fit_on, "grouped_folds": audit.folds, "group_by": "wsi_name", **_splitter(audit)},
        "chance": audit.adversaries[0].stats["all"].chance if audit.adversaries else None,
        "best": audit.best.name if audit.adversaries else None,
        "adversaries": [a.to_dict() for a in audit.adversaries],
        "artifact_checks": [c.to_dict() for c in audit.checks],
        "edit_profile": audit.profile.to_dict(),
        "file_structure": audit.structure,
        "flags": cal.to_dict(),
        "residual": {"n": audit.residual_n, "rows": [
            {"name": r.name, "method": r.method, "n": r.n,
             "accuracy": {k: v.accuracy for k, v in r.stats.items()},
             "stats": {k: v.to_dict() for k, v in r.stats.items()}} for r in audit.residual]},
    }


def flag_records(audit: AuditResult) -> list[dict[str, object]]:
    names = [a.name for a in audit.adversaries]
    return [{"id": it.id, "dimension": it.dimension.value, "answer": it.answer, "gold_votes": audit.gold_counts[i],
             "flagged": audit.flags[i],
             "picked_gold": [n for n, a in zip(names, audit.adversaries, strict=True) if a.correct[i]]}
            for i, it in enumerate(audit.items)]


def console_table(audit: AuditResult) -> str:
    """The per-dimension table: accuracy % (* = above chance at p < 0.01), Wilson 95 % CI, p, κ."""
    n = len(audit.items)
    dims = [d for d in DIMENSIONS if d.value in audit.adversaries[0].stats]
    chance = audit.adversaries[0].stats["all"].chance
    lines = [f"text-only leak audit of {audit.source or 'input'}: {n} items, chance {_pct(chance)} %, "
             f"{'fitted on ' + audit.fit_on if audit.fit_on else f'grouped {audit.folds}-fold CV by slide'}"
             if audit.folds or audit.fit_on else
             f"text-only leak audit of {audit.source or 'input'}: {n} items, chance {_pct(chance)} %"]
    head = f"{'adversary':<18} {'all [95% CI]':>20} {'p':>8} {'κ':>6} " + " ".join(f"{d.code:>13}" for d in dims)
    lines += ["", "accuracy % (* above chance, p<0.01), Wilson 95 % CI; per dimension: acc [CI half-width]",
              head, "-" * len(head)]
    for a in ranked(audit):
        s = a.stats["all"]
        per = " ".join(f"{_pct(a.stats[d.value].accuracy) + ('*' if a.stats[d.value].p_value < 0.01 else ''):>7}"
                       f" ±{50 * (a.stats[d.value].ci[1] - a.stats[d.value].ci[0]):>4.1f}" for d in dims)
        lines.append(f"{a.name:<18} {_cell(s):>20} {_p(s.p_value):>8} {s.kappa:>6.2f} {per}")
    cal = audit.calibration
    lines += ["", f"per-item flags: ≥{cal.k} of {cal.m} adversaries pick the gold → {cal.flagged} flagged "
                  f"({_pct(cal.leak_rate)} %); expected false flags {cal.expected_false_flags:.1f} "
                  f"(false-flag rate {_pct(cal.false_flag_rate_permuted)} % permuted / "
                  f"{_pct(cal.false_flag_rate_uniform)} % uniform null); excess ≥ {max(0.0, cal.excess):.1f} items",
              "  " + ", ".join(f"{Dimension(d).code} {cal.flagged_per_dimension[d]} "
                               f"(exp {cal.expected_per_dimension[d]:.1f})" for d in cal.flagged_per_dimension)]
    if audit.structure:
        lines += ["", "file structure: " + structure_sentence(audit.structure).replace("`", "")]
    leaks = [c for c in audit.checks if c.direction != "chance"]
    lines += ["", "generator artifacts (two-sided exact test, p<0.01):"]
    lines += [f"  {c.name:<24} {c.hits}/{c.n} = {_pct(c.rate)} % vs chance {_pct(c.chance)} % "
              f"(p={_p(c.p_value)}, {c.direction})" for c in leaks] or ["  none"]
    if audit.residual:
        best = max((r for r in audit.residual if r.stats), key=lambda r: r.stats["all"].accuracy, default=None)
        if best is not None:
            lines += ["", f"hard subset: {audit.residual_n} unflagged items; best residual text-only accuracy "
                          f"{_cell(best.stats['all'])} ({best.name}, {best.method})"]
    return "\n".join(lines)


def structure_sentence(s: dict[str, int]) -> str:
    """What the file offers the adversaries that read it whole, in words."""
    if s["recurring_texts"]:
        freq = (f"{s['recurring_texts']} option texts are offered by more than one item (at most "
                f"{s['max_frequency']}), which `option_frequency` can exploit")
    else:
        freq = "every option text is offered by one item only, so `option_frequency` can only guess"
    if s["shared_sets"]:
        joint = (f"{s['items_in_shared_sets']} items share their option set with others ({s['shared_sets']} "
                 f"sets, the largest of {s['largest_shared_set']} items): the `joint_*` adversaries solve each set "
                 "together and answer the other items alone")
    else:
        joint = "no two items share an option set, so the `joint_*` adversaries answer each item alone (as `qo_*`)"
    return f"{freq[0].upper()}{freq[1:]}; {joint}."


def markdown(audit: AuditResult, plot_name: str | None = PLOT) -> str:
    cal = audit.calibration
    chance = audit.adversaries[0].stats["all"].chance
    fit = (f"trainable adversaries fitted on `{audit.fit_on}`" if audit.fit_on else
           f"trainable adversaries cross-fitted with grouped {audit.folds}-fold CV by slide" if audit.folds else
           "no trainable adversaries")
    parts = [
        f"# Text-only leak audit: `{audit.source}`", "",
        f"{len(audit.items)} items; chance {_pct(chance)} %; {fit}; seed {audit.seed}. "
        "Adversaries see only the question and the options, never an image.", "",
        "## Adversaries", "",
        "Accuracy % with Wilson 95 % CI; `*` = above chance at p < 0.01 (exact one-sided binomial); "
        "κ = (acc − 1/K)/(1 − 1/K), the implied share of text-solvable items; *shuffled* = accuracy with the "
        "options re-ordered (a content-driven shortcut keeps it, a position bias loses it); *agree* = share of "
        "items where the shuffled run picked the same option text.", "",
    ]
    rows = []
    for a in ranked(audit):
        s = a.stats["all"]
        rows.append([f"`{a.name}`", a.kind, _cell(s), _p(s.p_value), f"{s.kappa:.2f}",
                     *(_cell(a.stats.get(c), ci=False) for c in COLUMNS[1:]),
                     _pct(a.shuffled_stats.accuracy) if a.shuffled_stats else "–",
                     f"{a.content_agreement:.2f}" if a.content_agreement is not None else "–"])
    parts.append(markdown_table(["adversary", "kind", "all [95 % CI]", "p", "κ", *HEADERS[1:], "shuffled", "agree"],
                           rows))
    if plot_name:
        parts += ["", f"![per-dimension accuracy]({plot_name})"]
    parts += ["", "### What each adversary does", "",
              markdown_table(["adversary", "kind", "rule", "fitted"],
                             [[f"`{a.name}`", a.kind, a.description, a.fit] for a in audit.adversaries])]
    if audit.structure:
        parts += ["", "### File structure", "", structure_sentence(audit.structure)]
    parts += ["", "### Per dimension", "",
              "Every adversary above chance (p < 0.01) in the dimension, with its 95 % CI, p-value, κ and the "
              "implied share of text-solvable items.", ""]
    for col, head in zip(COLUMNS[1:], HEADERS[1:], strict=True):
        sig = [a for a in ranked(audit) if col in a.stats and a.stats[col].p_value < 0.01]
        sig.sort(key=lambda a: -a.stats[col].accuracy)
        if col not in audit.adversaries[0].stats:
            continue
        n = audit.adversaries[0].stats[col].n
        parts += [f"**{head} {Dimension(col).value}** ({n} items): "
                  + ("; ".join(f"`{a.name}` {_cell(a.stats[col])}, p={_p(a.stats[col].p_value)}, "
                               f"κ={a.stats[col].kappa:.2f} (≈{_pct(a.stats[col].text_solvable)} % text-solvable)"
                               for a in sig) or "no adversary above chance"), ""]
    parts += ["", "## Per-item flags", "",
              f"An item is flagged when at least **{cal.k} of {cal.m}** adversaries pick its gold option. The "
              f"threshold is the smallest with a false-flag rate ≤ {_pct(cal.target)} % under both nulls "
              f"(gold permuted within dimension, {cal.permutations}×: {_pct(cal.false_flag_rate_permuted)} %; "
              f"gold uniform: {_pct(cal.false_flag_rate_uniform)} %).", "",
              f"**{cal.flagged} flagged** ({_pct(cal.leak_rate)} %), **{cal.expected_false_flags:.1f} expected** "
              f"false flags, so at least **{max(0.0, cal.excess):.1f}** items leak. Adversaries are correlated: "
              "trust the excess, not any single flag.", ""]
    parts.append(markdown_table(["dimension", "items", "flagged", "expected false flags"],
                           [[f"{Dimension(d).code} {d}", str(cal.n_per_dimension[d]), str(cal.flagged_per_dimension[d]),
                             f"{cal.expected_per_dimension[d]:.1f}"] for d in cal.flagged_per_dimension]))
    parts += ["", "## Generator artifacts", "",
              "Items where a property singles out one option; how often that option is gold, against chance, with "
              "an exact two-sided test (a rule far *below* chance also leaks: it lets a test-taker eliminate "
              "options).", ""]
    parts.append(markdown_table(["check", "items", "gold", "rate", "chance", "p (two-sided)", "verdict"],
                           [[c.description, str(c.n), str(c.hits), _pct(c.rate), _pct(c.chance), _p(c.p_value),
                             {"chance": "ok", "above": "**leaks (above)**", "below": "**leaks (below)**"}[c.direction]]
                            for c in audit.checks]))
    prof = audit.profile.to_dict()
    parts += ["", f"Distractor edits: {_pct(prof['gold_share'])} % of gold–distractor pairs are a single "
                  f"contiguous word edit apart, against {_pct(prof['other_share'])} % of distractor–distractor "
                  f"pairs. Gold length rank (1 = longest, items whose options all differ in length): "
                  + ", ".join(f"{k}: {v}" for k, v in prof["length_rank_counts"].items()) + "."]
    if audit.residual:
        parts += ["", "## Hard subset (unflagged items)", "",
                  f"{audit.residual_n} items are not flagged. Their residual text-only accuracy is measured without "
                  "circularity: *leave-one-out* scores each adversary on the subset selected by the *other* "
                  "adversaries; *refit* trains each learned adversary afresh on the subset (grouped by slide) and "
                  "scores held-out slides only.", ""]
        parts.append(markdown_table(["adversary", "method", "items", "all [95 % CI]", *HEADERS[1:]],
                               [[f"`{r.name}`", r.method, str(r.n), _cell(r.stats.get("all")),
                                 *(_cell(r.stats.get(c)) for c in COLUMNS[1:])]
                                for r in sorted(audit.residual, key=lambda r: -(r.stats["all"].accuracy
                                                                               if r.stats else 0))]))
    return "\n".join(parts) + "\n"


def plot_png(audit: AuditResult, top: int = 6) -> bytes:
    """Per-dimension accuracy of the top adversaries with 95 % CIs, chance line; flags vs expected."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    best = ranked(audit)[:top]
    cols = [c for c in COLUMNS if c in best[0].stats]
    labels = ["All" if c == "all" else f"{Dimension(c).code}\n{Dimension(c).short}" for c in cols]
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(13, 4.6), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.8 / len(best)
    x = np.arange(len(cols))
    for j, a in enumerate(best):
        acc = np.array([a.stats[c].accuracy for c in cols]) * 100
        lo = np.clip(acc - np.array([a.stats[c].ci[0] for c in cols]) * 100, 0, None)
        hi = np.clip(np.array([a.stats[c].ci[1] for c in cols]) * 100 - acc, 0, None)
        ax.bar(x + (j - (len(best) - 1) / 2) * width, acc, width, yerr=[lo, hi], capsize=2, label=a.name)
    chance = best[0].stats["all"].chance * 100
    ax.axhline(chance, color="black", linestyle="--", linewidth=1, label=f"chance {chance:.0f} %")
    ax.set_xticks(x, labels)
    ax.set_ylabel("text-only accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Text-only adversaries per dimension (95 % Wilson CI)")
    ax.legend(fontsize=8, ncol=2, loc="upper left")
    cal = audit.calibration
    dims = list(cal.flagged_per_dimension)
    xd = np.arange(len(dims))
    ax2.bar(xd - 0.2, [cal.flagged_per_dimension[d] for d in dims], 0.4, label="flagged")
    ax2.bar(xd + 0.2, [cal.expected_per_dimension[d] for d in dims], 0.4, label="expected false flags")
    ax2.set_xticks(xd, [Dimension(d).code for d in dims])
    ax2.set_title(f"Leak flags (≥{cal.k} of {cal.m} adversaries)")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


STYLE = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
         "table{border-collapse:collapse;margin:1em 0;font-size:14px}th,td{border:1px solid #ccc;"
         "padding:4px 8px;text-align:left}th{background:#f3f3f3}tr:nth-child(even){background:#fafafa}"
         "img{max-width:100%}code{background:#f3f3f3;padding:0 3px}")


def html_page(md_text: str, png: bytes | None, plot_name: str = PLOT) -> str:
    """A self-contained HTML rendering of the Markdown report (markdown-it-py, CommonMark with tables; raw HTML
    in the text is escaped), with the plot `plot_name` inlined from `png`."""
    from markdown_it import MarkdownIt

    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(md_text)
    if png is not None:
        src = "data:image/png;base64," + base64.b64encode(png).decode()
        for token in tokens:
            for child in token.children or ():
                if child.type == "image" and child.attrGet("src") == plot_name:
                    child.attrSet("src", src)
    body = md.renderer.render(tokens, md.options, {})
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>Scale-VQA leak audit</title>"
            f"<style>{STYLE}</style></head><body>\n{body}</body></html>\n")


def write_reports(audit: AuditResult, out: Path) -> dict[str, Path]:
    """Write every report file into `out` (each atomically); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    png = plot_png(audit) if audit.adversaries else None
    paths = {"json": out / "audit.json", "markdown": out / "report.md", "html": out / "report.html",
             "flags": out / "flags.jsonl", "plot": out / PLOT}
    atomic_write_text(paths["json"], json.dumps(to_json(audit), indent=2, ensure_ascii=False) + "\n")
    md_text = markdown(audit, PLOT if png else None)
    atomic_write_text(paths["markdown"], md_text)
    atomic_write_text(paths["html"], html_page(md_text, png))
    atomic_write_text(paths["flags"], "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in flag_records(audit)))
    if png is not None:
        atomic_write_bytes(paths["plot"], png)
    return paths


def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_subset(audit: AuditResult, path: Path, *, source_path: str | None = None) -> Path:
    """Write the unflagged items (release format) and ``<name>.construction.json`` beside them."""
    keep = [it for it, f in zip(audit.items, audit.flags, strict=True) if not f]
    cal = audit.calibration
    record = {
        "source": audit.source, "source_sha256": file_sha256(source_path) if source_path else None,
        "n_source": len(audit.items), "n_kept": len(keep), "n_flagged": cal.flagged,
        "rule": f"drop items where >= {cal.k} of {cal.m} text-only adversaries pick the gold option",
        "threshold": cal.k, "adversaries": [a.name for a in audit.adversaries],
        "fit": audit.fit_on or f"grouped {audit.folds}-fold CV by slide", "seed": audit.seed,
        "false_flag_rate": {"permuted": cal.false_flag_rate_permuted, "uniform": cal.false_flag_rate_uniform},
        "permutations": cal.permutations,
        "kept_ids": [it.id for it in keep],
        "residual": to_json(audit)["residual"],
    }
    write_release(keep, path)
    construction = path.with_name(path.name.removesuffix(".json").removesuffix(".jsonl") + ".construction.json")
    atomic_write_text(construction, json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return construction
