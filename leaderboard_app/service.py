"""One submission, end to end and without a web framework: validate the upload and the model details, score it
against the hidden key with the core scorer, apply the anti-gaming rules and store the row atomically.
Nothing is stored when anything is rejected. Each submission is logged as one INFO line on the
``leaderboard_app`` logger (who, which model and run, the decision, the row), never with the key or the upload."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scale_vqa.item import Item
from scale_vqa.scoring import ScoreReport, score
from scale_vqa.variants import Variant

from .names import NameRefused, imitated, normalise, reserved_marker
from .rules import Decision, Policy, decide
from .seed_rows import SEED_ROWS_FILE, load_seed_rows
from .store import Row, Store
from .submission import MAX_BYTES, SubmissionError, check_meta, parse_submission

DEFAULT_POLICY = Policy()
MAX_MODEL = 80
"""Characters in a model name (the same limit :func:`leaderboard_app.submission.check_meta` states)."""
LOG = logging.getLogger("leaderboard_app")


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    row: Row | None
    report: ScoreReport | None
    """None for an identical retry (the stored row has the scores)."""


def public_scores(report: ScoreReport) -> dict[str, Any]:
    """The aggregate numbers a row shows (no per-item correctness: that would reveal the key)."""
    d = report.to_dict()
    keep = ("n_items", "macro", "micro", "strict_macro", "strict_micro", "format_rate", "n_outputs", "per_dimension")
    return {k: d[k] for k in keep}


SUBMITTED_VARIANTS = (Variant.STANDARD, Variant.BLIND)
"""What a submission ran: the model with its images, or the same model without them (the blind column)."""


@functools.cache
def published_names() -> tuple[str, ...]:
    """The model names of the shipped seed rows (every split): no submission may imitate them."""
    return tuple(sorted({row.name for row in load_seed_rows(SEED_ROWS_FILE)}))


def submit(store: Store, key: Sequence[Item], data: bytes, *, submitter: str, model: str, link: str,
           paper: str = "", variant: str = "standard", policy: Policy = DEFAULT_POLICY, max_bytes: int = MAX_BYTES,
           now: float | None = None, protected: Sequence[str] | None = None) -> Outcome:
    """Validate, score and store one upload; raises :class:`SubmissionError` for a rejected one. Logs one line.
    `protected`: published model names no submission may imitate (default: the shipped seed rows')."""
    try:
        outcome = _submit(store, key, data, submitter=submitter, model=model, link=link, paper=paper,
                          variant=variant, policy=policy, max_bytes=max_bytes, now=now,
                          protected=published_names() if protected is None else protected)
    except SubmissionError as exc:
        log_submission(submitter, model, variant, "rejected", None, exc.summary)
        raise
    log_submission(submitter, model, variant, outcome.decision.action, outcome.row.id if outcome.row else None,
                   outcome.decision.reason)
    return outcome


def log_submission(submitter: str, model: str, variant: str, decision: str, row_id: int | None,
                   reason: str = "") -> None:
    """The submission's one log line: submitter, model, variant, decision, row (the time is the record's)."""
    LOG.info("submission: submitter=%r model=%r variant=%r decision=%s row=%s%s", _short(submitter),
             _short(model), _short(variant), decision, "-" if row_id is None else f"#{row_id}",
             f" ({reason})" if reason else "")


def _short(text: str | None, limit: int = 120) -> str:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + "…"


def normalise_names(submitter: str, model: str) -> tuple[str, str]:
    """The normalised (submitter, model) pair (:func:`leaderboard_app.names.normalise`); raises
    :class:`SubmissionError` for an invisible or control character or a name too long."""
    try:
        return normalise(submitter, what="submitter name"), normalise(model, what="model name", max_len=MAX_MODEL)
    except NameRefused as exc:
        raise SubmissionError("the name is not valid", [str(exc)]) from None


def check_imitation(store: Store, submitter: str, model: str, protected: Sequence[str]) -> None:
    """Raises :class:`SubmissionError` for a reserved marker in the submitter name, or a name that imitates a
    published model, another stored model or another submitter (:func:`leaderboard_app.names.imitated`)."""
    problems = []
    marker = reserved_marker(submitter)
    if marker:
        problems.append(f"submitter name: {submitter!r} contains the reserved marker {marker!r} (only the "
                        "maintainers mark rows as official or verified)")
    pairs = store.names()
    other = imitated(submitter, {s for s, _ in pairs})
    if other is not None:
        problems.append(f"submitter name: {submitter!r} looks like the existing submitter {other!r}; use that exact "
                        "name if it is yours, or a clearly different one")
    other = imitated(model, [*protected, *(m for _, m in pairs)], own={m for s, m in pairs if s == submitter})
    if other is not None:
        problems.append(f"model name: {model!r} looks like {other!r} (published or already submitted); use that "
                        "exact name for the same model, or a clearly different one")
    if problems:
        raise SubmissionError("the name is not valid", problems)


def _submit(store: Store, key: Sequence[Item], data: bytes, *, submitter: str, model: str, link: str, paper: str,
            variant: str, policy: Policy, max_bytes: int, now: float | None, protected: Sequence[str]) -> Outcome:
    submitter, model = normalise_names(submitter, model)
    if not submitter:
        raise SubmissionError("sign in (or give your name) before submitting")
    meta = check_meta(model, link, paper)
    check_imitation(store, submitter, meta.model, protected)
    if variant not in SUBMITTED_VARIANTS:
        raise SubmissionError(f"unknown variant {variant!r}: one of {', '.join(SUBMITTED_VARIANTS)}")
    existing = store.find(submitter, meta.model, variant, hashlib.sha256(data).hexdigest())
    if existing is not None:  # an identical retry: the stored row, without validating or scoring again
        return Outcome(Decision("duplicate", "this file was already submitted for this model", existing.id),
                       existing, None)
    sub = parse_submission(data, key, max_bytes=max_bytes)
    report = score(key, sub.predictions)
    letters = {r.id: r.letter for r in report.results}  # the letters the scorer read (no second parse)
    now = time.time() if now is None else now
    entry = {"submitter": submitter, "model": meta.model, "link": meta.link, "paper": meta.paper, "kind": sub.kind,
             "variant": variant,
             "file_sha256": sub.file_sha256, "letters": letters, "scores": public_scores(report), "created": now}
    decision, row = store.submit(entry, lambda earlier: decide(submitter, f"{meta.model} [{variant}]",
                                                                sub.file_sha256, letters, earlier, now, policy,
                                                                variant=variant))
    if decision.action == "refuse":
        raise SubmissionError(decision.reason)
    return Outcome(decision, row, report)
