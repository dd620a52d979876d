"""``scale-vqa baselines list|show|run|measure|table``: the baseline table, reproducible (the work lives in
``baselines``; ``run`` goes through ``evaluator``, ``measure`` through the audit's adversary panel)."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from scale_vqa.errors import BadInputError, UsageError, as_bad_input, require_extra
from scale_vqa.formats import PromptFormat


def add_baselines_parser(sub: argparse._SubParsersAction) -> None:
    from baselines.text_only.panel_args import add_panel_arguments

    p = sub.add_parser("baselines", help="the baseline table: seed models, text-only and chance rows, published "
                                         "numbers",
                       description="Reproduce the seed paper's rows (one config per model), measure the rows that "
                                   "need no GPU (random, majority letter, every text-only adversary), and print "
                                   "published beside measured rows with 95 % CIs.")
    cmds = p.add_subparsers(dest="baselines_command", metavar="ACTION")

    ls = cmds.add_parser("list", help="the model registry: one line per config")
    ls.add_argument("--json", action="store_true", help="configs as JSON")
    ls.set_defaults(run=run_list)

    show = cmds.add_parser("show", help="one config in full, with the command that reproduces its row")
    show.add_argument("model", help="config key or row name (see `list`), or a config .toml file")
    show.add_argument("--backend", help="one of the config's backends (default: its first)")
    show.set_defaults(run=run_show)

    r = cmds.add_parser("run", help="reproduce a model's row through the evaluator",
                        description="Run a registered model (or a config file) through the evaluator: its row and, "
                                    "by default, its blind (text-only) counterpart. Writes a run folder "
                                    "(results, samples, predictions, key, table). API backends keep a reply cache "
                                    "beside it (OUT.cache.sqlite), so a re-run resumes.")
    r.add_argument("model", help="config key or row name (see `list`), or a config .toml file")
    r.add_argument("--data", required=True, metavar="SOURCE",
                   help="a dataset folder from `scale-vqa build`, a Hub id, or a release MCQ file/folder")
    r.add_argument("--split", default="test", help="split to evaluate (default: test, the published rows' split)")
    r.add_argument("--out", required=True, metavar="DIR", help="run folder to write (replaced atomically)")
    r.add_argument("--backend", help="one of the config's backends (default: its first)")
    r.add_argument("--tasks", default="scale_vqa,scale_vqa_blind",
                   help="groups to run (default: scale_vqa,scale_vqa_blind; 'all' adds single-scale, shuffled and "
                        "circular)")
    r.add_argument("--model-path", metavar="DIR_OR_ID", help="load these weights instead of the config's id "
                                                             "(required for custom-code models: converted weights)")
    r.add_argument("--base-url", help="server URL for the server backend (or a proxy for API backends)")
    r.add_argument("--images", metavar="DIR", help="image folder of a release (default: images/ beside it)")
    r.add_argument("--limit", type=float, help="only the first N docs (or a fraction) of each task")
    r.add_argument("--batch-size", help="hf: an integer (default 1); vllm: auto")
    r.add_argument("--device", help="hf device, e.g. cuda:0")
    r.add_argument("--max-gen-toks", type=int, help="override the config's generation budget")
    r.add_argument("--prompt-format", choices=[f.value for f in PromptFormat],
                   help="override the config's prompt format (default: the config's, seed for every shipped one: "
                        "the seed's inference format, which the published rows used)")
    r.add_argument("--max-pixels", type=int, metavar="N",
                   help="pixel budget per image (default: the config's, else the model processor's own); lower it "
                        "for memory")
    r.add_argument("--min-pixels", type=int, metavar="N", help="lower pixel bound per image (default: the config's)")
    r.add_argument("--cache", metavar="FILE", help="API reply cache (default OUT.cache.sqlite)")
    r.add_argument("--concurrency", type=int, default=4, help="API requests in flight (default 4)")
    r.add_argument("--rpm", type=float, default=0.0, help="API requests per minute (default unlimited)")
    r.add_argument("--dry-run", action="store_true", help="print what would run and exit")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(run=run_model)

    m = cmds.add_parser("measure", help="random, majority-letter and text-only rows on any split (no GPU)",
                        description="Answer every item with the chance and text-only baselines — a seeded random "
                                    "guess, the majority letter and every text-only adversary of the audit — "
                                    "fitting trainable ones out of sample (grouped CV by slide, or --fit-on). "
                                    "Writes a result folder for `scale-vqa baselines table`. Needs the 'audit' "
                                    "extra.")
    add_panel_arguments(m, adversaries_help="; random and the majority letter are always included")
    m.add_argument("--out", required=True, metavar="DIR", help="result folder to write (replaced atomically)")
    m.set_defaults(run=run_measure)

    t = cmds.add_parser("table", help="published vs measured rows, per dimension with 95 %% CIs",
                        description="Print the published rows (papers' numbers, marked published) and the rows "
                                    "measured in the given result folders, each section named by its split; "
                                    "optionally a plot, JSON, and the leaderboard's seed rows.")
    t.add_argument("folders", nargs="*", metavar="DIR",
                   help="result folders: `scale-vqa baselines run` / `scale-vqa eval` runs, `baselines measure` "
                        "output")
    t.add_argument("--no-published", action="store_true", help="leave out the published rows")
    t.add_argument("--reference", action="append", metavar="FILE",
                   help="published tables to show (default: every shipped one, baselines/tables/published/*.toml)")
    t.add_argument("--no-chance", action="store_true", help="leave out the 'random (expected)' rows")
    t.add_argument("--no-ci", action="store_true", help="accuracies only")
    t.add_argument("--plot", metavar="PNG", help="write a dot plot of every row (needs matplotlib)")
    t.add_argument("--json", metavar="FILE", help="write every row as JSON")
    t.add_argument("--export-leaderboard", metavar="FILE",
                   help="write the leaderboard's seed rows (published rows, and measured model, blind, chance and "
                        "text-only rows) as JSON for `scale-vqa leaderboard --seed-rows`")
    t.set_defaults(run=run_table)
    p.set_defaults(run=lambda args: _usage(p))


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help()
    return 2


def _config(name: str) -> Any:
    from baselines.models.config import find_model_config

    return find_model_config(name)


def run_list(args: argparse.Namespace) -> int:
    from baselines.models.config import model_configs
    from baselines.tables.reference import published_rows

    published = {r.model: r for r in published_rows()}
    configs = model_configs()
    if args.json:
        print(json.dumps([{"key": c.key, "name": c.name, "model_id": c.model_id, "weights": c.weights,
                           "backends": list(c.backends), "published_avg": published[c.published].avg
                           if c.published in published else None, "command": c.command()}
                          for c in configs.values()], indent=2))
        return 0
    print(f"{'key':<18} {'row':<17} {'weights':<12} {'backends':<28} {'published AVG':>13}  model")
    for c in configs.values():
        avg = f"{published[c.published].avg:.2f}" if c.published in published else "–"
        print(f"{c.key:<18} {c.name:<17} {c.weights:<12} {','.join(c.backends):<28} {avg:>13}  {c.model_id}")
    print("\n`scale-vqa baselines show KEY` gives a config and the command that reproduces its row.")
    return 0


def run_show(args: argparse.Namespace) -> int:
    from baselines.models.config import BACKEND_KINDS
    from baselines.models.run import plan

    c = _config(args.model)
    kind = args.backend or c.default_backend
    backend = c.backend(kind)
    print(f"{c.name}  ({c.key}, {c.path})")
    print(f"model id:      {c.model_id}")
    print(f"weights:       {c.weights}")
    print(f"published row: {c.published or '–'}")
    print(f"prompt format: {c.prompt_format.value} ({c.prompt_format.spec.description})")
    print(f"system prompt: {c.system_prompt}" + (f"\n  {c.system_text}" if c.system_text else ""))
    i = c.images
    print(f"images:        max_images={i.max_images} max_pixels={i.max_pixels or 'processor default'} "
          f"min_pixels={i.min_pixels or 'processor default'}")
    g = c.generation
    print(f"generation:    max_gen_toks={g.max_tokens} temperature="
          f"{'provider default' if g.temperature is None else g.temperature} stop={list(g.stop)}"
          + (f" reasoning_effort={g.reasoning_effort}" if g.reasoning_effort else ""))
    for k, b in c.backends.items():
        mark = "*" if k == kind else " "
        print(f"backend {mark} {k:<9} {BACKEND_KINDS[k]}: model={b.model or '(converted weights: --model-path)'}"
              + (f" args={b.args}" if b.args else "") + (f" base_url={b.base_url}" if b.base_url else ""))
    if backend.serve:
        print(f"\nstart the server first:\n  {backend.serve}")
    print(f"\nreproduce the row:\n  {c.command(kind)}")
    try:
        eval_cmd = plan(c, kind, model_path="CONVERTED_DIR" if backend.model is None else None).eval_command(
            data="DATA", split="test", out=f"runs/{c.key}")
    except BadInputError:
        eval_cmd = None
    if eval_cmd:
        print(f"\nthe same through `scale-vqa eval`:\n  {eval_cmd}")
    if c.notes:
        print("\nnotes:\n  " + c.notes.replace("\n", "\n  "))
    return 0


def run_model(args: argparse.Namespace) -> int:
    from baselines.models.run import plan

    limit = int(args.limit) if args.limit is not None and args.limit >= 1 else args.limit
    batch = int(args.batch_size) if args.batch_size and args.batch_size.isdigit() else args.batch_size
    c = _config(args.model)
    pixels = {"min_pixels": args.min_pixels, "max_pixels": args.max_pixels}
    p = plan(c, args.backend, model_path=args.model_path, base_url=args.base_url, prompt_format=args.prompt_format,
             pixels=pixels)
    if args.dry_run:
        print(json.dumps({"config": str(c.path), "row": c.name, "backend": p.kind,
                          "evaluator_backend": p.evaluator_backend, "model": p.model, "model_args": p.model_args,
                          "generation": p.gen.model_dump(mode="json", by_alias=True),
                          "prompt_format": p.prompt_format.value, "system_prompt": c.system_prompt,
                          "tasks": args.tasks,
                          "eval_command": p.eval_command(data=args.data, split=args.split, out=args.out,
                                                         tasks=args.tasks)}, indent=2))
        return 0
    require_extra("eval", "lm_eval", "transformers", "PIL", what="scale-vqa baselines run")
    from baselines.models.run import run_model as run

    with as_bad_input():
        result = run(c, data=args.data, out=args.out, kind=args.backend, split=args.split, tasks=args.tasks,
                     images=args.images, limit=limit, model_path=args.model_path, base_url=args.base_url,
                     batch_size=batch, device=args.device, max_gen_toks=args.max_gen_toks, cache=args.cache,
                     concurrency=args.concurrency, rpm=args.rpm, progress=not args.quiet,
                     prompt_format=args.prompt_format, pixels=pixels)
    print((Path(result.out) / "table.md").read_text(encoding="utf-8"))
    print(f"\nrun folder: {result.out}  —  `scale-vqa baselines table {result.out}` puts it beside the published "
          "rows")
    return 0


def run_measure(args: argparse.Namespace) -> int:
    require_extra("audit", "sklearn", "numpy", what="scale-vqa baselines measure")
    from baselines.tables.table import write_measured
    from baselines.text_only.panel import run_panel
    from baselines.text_only.panel_args import load_panel_inputs
    from baselines.text_only.registry import resolve

    # unknown adversaries are usage errors (exit 2), unusable items bad input (exit 1): both ScaleVQAErrors
    specs = resolve(["random", "position_prior", *args.adversaries.split(",")])
    items, fit_items = load_panel_inputs(args)
    results, _ = run_panel(items, specs, source=", ".join(args.files), fit_items=fit_items,
                           fit_name=", ".join(args.fit_on) if args.fit_on else None, folds=args.folds,
                           seed=args.seed, shuffle_check=False, progress=not args.quiet, jobs=max(1, args.jobs))
    split = items[0].split if items else (args.split or "")
    meta = {"name": "baselines measure", "kind": "text-only", "split": split, "source": ", ".join(args.files),
            "fit_on": args.fit_on, "folds": args.folds, "seed": args.seed}
    out = write_measured(args.out, items, results, meta)
    from baselines.tables.table import folder_rows, render

    print(render(folder_rows(out, with_chance=True)))
    print(f"\nresult folder: {out}")
    return 0


def run_table(args: argparse.Namespace) -> int:
    from baselines.tables.reference import published_rows
    from baselines.tables.table import folder_rows, leaderboard_seed_rows, plot, published_row, render
    from scale_vqa.atomic import atomic_write_text

    if args.plot:
        require_extra("audit", "matplotlib", what="--plot")
    rows = []
    with as_bad_input():
        if not args.no_published:
            rows += [published_row(p) for p in published_rows([Path(f) for f in args.reference]
                                                              if args.reference else None)]
        seen_keys: set[str] = set()
        for folder in args.folders:
            key_text = (Path(folder) / "key.json").read_text(encoding="utf-8") \
                if (Path(folder) / "key.json").is_file() else ""
            chance = not args.no_chance and key_text not in seen_keys
            seen_keys.add(key_text)
            rows += folder_rows(folder, with_chance=chance)
    if not rows:
        raise UsageError("nothing to show (give result folders, or drop --no-published)")
    print(render(rows, cis=not args.no_ci))
    if args.json:
        atomic_write_text(args.json, json.dumps([r.to_dict() for r in rows], indent=2, ensure_ascii=False) + "\n")
        print(f"\nrows: {args.json}")
    if args.export_leaderboard:
        atomic_write_text(args.export_leaderboard,
                          json.dumps(leaderboard_seed_rows(rows), indent=2, ensure_ascii=False) + "\n")
        print(f"leaderboard seed rows: {args.export_leaderboard}")
    if args.plot:
        plot(rows, args.plot)
        print(f"plot: {args.plot}")
    return 0


def demo_measure_step(out: Path, paths: dict[str, Path]) -> int:
    """Chance, majority-letter and text-only rows on the demo release (needs the audit extra)."""
    from scale_vqa.cli import main

    argv = ["baselines", "measure", str(paths["release"]), "--adversaries", "fast", "--out", str(out / "baselines"),
            "--quiet"]
    print(f"\n== 10. {shlex.join(['scale-vqa', *argv])}")
    require_extra("audit", "sklearn", "numpy", what="this step")
    return main(argv)


def demo_table_step(out: Path, paths: dict[str, Path]) -> int:
    """The baselines table: the seed paper's published rows beside whatever the demo measured."""
    from scale_vqa.cli import main

    runs = [str(p) for p in (out / "baselines", out / "eval-run") if (p / "key.json").is_file()]
    argv = ["baselines", "table", *runs, "--no-ci"]
    print(f"\n== 11. {shlex.join(['scale-vqa', *argv])}  (published rows are the test split's; demo rows are "
          "measured on the demo's validation split)")
    return main(argv)
