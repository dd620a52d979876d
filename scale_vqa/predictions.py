"""Predictions files: JSONL, one object per line, ``{"id", "prediction"}`` and/or ``{"id", "output"}``.

``prediction`` is an option letter (or null for no answer); ``output`` is the model's raw text, which
scoring parses with :func:`scale_vqa.parse.parse_answer`. When both are present they must agree. Other keys
(``dimension``, ``model`` …) are allowed and ignored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from .atomic import atomic_write_text
from .item import LETTERS
from .jsonfile import Record, iter_jsonl, kind_of, read_records
from .problems import InputError, Problem, ValidationReport
from .release import SURROGATE_MESSAGE, has_surrogate


@dataclass(frozen=True)
class Prediction:
    """A system's answer to one item: a letter, the raw output it came from, or both."""

    letter: str | None = None
    output: str | None = None

    @classmethod
    def of_letter(cls, letter: str | None) -> Prediction:
        return cls(letter=letter)

    @classmethod
    def of_output(cls, output: str) -> Prediction:
        return cls(output=output)


def read_predictions(path: str | Path) -> tuple[dict[str, Prediction], ValidationReport]:
    """Read a predictions JSONL file; every problem is reported with its line and field, none raised."""
    records, problems = read_records(path, jsonl=True)
    return _predictions_from(records, problems, str(path))


def parse_predictions(text: str, name: str, *,
                      max_errors: int | None = None) -> tuple[dict[str, Prediction], ValidationReport]:
    """Predictions JSONL given as text (e.g. an upload), reported under `name` like :func:`read_predictions`.

    Read as a stream: with `max_errors`, reading stops once that many errors are found (an upload of bad lines
    costs no more than its first errors)."""
    preds, report = _predictions_from(iter_jsonl(text, name), [], name, max_errors)
    if not preds and not report.problems:
        report.add(Problem(name, "empty file, expected one JSON object per line", line=1))
    return preds, report


def _predictions_from(entries: Iterable[Record | Problem], problems: list[Problem], name: str,
                      max_errors: int | None = None) -> tuple[dict[str, Prediction], ValidationReport]:
    """The predictions of `entries` and every problem (read no further than the `max_errors`-th)."""
    report = ValidationReport(list(problems))
    out: dict[str, Prediction] = {}
    first_line: dict[str, int] = {}
    for rec in entries:
        found = rec if isinstance(rec, Problem) else _prediction_of(rec, name, first_line)
        if isinstance(found, Problem):
            report.add(found)
            if max_errors is not None and len(report.problems) >= max_errors:
                break
        else:
            first_line[found[0]] = rec.line
            out[found[0]] = found[1]
    return out, report


def _prediction_of(rec: Record, name: str, first_line: Mapping[str, int]) -> tuple[str, Prediction] | Problem:
    """One record's ``(id, prediction)``, or the problem with it (`first_line`: the ids already read)."""
    def err(field: str | None, message: str) -> Problem:
        return Problem(name, message, "error", rec.line, rec.index, field)

    obj = rec.value
    if not isinstance(obj, dict):
        return err(None, f"expected an object like {{\"id\": ..., \"prediction\": \"B\"}}, got {kind_of(obj)}")
    pid = obj.get("id")
    if not isinstance(pid, str) or not pid:
        return err("id", "missing" if "id" not in obj else f"expected a non-empty string, got {kind_of(pid)}")
    if "prediction" not in obj and "output" not in obj:
        return err(None, "needs a \"prediction\" (option letter) or an \"output\" (raw model text)")
    letter = obj.get("prediction")
    if letter is not None:
        if not isinstance(letter, str):
            return err("prediction", f"expected an option letter or null, got {kind_of(letter)}")
        norm = letter.strip().upper()
        if len(norm) != 1 or norm not in LETTERS:
            return err("prediction", f"{letter!r:.40} is not an option letter A–{LETTERS[-1]}")
        letter = norm
    output = obj.get("output")
    if output is not None and not isinstance(output, str):
        return err("output", f"expected a string, got {kind_of(output)}")
    bad = next((f for f, v in (("id", pid), ("output", output)) if v is not None and has_surrogate(v)), None)
    if bad:
        return err(bad, SURROGATE_MESSAGE)
    if pid in first_line:
        return err("id", f"duplicate id {pid!r} (first on line {first_line[pid]})")
    return pid, Prediction(letter=letter, output=output)


def load_predictions(path: str | Path) -> dict[str, Prediction]:
    """Predictions of a file; raises :class:`InputError` listing every problem when there is one."""
    preds, report = read_predictions(path)
    if not report.ok:
        raise InputError(report, str(path))
    return preds


def write_predictions(predictions: Mapping[str, Prediction] | Iterable[tuple[str, Prediction]],
                      path: str | Path, **extra: Mapping[str, object]) -> None:
    """Write predictions as JSONL (atomically). `extra` maps a column name to per-id values to add."""
    pairs = predictions.items() if isinstance(predictions, Mapping) else predictions
    lines = []
    for pid, pred in pairs:
        row: dict[str, object] = {"id": pid}
        if pred.letter is not None or pred.output is None:
            row["prediction"] = pred.letter
        if pred.output is not None:
            row["output"] = pred.output
        for column, values in extra.items():
            if pid in values:
                row[column] = values[pid]
        lines.append(json.dumps(row, ensure_ascii=False))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
