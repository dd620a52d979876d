"""A disk cache of chat replies (SQLite, one row per request), so interrupted API runs resume for free."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path


class ResponseCache:
    """Reply text by request key. Each reply is committed as soon as it is stored; safe across threads and
    across processes sharing the file (WAL mode, busy timeout)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()
        self.db = sqlite3.connect(self.path, check_same_thread=False, timeout=30.0, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=30000")
        self.db.execute("CREATE TABLE IF NOT EXISTS replies (key TEXT PRIMARY KEY, text TEXT NOT NULL, "
                        "meta TEXT NOT NULL, created REAL NOT NULL)")

    def get(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT text FROM replies WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    def put(self, key: str, text: str, meta: dict[str, object] | None = None) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO replies (key, text, meta, created) VALUES (?, ?, ?, ?)",
                            (key, text, json.dumps(meta or {}, ensure_ascii=False), time.time()))

    def __len__(self) -> int:
        with self.lock:
            return int(self.db.execute("SELECT COUNT(*) FROM replies").fetchone()[0])

    def close(self) -> None:
        with self.lock:
            self.db.close()
