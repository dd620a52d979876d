"""An output folder the builders' commands may not replace: bad input (exit 1) through the one error path of
:mod:`scale_vqa.errors`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from scale_vqa.errors import BadInputError


class OutputExistsError(BadInputError, FileExistsError):
    """The output folder exists and may not be replaced (exit 1)."""


def refuse_existing(out: Path, *, overwrite: bool, ours: Callable[[Path], bool], command: str) -> None:
    """Raise :class:`OutputExistsError` when `out` exists, unless `overwrite` is set and `ours(out)` says
    ``scale-vqa {command}`` made it."""
    if out.exists() and not (overwrite and ours(out)):
        hint = f" and was not made by `scale-vqa {command}`" if overwrite else "; pass --overwrite to replace it"
        raise OutputExistsError(f"{out} exists{hint}")


def replace_guard(*, overwrite: bool, ours: Callable[[Path], bool], command: str) -> Callable[[Path], bool]:
    """The `may_replace` check for :func:`scale_vqa.atomic.atomic_dir`: :func:`refuse_existing`, asked again right
    before the final rename (so an OUT that appeared, or stopped being ours, during the run is kept)."""

    def may_replace(out: Path) -> bool:
        refuse_existing(out, overwrite=overwrite, ours=ours, command=command)
        return True

    return may_replace
