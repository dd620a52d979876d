"""The leaderboard table: one row per (submitter, model), ranked by the macro accuracy over the five dimensions
(the seed paper's AVG), with Wilson 95 % CIs, strict accuracy, format rate, the model's blind (text-only) score
when it was submitted with the image gain (standard minus blind; 0 when the blind run answers the same), and a
"tied" mark when a paired test cannot tell the row from the one above it.
Under a private key (``private=True``) every number is the one disclosed to the submitter (the Ladder's rounded
scores, :mod:`leaderboard_app.ladder`), never the exact stored score, and no paired test of hidden correctness is
shown; under a public key the exact scores are shown and the rows are marked self-reported.
Seed rows — papers' published numbers and baselines measured by Scale-VQA (:mod:`leaderboard_app.seed_rows`) — are
shown as such below the ranked rows, never ranked or mixed with them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import Item
from scale_vqa.stats import paired_test, wilson_interval

from .ladder import rounded
from .seed_rows import SeedRow
from .store import Row

TIE_ALPHA = 0.05


@dataclass(frozen=True)
class TableRow:
    rank: int | None
    model: str
    source: str
    """``measured`` (a submission scored here), ``published`` (a paper's number) or ``baseline`` (a reference
    row measured by Scale-VQA)."""
    submitter: str
    link: str
    macro: float
    macro_ci: tuple[float, float] | None
    dims: tuple[float, ...]
    dim_cis: tuple[tuple[float, float], ...] | None
    strict: float | None
    format_rate: float | None
    blind: float | None
    tied_with_above: bool
    row_id: int | None
    image_gain: float | None = None
    """Standard minus blind macro accuracy (None without a blind run; 0 when the blind run answers the same)."""
    verified: bool = False
    """A maintainer reproduced the run (``scale-vqa leaderboard admin verify``)."""
    self_reported: bool = False
    """Scored against a public key (its answers are released): anyone could have reached it by copying them."""
    identity: str = ""
    """``typed`` (a name typed into the form: unverified), ``oauth`` (a signed-in account); empty for seed rows."""

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["dimensions"] = {dim.value: v for dim, v in zip(DIMENSIONS, self.dims, strict=True)}
        return d


def _correct(row: Row, key: Sequence[Item]) -> list[bool]:
    return [row.letters.get(it.id) == it.answer for it in key]


def build_table(rows: Sequence[Row], key: Sequence[Item], *, split: str | None = None,
                seed_rows: Sequence[SeedRow] = (), private: bool = False) -> list[TableRow]:
    """Submitted rows (held-back and retracted ones excluded) ranked by macro accuracy, then the seed rows of
    `split` (all of them when None). `private`: show only disclosed (rounded) numbers (module docstring)."""
    out = _private_rows(rows) if private else _public_rows(rows, key)
    for p in seed_rows:
        if split is None or p.split == split:
            out.append(TableRow(None, p.name, p.source, p.provenance.split(";")[0], p.link, p.avg, p.avg_ci, p.dims,
                                p.dim_cis, None, None, None, False, None))
    return out


def _latest(rows: Sequence[Row], variant: str) -> dict[tuple[str, str], Row]:
    latest: dict[tuple[str, str], Row] = {}
    for r in sorted((r for r in rows if r.variant == variant and r.status == "published"), key=lambda r: r.created):
        latest[(r.submitter, r.model)] = r
    return latest


def _public_rows(rows: Sequence[Row], key: Sequence[Item]) -> list[TableRow]:
    blind = _latest(rows, "blind")
    ranked = sorted(_latest(rows, "standard").values(), key=lambda r: -r.scores["macro"]["acc"])
    out: list[TableRow] = []
    prev: Row | None = None
    for i, r in enumerate(ranked, 1):
        s = r.scores
        per = [s["per_dimension"].get(d.value) for d in DIMENSIONS]
        tied = prev is not None and paired_test(_correct(prev, key), _correct(r, key)).p_value >= TIE_ALPHA
        b = blind.get((r.submitter, r.model))
        blind_acc = b.scores["macro"]["acc"] if b else None
        gain = None if b is None else 0.0 if b.letters == r.letters else s["macro"]["acc"] - blind_acc
        out.append(TableRow(
            i, r.model, "measured", r.submitter, r.link, s["macro"]["acc"], tuple(s["macro"]["ci95"]),
            tuple(p["acc"] if p else float("nan") for p in per),
            tuple(tuple(p["ci95"]) if p else (float("nan"), float("nan")) for p in per),
            s["strict_macro"], s["format_rate"], blind_acc, tied, r.id, gain, r.verified, True, r.identity))
        prev = r
    return out


def _disclosed(r: Row) -> dict | None:
    """The row's disclosed numbers; rows stored before the Ladder (or under a public key) are rounded here."""
    d = r.disclosed
    if d is None or d.get("self_reported"):
        return rounded(r.scores, 0.01)
    return d if d.get("shown") else None


def _private_rows(rows: Sequence[Row]) -> list[TableRow]:
    shown = [r for r in rows if _disclosed(r) is not None]
    blind = _latest(shown, "blind")
    ranked = sorted(_latest(shown, "standard").values(), key=lambda r: -_disclosed(r)["macro"])  # type: ignore[index]
    out: list[TableRow] = []
    for i, r in enumerate(ranked, 1):
        d = _disclosed(r) or {}
        n = int(d["n_items"])
        b = blind.get((r.submitter, r.model))
        blind_acc = (_disclosed(b) or {})["macro"] if b else None
        gain = None if b is None else 0.0 if b.letters == r.letters else d["macro"] - blind_acc
        per = d["per_dimension"]
        out.append(TableRow(
            i, r.model, "measured", r.submitter, r.link, d["macro"], wilson_interval(round(d["macro"] * n), n),
            tuple(per.get(dim.value, float("nan")) for dim in DIMENSIONS), None, d["strict_macro"],
            d["format_rate"], blind_acc, False, r.id, gain, r.verified, False, r.identity))
    return out


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}"


def _ci(c: tuple[float, float] | None) -> str:
    return "" if c is None else f" [{100 * c[0]:.1f}–{100 * c[1]:.1f}]"


def _gain(x: float | None) -> str:
    return "–" if x is None or x != x else "0.0" if x == 0 else f"{100 * x:+.1f}"


HEADERS = ["#", "Model", "Source", "AVG [95% CI]", *(f"{d.short}" for d in DIMENSIONS), "Strict", "Format",
           "Blind", "Image gain", "Submitter", "Tied"]


def display_rows(table: Sequence[TableRow], counts: dict[str, int] | None = None) -> list[list[str]]:
    """Pre-formatted cells for the page (Gradio shows numbers as given)."""
    counts = counts or {}
    out = []
    for r in table:
        cis = r.dim_cis or (None,) * len(DIMENSIONS)
        who = r.submitter if r.source != "measured" else f"{r.submitter} ({counts.get(r.submitter, 0)} submissions)"
        who += " · typed name, unverified" if r.identity == "typed" else ""
        out.append([
            "" if r.rank is None else str(r.rank), r.model,
            r.source + (" · self-reported" if r.self_reported else "") + (" · verified" if r.verified else ""),
            _pct(r.macro) + _ci(r.macro_ci), *(_pct(v) + _ci(c) for v, c in zip(r.dims, cis, strict=True)),
            _pct(r.strict), _pct(r.format_rate), _pct(r.blind), _gain(r.image_gain), who,
            "≈ row above (paired test p ≥ 0.05)" if r.tied_with_above else ""])
    return out


MAX_CELL = 1000
"""Characters of a text cell in the CSV export (far below the csv module's field limit; names are shorter)."""
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_text(value: str) -> str:
    """A text cell that a spreadsheet will not run: one starting with ``= + - @``, a tab or a CR gets a leading
    ``'`` (OWASP's CSV-injection advice), and it is cut to :data:`MAX_CELL` characters."""
    value = value if len(value) <= MAX_CELL else value[:MAX_CELL - 1] + "…"
    return "'" + value if value.startswith(_FORMULA_START) else value


def to_csv(table: Sequence[TableRow]) -> str:
    """The CSV export: names escaped (:func:`csv_text`), numbers as numbers."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["rank", "model", "source", "submitter", "macro", "macro_lo", "macro_hi",
                *(d.value for d in DIMENSIONS), "strict", "format_rate", "blind", "image_gain", "verified",
                "tied_with_above", "self_reported", "identity"])
    for r in table:
        lo, hi = r.macro_ci or (None, None)
        w.writerow([r.rank, csv_text(r.model), csv_text(r.source), csv_text(r.submitter), r.macro, lo, hi, *r.dims,
                    r.strict, r.format_rate, r.blind, r.image_gain, r.verified, r.tied_with_above,
                    r.self_reported, r.identity])
    return buf.getvalue()


def to_json(table: Sequence[TableRow]) -> str:
    return json.dumps([r.to_dict() for r in table], indent=2, ensure_ascii=False)
