"""Where a submission's numbers came from, as the submitter states it: the ``run.json`` that ``scale-vqa eval``
writes (uploaded beside the samples or predictions) and the model's details (parameters, open or closed weights,
licence, release date). Both are optional and checked strictly (pydantic): an error names the field. A row
without a run.json is shown as self-reported; a maintainer's ``admin verify`` is what marks a run reproduced.

``run.json`` fields read here (others, such as timings, are ignored): ``model_id``, ``model_revision``,
``scale_vqa_version``, ``task_hash``, ``command``, ``date`` (UTC ISO 8601) and, when the run says which prompt it
used, ``prompt_format``. Rows whose runs used different prompt formats are never ranked together
(:mod:`leaderboard_app.table`); a row without one has the format ``unknown``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from scale_vqa.config import problems_from_errors
from scale_vqa.jsonfile import loads_line, wide_encoding

from .submission import SubmissionError

MAX_RUN_BYTES = 256 * 1024
"""A run.json is a few KB; anything larger is not one."""
UNKNOWN_FORMAT = "unknown"
"""The prompt format of a row whose run did not say (or that came without a run.json)."""

_Text = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f<>\"'`\\]+$")]
"""One line of plain text: no control characters, HTML or quotes (it is shown on the page)."""


class RunRecord(BaseModel):
    """The provenance part of a ``run.json``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model_id: _Text
    model_revision: Annotated[str, Field(max_length=100, pattern=r"^[\w.\-/+]+$")] | None = None
    scale_vqa_version: Annotated[str, Field(max_length=40, pattern=r"^[0-9A-Za-z.+\-]+$")]
    task_hash: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    command: Annotated[str, Field(min_length=1, max_length=4000)]
    date: str
    prompt_format: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")] | None = None

    @field_validator("date")
    @classmethod
    def _iso_utc(cls, value: str) -> str:
        try:
            when = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError("must be an ISO 8601 date and time, like 2026-12-03T02:07:13Z") from None
        if when.utcoffset() is None:
            raise ValueError("must say its time zone (UTC: a trailing Z)")
        return value

    @property
    def format(self) -> str:
        return self.prompt_format or UNKNOWN_FORMAT


class ModelInfo(BaseModel):
    """What the submitter says about the model (all optional; the page filters on them)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    params_b: Annotated[float, Field(gt=0, le=100_000)] | None = None
    """Parameters, in billions."""
    weights: Literal["open", "closed"] | None = None
    licence: Annotated[str, Field(max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9 .+_\-]*$")] | None = None
    """A short licence name or SPDX id (``apache-2.0``, ``proprietary``)."""
    released: Annotated[str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?$")] | None = None
    """Release date of the model: ``YYYY-MM`` or ``YYYY-MM-DD``."""


_TOP_KEY = re.compile(r'^\s{0,4}"([^"]+)"\s*:')


def _lines(text: str) -> dict[str, int]:
    """Key → line of its first appearance near the top level (for error messages)."""
    out: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        m = _TOP_KEY.match(line)
        if m:
            out.setdefault(m.group(1), n)
    return out


def _problems(exc: Exception, file: str, lines: Mapping[str, int]) -> list[str]:
    return [str(p) for p in problems_from_errors(exc.errors(), file, lines).problems]  # type: ignore[attr-defined]


def read_run(data: bytes, file: str = "run.json") -> RunRecord:
    """The provenance of an uploaded ``run.json``; raises :class:`SubmissionError` naming each bad field."""
    if len(data) > MAX_RUN_BYTES:
        raise SubmissionError(f"{file}: {len(data) / 1024:.0f} KB is not a run.json (at most "
                              f"{MAX_RUN_BYTES // 1024} KB); upload the run.json that scale-vqa eval wrote")
    wide = wide_encoding(data)
    try:
        if wide:
            raise ValueError(f"it is {wide} text; save it as UTF-8")
        text = data.decode("utf-8-sig")
        raw = loads_line(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise SubmissionError(f"{file} is not valid JSON", [f"{file}: {exc}"]) from None
    if not isinstance(raw, dict):
        raise SubmissionError(f"{file} must be a JSON object (the run.json that scale-vqa eval wrote)")
    try:
        return RunRecord.model_validate(raw)
    except Exception as exc:
        if not callable(getattr(exc, "errors", None)):
            raise
        raise SubmissionError(f"{file} is not valid: each field below is missing or wrong (scale-vqa eval of "
                              "this version writes them all)", _problems(exc, file, _lines(text))) from None


def model_info(fields: Mapping[str, Any]) -> ModelInfo:
    """The model details from form fields (empty text: not given); raises :class:`SubmissionError` naming each
    bad field."""
    given = {k: (v.strip() if isinstance(v, str) else v) for k, v in fields.items()}
    given = {k: v for k, v in given.items() if v not in (None, "")}
    if isinstance(given.get("weights"), str):
        given["weights"] = given["weights"].lower()
    try:
        return ModelInfo.model_validate(given)
    except Exception as exc:
        if not callable(getattr(exc, "errors", None)):
            raise
        raise SubmissionError("the model details are not valid", _problems(exc, "model details", {})) from None
