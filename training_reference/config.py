"""The trainer's typed config, read from YAML and checked the way every Scale-VQA config is
(:func:`scale_vqa.config.validate_config`: a pydantic model with ``extra="forbid"``; each error names the file,
the line and the field, e.g. ``seed_parity.yaml:12: error: grpo.learning_rate: …``).

A file has the sections below; every key is checked::

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
``lora.enabled=true``); an error in one names the override.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from scale_vqa.config import ConfigError, config_error, line_of, validate_config
from scale_vqa.problems import ValidationReport

__all__ = ["ConfigError", "TrainConfig", "from_dict", "load_config", "yaml_lines"]

Origin = tuple[str, int | None]
"""Where a key was set: (file, 1-based line), or (``override 'k=v'``, None)."""


class _Section(BaseModel):
    # strict: a YAML 1 is no boolean, "8" no integer (ints are still accepted for floats)
    model_config = ConfigDict(extra="forbid", strict=True, validate_default=False)


class ModelConfig(_Section):
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


class LoraConfig(_Section):
    enabled: bool = False
    r: int = 64
    alpha: int = 128
    dropout: float = 0.05
    target_modules: list[str] | str = "all-linear"
    vision: bool = False
    """Also adapt the vision tower (default: language model only)."""


class DataConfig(_Section):
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
    prompt_format: Literal["seed", "labelled", "seed_sft"] = "seed"
    """The prompt format (:mod:`scale_vqa.formats`): ``seed``, the seed's inference format (its RL data format is
    unpublished; the inference format is the best evidence), ``seed_sft`` (the seed's SFT data format) or
    ``labelled``."""


class RewardConfig(_Section):
    mode: Literal["seed", "scale_vqa"] = "seed"
    accuracy_weight: float = 0.8
    format_weight: float = 0.2
    entity_weight: float = 0.0
    """> 0 adds the entity-consistency reward (off by default)."""
    entity_terms_file: str | None = None
    """Extra entity terms, one per line, added to the built-in lexicon."""


class ExportConfig(_Section):
    merged_dir: str | None = None
    """Where the final model (LoRA merged) and processor are saved; default ``<output_dir>/merged``.
    Empty string: no export."""


SECTIONS = ("model", "lora", "data", "reward", "export", "grpo", "sft")


class TrainConfig(_Section):
    output_dir: str = "runs/train"
    resume: str = "auto"
    model: ModelConfig = Field(default_factory=ModelConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    reward: RewardConfig = Field(default_factory=RewardConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    grpo: dict[str, Any] = Field(default_factory=dict)
    sft: dict[str, Any] = Field(default_factory=dict)
    _source: str = PrivateAttr("<defaults>")
    _origins: dict[str, Origin] = PrivateAttr(default_factory=dict)

    @field_validator(*SECTIONS, mode="before")
    @classmethod
    def _empty_section(cls, value: Any) -> Any:
        """``model:`` with nothing under it is an empty section (YAML reads it as null)."""
        return {} if value is None else value

    @property
    def source(self) -> str:
        """The file(s) this config was read from, the file first and its bases after it (``a.yaml ← b.yaml``)."""
        return self._source

    @property
    def merged_dir(self) -> Path | None:
        if self.export.merged_dir == "":
            return None
        return Path(self.export.merged_dir) if self.export.merged_dir else Path(self.output_dir) / "merged"

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def where(self, field: str) -> Origin:
        """The file and line where `field` (or its closest enclosing key) was set; the config's own file for a
        default."""
        while field:
            if field in self._origins:
                return self._origins[field]
            field = field.rpartition(".")[0]
        return self._source.split(" ← ")[0], None

    def error(self, field: str, message: str) -> ConfigError:
        """A :class:`ConfigError` about `field`, naming the file and line (or the override) that set it."""
        file, line = self.where(field)
        return config_error(file, message, line=line, field=field)

    def require(self, *fields: str) -> None:
        """Raise :class:`ConfigError` when one of the dotted `fields` is empty."""
        for name in fields:
            value: Any = self
            for part in name.split("."):
                value = getattr(value, part)
            if value in ("", None):
                raise self.error(name, f"required (set it in the file or as {name}=VALUE)")


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a YAML config (following ``base:``), apply ``key=value`` overrides, and validate every field."""
    raw, origins, sources = _read_with_bases(Path(path), ())
    for spec in overrides:
        _apply_override(raw, origins, spec)
    return from_dict(raw, " ← ".join(sources), origins)


def from_dict(raw: dict[str, Any], source: str = "<dict>", origins: dict[str, Origin] | None = None) -> TrainConfig:
    """Build a :class:`TrainConfig` from a plain mapping (checked as a file would be). `origins` maps dotted
    keys to where they were set, for the error messages (default: all in `source`, no line)."""
    origins = origins or {}
    file = source.split(" ← ")[0]
    try:
        config = validate_config(TrainConfig, raw, file)
    except ConfigError as exc:
        raise _located(exc, origins, source) from None
    config._source = source
    config._origins = dict(origins)
    return config


def _located(exc: ConfigError, origins: dict[str, Origin], source: str) -> ConfigError:
    """`exc` with each problem's file and line taken from where its field was set (a base file, an override), and
    the alternatives of a union field (``lora.target_modules.str`` …) said as one problem about the field."""
    report = ValidationReport()
    unions: dict[str, list[str]] = {}
    for problem in exc.report:
        field, tag = _union_member(problem.field or "")
        owner = next((k for k in _ancestors(field) if k in origins), None)
        if owner is not None:
            problem = dataclasses.replace(problem, file=origins[owner][0], line=origins[owner][1])
        if tag:
            if field in unions:
                unions[field].append(tag)
                continue
            unions[field] = [tag]
            problem = dataclasses.replace(problem, field=field)
        report.add(problem)
    for i, problem in enumerate(report.problems):
        tags = unions.get(problem.field or "")
        if tags and len(tags) > 1:
            got = problem.message.partition(", got ")[2]
            report.problems[i] = dataclasses.replace(
                problem, message=f"expected {' or '.join(tags)}" + (f", got {got}" if got else ""))
    return ConfigError(report, source)


def _union_member(field: str) -> tuple[str, str]:
    """``lora.target_modules.list[str]`` → (``lora.target_modules``, ``list[str]``): pydantic names the member of
    a union a value failed; a field that is no union member comes back with an empty tag."""
    model: Any = TrainConfig
    parts = field.split(".")
    for i, part in enumerate(parts):
        info = model.model_fields.get(part) if isinstance(model, type) and issubclass(model, BaseModel) else None
        if info is None:
            return field, ""
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            model = annotation
            continue
        rest = parts[i + 1:]
        if rest and typing.get_origin(annotation) in (typing.Union, types.UnionType):
            return ".".join(parts[:i + 1]), rest[0]
        return field, ""
    return field, ""


def _ancestors(field: str) -> list[str]:
    """``a.b.c`` → ``a.b.c``, ``a.b``, ``a``."""
    parts = field.split(".")
    return [".".join(parts[:n]) for n in range(len(parts), 0, -1)]


def yaml_lines(node: yaml.Node, prefix: str = "") -> dict[str, int]:
    """The line map of a composed YAML document: dotted key (list entries numbered: ``lora.target_modules.0``)
    → the 1-based line where it is set, from the parser's node marks."""
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            name = f"{prefix}{key.value}"
            lines[name] = key.start_mark.line + 1
            lines.update(yaml_lines(value, name + "."))
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            lines[f"{prefix}{i}"] = value.start_mark.line + 1
            lines.update(yaml_lines(value, f"{prefix}{i}."))
    return lines


def _read_yaml(path: Path) -> tuple[Any, dict[str, int]]:
    """A YAML file's data and its line map; a syntax error names its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise config_error(path, f"cannot read: {exc.strerror or exc}") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
        where = f" (column {mark.column + 1})" if mark else ""
        raise config_error(path, f"not valid YAML: {problem or exc}{where}",
                           line=mark.line + 1 if mark else None) from None
    return _numbers(data), yaml_lines(node) if node is not None else {}


def _read_with_bases(path: Path, seen: tuple[Path, ...]
                     ) -> tuple[dict[str, Any], dict[str, Origin], list[str]]:
    if not path.is_file():
        raise config_error(path, "config file not found")
    if path.resolve() in seen:
        raise config_error(path, "circular reference", field="base")
    raw, lines = _read_yaml(path)
    raw = raw if raw is not None else {}
    if not isinstance(raw, dict):
        raise config_error(path, f"expected a mapping at the top level, got {type(raw).__name__}", line=1)
    origins: dict[str, Origin] = {key: (str(path), line) for key, line in lines.items()}
    base = raw.pop("base", None)
    if base is None:
        return raw, origins, [str(path)]
    if not isinstance(base, str):
        raise config_error(path, f"expected a file name, got {base!r}", line=line_of(lines, "base"), field="base")
    if not (path.parent / base).is_file():
        raise config_error(path, f"config file not found: {path.parent / base}", line=line_of(lines, "base"),
                           field="base")
    parent, parent_origins, sources = _read_with_bases(path.parent / base, (*seen, path.resolve()))
    return _merge(parent, raw), {**parent_origins, **origins}, [str(path), *sources]


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


def _apply_override(raw: dict[str, Any], origins: dict[str, Origin], spec: str) -> None:
    name = f"override {spec!r}"
    key, sep, text = spec.partition("=")
    if not sep or not key.strip():
        raise config_error(name, "use dotted.key=value")
    try:
        value = _numbers(yaml.safe_load(text)) if text.strip() else ""
    except yaml.YAMLError as exc:
        raise config_error(name, f"value is not valid YAML: {exc}", field=key.strip()) from None
    node = raw
    parts = key.strip().split(".")
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise config_error(name, "is not a section", field=".".join(parts[:i + 1]))
        node = child
    node[parts[-1]] = value
    origins[".".join(parts)] = (name, None)
