"""Atomic writes: a file or a whole folder is built beside its target, then renamed into place.

Readers see either the old target or the complete new one, a failure leaves nothing half-written, and what we
write gets the modes the user's umask gives an ordinary file or folder (``mkstemp``/``mkdtemp`` alone would make
it private: 0600 / 0700).

A folder build (:func:`atomic_dir`) is also safe against other runs and other programs:

- a lock file beside the target (``.OUT.lock``, ``fcntl.flock``) lets one run at a time write a target; a second
  run fails at once with :class:`OutputBusyError`;
- the decision to replace an existing target is taken again right before the final rename, and the rename
  replaces only the very folder that was checked (same device and inode); a folder that appeared at the target
  during the run, or changed so that the check no longer passes, is kept and the run fails
  (:class:`OutputChangedError`);
- temporary folders left by a killed run (``.OUT.XXXXXXXX.tmp``) are removed by the next run to the same target,
  which holds the lock, so no live run can own them; a line on stderr says so.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from .errors import BadInputError

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; runs are then not serialised
    fcntl = None  # type: ignore[assignment]


class OutputBusyError(BadInputError):
    """Another run is writing the same output folder now (exit 1)."""


class OutputChangedError(BadInputError, FileExistsError):
    """The output folder appeared or changed while this run was writing its replacement; it is kept (exit 1)."""


def current_umask() -> int:
    """The process umask (read without changing it for longer than one call)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode an ordinary new file gets under the current umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode an ordinary new folder gets under the current umask."""
    return 0o777 & ~current_umask()


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write `text` to `path` so that readers see either the old file or the complete new one."""
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically, with the umask's file mode."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


Identity = tuple[int, int]
"""(device, inode) of a folder: which folder a path named when it was checked."""


def identity(path: Path) -> Identity | None:
    """(device, inode) of what `path` names (not following a final symlink), or None when nothing is there."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename `src` to `dst` only if nothing is at `dst`. The check and the rename are two steps (a non-empty
    folder arriving between them still makes ``rename`` fail); runs of this module never race here, as they hold
    the target's lock."""
    if os.path.lexists(dst):
        raise FileExistsError(dst)
    os.rename(src, dst)


_NOW = object()
"""`replace_dir`'s default `expected`: whatever is at `out` when it is called."""


def replace_dir(tmp: str | Path, out: str | Path, *, expected: Identity | object | None = _NOW,
                may_replace: Callable[[Path], bool] | None = None) -> None:
    """Move the finished folder `tmp` to `out`.

    `expected` is what `out` was when the caller decided to write it (None: nothing was there; default: what is
    there now). If `out` is not that any more, or `may_replace(out)` now says no, :class:`OutputChangedError` is
    raised and `out` is left as it is. An earlier `out` is first moved aside, checked to be the folder that was
    checked, and removed only once `tmp` is in place; if the move fails, it is put back."""
    tmp, out = Path(tmp), Path(out)
    now = identity(out)
    if expected is _NOW:
        expected = now
    if now != expected:
        what = "appeared" if expected is None else "was replaced or removed"
        raise OutputChangedError(f"{out} {what} while this run was writing it; it is left as it is and this "
                                 "run's result is discarded")
    if now is None:
        try:
            _rename_noreplace(tmp, out)
        except FileExistsError:
            raise OutputChangedError(f"{out} appeared while this run was writing it; it is left as it is and this "
                                     "run's result is discarded") from None
        return
    if may_replace is not None and not may_replace(out):
        raise OutputChangedError(f"{out} changed while this run was writing it and may no longer be replaced; "
                                 "it is left as it is")
    old = tmp.with_name(tmp.name.removesuffix(".tmp") + ".old")
    _rename_noreplace(out, old)
    if identity(old) != expected:  # swapped between the check and the move: put it back, touch nothing
        _rename_noreplace(old, out)
        raise OutputChangedError(f"{out} was replaced while this run was writing it; it is left as it is")
    try:
        _rename_noreplace(tmp, out)
    except FileExistsError:
        kept = out.with_name(f"{out.name}.replaced-{old.name.split('.')[-2]}")
        old.rename(kept)
        raise OutputChangedError(f"{out} appeared while this run was replacing it; it is left as it is, and the "
                                 f"folder it was to replace is kept at {kept}") from None
    except BaseException:
        _rename_noreplace(old, out)
        raise
    shutil.rmtree(old, ignore_errors=True)


def lock_path(out: Path) -> Path:
    """The lock file beside `out` that serialises runs writing it."""
    return out.with_name(f".{out.name}.lock")


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold the lock of `out` (non-blocking): :class:`OutputBusyError` when another run holds it. The lock file is
    removed on release (and re-checked on acquire, so a removed one is never trusted)."""
    if fcntl is None:
        yield
        return
    path = lock_path(out)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, file_mode())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputBusyError(f"{out}: another run is writing it now (lock {path} is held); wait for it to "
                                  "finish or choose another output folder") from None
        st = os.fstat(fd)
        if identity(path) == (st.st_dev, st.st_ino):
            break
        os.close(fd)  # the holder removed this lock file as we opened it: try again with the new one
    try:
        yield
    finally:
        Path(path).unlink(missing_ok=True)
        os.close(fd)


def leftovers(out: Path) -> list[Path]:
    """Temporary folders of earlier runs to `out`: ``.OUT.XXXXXXXX.tmp`` (a build) and ``.OUT.XXXXXXXX.old`` (an
    earlier folder moved aside), as :func:`tempfile.mkdtemp` names them."""
    pattern = re.compile(rf"\.{re.escape(out.name)}\.[a-z0-9_]{{8}}\.(tmp|old)")
    if not out.parent.is_dir():
        return []
    return sorted(p for p in out.parent.iterdir() if pattern.fullmatch(p.name) and p.is_dir()
                  and not p.is_symlink())


def clean_leftovers(out: Path) -> list[Path]:
    """Remove the leftovers of killed runs to `out` (call with the lock held) and report them on stderr. A folder
    moved aside by a run killed before its final rename is put back when `out` is missing. Returns them."""
    found = leftovers(out)
    for path in found:
        if path.name.endswith(".old") and not os.path.lexists(out):
            path.rename(out)
        else:
            shutil.rmtree(path, ignore_errors=True)
    if found:
        print(f"note: removed {len(found)} temporary folder(s) left beside {out} by an interrupted run: "
              + ", ".join(p.name for p in found), file=sys.stderr)
    return found


@contextmanager
def atomic_dir(out: str | Path, *, may_replace: Callable[[Path], bool] | None = None) -> Iterator[Path]:
    """Build a folder atomically: yields a fresh temporary folder beside `out` (with the umask's folder mode);
    when the block ends normally it replaces `out` (an earlier `out` is removed only then), and on any error it
    is deleted and `out` is left as it was.

    `may_replace(out)` decides whether an existing `out` may be replaced (it may return False or raise); it is
    asked on entry and again right before the final rename. Without it, what is at `out` on entry is replaced.
    Either way only that folder is replaced: one that appears or is swapped in during the run is kept and the run
    fails with :class:`OutputChangedError`. While the block runs, `out` is locked: a concurrent run to the same
    `out` fails with :class:`OutputBusyError`."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out_lock(out):
        if fcntl is not None:
            clean_leftovers(out)
        expected = identity(out)
        if expected is not None and may_replace is not None and not may_replace(out):
            raise OutputChangedError(f"{out} exists and may not be replaced")
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
        try:
            tmp.chmod(dir_mode())
            yield tmp
            replace_dir(tmp, out, expected=expected, may_replace=may_replace)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
