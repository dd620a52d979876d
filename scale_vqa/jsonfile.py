"""Reading JSON-array and JSONL files record by record, with line numbers and no traceback on bad input.

JSONL is read line by line (lines end at ``\n`` only) and lazily, so a reader can stop after its first errors.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .problems import Problem


@dataclass(frozen=True)
class Record:
    """One top-level record: its 0-based `index`, the 1-based `line` where it starts, and its value."""

    index: int
    line: int
    value: Any


_WS = " \t\n\r"

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a JSONL line may have (Scale-VQA's own records need 4)."""

_TOKEN = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]')
"""A JSON string (skipped whole) or a bracket: what a nesting-depth scan looks at."""


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (the json module would silently keep the last)."""

    def __init__(self, key: str) -> None:
        self.key = key
        super().__init__(f"duplicate key {key!r} in one object")


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKeyError(key)
            seen.add(key)
    return obj


_LINE_DECODER = json.JSONDecoder(object_pairs_hook=_object, strict=False)


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether `text` nests arrays / objects more than `limit` deep (brackets inside strings do not count)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKEN.finditer(text):
        char = match.group()
        if char == "[" or char == "{":
            depth += 1
            if depth > limit:
                return True
        elif char == "]" or char == "}":
            depth -= 1
    return False


def loads_line(line: str) -> Any:
    """One JSONL line decoded. Refused with a ``ValueError`` (``json.JSONDecodeError`` for syntax): duplicate keys
    (:class:`DuplicateKeyError`) and nesting deeper than :data:`MAX_DEPTH`. Raw control characters other than the
    newline inside strings are read as they are (some writers leave them unescaped)."""
    if too_deep(line):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    try:
        return _LINE_DECODER.decode(line)
    except RecursionError:
        raise ValueError("nested too deeply") from None


def json_reason(exc: ValueError) -> str:
    """What is wrong, in a few words, for a ``ValueError`` raised by :func:`loads_line`."""
    return f"{exc.msg} (column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else str(exc)


def iter_lines(text: str) -> Iterator[tuple[int, str]]:
    """The non-blank lines of `text` with their 1-based numbers, split at ``\n`` only (never at U+2028, U+0085,
    ``\x1c`` … which ``str.splitlines`` would split at, and which may stand inside JSON strings)."""
    pos, n, lineno = 0, len(text), 0
    while pos < n:
        end = text.find("\n", pos)
        if end < 0:
            end = n
        lineno += 1
        line = text[pos:end]
        if line.strip():  # blank as before: Python whitespace only
            yield lineno, line
        pos = end + 1


def wide_encoding(data: bytes) -> str | None:
    """``"UTF-16"`` or ``"UTF-32"`` when the bytes are text in that encoding (a BOM, or NUL bytes interleaved
    with ASCII), else None."""
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return "UTF-32"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "UTF-16"
    head = data[:8192]
    even, odd = head[0::2], head[1::2]
    if len(odd) >= 2:
        for nuls, other in ((odd, even), (even, odd)):
            if 2 * nuls.count(0) >= len(nuls) and 10 * other.count(0) < len(other):
                return "UTF-16"
    return None


def read_text(path: Path) -> tuple[str | None, list[Problem]]:
    """The file's text (UTF-8, a BOM tolerated) or the problem that prevents reading it."""
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None, [Problem(name, "file not found")]
    except IsADirectoryError:
        return None, [Problem(name, "is a directory, expected a file")]
    except OSError as exc:
        return None, [Problem(name, f"cannot read file: {exc.strerror or exc}")]
    wide = wide_encoding(data)
    if wide:
        return None, [Problem(name, f"{wide} text, expected UTF-8: save it as UTF-8", line=1)]
    if b"\x00" in data[:8192]:
        return None, [Problem(name, "binary file (contains NUL bytes), expected UTF-8 JSON text", line=1)]
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(name, f"not valid UTF-8 (byte {exc.start}: {exc.reason})", line=line)]


def _json_error(name: str, exc: ValueError | RecursionError, line: int | None = None) -> Problem:
    """A Problem for anything the json module raises: syntax errors (with their position), nesting too
    deep for the parser, integers too long to convert."""
    if isinstance(exc, json.JSONDecodeError):
        return Problem(name, f"invalid JSON: {exc.msg} (column {exc.colno})", line=exc.lineno)
    if isinstance(exc, RecursionError):
        return Problem(name, "invalid JSON: nested too deeply", line=line)
    return Problem(name, f"invalid JSON: {exc}", line=line)


def kind_of(value: Any) -> str:
    """JSON kind of a decoded value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def parse_json_array(text: str, name: str) -> tuple[list[Record], list[Problem]]:
    """Split a JSON array into its elements, remembering the line each starts on.

    Stops at the first syntax error (JSON cannot be resynchronised reliably) and reports it with its line.
    """
    decoder = json.JSONDecoder()
    n = len(text)

    def skip(i: int) -> int:
        while i < n and text[i] in _WS:
            i += 1
        return i

    i = skip(0)
    if i == n:
        return [], [Problem(name, "empty file, expected a JSON array of items", line=1)]
    if text[i] != "[":
        try:
            value = json.loads(text)
        except (ValueError, RecursionError) as exc:
            return [], [_json_error(name, exc, line=1)]
        return [], [Problem(name, f"top level is a JSON {kind_of(value)}, expected an array of items", line=1)]
    records: list[Record] = []
    line, pos = 1, 0
    i = skip(i + 1)
    if i < n and text[i] == "]":
        return [], [Problem(name, "the array holds no items", line=text.count("\n", 0, i) + 1)]
    while True:
        line += text.count("\n", pos, i)
        try:
            value, end = decoder.raw_decode(text, i)
        except (ValueError, RecursionError) as exc:
            return records, [_json_error(name, exc, line=line)]
        pos = i
        records.append(Record(len(records), line, value))
        i = skip(end)
        if i < n and text[i] == ",":
            i = skip(i + 1)
            continue
        if i < n and text[i] == "]":
            i += 1
            break
        err_line = text.count("\n", 0, i) + 1
        found = "end of file" if i >= n else repr(text[i])
        return records, [Problem(name, f"invalid JSON: expected ',' or ']' after element, found {found}",
                                 line=err_line)]
    rest = skip(i)
    if rest < n:
        err_line = text.count("\n", 0, rest) + 1
        return records, [Problem(name, "invalid JSON: extra data after the closing ']'", line=err_line)]
    return records, []


def iter_jsonl(text: str, name: str) -> Iterator[Record | Problem]:
    """One JSON value per non-blank line (see :func:`loads_line`), as it is read: a :class:`Record` for a good
    line, a :class:`Problem` for a bad one. Lines end at ``\n`` only."""
    for index, (lineno, raw) in enumerate(iter_lines(text)):
        try:
            yield Record(index, lineno, loads_line(raw))
        except ValueError as exc:
            yield Problem(name, f"invalid JSON: {json_reason(exc)}", line=lineno, index=index)


def parse_jsonl(text: str, name: str, *, max_errors: int | None = None) -> tuple[list[Record], list[Problem]]:
    """Every line of :func:`iter_jsonl`: the good ones kept, every bad one reported, or only the first
    `max_errors` of them (reading stops there)."""
    records: list[Record] = []
    problems: list[Problem] = []
    for entry in iter_jsonl(text, name):
        if isinstance(entry, Record):
            records.append(entry)
            continue
        problems.append(entry)
        if max_errors is not None and len(problems) >= max_errors:
            break
    return records, problems


def read_records(path: str | Path, *, jsonl: bool | None = None) -> tuple[list[Record], list[Problem]]:
    """Records of a JSON-array file, or of a JSONL file (`jsonl=None`: decided by the `.jsonl` suffix)."""
    path = Path(path)
    text, problems = read_text(path)
    if text is None:
        return [], problems
    if jsonl is None:
        jsonl = path.suffix.lower() == ".jsonl"
    if jsonl:
        records, problems = parse_jsonl(text, str(path))
        if not records and not problems:
            problems = [Problem(str(path), "empty file, expected one JSON object per line", line=1)]
        return records, problems
    return parse_json_array(text, str(path))


