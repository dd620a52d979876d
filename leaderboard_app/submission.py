"""Reading and validating a leaderboard upload: our predictions JSONL or an lm-eval ``samples_*.jsonl`` log,
checked against the server-side answer key. Pure standard library; errors carry line numbers and are capped.

Accepted:

* predictions JSONL (``scale-vqa score``'s format): ``{"id": …, "prediction": "B"}`` and/or ``"output": raw text``;
* lm-eval samples (``--log_samples``): one JSON object per line with ``doc`` (carrying the item ``id``) and
  ``resps`` / ``filtered_resps`` (the raw generation). These are re-scored here from the raw text with the core
  parser, never trusted for their own metrics.

Refused with an explanation: aggregate-only results (lm-eval ``results_*.json``), JSON arrays, binary files,
UTF-16 text, text that is not UTF-8, empty or oversized files, lines that are not JSON (duplicate keys and nesting
deeper than the core's limit included), unknown or duplicate ids, missing items, letters outside an item's options,
and a ``prediction`` that contradicts its ``output``.

Reading is a stream that stops after :data:`MAX_ERRORS` bad lines, and no more than that many errors are ever
formatted: a large upload of bad lines costs what its first errors cost.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from scale_vqa.item import Item
from scale_vqa.jsonfile import iter_lines, loads_line, wide_encoding
from scale_vqa.parse import parse_answer
from scale_vqa.predictions import Prediction, parse_predictions
from scale_vqa.samples import is_sample, read_samples

T = TypeVar("T")

MAX_BYTES = 8 * 2**20
"""Default upload limit (a 1005-item predictions file with raw outputs is ~2 MB)."""
MAX_ERRORS = 20
"""Errors listed per rejection (the rest are counted)."""


class SubmissionError(ValueError):
    """A rejected upload: `problems` lists what is wrong (capped), `summary` says it in one line, `more` counts
    the problems not listed (by default those of `problems` beyond the cap)."""

    def __init__(self, summary: str, problems: Sequence[str] = (), *, more: int | None = None) -> None:
        self.summary = summary
        self.problems = list(problems[:MAX_ERRORS])
        self.more = max(0, len(problems) - MAX_ERRORS) if more is None else max(0, more)
        super().__init__(self.render())

    def render(self) -> str:
        lines = [self.summary, *(f"  {p}" for p in self.problems)]
        if self.more:
            lines.append(f"  … and {self.more} more")
        return "\n".join(lines)


@dataclass(frozen=True)
class Submission:
    """A valid upload: one prediction per key item."""

    predictions: dict[str, Prediction]
    kind: str
    """``predictions`` or ``lm-eval-samples``."""
    file_sha256: str

    def letters(self, key: Sequence[Item]) -> dict[str, str | None]:
        """Each item's answer letter as the core parser reads it (what near-duplicate checks compare)."""
        from scale_vqa.scoring import judge

        return {item.id: judge(item, self.predictions.get(item.id)).letter for item in key}


def _decode(data: bytes, max_bytes: int) -> str:
    if not data.strip():
        raise SubmissionError("the file is empty")
    if len(data) > max_bytes:
        raise SubmissionError(f"the file is {len(data) / 2**20:.1f} MB; the limit is {max_bytes / 2**20:.1f} MB")
    wide = wide_encoding(data)
    if wide:
        raise SubmissionError(f"the file is {wide} text: save it as UTF-8 (the .jsonl must be UTF-8)")
    head = data[:8192]
    if b"\x00" in head or head.startswith((b"\x1f\x8b", b"PK\x03\x04", b"\x89PNG", b"%PDF")):
        raise SubmissionError("this is a binary file (compressed, image or document?); upload the .jsonl text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubmissionError(f"the file is not UTF-8 text: byte 0x{data[exc.start]:02x} on line {line} "
                              "(save it as UTF-8)") from None


def _refuse_aggregates(text: str) -> None:
    stripped = text.lstrip()
    if stripped.startswith("["):
        raise SubmissionError("a JSON array is not accepted: upload JSON Lines, one prediction object per line")
    if not stripped.startswith("{"):
        return
    try:
        whole = json.loads(stripped)
    except (ValueError, RecursionError):
        return  # several lines (JSONL) or nested too deeply: checked line by line
    if isinstance(whole, dict) and ("results" in whole or "groups" in whole or "versions" in whole):
        raise SubmissionError("this looks like an lm-eval results file (aggregate scores only). The leaderboard "
                              "scores every item itself: upload the samples_*.jsonl that lm-eval writes with "
                              "--log_samples, or a predictions JSONL ({\"id\": …, \"prediction\": \"B\"})")


def _samples(text: str) -> tuple[dict[str, Prediction], list[str]]:
    """An lm-eval samples log, read by the core reader (the one the evaluator's run folder uses)."""
    samples, problems = read_samples(text, max_errors=MAX_ERRORS + 1)
    return {s.id: Prediction(output=s.output) for s in samples}, problems


def _predictions(text: str) -> tuple[dict[str, Prediction], list[str]]:
    """Our predictions JSONL, read by the core reader (the one the `score` command uses)."""
    preds, report = parse_predictions(text, "upload.jsonl", max_errors=MAX_ERRORS + 1)
    problems = [f"line {p.line}: {(p.field + ': ') if p.field else ''}{p.message}" for p in report.errors]
    return preds, problems


def _kind(text: str) -> str:
    """``lm-eval-samples`` when the first non-blank line is an lm-eval sample, else ``predictions``."""
    first = next(iter_lines(text), None)
    try:
        return "lm-eval-samples" if first is not None and is_sample(loads_line(first[1])) else "predictions"
    except ValueError:
        return "predictions"


def _refuse(summary: str, found: Sequence[T], describe: Callable[[T], str]) -> NoReturn:
    """Refuse the upload, describing only the first :data:`MAX_ERRORS` of `found` (the rest are counted)."""
    raise SubmissionError(summary, [describe(x) for x in found[:MAX_ERRORS]], more=len(found) - MAX_ERRORS)


def _conflicts(preds: Mapping[str, Prediction], by_id: Mapping[str, Item]) -> list[tuple[str, str, str | None]]:
    """``(id, prediction, letter its output reads as)`` for each prediction whose letter and output disagree
    (what scoring would count wrong as a conflict)."""
    out = []
    for pid, p in preds.items():
        if p.letter is not None and p.output is not None:
            parsed = parse_answer(p.output, by_id[pid].letters).letter
            if parsed != p.letter:
                out.append((pid, p.letter, parsed))
    return out


def parse_submission(data: bytes, key: Sequence[Item], *, max_bytes: int = MAX_BYTES) -> Submission:
    """Validate an upload against the answer key; raises :class:`SubmissionError` on any problem."""
    text = _decode(data, max_bytes)
    _refuse_aggregates(text)
    kind = _kind(text)
    preds, problems = _samples(text) if kind == "lm-eval-samples" else _predictions(text)
    if len(problems) > MAX_ERRORS:
        raise SubmissionError(f"more than {MAX_ERRORS} lines could not be read; reading stopped there, so the rest "
                              "of the file was not checked", problems[:MAX_ERRORS])
    if problems:
        raise SubmissionError(f"{len(problems)} line(s) could not be read", problems)
    by_id: Mapping[str, Item] = {item.id: item for item in key}
    unknown = [pid for pid in preds if pid not in by_id]
    if unknown:
        _refuse(f"{len(unknown)} id(s) are not in the answer key (wrong split or id scheme?)", unknown,
                lambda pid: f"unknown id {pid!r}")
    out_of_range = [pid for pid, p in preds.items() if p.letter is not None and p.letter not in by_id[pid].letters]
    if out_of_range:
        _refuse(f"{len(out_of_range)} prediction(s) name a letter the item does not have", out_of_range,
                lambda pid: f"{pid}: letter {preds[pid].letter} but the item has options {by_id[pid].letters}")
    conflicts = _conflicts(preds, by_id)
    if conflicts:
        _refuse(f"{len(conflicts)} prediction(s) contradict their own output; when both \"prediction\" and "
                "\"output\" are given they must agree (or send only one)", conflicts,
                lambda c: f"id {c[0]!r}: prediction {c[1]} but the output reads as "
                          f"{c[2] if c[2] else 'no letter'}")
    missing = [item.id for item in key if item.id not in preds]
    if missing:
        _refuse(f"{len(missing)} of {len(key)} items have no prediction; submit every item "
                "(answer null or an empty output for items your model skipped)", missing,
                lambda pid: f"missing id {pid!r}")
    return Submission(preds, kind, hashlib.sha256(data).hexdigest())


_URL = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_ARXIV = re.compile(r"(arXiv:)?\d{4}\.\d{4,5}(v\d+)?", re.IGNORECASE)
_NAME_BAD = re.compile(r"[<>\"'`\\/{}]|\.\.|[\x00-\x1f\x7f]|javascript:", re.IGNORECASE)


@dataclass(frozen=True)
class Meta:
    """What a submitter says about the model (shown publicly, so strictly checked)."""

    model: str
    link: str
    paper: str = ""


def check_meta(model: str, link: str, paper: str = "") -> Meta:
    """Validated metadata; raises :class:`SubmissionError` listing every bad field."""
    model, link, paper = (model or "").strip(), (link or "").strip(), (paper or "").strip()
    problems = []
    if not 2 <= len(model) <= 80:
        problems.append("model name: 2–80 characters")
    elif _NAME_BAD.search(model):
        problems.append("model name: no HTML, quotes, slashes, '..' or control characters")
    if not _URL.fullmatch(link):
        problems.append("link: an http(s) URL to the model (weights, repository or API page)")
    if paper and not (_URL.fullmatch(paper) or _ARXIV.fullmatch(paper)):
        problems.append("paper: an http(s) URL or an arXiv id like 2606.17412")
    if problems:
        raise SubmissionError("the model details are not valid", problems)
    return Meta(model, link, paper)
