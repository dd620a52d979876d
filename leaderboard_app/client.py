"""Submitting from a script or CI: one request to the app's ``POST /api/submissions`` route
(:mod:`leaderboard_app.api`) with ``httpx`` (installed with Gradio)."""

from __future__ import annotations

import functools
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SubmissionRefused(Exception):
    """The leaderboard refused the upload: `reason` says why, `problems` lists details (line numbers, fields),
    `status` is the HTTP status (413 over the size limit, 422 refused by the rules or the checks)."""

    def __init__(self, reason: str, problems: Sequence[str] = (), more: int = 0, status: int = 422) -> None:
        self.reason = reason
        self.problems = list(problems)
        self.more = more
        self.status = status
        super().__init__("\n  ".join([reason, *self.problems, *([f"… and {more} more"] if more else [])]))


@dataclass(frozen=True)
class Submitted:
    """An accepted upload: `decision` is ``publish``, ``hold`` (for review) or ``duplicate`` (this file was
    already stored: `row` is that row); `scores` are what the leaderboard discloses for it."""

    decision: str
    row: int
    model: str
    variant: str
    reason: str = ""
    scores: dict[str, Any] = field(default_factory=dict)


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default (verifying) TLS context, built once: loading the CA bundle costs ~80 ms of CPU, which a
    new ``httpx.Client`` would otherwise pay on every call."""
    import httpx

    return httpx.create_ssl_context()


def post_submission(base_url: str, path: str | Path, *, model: str, link: str, paper: str = "",
                    variant: str = "standard", name: str = "", headers: Mapping[str, str] | None = None,
                    timeout: float = 120.0, run_json: str | Path | None = None, params_b: float | None = None,
                    weights: str = "", licence: str = "", released: str = "") -> Submitted:
    """Submit `path` for `model` to the leaderboard at `base_url` (`name`: the submitter, on an app without
    sign-in; unverified). `run_json`: the run.json that ``scale-vqa eval`` wrote (the row then shows its
    provenance); `params_b` (billions), `weights` (``open``/``closed``), `licence`, `released` (``YYYY-MM``): the
    model's details, all optional. Raises :class:`SubmissionRefused` when it is refused, RuntimeError on a server
    error."""
    import httpx

    path = Path(path)
    fields = {"model": model, "link": link, "paper": paper, "variant": variant, "name": name,
              "params_b": "" if params_b is None else str(params_b), "weights": weights, "licence": licence,
              "released": released}
    files: dict[str, Any] = {"file": (path.name, path.read_bytes())}
    if run_json is not None:
        files["run"] = (Path(run_json).name, Path(run_json).read_bytes())
    with httpx.Client(base_url=base_url, headers=dict(headers or {}), timeout=timeout, verify=_tls()) as http:
        reply = http.post("api/submissions", data=fields, files=files)
    try:
        body = reply.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise RuntimeError(f"{base_url}: HTTP {reply.status_code} without a JSON answer")
    if "refused" in body and 400 <= reply.status_code < 500:
        raise SubmissionRefused(str(body["refused"]), body.get("problems") or [], int(body.get("more") or 0),
                                reply.status_code)
    if reply.status_code not in (200, 201):
        raise RuntimeError(f"{base_url}: HTTP {reply.status_code}: {body.get('error', body)}")
    return Submitted(body["decision"], int(body["row"]), body["model"], body["variant"], body.get("reason") or "",
                     body.get("scores") or {})
