"""LLM answerers end to end against a real OpenAI-compatible server (``transformers serve``) on loopback, serving
a tiny chat model built offline (``tiny_llm``); plus missing keys, bad specs and an unreachable server."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

pytest.importorskip("openai", reason="the API answerers need the 'api' extra (openai)")
pytest.importorskip("torch", reason="the tiny served model needs torch")
pytest.importorskip("transformers", reason="`transformers serve` needs transformers[serving]")

from baselines.answerer import AnswererError
from baselines.api.cache import ResponseCache
from baselines.api.clients import (
    DASHSCOPE_COMPATIBLE_URL,
    DashScopeChat,
    GeminiChat,
    Generation,
    LLMAnswerer,
    OpenAIChat,
    make_backend,
)
from scale_vqa.cli import main
from scale_vqa.dimensions import Dimension
from scale_vqa.item import Item
from scale_vqa.parse import parse_answer
from scale_vqa.release import write_release
from tests.helpers.items import REPO, make_item, make_key
from tests.helpers.tiny_llm import REPLY, build_tiny_chat_model, free_port, serve, served_model

pytestmark = pytest.mark.slow

KEY_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "DASHSCOPE_API_KEY")


class Server(NamedTuple):
    url: str
    """Base URL, ``http://127.0.0.1:PORT/v1``."""
    model: str
    """The model name requests must use."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``transformers serve`` with the tiny model for the whole module."""
    pytest.importorskip("fastapi", reason="`transformers serve` needs transformers[serving] (fastapi)")
    pytest.importorskip("uvicorn", reason="`transformers serve` needs transformers[serving] (uvicorn)")
    model_dir = build_tiny_chat_model(tmp_path_factory.mktemp("llm") / "tiny-chat")
    with serve(model_dir) as url:
        yield Server(url, served_model(model_dir))


def answerer(server: Server, cache: Path, *, gen: Generation | None = None, **kw: Any) -> LLMAnswerer:
    return LLMAnswerer(OpenAIChat(server.model, base_url=server.url), gen=gen or Generation(max_tokens=16),
                       cache=ResponseCache(cache), progress=False, **kw)


def cache_rows(path: Path) -> list[tuple[str, dict[str, Any]]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return [(text, json.loads(meta)) for text, meta in db.execute("SELECT text, meta FROM replies")]


def test_answers_go_through_the_server_and_the_core_parser(server: Server, tmp_path: Path) -> None:
    items = make_key(1)
    a = answerer(server, tmp_path / "c.sqlite", concurrency=2)
    answers = a.answer(items)
    assert len(answers) == len(items) and a.stats.requested == len(items) and a.stats.cached == 0
    for ans, it in zip(answers, items, strict=True):
        assert isinstance(ans.raw, str) and ans.raw and ans.raw not in json.dumps(a.messages(it))
        parsed = parse_answer(ans.raw, it.letters)
        assert ans.letter == parsed.letter == "B"
        # the server moves the <think> block into reasoning_content (and drops the blank after it); the answerer
        # puts the block back in front
        assert parsed.format_ok and ans.raw.startswith("<think>Dense fibrosis.</think>")
        assert ans.raw.replace(" ", "") == REPLY.replace(" ", "")
    rows = cache_rows(tmp_path / "c.sqlite")
    assert sorted(m["item_id"] for _, m in rows) == sorted(it.id for it in items)
    assert {(m["backend"], m["model"], m["base_url"]) for _, m in rows} == {("openai", server.model, server.url)}
    assert {text for text, _ in rows} == {ans.raw for ans in answers}


def test_generation_settings_reach_the_server(server: Server, tmp_path: Path) -> None:
    item = make_key(1)[:1]
    short = answerer(server, tmp_path / "c.sqlite", gen=Generation(max_tokens=4)).answer(item)[0]
    assert short.letter is None and short.raw and "Dense" in short.raw and "fibrosis" not in short.raw
    stopped = answerer(server, tmp_path / "c.sqlite", gen=Generation(max_tokens=16, stop=("<answer>",)))
    answer = stopped.answer(item)[0]
    assert answer.letter is None and answer.raw and "fibrosis.</think>" in answer.raw and "B" not in answer.raw
    assert stopped.stats.requested == 1  # other settings, other cache key
    assert len(ResponseCache(tmp_path / "c.sqlite")) == 2


def test_second_run_is_served_from_the_cache(server: Server, tmp_path: Path) -> None:
    items = make_key(2)
    first = answerer(server, tmp_path / "c.sqlite").answer(items[:6])
    again = answerer(server, tmp_path / "c.sqlite")
    replay = again.answer(items[:6])
    assert again.stats.requested == 0 and again.stats.cached == 6
    assert [a.raw for a in replay] == [a.raw for a in first]
    assert [a.letter for a in replay] == [a.letter for a in first]
    more = answerer(server, tmp_path / "c.sqlite", concurrency=3)
    answers = more.answer(items)
    assert more.stats.cached == 6 and more.stats.requested == len(items) - 6
    assert all(a.letter == "B" for a in answers)
    assert len(cache_rows(tmp_path / "c.sqlite")) == len(items)


RESUMABLE_RUN = """
import sys
sys.path[:0] = [{repo!r}, {tests!r}]
from baselines.api.cache import ResponseCache
from baselines.api.clients import Generation, LLMAnswerer, OpenAIChat
from tests.helpers.items import make_key
a = LLMAnswerer(OpenAIChat({model!r}, base_url={url!r}), gen=Generation(max_tokens=16),
                cache=ResponseCache({cache!r}), concurrency=1, rpm=60, progress=False)
a.answer(make_key(3)[:12])
print("finished")
"""


def test_interrupted_run_resumes_from_the_cache(server: Server, tmp_path: Path) -> None:
    cache = tmp_path / "c.sqlite"
    script = textwrap.dedent(RESUMABLE_RUN).format(repo=str(REPO), tests=str(REPO / "tests"), model=server.model,
                                                   url=server.url, cache=str(cache))
    # one request a second: killed after the second reply, well before the twelfth
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, "HF_HUB_OFFLINE": "1"},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rows = 0
    try:
        deadline = time.monotonic() + 45
        while rows < 2 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            with contextlib.suppress(sqlite3.OperationalError):  # not created yet
                rows = len(cache_rows(cache))
        assert proc.poll() is None, f"the run ended before it could be killed:\n{proc.communicate()[0].decode()}"
        assert rows >= 2, "no replies cached within 45 s"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        out = proc.communicate()[0].decode()
    assert proc.returncode == -signal.SIGKILL and "finished" not in out
    killed_with = len(cache_rows(cache))
    assert 2 <= rows <= killed_with < 12
    resumed = answerer(server, cache, concurrency=2)
    answers = resumed.answer(make_key(3)[:12])
    assert resumed.stats.cached >= rows and resumed.stats.cached == killed_with
    assert resumed.stats.cached + resumed.stats.requested == 12
    assert all(a.letter == "B" for a in answers)
    with contextlib.closing(sqlite3.connect(cache)) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT COUNT(*) FROM replies WHERE text = ''").fetchone()[0] == 0


def test_wrong_model_name_is_a_fatal_error_with_the_servers_reason(server: Server, tmp_path: Path) -> None:
    """The server is pinned to its model path: another name is a 400, not retried, and the reason is shown."""
    a = LLMAnswerer(OpenAIChat("tiny-chat", base_url=server.url), gen=Generation(max_tokens=16),
                    cache=ResponseCache(tmp_path / "c.sqlite"), retries=3, backoff=0.01, progress=False)
    with pytest.raises(AnswererError, match=rf"{re.escape(server.url)} answered 400: .*pinned to '"
                                            rf"{re.escape(server.model)}'"):
        a.answer(make_key(1)[:2])
    assert a.stats.retries == 0 and a.stats.requested == 0
    assert a.cache is not None and len(a.cache) == 0


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    a = LLMAnswerer(OpenAIChat("m", base_url=url, timeout=5), cache=ResponseCache(tmp_path / "c.sqlite"),
                    retries=1, backoff=0.01, concurrency=1, progress=False)
    with pytest.raises(AnswererError, match=rf"{re.escape(url)} unreachable or failing after 2 attempts"):
        a.answer(make_key(1)[:1])
    assert a.stats.retries == 1 and a.stats.requested == 0
    assert a.cache is not None and len(a.cache) == 0


@pytest.mark.parametrize(("make", "env", "package"), [
    (lambda: OpenAIChat("gpt-4o-mini"), "OPENAI_API_KEY", "openai"),
    (lambda: make_backend("openai:gpt-4o-mini"), "OPENAI_API_KEY", "openai"),
    (lambda: OpenAIChat("qwen-plus", base_url=DASHSCOPE_COMPATIBLE_URL), "DASHSCOPE_API_KEY", "openai"),
    (lambda: GeminiChat("gemini-2.5-flash"), "GEMINI_API_KEY", "google.genai"),
    (lambda: DashScopeChat("qwen-plus"), "DASHSCOPE_API_KEY", "dashscope"),
], ids=["openai", "openai-spec", "dashscope-compatible", "gemini", "dashscope"])
def test_missing_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, make: Any, env: str, package: str) -> None:
    pytest.importorskip(package, reason="the 'api' extra")
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(AnswererError, match=rf"{env} is not set"):
        make()


def test_local_server_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    backend = OpenAIChat("m")
    assert backend.base_url == "http://127.0.0.1:9/v1" and backend.identity["base_url"] == backend.base_url


@pytest.mark.parametrize("spec", ["nobackend:x", "openai", "openai:", ":gpt-4o-mini"])
def test_bad_spec(spec: str) -> None:
    with pytest.raises(AnswererError, match="BACKEND:MODEL"):
        make_backend(spec)


def test_cli_audit_with_an_llm_adversary(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    items = make_key(4)
    release = tmp_path / "new.json"
    write_release(items, release)
    out = tmp_path / "out"
    args = ["audit", str(release), "--adversaries", "fast", "--llm", f"openai:{server.model}",
            "--base-url", server.url, "--max-tokens", "16", "--out", str(out), "--quiet", "--permutations", "200"]
    name = f"llm:openai:{server.model}"
    assert main(args) == 0
    assert f"{name}: {len(items)} requests, 0 from cache" in capsys.readouterr().out
    report = {a["name"]: a for a in json.loads((out / "audit.json").read_text())["adversaries"]}
    assert len(report) > 1 and report[name]["kind"] == "llm"
    # the tiny model always answers B: its accuracy is the share of gold Bs
    assert report[name]["accuracy"]["all"] == pytest.approx(sum(it.answer == "B" for it in items) / len(items))
    assert len(cache_rows(out / "llm_cache.sqlite")) == len(items)
    assert main(args) == 0
    assert f"{name}: 0 requests, {len(items)} from cache" in capsys.readouterr().out


def test_cli_llm_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    release = tmp_path / "new.json"
    write_release(make_key(4), release)
    base = ["audit", str(release), "--adversaries", "longest", "--out", str(tmp_path / "o"), "--quiet",
            "--permutations", "50", "--no-shuffle-check"]
    assert main([*base, "--llm", "openai:gpt-4o-mini"]) == 1
    assert "OPENAI_API_KEY is not set" in capsys.readouterr().err
    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main([*base, "--llm", "openai:m", "--base-url", url, "--retries", "0", "--timeout", "2"]) == 1
    assert f"{url} unreachable" in capsys.readouterr().err
    assert main([*base, "--llm", "nobackend:m"]) == 1
    assert "bad LLM spec" in capsys.readouterr().err


def test_blind_prompt_sends_no_images() -> None:
    a = LLMAnswerer(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"), progress=False)
    msgs = a.messages(make_key(1)[0])
    assert not a.uses_images
    assert all(p["type"] == "text" for m in msgs if not isinstance(m["content"], str) for p in m["content"])
    with pytest.raises(AnswererError, match="image folder"):
        LLMAnswerer(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"), variant="standard")


def _write_images(item: Item, root: Path) -> None:
    for i, (_, rel) in enumerate(item.images):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes([i]) * 10)


def test_image_variants_send_every_image_in_placeholder_order(tmp_path: Path) -> None:
    item = make_item(1, Dimension.LOCALIZATION)
    _write_images(item, tmp_path)
    backend = OpenAIChat("m", base_url="http://127.0.0.1:9/v1")
    a = LLMAnswerer(backend, variant="standard", image_root=tmp_path, progress=False)
    assert a.uses_images
    parts = a.messages(item)[-1]["content"]
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert images[0].startswith("data:image/jpeg;base64,") and images[2].startswith("data:image/png;base64,")
    assert [base64.b64decode(u.split(",", 1)[1])[:1] for u in images] == [b"\x00", b"\x01", b"\x02"]
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert [p["type"] for p in parts] == ["image_url"] * 3 + ["text"]  # the seed format: images first
    assert texts[0].startswith(item.question) and "<image>" not in "".join(texts)
    single = LLMAnswerer(backend, variant="single_high", image_root=tmp_path, progress=False)
    assert sum(p["type"] == "image_url" for p in single.messages(item)[-1]["content"]) == 1
    (tmp_path / item.images.mid_mag).unlink()
    with pytest.raises(AnswererError, match="image file not found"):
        a.messages(item)
