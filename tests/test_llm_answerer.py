"""LLM answerers end to end against a real OpenAI-compatible server (``transformers serve``) on loopback, serving
a tiny chat model built offline; plus key, spec and connection errors."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("openai")
pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("fastapi")

from audit_data import edited_items
from baselines.answerer import AnswererError
from baselines.cache import ResponseCache
from baselines.llm import DashScopeChat, GeminiChat, Generation, LLMAnswerer, OpenAIChat, make_backend
from conftest import REPO
from scale_vqa.cli import main
from scale_vqa.parse import parse_answer
from scale_vqa.release import write_release
from tiny_llm import build_tiny_chat_model, free_port, serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(base URL, model name) of a running ``transformers serve`` with the tiny model."""
    model = build_tiny_chat_model(tmp_path_factory.mktemp("llm") / "tiny-chat")
    with serve(model) as url:
        yield url, str(model)


def answerer(server, cache_path: Path, **kw) -> LLMAnswerer:
    url, model = server
    return LLMAnswerer(OpenAIChat(model, base_url=url), gen=Generation(max_tokens=kw.pop("max_tokens", 16)),
                       cache=ResponseCache(cache_path), progress=False, **kw)


def test_answers_through_the_server_and_the_core_parser(server, tmp_path):
    items = edited_items(5)
    a = answerer(server, tmp_path / "c.sqlite", concurrency=2)
    answers = a.answer(items)
    assert len(answers) == 5 and a.stats.requested == 5 and a.stats.cached == 0
    prompts = [m["content"] for it in items for m in a.messages(it)]
    for ans, it in zip(answers, items, strict=True):
        assert isinstance(ans.raw, str) and ans.raw
        assert ans.raw not in prompts
        assert ans.letter == parse_answer(ans.raw, it.letters).letter
    assert len(a.cache) == 5
    rows = sqlite3.connect(tmp_path / "c.sqlite").execute("SELECT meta FROM replies").fetchall()
    assert {json.loads(r[0])["backend"] for r in rows} == {"openai"}
    assert {json.loads(r[0])["item_id"] for r in rows} == {it.id for it in items}


def test_blind_prompt_has_no_images(server, tmp_path):
    a = answerer(server, tmp_path / "c.sqlite")
    msgs = a.messages(edited_items(1)[0])
    assert not a.uses_images
    assert all(isinstance(m["content"], str) or all(p["type"] == "text" for p in m["content"]) for m in msgs)
    with pytest.raises(AnswererError, match="image folder"):
        LLMAnswerer(OpenAIChat("m", base_url=server[0]), variant="standard")


def test_second_run_is_served_from_the_cache(server, tmp_path):
    items = edited_items(6)
    first = answerer(server, tmp_path / "c.sqlite").answer(items[:4])
    again = answerer(server, tmp_path / "c.sqlite")
    replay = again.answer(items[:4])
    assert again.stats.requested == 0 and again.stats.cached == 4
    assert [a.raw for a in replay] == [a.raw for a in first]
    more = answerer(server, tmp_path / "c.sqlite")
    more.answer(items)
    assert more.stats.cached == 4 and more.stats.requested == 2
    other = answerer(server, tmp_path / "c.sqlite", max_tokens=8)  # other settings → other cache keys
    other.answer(items[:1])
    assert other.stats.requested == 1


def test_interrupted_run_resumes_from_the_cache(server, tmp_path):
    url, model = server
    cache = tmp_path / "c.sqlite"
    release = tmp_path / "items.json"
    write_release(edited_items(12), release)
    script = textwrap.dedent(f"""
        import sys
        sys.path[:0] = [{str(REPO)!r}, {str(REPO / 'tests')!r}]
        from baselines.cache import ResponseCache
        from baselines.llm import Generation, LLMAnswerer, OpenAIChat
        from scale_vqa.release import load_items
        a = LLMAnswerer(OpenAIChat({model!r}, base_url={url!r}), gen=Generation(max_tokens=16),
                        cache=ResponseCache({str(cache)!r}), concurrency=1, rpm=60, progress=False)
        a.answer(load_items({str(release)!r}))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "HF_HUB_OFFLINE": "1"})
    rows = 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if cache.exists():
            try:
                rows = sqlite3.connect(cache).execute("SELECT COUNT(*) FROM replies").fetchone()[0]
            except sqlite3.OperationalError:
                rows = 0
            if rows >= 2:
                break
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = answerer(server, cache, concurrency=2)
    from scale_vqa.release import load_items

    resumed.answer(load_items(release))
    assert resumed.stats.cached >= rows >= 2
    assert resumed.stats.cached + resumed.stats.requested == 12
    assert sqlite3.connect(cache).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_unreachable_server_is_a_clear_error(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    a = LLMAnswerer(OpenAIChat("m", base_url=url, timeout=2), cache=ResponseCache(tmp_path / "c.sqlite"),
                    retries=1, backoff=0.01, progress=False)
    with pytest.raises(AnswererError, match=r"127\.0\.0\.1.*after 2 attempts"):
        a.answer(edited_items(2))
    assert a.stats.retries >= 1 and len(a.cache) == 0


@pytest.mark.parametrize(("make", "env"), [
    (lambda: OpenAIChat("gpt-4o-mini"), "OPENAI_API_KEY"),
    (lambda: GeminiChat("gemini-2.5-flash"), "GEMINI_API_KEY"),
    (lambda: DashScopeChat("qwen-plus"), "DASHSCOPE_API_KEY"),
])
def test_missing_key_is_a_clear_error(monkeypatch, make, env):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "DASHSCOPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AnswererError, match=env):
        make()


@pytest.mark.parametrize("spec", ["nobackend:x", "openai", "openai:"])
def test_bad_spec(spec):
    with pytest.raises(AnswererError, match="BACKEND:MODEL"):
        make_backend(spec)


def test_cli_audit_with_an_llm_adversary(server, tmp_path, capsys):
    url, model = server
    release = tmp_path / "new.json"
    write_release(edited_items(30), release)
    args = ["audit", str(release), "--adversaries", "centroid_jacc,lr_dense", "--llm", f"openai:{model}",
            "--base-url", url, "--max-tokens", "16", "--out", str(tmp_path / "out"), "--quiet",
            "--permutations", "200", "--no-shuffle-check"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "30 requests, 0 from cache" in out
    names = [a["name"] for a in json.loads((tmp_path / "out" / "audit.json").read_text())["adversaries"]]
    assert f"llm:openai:{model}" in names
    assert main(args) == 0
    assert "0 requests, 30 from cache" in capsys.readouterr().out


def test_cli_llm_errors(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    release = tmp_path / "new.json"
    write_release(edited_items(20), release)
    base = ["audit", str(release), "--adversaries", "centroid_jacc", "--out", str(tmp_path / "o"), "--quiet"]
    assert main([*base, "--llm", "openai:gpt-4o-mini"]) == 1
    assert "OPENAI_API_KEY is not set" in capsys.readouterr().err
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main([*base, "--llm", "openai:m", "--base-url", url, "--retries", "0", "--timeout", "2"]) == 1
    assert "unreachable" in capsys.readouterr().err


def test_image_variants_send_every_image_in_placeholder_order(tmp_path):
    from conftest import make_item
    from scale_vqa.dimensions import Dimension

    item = make_item(1, Dimension.LOCALIZATION)
    for i, (_, rel) in enumerate(item.images):
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i]) * 10)
    a = LLMAnswerer(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"), variant="standard", image_root=tmp_path,
                    progress=False)
    assert a.uses_images
    parts = a.messages(item)[-1]["content"]
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert images[0].startswith("data:image/jpeg;base64,") and images[2].startswith("data:image/png;base64,")
    import base64

    assert [base64.b64decode(u.split(",", 1)[1])[:1] for u in images] == [b"\x00", b"\x01", b"\x02"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert "Low magnification (1×):" in texts[0] and "<image>" not in "".join(texts)
    single = LLMAnswerer(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"), variant="single_high",
                         image_root=tmp_path, progress=False)
    assert sum(p["type"] == "image_url" for p in single.messages(item)[-1]["content"]) == 1
    (tmp_path / item.images.mid_mag).unlink()
    with pytest.raises(AnswererError, match="image file not found"):
        a.messages(item)
