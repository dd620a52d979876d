"""Chat backends for the providers' own SDKs — Gemini (google-genai) and DashScope — registered beside the
evaluator's OpenAI-compatible one (:mod:`evaluator.chat`), and :class:`LLMAnswerer`, which answers items by
prompting any of them.

The prompt is the core's (:func:`scale_vqa.prompt.build_prompt`; the ``blind`` variant for text-only audits) and
the reply is read with the core parser, so a letter means the same thing everywhere. Requests go through the
evaluator's :class:`~evaluator.chat.runner.ChatRunner`: concurrent under a requests-per-minute limit, transient
failures retried, every reply cached on disk as soon as it arrives, so an interrupted run resumes without paying
twice.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from baselines.answerer import Answer, Answerer, AnswererError
from evaluator.chat.backend import (
    BACKENDS,
    ChatBackend,
    ChatError,
    Messages,
    TransientError,
    backend_class,
    make_backend,
    parts_of,
    register_backend,
    text_of,
)
from evaluator.chat.cache import ResponseCache
from evaluator.chat.openai_backend import DASHSCOPE_COMPATIBLE_URL, OpenAIChat
from evaluator.chat.runner import ChatRunner, RunStats
from evaluator.chat.settings import Generation
from scale_vqa.errors import require_extra
from scale_vqa.item import Item
from scale_vqa.parse import join_reasoning, parse_answer
from scale_vqa.prompt import SEED_SYSTEM_PROMPT, ImageSlot, Variant, build_prompt

__all__ = ["BACKENDS", "DASHSCOPE_COMPATIBLE_URL", "ChatBackend", "DashScopeChat", "GeminiChat", "Generation",
           "LLMAnswerer", "OpenAIChat", "ResponseCache", "backend_class", "make_backend"]


def _split_system(messages: Messages) -> tuple[str | None, Messages]:
    system = next((text_of(m["content"]) for m in messages if m["role"] == "system"), None)
    return system, [m for m in messages if m["role"] != "system"]


def _data_url_bytes(url: str) -> tuple[str, bytes]:
    head, _, data = url.partition(",")
    return head.removeprefix("data:").split(";")[0], base64.b64decode(data)


class GeminiChat(ChatBackend):
    """Gemini through the google-genai SDK (key in ``GEMINI_API_KEY``). `base_url` points the SDK at another
    endpoint speaking the Gemini API (a proxy, a loopback test server); the key is then optional."""

    backend = "gemini"
    key_env = "GEMINI_API_KEY"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0, **_: Any) -> None:
        super().__init__(model)
        require_extra("api", "google.genai", "httpx", what="the gemini backend")
        import httpx
        from google import genai
        from google.genai import errors, types

        self.base_url = base_url.rstrip("/") if base_url else None
        key = self.api_key(api_key_env, required=self.base_url is None) or "EMPTY"
        self.types, self.errors, self.transport_errors = types, errors, (httpx.TransportError,)
        self.client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=self.base_url,
                                                                               timeout=int(timeout * 1000)))

    def thinking_level(self, effort: str) -> Any:
        """Gemini's ``ThinkingLevel`` for a reasoning effort (``minimal``, ``low``, ``medium``, ``high`` …)."""
        levels = {level.value.lower(): level for level in self.types.ThinkingLevel
                  if level.name != "THINKING_LEVEL_UNSPECIFIED"}
        if effort.lower() not in levels:
            raise ChatError(f"Gemini has no thinking level {effort!r}: use one of {', '.join(levels)}")
        return levels[effort.lower()]

    def complete(self, messages: Messages, gen: Generation) -> str:
        t = self.types
        system, rest = _split_system(messages)
        contents = []
        for message in rest:
            parts = []
            for part in parts_of(message["content"]):
                if part["type"] == "text":
                    parts.append(t.Part.from_text(text=part["text"]))
                else:
                    mime, data = _data_url_bytes(part["image_url"]["url"])
                    parts.append(t.Part.from_bytes(data=data, mime_type=mime))
            contents.append(t.Content(role="model" if message["role"] == "assistant" else "user", parts=parts))
        thinking = (t.ThinkingConfig(thinking_level=self.thinking_level(gen.reasoning_effort))
                    if gen.reasoning_effort is not None else None)
        config = t.GenerateContentConfig(system_instruction=system, max_output_tokens=gen.max_tokens,
                                         temperature=gen.temperature, stop_sequences=list(gen.stop) or None,
                                         thinking_config=thinking)
        try:
            resp = self.client.models.generate_content(model=self.model, contents=contents, config=config)
        except self.errors.APIError as exc:
            code = getattr(exc, "code", None) or 0
            if code == 429 or code >= 500:
                raise TransientError(str(exc)) from exc
            raise ChatError(f"Gemini ({self.where}) answered {code}: {exc}") from exc
        except (OSError, *self.transport_errors) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        return resp.text or ""


class DashScopeChat(ChatBackend):
    """Qwen models through DashScope's own SDK (key in ``DASHSCOPE_API_KEY``); multimodal when images are sent.
    `base_url` (e.g. ``https://dashscope-intl.aliyuncs.com/api/v1``, a proxy, a loopback test server) replaces
    ``dashscope.base_http_api_url`` for this backend's requests only; the key is then optional. Requests are not
    streamed, so models that think only on streamed calls cannot take a `reasoning_effort` other than ``none``."""

    backend = "dashscope"
    key_env = "DASHSCOPE_API_KEY"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0, **_: Any) -> None:
        super().__init__(model)
        require_extra("api", "dashscope", what="the dashscope backend")
        import dashscope

        self.base_url = base_url.rstrip("/") if base_url else None
        self.key = self.api_key(api_key_env, required=self.base_url is None) or "EMPTY"
        self.timeout = timeout
        self.dashscope = dashscope

    def complete(self, messages: Messages, gen: Generation) -> str:
        multimodal = any(isinstance(m["content"], list) and any(p["type"] == "image_url" for p in m["content"])
                         for m in messages)
        params: dict[str, Any] = {"api_key": self.key, "model": self.model, "max_tokens": gen.max_tokens,
                                  "request_timeout": self.timeout}
        if self.base_url:
            params["base_address"] = self.base_url  # per request: the SDK's global base_http_api_url stays as is
        if gen.temperature is not None:
            params["temperature"] = gen.temperature
        if gen.stop:
            params["stop"] = list(gen.stop)
        if gen.reasoning_effort is not None:
            params["enable_thinking"] = gen.reasoning_effort != "none"
        try:
            if multimodal:
                msgs = [{"role": m["role"], "content": [{"text": p["text"]} if p["type"] == "text" else
                                                        {"image": p["image_url"]["url"]}
                                                        for p in parts_of(m["content"])]} for m in messages]
                resp = self.dashscope.MultiModalConversation.call(messages=msgs, **params)
            else:
                msgs = [{"role": m["role"], "content": text_of(m["content"])} for m in messages]
                resp = self.dashscope.Generation.call(messages=msgs, result_format="message", **params)
        except OSError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        status = getattr(resp, "status_code", 200)
        if status == 429 or status >= 500:
            raise TransientError(f"DashScope ({self.where}) answered {status}: {getattr(resp, 'message', '')}")
        if status != 200:
            raise ChatError(f"DashScope ({self.where}) answered {status}: {getattr(resp, 'message', '')}")
        message = resp.output.choices[0].message
        content = message.content
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        reasoning = message.get("reasoning_content")  # thinking models return it apart, as vLLM does
        return join_reasoning(text, reasoning) if isinstance(reasoning, str) and reasoning else text

register_backend("gemini", f"{__name__}:GeminiChat")
register_backend("dashscope", f"{__name__}:DashScopeChat")


def image_data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


class LLMAnswerer(Answerer):
    """Answers items by prompting a chat model; text-only with the ``blind`` variant (the default)."""

    def __init__(self, backend: ChatBackend, *, variant: Variant | str = Variant.BLIND,
                 image_root: str | Path | None = None, system: str | None = SEED_SYSTEM_PROMPT,
                 gen: Generation | None = None, cache: ResponseCache | None = None, concurrency: int = 4,
                 rpm: float = 0.0, retries: int = 5, backoff: float = 1.0, progress: bool = True,
                 name: str | None = None) -> None:
        self.backend, self.variant = backend, Variant(variant)
        if self.variant in (Variant.SHUFFLED, Variant.CIRCULAR):
            raise AnswererError(f"variant {self.variant} is run by the evaluator, not by a single answerer")
        self.uses_images = bool(self.variant.scales)
        if self.uses_images and image_root is None:
            raise AnswererError(f"variant {self.variant} sends images: give the image folder (image_root)")
        self.image_root = Path(image_root) if image_root is not None else None
        self.system, self.gen = system, gen or Generation()
        self.name = name or f"llm:{backend.backend}:{backend.model}"
        self.description = f"{backend.model} via {backend.where} ({self.variant} prompt)"
        self.runner = ChatRunner(backend, self.gen, cache, concurrency=concurrency, rpm=rpm, retries=retries,
                                 backoff=backoff, progress=progress, name=self.name, unit="item")

    @property
    def cache(self) -> ResponseCache | None:
        return self.runner.cache

    @property
    def stats(self) -> RunStats:
        return self.runner.stats

    def messages(self, item: Item) -> Messages:
        prompt = build_prompt(item, scales=self.variant.scales, system=self.system, variant=self.variant)

        def part(slot: ImageSlot) -> dict[str, Any]:
            assert self.image_root is not None
            path = self.image_root / slot.path
            if not path.is_file():
                raise AnswererError(f"item {item.id}: image file not found: {path}")
            return {"type": "image_url", "image_url": {"url": image_data_url(path)}}

        return prompt.messages(part)

    def cache_key(self, messages: Messages) -> str:
        return self.runner.cache_key(messages)

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        texts = self.runner.run([self.messages(item) for item in items], [{"item_id": item.id} for item in items])
        return [Answer(parse_answer(text, item.letters).letter, None, text)
                for item, text in zip(items, texts, strict=True)]
