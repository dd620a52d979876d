"""Reproduce a model's row: a :class:`~baselines.models.config.ModelConfig` → one evaluator run.

Local backends (``vllm``, ``hf``, ``server``) become evaluator model arguments; API backends (``openai``,
``gemini``, ``dashscope``) become the evaluator's chat model (:mod:`evaluator.chat.lm`) with a reply cache beside
the run folder (an interrupted run resumes without paying twice). Either way :func:`evaluator.runner.run_eval`
writes the run folder (results, samples, predictions, key, table), scored by the core.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from baselines.models.config import API_KINDS, ModelConfig
from evaluator.chat.settings import Generation
from scale_vqa.errors import BadInputError
from scale_vqa.formats import DEFAULT_FORMAT, PromptFormat

EVALUATOR_BACKEND = {"vllm": "vllm", "hf": "hf", "server": "openai"}
"""Config backend kind → ``scale-vqa eval --model`` choice (API kinds run through their own lm-eval model)."""
DEFAULT_TASKS = "scale_vqa,scale_vqa_blind"
"""The row and its text-only counterpart."""


@dataclass(frozen=True)
class Plan:
    """What a run will do, before it does it (``--dry-run`` prints this)."""

    config: ModelConfig
    kind: str
    model: str
    model_args: dict[str, Any]
    """Evaluator model arguments (local kinds) or client settings (API kinds)."""
    gen: Generation

    @property
    def evaluator_backend(self) -> str:
        return EVALUATOR_BACKEND.get(self.kind, self.kind)

    def eval_command(self, *, data: str, split: str, out: str, tasks: str = DEFAULT_TASKS) -> str | None:
        """The equivalent ``scale-vqa eval`` command (local kinds only; API kinds need the reply cache)."""
        if self.kind in API_KINDS:
            return None
        args = ",".join(f"{k}={_arg(v)}" for k, v in self.model_args.items())
        parts = ["scale-vqa", "eval", "--model", self.evaluator_backend, "--model-args", args, "--data", data,
                 "--split", split, "--tasks", tasks, "--max-gen-toks", str(self.gen.max_tokens),
                 "--name", self.config.name, "--out", out]
        if self.prompt_format is not DEFAULT_FORMAT:
            parts += ["--prompt-format", self.prompt_format.value]
        if self.system is not None:
            parts += ["--system", self.config.system_prompt]
        return shlex.join(parts)

    @property
    def prompt_format(self) -> PromptFormat:
        return self.config.prompt_format

    @property
    def system(self) -> str | None:
        """The system prompt to pass, None when it is the format's own (the evaluator's default)."""
        text = self.config.system_text
        return None if text == (self.prompt_format.spec.system or "") else text


def _arg(value: Any) -> str:
    if isinstance(value, dict):
        import json

        return json.dumps(value, separators=(",", ":"))
    return str(value)


def plan(config: ModelConfig, kind: str | None = None, *, model_path: str | None = None,
         base_url: str | None = None, prompt_format: PromptFormat | str | None = None,
         pixels: dict[str, int | None] | None = None) -> Plan:
    """Resolve the backend and its arguments; raises BadInputError with what to do when something is missing.

    `prompt_format` and `pixels` (``min_pixels``/``max_pixels``) override the config's."""
    overrides: dict[str, Any] = {}
    if prompt_format is not None:
        try:
            overrides["prompt_format"] = PromptFormat.parse(prompt_format)
        except ValueError as exc:
            raise BadInputError(str(exc)) from None
    budget = {k: v for k, v in (pixels or {}).items() if v is not None}
    if budget:
        overrides["images"] = config.images.model_copy(update=budget)
    config = config.model_copy(update=overrides) if overrides else config
    backend = config.backend(kind)
    model = model_path or backend.model
    if not model:
        raise BadInputError(f"{config.name} ({config.key}): its published weights need custom code, so there is no "
                         "model to load as is; convert them and pass --model-path DIR (see `scale-vqa baselines "
                         f"show {config.key}`)")
    gen = config.generation
    if backend.kind in API_KINDS:
        args = {**backend.args}
        if base_url or backend.base_url:
            args["base_url"] = base_url or backend.base_url
        return Plan(config, backend.kind, model, args, gen)
    if gen.temperature != 0.0 or gen.stop != ("</answer>",) or gen.reasoning_effort is not None:
        raise BadInputError(f"{config.key}: local backends decode greedily and stop at </answer> (the task's "
                         "generation settings); set generation.temperature = 0.0 and stop = [\"</answer>\"]")
    if backend.kind == "server":
        args = {"model": model, "base_url": base_url or backend.base_url, "max_images": config.images.max_images,
                **backend.args}
        if config.images.max_pixels is not None:  # the server resizes itself; this downscales before sending
            args["max_pixels"] = config.images.max_pixels
    else:
        args = {"pretrained": model, "max_images": config.images.max_images, **backend.args}
        for key in ("max_pixels", "min_pixels"):
            value = getattr(config.images, key)
            if value is not None:
                args[key] = value
    return Plan(config, backend.kind, model, args, gen)


def api_model(p: Plan, *, cache: str | Path | None, concurrency: int = 4, rpm: float = 0.0, retries: int = 5,
              progress: bool = True) -> Any:
    """The lm-eval model for an API plan: the provider's client behind the reply cache."""
    from baselines.api.clients import backend_class
    from evaluator.chat.cache import ResponseCache

    client = backend_class(p.kind)(p.model, **p.model_args)  # first: a missing key fails before anything is written
    from evaluator.chat.lm import make_lm

    return make_lm(client, gen=p.gen, max_pixels=p.config.images.max_pixels,
                   cache=ResponseCache(cache) if cache else None, concurrency=concurrency, rpm=rpm,
                   retries=retries, progress=progress, send_stop=bool(p.gen.stop))


def cache_path(out: str | Path) -> Path:
    """Default reply cache for an API run: beside the run folder (the folder itself is replaced atomically)."""
    out = Path(out)
    return out.with_name(out.name + ".cache.sqlite")


def run_model(config: ModelConfig, *, data: str, out: str | Path, kind: str | None = None, split: str = "test",
              tasks: str | None = None, images: str | None = None, limit: int | float | None = None,
              model_path: str | None = None, base_url: str | None = None, batch_size: int | str | None = None,
              device: str | None = None, max_gen_toks: int | None = None, cache: str | Path | None = None,
              concurrency: int = 4, rpm: float = 0.0, progress: bool = True,
              prompt_format: PromptFormat | str | None = None, pixels: dict[str, int | None] | None = None) -> Any:
    """Run the config's row (and, by default, its blind counterpart) and write the run folder `out`.

    `prompt_format` and `pixels` override the config's (default: ``seed`` and the processor's own budget)."""
    from evaluator.runner import run_eval

    p = plan(config, kind, model_path=model_path, base_url=base_url, prompt_format=prompt_format, pixels=pixels)
    lm = None
    if p.kind in API_KINDS:
        lm = api_model(p, cache=cache or cache_path(out), concurrency=concurrency, rpm=rpm, progress=progress)
    record = {"model": p.model, "backend": p.kind, "max_pixels": p.config.images.max_pixels,
              **p.gen.model_dump(mode="json", exclude={"max_tokens"})}  # what an API run.json records
    return run_eval(p.evaluator_backend, p.model_args if lm is None else record, source=data,
                    split=split, tasks=tasks or DEFAULT_TASKS, out=out, images=images, limit=limit,
                    batch_size=batch_size, device=device, max_gen_toks=max_gen_toks or p.gen.max_tokens,
                    name=config.name, system=p.system, prompt_format=p.prompt_format, lm=lm)
