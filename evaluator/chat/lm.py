"""lm-eval models that send the evaluator's requests through a :class:`~.backend.ChatBackend` with the request
machinery of :class:`~.runner.ChatRunner` (reply cache and resume, concurrency, rpm limit, retries):

* ``scale-vqa-openai`` (:class:`OpenAIServerLM`) — ``scale-vqa eval --model openai``: any OpenAI-compatible
  server, with lm-eval's argument names (``model=NAME,base_url=http://HOST:PORT/v1/chat/completions``,
  ``num_concurrent``, ``max_retries``, ``timeout``, ``max_images``);
* ``scale-vqa-chat`` (:class:`ChatLM`) — any registered backend by ``BACKEND:MODEL``
  (``--model_args model=gemini:gemini-2.5-flash,cache=replies.sqlite`` once ``baselines.api.clients`` is imported),
  or built with :func:`make_lm` and handed to :func:`evaluator.runner.run_eval` (``lm=``).

Per request:

* the chat history that :meth:`ChatLM.apply_chat_template` serialised as JSON (as lm-eval's API models do) is read
  back, each PIL image becomes a data URL (downscaled to at most `max_pixels` pixels, aspect kept; JPEG for RGB and
  grey images, PNG otherwise) placed at its ``<image>`` placeholder in order
  (:func:`scale_vqa.prompt.interleave_images`), and a count mismatch is refused before anything is sent;
* the request's ``until`` become stop sequences (unless the backend refuses them for these settings, e.g. OpenAI
  reasoning models; the reply is cut at the first stop string either way, so every backend's outputs look alike)
  and ``max_gen_toks`` the token limit, on top of `gen`, which decides temperature and reasoning effort;
* a ``<think>`` block that a server's reasoning parser moved to ``reasoning_content`` is put back in the reply.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from lm_eval.api.model import LM
from lm_eval.api.registry import register_model
from lm_eval.models.api_models import JsonChatStr

from scale_vqa.prompt import interleave_images
from scale_vqa.release import IMAGE_PLACEHOLDER

from .backend import ChatBackend, Messages, make_backend, text_of
from .cache import ResponseCache
from .runner import ChatRunner, RunStats
from .settings import Generation

MODEL_NAME = "scale-vqa-chat"
SERVER_MODEL_NAME = "scale-vqa-openai"
LOSSY = ("RGB", "L")
"""Image modes sent as JPEG; others go as PNG."""


def image_part(image: Any, max_pixels: int | None = None) -> dict[str, Any]:
    """An OpenAI ``image_url`` content part holding `image` (PIL) as a data URL, downscaled so that width × height
    ≤ `max_pixels` (aspect kept; never upscaled)."""
    from PIL import Image

    w, h = image.size
    if max_pixels is not None and w * h > max_pixels:
        scale = math.sqrt(max_pixels / (w * h))
        image = image.resize((max(1, math.floor(w * scale)), max(1, math.floor(h * scale))),
                             Image.Resampling.BICUBIC)
    if image.mode not in (*LOSSY, "RGBA", "LA", "P"):
        image = image.convert("RGB")
    buf = io.BytesIO()
    if image.mode in LOSSY:
        image.save(buf, format="JPEG", quality=95)
        mime = "image/jpeg"
    else:
        image.save(buf, format="PNG")
        mime = "image/png"
    data = base64.b64encode(buf.getvalue()).decode()
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


def cut_at_stops(text: str, stops: Sequence[str]) -> str:
    """`text` up to the first occurrence of any stop string (which is dropped, as servers and lm-eval do)."""
    ends = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return text[:min(ends)] if ends else text


def _chat(context: Any) -> Messages:
    """The chat history of a request context: our JSON (``JsonChatStr``), or a plain prompt as one user turn."""
    if isinstance(context, JsonChatStr):
        return list(json.loads(context.prompt))
    if isinstance(context, str):
        return [{"role": "user", "content": context}]
    raise TypeError(f"unexpected lm-eval request context {type(context).__name__}")


@register_model(MODEL_NAME)
class ChatLM(LM):
    """lm-eval ``generate_until`` through a :class:`ChatBackend`; see the module docstring.

    `backend` is a built backend, or (from lm-eval's ``--model_args``) a ``BACKEND:MODEL`` spec given as `backend`
    or `model`, built with `base_url`, `api_key_env` and `timeout`; `max_tokens`, `temperature` (``none``: not
    sent) and `reasoning_effort` then make `gen`. `cache` may be a path."""

    MULTIMODAL = True
    registered_as = MODEL_NAME
    """The name lm-eval knows this class by (progress bars and errors say it)."""

    def __init__(self, backend: ChatBackend | str | None = None, *, gen: Generation | None = None,
                 max_pixels: int | None = None, max_images: int | None = None,
                 cache: ResponseCache | str | None = None, concurrency: int = 4, rpm: float = 0.0, retries: int = 5,
                 backoff: float = 1.0, progress: bool = True, model: str | None = None, base_url: str | None = None,
                 api_key_env: str | None = None, timeout: float = 120.0, max_tokens: int | None = None,
                 temperature: float | str | None = 0.0, reasoning_effort: str | None = None, send_stop: bool = True,
                 batch_size: Any = None, max_batch_size: Any = None, device: Any = None) -> None:
        super().__init__()  # batch_size, max_batch_size, device: what lm-eval's CLI adds; unused here
        if backend is None or isinstance(backend, str):
            spec = backend or model
            if not spec:
                raise ValueError(f"{MODEL_NAME} needs a backend: model=BACKEND:MODEL (e.g. gemini:gemini-2.5-flash)")
            kwargs: dict[str, Any] = {"api_key_env": api_key_env, "timeout": timeout}
            if base_url:
                kwargs["base_url"] = base_url
            backend = make_backend(spec, **kwargs)
        if gen is None:
            temp = None if isinstance(temperature, str) and temperature.lower() == "none" else temperature
            gen = Generation(**({"max_tokens": int(max_tokens)} if max_tokens else {}),
                             temperature=None if temp is None else float(temp), reasoning_effort=reasoning_effort)
        if isinstance(cache, str):
            cache = ResponseCache(cache)
        self.backend, self.gen, self.max_pixels, self.progress = backend, gen, max_pixels, progress
        self.max_images = max_images
        """At most this many images per request (None: any number); more is an error, never a silent drop."""
        self.send_stop = send_stop
        """False: never send stop sequences (a model config that sends none); replies are still cut at them."""
        self.runner = ChatRunner(backend, gen, cache, concurrency=concurrency, rpm=rpm, retries=retries,
                                 backoff=backoff, progress=progress, name=f"{self.registered_as}:{backend.model}")

    @property
    def stats(self) -> RunStats:
        """Requests sent, replies taken from the cache, retries (over this model's life)."""
        return self.runner.stats

    @property
    def tokenizer_name(self) -> str:
        return f"{self.backend.backend}:{self.backend.model}"

    def apply_chat_template(self, chat_history: list[dict[str, str]], add_generation_prompt: bool = True) -> Any:
        """The chat history as JSON: the server applies the template; :meth:`generate_until` reads it back."""
        return JsonChatStr(json.dumps(chat_history, ensure_ascii=False))

    def get_model_info(self) -> dict[str, Any]:
        """Recorded in lm-eval's results ``config``."""
        return {"chat_backend": self.backend.identity, "generation": self.gen.model_dump(),
                "max_pixels": self.max_pixels}

    def messages(self, context: Any, images: Sequence[Any] = ()) -> Messages:
        """OpenAI-format messages for one request: `images` (PIL) at the ``<image>`` placeholders of the last turn,
        in order. Raises ValueError when the placeholders and images differ in number."""
        chat = _chat(context)
        *head, last = chat
        if any(IMAGE_PLACEHOLDER in str(m.get("content", "")) for m in head):
            raise ValueError(f"only the last turn may carry {IMAGE_PLACEHOLDER} placeholders")
        text = text_of(last["content"])
        if self.max_images is not None and len(images) > self.max_images:
            raise ValueError(f"{len(images)} images but max_images={self.max_images}; pass max_images="
                             f"{len(images)} (or more) in the model arguments")
        parts = [image_part(img, self.max_pixels) for img in images]
        content: Any = interleave_images(text, parts) if parts or IMAGE_PLACEHOLDER in text else text
        return [*head, {"role": last["role"], "content": content}]

    def generation(self, gen_kwargs: dict[str, Any] | None) -> tuple[Generation, tuple[str, ...]]:
        """The settings one request is sent with, and the stop strings its reply is cut at: `gen` with the
        request's ``max_gen_toks`` and ``until`` (sent as stop sequences only when the backend takes them)."""
        gen_kwargs = gen_kwargs or {}
        until = gen_kwargs.get("until") or ()
        stops = tuple(dict.fromkeys((*self.gen.stop, *((until,) if isinstance(until, str) else until))))
        max_tokens = int(gen_kwargs.get("max_gen_toks") or self.gen.max_tokens)
        sent = stops if self.send_stop and self.backend.accepts_stop(self.gen) else ()
        return self.gen.replace(max_tokens=max_tokens, stop=sent), stops

    def generate_until(self, requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        messages, gens, stops, meta = [], [], [], []
        for req in requests:
            context, gen_kwargs, *aux = req.args
            images = ((aux[0] or {}).get("visual") or []) if aux else []
            try:
                messages.append(self.messages(context, images))
            except ValueError as exc:
                raise ValueError(f"{req.task_name} doc {req.doc_id}: {exc}") from exc
            gen, cut = self.generation(gen_kwargs)
            gens.append(gen)
            stops.append(cut)
            doc = req.doc if isinstance(req.doc, dict) else {}
            meta.append({"task": req.task_name, "doc_id": req.doc_id,
                         **({"item_id": doc["id"]} if "id" in doc else {})})
        texts = self.runner.run(messages, meta, gens=gens, progress=self.progress and not disable_tqdm)
        return [cut_at_stops(text, cut) for text, cut in zip(texts, stops, strict=True)]

    def loglikelihood(self, requests: list[Any], disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        raise NotImplementedError(f"{self.registered_as} only generates (chat APIs give no log-likelihoods)")

    def loglikelihood_rolling(self, requests: list[Any], disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError(f"{self.registered_as} only generates (chat APIs give no log-likelihoods)")


@register_model(SERVER_MODEL_NAME)
class OpenAIServerLM(ChatLM):
    """``scale-vqa eval --model openai``: an OpenAI-compatible server, named with lm-eval's API-model arguments
    (``model``, ``base_url`` — the ``…/v1/chat/completions`` endpoint or its ``…/v1`` base — ``num_concurrent``,
    ``max_retries``, ``timeout``, ``max_images``). Greedy (temperature 0) and stopped at the task's stop string."""

    registered_as = SERVER_MODEL_NAME

    def __init__(self, model: str | None = None, base_url: str | None = None, *, max_images: int = 3,
                 num_concurrent: int = 8, max_retries: int = 5, timeout: float = 600, api_key_env: str | None = None,
                 max_pixels: int | None = None, cache: ResponseCache | str | None = None, rpm: float = 0.0,
                 progress: bool = True, **ignored: Any) -> None:
        from .openai_backend import OpenAIChat

        if not model:
            raise ValueError(f"{SERVER_MODEL_NAME} needs model=NAME "
                             "(and base_url=http://HOST:PORT/v1/chat/completions)")
        unused = sorted(set(ignored) - {"batch_size", "max_batch_size", "device"})
        if unused:
            logging.getLogger(__name__).warning("%s ignores %s", SERVER_MODEL_NAME, ", ".join(unused))
        backend = OpenAIChat(model, base_url=base_url, api_key_env=api_key_env, timeout=float(timeout))
        super().__init__(backend, max_pixels=max_pixels, max_images=int(max_images), cache=cache,
                         concurrency=int(num_concurrent), rpm=rpm, retries=int(max_retries), progress=progress)


def make_lm(backend: ChatBackend, *, gen: Generation, max_pixels: int | None = None,
            cache: ResponseCache | None = None, concurrency: int = 4, rpm: float = 0.0, retries: int = 5,
            progress: bool = True, backoff: float = 1.0, send_stop: bool = True) -> ChatLM:
    """An lm-eval model sending requests through `backend` with `gen` (see :class:`ChatLM`), for
    ``run_eval(..., lm=make_lm(...))``: replies are cached in `cache` as they arrive, so a rerun resumes."""
    return ChatLM(backend, gen=gen, max_pixels=max_pixels, cache=cache, concurrency=concurrency, rpm=rpm,
                  retries=retries, backoff=backoff, progress=progress, send_stop=send_stop)
