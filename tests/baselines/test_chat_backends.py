"""Every API backend's request path end to end through the evaluator (``run_eval(..., lm=make_lm(...))``).

One ``transformers serve`` of the tiny random Qwen2.5-VL (``tiny_vlm``) answers everything. In front of it runs a
stdlib loopback server that speaks each SDK's real wire format and records what it receives:

* OpenAI ``POST /v1/chat/completions`` is passed through unchanged;
* Gemini ``POST /{version}/models/{model}:generateContent`` (google-genai) and DashScope
  ``POST /api/v1/services/aigc/{multimodal,text}-generation/generation`` (dashscope SDK) are translated into an
  OpenAI chat request, text and images in their order, and the served model's reply is translated back.

Every OpenAI request that reaches the served model is recorded, so the tests see the images arrive in
placeholder order. No network, nothing downloaded.
"""

from __future__ import annotations

import base64
import io
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple

import pytest

pytest.importorskip("lm_eval")
pytest.importorskip("openai", reason="the API backends need the 'api' extra")

from baselines.answerer import AnswererError
from baselines.api.cache import ResponseCache
from baselines.api.clients import DashScopeChat, GeminiChat, Generation, OpenAIChat
from evaluator.chat.lm import MODEL_NAME, ChatLM, cut_at_stops, image_part, make_lm
from evaluator.runner import run_eval
from scale_vqa.parse import parse_answer
from tests.helpers.tiny_vlm import IMAGE_SIZES, REPLY

KEY_VARS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "DASHSCOPE_API_KEY")
SCALE_ORDER = [IMAGE_SIZES[s] for s in ("low_mag", "mid_mag", "high_mag")]
"""(width, height) of the low, mid and high magnification images: distinct, so sizes reveal the order."""
MAX_GEN_TOKS = 24


# ---------------------------------------------------------------------------------------------------- loopback
class Proxy:
    """The SDK-facing loopback server; `upstream` is the served model's ``…/v1`` base URL."""

    def __init__(self, upstream: str, model: str) -> None:
        self.upstream, self.model = upstream, model
        self.received: list[dict[str, Any]] = []
        """What each SDK sent: ``{"path", "headers", "body"}``."""
        self.forwarded: list[dict[str, Any]] = []
        """The OpenAI requests that reached the served model."""
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                with proxy.lock:
                    proxy.received.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, reply = proxy.route(self.path, body)
                data = json.dumps(reply).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Proxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.forwarded.clear()

    # -- the served model
    def chat(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        payload = {**payload, "model": self.model}  # `transformers serve` is pinned to its model path
        with self.lock:
            self.forwarded.append(payload)
        req = urllib.request.Request(f"{self.upstream}/chat/completions", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as err:
            text = err.read().decode(errors="replace")
            try:
                return err.code, json.loads(text)
            except ValueError:
                return err.code, {"detail": text}

    @staticmethod
    def generated(reply: dict[str, Any]) -> tuple[str, str | None, str]:
        """Content, reasoning (the server's reasoning parser moves the <think> block there) and finish reason."""
        choice = reply["choices"][0]
        message = choice["message"]
        return message.get("content") or "", message.get("reasoning_content"), choice.get("finish_reason") or "stop"

    def route(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if path == "/v1/chat/completions":
            return self.chat(body)
        if re.fullmatch(r"/v1(beta)?/models/[^/:]+:generateContent", path):
            return self.gemini(body)
        if m := re.fullmatch(r"/api/v1/services/aigc/(multimodal|text)-generation/generation", path):
            return self.dashscope(body, multimodal=m.group(1) == "multimodal")
        return 404, {"error": f"no route {path}"}

    # -- Gemini generateContent <-> OpenAI
    def gemini(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        def pick(d: dict[str, Any], *names: str) -> Any:
            return next((d[n] for n in names if n in d), None)

        messages: list[dict[str, Any]] = []
        system = pick(body, "systemInstruction", "system_instruction")
        if system:
            messages.append({"role": "system", "content": "".join(p.get("text", "") for p in system["parts"])})
        for content in body["contents"]:
            parts = []
            for part in content["parts"]:
                inline = pick(part, "inlineData", "inline_data")
                if inline is not None:  # google-genai sends URL-safe base64; data URLs take the standard alphabet
                    data = base64.b64encode(base64.urlsafe_b64decode(inline["data"])).decode()
                    url = f"data:{pick(inline, 'mimeType', 'mime_type')};base64,{data}"
                    parts.append({"type": "image_url", "image_url": {"url": url}})
                else:
                    parts.append({"type": "text", "text": part["text"]})
            messages.append({"role": "assistant" if content.get("role") == "model" else "user", "content": parts})
        config = pick(body, "generationConfig", "generation_config") or {}
        payload: dict[str, Any] = {"messages": messages}
        for ours, theirs in (("max_tokens", ("maxOutputTokens", "max_output_tokens")),
                             ("temperature", ("temperature",)), ("stop", ("stopSequences", "stop_sequences"))):
            value = pick(config, *theirs)
            if value is not None:
                payload[ours] = value
        status, reply = self.chat(payload)
        if status != 200:
            return status, {"error": {"code": status, "message": json.dumps(reply), "status": "UNAVAILABLE"}}
        content, reasoning, finish = self.generated(reply)
        text = f"<think>{reasoning}</think>{content}" if reasoning else content  # Gemini returns all text
        return 200, {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]},
                                     "finishReason": "MAX_TOKENS" if finish == "length" else "STOP"}],
                     "modelVersion": "tiny"}

    # -- DashScope generation <-> OpenAI
    def dashscope(self, body: dict[str, Any], *, multimodal: bool) -> tuple[int, dict[str, Any]]:
        messages = []
        for m in body["input"]["messages"]:
            if isinstance(m["content"], str):
                messages.append({"role": m["role"], "content": m["content"]})
                continue
            messages.append({"role": m["role"], "content": [
                {"type": "text", "text": p["text"]} if "text" in p else
                {"type": "image_url", "image_url": {"url": p["image"]}} for p in m["content"]]})
        params = body.get("parameters", {})
        payload = {"messages": messages, **{k: params[k] for k in ("max_tokens", "temperature", "stop") if k in params}}
        status, reply = self.chat(payload)
        if status != 200:
            return status, {"code": "InternalError", "message": json.dumps(reply), "request_id": "r"}
        content, reasoning, finish = self.generated(reply)
        message: dict[str, Any] = {"role": "assistant", "content": [{"text": content}] if multimodal else content}
        if reasoning:
            message["reasoning_content"] = reasoning  # as DashScope's thinking models return it
        return 200, {"request_id": "r", "output": {"choices": [{"finish_reason": finish, "message": message}]},
                     "usage": {"input_tokens": 1, "output_tokens": 1}}


class Setup(NamedTuple):
    proxy: Proxy
    release: Path
    model: str


@pytest.fixture(scope="module")
def setup(tiny_vlm: Path, served_vlm: str, release: Path) -> Iterator[Setup]:
    """A loopback SDK server in front of the session's served tiny VLM, for the whole module."""
    from tests.helpers.tiny_llm import served_model

    with Proxy(served_vlm, served_model(tiny_vlm)) as proxy:
        yield Setup(proxy, release, served_model(tiny_vlm))


@pytest.fixture
def proxy(setup: Setup) -> Proxy:
    setup.proxy.clear()
    return setup.proxy


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------------------------------------------- helpers
def evaluate(setup: Setup, backend: str, lm: Any, out: Path, tasks: str = "scale_vqa,scale_vqa_blind") -> Any:
    return run_eval(backend, {"model": setup.model}, lm=lm, source=str(setup.release), split="validation",
                    tasks=tasks, out=out, limit=1, max_gen_toks=MAX_GEN_TOKS)


def predictions(out: Path, group: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / f"predictions_{group}.jsonl").read_text().splitlines()]


def image_size(url: str) -> tuple[int, int]:
    from PIL import Image

    head, _, data = url.partition(",")
    assert re.fullmatch(r"data:image/(jpeg|png);base64", head), head
    with Image.open(io.BytesIO(base64.b64decode(data))) as img:
        return img.size


def check_images_in_placeholder_order(forwarded: list[dict[str, Any]], n_with_images: int,
                                      sizes: list[tuple[int, int]] = SCALE_ORDER) -> None:
    """Requests that reached the served model: `n_with_images` carry the three scales, low → high, then the text
    (the seed format: the seed README's structure); the rest are the blind prompts: text only, no placeholder
    left."""
    with_images = 0
    for payload in forwarded:
        content = payload["messages"][-1]["content"]
        parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
        kinds = [p["type"] for p in parts]
        if "image_url" not in kinds:
            assert "<image>" not in json.dumps(payload) and "\n(A) " in parts[-1]["text"]
            continue
        with_images += 1
        assert kinds == ["image_url", "image_url", "image_url", "text"]
        assert "<image>" not in parts[-1]["text"] and parts[-1]["text"].startswith("Question ")
        assert [image_size(p["image_url"]["url"]) for p in parts if p["type"] == "image_url"] == sizes
    assert with_images == n_with_images


def check_run(out: Path, groups: tuple[str, ...] = ("scale_vqa", "scale_vqa_blind")) -> None:
    """The run folder holds each group's predictions, every one the served model's (planted) reply."""
    for group in groups:
        preds = predictions(out, group)
        assert len(preds) == 5
        for p in preds:
            parsed = parse_answer(p["output"], "ABCD")
            assert parsed.format_ok and p["prediction"] == "B" == parsed.letter
            # the planted reply up to the stop string, which ends it as in lm-eval's backends (the server's reasoning
            # parser may drop the blank after </think>)
            assert p["output"].replace(" ", "") == REPLY.removesuffix("</answer>").replace(" ", "")
    assert (out / "results.json").is_file() and (out / "key.json").is_file()


# ---------------------------------------------------------------------------------------------------- tests
@pytest.mark.slow
def test_openai_backend_through_the_evaluator_then_all_from_the_cache(setup: Setup, proxy: Proxy,
                                                                      tmp_path: Path) -> None:
    cache = tmp_path / "replies.sqlite"
    gen = Generation(max_tokens=512, reasoning_effort=None)

    def lm() -> Any:
        return make_lm(OpenAIChat(setup.model, base_url=f"{proxy.url}/v1"), gen=gen, cache=ResponseCache(cache),
                       concurrency=2, progress=False)

    first = lm()
    result = evaluate(setup, "openai", first, tmp_path / "run")
    check_run(tmp_path / "run")
    assert first.stats.requested == 10 and first.stats.cached == 0
    assert len(proxy.forwarded) == 10 and {r["path"] for r in proxy.received} == {"/v1/chat/completions"}
    check_images_in_placeholder_order(proxy.forwarded, 5)
    for payload in proxy.forwarded:  # the request's gen_kwargs on top of `gen`
        assert payload["max_tokens"] == MAX_GEN_TOKS and payload["temperature"] == 0.0
        assert payload["stop"] == ["</answer>"] and "max_completion_tokens" not in payload
        assert payload["messages"][0]["role"] == "system" and "pathology expert" in payload["messages"][0]["content"]
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["lm_eval_model"] == MODEL_NAME and run["backend"] == "openai"
    config = json.loads((tmp_path / "run" / "results.json").read_text())["config"]
    assert config["torch_seed"] is None and config["chat_backend"]["base_url"] == f"{proxy.url}/v1"
    assert result.reports["scale_vqa"].format_rate == 1.0

    proxy.clear()
    again = lm()
    evaluate(setup, "openai", again, tmp_path / "rerun")
    assert proxy.received == [] and again.stats.requested == 0 and again.stats.cached == 10
    for group in ("scale_vqa", "scale_vqa_blind"):
        assert predictions(tmp_path / "rerun", group) == predictions(tmp_path / "run", group)


@pytest.mark.slow
def test_openai_reasoning_payload_and_downscaled_images(setup: Setup, proxy: Proxy, tmp_path: Path) -> None:
    """GPT-5-style settings: reasoning_effort and max_completion_tokens, no temperature, no stop (the reply is cut
    at the stop string instead); images downscaled to the pixel budget, aspect kept."""
    gen = Generation(temperature=None, reasoning_effort="low")
    budget = 56 * 56
    lm = make_lm(OpenAIChat(setup.model, base_url=f"{proxy.url}/v1"), gen=gen, max_pixels=budget,
                 cache=ResponseCache(tmp_path / "replies.sqlite"), progress=False)
    evaluate(setup, "openai", lm, tmp_path / "run", tasks="scale_vqa")
    check_run(tmp_path / "run", ("scale_vqa",))
    assert len(proxy.forwarded) == 5
    for payload in proxy.forwarded:
        assert payload["reasoning_effort"] == "low" and payload["max_completion_tokens"] == MAX_GEN_TOKS
        assert not {"max_tokens", "temperature", "stop"} & set(payload)
    scaled = [(56, 56), (79, 39), (39, 79)]  # 112×56 at √(3136/6272): floor(79.2) × floor(39.6)
    assert all(w * h <= budget for w, h in scaled)
    check_images_in_placeholder_order(proxy.forwarded, 5, scaled)


@pytest.mark.slow
def test_gemini_sdk_through_the_evaluator(setup: Setup, proxy: Proxy, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("google.genai", reason="the 'api' extra")
    monkeypatch.setenv("GEMINI_API_KEY", "test-gemini-key")
    lm = make_lm(GeminiChat("gemini-test", base_url=proxy.url), gen=Generation(reasoning_effort="low"),
                 cache=ResponseCache(tmp_path / "replies.sqlite"), progress=False)
    evaluate(setup, "gemini", lm, tmp_path / "run")
    check_run(tmp_path / "run")
    assert len(proxy.received) == len(proxy.forwarded) == 10
    check_images_in_placeholder_order(proxy.forwarded, 5)
    for rec in proxy.received:
        assert re.fullmatch(r"/v1(beta)?/models/gemini-test:generateContent", rec["path"])
        assert rec["headers"].get("x-goog-api-key") == "test-gemini-key"
        body = rec["body"]
        assert "pathology expert" in json.dumps(body.get("systemInstruction") or body["system_instruction"])
        config = body["generationConfig"]
        assert config["maxOutputTokens"] == MAX_GEN_TOKS and config["stopSequences"] == ["</answer>"]
        assert config["temperature"] == 0.0
        assert json.loads(json.dumps(config["thinkingConfig"]).replace("thinkingLevel", "thinking_level")) == {
            "thinking_level": "LOW"}
    multimodal = [rec["body"]["contents"][0]["parts"] for rec in proxy.received
                  if any("inlineData" in p or "inline_data" in p for p in rec["body"]["contents"][0]["parts"])]
    assert len(multimodal) == 5
    assert all([("text" in p) for p in parts] == [False] * 3 + [True] for parts in multimodal)  # the seed format
    assert json.loads((tmp_path / "run" / "results.json").read_text())["config"]["torch_seed"] is None


@pytest.mark.slow
def test_dashscope_sdk_through_the_evaluator(setup: Setup, proxy: Proxy, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("dashscope", reason="the 'api' extra")
    monkeypatch.setenv("DASHSCOPE_API_KEY", "test-dashscope-key")
    lm = make_lm(DashScopeChat("qwen-vl-test", base_url=f"{proxy.url}/api/v1"), gen=Generation(),
                 cache=ResponseCache(tmp_path / "replies.sqlite"), progress=False)
    evaluate(setup, "dashscope", lm, tmp_path / "run")
    check_run(tmp_path / "run")
    assert len(proxy.received) == len(proxy.forwarded) == 10
    check_images_in_placeholder_order(proxy.forwarded, 5)
    paths = [rec["path"].rsplit("/", 2)[-2] for rec in proxy.received]
    assert sorted(paths) == ["multimodal-generation"] * 5 + ["text-generation"] * 5
    for rec in proxy.received:
        assert rec["headers"].get("Authorization") == "Bearer test-dashscope-key"
        assert rec["body"]["model"] == "qwen-vl-test"
        params = rec["body"]["parameters"]
        assert params["max_tokens"] == MAX_GEN_TOKS and params["stop"] == ["</answer>"] and params["temperature"] == 0
        if rec["path"].endswith("multimodal-generation/generation"):
            parts = rec["body"]["input"]["messages"][-1]["content"]
            assert [next(iter(p)) for p in parts] == ["image"] * 3 + ["text"]  # the seed format: images first
            assert all(p["image"].startswith("data:image/jpeg;base64,") for p in parts if "image" in p)
    # the served model's reasoning came back apart (reasoning_content) and the backend put it back in front
    assert all(p["output"].startswith("<think>Dense fibrosis.</think>")
               for p in predictions(tmp_path / "run", "scale_vqa"))


@pytest.mark.parametrize(("spec", "env"), [("openai:gpt-5", "OPENAI_API_KEY"),
                                           ("gemini:gemini-3-flash", "GEMINI_API_KEY"),
                                           ("dashscope:qwen-vl-max", "DASHSCOPE_API_KEY")])
def test_missing_key_names_the_variable(no_keys: None, spec: str, env: str) -> None:
    pytest.importorskip({"openai": "openai", "gemini": "google.genai", "dashscope": "dashscope"}[spec.split(":")[0]])
    with pytest.raises(AnswererError, match=rf"{env} is not set"):
        ChatLM(model=spec)
    from lm_eval.api.registry import get_model

    with pytest.raises(AnswererError, match=rf"{env} is not set"):
        get_model(MODEL_NAME).create_from_arg_obj({"model": spec}, {"batch_size": 1, "device": None})


def test_registered_model_builds_backend_and_settings_from_model_args(no_keys: None, tmp_path: Path) -> None:
    from lm_eval.api.registry import get_model

    lm = get_model(MODEL_NAME).create_from_arg_obj(
        {"model": "openai:m", "base_url": "http://127.0.0.1:9/v1", "temperature": "none", "reasoning_effort": "low",
         "max_tokens": 64, "cache": str(tmp_path / "c.sqlite"), "max_pixels": 100}, {"batch_size": 1})
    assert isinstance(lm, ChatLM) and isinstance(lm.backend, OpenAIChat) and lm.max_pixels == 100
    assert lm.gen == Generation(max_tokens=64, temperature=None, reasoning_effort="low")
    assert lm.runner.cache is not None and lm.runner.cache.path == tmp_path / "c.sqlite"


class _Request(NamedTuple):
    args: tuple[Any, ...]
    task_name: str = "scale_vqa_diagnosis"
    doc_id: int = 7
    doc: dict[str, Any] = {"id": "val-00007"}  # noqa: RUF012 (a NamedTuple default, never mutated)


def _images(n: int) -> list[Any]:
    from PIL import Image

    return [Image.new("RGB", (20 + k, 10), (k, k, k)) for k in range(n)]


def test_image_count_mismatch_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    from lm_eval.models.api_models import JsonChatStr

    lm = make_lm(OpenAIChat("m", base_url="http://127.0.0.1:9/v1", timeout=1), gen=Generation(), retries=0,
                 progress=False, cache=ResponseCache(tmp_path / "c.sqlite"))
    context = lm.apply_chat_template([{"role": "system", "content": "sys"},
                                      {"role": "user", "content": "a <image> b <image> c <image> d"}])
    assert isinstance(context, JsonChatStr)
    ok = lm.messages(context, _images(3))
    assert [p["type"] for p in ok[-1]["content"]] == ["text", "image_url"] * 3 + ["text"]
    assert [image_size(p["image_url"]["url"]) for p in ok[-1]["content"] if p["type"] == "image_url"] == [
        (20, 10), (21, 10), (22, 10)]
    req = _Request((context, {"until": ["</answer>"], "max_gen_toks": 8}, {"visual": _images(2)}))
    with pytest.raises(ValueError, match=r"scale_vqa_diagnosis doc 7: the prompt has 3 <image> placeholders but "
                                         r"2 images"):
        lm.generate_until([req])  # a ValueError, not the unreachable server's AnswererError: nothing was sent
    blind = _Request((lm.apply_chat_template([{"role": "user", "content": "a <image> b"}]), {}))
    with pytest.raises(ValueError, match="1 <image> placeholders but 0 images"):
        lm.generate_until([blind])
    assert lm.stats.requested == 0 and lm.stats.retries == 0


def test_request_settings_on_top_of_the_generation() -> None:
    plain = make_lm(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"), gen=Generation(stop=("###",)),
                    progress=False)
    gen, cut = plain.generation({"until": ["</answer>", "###"], "max_gen_toks": 32, "temperature": 0.7})
    assert gen == Generation(max_tokens=32, temperature=0.0, stop=("###", "</answer>")) and cut == gen.stop
    assert plain.generation({"until": "</answer>"})[0].max_tokens == 1024
    reasoning = make_lm(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"),
                        gen=Generation(temperature=None, reasoning_effort="medium"), progress=False)
    gen, cut = reasoning.generation({"until": ["</answer>"], "max_gen_toks": 64})
    assert gen.stop == () and cut == ("</answer>",) and gen.max_tokens == 64 and gen.temperature is None
    off = make_lm(OpenAIChat("m", base_url="http://127.0.0.1:9/v1"), gen=Generation(reasoning_effort="none"),
                  progress=False)
    assert off.generation({"until": ["</answer>"]})[0].stop == ("</answer>",)
    reply = "<think>x</think> <answer>B</answer> more"
    assert cut_at_stops(reply, ("</answer>", "zzz")) == "<think>x</think> <answer>B"
    assert cut_at_stops("no stop", ("</answer>",)) == "no stop"


def test_cache_keys_of_older_settings_are_unchanged() -> None:
    """`reasoning_effort` enters the key only when set: caches written before it existed keep their hits."""
    assert Generation().key_fields() == {"max_tokens": 1024, "temperature": 0.0, "stop": []}
    assert Generation(reasoning_effort="low").key_fields()["reasoning_effort"] == "low"
    assert Generation(temperature=None).key_fields()["temperature"] is None


def test_image_part_downscales_to_the_pixel_budget() -> None:
    from PIL import Image

    big = image_part(Image.new("RGB", (400, 100), "red"), max_pixels=10_000)
    assert big["image_url"]["url"].startswith("data:image/jpeg;base64,") and image_size(big["image_url"]["url"]) == (
        200, 50)
    assert image_size(image_part(Image.new("RGB", (30, 20)), max_pixels=10_000)["image_url"]["url"]) == (30, 20)
    rgba = image_part(Image.new("RGBA", (30, 20)))
    assert rgba["image_url"]["url"].startswith("data:image/png;base64,")


def test_gemini_thinking_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("google.genai", reason="the 'api' extra")
    for name in KEY_VARS:
        monkeypatch.delenv(name, raising=False)
    backend = GeminiChat("gemini-test", base_url="http://127.0.0.1:9")  # a proxy needs no key
    assert backend.thinking_level("high").value == "HIGH" and backend.thinking_level("MINIMAL").value == "MINIMAL"
    with pytest.raises(AnswererError, match="Gemini has no thinking level 'none'"):
        backend.thinking_level("none")
    assert backend.identity == {"backend": "gemini", "model": "gemini-test", "base_url": "http://127.0.0.1:9"}


# ------------------------------------------------------------------ the registry's API rows, from the command line
@pytest.mark.slow
@pytest.mark.parametrize(("config", "backend", "env", "base", "model"), [
    ("gpt-5.2", "openai", "OPENAI_API_KEY", "/v1", None),
    ("gemini-3-flash", "gemini", "GEMINI_API_KEY", "", "gemini-test"),
    ("qwen2.5-vl-7b", "dashscope", "DASHSCOPE_API_KEY", "/api/v1", "qwen-vl-test"),
])
def test_registry_api_rows_run_from_the_command_line(setup: Setup, proxy: Proxy, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch, config: str, backend: str,
                                                      env: str, base: str, model: str | None) -> None:
    """`scale-vqa baselines run CONFIG` with the shipped config's settings: the served model stands in for the
    provider's (--model-path; the proxy serves it under any name), the proxy for its endpoint (--base-url); a
    re-run is served from the reply cache."""
    from baselines.models.config import find_model_config
    from scale_vqa.cli import main

    monkeypatch.setenv(env, "test-key")
    cfg = find_model_config(config)
    out = tmp_path / "run"
    argv = ["baselines", "run", config, "--backend", backend, "--model-path", model or setup.model, "--base-url",
            proxy.url + base, "--data", str(setup.release), "--split", "validation", "--out", str(out),
            "--tasks", "scale_vqa", "--limit", "1", "--max-gen-toks", str(MAX_GEN_TOKS), "--quiet"]
    assert main(argv) == 0
    check_run(out, ("scale_vqa",))
    assert len(proxy.forwarded) == 5
    check_images_in_placeholder_order(proxy.forwarded, 5)
    sent = proxy.received[0]["body"]
    if backend == "openai":  # GPT-5.2's config: reasoning effort "none", temperature 0, no stop
        assert sent["reasoning_effort"] == "none" and sent["max_completion_tokens"] == MAX_GEN_TOKS
        assert sent["temperature"] == 0 and "stop" not in sent
    elif backend == "gemini":  # Gemini 3 Flash's config: the provider's default temperature
        assert "temperature" not in sent["generationConfig"]
    meta = json.loads((out / "run.json").read_text())
    assert meta["name"] == cfg.name and meta["model_args"]["backend"] == backend
    assert meta["model_args"]["max_pixels"] is None  # images sent as they are: the provider's own budget
    assert meta["prompt_format"] == "seed"
    assert (tmp_path / "run.cache.sqlite").is_file()
    proxy.clear()
    assert main(argv) == 0  # resumed entirely from the cache
    assert proxy.forwarded == []
