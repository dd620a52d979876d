"""Submitting from a script or CI: one upload through the app's HTTP API (upload, queue, result stream), with
``httpx`` (installed with Gradio). Returns the app's message, as the page would show it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path


def post_submission(base_url: str, path: str | Path, *, model: str, link: str, paper: str = "",
                    variant: str = "standard", name: str = "", headers: Mapping[str, str] | None = None,
                    timeout: float = 120.0) -> str:
    """Submit `path` for `model` to the leaderboard at `base_url`; raises RuntimeError on a server error."""
    import httpx

    path = Path(path)
    with httpx.Client(base_url=base_url, headers=dict(headers or {}), timeout=timeout) as http:
        with path.open("rb") as fh:
            uploaded = http.post("gradio_api/upload", files={"files": (path.name, fh)}).raise_for_status().json()
        file_data = {"path": uploaded[0], "orig_name": path.name, "meta": {"_type": "gradio.FileData"}}
        body = {"data": [model, link, paper, variant, name, file_data]}
        event = http.post("gradio_api/call/submit", json=body).raise_for_status().json()["event_id"]
        with http.stream("GET", f"gradio_api/call/submit/{event}") as stream:
            kind = ""
            for line in stream.iter_lines():
                if line.startswith("event:"):
                    kind = line.split(":", 1)[1].strip()
                elif line.startswith("data:") and kind in ("complete", "error"):
                    data = json.loads(line.split(":", 1)[1])
                    if kind == "error":
                        raise RuntimeError(f"{base_url}: server error: {data}")
                    return str(data[0])
    raise RuntimeError(f"{base_url}: the result stream ended without a result")
