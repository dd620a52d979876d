"""Anti-gaming rules, as a pure decision over the submitter's and others' earlier rows.

* the same file again from the same submitter for the same model → the earlier row (idempotent retries);
* more than `quota` submissions in the last `window` seconds → refused;
* answers that differ from one of the submitter's own earlier submissions on only a few items → refused as
  probing the hidden key (tiny changes reveal which answers are right);
* answers identical to another account's submission → held for review, not published.

Under a private key (:attr:`Policy.private`, the default) the probing defences also apply, across all submitters:

* answers that differ from ANY earlier submission (anyone's, same variant) on only a few items → refused;
* answer sets that are mostly one letter (constant padding around a few varied items) → refused as probes;
* a typed (not signed-in) name never seen before → refused once `Policy.new_names_per_hour` new typed names
  arrived in the last hour (many identities are what make probing cheap).

Answers are compared within a variant only: a blind run (no images) whose answers equal the same model's standard
run is what the Blind column exists to show (a model that ignores its images), so it is accepted.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


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
    identity: str = "typed"
    """``typed`` (a name typed into the form: unverified) or ``oauth`` (a signed-in account)."""
    disclosed: Mapping[str, Any] | None = None
    """What the reply and the table showed (:mod:`leaderboard_app.ladder`); None for rows stored before."""
    bits: tuple[int, int] | None = None
    """`letters` as :func:`answer_bits` (the store computes it once per stored answer set); None: not known."""


@dataclass(frozen=True)
class Policy:
    quota: int = 5
    window: float = 24 * 3600.0
    probe_max_changes: int = 10
    """At most this many changed answers (or `probe_max_share` of items, whichever is larger) is probing."""
    probe_max_share: float = 0.02
    private: bool = True
    """The key's answers are private (the default): the probing defences and the Ladder apply. False under
    ``--public-key``: exact scores are shown and rows are self-reported."""
    pad_max_share: float = 0.6
    """Private key: an answer set with more than this share of items on one letter is padding (refused)."""
    new_names_per_hour: int = 20
    """Private key: new typed submitter names accepted per hour, server-wide."""
    step: float = 0.01
    """Private key: disclosed accuracies are rounded to this step (1 percentage point)."""
    neighbour_share: float = 0.10
    """Private key: an earlier submission (anyone's) whose answers differ on at most this share of items is a
    best the new one must beat significantly before its score is disclosed."""

    def probe_limit(self, n_items: int) -> int:
        """Changed answers up to which a resubmission is probing."""
        return max(self.probe_max_changes, int(self.probe_max_share * n_items))


@dataclass(frozen=True)
class Decision:
    action: str
    """``duplicate`` (return `existing`), ``publish``, ``hold`` or ``refuse``."""
    reason: str = ""
    existing: int | None = None
    disclosed: Mapping[str, Any] | None = None
    """What the reply and the table show of a stored submission (:mod:`leaderboard_app.ladder`)."""


def changed(a: Mapping[str, str | None], b: Mapping[str, str | None]) -> int:
    """Items whose answers differ between two submissions."""
    if len(a) == len(b) and list(a) == list(b):  # the same items in the same order: compare in step
        return sum(map(operator.ne, a.values(), b.values()))
    return sum(a.get(k) != b.get(k) for k in set(a) | set(b))


_ONE_HOT = {**{chr(65 + i): (1 << i).to_bytes(2, "big") for i in range(15)}, None: (1 << 15).to_bytes(2, "big")}
"""Answer → 16 bits with one bit set (A–O, or null): two answer sets differ in exactly two bits per changed item."""


def answer_bits(letters: Mapping[str, str | None]) -> tuple[int, int] | None:
    """(hash of the item order, the answers one-hot encoded as one integer), or None for an answer outside A–O.
    With these, :class:`Distance` counts changed answers with one XOR and a bit count instead of a Python loop
    over every item (the private key's rules compare each submission with every stored one)."""
    try:
        code = b"".join([_ONE_HOT[v] for v in letters.values()])
    except (KeyError, TypeError):
        return None
    return hash(tuple(letters)), int.from_bytes(code, "big")


class Distance:
    """Changed answers between one answer set and earlier ones: :func:`changed`, fast when both have
    :func:`answer_bits` for the same item order."""

    def __init__(self, letters: Mapping[str, str | None]) -> None:
        self.letters = letters
        self.bits = answer_bits(letters)

    def __call__(self, e: Earlier) -> int:
        if self.bits is not None and e.bits is not None and self.bits[0] == e.bits[0]:
            return (self.bits[1] ^ e.bits[1]).bit_count() // 2
        return changed(self.letters, e.letters)


def padding(letters: Mapping[str, str | None]) -> tuple[str, float]:
    """The most frequent answer and its share of the items."""
    counts = Counter(letters.values())
    if not counts:
        return "", 0.0
    letter, n = counts.most_common(1)[0]
    return str(letter), n / len(letters)


def new_names(earlier: Sequence[Earlier], now: float, window: float = 3600.0) -> int:
    """Typed submitter names whose first submission is less than `window` seconds old."""
    first: dict[str, float] = {}
    for e in earlier:
        if e.identity == "typed":
            first[e.submitter] = min(first.get(e.submitter, e.created), e.created)
    return sum(now - t < window for t in first.values())


def admit(recent: int, known: bool, new: Callable[[], int], policy: Policy, identity: str = "typed"
          ) -> Decision | None:
    """The refusal that needs no answers, or None: the submitter's quota (`recent` submissions in the window) and,
    under a private key, the server-wide limit on new typed names (`known`: the submitter has submitted before;
    `new()`: typed names first seen in the last hour). The service asks this before reading an upload, and
    :func:`decide` again atomically."""
    if recent >= policy.quota:
        hours = policy.window / 3600
        return Decision("refuse", f"quota reached: {policy.quota} submissions per {hours:g} h; try again later")
    if policy.private and identity == "typed" and not known and new() >= policy.new_names_per_hour:
        return Decision("refuse", f"too many new names on this server: at most {policy.new_names_per_hour} new "
                                  "typed names per hour; try again later, or sign in")
    return None


def decide(submitter: str, model: str, file_sha256: str, letters: Mapping[str, str | None],
           earlier: Sequence[Earlier], now: float, policy: Policy | None = None, *,
           variant: str = "standard", identity: str = "typed") -> Decision:
    """The decision on one submission of `variant` given the `earlier` rows (the quota counts every variant; answer
    comparisons only rows of the same variant). Under a private key `earlier` must hold every stored row."""
    policy = policy or Policy()
    own = [e for e in earlier if e.submitter == submitter]
    for e in own:
        if e.model == model and e.file_sha256 == file_sha256:
            return Decision("duplicate", "this file was already submitted for this model", e.id)
    refused = admit(sum(now - e.created < policy.window for e in own), bool(own),
                    lambda: new_names(earlier, now), policy, identity)
    if refused is not None:
        return refused
    limit = policy.probe_limit(len(letters))
    earlier = [e for e in earlier if e.variant == variant]
    distance = Distance(letters)
    if policy.private:
        letter, share = padding(letters)
        if share > policy.pad_max_share:
            return Decision("refuse", f"{100 * share:.0f} % of the answers are {letter!r}: answer sets that are "
                                      "mostly one letter probe the hidden answers and are not accepted")
    for e in (e for e in own if e.variant == variant):
        n = distance(e)
        if 0 < n <= limit:
            return Decision("refuse", f"only {n} answer(s) differ from your submission #{e.id} ({e.model}); "
                                      "near-identical resubmissions probe the hidden answers and are not accepted")
        if n == 0 and e.status != "retracted":
            return Decision("refuse", f"these answers are identical to your submission #{e.id} ({e.model})")
    for e in earlier:
        if e.submitter == submitter:
            continue
        n = distance(e)
        if n == 0 and e.status != "retracted":
            return Decision("hold", f"answers identical to submission #{e.id} by another account; held for review")
        if policy.private and 0 < n <= limit:
            return Decision("refuse", f"only {n} answer(s) differ from an earlier submission (#{e.id}); "
                                      "near-identical answer sets probe the hidden answers and are not accepted")
    return Decision("publish")
