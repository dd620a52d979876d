"""The curate LLM judge through a real OpenAI-compatible server on loopback (``transformers serve`` of the tiny
model, whose greedy reply is always the letter B: "mutually exclusive"), cached and resumable."""

from __future__ import annotations

from pathlib import Path

import pytest

from builders.curate.engine import Settings, construct
from builders.curate.judge import PairJudge
from scale_vqa.dimensions import Dimension
from tests.builders.curate_data import make_items
from tests.helpers.fixtures import served_vlm, tiny_vlm

__all__ = ["served_vlm", "tiny_vlm"]


def test_judge_through_loopback_server_is_cached_and_resumable(tiny_vlm: Path, served_vlm: str,
                                                                tmp_path: Path) -> None:
    pytest.importorskip("openai")
    from tests.helpers.tiny_llm import served_model

    items = [it for it in make_items(4) if it.dimension is Dimension.DIAGNOSIS]
    cache = tmp_path / "judge.sqlite"
    judge = PairJudge(f"openai:{served_model(tiny_vlm)}", cache=cache, base_url=served_vlm, max_tokens=12,
                      concurrency=2, progress=False)
    settings = Settings(k=4, steps_per_item=20, embed_screen=False)
    c = construct(items, settings, judge=judge, progress=False)
    assert c.judged == 6  # one block of 4: 6 pairs, all judged "B" (mutually exclusive: the block stands)
    assert judge.runner.stats.requested == 6 and len(c.items) == 4
    judge.close()
    again = PairJudge(f"openai:{served_model(tiny_vlm)}", cache=cache, base_url=served_vlm, max_tokens=12,
                      progress=False)
    c2 = construct(items, settings, judge=again, progress=False)
    again.close()
    assert again.runner.stats.cached == 6  # resumed entirely from the cache
    assert [it.options for it in c2.items] == [it.options for it in c.items]
