"""LLM / VLM answerers over APIs: any OpenAI-compatible server (OpenAI, vLLM, ``transformers serve``,
DashScope's compatible mode), Gemini (google-genai) and DashScope's own SDK.

The prompt is the core's (:func:`scale_vqa.prompt.build_prompt`; the ``blind`` variant for text-only audits) and
the reply is read with the core parser, so a letter means the same thing everywhere. Requests run concurrently
under a requests-per-minute limit, transient failures are retried with exponential backoff, and every reply is
stored in an on-disk cache keyed by backend, model, messages and generation settings *as soon as it arrives*,
so an interrupted run resumes without paying twice. That request machinery is :class:`ChatRunner`; it also serves
the evaluator's lm-eval model for these backends (:mod:`baselines.api.lm_eval_chat`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
import os
import random
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baselines.answerer import Answer, Answerer, AnswererError
from baselines.api.cache import ResponseCache
from scale_vqa.item import Item
from scale_vqa.parse import join_reasoning, parse_answer
from scale_vqa.prompt import SEED_SYSTEM_PROMPT, ImageSlot, Variant, build_prompt

Messages = list[dict[str, Any]]

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
DASHSCOPE_COMPATIBLE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
KEY_ENV = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY", "dashscope": "DASHSCOPE_API_KEY"}


class TransientError(Exception):
    """A failure worth retrying (connection, timeout, rate limit, server error)."""


@dataclass(frozen=True)
class Generation:
    """Generation settings; part of the cache key.

    `temperature` None sends none (the server's default; OpenAI's reasoning models accept no other value than
    their default). `reasoning_effort` (e.g. ``none``, ``minimal``, ``low``, ``medium``, ``high``) selects how much a
    reasoning model thinks: OpenAI's ``reasoning_effort`` (then ``max_tokens`` is sent as ``max_completion_tokens``),
    Gemini's ``thinking_level``, DashScope's ``enable_thinking`` (off for ``none``)."""

    max_tokens: int = 1024
    temperature: float | None = 0.0
    stop: tuple[str, ...] = ()
    reasoning_effort: str | None = None

    def key_fields(self) -> dict[str, Any]:
        """The settings as they enter a cache key (`reasoning_effort` only when set, so keys written before it
        existed stay valid)."""
        fields: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                  "stop": list(self.stop)}
        if self.reasoning_effort is not None:
            fields["reasoning_effort"] = self.reasoning_effort
        return fields


class ChatBackend(ABC):
    """Sends chat messages (OpenAI format, images as data URLs) to one model; returns the reply text."""

    backend: str = "chat"
    base_url: str | None = None
    """The endpoint when it is not the provider's default (always set for OpenAI-compatible servers)."""

    def __init__(self, model: str) -> None:
        self.model = model

    @property
    def identity(self) -> dict[str, str]:
        """What distinguishes this backend's replies in the cache (the endpoint too, when one is set)."""
        ident = {"backend": self.backend, "model": self.model}
        return {**ident, "base_url": self.base_url} if self.base_url else ident

    @abstractmethod
    def complete(self, messages: Messages, gen: Generation) -> str:
        """One reply; raises :class:`TransientError` for retryable failures, AnswererError for fatal ones."""

    def accepts_stop(self, gen: Generation) -> bool:
        """Whether requests with these settings may carry stop sequences (callers that need one then cut the
        reply themselves)."""
        return True

    @property
    def where(self) -> str:
        return self.base_url or self.backend


def _key_from_env(env: str | None, backend: str, required: bool) -> str | None:
    name = env or KEY_ENV[backend]
    key = os.environ.get(name)
    if not key and required:
        raise AnswererError(f"{name} is not set: the {backend} backend needs an API key in that environment "
                            f"variable" + (" (or pass --base-url for a local OpenAI-compatible server)"
                                           if backend == "openai" else ""))
    return key


class OpenAIChat(ChatBackend):
    """Any OpenAI-compatible ``/v1/chat/completions`` endpoint. A key is required only for the public API."""

    backend = "openai"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0) -> None:
        super().__init__(model)
        try:
            import openai
        except ImportError as exc:
            raise AnswererError("the openai backend needs the 'api' extra: pip install 'scale-vqa[api]'") from exc
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL).rstrip("/")
        public = self.base_url in (OPENAI_DEFAULT_URL, DASHSCOPE_COMPATIBLE_URL)
        env = api_key_env or ("DASHSCOPE_API_KEY" if self.base_url == DASHSCOPE_COMPATIBLE_URL else None)
        key = _key_from_env(env, "openai", required=public) or "EMPTY"
        self._openai = openai
        self.client = openai.OpenAI(base_url=self.base_url, api_key=key, timeout=timeout, max_retries=0)

    def accepts_stop(self, gen: Generation) -> bool:
        # OpenAI's reasoning models (o-series, GPT-5.x) refuse `stop` unless reasoning is off
        return gen.reasoning_effort in (None, "none")

    def complete(self, messages: Messages, gen: Generation) -> str:
        o = self._openai
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        if gen.reasoning_effort is not None:  # reasoning models refuse `max_tokens`
            kwargs["reasoning_effort"] = gen.reasoning_effort
            kwargs["max_completion_tokens"] = gen.max_tokens
        else:
            kwargs["max_tokens"] = gen.max_tokens
        if gen.temperature is not None:
            kwargs["temperature"] = gen.temperature
        if gen.stop:
            kwargs["stop"] = list(gen.stop)
        try:
            resp = self.client.chat.completions.create(**kwargs)
        except (o.APIConnectionError, o.APITimeoutError, o.RateLimitError, o.InternalServerError) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        except o.AuthenticationError as exc:
            raise AnswererError(f"{self.base_url} refused the API key (401): {exc}") from exc
        except o.APIStatusError as exc:
            raise AnswererError(f"{self.base_url} answered {exc.status_code}: {_status_message(exc)}") from exc
        if not resp.choices:
            return ""
        message = resp.choices[0].message
        text = message.content or ""
        # servers with a reasoning parser (vLLM, transformers serve) move the <think> block out of `content`:
        # put it back, so the raw text is what the model generated and the format check sees the whole reply
        extra = message.model_extra or {}
        reasoning = extra.get("reasoning_content") or extra.get("reasoning")
        if isinstance(reasoning, str):
            text = join_reasoning(text, reasoning)
        return text


def _status_message(exc: Any) -> str:
    """The text of an HTTP error from the openai client, with the server's ``detail`` when there is one: FastAPI
    servers such as ``transformers serve`` explain errors there (e.g. "Server is pinned to 'X'; requested 'Y'"),
    and the client's message keeps only an OpenAI-style ``error.message``."""
    body = getattr(exc, "body", None)
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is None or str(detail) in exc.message:
        return str(exc.message)
    return f"{exc.message} - {str(detail)[:500]}"


def _split_system(messages: Messages) -> tuple[str | None, Messages]:
    system = next((_text_of(m["content"]) for m in messages if m["role"] == "system"), None)
    return system, [m for m in messages if m["role"] != "system"]


def _text_of(content: str | list[dict[str, Any]]) -> str:
    return content if isinstance(content, str) else "".join(p.get("text", "") for p in content if p["type"] == "text")


def _parts_of(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def _data_url_bytes(url: str) -> tuple[str, bytes]:
    head, _, data = url.partition(",")
    return head.removeprefix("data:").split(";")[0], base64.b64decode(data)


class GeminiChat(ChatBackend):
    """Gemini through the google-genai SDK (key in ``GEMINI_API_KEY``). `base_url` points the SDK at another
    endpoint speaking the Gemini API (a proxy, a loopback test server); the key is then optional."""

    backend = "gemini"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0, **_: Any) -> None:
        super().__init__(model)
        try:
            import httpx
            from google import genai
            from google.genai import errors, types
        except ImportError as exc:
            raise AnswererError("the gemini backend needs the 'api' extra: pip install 'scale-vqa[api]'") from exc
        self.base_url = base_url.rstrip("/") if base_url else None
        key = _key_from_env(api_key_env, "gemini", required=self.base_url is None) or "EMPTY"
        self.types, self.errors, self.transport_errors = types, errors, (httpx.TransportError,)
        self.client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=self.base_url,
                                                                               timeout=int(timeout * 1000)))

    def thinking_level(self, effort: str) -> Any:
        """Gemini's ``ThinkingLevel`` for a reasoning effort (``minimal``, ``low``, ``medium``, ``high`` …)."""
        levels = {level.value.lower(): level for level in self.types.ThinkingLevel
                  if level.name != "THINKING_LEVEL_UNSPECIFIED"}
        if effort.lower() not in levels:
            raise AnswererError(f"Gemini has no thinking level {effort!r}: use one of {', '.join(levels)}")
        return levels[effort.lower()]

    def complete(self, messages: Messages, gen: Generation) -> str:
        t = self.types
        system, rest = _split_system(messages)
        contents = []
        for message in rest:
            parts = []
            for part in _parts_of(message["content"]):
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
            raise AnswererError(f"Gemini ({self.where}) answered {code}: {exc}") from exc
        except (OSError, *self.transport_errors) as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        return resp.text or ""


class DashScopeChat(ChatBackend):
    """Qwen models through DashScope's own SDK (key in ``DASHSCOPE_API_KEY``); multimodal when images are sent.
    `base_url` (e.g. ``https://dashscope-intl.aliyuncs.com/api/v1``, a proxy, a loopback test server) replaces
    ``dashscope.base_http_api_url`` for this backend's requests only; the key is then optional. Requests are not
    streamed, so models that think only on streamed calls cannot take a `reasoning_effort` other than ``none``."""

    backend = "dashscope"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0, **_: Any) -> None:
        super().__init__(model)
        try:
            import dashscope
        except ImportError as exc:
            raise AnswererError("the dashscope backend needs the 'api' extra: pip install 'scale-vqa[api]'") from exc
        self.base_url = base_url.rstrip("/") if base_url else None
        self.key = _key_from_env(api_key_env, "dashscope", required=self.base_url is None) or "EMPTY"
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
                                                        for p in _parts_of(m["content"])]} for m in messages]
                resp = self.dashscope.MultiModalConversation.call(messages=msgs, **params)
            else:
                msgs = [{"role": m["role"], "content": _text_of(m["content"])} for m in messages]
                resp = self.dashscope.Generation.call(messages=msgs, result_format="message", **params)
        except OSError as exc:
            raise TransientError(f"{type(exc).__name__}: {exc}") from exc
        status = getattr(resp, "status_code", 200)
        if status == 429 or status >= 500:
            raise TransientError(f"DashScope ({self.where}) answered {status}: {getattr(resp, 'message', '')}")
        if status != 200:
            raise AnswererError(f"DashScope ({self.where}) answered {status}: {getattr(resp, 'message', '')}")
        message = resp.output.choices[0].message
        content = message.content
        text = content if isinstance(content, str) else "".join(p.get("text", "") for p in content)
        reasoning = message.get("reasoning_content")  # thinking models return it apart, as vLLM does
        return join_reasoning(text, reasoning) if isinstance(reasoning, str) and reasoning else text


BACKENDS: dict[str, type[ChatBackend]] = {"openai": OpenAIChat, "gemini": GeminiChat, "dashscope": DashScopeChat}


def make_backend(spec: str, **kwargs: Any) -> ChatBackend:
    """``BACKEND:MODEL`` (e.g. ``openai:gpt-4o-mini``, ``gemini:gemini-2.5-flash``, ``dashscope:qwen-vl-max``)."""
    backend, sep, model = spec.partition(":")
    if not sep or not model or backend not in BACKENDS:
        raise AnswererError(f"bad LLM spec {spec!r}: use BACKEND:MODEL with BACKEND one of {', '.join(BACKENDS)}")
    return BACKENDS[backend](model, **kwargs)


def image_data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


class RateLimiter:
    """At most `rpm` request starts per minute across threads (0 = unlimited)."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        time.sleep(max(0.0, start - now))


@dataclass
class RunStats:
    cached: int = 0
    requested: int = 0
    retries: int = 0
    failed: list[str] = field(default_factory=list)


class ChatRunner:
    """Sends many chat requests to one backend: answers already in the cache are reused, the rest are sent
    concurrently (at most `rpm` per minute), transient failures are retried with exponential backoff, and each
    reply is cached as soon as it arrives, so an interrupted run resumes where it stopped. `stats` counts over
    every :meth:`run` of this runner."""

    def __init__(self, backend: ChatBackend, gen: Generation | None = None, cache: ResponseCache | None = None, *,
                 concurrency: int = 4, rpm: float = 0.0, retries: int = 5, backoff: float = 1.0,
                 progress: bool = True, name: str | None = None, unit: str = "request") -> None:
        self.backend, self.gen, self.cache = backend, gen or Generation(), cache
        self.concurrency, self.retries, self.backoff = max(1, concurrency), retries, backoff
        self.limiter = RateLimiter(rpm)
        self.progress, self.unit = progress, unit
        self.name = name or f"{backend.backend}:{backend.model}"
        self.stats = RunStats()

    def cache_key(self, messages: Messages, gen: Generation | None = None) -> str:
        """What identifies a reply: backend identity, messages and generation settings."""
        payload = {**self.backend.identity, "messages": messages, **(gen or self.gen).key_fields()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def call(self, messages: Messages, gen: Generation | None = None) -> str:
        """One request, retried on transient failures; no cache."""
        gen = gen or self.gen
        delay = self.backoff
        for attempt in range(self.retries + 1):
            self.limiter.wait()
            try:
                return self.backend.complete(messages, gen)
            except TransientError as exc:
                if attempt == self.retries:
                    raise AnswererError(f"{self.backend.where} unreachable or failing after {self.retries + 1} "
                                        f"attempts: {exc}") from exc
                self.stats.retries += 1
                time.sleep(delay * (1 + random.random() * 0.25))
                delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")

    def run(self, requests: Sequence[Messages], meta: Sequence[dict[str, Any]] | None = None, *,
            gens: Sequence[Generation] | None = None, progress: bool | None = None) -> list[str]:
        """The reply text to each request, in order. `meta[i]` is stored with request i's cached reply (e.g. an
        item id); `gens[i]` overrides the runner's generation settings for request i. The first failure that
        retries cannot fix stops the run (queued requests are dropped; replies received so far stay cached)."""
        if meta is not None and len(meta) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(meta)} meta entries")
        if gens is not None and len(gens) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(gens)} generation settings")
        texts: list[str | None] = [None] * len(requests)
        todo: list[tuple[int, str]] = []
        for i, msgs in enumerate(requests):
            key = self.cache_key(msgs, gens[i] if gens is not None else None)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                texts[i] = hit
                self.stats.cached += 1
            else:
                todo.append((i, key))
        bar = None
        if (self.progress if progress is None else progress) and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=self.name, unit=self.unit, leave=False)

        def send(i: int, key: str) -> None:
            text = self.call(requests[i], gens[i] if gens is not None else None)
            if self.cache is not None:
                self.cache.put(key, text, {**self.backend.identity, **(meta[i] if meta is not None else {})})
            texts[i] = text
            self.stats.requested += 1
            if bar is not None:
                bar.update()

        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = [pool.submit(send, *job) for job in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in done:
                exc = f.exception()
                if exc is not None:
                    raise exc
        finally:  # on an error or Ctrl-C: drop queued requests; replies already received stay cached
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        return [text or "" for text in texts]


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
