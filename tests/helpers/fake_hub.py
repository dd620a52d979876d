"""A Hugging Face Hub dataset repository served on loopback (stdlib ``http.server`` in a thread), answering the
endpoints ``huggingface_hub`` 2.4 calls to fetch one, so tests run the real client against it:

- ``GET  /api/datasets/{repo}/revision/{rev}``  repo info (``HfApi.dataset_info``): ``sha`` is the commit;
- ``GET  /api/datasets/{repo}/tree/{rev}[/{path}]?recursive=…``  the listing (``HfApi.list_repo_tree``, used by
  ``snapshot_download`` and ``HfApi.verify_repo_checksums``), paginated with a ``Link: <…>; rel="next"`` header;
- ``HEAD /datasets/{repo}/resolve/{rev}/{path}``  file metadata (``get_hf_file_metadata``): ``ETag``,
  ``X-Repo-Commit``, ``Content-Length``, and ``X-Linked-Etag`` / ``X-Linked-Size`` for LFS files;
- ``GET  /datasets/{repo}/resolve/{rev}/{path}``  the bytes (``http_get``), honouring ``Range``.

Errors carry ``X-Error-Code`` as the Hub's do (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``), which is
how ``huggingface_hub.utils.hf_raise_for_status`` tells them apart. Every request is recorded in `requests`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".jpg", ".jpeg", ".png", ".parquet")


def git_blob_id(data: bytes) -> str:
    """The git object id of a blob: what the Hub gives as ``oid`` (and ``ETag``) of a regular file."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class Repo:
    """One dataset repository at one commit: path → bytes. Files ending in :data:`LFS_SUFFIXES` are LFS files."""

    repo_id: str
    files: dict[str, bytes]
    commit: str = "0123456789abcdef0123456789abcdef01234567"
    branches: tuple[str, ...] = ("main",)
    token: str | None = None
    """When set, every request must carry ``Authorization: Bearer <token>`` (a private or gated repository)."""
    gated: bool = False
    """When set, file downloads without that token answer 401 ``GatedRepo`` (repo info and listing stay public, as on
    the Hub)."""
    corrupt: set[str] = field(default_factory=set)
    """Paths served with one byte changed (same size: only a checksum tells)."""

    def is_lfs(self, path: str) -> bool:
        return path.lower().endswith(LFS_SUFFIXES)

    def entry(self, path: str) -> dict[str, object]:
        data = self.files[path]
        entry: dict[str, object] = {"type": "file", "path": path, "size": len(data), "oid": git_blob_id(data)}
        if self.is_lfs(path):
            entry["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
        return entry

    def etag(self, path: str) -> str:
        data = self.files[path]
        return hashlib.sha256(data).hexdigest() if self.is_lfs(path) else git_blob_id(data)

    def served(self, path: str) -> bytes:
        data = self.files[path]
        if path in self.corrupt:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        return data


class FakeHub:
    """Serves `repos` at ``url`` until :meth:`stop`. `page_size` is the listing's page length; `cut_at_get`, when
    set, makes the n-th file download (1-based) send half its bytes and then kills the server, as a dropped
    connection would."""

    def __init__(self, *repos: Repo, page_size: int = 4, cut_at_get: int | None = None, port: int = 0) -> None:
        self.repos = {r.repo_id: r for r in repos}
        self.page_size, self.cut_at_get = page_size, cut_at_get
        self.requests: list[tuple[str, str]] = []
        self.dead = False
        self._gets = 0
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        hub = self

        class Handler(_Handler):
            server_hub = hub

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()

    def record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    def count_get(self) -> int:
        with self._lock:
            self._gets += 1
            return self._gets

    def connected(self, sock: socket.socket) -> None:
        with self._lock:
            self._conns.append(sock)

    def _drop_connections(self) -> None:
        self.dead = True
        with self._lock:
            for sock in self._conns:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def kill(self) -> None:
        """Stop answering at once: open connections are dropped and new ones refused."""
        self._drop_connections()
        threading.Thread(target=self.stop, daemon=True).start()

    def stop(self) -> None:
        self._drop_connections()
        self.server.shutdown()
        self.server.server_close()

    def paths(self, method: str | None = None) -> list[str]:
        with self._lock:
            return [p for m, p in self.requests if method is None or m == method]


@contextmanager
def serve(*repos: Repo, **kwargs: object) -> Iterator[FakeHub]:
    hub = FakeHub(*repos, **kwargs)  # type: ignore[arg-type]
    try:
        yield hub
    finally:
        if not hub.dead:
            hub.stop()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_hub: FakeHub

    def setup(self) -> None:
        super().setup()
        self.server_hub.connected(self.connection)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_GET(self) -> None:
        self._dispatch("GET")

    def _dispatch(self, method: str) -> None:
        hub = self.server_hub
        if hub.dead:
            self.close_connection = True
            return
        url = urlsplit(self.path)
        path = unquote(url.path)
        hub.record(method, path)
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "datasets"] and len(parts) >= 6 and parts[4] in ("revision", "tree"):
            repo = self._repo("/".join(parts[2:4]))
            if repo is None or not self._revision(repo, parts[5]):
                return
            if parts[4] == "revision":
                self._json({"id": repo.repo_id, "sha": repo.commit, "private": repo.token is not None,
                            "siblings": [{"rfilename": p} for p in sorted(repo.files)]})
            else:
                self._tree(repo, "/".join(parts[6:]), parse_qs(url.query))
            return
        if parts[:1] == ["datasets"] and len(parts) >= 6 and parts[3] == "resolve":
            repo = self._repo("/".join(parts[1:3]), download=True)
            if repo is None or not self._revision(repo, parts[4]):
                return
            self._file(repo, "/".join(parts[5:]), method)
            return
        self._error(404, "NotFound", f"no route {path}")

    def _repo(self, repo_id: str, *, download: bool = False) -> Repo | None:
        repo = self.server_hub.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound", f"Repository {repo_id} not found")
            return None
        authorized = self.headers.get("Authorization") == f"Bearer {repo.token}"
        if repo.gated and download and not authorized:
            self._error(401, "GatedRepo", f"Access to dataset {repo_id} is restricted. You must have access to it "
                                          "and be authenticated to access it. Please log in.")
            return None
        if repo.token is not None and not repo.gated and not authorized:
            self._error(401, "RepoNotFound", "Invalid username or password.")
            return None
        return repo

    def _revision(self, repo: Repo, revision: str) -> bool:
        if revision == repo.commit or revision in repo.branches:
            return True
        self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return False

    def _tree(self, repo: Repo, under: str, query: dict[str, list[str]]) -> None:
        recursive = query.get("recursive", ["False"])[0].lower() == "true"
        prefix = under.rstrip("/") + "/" if under else ""
        entries: list[dict[str, object]] = []
        folders: set[str] = set()
        for path in sorted(repo.files):
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if "/" in rest:
                folder = prefix + rest.split("/")[0]
                if folder not in folders:
                    folders.add(folder)
                    entries.append({"type": "directory", "path": folder, "oid": git_blob_id(folder.encode())})
                if not recursive:
                    continue
            entries.append(repo.entry(path))
        start = int(query.get("cursor", ["0"])[0])
        page = entries[start:start + self.server_hub.page_size]
        headers = {}
        if start + self.server_hub.page_size < len(entries):
            host = self.headers.get("Host", f"127.0.0.1:{self.server_hub.port}")
            nxt = (f"http://{host}{quote(urlsplit(self.path).path)}?recursive={recursive}&expand=False"
                   f"&cursor={start + self.server_hub.page_size}")
            headers["Link"] = f'<{nxt}>; rel="next"'
        self._json(page, headers)

    def _file(self, repo: Repo, path: str, method: str) -> None:
        if path not in repo.files:
            self._error(404, "EntryNotFound", f"{path} does not exist", {"X-Repo-Commit": repo.commit})
            return
        data = repo.served(path)
        etag = repo.etag(path)
        headers = {"ETag": f'"{etag}"', "X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes",
                   "Content-Type": "application/octet-stream"}
        if repo.is_lfs(path):
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(len(data))})
        status, body = 200, data
        ranged = self.headers.get("Range")
        if method == "GET" and ranged and ranged.startswith("bytes="):
            first = int(ranged[6:].split("-")[0] or 0)
            status, body = 206, data[first:]
            headers["Content-Range"] = f"bytes {first}-{len(data) - 1}/{len(data)}"
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method == "HEAD":
            return
        hub = self.server_hub
        if hub.cut_at_get is not None and hub.count_get() == hub.cut_at_get:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            hub.kill()  # this connection too: the client sees a body cut short
            return
        self.wfile.write(body)

    def _json(self, value: object, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        for key, val in (headers or {}).items():
            self.send_header(key, val)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Error-Code", code)
        self.send_header("X-Error-Message", message)
        for key, val in (headers or {}).items():
            self.send_header(key, val)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
