"""``scale-vqa audit``: text-only leak audit of an MCQ file (the work lives in ``builders.audit.engine``)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import TYPE_CHECKING

from baselines.text_only.panel_args import add_panel_arguments, load_panel_inputs
from scale_vqa.errors import EXIT_GATE, BadInputError, GateError, require_extra

if TYPE_CHECKING:
    from baselines.answerer import Answerer
    from baselines.text_only.registry import AdversarySpec

AUDIT_MODULES = ("numpy", "scipy", "sklearn", "matplotlib", "rapidfuzz", "markdown_it")
"""What the audit needs (the ``audit`` extra)."""


def leak_fraction(text: str) -> float:
    """``0.1`` or ``10%`` → 0.1."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(%?)\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a fraction or percentage: {text!r}")
    value = float(m.group(1)) / (100 if m.group(2) else 1)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"leak rate must be within 0–1 (or 0–100%): {text!r}")
    return value


def add_audit_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit", help="find text-only shortcuts in MCQs (no images) and gate new MCQs",
        description="Run a panel of text-only adversaries (heuristics, learned scorers, optionally embeddings and "
                    "LLMs) over MCQ files; report accuracy vs chance per dimension with Wilson CIs, exact p-values "
                    "and leakage κ; generator-artifact checks; a shuffled-options check; per-item leak flags with a "
                    "threshold calibrated to a ≤5 %% false-flag rate; optionally the unflagged hard subset. "
                    "Needs the 'audit' extra.")
    add_panel_arguments(p)
    p.add_argument("--list", action="store_true", help="list the adversaries and exit")
    llm = p.add_argument_group("LLM adversaries (text-only prompts; 'api' extra)")
    llm.add_argument("--llm", action="append", default=[], metavar="BACKEND:MODEL",
                     help="add an LLM answerer, e.g. openai:gpt-4o-mini, gemini:gemini-2.5-flash, "
                          "dashscope:qwen-plus; repeatable")
    llm.add_argument("--base-url", help="OpenAI-compatible server URL (vLLM, transformers serve, DashScope "
                                        "compatible mode); default $OPENAI_BASE_URL or api.openai.com")
    llm.add_argument("--api-key-env", help="environment variable holding the key (default per backend: "
                                           "OPENAI_API_KEY, GEMINI_API_KEY, DASHSCOPE_API_KEY)")
    llm.add_argument("--max-tokens", type=int, default=1024)
    llm.add_argument("--concurrency", type=int, default=4)
    llm.add_argument("--rpm", type=float, default=0, help="max requests per minute (default unlimited)")
    llm.add_argument("--retries", type=int, default=5)
    llm.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    llm.add_argument("--cache", metavar="FILE", help="reply cache (default OUT/llm_cache.sqlite)")
    p.add_argument("--out", metavar="DIR", help="report folder (default audit-<file stem>)")
    p.add_argument("--permutations", type=int, default=2000, help="null draws for flag calibration")
    p.add_argument("--target", type=leak_fraction, default=0.05, help="max false-flag rate (default 0.05)")
    p.add_argument("--no-shuffle-check", action="store_true", help="skip the shuffled-options re-run")
    p.add_argument("--write-subset", metavar="FILE", help="write the unflagged items (hard subset) here, with "
                                                          "FILE's .construction.json beside it")
    p.add_argument("--fail-above", type=leak_fraction, metavar="X",
                   help=f"exit {EXIT_GATE} when the share of flagged items exceeds X (e.g. 0.1 or 10%%)")
    p.set_defaults(run=run_audit)


def _list() -> int:
    from baselines.text_only.registry import GROUPS, adversary_specs

    for spec in adversary_specs().values():
        groups = [g for g, f in GROUPS.items() if f(spec)]
        note = "" if spec.available else "  [needs the 'embed' extra]"
        print(f"{spec.name:<18} {spec.kind:<10} {spec.description}  (groups: {', '.join(groups) or '-'}){note}")
    return 0


def _llm_answerers(args: argparse.Namespace, out: Path) -> list[tuple[AdversarySpec, Answerer]]:
    """The ``--llm`` answerers, sharing one reply cache."""
    if not args.llm:
        return []
    from baselines.api.cache import ResponseCache
    from baselines.api.clients import Generation, LLMAnswerer, make_backend
    from baselines.text_only.registry import AdversarySpec

    cache = ResponseCache(args.cache or out / "llm_cache.sqlite")
    extra: list[tuple[AdversarySpec, Answerer]] = []
    for spec in args.llm:
        backend = make_backend(spec, base_url=args.base_url, api_key_env=args.api_key_env,
                               timeout=args.timeout) if spec.startswith("openai:") else make_backend(
            spec, api_key_env=args.api_key_env, timeout=args.timeout)
        answerer = LLMAnswerer(backend, gen=Generation(max_tokens=args.max_tokens), cache=cache,
                               concurrency=args.concurrency, rpm=args.rpm, retries=args.retries,
                               progress=not args.quiet)
        extra.append((AdversarySpec(answerer.name, "llm", answerer.description, lambda s, a=answerer: a), answerer))
    return extra


def run_audit(args: argparse.Namespace) -> int:
    require_extra("audit", *AUDIT_MODULES, what="scale-vqa audit")
    if args.list:
        return _list()
    from baselines.answerer import AnswererError
    from baselines.text_only.registry import resolve
    from builders.audit.engine import run_audit
    from builders.audit.report import console_table, write_reports, write_subset

    specs = resolve(args.adversaries.split(","))
    items, fit_items = load_panel_inputs(args)
    out = Path(args.out or f"audit-{Path(args.files[0]).stem}")
    try:
        extra = _llm_answerers(args, out)
        audit = run_audit(items, specs, source=", ".join(args.files), fit_items=fit_items,
                          fit_name=", ".join(args.fit_on) if args.fit_on else None, folds=args.folds, seed=args.seed,
                          permutations=args.permutations, target=args.target,
                          shuffle_check=not args.no_shuffle_check, extra=extra, residual=bool(args.write_subset),
                          progress=not args.quiet, jobs=max(1, args.jobs))
    except AnswererError as exc:  # a missing key, an unreachable server: the run cannot use this input
        raise BadInputError(str(exc)) from exc
    print(console_table(audit))
    paths = write_reports(audit, out)
    if args.write_subset:
        construction = write_subset(audit, Path(args.write_subset),
                                    source_path=args.files[0] if len(args.files) == 1 else None)
        print(f"\nhard subset: {args.write_subset} ({audit.residual_n} items), construction: {construction}")
    print(f"\nreport: {paths['html']}  (also {paths['markdown'].name}, {paths['json'].name}, {paths['flags'].name})")
    for _, answerer in extra:
        s = answerer.stats
        print(f"{answerer.name}: {s.requested} requests, {s.cached} from cache, {s.retries} retries")
    rate = audit.calibration.leak_rate
    if args.fail_above is not None and rate > args.fail_above:
        raise GateError(f"leak rate {rate:.1%} ({audit.calibration.flagged} flagged items) exceeds "
                        f"{args.fail_above:.1%} (--fail-above)")
    return 0


def demo_step(out: Path, paths: dict[str, Path]) -> int:
    """Step 5: the text-only leak audit of the demo MCQs, when the audit extra is installed."""
    report = out / "audit"
    print(f"\n== 5. scale-vqa audit {paths['release']} --adversaries heuristics,learned --out {report}")
    require_extra("audit", *AUDIT_MODULES, what="the audit")
    from baselines.text_only.registry import resolve
    from builders.audit.engine import run_audit
    from builders.audit.report import console_table, write_reports
    from scale_vqa.release import load_items

    audit = run_audit(load_items(paths["release"]), resolve(["heuristics", "learned"]), source=str(paths["release"]),
                      folds=3, permutations=500, progress=False)
    print("   (the demo's distractors are templated, so text-only scorers find shortcuts here too)")
    print("   " + console_table(audit).replace("\n", "\n   "))
    written = write_reports(audit, report)
    print(f"   report: {written['html']}")
    return 0
