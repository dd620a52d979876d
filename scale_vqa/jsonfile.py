"""Reading JSON-array and JSONL files record by record, with line numbers and no traceback on bad input."""

from __future__ import annotations

import json
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


def parse_jsonl(text: str, name: str) -> tuple[list[Record], list[Problem]]:
    """One JSON value per non-blank line; every bad line is reported, the good ones are kept.

    Lines end at ``\n`` only: U+2028, U+2029 and U+0085 are legal inside JSON strings.
    """
    records: list[Record] = []
    problems: list[Problem] = []
    index = 0
    for lineno, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            records.append(Record(index, lineno, json.loads(raw)))
        except (ValueError, RecursionError) as exc:
            problem = _json_error(name, exc, line=lineno)
            problems.append(Problem(name, problem.message, line=lineno, index=index))
        index += 1
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


