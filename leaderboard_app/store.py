"""Where submissions live. :class:`Store` is the small interface the app uses; :class:`SQLiteStore` is the
embedded default (WAL, busy timeout, ``BEGIN IMMEDIATE`` so the anti-gaming check and the insert are one
atomic step even with concurrent uploads). Rows are retracted, never deleted."""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from .rules import Decision, Earlier, answer_bits

SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    submitter TEXT NOT NULL,
    model TEXT NOT NULL,
    link TEXT NOT NULL,
    paper TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL,
    variant TEXT NOT NULL DEFAULT 'standard',
    file_sha256 TEXT NOT NULL,
    letters TEXT NOT NULL,
    letters_sha256 TEXT NOT NULL DEFAULT '',
    scores TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('published', 'held', 'retracted')),
    reason TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL,
    verified INTEGER NOT NULL DEFAULT 0,
    identity TEXT NOT NULL DEFAULT 'typed',
    disclosed TEXT NOT NULL DEFAULT '',
    run TEXT NOT NULL DEFAULT '',
    info TEXT NOT NULL DEFAULT '',
    prompt_format TEXT NOT NULL DEFAULT 'unknown'
);
CREATE UNIQUE INDEX IF NOT EXISTS one_file_per_model ON submissions (submitter, model, variant, file_sha256);
CREATE INDEX IF NOT EXISTS by_submitter ON submissions (submitter, created);
CREATE INDEX IF NOT EXISTS by_answers ON submissions (letters_sha256);
"""


@dataclass(frozen=True)
class Row:
    id: int
    submitter: str
    model: str
    link: str
    paper: str
    kind: str
    variant: str
    file_sha256: str
    letters: dict[str, str | None]
    scores: dict[str, Any]
    status: str
    reason: str
    created: float
    verified: bool = False
    """A maintainer reproduced the run (``scale-vqa leaderboard admin verify``)."""
    identity: str = "typed"
    """``typed`` (a name typed into the form: unverified) or ``oauth`` (a signed-in account)."""
    disclosed: dict[str, Any] | None = None
    """What the reply and the table show (:mod:`leaderboard_app.ladder`); None for rows stored before."""
    run: dict[str, Any] | None = None
    """The provenance of the uploaded ``run.json`` (:class:`leaderboard_app.provenance.RunRecord`); None without."""
    info: dict[str, Any] | None = None
    """The model's details as submitted (:class:`leaderboard_app.provenance.ModelInfo`); None for rows before."""
    prompt_format: str = "unknown"
    """The prompt format the run used (from its run.json); rows of different formats are never ranked together."""

    def earlier(self) -> Earlier:
        return Earlier(self.id, self.submitter, f"{self.model} [{self.variant}]", self.file_sha256, self.letters,
                       self.created, self.status, self.variant, self.identity, self.disclosed)


@functools.lru_cache(maxsize=8192)
def _letters(text: str) -> dict[str, str | None]:
    """A stored answer set, parsed once (rows' answers never change; the private key's rules read every row)."""
    return json.loads(text)


@functools.lru_cache(maxsize=8192)
def _disclosed(text: str) -> dict[str, Any] | None:
    """A stored disclosure, parsed once (it never changes either)."""
    return json.loads(text) if text else None


def _json_or_none(text: str) -> dict[str, Any] | None:
    return json.loads(text) if text else None


Decide = Callable[[list[Earlier]], Decision]
NamesCheck = Callable[[list[tuple[str, str]]], None]
"""Called inside the write transaction with every stored (submitter, model) pair; raises to refuse."""


def letters_digest(letters: Mapping[str, str | None]) -> str:
    """Hash of a submission's answers (finds identical answer sets without reading every row)."""
    return hashlib.sha256(json.dumps(dict(sorted(letters.items()))).encode()).hexdigest()


class Store(Protocol):
    def find(self, submitter: str, model: str, variant: str, file_sha256: str) -> Row | None: ...
    def submit(self, entry: Mapping[str, Any], decide: Decide, *, everyone: bool = False,
               check_names: NamesCheck | None = None) -> tuple[Decision, Row | None]: ...
    def admission(self, submitter: str, now: float, window: float) -> tuple[int, bool, int]: ...
    def rows(self, *, statuses: tuple[str, ...] = ("published",)) -> list[Row]: ...
    def retract(self, row_id: int, reason: str) -> None: ...
    def submission_counts(self) -> dict[str, int]: ...
    def names(self) -> list[tuple[str, str]]: ...


class SQLiteStore:
    """The default store: one SQLite file."""

    def __init__(self, path: str | Path, *, timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._local = threading.local()
        self._cache: dict[int, Earlier] = {}
        """Row id → what the rules read of it (:meth:`_earliers`)."""
        with self._connect() as db:
            db.executescript(SCHEMA)
            self._migrate(db)

    @staticmethod
    def _migrate(db: sqlite3.Connection) -> None:
        """Bring a database written by an older version up to this schema (adds the ``verified``, ``identity``,
        ``disclosed``, ``run``, ``info`` and ``prompt_format`` columns)."""
        db.execute("BEGIN IMMEDIATE")
        try:
            columns = {r[1] for r in db.execute("PRAGMA table_info(submissions)")}
            added = (("verified", "INTEGER NOT NULL DEFAULT 0"), ("identity", "TEXT NOT NULL DEFAULT 'typed'"),
                     ("disclosed", "TEXT NOT NULL DEFAULT ''"), ("run", "TEXT NOT NULL DEFAULT ''"),
                     ("info", "TEXT NOT NULL DEFAULT ''"), ("prompt_format", "TEXT NOT NULL DEFAULT 'unknown'"))
            for name, decl in added:
                if name not in columns:
                    db.execute(f"ALTER TABLE submissions ADD COLUMN {name} {decl}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            db.execute("PRAGMA synchronous=NORMAL")
            self._local.db = db
        return db

    @staticmethod
    def _row(r: tuple[Any, ...]) -> Row:
        return Row(*r[:8], _letters(r[8]), json.loads(r[9]), r[10], r[11], r[12], bool(r[13]), r[14],
                   _disclosed(r[15]), _json_or_none(r[16]), _json_or_none(r[17]), r[18])

    def _earliers(self, db: sqlite3.Connection, found: list[tuple[int, str]]) -> list[Earlier]:
        """The rules' view of the rows `found` as (id, status). Everything but the status of a stored row never
        changes, so each row is read and parsed once per process, not once per submission (under a private key
        the rules read every row)."""
        missing = [i for i, _ in found if i not in self._cache]
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            cur = db.execute(f"SELECT {self.EARLIER} FROM submissions WHERE id IN ({','.join('?' * len(chunk))})",
                             chunk)
            for r in cur:
                letters = json.loads(r[5])
                self._cache[r[0]] = Earlier(r[0], r[1], f"{r[2]} [{r[3]}]", r[4], letters, r[6], r[7], r[3], r[8],
                                            _disclosed(r[9]), answer_bits(letters))
        out = []
        for row_id, status in found:
            e = self._cache[row_id]
            out.append(e if e.status == status else replace(e, status=status))
        return out

    COLUMNS = ("id, submitter, model, link, paper, kind, variant, file_sha256, letters, scores, status, reason, "
               "created, verified, identity, disclosed, run, info, prompt_format")
    EARLIER = "id, submitter, model, variant, file_sha256, letters, created, status, identity, disclosed"
    """What the rules read of a row (:class:`Earlier`: no scores, which they never need)."""

    def find(self, submitter: str, model: str, variant: str, file_sha256: str) -> Row | None:
        """The row already stored for this exact file (cheap: lets a retry skip validation and scoring)."""
        r = self._connect().execute(
            f"SELECT {self.COLUMNS} FROM submissions WHERE submitter = ? AND model = ? AND variant = ? "
            "AND file_sha256 = ?", (submitter, model, variant, file_sha256)).fetchone()
        return None if r is None else self._row(r)

    def admission(self, submitter: str, now: float, window: float) -> tuple[int, bool, int]:
        """Cheap counts for refusing before any parsing or scoring (the rules check them again, atomically): the
        submitter's submissions in the last `window` seconds, whether it has any, and the typed names first seen
        in the last hour."""
        db = self._connect()
        recent, total = db.execute("SELECT COALESCE(SUM(created > ?), 0), COUNT(*) FROM submissions "
                                   "WHERE submitter = ?", (now - window, submitter)).fetchone()
        (new,) = db.execute("SELECT COUNT(*) FROM (SELECT MIN(created) AS first FROM submissions WHERE identity = "
                            "'typed' GROUP BY submitter) WHERE first > ?", (now - 3600.0,)).fetchone()
        return int(recent), bool(total), int(new)

    def submit(self, entry: Mapping[str, Any], decide: Decide, *, everyone: bool = False,
               check_names: NamesCheck | None = None) -> tuple[Decision, Row | None]:
        """Atomically: `check_names` against every stored name pair, read the rows the rules need (the
        submitter's own, and others' with the same answers; every row when `everyone`, as a private key's
        defences need), apply `decide`, insert when it says publish or hold (with the decision's disclosure).
        Whatever raises inside rolls everything back."""
        db = self._connect()
        letters_sha = letters_digest(entry["letters"])
        db.execute("BEGIN IMMEDIATE")
        try:
            if check_names is not None:  # in the transaction: two look-alike names at once cannot both pass
                check_names(db.execute("SELECT DISTINCT submitter, model FROM submissions").fetchall())
            where = "" if everyone else " WHERE submitter = ? OR letters_sha256 = ?"
            cur = db.execute(f"SELECT id, status FROM submissions{where} ORDER BY id",
                             () if everyone else (entry["submitter"], letters_sha))
            decision = decide(self._earliers(db, cur.fetchall()))
            row = None
            if decision.action == "duplicate" and decision.existing is not None:
                row = self._row(db.execute(f"SELECT {self.COLUMNS} FROM submissions WHERE id = ?",
                                           (decision.existing,)).fetchone())
            elif decision.action in ("publish", "hold"):
                status = "published" if decision.action == "publish" else "held"
                cur = db.execute(
                    "INSERT INTO submissions (submitter, model, link, paper, kind, variant, file_sha256, letters, "
                    "letters_sha256, scores, status, reason, created, identity, disclosed, run, info, prompt_format) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (entry["submitter"], entry["model"], entry["link"], entry.get("paper", ""), entry["kind"],
                     entry.get("variant", "standard"), entry["file_sha256"], json.dumps(entry["letters"]),
                     letters_sha, json.dumps(entry["scores"]), status, decision.reason,
                     entry.get("created", time.time()), entry.get("identity", "typed"),
                     json.dumps(decision.disclosed) if decision.disclosed is not None else "",
                     json.dumps(entry["run"]) if entry.get("run") else "",
                     json.dumps(entry["info"]) if entry.get("info") else "",
                     entry.get("prompt_format") or "unknown"))
                row = self._row(db.execute(f"SELECT {self.COLUMNS} FROM submissions WHERE id = ?",
                                           (cur.lastrowid,)).fetchone())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return decision, row

    def rows(self, *, statuses: tuple[str, ...] = ("published",)) -> list[Row]:
        marks = ",".join("?" * len(statuses))
        cur = self._connect().execute(
            f"SELECT {self.COLUMNS} FROM submissions WHERE status IN ({marks}) ORDER BY id", statuses)
        return [self._row(r) for r in cur]

    def retract(self, row_id: int, reason: str) -> None:
        """Mark a row retracted (it stays in the database and in the submitter's count)."""
        cur = self._connect().execute("UPDATE submissions SET status = 'retracted', reason = ? WHERE id = ?",
                                      (reason, row_id))
        if cur.rowcount != 1:
            raise KeyError(f"no submission #{row_id}")

    def set_verified(self, row_id: int, verified: bool) -> None:
        """Set or clear a row's *verified* mark (a maintainer reproduced the run)."""
        cur = self._connect().execute("UPDATE submissions SET verified = ? WHERE id = ?", (int(verified), row_id))
        if cur.rowcount != 1:
            raise KeyError(f"no submission #{row_id}")

    def verify(self, row_id: int) -> None:
        self.set_verified(row_id, True)

    def unverify(self, row_id: int) -> None:
        self.set_verified(row_id, False)

    def names(self) -> list[tuple[str, str]]:
        """Every (submitter, model) pair stored, any status (for the confusable-names check)."""
        return self._connect().execute("SELECT DISTINCT submitter, model FROM submissions").fetchall()

    def submission_counts(self) -> dict[str, int]:
        """Submissions per submitter, every status included (public: it shows how often each one tried)."""
        cur = self._connect().execute("SELECT submitter, COUNT(*) FROM submissions GROUP BY submitter")
        return dict(cur.fetchall())

    def integrity_ok(self) -> bool:
        return self._connect().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
