"""The chat backend interface: OpenAI-format messages in (images as data URLs), reply text out; its errors and
the registry of backends by name (``openai`` here; ``baselines.api`` registers ``gemini`` and ``dashscope``).
Standard library only."""

from __future__ import annotations

import importlib
import os
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any

from scale_vqa.errors import ScaleVQAError

if TYPE_CHECKING:
    from .settings import Generation

Messages = list[dict[str, Any]]


class ChatError(ScaleVQAError, RuntimeError):
    """A chat backend cannot answer: a missing key, an unreachable or failing server, a refused request (exit 1)."""


class TransientError(Exception):
    """A failure worth retrying (connection, timeout, rate limit, server error)."""


class ChatBackend(ABC):
    """Sends chat messages (OpenAI format, images as data URLs) to one model; returns the reply text."""

    backend: str = "chat"
    key_env: str = ""
    """The environment variable holding this provider's API key."""
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
        """One reply; raises :class:`TransientError` for retryable failures, :class:`ChatError` for fatal ones."""

    def accepts_stop(self, gen: Generation) -> bool:
        """Whether requests with these settings may carry stop sequences (callers that need one then cut the
        reply themselves)."""
        return True

    @property
    def where(self) -> str:
        return self.base_url or self.backend

    def api_key(self, env: str | None, *, required: bool, hint: str = "") -> str | None:
        """The key in `env` (default :attr:`key_env`); a :class:`ChatError` naming the variable when `required`
        and unset."""
        name = env or self.key_env
        key = os.environ.get(name)
        if not key and required:
            raise ChatError(f"{name} is not set: the {self.backend} backend needs an API key in that environment "
                            f"variable{hint}")
        return key


def text_of(content: str | list[dict[str, Any]]) -> str:
    """The text of a message's content (its text parts joined)."""
    return content if isinstance(content, str) else "".join(
        p.get("text", "") for p in content if p.get("type") == "text")


def parts_of(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A message's content as a list of parts."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


BACKENDS: dict[str, str] = {"openai": "evaluator.chat.openai_backend:OpenAIChat"}
"""Backend name → ``module:Class`` (imported when first used)."""


def register_backend(name: str, target: str) -> None:
    """Make ``NAME:MODEL`` specs build the backend class at `target` (``module:Class``)."""
    BACKENDS[name] = target


def backend_class(name: str) -> type[ChatBackend]:
    module, _, attr = BACKENDS[name].partition(":")
    return getattr(importlib.import_module(module), attr)


def make_backend(spec: str, **kwargs: Any) -> ChatBackend:
    """``BACKEND:MODEL`` (e.g. ``openai:gpt-4o-mini``, ``gemini:gemini-2.5-flash``, ``dashscope:qwen-vl-max``)."""
    backend, sep, model = spec.partition(":")
    if not sep or not model or backend not in BACKENDS:
        raise ChatError(f"bad LLM spec {spec!r}: use BACKEND:MODEL with BACKEND one of {', '.join(BACKENDS)}")
    return backend_class(backend)(model, **kwargs)
