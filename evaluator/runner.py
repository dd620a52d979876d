"""``scale-vqa eval``: lm-eval on the Scale-VQA task folder with the right backend arguments, in one process.

It registers the chat models of :mod:`evaluator.chat.lm` and indexes only our task folder (``TaskManager(include_path=…,
include_defaults=False)``: no 17 s scan of lm-eval's built-in tasks), always applies the chat template, decodes
each image only when its request is processed and releases it afterwards, and writes a run folder:

* ``results.json`` — lm-eval's results (per task and group: acc, acc_micro, acc_strict, format_rate);
* ``samples_<task>.jsonl`` — lm-eval's logged samples (docs carry item ids and image paths);
* ``predictions_<group>.jsonl`` — ``{"id", "prediction", "output", "dimension", "variant", "prompt_format"}`` per
  prompt (``scale-vqa score`` reads these; ``key.json`` is the matching key), ``table.md`` — the seed paper's
  table per variant;
* ``run.json`` — model, backend, arguments, tasks, data source, prompt format (``prompt_format``), the
  effective image budget (``image_budget``: :mod:`evaluator.budget`), versions and timings, and its
  provenance (model id and revision, package version, task hash, command, date: :mod:`evaluator.provenance`).

The prompt format is ``seed`` (the published rows' format, :mod:`scale_vqa.formats`) unless ``prompt_format``
says otherwise; the pixel budget is the model processor's own unless ``min_pixels``/``max_pixels`` are given.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from scale_vqa.atomic import atomic_dir, atomic_write_text
from scale_vqa.errors import BadInputError
from scale_vqa.formats import DEFAULT_FORMAT, PromptFormat
from scale_vqa.parse import parse_answer
from scale_vqa.predictions import Prediction
from scale_vqa.prompt import split_rotation_id
from scale_vqa.release import write_release
from scale_vqa.report import seed_table
from scale_vqa.samples import sample_output
from scale_vqa.scoring import ScoreReport, score
from scale_vqa.variants import GROUPS, group_label, group_name, group_order

from .budget import BudgetProbe
from .docs import IMAGE_REF
from .preflight import check_generation_budget, check_source, check_tasks
from .provenance import provenance
from .quiet import quiet_libraries
from .taskgen import TASK_DIR

BACKENDS: dict[str, str] = {"hf": "hf-multimodal", "vllm": "vllm-vlm", "openai": "scale-vqa-openai"}
"""``--model`` choice → lm-eval model name."""
PIXEL_KEYS = ("min_pixels", "max_pixels")
"""The explicit pixel budget (none by default: the model processor's own, as in the seed's inference examples)."""
DEFAULT_ARGS: dict[str, dict[str, Any]] = {
    "hf": {"max_images": 3, "interleave": True},
    # vllm-vlm hands unknown arguments to vllm.LLM: a pixel budget goes through mm_processor_kwargs
    "vllm": {"max_images": 3, "interleave": True, "max_model_len": 16384},
    "openai": {"max_images": 3, "num_concurrent": 8, "max_retries": 5, "timeout": 600},
}
"""Arguments the runner adds unless ``--model-args`` sets them."""
DEFAULT_TASKS = ("scale_vqa", "scale_vqa_blind")
"""A score and its text-only counterpart: the image gain is printed with every run."""
CHUNK: dict[str, int] = {"hf": 64, "vllm": 128, "openai": 64}
"""Requests handed to the model at a time; their images are released after each chunk, so at most one chunk's
images are ever decoded (≈9 MB per request at 3 × 1024²; vLLM gets larger chunks to keep its batches full)."""


@dataclass
class RunResult:
    out: Path
    reports: dict[str, ScoreReport] = field(default_factory=dict)
    """Group (``scale_vqa``, ``scale_vqa_blind`` …) → core score of its predictions."""
    results: dict[str, Any] = field(default_factory=dict)
    """lm-eval's ``results`` (task or group → metrics)."""
    timings: dict[str, float] = field(default_factory=dict)


def parse_model_args(text: str | dict[str, Any] | None) -> dict[str, Any]:
    """``k=v,k2=v2`` (lm-eval's syntax) or a dict → dict."""
    if isinstance(text, dict):
        return dict(text)
    from lm_eval.utils import simple_parse_args_string

    return simple_parse_args_string(text or "")


def model_arguments(backend: str, model_args: str | dict[str, Any] | None,
                    pixels: dict[str, int | None] | None = None) -> dict[str, Any]:
    """The backend's defaults under the user's arguments, with an explicit pixel budget (`pixels`: ``min_pixels``
    / ``max_pixels``, over any in `model_args`); refuses ``max_images`` below 3 (it drops images)."""
    if backend not in BACKENDS:
        raise BadInputError(f"unknown --model {backend!r}: choose one of {', '.join(BACKENDS)}")
    args = {**DEFAULT_ARGS[backend], **parse_model_args(model_args),
            **{k: int(v) for k, v in (pixels or {}).items() if v is not None}}
    if backend == "vllm":
        budget = {k: args.pop(k) for k in PIXEL_KEYS if k in args}
        if budget:
            args["mm_processor_kwargs"] = {**(args.get("mm_processor_kwargs") or {}), **budget}
    if backend == "openai" and "min_pixels" in args:
        raise BadInputError("min_pixels: an OpenAI-compatible server resizes images itself (start it with its own "
                            "limits); only max_pixels, a downscale before sending, applies to --model openai")
    if int(args["max_images"]) < 3:
        raise BadInputError(f"max_images={args['max_images']} would silently drop images 2–3 of every item; "
                         "Scale-VQA prompts carry 3 images (use max_images=3)")
    if backend == "openai" and "model" not in args:
        raise BadInputError("--model openai needs model=NAME (and base_url=http://HOST:PORT/v1/chat/completions)")
    if backend != "openai" and "pretrained" not in args:
        raise BadInputError(f"--model {backend} needs pretrained=MODEL_DIR_OR_ID in --model-args")
    return args


def expand_tasks(tasks: Sequence[str] | str | None) -> list[str]:
    """Task/group names (comma-separated or a list); ``all`` means every variant group of the main config (not the
    audit's ``hard`` subset nor the curated ``matched`` config, which need their own data)."""
    if tasks is None:
        return list(DEFAULT_TASKS)
    names = [t.strip() for t in (tasks.split(",") if isinstance(tasks, str) else tasks) if t.strip()]
    if "all" in names:
        names = [group_name(s) for s in GROUPS if s != "hard" and not s.startswith("matched")]
    return names


def _serve_in_chunks(lm: Any, chunk: int = 64) -> None:
    """Wrap ``lm.generate_until``: hand requests over in chunks and close their images afterwards, so decoded
    pixels never pile up for the whole split (lm-eval keeps every request until the end); requests left with no
    image (blind tasks, or ``single_high`` for an item without a 20× view) go through the backend's text path
    separately (lm-eval's backends pick the path from the first request of a call and fail on a mix)."""
    inner: Callable[..., list[str]] = lm.generate_until

    def generate_until(requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        out: list[str | None] = [None] * len(requests)
        with_images = [i for i, r in enumerate(requests) if len(r.args) > 2 and r.args[2].get("visual")]
        text_only = sorted(set(range(len(requests))) - set(with_images))
        if text_only:
            reqs = [copy.copy(requests[i]) for i in text_only]
            for req in reqs:
                req.arguments = req.arguments[:2]
            for i, text in zip(text_only, inner(reqs, disable_tqdm=disable_tqdm), strict=True):
                out[i] = text
        for start in range(0, len(with_images), chunk):
            idx = with_images[start:start + chunk]
            part = [requests[i] for i in idx]
            for i, text in zip(idx, inner(part, disable_tqdm=disable_tqdm), strict=True):
                out[i] = text
            for req in part:  # lm-eval later hashes logged images by re-encoding them: leave their references
                visual = req.args[2]["visual"]
                for k, img in enumerate(visual):
                    visual[k] = getattr(img, IMAGE_REF, "image")
                    img.close()
        return [text or "" for text in out]

    lm.generate_until = generate_until


def build_model(backend: str, args: dict[str, Any], *, batch_size: int | str | None, device: str | None) -> Any:
    """Instantiate the lm-eval model (registering ours; image-only Qwen processors when torchvision is missing)."""
    from lm_eval.api.registry import get_model

    from .chat import lm  # noqa: F401  (registers scale-vqa-openai)

    if backend == "hf":
        from evaluator.vlm_compat import ensure_qwen_processor

        ensure_qwen_processor()
    extra = {"batch_size": batch_size, "device": device} if backend != "openai" else {}
    if backend == "vllm" and batch_size is None:
        extra["batch_size"] = "auto"
    return get_model(BACKENDS[backend]).create_from_arg_obj(args, extra)


def run_eval(backend: str, model_args: str | dict[str, Any] | None, *, source: str, split: str = "test",
             tasks: Sequence[str] | str | None = None, out: str | Path, images: str | None = None,
             limit: int | float | None = None, batch_size: int | str | None = None, device: str | None = None,
             max_gen_toks: int | None = None, subset: str | None = None, name: str | None = None,
             system: str | None = None, prompt_format: PromptFormat | str | None = None,
             pixels: dict[str, int | None] | None = None, lm: Any = None) -> RunResult:
    """Run lm-eval on `tasks` and write the run folder `out` (atomically: a failed run leaves no partial one).

    `prompt_format`: ``seed`` (None, the default), ``labelled`` or ``seed_sft``. `system`: the system prompt
    (None: the format's, "": none). `pixels`: an explicit ``min_pixels``/``max_pixels`` budget (default: the
    model processor's own). `lm`: an already built lm-eval model to use instead of building `backend` (API
    clients of :mod:`baselines`, benchmarks, notebooks)."""
    t0 = time.perf_counter()
    try:
        fmt = PromptFormat.parse(prompt_format or DEFAULT_FORMAT)
    except ValueError as exc:
        raise BadInputError(str(exc)) from None
    args = model_arguments(backend, model_args, pixels) if lm is None else parse_model_args(model_args)
    check_source(source, split, images)  # before the model loads: a wrong --data or --split fails in seconds
    if lm is None:
        check_generation_budget(backend, args, max_gen_toks)
    import lm_eval
    from lm_eval.tasks import TaskManager

    metadata = {"scale_vqa_source": str(source), "scale_vqa_split": split, "scale_vqa_format": fmt.value}
    if images:
        metadata["scale_vqa_images"] = str(images)
    if subset:
        metadata["scale_vqa_hard_subset"] = str(subset)
    if system is not None:
        metadata["scale_vqa_system"] = system
    manager = TaskManager(include_path=str(TASK_DIR), include_defaults=False, metadata=metadata)
    task_names = expand_tasks(tasks)
    check_tasks(task_names, manager.all_tasks, manager.all_groups)
    t_setup = time.perf_counter()
    built = lm is None
    if lm is None:
        with quiet_libraries():
            lm = build_model(backend, args, batch_size=batch_size, device=device)
    t_model = time.perf_counter()
    probe = BudgetProbe(backend, lm, args)
    _serve_in_chunks(lm, CHUNK.get(backend, 64))
    first_request: list[float] = []
    inner = lm.generate_until

    def timed(requests: list[Any], disable_tqdm: bool = False) -> list[str]:
        first_request.append(time.perf_counter())
        return inner(requests, disable_tqdm=disable_tqdm)

    lm.generate_until = timed
    gen_kwargs = {"max_gen_toks": max_gen_toks} if max_gen_toks else None
    # greedy; API clients (scale-vqa-openai, or an `lm` such as evaluator.chat.lm.make_lm's) need no torch
    seeds = {"torch_random_seed": None} if backend not in ("hf", "vllm") else {}
    with quiet_libraries():
        results = lm_eval.simple_evaluate(model=lm, tasks=task_names, task_manager=manager,
                                          apply_chat_template=True, log_samples=True, limit=limit,
                                          gen_kwargs=gen_kwargs, **seeds)
    t_done = time.perf_counter()
    timings = {"setup_s": t_setup - t0, "model_load_s": t_model - t_setup,
               "to_first_request_s": (first_request[0] - t0 - (t_model - t_setup)) if first_request else None,
               "total_s": t_done - t0}
    run_meta = {"name": name or _model_name(backend, args), "backend": backend,
                "lm_eval_model": BACKENDS.get(backend, backend) if built else _registered_name(lm),
                "model_args": {k: ("***" if "key" in k.lower() or "token" in k.lower() else v)
                               for k, v in args.items()},
                "tasks": task_names, "source": str(source), "split": split, "limit": limit,
                "max_gen_toks": max_gen_toks, "prompt_format": fmt.value, "system_prompt": system,
                "image_budget": probe.record, "lm_eval_version": lm_eval.__version__,
                "timings": timings, **provenance(args, lm),
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    return write_run(results, run_meta, Path(out))


def _registered_name(lm: Any) -> str:
    """The name lm-eval's registry knows `lm`'s class by (else the class name)."""
    from lm_eval.api.registry import model_registry

    return next((name for name, cls in model_registry.items() if cls is type(lm)), type(lm).__name__)


def _model_name(backend: str, args: dict[str, Any]) -> str:
    return Path(str(args.get("pretrained") or args.get("model") or backend)).name


def _group_of(task: str) -> str:
    for suffix in sorted(GROUPS, key=len, reverse=True):
        if suffix and task.startswith(group_name(suffix) + "_"):
            return group_name(suffix)
    return group_name("")


def write_run(results: dict[str, Any], meta: dict[str, Any], out: Path) -> RunResult:
    """Write the run folder from lm-eval's results (with samples) and score every group with the core."""
    from lm_eval.utils import handle_non_serializable

    from .docs import source_by_key

    with atomic_dir(out) as tmp:
        samples: dict[str, list[dict[str, Any]]] = results.pop("samples", {})
        dump = json.dumps(results, indent=2, default=handle_non_serializable, ensure_ascii=False)
        atomic_write_text(tmp / "results.json", dump)
        by_group: dict[str, list[dict[str, Any]]] = {}
        key_items: dict[str, Any] = {}
        for task, rows in samples.items():
            lines = []
            for row in rows:
                row = {k: v for k, v in row.items() if k != "arguments"}  # drop the PIL images
                lines.append(json.dumps(row, default=handle_non_serializable, ensure_ascii=False))
                doc = row["doc"]
                output = sample_output(row) or ""
                source = source_by_key(doc["source"])
                base = split_rotation_id(doc["id"])[0]
                key_items[base] = source.by_id[base]
                by_group.setdefault(_group_of(task), []).append({
                    "id": doc["id"], "prediction": parse_answer(output, doc["letters"]).letter, "output": output,
                    "dimension": doc["dimension"], "variant": doc["variant"],
                    "prompt_format": doc.get("prompt_format", meta.get("prompt_format"))})
            atomic_write_text(tmp / f"samples_{task}.jsonl", "\n".join(lines) + "\n")
        reports: dict[str, ScoreReport] = {}
        for group, preds in sorted(by_group.items(), key=lambda kv: group_order(kv[0])):
            atomic_write_text(tmp / f"predictions_{group}.jsonl",
                              "".join(json.dumps(p, ensure_ascii=False) + "\n" for p in preds))
            ids = {split_rotation_id(p["id"])[0] for p in preds}
            key = [item for item_id, item in key_items.items() if item_id in ids]
            reports[group] = score(key, {p["id"]: Prediction(p["prediction"], p["output"]) for p in preds},
                                   circular=group == group_name("circular"))
        write_release(sorted(key_items.values(), key=lambda i: i.id), tmp / "key.json")
        atomic_write_text(tmp / "table.md", run_table(meta["name"], reports) + "\n")
        atomic_write_text(tmp / "run.json", json.dumps(meta, indent=2, default=str) + "\n")
    return RunResult(out, reports, results.get("results", {}), meta["timings"])


def run_table(name: str, reports: dict[str, ScoreReport]) -> str:
    """The seed paper's table, one row per variant, then the image gain when both rows are there."""
    rows = [(f"{name} ({group_label(group)})", rep) for group, rep in reports.items()]
    text = seed_table(rows)
    std, blind = reports.get(group_name("")), reports.get(group_name("blind"))
    if std is not None and blind is not None:
        text += (f"\n\nImage gain (all scales − no images, macro): {100 * (std.macro - blind.macro):+.2f} points. "
                 "`scale-vqa report` gives paired-bootstrap CIs.")
    return text
