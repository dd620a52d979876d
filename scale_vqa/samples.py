"""lm-eval sample logs (``samples_<task>.jsonl`` from ``--log_samples``): one JSON object per line with ``doc``
(the Scale-VQA task's docs carry the item ``id``) and the generated text in ``filtered_resps`` / ``resps``.

The one reader of these logs: the evaluator's run folder and the leaderboard's uploads read them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .jsonfile import iter_lines, json_reason, loads_line


@dataclass(frozen=True)
class Sample:
    """One logged sample: the item id its doc carries, the generated text, the doc, and its line number."""

    id: str
    output: str
    doc: dict[str, Any]
    line: int


def is_sample(obj: Any) -> bool:
    """Whether a decoded JSON line looks like an lm-eval sample."""
    return isinstance(obj, dict) and "doc" in obj and ("resps" in obj or "filtered_resps" in obj)


def _first_text(value: Any) -> str | None:
    """The generated text in lm-eval's nested ``resps`` / ``filtered_resps`` lists."""
    while isinstance(value, list) and value:
        value = value[0]
    return value if isinstance(value, str) else None


def sample_output(obj: dict[str, Any]) -> str | None:
    """The generated text of a sample: ``filtered_resps`` first (what lm-eval scored), else ``resps``."""
    return _first_text(obj.get("filtered_resps")) or _first_text(obj.get("resps"))


def sample_from(obj: Any, line: int = 0) -> Sample:
    """A :class:`Sample` from one decoded line; ``ValueError`` saying what is missing otherwise."""
    if not is_sample(obj):
        raise ValueError('not an lm-eval sample (needs "doc" and "resps" or "filtered_resps")')
    doc = obj["doc"]
    item_id = doc.get("id") if isinstance(doc, dict) else None
    if not isinstance(item_id, str) or not item_id:
        raise ValueError("doc.id missing (run the Scale-VQA task, whose docs carry item ids)")
    output = sample_output(obj)
    if output is None:
        raise ValueError("no generated text in resps / filtered_resps")
    return Sample(item_id, output, doc, line)


def read_samples(text: str, *, max_errors: int | None = None) -> tuple[list[Sample], list[str]]:
    """Every sample of a log's text, and one problem per bad line (``line N: …``), duplicates included; with
    `max_errors`, reading stops at that many problems.

    Lines end at ``\n`` only: lm-eval leaves U+2028, U+2029 and U+0085 unescaped inside generations. Duplicate
    keys and nesting deeper than :data:`~scale_vqa.jsonfile.MAX_DEPTH` make a line invalid JSON.
    """
    samples: list[Sample] = []
    first: dict[str, int] = {}
    problems: list[str] = []
    for n, line in iter_lines(text):
        found = _sample_of(line, n, first)
        if isinstance(found, str):
            problems.append(found)
            if max_errors is not None and len(problems) >= max_errors:
                break
        else:
            first[found.id] = n
            samples.append(found)
    return samples, problems


def _sample_of(line: str, n: int, first: dict[str, int]) -> Sample | str:
    """The sample on line `n`, or its problem (`first`: the line of each id already read)."""
    try:
        obj = loads_line(line)
    except ValueError as exc:
        return f"line {n}: not valid JSON ({json_reason(exc)})"
    try:
        sample = sample_from(obj, n)
    except ValueError as exc:
        return f"line {n}: {exc}"
    if sample.id in first:
        return f"line {n}: duplicate id {sample.id!r} (first on line {first[sample.id]})"
    return sample
