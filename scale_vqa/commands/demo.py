"""``scale-vqa demo``: make a small demo release offline, validate it and score simulated outputs."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run the pipeline offline on a demo set the project makes itself",
                       description="Generate a small Scale-VQA-format release (MCQs + synthetic image "
                                   "triplets), validate it, and score two simulated systems (one that sees "
                                   "images, one blind) with paired tests. Needs no network and no GPU.")
    p.add_argument("--out", default="scale-vqa-demo", help="output folder (default: ./scale-vqa-demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import write_demo
    from ..predictions import load_predictions
    from ..release import read_release
    from ..report import details, paired_lines, seed_table
    from ..scoring import score
    from .validate import render, summarise

    try:
        paths = write_demo(Path(args.out), seed=args.seed)
    except (FileExistsError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"== 1. demo release written to {Path(args.out).resolve()}")
    print(f"   MCQs: {paths['release']}\n   images: {paths['images']}\n")
    print(f"== 2. scale-vqa validate {paths['release']} --images {paths['images']}")
    result = read_release(paths["release"], image_root=paths["images"])
    print(render(summarise(result), result.report.format(limit=10)))
    if not result.ok:
        return 1
    print("\n== 3. scale-vqa score (simulated outputs: no model runs at this stage; the evaluator replaces them)")
    rows = [(name, score(result.items, load_predictions(paths[key])))
            for name, key in (("simulated VLM", "vlm"), ("simulated blind", "blind"))]
    print(seed_table(rows))
    for name, rep in rows:
        print()
        print(details(name, rep))
    print()
    print(paired_lines(rows))
    return build_step(Path(args.out), paths) or audit_step(Path(args.out), paths) or leaderboard_step(
        Path(args.out), paths) or eval_step(Path(args.out), paths) or baselines_step(Path(args.out), paths)


def build_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 4: build the demo release into a Hub-ready dataset folder when the data extra is installed."""
    from . import missing_extra

    dataset = out / "dataset"
    print(f"\n== 4. scale-vqa build --release {paths['release'].parent} --images {paths['images']} --out {dataset}")
    problem = missing_extra("data", "datasets", "pyarrow", "PIL", "tqdm")
    if problem:
        print(f"   skipped: {problem}")
        return 0
    from datasets import load_dataset

    from builders.export import build_dataset

    summary = build_dataset(paths["release"].parent, dataset, images=paths["images"], progress=False)
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    val = load_dataset(str(dataset), split="validation", cache_dir=str(out / ".hf-cache"))
    row = val[0]
    shown = [k for k in ("low_mag", "mid_mag", "high_mag") if row[k] is not None]
    answer, dimension = val.features["answer"].names[row["answer"]], val.features["dimension"].names[row["dimension"]]
    print(f"   {summary.n_rows} rows, {len(summary.splits['validation'].shards)} parquet shard(s), card and checksums")
    print(f'   load_dataset("{dataset}")["validation"][0]: id {row["id"]}, '
          f"{len(shown)} images ({type(row[shown[0]]).__name__}), answer {answer}, dimension {dimension}")
    return 0


def audit_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 5: the text-only leak audit of the demo MCQs, when the audit extra is installed."""
    from . import missing_extra

    report = out / "audit"
    print(f"\n== 5. scale-vqa audit {paths['release']} --adversaries heuristics,learned --out {report}")
    problem = missing_extra("audit", "numpy", "scipy", "sklearn", "matplotlib", "rapidfuzz")
    if problem:
        print(f"   skipped: {problem}")
        return 0
    from baselines.registry import resolve
    from builders.audit import run_audit
    from builders.audit_report import console_table, write_reports

    from ..release import load_items

    audit = run_audit(load_items(paths["release"]), resolve(["heuristics", "learned"]), source=str(paths["release"]),
                      folds=3, permutations=500, progress=False)
    print("   (the demo's distractors are templated, so text-only scorers find shortcuts here too)")
    print("   " + console_table(audit).replace("\n", "\n   "))
    written = write_reports(audit, report)
    print(f"   report: {written['html']}")
    return 0


def leaderboard_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 6: the two simulated systems submitted to a leaderboard store (no server), when the app extra is there."""
    from . import missing_extra

    db = out / "leaderboard.sqlite"
    print(f"\n== 6. leaderboard: submissions scored against the hidden key into {db} "
          f"(serve it with: scale-vqa leaderboard --key {paths['release']} --db {db})")
    problem = missing_extra("app", "gradio")
    if problem:
        print(f"   skipped: {problem}")
        return 0
    from leaderboard_app.service import submit
    from leaderboard_app.store import SQLiteStore
    from leaderboard_app.submission import SubmissionError
    from leaderboard_app.table import HEADERS, build_table, display_rows

    from ..release import load_items

    key = load_items(paths["release"])
    store = SQLiteStore(db)
    import json

    for name, file, variant in (("simulated VLM", "vlm", "standard"), ("simulated VLM", "blind", "blind")):
        data = paths[file].read_bytes()
        answered = {json.loads(line)["id"] for line in data.decode().splitlines() if line.strip()}
        # the leaderboard wants every item: an item the model skipped is submitted as null (scored wrong)
        data += "".join(json.dumps({"id": it.id, "prediction": None}) + "\n"
                        for it in key if it.id not in answered).encode()
        try:
            out_ = submit(store, key, data, submitter="demo", model=name, link="https://example.org/simulated",
                          variant=variant)
            print(f"   {name} ({variant}): {out_.decision.action} as #{out_.row.id}")
        except SubmissionError as exc:
            print(f"   {name} ({variant}): not accepted: {exc.summary}")
    rows = display_rows(build_table(store.rows(), key, split="validation"), store.submission_counts())
    keep = [0, 1, 3, 9, 10, 11]
    print("   " + " | ".join(HEADERS[i] for i in keep))
    for r in rows:
        print("   " + " | ".join(r[i] for i in keep))
    return 0


DEMO_EVAL_TASKS = "scale_vqa,scale_vqa_blind,scale_vqa_single_high"


def eval_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 7: lm-eval (hf-multimodal) on the demo release with a tiny random Qwen2.5-VL built offline, then
    `scale-vqa report`, when the eval extra is installed."""
    from . import missing_extra

    model, run_dir = out / "tiny-qwen2.5-vl", out / "eval-run"
    print(f"\n== 7. scale-vqa eval --model hf --model-args pretrained={model} --data {paths['release']} "
          f"--split validation --tasks {DEMO_EVAL_TASKS} --out {run_dir} --device cpu --max-gen-toks 24")
    problem = missing_extra("eval", "torch", "transformers", "lm_eval", "PIL")
    if problem:
        print(f"   skipped: {problem}")
        return 0
    import logging

    from evaluator.report import read_run, render
    from evaluator.runner import run_eval
    from evaluator.tiny_model import build_tiny_vlm

    for name in ("lm_eval", "transformers", "httpx"):
        logging.getLogger(name).setLevel(logging.ERROR)
    print("   (a tiny *random* Qwen2.5-VL built offline: it cannot see, and was only taught the answer format —\n"
          "    it answers B to everything; a real model goes where pretrained= points)")
    build_tiny_vlm(model)
    result = run_eval("hf", {"pretrained": str(model)}, source=str(paths["release"]), split="validation",
                      tasks=DEMO_EVAL_TASKS, out=run_dir, images=str(paths["images"]), device="cpu", batch_size=8,
                      max_gen_toks=24, name="tiny-random-vlm")
    print("   " + (run_dir / "table.md").read_text(encoding="utf-8").strip().replace("\n", "\n   "))
    print(f"\n== 8. scale-vqa report {run_dir}")
    print("   " + render([read_run(run_dir)]).replace("\n", "\n   "))
    print(f"   run folder: {result.out} (results.json, samples_*.jsonl, predictions_*.jsonl, key.json)")
    return 0


def baselines_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 9: chance, majority-letter and text-only rows on the demo release (with the audit extra), then the
    baselines table: the seed paper's published rows beside whatever was measured here."""
    from ..cli import main
    from . import missing_extra

    measured = out / "baselines"
    print(f"\n== 9. scale-vqa baselines measure {paths['release']} --adversaries fast --out {measured}")
    problem = missing_extra("audit", "sklearn", "numpy")
    if problem:
        print(f"   skipped: {problem}")
    else:
        code = main(["baselines", "measure", str(paths["release"]), "--adversaries", "fast", "--out",
                     str(measured), "--quiet"])
        if code:
            return code
    runs = [str(p) for p in (measured, out / "eval-run") if (p / "key.json").is_file()]
    print(f"\n== 10. scale-vqa baselines table {' '.join(runs)}  (published rows are the test split's; "
          "demo rows are measured on the demo's validation split)")
    return main(["baselines", "table", *runs, "--no-ci"])
