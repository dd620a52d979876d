"""``scale-vqa demo``: make a small demo release offline, validate it and score simulated outputs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import MissingExtraError


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
    from ..errors import BadInputError
    from ..predictions import load_predictions
    from ..release import read_release
    from ..report import details, paired_lines, seed_table
    from ..scoring import score
    from .validate import render, summarise

    try:
        paths = write_demo(Path(args.out), seed=args.seed)
    except OSError as exc:  # FileExistsError: --out holds something that is not a demo
        raise BadInputError(str(exc)) from None
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
    for step in demo_steps():
        try:
            code = step(Path(args.out), paths)
        except MissingExtraError as exc:  # a step whose extra is not installed says so and the demo goes on
            print(f"   skipped: {exc}")
            continue
        if code:
            return code
    return 0


def demo_steps() -> list[Callable[[Path, dict[str, Path]], int]]:
    """The spokes' demo steps (entry-point group ``scale_vqa.demo_steps``), in the order of their names. A step
    prints its header (the command it runs), calls :func:`~scale_vqa.errors.require_extra` for its extra, then runs."""
    steps = []
    for ep in sorted(entry_points(group="scale_vqa.demo_steps"), key=lambda ep: ep.name):
        try:
            steps.append(ep.load())
        except Exception as exc:
            print(f"warning: demo step {ep.name!r} could not be loaded: {exc}", file=sys.stderr)
    return steps
