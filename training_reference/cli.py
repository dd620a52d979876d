"""``scale-vqa train {grpo,sft} --config FILE [key=value …]``: the TRL reference trainer (``train`` extra)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from scale_vqa.errors import UsageError, require_extra

CONFIGS = "training_reference/configs"
TRAIN_MODULES = ("torch", "trl", "transformers", "datasets", "peft", "accelerate")


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="GRPO / SFT reference trainer on TRL (ScaleReasoner-R1 recipe)",
                       description="Train a Qwen2.5-VL checkpoint on a built Scale-VQA dataset with TRL. "
                                   f"Configs: {CONFIGS}/seed_parity.yaml (the seed's verl recipe), "
                                   "recommended.yaml, sft.yaml, smoke_cpu.yaml (2 steps on CPU). Multi-GPU: "
                                   "launch through accelerate, see training_reference/launch/. Needs the train "
                                   "extra.")
    tsub = p.add_subparsers(dest="method", metavar="METHOD")
    for method, text in (("grpo", "GRPO with the seed-parity rewards"), ("sft", "SFT on the rationales")):
        m = tsub.add_parser(method, help=text, description=f"{text}. Overrides are dotted.key=value with a YAML "
                                                           "value, e.g. grpo.learning_rate=1e-5 lora.enabled=true")
        m.add_argument("--config", required=True, metavar="FILE", help="YAML config")
        m.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
        m.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
        m.add_argument("--prepare-only", action="store_true",
                       help="prepare the data (prompt lengths, drops) and print the counts, without training")
        m.set_defaults(run=run_train)
    p.set_defaults(run=no_method)


def no_method(args: argparse.Namespace) -> int:
    raise UsageError("train needs a method: scale-vqa train grpo --config FILE, or scale-vqa train sft "
                     "--config FILE (see scale-vqa train --help)")


def quiet_loading_bars() -> None:
    """Hide the progress bars of dataset preparation and weight loading: the run's console keeps the training
    bar and one line per logging step."""
    from datasets.utils.logging import disable_progress_bar
    from transformers.utils import logging as transformers_logging

    disable_progress_bar()
    transformers_logging.disable_progress_bar()


def run_train(args: argparse.Namespace) -> int:
    from training_reference.config import load_config

    config = load_config(args.config, args.overrides)
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    require_extra("train", *TRAIN_MODULES, what="scale-vqa train")
    config.require("model.path", "data.source")
    from training_reference import grpo, sft
    from training_reference.common import load_processor
    from training_reference.data import check_split, load_prepared

    check_split(config.data.source, config.data.split)  # a wrong split is reported before any model loads
    quiet_loading_bars()
    if args.prepare_only:
        processor = load_processor(config.model, config)
        _, stats = load_prepared(config.data.source, config.data.split, processor, kind=args.method,
                                 max_prompt_tokens=config.data.max_prompt_tokens,
                                 allow_no_images=config.data.allow_no_images, limit=config.data.limit,
                                 prompt_format=config.data.prompt_format)
        print(stats.summary())
        return 0
    module = grpo if args.method == "grpo" else sft
    result = module.train(config)
    print(f"trained {result.global_step} steps → {result.output_dir}"
          + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""))
    if result.merged_dir:
        print(f"merged model for the evaluator: {result.merged_dir}")
    return 0


def shown_path(path: Path) -> str:
    """`path` relative to the working directory when it lies below it (as a user in a clone types it)."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def demo_train_command(out: Path) -> str:
    """The CPU smoke run on the demo's outputs: its tiny model (``OUT/tiny-qwen2.5-vl``, made by the eval step)
    and its built dataset (``OUT/dataset``, made by the build step, a ``validation`` split only)."""
    config = Path(__file__).with_name("configs") / "smoke_cpu.yaml"
    return shlex.join(["scale-vqa", "train", "grpo", "--config", shown_path(config),
                       f"model.path={out / 'tiny-qwen2.5-vl'}", f"data.source={out / 'dataset'}",
                       "data.split=validation", f"output_dir={out / 'train-run'}"])


def demo_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 9: print the train command that works on the demo's model and dataset (not run: about a minute)."""
    print("\n== 9. train, not run here (about a minute on CPU; the demo's tiny model cannot learn, and the run "
          f"says why):\n   {demo_train_command(out)}")
    needs = [what for what, path in (("the data extra (step 4 builds the dataset)", out / "dataset"),
                                     ("the eval extra (step 7 builds the tiny model)", out / "tiny-qwen2.5-vl"))
             if not path.exists()]
    if needs:
        print(f"   it needs {' and '.join(needs)}, and the train extra")
    return 0
