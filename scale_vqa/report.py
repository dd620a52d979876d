"""Text tables for score reports, in the layout of the seed paper's results table."""

from __future__ import annotations

from collections.abc import Sequence

from .dimensions import DIMENSIONS
from .markdown import markdown_table
from .scoring import ScoreReport, compare


def pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a percentage with fixed decimals; ``—`` for None."""
    return "—" if x is None else f"{100 * x:.{digits}f}"


def seed_table(rows: Sequence[tuple[str, ScoreReport]]) -> str:
    """Markdown table: Model | Corresp. | Confirm. | Localiz. | Explan. | Diagno. | **AVG** (percent, 2 dp)."""
    header = ["Model", *(d.short for d in DIMENSIONS), "**AVG**"]
    body = [[name, *(pct(rep.per_dimension[d].accuracy.value) if d in rep.per_dimension else "—" for d in DIMENSIONS),
             pct(rep.macro)] for name, rep in rows]
    return markdown_table(header, body, "l" + "c" * (len(header) - 1))


def details(name: str, rep: ScoreReport) -> str:
    """Per-dimension counts, Wilson intervals, strict accuracy and format rate, then the overall lines."""
    kind = "CircularEval items" if rep.circular else "items"
    out = [f"{name}: {len(rep.results)} {kind}"]
    out.append(f"  {'dimension':<16}{'code':<8}{'n':>5}{'correct':>9}{'acc':>8}  {'95% CI':<15}"
               f"{'strict':>8}{'format':>8}")
    for dim, s in rep.per_dimension.items():
        lo, hi = s.accuracy.ci
        ci = f"[{pct(lo, 1)}, {pct(hi, 1)}]"
        out.append(f"  {dim.value:<16}{dim.code:<8}{s.accuracy.n:>5}{s.accuracy.correct:>9}"
                   f"{pct(s.accuracy.value):>8}  {ci:<15}{pct(s.strict.value):>8}{pct(s.format_rate):>8}")
    lo, hi = rep.macro_ci
    mlo, mhi = rep.micro.ci
    out.append(f"  macro (AVG)  {pct(rep.macro)}  [{pct(lo, 1)}, {pct(hi, 1)}]   "
               f"micro {pct(rep.micro.value)}  [{pct(mlo, 1)}, {pct(mhi, 1)}]   "
               f"({rep.micro.correct}/{rep.micro.n})")
    out.append(f"  strict accuracy: macro {pct(rep.strict_macro)}, micro {pct(rep.strict_micro.value)}   "
               f"format rate: {pct(rep.format_rate)}"
               + (f" ({rep.format_ok}/{rep.n_outputs} raw outputs)" if rep.n_outputs else " (no raw outputs)"))
    problems = [(status, rep.ids_with(status)) for status in ("missing", "partial", "unparsed", "invalid",
                                                              "conflict")]
    for status, ids in problems:
        if ids:
            label = {"missing": "missing (counted wrong)", "partial": "missing some rotations (counted wrong)",
                     "unparsed": "no answer found in output (counted wrong)",
                     "invalid": "letter not an option of the item (counted wrong)",
                     "conflict": "prediction contradicts its output (counted wrong)"}[status]
            out.append(f"  {label}: {len(ids)}  e.g. {', '.join(ids[:5])}")
    if rep.unknown_ids:
        out.append(f"  predictions for ids not in the key (ignored): {len(rep.unknown_ids)}  "
                   f"e.g. {', '.join(rep.unknown_ids[:5])}")
    return "\n".join(out)


def paired_lines(rows: Sequence[tuple[str, ScoreReport]]) -> str:
    """McNemar exact tests of every row against the first (same items)."""
    if len(rows) < 2:
        return ""
    ref_name, ref = rows[0]
    out = [f"paired tests against {ref_name} (McNemar exact, two-sided):"]
    for name, rep in rows[1:]:
        test = compare(rep, ref)
        out.append(f"  {name}: {100 * test.diff:+.2f} points; only {name} right {test.only_a}, "
                   f"only {ref_name} right {test.only_b}; p = {test.p_value:.3g}")
    return "\n".join(out)
