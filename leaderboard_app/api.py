"""``POST /api/submissions``: the leaderboard's plain HTTP route for programs, beside the Gradio page.

Multipart in (the file as ``file``, optionally the run's ``run.json`` as ``run``, plus the text fields ``model``,
``link``, ``paper``, ``variant``, ``name`` and the optional model details ``params_b``, ``weights``, ``licence``,
``released``), JSON out. The work is :func:`leaderboard_app.service.submit`, as for the page: the same limits, the
same rules, the same one log line per submission. Answers:

* 201 ``{"decision": "publish"|"hold", "row": 7, "model": …, "variant": …, "reason": …, "scores": {…}}`` for a
  new row, 200 with ``"decision": "duplicate"`` for a file already stored (retries are safe);
* 4xx ``{"refused": reason, "problems": [...], "more": n}`` for a refusal (413: the upload is over the limit,
  refused as soon as the bytes read pass it; 400: not a form with one file; 403: a cross-site request; 422: the
  service refused it);
* 500 ``{"error": "internal error"}``: never a stack trace (it is logged on the server).

Identity follows the page: the server's auth dependency when it has one, the Hugging Face login (session) on a
Space, otherwise the typed ``name`` (unverified). Scoring runs in worker threads bounded by `workers`; the HTTP
server keeps reading and answering other requests meanwhile.
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from scale_vqa.item import Item

from .provenance import MAX_RUN_BYTES
from .rules import Policy
from .service import Outcome, log_submission, submit
from .store import Store
from .submission import MAX_BYTES, SubmissionError

API_PATH = "/api/submissions"
FIELDS = ("model", "link", "paper", "variant", "name")
INFO_FIELDS = ("params_b", "weights", "licence", "released")
"""Optional model details (:class:`leaderboard_app.provenance.ModelInfo`)."""
FILES = ("file", "run")
FORM_SLACK = 64 * 1024
"""Bytes allowed beside the file in one request: the text fields and the multipart headers."""
FIELD_MAX = 4096
"""Characters in one text field (names and links are far shorter; the service states the real limits)."""
LOG = logging.getLogger("leaderboard_app")


class _TooLarge(Exception):
    """The request body passed the limit while it was being read."""


def _bounded(receive: Callable[[], Awaitable[dict[str, Any]]], limit: int) -> Callable[[], Awaitable[dict]]:
    """An ASGI `receive` that raises :class:`_TooLarge` as soon as more than `limit` body bytes have arrived."""
    seen = 0

    async def bounded() -> dict[str, Any]:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise _TooLarge
        return message

    return bounded


class _Inflight:
    """One lock per identical request (same identity, fields and file) while any is running. A burst of retries
    of one upload is then scored once: the others wait and get the stored row from the service's fast path
    (``duplicate``), instead of each scoring the whole file again before the first one is stored."""

    def __init__(self) -> None:
        self._locks: dict[tuple[str, ...], tuple[Any, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: tuple[str, ...]) -> AsyncIterator[None]:
        import anyio

        lock, users = self._locks.get(key, (None, 0))
        lock = lock or anyio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def _refused(status: int, reason: str, problems: Sequence[str] = (), more: int = 0, *, log: bool = False) -> Any:
    """The 4xx JSON answer; `log`: write the submission's one log line (refused before the service saw it)."""
    from starlette.responses import JSONResponse

    if log:
        log_submission("", "", "", "rejected", None, reason)

    return JSONResponse({"refused": reason, "problems": list(problems), "more": more}, status_code=status)


def disclosed(outcome: Outcome) -> dict[str, Any]:
    """What the reply tells the submitter: the decision, the row and only what the Ladder disclosed for it
    (:mod:`leaderboard_app.ladder`: rounded under a private key, exact and self-reported under a public one) —
    never the stored exact scores, which would let a program probe the hidden key."""
    d, row = outcome.decision, outcome.row
    assert row is not None  # submit() raises for a refusal; every other decision has its row
    return {"decision": d.action, "row": row.id, "model": row.model, "variant": row.variant, "reason": d.reason,
            "scores": outcome.shown or {}}


def _same_origin(headers: Any) -> bool:
    """False for a browser request from another site (its cookies must not submit in the user's name)."""
    origin = headers.get("origin")
    if origin is None:
        return True  # programs send no Origin
    host = headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host


async def _identity(request: Any, typed: str, on_space: bool) -> tuple[str, str]:
    """Who submits, and how they are known: the auth dependency's user or the Space login (``oauth``), or (off a
    Space) the typed name (``typed``: shown as unverified, and new typed names are rate-limited server-wide)."""
    auth = getattr(request.app, "auth_dependency", None)
    user = None
    if auth is not None:
        user = auth(request)
        if inspect.isawaitable(user):
            user = await user
    elif on_space and "session" in request.scope:
        info = request.session.get("oauth_info") or {}
        user = (info.get("userinfo") or {}).get("preferred_username")
    if user:
        return user, "oauth"
    return ("" if on_space else typed), "typed"


def submissions_route(store: Store, key: Sequence[Item], *, policy: Policy, max_bytes: int = MAX_BYTES,
                      protected: Sequence[str] | None = None, on_space: bool = False, workers: int = 2) -> Any:
    """The Starlette route for ``POST /api/submissions`` (mount it on the page's FastAPI app: see
    :func:`leaderboard_app.app.serve`). `workers`: submissions scored at once (scoring is CPU-bound Python, so
    more threads only share the same core; a few keep one slow upload from blocking the rest)."""
    import anyio
    from starlette.datastructures import UploadFile
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    limiter = anyio.CapacityLimiter(workers)
    inflight = _Inflight()
    limit = max_bytes + FORM_SLACK
    too_large = f"the upload is larger than the {max_bytes / 2**20:.1f} MB limit"

    async def endpoint(request: Request) -> Any:
        if not _same_origin(request.headers):
            return _refused(403, "cross-site submissions are not accepted", log=True)
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return _refused(413, too_large, log=True)  # before reading a byte of it
        bounded = Request(request.scope, _bounded(request.receive, limit))
        try:
            form = await bounded.form(max_files=len(FILES), max_fields=len(FIELDS) + len(INFO_FIELDS))
        except _TooLarge:
            return _refused(413, too_large, log=True)
        except Exception:  # not multipart, malformed, too many parts: Starlette's message is not for clients
            return _refused(400, f"send a multipart form: the file as 'file', and the fields {', '.join(FIELDS)}",
                            log=True)
        try:
            upload, run_upload = form.get("file"), form.get("run")
            fields = {f: form.get(f, "") for f in (*FIELDS, *INFO_FIELDS)}
            if not isinstance(upload, UploadFile):
                return _refused(400, "no file: send the predictions as the multipart field 'file'", log=True)
            if run_upload is not None and not isinstance(run_upload, UploadFile):
                return _refused(400, "'run' must be a file: the run.json of the scale-vqa eval run", log=True)
            if any(not isinstance(v, str) or len(v) > FIELD_MAX for v in fields.values()):
                return _refused(400, f"the fields {', '.join((*FIELDS, *INFO_FIELDS))} are text of at most "
                                     f"{FIELD_MAX} characters", log=True)
            data = await upload.read(max_bytes + 1)
            run = await run_upload.read(MAX_RUN_BYTES + 1) if run_upload is not None else None
        finally:
            await form.close()  # the spooled copy of the upload goes now
        who, identity = await _identity(request, str(fields["name"]), on_space)

        same = (who, *map(str, fields.values()), hashlib.sha256(data).hexdigest(),
                hashlib.sha256(run or b"").hexdigest())

        def work() -> Outcome:
            return submit(store, key, data, submitter=who, model=str(fields["model"]), link=str(fields["link"]),
                          paper=str(fields["paper"]), variant=str(fields["variant"] or "standard"), policy=policy,
                          max_bytes=max_bytes, protected=protected, identity=identity, run=run,
                          info={f: fields[f] for f in INFO_FIELDS})

        try:
            async with inflight.hold(same):  # an identical request already running: wait, then its stored row
                outcome = await anyio.to_thread.run_sync(work, limiter=limiter)
        except SubmissionError as exc:
            return _refused(413 if len(data) > max_bytes else 422, exc.summary, exc.problems, exc.more)
        except Exception:
            LOG.exception("submission failed: %s", API_PATH)
            return JSONResponse({"error": "internal error"}, status_code=500)
        body = disclosed(outcome)
        return JSONResponse(body, status_code=200 if body["decision"] == "duplicate" else 201)

    return Route(API_PATH, endpoint, methods=["POST"], name="api_submissions")
