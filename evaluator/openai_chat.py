"""``scale-vqa-openai``: an lm-eval chat-completions model that puts each image *at its placeholder*.

lm-eval's ``local-chat-completions`` sends at most ``max_images`` (default 1) images, all before the text, and
leaves the ``<image>`` placeholders in it. This subclass defaults to 3 images, splits the user text at the
placeholders and interleaves the images in order, and refuses a request whose image count differs from its
placeholder count (instead of silently dropping images). Replies from servers with a reasoning parser (vLLM,
``transformers serve``) get their ``<think>`` block back. Registered when :mod:`evaluator.runner` imports it.
"""

from __future__ import annotations

from typing import Any

from lm_eval.api.registry import register_model
from lm_eval.models.openai_completions import LocalChatCompletion

from scale_vqa.parse import join_reasoning
from scale_vqa.prompt import interleave_images
from scale_vqa.release import IMAGE_PLACEHOLDER

MODEL_NAME = "scale-vqa-openai"


def interleave(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Move the image parts lm-eval put first in the last message to the ``<image>`` placeholders of its text
    (:func:`scale_vqa.prompt.interleave_images`)."""
    last = messages[-1]
    content = last.get("content")
    if not isinstance(content, list):
        if isinstance(content, str) and IMAGE_PLACEHOLDER in content:
            raise ValueError(f"the prompt has {content.count(IMAGE_PLACEHOLDER)} {IMAGE_PLACEHOLDER} placeholders "
                             "but no images were sent (is max_images 0?)")
        return messages
    images = [part for part in content if part.get("type") == "image_url"]
    text = "".join(part.get("text", "") for part in content if part.get("type") == "text")
    try:
        parts = interleave_images(text, images)
    except ValueError as exc:
        raise ValueError(f"{exc}; pass max_images=3 (or more) in --model_args") from exc
    return [*messages[:-1], {**last, "content": parts}]


@register_model(MODEL_NAME)
class InterleavedChatCompletion(LocalChatCompletion):
    """OpenAI-compatible ``/v1/chat/completions`` client with images interleaved at their placeholders."""

    def __init__(self, max_images: int = 3, **kwargs: Any) -> None:
        super().__init__(max_images=max_images, **kwargs)

    def _create_payload(self, messages: list[dict[str, Any]], *args: Any, **kwargs: Any) -> dict[str, Any]:
        return super()._create_payload(interleave(messages), *args, **kwargs)

    def parse_generations(self, outputs: dict | list[dict], **kwargs: Any) -> list[str]:
        outputs = outputs if isinstance(outputs, list) else [outputs]
        for out in outputs:
            for choice in out.get("choices", []):
                message = choice.get("message") or {}
                reasoning = message.get("reasoning_content") or message.get("reasoning")
                if message.get("content") is not None and isinstance(reasoning, str):
                    message["content"] = join_reasoning(message["content"], reasoning)
        return super().parse_generations(outputs, **kwargs)
