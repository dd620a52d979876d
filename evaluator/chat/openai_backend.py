"""Any OpenAI-compatible ``/v1/chat/completions`` endpoint (OpenAI, vLLM, ``transformers serve``, DashScope's
compatible mode) through the openai SDK. Retries are the request runner's (:mod:`.runner`), so the SDK's are off."""

from __future__ import annotations

import os
from typing import Any

from scale_vqa.errors import require_extra
from scale_vqa.parse import join_reasoning

from .backend import ChatBackend, ChatError, Messages, TransientError
from .settings import Generation

OPENAI_DEFAULT_URL = "https://api.openai.com/v1"
DASHSCOPE_COMPATIBLE_URL = "https://dashscope.aliyuncs.com/compatible-mode/v1"
CHAT_PATH = "/chat/completions"


def sdk_base_url(url: str) -> str:
    """The SDK's base URL for `url`: ``…/v1`` from ``…/v1`` or a full ``…/v1/chat/completions`` endpoint."""
    url = url.rstrip("/")
    return url.removesuffix(CHAT_PATH) if url.endswith(CHAT_PATH) else url


class OpenAIChat(ChatBackend):
    """Any OpenAI-compatible endpoint. A key is required only for the public APIs (OpenAI, DashScope)."""

    backend = "openai"
    key_env = "OPENAI_API_KEY"

    def __init__(self, model: str, *, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 120.0) -> None:
        super().__init__(model)
        require_extra("api", "openai", what=f"the {self.backend} backend")
        import openai

        self.base_url = sdk_base_url(base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_URL)
        public = self.base_url in (OPENAI_DEFAULT_URL, DASHSCOPE_COMPATIBLE_URL)
        env = api_key_env or ("DASHSCOPE_API_KEY" if self.base_url == DASHSCOPE_COMPATIBLE_URL else None)
        key = self.api_key(env, required=public,
                           hint=" (or pass --base-url for a local OpenAI-compatible server)") or "EMPTY"
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
            raise ChatError(f"{self.base_url} refused the API key (401): {exc}") from exc
        except o.APIStatusError as exc:
            raise ChatError(f"{self.base_url} answered {exc.status_code}: {status_message(exc)}") from exc
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


def status_message(exc: Any) -> str:
    """The text of an HTTP error from the openai client, with the server's ``detail`` when there is one: FastAPI
    servers such as ``transformers serve`` explain errors there (e.g. "Server is pinned to 'X'; requested 'Y'"),
    and the client's message keeps only an OpenAI-style ``error.message``."""
    body = getattr(exc, "body", None)
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is None or str(detail) in exc.message:
        return str(exc.message)
    return f"{exc.message} - {str(detail)[:500]}"
