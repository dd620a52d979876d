"""Anti-gaming rules, as a pure decision over the submitter's and others' earlier rows.

* the same file again from the same submitter for the same model → the earlier row (idempotent retries);
* more than `quota` submissions in the last `window` seconds → refused;
* answers that differ from one of the submitter's own earlier submissions on only a few items → refused as
  probing the hidden key (tiny changes reveal which answers are right);
* answers identical to another account's submission → held for review, not published.

Answers are compared within a variant only: a blind run (no images) whose answers equal the same model's standard
run is what the Blind column exists to show (a model that ignores its images), so it is accepted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Earlier:
    """What the rules need of a stored row."""

    id: int
    submitter: str
    model: str
    file_sha256: str
    letters: Mapping[str, str | None]
    created: float
    status: str
    variant: str = "standard"


@dataclass(frozen=True)
class Policy:
    quota: int = 5
    window: float = 24 * 3600.0
    probe_max_changes: int = 10
    """At most this many changed answers (or `probe_max_share` of items, whichever is larger) is probing."""
    probe_max_share: float = 0.02


@dataclass(frozen=True)
class Decision:
    action: str
    """``duplicate`` (return `existing`), ``publish``, ``hold`` or ``refuse``."""
    reason: str = ""
    existing: int | None = None


def changed(a: Mapping[str, str | None], b: Mapping[str, str | None]) -> int:
    """Items whose answers differ between two submissions."""
    return sum(a.get(k) != b.get(k) for k in set(a) | set(b))


def decide(submitter: str, model: str, file_sha256: str, letters: Mapping[str, str | None],
           earlier: Sequence[Earlier], now: float, policy: Policy | None = None, *,
           variant: str = "standard") -> Decision:
    """The decision on one submission of `variant` given the `earlier` rows (the quota counts every variant; answer
    comparisons only rows of the same variant)."""
    policy = policy or Policy()
    own = [e for e in earlier if e.submitter == submitter]
    for e in own:
        if e.model == model and e.file_sha256 == file_sha256:
            return Decision("duplicate", "this file was already submitted for this model", e.id)
    recent = [e for e in own if now - e.created < policy.window]
    if len(recent) >= policy.quota:
        hours = policy.window / 3600
        return Decision("refuse", f"quota reached: {policy.quota} submissions per {hours:g} h; try again later")
    limit = max(policy.probe_max_changes, int(policy.probe_max_share * len(letters)))
    earlier = [e for e in earlier if e.variant == variant]
    for e in (e for e in own if e.variant == variant):
        n = changed(letters, e.letters)
        if 0 < n <= limit:
            return Decision("refuse", f"only {n} answer(s) differ from your submission #{e.id} ({e.model}); "
                                      "near-identical resubmissions probe the hidden answers and are not accepted")
        if n == 0 and e.status != "retracted":
            return Decision("refuse", f"these answers are identical to your submission #{e.id} ({e.model})")
    for e in earlier:
        if e.submitter != submitter and e.status != "retracted" and changed(letters, e.letters) == 0:
            return Decision("hold", f"answers identical to submission #{e.id} by another account; held for review")
    return Decision("publish")
