"""GRPO step time, throughput and peak memory with the seed-parity config, on a randomly initialised model of the
real Qwen2.5-VL architecture, built offline. Prepared for a CUDA machine; runs on CPU at toy size.

    python benchmarks/bench_grpo.py --out /tmp/bench                    # 7B, 3 images of 1092², 4096 new tokens
    python benchmarks/bench_grpo.py --out /tmp/bench --arch 3b --batch 1,2,4,8 --max-completion 1024
    python benchmarks/bench_grpo.py --out /tmp/bench --arch tiny --cpu --image-side 56 --max-completion 8

The tokenizer and image processor come from :mod:`evaluator.tiny_model` (offline); the image processor gets Qwen's
default pixel bounds, so a 1092² image is 1521 tokens and three of them with the question give a prompt near the
5120-token limit. A random model rarely stops, so completions run to ``--max-completion`` (the worst case). Each
per-device batch runs in its own process (an out-of-memory stops that batch size only); per step it generates
``num_generations`` (5) completions for each of `batch` prompts (gradient accumulation 5, so one optimizer step
sees 5 × batch completions, as one GPU's share of the seed's 160). Reported: mean step time (first step
excluded when there are more), tokens/s (prompt + completion tokens through the policy), peak GPU memory, and the
largest batch that fitted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]

ARCHS: dict[str, dict[str, Any]] = {
    "7b": {"text": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                        num_key_value_heads=4, vocab_size=152064, max_position_embeddings=128000,
                        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
                        tie_word_embeddings=False),
           "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=3584,
                          window_size=112, fullatt_block_indexes=[7, 15, 23, 31])},
    "3b": {"text": dict(hidden_size=2048, intermediate_size=11008, num_hidden_layers=36, num_attention_heads=16,
                        num_key_value_heads=2, vocab_size=151936, max_position_embeddings=128000,
                        rope_parameters={"rope_type": "default", "rope_theta": 1e6, "mrope_section": [16, 24, 24]},
                        tie_word_embeddings=True),
           "vision": dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
                          window_size=112, fullatt_block_indexes=[7, 15, 23, 31])},
    "tiny": {"text": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                          num_key_value_heads=2, vocab_size=512, max_position_embeddings=16384,
                          rope_parameters={"rope_type": "default", "rope_theta": 1e4, "mrope_section": [2, 3, 3]},
                          tie_word_embeddings=False),
             "vision": dict(depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64,
                            window_size=112, fullatt_block_indexes=[1])},
}
QWEN_PIXELS = {"shortest_edge": 56 * 56, "longest_edge": 28 * 28 * 16384}
"""Qwen2.5-VL's default image bounds (min_pixels 3136, max_pixels 12845056)."""


def build_model(out: Path, arch: str, device: str) -> Path:
    """A random `arch` Qwen2.5-VL with the tiny fixture's tokenizer and Qwen's image bounds, saved in bf16."""
    import torch
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    from evaluator.tiny_model import build_tiny_vlm
    from evaluator.vlm_compat import load_processor

    if (out / "config.json").is_file():
        return out
    tiny = build_tiny_vlm(out.parent / "tokenizer", plant=False)
    processor = load_processor(str(tiny), size=QWEN_PIXELS)
    tok = processor.tokenizer
    spec = ARCHS[arch]
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in (
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"))}
    config = Qwen2_5_VLConfig(
        text_config={**spec["text"], "eos_token_id": tok.eos_token_id, "pad_token_id": tok.pad_token_id,
                     "bos_token_id": None},
        vision_config={**spec["vision"], "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2},
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
        tie_word_embeddings=spec["text"]["tie_word_embeddings"], **ids)
    torch.manual_seed(0)
    with torch.device(device):
        model = Qwen2_5_VLForConditionalGeneration(config).to(torch.bfloat16)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def build_data(root: Path, side: int, n_per_dimension: int) -> Path:
    """A built train split of 5 × `n_per_dimension` items, three `side`² JPEG images each (textured noise)."""
    import numpy as np
    from PIL import Image

    from builders.dataset.export import build_dataset
    from tests.helpers.tiny_vlm import write_release

    out = root / "built"
    if (out / "README.md").is_file():
        return out
    release = root / "release"
    write_release(release, n_per_dimension, split="train")
    rng = np.random.default_rng(0)
    for path in sorted((release / "images").rglob("*.jpg")):
        Image.fromarray(rng.integers(0, 255, (side, side, 3), dtype=np.uint8)).save(path, quality=90)
    build_dataset(release, out, images=release / "images", progress=False)
    return out


def worker(args: argparse.Namespace) -> int:
    """One batch size, in this process: train `--steps` steps and write the measurements as JSON."""
    import torch
    from transformers import TrainerCallback

    from training_reference import grpo
    from training_reference.config import load_config

    cuda = torch.cuda.is_available() and not args.cpu
    overrides = [f"model.path={args.model}", f"data.source={args.data}", f"output_dir={args.run}",
                 "resume=never", "export.merged_dir=", "data.prompts_per_step=null",
                 f"grpo.per_device_train_batch_size={args.batch}", "grpo.gradient_accumulation_steps=5",
                 f"grpo.max_steps={args.steps}", f"grpo.max_completion_length={args.max_completion}",
                 "grpo.save_steps=100000", "grpo.num_completions_to_print=0", "grpo.log_completions=false",
                 f"grpo.use_vllm={str(args.vllm).lower()}", f"grpo.vllm_enable_sleep_mode={str(args.vllm).lower()}"]
    if not cuda:
        overrides += ["grpo.use_cpu=true", "grpo.bf16=false", "model.dtype=float32",
                      "grpo.gradient_checkpointing=false"]
    config = load_config(REPO / "training_reference" / "configs" / "seed_parity.yaml", overrides)

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []

        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.times.append(time.perf_counter())

        def on_step_end(self, *a: Any, **k: Any) -> None:
            self.times[-1] = time.perf_counter() - self.times[-1]

    clock = Clock()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    result = grpo.train(config, callbacks=[clock])
    logs = [json.loads(line) for line in (Path(args.run) / "train_log.jsonl").read_text().splitlines()]
    steps = [entry for entry in logs if "loss" in entry]
    tokens = [entry["num_tokens"] for entry in steps]
    per_step = [b - a for a, b in zip([0.0, *tokens], tokens, strict=False)]
    timed = slice(1, None) if len(clock.times) > 1 else slice(None)
    step_time = sum(clock.times[timed]) / len(clock.times[timed])
    out = {"batch": args.batch, "steps": result.global_step, "step_time_s": step_time,
           "tokens_per_s": sum(per_step[timed]) / sum(clock.times[timed]),
           "completion_mean_length": sum(e["completions/mean_length"] for e in steps) / len(steps),
           "prompt_tokens_longest": result.data.get("longest_kept"),
           "peak_gpu_gib": torch.cuda.max_memory_allocated() / 2**30 if cuda else None,
           "kl_last": steps[-1]["kl"], "loss_last": steps[-1]["loss"]}
    Path(args.result).write_text(json.dumps(out))
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="work folder (model, data, runs, results.json)")
    p.add_argument("--arch", choices=sorted(ARCHS), default="7b")
    p.add_argument("--image-side", type=int, default=1092, help="square image side in pixels (1092: 1521 tokens)")
    p.add_argument("--items", type=int, default=4, help="items per dimension (default 4: 20 prompts)")
    p.add_argument("--batch", default="1,2,4", help="per-device prompt batches to try, ascending")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--max-completion", type=int, default=4096)
    p.add_argument("--vllm", choices=("auto", "on", "off"), default="auto", help="colocated vLLM generation")
    p.add_argument("--cpu", action="store_true")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per batch size")
    # worker mode (internal)
    for name in ("--model", "--data", "--run", "--result"):
        p.add_argument(name, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.result:
        args.batch, args.vllm = int(args.batch), args.vllm == "on"
        return worker(args)

    import importlib.util

    import torch

    cuda = torch.cuda.is_available() and not args.cpu
    vllm = args.vllm == "on" or (args.vllm == "auto" and cuda and importlib.util.find_spec("vllm") is not None)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = build_model(args.out / f"model-{args.arch}", args.arch, "cuda" if cuda else "cpu")
    data = build_data(args.out / f"data-{args.image_side}", args.image_side, args.items)
    print(f"model + data ready in {time.perf_counter() - t0:.0f} s (vLLM: {'on' if vllm else 'off'})", flush=True)
    rows = []
    for batch in (int(b) for b in args.batch.split(",")):
        run, result = args.out / f"run-b{batch}", args.out / f"result-b{batch}.json"
        result.unlink(missing_ok=True)
        cmd = [sys.executable, __file__, "--out", str(args.out), "--batch", str(batch), "--steps", str(args.steps),
               "--max-completion", str(args.max_completion), "--vllm", "on" if vllm else "off", "--model",
               str(model), "--data", str(data), "--run", str(run), "--result", str(result)]
        cmd += ["--cpu"] if args.cpu else []
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
            failed = proc.returncode != 0
            tail = (proc.stdout + proc.stderr)[-2000:]
        except subprocess.TimeoutExpired:
            failed, tail = True, f"timed out after {args.timeout} s"
        if failed or not result.is_file():
            oom = "out of memory" in tail.lower()
            print(f"batch {batch}: {'out of memory' if oom else 'failed'}\n{'' if oom else tail}", flush=True)
            rows.append({"batch": batch, "error": "oom" if oom else tail[-500:]})
            break
        row = json.loads(result.read_text())
        rows.append(row)
        peak = f"{row['peak_gpu_gib']:.1f} GiB" if row["peak_gpu_gib"] is not None else "n/a"
        print(f"batch {batch}: {row['step_time_s']:.1f} s/step, {row['tokens_per_s']:.0f} tokens/s, peak {peak}, "
              f"completions {row['completion_mean_length']:.0f} tokens, prompts ≤ {row['prompt_tokens_longest']}",
              flush=True)
    fitted = [r["batch"] for r in rows if "error" not in r]
    summary = {"arch": args.arch, "image_side": args.image_side, "max_completion": args.max_completion,
               "vllm": vllm, "device": torch.cuda.get_device_name() if cuda else "cpu", "rows": rows,
               "largest_batch": max(fitted) if fitted else None}
    (args.out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"largest per-device batch that fitted: {summary['largest_batch']} → {args.out / 'results.json'}")
    return 0 if fitted else 1


if __name__ == "__main__":
    sys.exit(main())
