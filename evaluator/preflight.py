"""What ``scale-vqa eval`` checks before it loads a model (which for a 7B model takes minutes): the data source
and split, the tasks, and the generation budget against the model's context. Each problem is a
:class:`~scale_vqa.errors.BadInputError` that says what to pass instead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from scale_vqa.errors import BadInputError
from scale_vqa.release import canonical_split, find_split_files

from .docs import Source, open_source

TASK_MAX_GEN_TOKS = 4096
"""The task folder's generation budget (``generation_kwargs.max_gen_toks``) when ``--max-gen-toks`` is not given."""


def available_splits(source: str) -> list[str]:
    """The splits `source` has (a release folder's split files, a built dataset's or Hub dataset's splits); empty
    when they cannot be listed (a single MCQ file, an unreachable Hub id)."""
    path = Path(source)
    if path.is_file():
        return []
    if path.is_dir() and not (path / "data").is_dir():
        return list(find_split_files(path))
    try:
        import datasets

        return [canonical_split(s) for s in datasets.get_dataset_split_names(source)]
    except Exception:  # listing is only a hint for the message
        return []


def check_source(source: str, split: str, images: str | None = None) -> Source:
    """Open `split` of `source` (cached, so the task loaders reuse it) or say what is wrong: a missing source, a
    split it does not have (naming those it has), a missing image folder."""
    try:
        return open_source(str(source), split, images or None)
    except (FileNotFoundError, ValueError) as exc:
        splits = available_splits(str(source))
        if splits and canonical_split(split) not in splits:
            raise BadInputError(f"{source} has no {split!r} split; it has {', '.join(splits)} "
                                f"(pass --split {splits[0]})") from None
        raise BadInputError(str(exc)) from None


def check_tasks(task_names: Sequence[str], known: Sequence[str], groups: Sequence[str]) -> None:
    unknown = [t for t in task_names if t not in known]
    if unknown:
        raise BadInputError(f"unknown task(s) {', '.join(unknown)}; available: {', '.join(sorted(groups))}")


def context_length(backend: str, args: Mapping[str, Any]) -> int | None:
    """The context (tokens) lm-eval will give the model, read without loading weights: vllm's ``max_model_len``;
    for hf, ``max_length`` or the pretrained model's config (a local folder or the Hub cache; read as lm-eval's
    ``resolve_max_length`` reads it). None when unknown (API servers; a config not on this machine yet)."""
    if backend == "vllm":
        return int(args["max_model_len"]) if args.get("max_model_len") else None
    if backend != "hf":
        return None
    if args.get("max_length"):
        return int(args["max_length"])
    try:
        from lm_eval.models.utils import resolve_max_length
        from transformers import AutoConfig

        config = AutoConfig.from_pretrained(str(args["pretrained"]), revision=args.get("revision") or None,
                                            trust_remote_code=bool(args.get("trust_remote_code", False)),
                                            local_files_only=True)
        return resolve_max_length(config, None, default=0) or None
    except Exception:  # no config here (e.g. a Hub id not downloaded yet): the model load will say why
        return None


def check_generation_budget(backend: str, args: Mapping[str, Any], max_gen_toks: int | None) -> None:
    """Refuse a generation budget that leaves no room for the prompt (lm-eval would stop with a bare
    AssertionError after the model has loaded)."""
    context = context_length(backend, args)
    budget = max_gen_toks or TASK_MAX_GEN_TOKS
    if context is not None and budget >= context:
        given = "--max-gen-toks" if max_gen_toks else "the default --max-gen-toks"
        raise BadInputError(f"{given} {budget} leaves no room for the prompt: the model's context is {context} "
                            f"tokens; pass --max-gen-toks below {context} (e.g. --max-gen-toks {context // 4}; "
                            "the answer format needs a few dozen tokens, reasoning models a few thousand)")
