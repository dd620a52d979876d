"""LLM / VLM answerers over APIs: any OpenAI-compatible server (OpenAI, vLLM, ``transformers serve``,
DashScope's compatible mode), Gemini (google-genai) and DashScope's own SDK.

The prompt is the core's (:func:`scale_vqa.prompt.build_prompt`; the ``blind`` variant for text-only audits) and
the reply is read with the core parser, so a letter means the same thing everywhere. Requests run concurrently
under a requests-per-minute limit, transient failures are retried with exponential backoff, and every reply is
stored in an on-disk cache keyed by backend, model, messages and generation settings *as soon as it arrives*,
so an interrupted run resumes without paying twice.
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

from scale_vqa.item import Item
from scale_vqa.parse import join_reasoning, parse_answer
from scale_vqa.prompt import SEED_SYSTEM_PROMPT, ImageSlot, Variant, build_prompt

from .answerer import Answer, Answerer, AnswererError
from .cache import ResponseCache

Messages = list[dict[str, Any]]

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
DASHSCOPE_COMPATIBLE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
KEY_ENV = {"openai": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY", "dashscope": "DASHSCOPE_API_KEY"}


class TransientError(Exception):
    """A failure worth retrying (connection, timeout, rate limit, server error)."""


@dataclass(frozen=True)
class Generation:
    """Generation settings; part of the cache key."""

    max_tokens: int = 1024
    temperature: float = 0.0
    stop: tuple[str, ...] = ()


class ChatBackend(ABC):
    """Sends chat messages (OpenAI format, images as data URLs) to one model; returns the reply text."""

    backend: str = "chat"

    def __init__(self, model: str) -> None:
        self.model = model

    @property
    def identity(self) -> dict[str, str]:
        """What distinguishes this backend's replies in the cache."""
        return {"backend": self.backend, "model": self.model}

    @abstractmethod
    def complete(self, messages: Messages, gen: Generation) -> str:
        """One reply; raises :class:`TransientError` for retryable failures, AnswererError for fatal ones."""

    @property
    def where(self) -> str:
        return self.backend


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

    @property
    def identity(self) -> dict[str, str]:
        return {**super().identity, "base_url": self.base_url}

    @property
    def where(self) -> str:
        return self.base_url

    def complete(self, messages: Messages, gen: Generation) -> str:
        o = self._openai
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "max_tokens": gen.max_tokens,
                                  "temperature": gen.temperature}
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
    system = next((m["content"] for m in messages if m["role"] == "system"), None)
    return system, [m for m in messages if m["role"] != "system"]


def _data_url_bytes(url: str) -> tuple[str, bytes]:
    head, _, data = url.partition(",")
    return head.removeprefix("data:").split(";")[0], base64.b64decode(data)


class GeminiChat(ChatBackend):
    """Gemini through the google-genai SDK (key in ``GEMINI_API_KEY``)."""

    backend = "gemini"

    def __init__(self, model: str, *, api_key_env: str | None = None, timeout: float = 120.0, **_: Any) -> None:
        super().__init__(model)
        try:
            from google import genai
            from google.genai import errors, types
        except ImportError as exc:
            raise AnswererError("the gemini backend needs the 'api' extra: pip install 'scale-vqa[api]'") from exc
        key = _key_from_env(api_key_env, "gemini", required=True)
        self.types, self.errors = types, errors
        self.client = genai.Client(api_key=key, http_options=types.HttpOptions(timeout=int(timeout * 1000)))

    def complete(self, messages: Messages, gen: Generation) -> str:
        t = self.types
        system, rest = _split_system(messages)
        parts = []
        for part in rest[-1]["content"]:
            if part["type"] == "text":
                parts.append(t.Part.from_text(text=part["text"]))
            else:
                mime, data = _data_url_bytes(part["image_url"]["url"])
                parts.append(t.Part.from_bytes(data=data, mime_type=mime))
        config = t.GenerateContentConfig(system_instruction=system, max_output_tokens=gen.max_tokens,
                                         temperature=gen.temperature, stop_sequences=list(gen.stop) or None)
        try:
            resp = self.client.models.generate_content(model=self.model, contents=[t.Content(role="user", parts=parts)],
                                                       config=config)
        except self.errors.APIError as exc:
            code = getattr(exc, "code", None) or 0
            if code == 429 or code >= 500:
                raise TransientError(str(exc)) from exc
            raise AnswererError(f"Gemini answered {code}: {exc}") from exc
        except OSError as exc:
            raise TransientError(str(exc)) from exc
        return resp.text or ""


class DashScopeChat(ChatBackend):
    """Qwen models through DashScope's own SDK (key in ``DASHSCOPE_API_KEY``); multimodal when images are sent."""

    backend = "dashscope"

    def __init__(self, model: str, *, api_key_env: str | None = None, **_: Any) -> None:
        super().__init__(model)
        try:
            import dashscope
        except ImportError as exc:
            raise AnswererError("the dashscope backend needs the 'api' extra: pip install 'scale-vqa[api]'") from exc
        self.key = _key_from_env(api_key_env, "dashscope", required=True)
        self.dashscope = dashscope

    def complete(self, messages: Messages, gen: Generation) -> str:
        multimodal = any(isinstance(m["content"], list) and any(p["type"] == "image_url" for p in m["content"])
                         for m in messages)
        try:
            if multimodal:
                msgs = [{"role": m["role"], "content": [{"text": m["content"]}] if isinstance(m["content"], str) else
                         [{"text": p["text"]} if p["type"] == "text" else {"image": p["image_url"]["url"]}
                          for p in m["content"]]} for m in messages]
                resp = self.dashscope.MultiModalConversation.call(api_key=self.key, model=self.model, messages=msgs,
                                                                  max_tokens=gen.max_tokens,
                                                                  temperature=gen.temperature)
            else:
                msgs = [{"role": m["role"], "content": m["content"] if isinstance(m["content"], str) else
                         "".join(p["text"] for p in m["content"])} for m in messages]
                resp = self.dashscope.Generation.call(api_key=self.key, model=self.model, messages=msgs,
                                                      result_format="message", max_tokens=gen.max_tokens,
                                                      temperature=gen.temperature)
        except OSError as exc:
            raise TransientError(str(exc)) from exc
        status = getattr(resp, "status_code", 200)
        if status == 429 or status >= 500:
            raise TransientError(f"DashScope answered {status}: {getattr(resp, 'message', '')}")
        if status != 200:
            raise AnswererError(f"DashScope answered {status}: {getattr(resp, 'message', '')}")
        content = resp.output.choices[0].message.content
        return content if isinstance(content, str) else "".join(p.get("text", "") for p in content)


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
        self.cache, self.concurrency, self.retries, self.backoff = cache, max(1, concurrency), retries, backoff
        self.limiter = RateLimiter(rpm)
        self.progress = progress
        self.name = name or f"llm:{backend.backend}:{backend.model}"
        self.description = f"{backend.model} via {backend.where} ({self.variant} prompt)"
        self.stats = RunStats()

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
        payload = {**self.backend.identity, "messages": messages, "max_tokens": self.gen.max_tokens,
                   "temperature": self.gen.temperature, "stop": list(self.gen.stop)}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def _call(self, messages: Messages) -> str:
        delay = self.backoff
        for attempt in range(self.retries + 1):
            self.limiter.wait()
            try:
                return self.backend.complete(messages, self.gen)
            except TransientError as exc:
                if attempt == self.retries:
                    raise AnswererError(f"{self.backend.where} unreachable or failing after {self.retries + 1} "
                                        f"attempts: {exc}") from exc
                self.stats.retries += 1
                time.sleep(delay * (1 + random.random() * 0.25))
                delay = min(delay * 2, 60.0)
        raise AssertionError("unreachable")

    def answer(self, items: Sequence[Item]) -> list[Answer]:
        texts: list[str | None] = [None] * len(items)
        todo: list[tuple[int, str, Messages]] = []
        for i, item in enumerate(items):
            msgs = self.messages(item)
            key = self.cache_key(msgs)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                texts[i] = hit
                self.stats.cached += 1
            else:
                todo.append((i, key, msgs))
        bar = None
        if self.progress and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=self.name, unit="item", leave=False)

        def run(i: int, key: str, msgs: Messages) -> None:
            text = self._call(msgs)
            if self.cache is not None:
                self.cache.put(key, text, {**self.backend.identity, "item_id": items[i].id})
            texts[i] = text
            self.stats.requested += 1
            if bar is not None:
                bar.update()

        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = [pool.submit(run, *job) for job in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in done:
                exc = f.exception()
                if exc is not None:
                    raise exc
        finally:  # on an error or Ctrl-C: drop queued requests; replies already received stay cached
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        out = []
        for item, text in zip(items, texts, strict=True):
            parsed = parse_answer(text or "", item.letters)
            out.append(Answer(parsed.letter, None, text))
        return out
