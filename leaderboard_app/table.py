"""The leaderboard table: one row per (submitter, model), ranked by the macro accuracy over the five dimensions
(the seed paper's AVG) or by one dimension (`rank_by`), with Wilson 95 % CIs, strict accuracy, format rate, the
model's blind (text-only) score when it was submitted with the image gain (standard minus blind; 0 when the blind
run answers the same) and its 95 % CI (flagged when it includes 0), the matched-configuration run's score when
there is one, a "tied" mark when a paired test cannot tell the row from the one above it, and the run's provenance
(its run.json, or self-reported) and the model's details (parameters, weights, licence, release date).
Rows whose runs used different prompt formats are never ranked together: each format is ranked on its own (the
rank restarts, the Prompt format column says which), rows without a run.json saying so under ``unknown``.
Under a private key (``private=True``) every number is the one disclosed to the submitter (the Ladder's rounded
scores, :mod:`leaderboard_app.ladder`), never the exact stored score, and no paired test of hidden correctness is
shown (the image gain's CI is then the unpaired normal interval of the two disclosed scores); under a public key
the exact scores are shown, the rows are marked self-reported, and the image gain's CI is a paired bootstrap over
the same items (:func:`scale_vqa.stats.paired_bootstrap_macro`).
Seed rows — papers' published numbers and baselines measured by Scale-VQA (:mod:`leaderboard_app.seed_rows`) — are
shown as such below the ranked rows, never ranked or mixed with them."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scale_vqa.dimensions import DIMENSIONS
from scale_vqa.item import Item
from scale_vqa.stats import Z95, paired_bootstrap_macro, paired_test, wilson_interval

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
    prompt_format: str = ""
    """The prompt format of the run (``unknown`` without a run.json saying it; empty for seed rows)."""
    gain_ci: tuple[float, float] | None = None
    """95 % CI of the image gain."""
    matched: float | None = None
    """Macro accuracy of the same model's matched-configuration run (None without one)."""
    run: dict[str, Any] | None = None
    """The provenance of the row's run.json (None: self-reported)."""
    info: dict[str, Any] | None = None
    """The model's details as submitted (``params_b``, ``weights``, ``licence``, ``released``)."""

    @property
    def gain_uncertain(self) -> bool:
        """The image gain's CI includes 0: the images may not help at all."""
        return self.gain_ci is not None and self.gain_ci[0] <= 0 <= self.gain_ci[1]

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["dimensions"] = {dim.value: v for dim, v in zip(DIMENSIONS, self.dims, strict=True)}
        return d


def _correct(row: Row, key: Sequence[Item]) -> list[bool]:
    return [row.letters.get(it.id) == it.answer for it in key]


FORMAT_ORDER = ("seed", "labelled", "seed_sft")
"""Prompt formats in the order their rankings are shown (others alphabetically after them, ``unknown`` last)."""


def format_order(fmt: str) -> tuple[int, str]:
    return (FORMAT_ORDER.index(fmt) if fmt in FORMAT_ORDER else len(FORMAT_ORDER) + (fmt == "unknown"), fmt)


def build_table(rows: Sequence[Row], key: Sequence[Item], *, split: str | None = None,
                seed_rows: Sequence[SeedRow] = (), private: bool = False, rank_by: str = "macro") -> list[TableRow]:
    """Submitted rows (held-back and retracted ones excluded) ranked by macro accuracy (or by the dimension
    `rank_by`) within each prompt format, then the seed rows of `split` (all of them when None). `private`: show
    only disclosed (rounded) numbers (module docstring)."""
    if rank_by != "macro" and rank_by not in {d.value for d in DIMENSIONS}:
        raise ValueError(f"rank_by: 'macro' or a dimension ({', '.join(d.value for d in DIMENSIONS)}), "
                         f"got {rank_by!r}")
    out = _private_rows(rows, rank_by) if private else _public_rows(rows, key, rank_by)
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


def _ranked(standard: Sequence[Row], score: Callable[[Row], float]) -> list[tuple[int, Row, bool]]:
    """(rank, row, first of its format) in display order: each prompt format ranked on its own."""
    out: list[tuple[int, Row, bool]] = []
    for fmt in sorted({r.prompt_format for r in standard}, key=format_order):
        group = sorted((r for r in standard if r.prompt_format == fmt), key=lambda r: -score(r))
        out += [(i, r, i == 1) for i, r in enumerate(group, 1)]
    return out


def _strata(row: Row, key: Sequence[Item], dims: Sequence[str]) -> list[list[bool]]:
    return [[row.letters.get(it.id) == it.answer for it in key if it.dimension.value == d] for d in dims]


_GAIN_CIS: dict[tuple[str, ...], tuple[float, float]] = {}
GAIN_REPS = 400
"""Bootstrap resamples of an image gain's CI (~0.4 s for 1005 items; each pair is computed once per process)."""


def paired_gain_ci(std: Row, blind: Row, key: Sequence[Item], key_id: str) -> tuple[float, float]:
    """95 % paired-bootstrap CI of standard − blind macro accuracy over the same items (cached per pair)."""
    if std.letters == blind.letters:
        return 0.0, 0.0
    cache = (key_id, std.file_sha256, std.variant, blind.file_sha256, blind.variant)
    if cache not in _GAIN_CIS:
        dims = [d.value for d in DIMENSIONS]
        pairs = list(zip(_strata(std, key, dims), _strata(blind, key, dims), strict=True))
        _, lo, hi = paired_bootstrap_macro(pairs, reps=GAIN_REPS)
        if len(_GAIN_CIS) > 4096:
            _GAIN_CIS.clear()
        _GAIN_CIS[cache] = (lo, hi)
    return _GAIN_CIS[cache]


def unpaired_gain_ci(std: float, blind: float, n: int) -> tuple[float, float]:
    """95 % normal CI of the difference of two accuracies over `n` items each, as if independent (conservative
    for the same items; what a private key can show without revealing per-item correctness)."""
    half = Z95 * math.sqrt(max(std * (1 - std), 0) / n + max(blind * (1 - blind), 0) / n) if n else 0.0
    return std - blind - half, std - blind + half


def _key_id(key: Sequence[Item]) -> str:
    return hashlib.sha256("\n".join(f"{it.id}\t{it.answer}" for it in key).encode()).hexdigest()


def _public_rows(rows: Sequence[Row], key: Sequence[Item], rank_by: str = "macro") -> list[TableRow]:
    blind, matched = _latest(rows, "blind"), _latest(rows, "matched")

    def score(r: Row) -> float:
        cell = r.scores["macro"] if rank_by == "macro" else r.scores["per_dimension"].get(rank_by)
        return cell["acc"] if cell else -1.0

    items = key if rank_by == "macro" else [it for it in key if it.dimension.value == rank_by]
    key_id = _key_id(key)
    out: list[TableRow] = []
    prev: Row | None = None
    for i, r, first in _ranked(list(_latest(rows, "standard").values()), score):
        s = r.scores
        per = [s["per_dimension"].get(d.value) for d in DIMENSIONS]
        tied = not first and prev is not None and paired_test(_correct(prev, items),
                                                              _correct(r, items)).p_value >= TIE_ALPHA
        b = blind.get((r.submitter, r.model))
        blind_acc = b.scores["macro"]["acc"] if b else None
        gain = None if b is None else 0.0 if b.letters == r.letters else s["macro"]["acc"] - blind_acc
        m = matched.get((r.submitter, r.model))
        out.append(TableRow(
            i, r.model, "measured", r.submitter, r.link, s["macro"]["acc"], tuple(s["macro"]["ci95"]),
            tuple(p["acc"] if p else float("nan") for p in per),
            tuple(tuple(p["ci95"]) if p else (float("nan"), float("nan")) for p in per),
            s["strict_macro"], s["format_rate"], blind_acc, tied, r.id, gain, r.verified, True, r.identity,
            r.prompt_format, None if b is None else paired_gain_ci(r, b, key, key_id),
            m.scores["macro"]["acc"] if m else None, r.run, r.info))
        prev = r
    return out


def _disclosed(r: Row) -> dict | None:
    """The row's disclosed numbers; rows stored before the Ladder (or under a public key) are rounded here."""
    d = r.disclosed
    if d is None or d.get("self_reported"):
        return rounded(r.scores, 0.01)
    return d if d.get("shown") else None


def _private_rows(rows: Sequence[Row], rank_by: str = "macro") -> list[TableRow]:
    shown = [r for r in rows if _disclosed(r) is not None]
    blind, matched = _latest(shown, "blind"), _latest(shown, "matched")

    def score(r: Row) -> float:
        d = _disclosed(r) or {}
        return d["macro"] if rank_by == "macro" else d["per_dimension"].get(rank_by, -1.0)

    out: list[TableRow] = []
    for i, r, _ in _ranked(list(_latest(shown, "standard").values()), score):
        d = _disclosed(r) or {}
        n = int(d["n_items"])
        b = blind.get((r.submitter, r.model))
        blind_acc = (_disclosed(b) or {})["macro"] if b else None
        gain = None if b is None else 0.0 if b.letters == r.letters else d["macro"] - blind_acc
        gain_ci = None if b is None or blind_acc is None else (0.0, 0.0) if gain == 0 else \
            unpaired_gain_ci(d["macro"], blind_acc, n)
        m = matched.get((r.submitter, r.model))
        per = d["per_dimension"]
        out.append(TableRow(
            i, r.model, "measured", r.submitter, r.link, d["macro"], wilson_interval(round(d["macro"] * n), n),
            tuple(per.get(dim.value, float("nan")) for dim in DIMENSIONS), None, d["strict_macro"],
            d["format_rate"], blind_acc, False, r.id, gain, r.verified, False, r.identity, r.prompt_format,
            gain_ci, (_disclosed(m) or {}).get("macro") if m else None, r.run, r.info))
    return out


def filter_table(table: Sequence[TableRow], *, weights: str | None = None, min_params: float | None = None,
                 max_params: float | None = None, licence: str | None = None, released_from: str | None = None,
                 prompt_format: str | None = None) -> list[TableRow]:
    """The rows whose model details match every filter given (a row that does not state a filtered detail, such as
    a seed row, does not match it). `licence`: a case-insensitive part of the licence; `released_from`: ``YYYY``,
    ``YYYY-MM`` or ``YYYY-MM-DD`` (rows released then or later)."""
    def keep(r: TableRow) -> bool:
        info = r.info or {}
        params = info.get("params_b")
        if weights and info.get("weights") != weights:
            return False
        if min_params is not None and (params is None or params < min_params):
            return False
        if max_params is not None and (params is None or params > max_params):
            return False
        if licence and licence.casefold() not in str(info.get("licence", "")).casefold():
            return False
        if released_from and str(info.get("released", "")) < released_from:
            return False
        return not prompt_format or r.prompt_format == prompt_format

    return [r for r in table if keep(r)]


def _pct(x: float | None) -> str:
    return "–" if x is None or x != x else f"{100 * x:.1f}"


def _ci(c: tuple[float, float] | None) -> str:
    return "" if c is None else f" [{100 * c[0]:.1f}–{100 * c[1]:.1f}]"


def _gain(x: float | None) -> str:
    return "–" if x is None or x != x else "0.0" if x == 0 else f"{100 * x:+.1f}"


def gain_cell(r: TableRow) -> str:
    """The image gain with its CI, flagged when the CI includes 0."""
    if r.image_gain is None or r.image_gain != r.image_gain:
        return "–"
    text = _gain(r.image_gain)
    if r.gain_ci is not None:
        text += f" [{100 * r.gain_ci[0]:+.1f}, {100 * r.gain_ci[1]:+.1f}]"
    return text + (" · CI includes 0" if r.gain_uncertain else "")


def provenance_cell(r: TableRow) -> str:
    """``model@revision · scale-vqa X · date`` from the row's run.json, or self-reported without one."""
    if r.source != "measured":
        return ""
    if not r.run:
        return "self-reported (no run.json)"
    revision = str(r.run.get("model_revision") or "")
    return (f"run.json: {r.run.get('model_id')}@{revision[:12] or 'unknown revision'} · "
            f"scale-vqa {r.run.get('scale_vqa_version')} · {str(r.run.get('date', ''))[:10]}")


def _info(r: TableRow, field: str) -> str:
    value = (r.info or {}).get(field)
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


HEADERS = ["#", "Model", "Source", "AVG [95% CI]", *(f"{d.short}" for d in DIMENSIONS), "Strict", "Format",
           "Blind", "Image gain", "Submitter", "Tied", "Prompt format", "Provenance", "Params (B)", "Weights",
           "Licence", "Released"]
MATCHED_HEADER = "Matched"
"""The matched-configuration run's AVG: a column only when some row has one."""


def headers(table: Sequence[TableRow]) -> list[str]:
    """The page's column names for `table` (:data:`HEADERS`, and Matched when a row has a matched run)."""
    return HEADERS + ([MATCHED_HEADER] if any(r.matched is not None for r in table) else [])


def display_rows(table: Sequence[TableRow], counts: dict[str, int] | None = None) -> list[list[str]]:
    """Pre-formatted cells for the page (Gradio shows numbers as given), one per :func:`headers` column."""
    counts = counts or {}
    matched = MATCHED_HEADER in headers(table)
    out = []
    for r in table:
        cis = r.dim_cis or (None,) * len(DIMENSIONS)
        who = r.submitter if r.source != "measured" else f"{r.submitter} ({counts.get(r.submitter, 0)} submissions)"
        who += " · typed name, unverified" if r.identity == "typed" else ""
        out.append([
            "" if r.rank is None else str(r.rank), r.model,
            r.source + (" · self-reported" if r.self_reported else "") + (" · verified" if r.verified else ""),
            _pct(r.macro) + _ci(r.macro_ci), *(_pct(v) + _ci(c) for v, c in zip(r.dims, cis, strict=True)),
            _pct(r.strict), _pct(r.format_rate), _pct(r.blind), gain_cell(r), who,
            "≈ row above (paired test p ≥ 0.05)" if r.tied_with_above else "", r.prompt_format,
            provenance_cell(r), _info(r, "params_b"), _info(r, "weights"), _info(r, "licence"),
            _info(r, "released"), *([_pct(r.matched)] if matched else [])])
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
                "tied_with_above", "self_reported", "identity", "prompt_format", "image_gain_lo", "image_gain_hi",
                "image_gain_ci_includes_0", "matched", "model_id", "model_revision", "scale_vqa_version",
                "task_hash", "run_date", "params_b", "weights", "licence", "released"])
    for r in table:
        lo, hi = r.macro_ci or (None, None)
        glo, ghi = r.gain_ci or (None, None)
        run, info = r.run or {}, r.info or {}
        w.writerow([r.rank, csv_text(r.model), csv_text(r.source), csv_text(r.submitter), r.macro, lo, hi, *r.dims,
                    r.strict, r.format_rate, r.blind, r.image_gain, r.verified, r.tied_with_above,
                    r.self_reported, r.identity, csv_text(r.prompt_format), glo, ghi, r.gain_uncertain, r.matched,
                    *(csv_text(str(run.get(f, ""))) for f in ("model_id", "model_revision", "scale_vqa_version",
                                                              "task_hash", "date")),
                    info.get("params_b"), info.get("weights"), csv_text(str(info.get("licence", ""))),
                    info.get("released")])
    return buf.getvalue()


def to_json(table: Sequence[TableRow]) -> str:
    return json.dumps([r.to_dict() for r in table], indent=2, ensure_ascii=False)
