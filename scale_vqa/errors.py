"""The one error path of the ``scale-vqa`` command line: every expected failure is a :class:`ScaleVQAError`
carrying its exit code, raised anywhere and caught once, in :func:`scale_vqa.cli.main`.

Exit codes:

====  =====================================================================================
0     success
1     bad input: a file, a field or an argument value the command cannot use (:class:`InputError`,
      :class:`ConfigError`, :class:`UsageError` is 2); also a failed step of the work itself
2     usage: wrong or missing arguments (argparse's own code), or an extra that is not installed
      (:class:`MissingExtraError`)
3     a gate said no: ``scale-vqa audit --fail-above`` found more leakage than allowed (:class:`GateError`)
130   interrupted (Ctrl-C)
====  =====================================================================================
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from contextlib import contextmanager

EXIT_OK = 0
EXIT_INPUT = 1
EXIT_USAGE = 2
EXIT_GATE = 3
EXIT_INTERRUPTED = 130


class ScaleVQAError(Exception):
    """An expected failure: its message is printed as ``error: …`` and the process exits with `exit_code`."""

    exit_code: int = EXIT_INPUT


class BadInputError(ScaleVQAError, ValueError):
    """A file, field or value the command cannot use (exit 1). The message names the file, line and field."""

    exit_code = EXIT_INPUT


class UsageError(ScaleVQAError):
    """Arguments that do not fit together (exit 2)."""

    exit_code = EXIT_USAGE


class MissingExtraError(ScaleVQAError, ImportError):
    """A command needs packages of an extra that is not installed (exit 2)."""

    exit_code = EXIT_USAGE

    def __init__(self, extra: str, missing: list[str], what: str = "this command") -> None:
        self.extra, self.missing = extra, missing
        super().__init__(f"{what} needs the {extra} extra ({', '.join(missing)} not installed): "
                         f'python -m pip install ".[{extra}]" in a clone of Scale-VQA')


class GateError(ScaleVQAError):
    """A check configured as a gate failed (exit 3)."""

    exit_code = EXIT_GATE


def missing_modules(*modules: str) -> list[str]:
    """The top-level modules of `modules` that cannot be imported (not installed)."""
    absent = []
    for name in modules:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(name)
    return absent


def require_extra(extra: str, *modules: str, what: str = "this command") -> None:
    """Raise :class:`MissingExtraError` naming `extra` and its pip command unless every module in `modules` is
    installed. The one way a command checks for its extra."""
    absent = missing_modules(*modules)
    if absent:
        raise MissingExtraError(extra, absent, what)


@contextmanager
def as_bad_input(*errors: type[Exception]) -> Iterator[None]:
    """Inside the block, the built-in `errors` (default: ``ValueError``, ``FileNotFoundError``) that a library or
    reader raises over a file or value it cannot use are bad input: re-raised as :class:`BadInputError` (exit 1).
    Scale-VQA's own errors pass through unchanged."""
    caught: tuple[type[Exception], ...] = errors or (ValueError, FileNotFoundError)
    try:
        yield
    except ScaleVQAError:
        raise
    except caught as exc:
        raise BadInputError(str(exc)) from exc
