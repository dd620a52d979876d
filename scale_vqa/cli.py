"""The ``scale-vqa`` command line.

Commands are found through the ``scale_vqa.commands`` entry-point group: each part of Scale-VQA (the core and
every spoke) registers its own, as ``NAME = "package.module:add_parser"``, where ``add_parser(subparsers)`` adds
the command's arguments without importing anything heavy and sets ``run``. The core never imports a spoke: it
only loads what the installed package metadata names, so ``scale-vqa --help`` is instant and a spoke whose module
cannot be imported is reported, not fatal.

Every expected failure is a :class:`~scale_vqa.errors.ScaleVQAError` carrying its exit code, caught here once.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable, Sequence
from importlib.metadata import EntryPoint, entry_points

from . import __version__
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, ScaleVQAError

GROUP = "scale_vqa.commands"
"""Entry-point group of the commands: ``name = "module:add_parser"``."""


def command_entry_points() -> list[EntryPoint]:
    """The registered commands, one entry point per name (the first registration of a name wins)."""
    seen: dict[str, EntryPoint] = {}
    for ep in entry_points(group=GROUP):
        seen.setdefault(ep.name, ep)
    return list(seen.values())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scale-vqa",
        description="Scale-VQA: leakage-audited evaluation for cross-scale pathology VQA.",
        epilog="Exit codes: 0 ok, 1 bad input, 2 usage or a missing extra, 3 a gate failed, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"scale-vqa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    eps = command_entry_points()
    if not eps:
        parser.epilog = (parser.epilog or "") + (" No commands are registered: install the package "
                                                 "(pip install . from a clone) so its entry points exist.")
    for ep in eps:
        try:
            add_parser: Callable[[argparse._SubParsersAction], None] = ep.load()
        except Exception as exc:  # a broken spoke must not take the other commands down
            print(f"warning: command {ep.name!r} ({ep.value}) could not be loaded: {exc}", file=sys.stderr)
            continue
        add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        with warnings.catch_warnings():
            quiet_library_warnings()
            return int(args.run(args) or 0)
    except ScaleVQAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return 0


def quiet_library_warnings() -> None:
    """Filter the warnings of libraries we call that a user cannot act on (they still reach library users who
    call those libraries themselves)."""
    for module in ("transformers", "torch", "lm_eval", "datasets", "huggingface_hub", "gradio", "trl", "accelerate",
                   "sklearn", "peft"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)
    warnings.filterwarnings("ignore", message=r".*share=True.*")


if __name__ == "__main__":
    sys.exit(main())
