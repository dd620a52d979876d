"""Atomic writes: a file or a whole folder is built beside its target, then renamed into place.

Readers see either the old target or the complete new one, a failure leaves nothing half-written, and what we
write gets the modes the user's umask gives an ordinary file or folder (``mkstemp``/``mkdtemp`` alone would make
it private: 0600 / 0700).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


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


def replace_dir(tmp: str | Path, out: str | Path) -> None:
    """Move the finished folder `tmp` to `out`, replacing an earlier `out`; if the move fails, the earlier
    folder is put back."""
    tmp, out = Path(tmp), Path(out)
    if not out.exists():
        tmp.rename(out)
        return
    old = out.with_name(f".{out.name}.old-{tmp.name}")
    out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        old.rename(out)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_dir(out: str | Path) -> Iterator[Path]:
    """Build a folder atomically: yields a fresh temporary folder beside `out` (with the umask's folder mode);
    when the block ends normally it replaces `out` (an earlier `out` is removed only then), and on any error it
    is deleted and `out` is left as it was. Deciding whether an existing `out` may be replaced is the caller's
    job, before entering."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        tmp.chmod(dir_mode())
        yield tmp
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
