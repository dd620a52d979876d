"""Optional LLM judge of block validity: asked, for every pair of golds in a block, whether the two statements
could both describe one tissue region. Any backend of the answerers (OpenAI-compatible servers, Gemini,
DashScope) works; every reply is cached on disk as soon as it arrives, so an interrupted run resumes without
asking twice. The reply is read with the core parser as a letter: ``A`` (both could be true: the pair is
refused) or ``B`` (mutually exclusive)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from scale_vqa.item import Item
from scale_vqa.parse import parse_answer

REFUSAL = "judge (could both be true of one region)"
"""The reason recorded for a pair the judge refused."""

SYSTEM = ("You are a careful pathologist. You judge whether two statements about a histology image set could "
          "both be true of the same tissue region.")
TEMPLATE = """Question: {question}

Statement 1: {first}
Statement 2: {second}

Could both statements be correct answers to this question for one and the same tissue region?
A. Yes: both could be true of one region (or they say the same thing).
B. No: they are mutually exclusive.

Reply with the letter only, as <answer>X</answer>."""


@dataclass(frozen=True)
class Verdict:
    first: str
    second: str
    refused: bool
    reply: str


class PairJudge:
    """Asks a chat backend about pairs of golds, through the answerers' cached, rate-limited runner."""

    def __init__(self, spec: str, *, cache: str | Path, base_url: str | None = None,
                 api_key_env: str | None = None, timeout: float = 120.0, max_tokens: int = 256,
                 concurrency: int = 4, rpm: float = 0.0, retries: int = 3, progress: bool = True) -> None:
        from baselines.api.clients import ChatRunner, Generation, ResponseCache, make_backend

        kwargs: dict[str, object] = {"api_key_env": api_key_env, "timeout": timeout}
        if spec.startswith("openai:"):
            kwargs["base_url"] = base_url
        self.backend = make_backend(spec, **kwargs)
        self.spec = spec
        self.cache = ResponseCache(cache)
        self.runner = ChatRunner(self.backend, Generation(max_tokens=max_tokens), self.cache,
                                 concurrency=concurrency, rpm=rpm, retries=retries, progress=progress,
                                 name=f"judge {spec}", unit="pair")

    @staticmethod
    def messages(question: str, first: str, second: str) -> list[dict[str, object]]:
        return [{"role": "system", "content": SYSTEM},
                {"role": "user", "content": TEMPLATE.format(question=question, first=first, second=second)}]

    def judge(self, pairs: Sequence[tuple[str, str, str, str, str]]) -> list[Verdict]:
        """Verdicts for (id, id, question, gold, gold) pairs; an unreadable reply refuses the pair (safe side)."""
        requests = [self.messages(q, a, b) for _, _, q, a, b in pairs]
        texts = self.runner.run(requests, [{"pair": f"{x}|{y}"} for x, y, *_ in pairs])
        out = []
        for (x, y, *_), text in zip(pairs, texts, strict=True):
            letter = parse_answer(text, "AB").letter
            out.append(Verdict(x, y, letter != "B", text))
        return out

    def close(self) -> None:
        self.cache.close()


def refusals(judge: PairJudge, items: Sequence[Item],
             blocks: Iterable[Sequence[int]]) -> tuple[int, list[tuple[str, str, str]]]:
    """Ask `judge` about every pair of golds inside each block (indices into `items`): (pairs judged, refused
    pairs as (id, id, reason))."""
    pairs = [(items[a].id, items[b].id, items[a].question, items[a].gold_text, items[b].gold_text)
             for block in blocks for x, a in enumerate(block) for b in block[x + 1:]]
    verdicts = judge.judge(pairs)
    return len(verdicts), [(v.first, v.second, REFUSAL) for v in verdicts if v.refused]
