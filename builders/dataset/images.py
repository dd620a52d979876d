"""Cheap checks that an image file is complete, without decoding its pixels (unless asked to)."""

from __future__ import annotations

import io
from typing import Literal

ImageCheck = Literal["fast", "decode", "none"]
"""``fast``: file signature, header and completeness (JPEG end marker, PNG chunk CRCs); ``decode``: also decode
every pixel; ``none``: store the bytes unchecked."""
IMAGE_CHECKS: tuple[str, ...] = ("fast", "decode", "none")

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)


def sniff(data: bytes) -> str | None:
    """Image format from the file signature (``JPEG``, ``PNG``, ``WEBP`` …), or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    for magic, name in _SIGNATURES:
        if data.startswith(magic):
            return name
    return None


def image_problem(data: bytes, check: ImageCheck = "fast") -> str | None:
    """Why `data` is not a complete image file, or None when it is (always None for ``check="none"``)."""
    if check == "none":
        return None
    if not data:
        return "empty file"
    kind = sniff(data)
    if kind is None:
        return f"not an image file (unknown signature {data[:8]!r})"
    if kind == "JPEG" and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "truncated JPEG (no end-of-image marker)"
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            if check == "decode":
                im.load()
            else:
                im.verify()  # PNG: every chunk and its CRC; other formats: the header
    except Exception as exc:  # Pillow raises many kinds (OSError, SyntaxError, struct.error …)
        return f"cannot be read as {kind}: {exc}"
    return None
