"""``scale-vqa train {grpo,sft} --config FILE [key=value …]``: the TRL reference trainer (``train`` extra)."""

from __future__ import annotations

import argparse
import json
import sys

CONFIGS = "training_reference/configs"


def add_train_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="GRPO / SFT reference trainer on TRL (ScaleReasoner-R1 recipe)",
                       description="Train a Qwen2.5-VL checkpoint on a built Scale-VQA dataset with TRL. "
                                   f"Configs: {CONFIGS}/seed_parity.yaml (the seed's verl recipe), "
                                   "recommended.yaml, sft.yaml. Multi-GPU: launch through accelerate, see "
                                   "training_reference/launch/. Needs the train extra.")
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
    p.set_defaults(run=lambda args: (p.print_help(), 2)[1])


def run_train(args: argparse.Namespace) -> int:
    from training_reference.config import ConfigError, load_config

    try:
        config = load_config(args.config, args.overrides)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.print_config:
        print(json.dumps(config.to_dict(), indent=2))
        return 0
    from scale_vqa.commands import missing_extra

    problem = missing_extra("train", "torch", "trl", "transformers", "datasets", "peft", "accelerate")
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    from training_reference import grpo, sft
    from training_reference.common import PaddingError, load_processor
    from training_reference.data import DataError, load_prepared

    module = grpo if args.method == "grpo" else sft
    try:
        if args.prepare_only:
            config.require("model.path", "data.source")
            processor = load_processor(config.model, config.source)
            _, stats = load_prepared(config.data.source, config.data.split, processor, kind=args.method,
                                     max_prompt_tokens=config.data.max_prompt_tokens,
                                     allow_no_images=config.data.allow_no_images, limit=config.data.limit)
            print(stats.summary())
            return 0
        result = module.train(config)
    except (ConfigError, DataError, PaddingError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"trained {result.global_step} steps → {result.output_dir}"
          + (f" (resumed from {result.resumed_from})" if result.resumed_from else ""))
    if result.merged_dir:
        print(f"merged model for the evaluator: {result.merged_dir}")
    return 0
