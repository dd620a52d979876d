"""The trainer's typed config, read from YAML (stdlib + PyYAML only).

A file has the sections below; every key is checked, and an error names the file and the field::

    base: seed_parity.yaml      # optional: another config (relative to this file) this one overrides
    output_dir: runs/grpo
    resume: auto                # auto (latest checkpoint in output_dir) | never | a checkpoint folder
    model:  {path, dtype, attn_implementation, min_pixels, max_pixels, padding_side}
    lora:   {enabled, r, alpha, dropout, target_modules, vision}
    data:   {source, split, max_prompt_tokens, allow_no_images, limit, prompts_per_step}
    reward: {mode, accuracy_weight, format_weight, entity_weight, entity_terms_file}
    export: {merged_dir}
    grpo:   {…}                 # keyword arguments of trl.GRPOConfig (checked against it when training starts)
    sft:    {…}                 # keyword arguments of trl.SFTConfig

Command-line overrides are ``dotted.key=value`` with a YAML value (``grpo.learning_rate=1e-5``,
``lora.enabled=true``).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


class ConfigError(ValueError):
    """A config file or override is wrong; the message names the file and the field."""


@dataclass
class ModelConfig:
    path: str = ""
    """Local folder (or Hub id where the machine has network) of a Qwen2.5-VL checkpoint."""
    dtype: Literal["bfloat16", "float16", "float32", "auto"] = "bfloat16"
    """dtype the weights are loaded in (and so the dtype of the master weights the optimizer updates)."""
    attn_implementation: str | None = None
    min_pixels: int | None = None
    """Image processor bounds (None: the checkpoint's own)."""
    max_pixels: int | None = None
    padding_side: Literal["left"] = "left"
    """Set on the processor loaded from `path`; a processor handed in is checked, never changed."""


@dataclass
class LoraConfig:
    enabled: bool = False
    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    vision: bool = False
    """Also adapt the vision tower (default: language model only)."""


@dataclass
class DataConfig:
    source: str = ""
    """A folder made by ``scale-vqa build`` or a Hub dataset id."""
    split: str = "train"
    max_prompt_tokens: int = 5120
    """Prompts longer than this (image tokens included) are dropped and counted, never truncated."""
    allow_no_images: bool = False
    """Keep items with no image (text-only prompts); by default they are dropped, and a dataset with no image
    at all is refused."""
    limit: int | None = None
    """Use only the first N rows (smoke runs)."""
    prompts_per_step: int | None = None
    """Prompts per optimizer step across all devices; sets gradient_accumulation_steps from the world size."""


@dataclass
class RewardConfig:
    mode: Literal["seed", "scale_vqa"] = "seed"
    accuracy_weight: float = 0.8
    format_weight: float = 0.2
    entity_weight: float = 0.0
    """> 0 adds the entity-consistency reward (off by default)."""
    entity_terms_file: str | None = None
    """Extra entity terms, one per line, added to the built-in lexicon."""


@dataclass
class ExportConfig:
    merged_dir: str | None = None
    """Where the final model (LoRA merged) and processor are saved; default ``<output_dir>/merged``.
    Empty string: no export."""


@dataclass
class TrainConfig:
    output_dir: str = "runs/train"
    resume: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraConfig = field(default_factory=LoraConfig)
    data: DataConfig = field(default_factory=DataConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    grpo: dict[str, Any] = field(default_factory=dict)
    sft: dict[str, Any] = field(default_factory=dict)
    source: str = "<defaults>"
    """The file(s) this config was read from (for error messages)."""

    @property
    def merged_dir(self) -> Path | None:
        if self.export.merged_dir == "":
            return None
        return Path(self.export.merged_dir) if self.export.merged_dir else Path(self.output_dir) / "merged"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out.pop("source")
        return out

    def require(self, *fields: str) -> None:
        """Raise :class:`ConfigError` when one of the dotted `fields` is empty."""
        for name in fields:
            value: Any = self
            for part in name.split("."):
                value = getattr(value, part)
            if value in ("", None):
                raise ConfigError(f"{self.source}: {name}: required (set it in the file or as {name}=VALUE)")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config (following ``base:``), apply ``key=value`` overrides, and validate every field."""
    raw, sources = _read_with_bases(Path(path), ())
    source = " ← ".join(sources)
    for spec in overrides:
        _apply_override(raw, spec, source)
    return from_dict(raw, source)


def from_dict(raw: dict[str, Any], source: str = "<dict>") -> TrainConfig:
    """Build a :class:`TrainConfig` from a plain mapping (checked as a file would be)."""
    config = _build(TrainConfig, raw, source, "")
    config.source = source
    return config


def _read_with_bases(path: Path, seen: tuple[Path, ...]) -> tuple[dict[str, Any], list[str]]:
    if not path.is_file():
        raise ConfigError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise ConfigError(f"{path}: base: circular reference")
    try:
        raw = _numbers(yaml.safe_load(path.read_text(encoding="utf-8")) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    base = raw.pop("base", None)
    if base is None:
        return raw, [str(path)]
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base: expected a file name, got {base!r}")
    parent, sources = _read_with_bases((path.parent / base), (*seen, path.resolve()))
    return _merge(parent, raw), [str(path), *sources]


_EXPONENT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)[eE][+-]?\d+")


def _numbers(value: Any) -> Any:
    """YAML 1.1 reads ``1e-6`` (no dot) as a string; read it as the float everyone means."""
    if isinstance(value, str) and _EXPONENT.fullmatch(value.strip()):
        return float(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def _merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _apply_override(raw: dict[str, Any], spec: str, source: str) -> None:
    key, sep, text = spec.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {spec!r}: use dotted.key=value")
    try:
        value = _numbers(yaml.safe_load(text)) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise ConfigError(f"override {spec!r}: value is not valid YAML: {exc}") from None
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {spec!r}: {part} is not a section in {source}")
        node = child
    node[parts[-1]] = value


def _build(cls: type, raw: Any, source: str, prefix: str) -> Any:
    where = prefix.rstrip(".") or "top level"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: {where}: expected a mapping, got {type(raw).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if not (cls is TrainConfig and f.name == "source")]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"{source}: {prefix}{unknown[0]}: unknown key (expected one of: {', '.join(names)})")
    kwargs = {}
    for name, value in raw.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value or {}, source, f"{prefix}{name}.")
        else:
            kwargs[name] = _check(value, hint, source, f"{prefix}{name}")
    return cls(**kwargs)


def _check(value: Any, hint: Any, source: str, where: str) -> Any:
    """`value` if it matches the type `hint` (ints accepted for floats), else ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check(value, option, source, where)
            except ConfigError:
                continue
        raise ConfigError(f"{source}: {where}: {value!r} does not match {_name(hint)}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{source}: {where}: {value!r} is not one of {', '.join(map(str, args))}")
    if hint is type(None):
        if value is None:
            return None
    elif origin is list:
        if isinstance(value, list):
            return [_check(v, args[0], source, f"{where}[{i}]") for i, v in enumerate(value)]
    elif origin is dict:
        if isinstance(value, dict):
            return dict(value)
        if value is None:
            return {}
    elif hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    elif hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif isinstance(value, hint):
        return value
    raise ConfigError(f"{source}: {where}: expected {_name(hint)}, got {value!r}")


def _name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
