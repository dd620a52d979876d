"""One submission, end to end and without a web framework: validate the upload and the model details, score it
against the hidden key with the core scorer, apply the anti-gaming rules, decide what the reply and the table may
show (under a private key: the Ladder, :mod:`leaderboard_app.ladder`) and store the row atomically.
Nothing is stored when anything is rejected. Each submission is logged as one INFO line on the
``leaderboard_app`` logger (who, which model and run, the decision, the row), never with the key or the upload."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from scale_vqa.item import Item
from scale_vqa.scoring import ScoreReport, score
from scale_vqa.variants import GROUPS, LABELS, Variant

from .ladder import correct, exact, ladder
from .names import NameRefused, imitated, normalise, reserved_marker
from .provenance import ModelInfo, RunRecord, model_info, read_run
from .rules import Decision, Distance, Earlier, Policy, admit, decide
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

    @property
    def shown(self) -> dict[str, Any] | None:
        """What the reply may show (:mod:`leaderboard_app.ladder`): the row's disclosure."""
        return None if self.row is None else self.row.disclosed


def public_scores(report: ScoreReport) -> dict[str, Any]:
    """The aggregate numbers a row shows (no per-item correctness: that would reveal the key)."""
    d = report.to_dict()
    keep = ("n_items", "macro", "micro", "strict_macro", "strict_micro", "format_rate", "n_outputs", "per_dimension")
    return {k: d[k] for k in keep}


SUBMITTED_VARIANTS = (Variant.STANDARD, Variant.BLIND)
"""What a submission ran: the model with its images, or the same model without them (the blind column)."""
MATCHED = ("matched", "matched_blind")
"""Evaluator groups that run the matched configuration (with and without images): accepted as variants of their
own (the Matched column) once :data:`scale_vqa.variants.GROUPS` has them."""


def submitted_variants() -> tuple[str, ...]:
    """The variants a submission may name: standard, blind, and the matched groups the evaluator runs."""
    return (*(v.value for v in SUBMITTED_VARIANTS), *(m for m in MATCHED if m in GROUPS))


def variant_description(variant: str) -> str:
    """What a variant's run showed the model, in words (the submission form)."""
    if variant in {v.value for v in Variant}:
        return Variant(variant).description
    return LABELS.get(variant, variant.replace("_", " ") + " configuration")


@functools.cache
def published_names() -> tuple[str, ...]:
    """The model names of the shipped seed rows (every split): no submission may imitate them."""
    return tuple(sorted({row.name for row in load_seed_rows(SEED_ROWS_FILE)}))


def submit(store: Store, key: Sequence[Item], data: bytes, *, submitter: str, model: str, link: str,
           paper: str = "", variant: str = "standard", policy: Policy = DEFAULT_POLICY, max_bytes: int = MAX_BYTES,
           now: float | None = None, protected: Sequence[str] | None = None, identity: str = "typed",
           run: bytes | None = None, info: Mapping[str, Any] | None = None) -> Outcome:
    """Validate, score and store one upload; raises :class:`SubmissionError` for a rejected one. Logs one line.
    `protected`: published model names no submission may imitate (default: the shipped seed rows'). `identity`:
    ``typed`` (a name typed into the form, shown as unverified) or ``oauth`` (a signed-in account). `run`: the
    bytes of the run's ``run.json`` (optional provenance); `info`: the model's details (``params_b``,
    ``weights``, ``licence``, ``released``; :mod:`leaderboard_app.provenance`)."""
    try:
        outcome = _submit(store, key, data, submitter=submitter, model=model, link=link, paper=paper,
                          variant=variant, policy=policy, max_bytes=max_bytes, now=now, identity=identity,
                          protected=published_names() if protected is None else protected, run=run,
                          info=info or {})
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
    check_names(store.names(), submitter, model, protected)


def check_names(pairs: Sequence[tuple[str, str]], submitter: str, model: str, protected: Sequence[str]) -> None:
    """:func:`check_imitation` against the stored (submitter, model) `pairs` (the store calls it again inside
    its write transaction, so that two look-alike names submitted at once cannot both pass)."""
    problems = []
    marker = reserved_marker(submitter)
    if marker:
        problems.append(f"submitter name: {submitter!r} contains the reserved marker {marker!r} (only the "
                        "maintainers mark rows as official or verified)")
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


def unanswered(letters: Mapping[str, str | None], key: Sequence[Item]) -> list[str]:
    """One problem per key item without one of its letters (null, missing, or an output with no option letter)."""
    return [f"item {it.id}: no answer (null, missing, or an output without one of its letters "
            f"{', '.join(it.letters)})" for it in key if not _one_of(letters.get(it.id), it.letters)]


def _one_of(letter: str | None, letters: str) -> bool:
    return letter is not None and len(letter) == 1 and letter in letters


def bests(earlier: Sequence[Earlier], submitter: str, model: str, variant: str, letters: Mapping[str, str | None],
          policy: Policy) -> list[Earlier]:
    """The earlier disclosed bests a private-key submission must beat (Ladder): the submitter's, the model's, and
    those of earlier submissions (anyone's) whose answers differ on at most `policy.neighbour_share` of items."""
    near = int(policy.neighbour_share * len(letters))
    shown = [e for e in earlier if e.variant == variant and e.status != "retracted" and e.disclosed
             and e.disclosed.get("shown")]
    distance = Distance(letters)
    groups = [[e for e in shown if e.submitter == submitter], [e for e in shown if e.model == model],
              [e for e in shown if distance(e) <= near]]
    out: dict[int, Earlier] = {}
    for group in groups:
        if group:
            best = max(group, key=lambda e: (e.disclosed["macro"], e.id))  # type: ignore[index]
            out[best.id] = best
    return list(out.values())


def disclose(decision: Decision, earlier: Sequence[Earlier], key: Sequence[Item], scores: Mapping[str, Any], *,
             submitter: str, model: str, variant: str, letters: Mapping[str, str | None],
             policy: Policy) -> Decision:
    """The decision with what the reply and table may show: exact (self-reported) scores under a public key, the
    Ladder's under a private one."""
    if decision.action not in ("publish", "hold"):
        return decision
    if not policy.private:
        return replace(decision, disclosed=exact(scores))
    against = [(e.id, e.disclosed["macro"], correct(e.letters, key))  # type: ignore[index]
               for e in bests(earlier, submitter, model, variant, letters, policy)]
    return replace(decision, disclosed=ladder(correct(letters, key), against, scores, policy.step, key))


def admission(store: Store, submitter: str, now: float, policy: Policy, identity: str) -> None:
    """Refuse before reading the upload what needs no answers (quota, new typed names: :func:`rules.admit`),
    so that refused floods cost a query each; the rules decide again inside the write transaction."""
    recent, known, new = store.admission(submitter, now, policy.window)
    refused = admit(recent, known, lambda: new, policy, identity)
    if refused is not None:
        raise SubmissionError(refused.reason)


def _submit(store: Store, key: Sequence[Item], data: bytes, *, submitter: str, model: str, link: str, paper: str,
            variant: str, policy: Policy, max_bytes: int, now: float | None, protected: Sequence[str],
            identity: str, run: bytes | None, info: Mapping[str, Any]) -> Outcome:
    submitter, model = normalise_names(submitter, model)
    if not submitter:
        raise SubmissionError("sign in (or give your name) before submitting")
    meta = check_meta(model, link, paper)
    variants = submitted_variants()
    if variant not in variants:
        raise SubmissionError(f"unknown variant {variant!r}: one of {', '.join(variants)}")
    existing = store.find(submitter, meta.model, variant, hashlib.sha256(data).hexdigest())
    if existing is not None:  # an identical retry: the stored row, without checking names, validating or scoring
        return Outcome(Decision("duplicate", "this file was already submitted for this model", existing.id),
                       existing, None)
    check_imitation(store, submitter, meta.model, protected)  # fails fast; checked again when storing
    now = time.time() if now is None else now
    admission(store, submitter, now, policy, identity)
    record: RunRecord | None = read_run(run) if run else None
    details: ModelInfo = model_info(info)
    sub = parse_submission(data, key, max_bytes=max_bytes)
    report = score(key, sub.predictions)
    letters = {r.id: r.letter for r in report.results}  # the letters the scorer read (no second parse)
    if policy.private and (problems := unanswered(letters, key)):
        raise SubmissionError(f"{len(problems)} item(s) not answered: under a private key every item must be "
                              "answered with one of its letters", problems)
    scores = public_scores(report)
    entry = {"submitter": submitter, "model": meta.model, "link": meta.link, "paper": meta.paper, "kind": sub.kind,
             "variant": variant, "file_sha256": sub.file_sha256, "letters": letters, "scores": scores,
             "created": now, "identity": identity,
             "run": record.model_dump(exclude_none=True) if record else None,
             "info": details.model_dump(exclude_none=True),
             "prompt_format": record.format if record else "unknown"}
    tag = f"{meta.model} [{variant}]"

    def judge(earlier: list[Earlier]) -> Decision:
        decision = decide(submitter, tag, sub.file_sha256, letters, earlier, now, policy, variant=variant,
                          identity=identity)
        return disclose(decision, earlier, key, scores, submitter=submitter, model=tag, variant=variant,
                        letters=letters, policy=policy)

    decision, row = store.submit(entry, judge, everyone=policy.private,
                                 check_names=lambda pairs: check_names(pairs, submitter, meta.model, protected))
    if decision.action == "refuse":
        raise SubmissionError(decision.reason)
    return Outcome(decision, row, report)
