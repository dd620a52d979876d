"""``scale-vqa eval`` and ``scale-vqa report``: lm-eval on the Scale-VQA tasks, and the comparison of runs."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from scale_vqa.errors import as_bad_input, require_extra
from scale_vqa.formats import DEFAULT_FORMAT, SEED_SYSTEM_PROMPT, PromptFormat

EVAL_MODULES = ("torch", "transformers", "lm_eval", "PIL")
"""What ``scale-vqa eval`` needs from the eval extra (torch is installed first, see the README)."""


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a VLM with lm-eval on the Scale-VQA tasks",
                       description="Run lm-evaluation-harness on the Scale-VQA task folder with the right backend "
                                   "arguments (3 images per prompt, chat template, greedy, stop at </answer>) and "
                                   "write a run folder: lm-eval results and samples, predictions JSONL, the "
                                   "answer key and the seed paper's table. Needs the eval extra.")
    p.add_argument("--model", required=True, choices=("hf", "vllm", "openai"),
                   help="hf = hf-multimodal, vllm = vllm-vlm, openai = an OpenAI-compatible server")
    p.add_argument("--model-args", default="", metavar="K=V,…",
                   help="lm-eval model arguments, e.g. pretrained=Qwen/Qwen2.5-VL-7B-Instruct,dtype=bfloat16 or "
                        "model=NAME,base_url=http://127.0.0.1:8000/v1/chat/completions")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="a dataset folder built by `scale-vqa build`, a Hub id, or a release MCQ file/folder")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--images", metavar="DIR", help="image folder of a release (default: images/ beside it)")
    p.add_argument("--tasks", default="scale_vqa,scale_vqa_blind",
                   help="comma-separated groups/tasks (default: scale_vqa,scale_vqa_blind; 'all' for every "
                        "variant but hard)")
    p.add_argument("--subset", metavar="NAME_OR_FILE",
                   help="for scale_vqa_hard: the dataset config (default 'hard') or an MCQ file of its items")
    p.add_argument("--out", required=True, metavar="DIR", help="run folder to write (replaced atomically)")
    p.add_argument("--limit", type=float, help="only the first N docs (or fraction) of each task")
    p.add_argument("--batch-size", help="batch size (hf: an integer, default 1; vllm: auto)")
    p.add_argument("--device", help="device for hf (e.g. cuda:0, cpu)")
    p.add_argument("--max-gen-toks", type=int,
                   help="generation budget (default 4096, the task's). It must be below the model's context (hf: "
                        "read from the model's config before loading it; vllm: max_model_len): a budget that "
                        "leaves no room for the prompt is refused with the value to pass")
    p.add_argument("--name", help="row name in tables (default: the model's name)")
    p.add_argument("--prompt-format", default=DEFAULT_FORMAT.value, choices=[f.value for f in PromptFormat],
                   help="how items are written (default: seed, the seed's inference format that the published rows "
                        "used; labelled: magnification labels and headers; seed_sft: the seed's SFT data format)")
    p.add_argument("--system", default="default", metavar="TEXT",
                   help="system prompt: 'default' (the format's own: the seed's ScaleReasoner-R1 prompt for seed and "
                        "labelled, none for seed_sft), 'seed', 'none', or the text")
    p.add_argument("--max-pixels", type=int, metavar="N",
                   help="pixel budget per image (default: the model processor's own, as in the published runs); "
                        "lower it for memory, e.g. 802816 = 1024 visual tokens of Qwen2.5-VL")
    p.add_argument("--min-pixels", type=int, metavar="N", help="lower pixel bound per image (default: the processor's)")
    p.set_defaults(run=run_eval)


def system_text(choice: str) -> str | None:
    """``default`` → None (the format's own system prompt), ``seed`` → the seed's, ``none`` → "", anything else
    as given."""
    return {"default": None, "seed": SEED_SYSTEM_PROMPT, "none": ""}.get(choice, choice)


def run_eval(args: argparse.Namespace) -> int:
    # an OpenAI-compatible server needs the openai SDK instead of torch
    needed = [m for m in EVAL_MODULES if m != "torch"] + ["openai"] if args.model == "openai" else EVAL_MODULES
    require_extra("eval", *needed, what="scale-vqa eval")
    from evaluator.runner import run_eval

    limit = args.limit
    if limit is not None and limit >= 1:
        limit = int(limit)
    batch = args.batch_size
    if batch is not None and batch.isdigit():
        batch = int(batch)
    with as_bad_input():
        result = run_eval(args.model, args.model_args, source=args.data, split=args.split, tasks=args.tasks,
                          out=args.out, images=args.images, limit=limit, batch_size=batch, device=args.device,
                          max_gen_toks=args.max_gen_toks, subset=args.subset, name=args.name,
                          system=system_text(args.system), prompt_format=args.prompt_format,
                          pixels={"min_pixels": args.min_pixels, "max_pixels": args.max_pixels})
    print((result.out / "table.md").read_text(encoding="utf-8"))
    print(f"\nrun folder: {result.out} (results.json, samples_*.jsonl, predictions_*.jsonl, key.json, table.md)")
    return 0


def add_report_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare scale-vqa eval runs: variants, image gain, cross-scale gain, "
                                      "prompt formats",
                       description="Table of every run folder's variants (macro accuracy per dimension) and, per "
                                   "run, the image gain (all scales − no images), cross-scale gain (all scales − "
                                   "best single scale) and shuffle drop; for runs of one model in different prompt "
                                   "formats, the format effect per variant. All with 95% paired-bootstrap "
                                   "intervals.")
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="folders written by scale-vqa eval")
    p.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from evaluator.report import read_run, render

    with as_bad_input():
        runs = [read_run(folder) for folder in args.runs]
    print(render(runs))
    return 0


DEMO_EVAL_TASKS = "scale_vqa,scale_vqa_blind,scale_vqa_single_high"
DEMO_MODEL, DEMO_RUN = "tiny-qwen2.5-vl", "eval-run"
"""Where the demo builds its tiny model and writes its eval run, inside the demo folder."""


def demo_eval_argv(out: Path, paths: dict[str, Path]) -> list[str]:
    """The ``scale-vqa eval`` arguments that evaluate the demo's tiny model on the demo release."""
    return ["eval", "--model", "hf", "--model-args", f"pretrained={out / DEMO_MODEL}", "--data",
            str(paths["release"]), "--images", str(paths["images"]), "--split", "validation", "--tasks",
            DEMO_EVAL_TASKS, "--out", str(out / DEMO_RUN), "--device", "cpu", "--max-gen-toks", "24",
            "--batch-size", "8", "--name", "tiny-random-vlm"]


def demo_step(out: Path, paths: dict[str, Path]) -> int:
    """Steps 7-8: lm-eval (hf-multimodal) on the demo release with a tiny random Qwen2.5-VL built offline — the
    printed ``scale-vqa eval`` command is the one that runs — then `scale-vqa report`, when the eval extra is
    installed."""
    from scale_vqa.cli import main

    argv = demo_eval_argv(out, paths)
    print(f"\n== 7. {shlex.join(['scale-vqa', *argv])}")
    require_extra("eval", *EVAL_MODULES, what="this step")
    from evaluator.tiny_model import build_tiny_vlm

    print("   (a tiny *random* Qwen2.5-VL built offline: it cannot see, and was only taught the answer format —\n"
          "    it answers B to everything; a real model goes where pretrained= points)")
    build_tiny_vlm(out / DEMO_MODEL)
    code = main(argv)
    if code:
        return code
    print(f"\n== 8. scale-vqa report {shlex.quote(str(out / DEMO_RUN))}")
    return main(["report", str(out / DEMO_RUN)])
