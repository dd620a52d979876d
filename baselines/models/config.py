"""The model registry: one TOML config per model in ``baselines/models/`` (the seed paper's eight, and any a user
adds with ``--config FILE``), saying how its row is reproduced through the evaluator.

A config names the model, the published row it reproduces, whether its weights load natively (``native``), sit
behind an API (``api``) or need the authors' own code (``custom-code``: the notes say what runs and what not),
the system prompt, image limits, generation settings, and one or more backends, the first being the default:

* ``vllm`` — offline vLLM through lm-eval's ``vllm-vlm`` (GPU);
* ``hf`` — transformers through lm-eval's ``hf-multimodal``;
* ``server`` — any OpenAI-compatible server you start (``vllm serve``, ``transformers serve``), through the
  evaluator's ``scale-vqa-openai`` model; the config gives the serve command;
* ``openai``, ``gemini``, ``dashscope`` — the OpenAI API, Gemini (google-genai) and Qwen on DashScope (its
  SDK), through :mod:`baselines.api.lm_eval_chat` with a reply cache; keys come from the environment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from baselines.toml_config import check_keys, read_toml, take
from scale_vqa.prompt import SEED_SYSTEM_PROMPT

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
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
TOP_KEYS = ("name", "published", "model_id", "weights", "system_prompt", "notes", "images", "generation", "backends")


@dataclass(frozen=True)
class Images:
    max_images: int = 3
    max_pixels: int | None = None
    """Pixel budget per image (Qwen-VL processors; API images are downscaled to it before sending)."""
    min_pixels: int | None = None


@dataclass(frozen=True)
class GenerationSettings:
    max_gen_toks: int = 4096
    temperature: float | None = 0.0
    """None: not sent (the provider's default; e.g. OpenAI reasoning models accept only their default)."""
    stop: tuple[str, ...] = ("</answer>",)
    reasoning_effort: str | None = None


@dataclass(frozen=True)
class Backend:
    kind: str
    model: str | None
    """The id this backend loads or requests; None for custom-code weights (the user passes a converted path)."""
    args: dict[str, Any] = field(default_factory=dict)
    """Extra lm-eval model arguments (vllm/hf/server) or client options (API backends)."""
    base_url: str | None = None
    serve: str | None = None
    """For ``server``: the command that starts the server this config expects."""


@dataclass(frozen=True)
class ModelConfig:
    key: str
    """File stem, e.g. ``qwen2.5-vl-7b``: what ``scale-vqa baselines run`` takes."""
    name: str
    model_id: str
    weights: str
    system_prompt: str
    """``seed``, ``none`` or the literal text."""
    images: Images
    generation: GenerationSettings
    backends: dict[str, Backend]
    published: str | None = None
    notes: str = ""
    path: Path | None = None

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
            raise ValueError(f"{self.key}: no {kind!r} backend; this config has {', '.join(self.backends)}")
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


def _images(problems: Any, table: Any) -> Images:
    if not isinstance(table, dict):
        problems.add("images", "must be a table")
        return Images()
    check_keys(problems, table, ("max_images", "max_pixels", "min_pixels"), "images.")
    out = Images(take(problems, table, "max_images", int, prefix="images.", default=3),
                 take(problems, table, "max_pixels", int, prefix="images.", default=None),
                 take(problems, table, "min_pixels", int, prefix="images.", default=None))
    if out.max_images < 3:
        problems.add("images.max_images", f"{out.max_images} would drop images: Scale-VQA prompts carry 3")
    if out.max_pixels is not None and out.min_pixels is not None and out.min_pixels > out.max_pixels:
        problems.add("images.min_pixels", "is larger than max_pixels")
    return out


def _generation(problems: Any, table: Any) -> GenerationSettings:
    if not isinstance(table, dict):
        problems.add("generation", "must be a table")
        return GenerationSettings()
    p = "generation."
    check_keys(problems, table, ("max_gen_toks", "temperature", "stop", "reasoning_effort"), p)
    temp = take(problems, table, "temperature", (int, float, str), prefix=p, default=0.0)
    if isinstance(temp, str):
        if temp != "default":
            problems.add(p + "temperature", "must be a number or \"default\" (not sent; the provider's default)")
        temp = None
    stop = take(problems, table, "stop", list, prefix=p, default=["</answer>"])
    if stop is not None and not all(isinstance(s, str) and s for s in stop):
        problems.add(p + "stop", "must be a list of non-empty strings")
        stop = []
    out = GenerationSettings(take(problems, table, "max_gen_toks", int, prefix=p, default=4096),
                             None if temp is None else float(temp), tuple(stop or ()),
                             take(problems, table, "reasoning_effort", str, prefix=p, default=None,
                                  choices=REASONING_EFFORTS))
    if out.max_gen_toks is not None and out.max_gen_toks < 1:
        problems.add(p + "max_gen_toks", "must be positive")
    return out


def _backends(problems: Any, table: Any, weights: str | None, model_id: str | None) -> dict[str, Backend]:
    if not isinstance(table, dict) or not table:
        problems.add("backends", "needs at least one [backends.KIND] table, KIND one of " + ", ".join(BACKEND_KINDS))
        return {}
    out = {}
    for kind, spec in table.items():
        p = f"backends.{kind}."
        if kind not in BACKEND_KINDS:
            problems.add(f"backends.{kind}", f"unknown backend {kind!r}; choose from {', '.join(BACKEND_KINDS)}")
            continue
        if not isinstance(spec, dict):
            problems.add(f"backends.{kind}", "must be a table")
            continue
        check_keys(problems, spec, ("model", "args", "base_url", "serve"), p)
        model = take(problems, spec, "model", str, prefix=p, default=None)
        args = take(problems, spec, "args", dict, prefix=p, default={})
        base_url = take(problems, spec, "base_url", str, prefix=p, default=None)
        serve = take(problems, spec, "serve", str, prefix=p, default=None)
        if kind == "server" and not base_url:
            problems.add(f"backends.{kind}", "a server backend needs base_url (…/v1/chat/completions)")
        if kind == "server" and not serve:
            problems.add(f"backends.{kind}", "a server backend needs the serve command that starts it")
        if kind in API_KINDS and not model:
            problems.add(f"backends.{kind}", "an API backend needs the provider's model name")
        if model is None and kind not in API_KINDS and weights != "custom-code":
            model = model_id  # local backends load the config's model_id unless they name other weights
        for reserved in ("pretrained", "max_images", "max_pixels", "min_pixels", "model"):
            if args and reserved in args:
                problems.add(p + "args", f"{reserved!r} comes from the config's model/images, not args")
        out[kind] = Backend(kind, model, dict(args or {}), base_url, serve)
    return out


def load_model_config(path: str | Path) -> ModelConfig:
    """One config; raises :class:`~scale_vqa.problems.InputError` listing every problem with file, line, field."""
    path = Path(path)
    data, problems = read_toml(path)
    check_keys(problems, data, TOP_KEYS)
    name = take(problems, data, "name", str)
    model_id = take(problems, data, "model_id", str)
    weights = take(problems, data, "weights", str, choices=WEIGHTS)
    system = take(problems, data, "system_prompt", str, default="seed")
    notes = take(problems, data, "notes", str, default="")
    published = take(problems, data, "published", str, default=None)
    images = _images(problems, data.get("images", {}))
    gen = _generation(problems, data.get("generation", {}))
    backends = _backends(problems, data.get("backends"), weights, model_id)
    if weights == "custom-code" and len(notes.strip()) < 40:
        problems.add("notes", "custom-code weights: say what runs and what not (how to convert, what is untested)")
    if published is not None:
        from baselines.tables.reference import published_rows

        names = [r.model for r in published_rows()]
        if published not in names:
            problems.add("published", f"{published!r} is not a published row; known: {', '.join(names)}")
    if weights == "api" and not any(k in API_KINDS for k in backends):
        problems.add("backends", "API weights need an openai, gemini or dashscope backend")
    problems.raise_if_any(str(path))
    return ModelConfig(path.stem, name, model_id, weights, system, images, gen, backends, published, notes.strip(),
                       path)


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
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(configs)} (or give a config .toml file)")
