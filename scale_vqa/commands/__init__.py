"""One module per ``scale-vqa`` command: ``add_parser`` registers arguments; ``run`` does the work."""

from __future__ import annotations

import importlib.util


def missing_extra(extra: str, *modules: str) -> str | None:
    """An error message when a module the command needs is not installed (None when all are)."""
    absent = [m for m in modules if importlib.util.find_spec(m) is None]
    if not absent:
        return None
    return f'{", ".join(absent)} not installed; install the {extra} extra: pip install "scale-vqa[{extra}]"'
