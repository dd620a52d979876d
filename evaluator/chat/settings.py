"""Generation settings: the one type for how a chat model is asked to generate (model configs' ``[generation]``
table, the API answerers, the lm-eval chat models). Needs pydantic (the api and eval extras bring it)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")


def _temperature(value: Any) -> Any:
    """``"default"`` (a config file's word for "send none") → None; a bool is not a number."""
    if value == "default":
        return None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise ValueError('must be a number or "default" (not sent; the provider\'s default)')
    return value


class Generation(BaseModel):
    """How to generate; part of a reply's cache key.

    `max_tokens` (``max_gen_toks`` in config files and lm-eval) is the token budget. `temperature` None sends
    none (the server's default; OpenAI's reasoning models accept no other value than their default). `stop`: stop
    sequences. `reasoning_effort` (e.g. ``none``, ``minimal``, ``low``, ``medium``, ``high``) selects how much a
    reasoning model thinks: OpenAI's ``reasoning_effort`` (then ``max_tokens`` is sent as
    ``max_completion_tokens``), Gemini's ``thinking_level``, DashScope's ``enable_thinking`` (off for ``none``)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True, validate_by_alias=True)

    max_tokens: Annotated[int, Field(gt=0, alias="max_gen_toks")] = 1024
    temperature: Annotated[float | None, BeforeValidator(_temperature)] = 0.0
    stop: tuple[Annotated[str, Field(min_length=1)], ...] = ()
    reasoning_effort: Literal[REASONING_EFFORTS] | None = None  # type: ignore[valid-type]

    def replace(self, **changes: Any) -> Generation:
        """A copy with `changes` (field names), validated."""
        return Generation(**{**self.model_dump(), **changes})

    def key_fields(self) -> dict[str, Any]:
        """The settings as they enter a cache key (`reasoning_effort` only when set, so keys written before it
        existed stay valid)."""
        fields: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature,
                                  "stop": list(self.stop)}
        if self.reasoning_effort is not None:
            fields["reasoning_effort"] = self.reasoning_effort
        return fields
