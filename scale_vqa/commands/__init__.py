"""The core's own ``scale-vqa`` commands (validate, score, demo): ``add_parser`` registers arguments; ``run`` does
the work. Spokes register theirs the same way, through the ``scale_vqa.commands`` entry points."""

from __future__ import annotations

from ..errors import MissingExtraError, missing_modules


def missing_extra(extra: str, *modules: str) -> str | None:
    """What a demo step prints instead of running when `extra` is not installed (None when it is): the same
    message :func:`scale_vqa.errors.require_extra` raises, found the same way."""
    absent = missing_modules(*modules)
    return str(MissingExtraError(extra, absent, "this step")) if absent else None
