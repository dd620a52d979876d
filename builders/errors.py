"""How the builders' commands fail: an output folder they may not replace, and built-in errors of the readers
they call, both reported as bad input (exit 1) through the one error path of :mod:`scale_vqa.errors`; and how
their demo steps skip when an extra is missing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scale_vqa.errors import BadInputError, MissingExtraError, ScaleVQAError, require_extra


class OutputExistsError(BadInputError, FileExistsError):
    """The output folder exists and may not be replaced (exit 1)."""


def refuse_existing(out: Path, *, overwrite: bool, ours: Callable[[Path], bool], command: str) -> None:
    """Raise :class:`OutputExistsError` when `out` exists, unless `overwrite` is set and `ours(out)` says
    ``scale-vqa {command}`` made it."""
    if out.exists() and not (overwrite and ours(out)):
        hint = f" and was not made by `scale-vqa {command}`" if overwrite else "; pass --overwrite to replace it"
        raise OutputExistsError(f"{out} exists{hint}")


@contextmanager
def as_bad_input(*errors: type[Exception]) -> Iterator[None]:
    """Report the built-in `errors` raised inside the block (a missing folder, an unusable value in a file) as
    :class:`~scale_vqa.errors.BadInputError`; Scale-VQA's own errors pass through unchanged."""
    try:
        yield
    except ScaleVQAError:
        raise
    except errors as exc:
        raise BadInputError(str(exc)) from exc


def demo_skips(extra: str, *modules: str, what: str) -> bool:
    """True (after printing why) when a demo step must be skipped because `extra` is not installed."""
    try:
        require_extra(extra, *modules, what=what)
    except MissingExtraError as exc:
        print(f"   skipped: {exc}")
        return True
    return False
