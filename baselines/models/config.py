"""The model registry: one TOML config per model in ``baselines/models/`` (the seed paper's eight, and any a user
adds with ``--config FILE``), saying how its row is reproduced through the evaluator.

A config names the model, the published row it reproduces, whether its weights load natively (``native``), sit
behind an API (``api``) or need the authors' own code (``custom-code``: the notes say what runs and what not),
the prompt format (``seed`` by default: the published rows'), the system prompt, image limits (none by default:
the model processor's own pixel budget), generation settings, and one or more backends, the first being the default:

* ``vllm`` — offline vLLM through lm-eval's ``vllm-vlm`` (GPU);
* ``hf`` — transformers through lm-eval's ``hf-multimodal``;
* ``server`` — any OpenAI-compatible server you start (``vllm serve``, ``transformers serve``), through the
  evaluator's ``scale-vqa-openai`` model; the config gives the serve command;
* ``openai``, ``gemini``, ``dashscope`` — the OpenAI API, Gemini (google-genai) and Qwen on DashScope (its
  SDK), through the evaluator's chat model (:mod:`evaluator.chat.lm`) with a reply cache; keys come from the
  environment.

A file is checked with :func:`scale_vqa.config.validate_config` against :class:`ModelConfig` (unknown keys are
errors), then for what the fields mean together; every problem names the file, the line and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from evaluator.chat.settings import Generation
from scale_vqa.config import ConfigError, problems_from_errors, read_toml, validate_config
from scale_vqa.errors import BadInputError
from scale_vqa.formats import DEFAULT_FORMAT, SEED_SYSTEM_PROMPT, PromptFormat

MODELS_DIR = Path(__file__).parent
BACKEND_KINDS: dict[str, str] = {
    "vllm": "offline vLLM (lm-eval vllm-vlm; needs a GPU and the vllm extra)",
    "hf": "transformers (lm-eval hf-multimodal)",
    "server": "an OpenAI-compatible server you start (vllm serve / transformers serve)",
    "openai": "the OpenAI API (OPENAI_API_KEY)",
    "gemini": "Gemini through google-genai (GEMINI_API_KEY)",
    "dashscope": "Qwen on DashScope through its SDK (DASHSCOPE_API_KEY)",
}
API_KINDS = ("openai", "gemini", "dashscope")
WEIGHTS = ("native", "api", "custom-code")
RESERVED_ARGS = ("pretrained", "max_images", "max_pixels", "min_pixels", "model")
"""Model arguments that come from the config's model and images, never from a backend's ``args``."""
CONFIG_GENERATION = {"max_gen_toks": 4096, "stop": ["</answer>"]}
"""A config's generation defaults (the task's: a 4096-token budget, stop at ``</answer>``)."""


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Images(Strict):
    max_images: int = 3
    max_pixels: int | None = None
    """Pixel budget per image (None: the processor's own; API images are downscaled to it before sending)."""
    min_pixels: int | None = None

    @field_validator("max_images")
    @classmethod
    def _three(cls, value: int) -> int:
        if value < 3:
            raise ValueError(f"{value} would drop images: Scale-VQA prompts carry 3")
        return value


class Backend(Strict):
    kind: str = ""
    """Set from the table's name (``[backends.KIND]``)."""
    model: str | None = None
    """The id this backend loads or requests; None for custom-code weights (the user passes a converted path)."""
    args: dict[str, Any] = Field(default_factory=dict)
    """Extra lm-eval model arguments (vllm/hf/server) or client options (API backends)."""
    base_url: str | None = None
    serve: str | None = None
    """For ``server``: the command that starts the server this config expects."""


class ModelConfig(Strict):
    """One model config file. `key` (the file stem, e.g. ``qwen2.5-vl-7b``: what ``scale-vqa baselines run``
    takes) and `path` are set by :func:`load_model_config`, not read from the file."""

    key: str = ""
    path: Path | None = None
    name: str
    model_id: str
    weights: Literal[WEIGHTS]  # type: ignore[valid-type]
    prompt_format: PromptFormat = DEFAULT_FORMAT
    """How items are written (:mod:`scale_vqa.formats`): ``seed`` (the published rows'), ``labelled``, ``seed_sft``."""
    system_prompt: str = "seed"
    """``seed``, ``none`` or the literal text."""
    published: str | None = None
    notes: str = ""
    images: Images = Images()
    generation: Generation = Generation(**CONFIG_GENERATION)
    backends: dict[str, Backend]

    @model_validator(mode="before")
    @classmethod
    def _not_from_the_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and {"key", "path"} & data.keys():
            raise ValueError("'key' and 'path' come from the file's name and place, not from its contents")
        return data

    @field_validator("generation", mode="before")
    @classmethod
    def _config_defaults(cls, table: Any) -> Any:
        return {**CONFIG_GENERATION, **table} if isinstance(table, dict) else table

    @field_validator("notes")
    @classmethod
    def _strip(cls, notes: str) -> str:
        return notes.strip()

    @property
    def default_backend(self) -> str:
        return next(iter(self.backends))

    @property
    def system_text(self) -> str:
        """The system prompt actually sent ("" for none)."""
        return {"seed": SEED_SYSTEM_PROMPT, "none": ""}.get(self.system_prompt, self.system_prompt)

    def backend(self, kind: str | None = None) -> Backend:
        kind = kind or self.default_backend
        if kind not in self.backends:
            raise BadInputError(f"{self.key}: no {kind!r} backend; this config has {', '.join(self.backends)}")
        return self.backends[kind]

    def command(self, kind: str | None = None, *, data: str = "DATA", split: str = "test") -> str:
        """The one command that reproduces this model's row."""
        kind = kind or self.default_backend
        parts = ["scale-vqa", "baselines", "run", self.key]
        if kind != self.default_backend:
            parts += ["--backend", kind]
        if self.backend(kind).model is None:
            parts += ["--model-path", "CONVERTED_DIR"]
        parts += ["--data", data, "--split", split, "--out", f"runs/{self.key}"]
        return " ".join(parts)


def _problems(cfg: ModelConfig) -> list[tuple[tuple[str, ...], str]]:
    """What the fields of a well-typed config get wrong together: (location, message) pairs."""
    out: list[tuple[tuple[str, ...], str]] = []
    if not cfg.backends:
        out.append((("backends",), "needs at least one [backends.KIND] table, KIND one of " + ", ".join(BACKEND_KINDS)))
    for kind, b in cfg.backends.items():
        where = ("backends", kind)
        if kind not in BACKEND_KINDS:
            out.append((where, f"unknown backend {kind!r}; choose from {', '.join(BACKEND_KINDS)}"))
            continue
        if kind == "server" and not b.base_url:
            out.append((where, "a server backend needs base_url (…/v1/chat/completions)"))
        if kind == "server" and not b.serve:
            out.append((where, "a server backend needs the serve command that starts it"))
        if kind in API_KINDS and not b.model:
            out.append((where, "an API backend needs the provider's model name"))
        out += [((*where, "args"), f"{name!r} comes from the config's model/images, not args")
                for name in RESERVED_ARGS if name in b.args]
    i = cfg.images
    if i.max_pixels is not None and i.min_pixels is not None and i.min_pixels > i.max_pixels:
        out.append((("images", "min_pixels"), "is larger than max_pixels"))
    if cfg.weights == "custom-code" and len(cfg.notes) < 40:
        out.append((("notes",), "custom-code weights: say what runs and what not (how to convert, what is untested)"))
    if cfg.published is not None:
        from baselines.tables.reference import published_rows

        names = [r.model for r in published_rows()]
        if cfg.published not in names:
            out.append((("published",), f"{cfg.published!r} is not a published row; known: {', '.join(names)}"))
    if cfg.weights == "api" and not any(k in API_KINDS for k in cfg.backends):
        out.append((("backends",), "API weights need an openai, gemini or dashscope backend"))
    return out


def load_model_config(path: str | Path) -> ModelConfig:
    """One config; raises :class:`~scale_vqa.config.ConfigError` listing every problem with file, line, field."""
    path = Path(path)
    data, lines = read_toml(path)
    cfg = validate_config(ModelConfig, data, path, lines)
    problems = _problems(cfg)
    if problems:
        errors = [{"loc": loc, "msg": msg, "type": "value_error"} for loc, msg in problems]
        raise ConfigError(problems_from_errors(errors, path, lines), str(path))
    backends = {kind: b.model_copy(update={"kind": kind, "model": _backend_model(cfg, kind, b)})
                for kind, b in cfg.backends.items()}
    return cfg.model_copy(update={"key": path.stem, "path": path, "backends": backends})


def _backend_model(cfg: ModelConfig, kind: str, b: Backend) -> str | None:
    """Local backends load the config's model_id unless they name other weights (custom code: none)."""
    if b.model is None and kind not in API_KINDS and cfg.weights != "custom-code":
        return cfg.model_id
    return b.model


def model_configs(directory: Path = MODELS_DIR) -> dict[str, ModelConfig]:
    """Every shipped config by key, in file-name order."""
    return {c.key: c for c in (load_model_config(p) for p in sorted(directory.glob("*.toml")))}


def find_model_config(name: str) -> ModelConfig:
    """A shipped config by key or row name (case-insensitive), or a config file path."""
    if name.endswith(".toml") or Path(name).is_file():
        return load_model_config(name)
    configs = model_configs()
    wanted = name.strip().lower()
    for cfg in configs.values():
        if wanted in (cfg.key.lower(), cfg.name.lower()):
            return cfg
    raise BadInputError(f"unknown model {name!r}; choose from {', '.join(configs)} (or give a config .toml file)")
