"""The Hub settings a fetch runs under (read at call time) and the one translation of Hub failures into errors that
name the cause and the fix."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from scale_vqa.errors import BadInputError

REPO_TYPE = "dataset"
DEFAULT_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "ON", "YES", "TRUE"}


class FetchError(BadInputError):
    """The release cannot be fetched: no network, no access, no such repository or revision, missing images or a
    checksum mismatch (exit 1). The message says what to do."""


@dataclass(frozen=True)
class HubSettings:
    """Endpoint, token, offline flag and cache folders, from the environment as it is now (``HF_ENDPOINT``,
    ``HF_TOKEN`` or the stored login, ``HF_HUB_OFFLINE``, ``HF_HOME``, ``HF_HUB_CACHE``)."""

    endpoint: str
    token: str | None
    offline: bool
    home: Path
    hub_cache: Path

    @classmethod
    def from_env(cls) -> HubSettings:
        from huggingface_hub import constants, get_token

        env = os.environ
        home = Path(env["HF_HOME"]).expanduser() if env.get("HF_HOME") else Path(constants.HF_HOME)
        if env.get("HF_HUB_CACHE"):
            hub_cache = Path(env["HF_HUB_CACHE"]).expanduser()
        else:
            hub_cache = home / "hub" if env.get("HF_HOME") else Path(constants.HF_HUB_CACHE)
        offline = (env.get("HF_HUB_OFFLINE") or env.get("TRANSFORMERS_OFFLINE") or "").strip().upper() in _TRUE
        return cls(endpoint=(env.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/"), token=get_token(),
                   offline=offline, home=home, hub_cache=hub_cache)

    def repo_url(self, repo_id: str) -> str:
        return f"{self.endpoint}/datasets/{repo_id}"


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    return getattr(response, "status_code", None)


def _unreachable(hub: HubSettings, detail: str) -> FetchError:
    return FetchError(f"cannot reach the Hugging Face Hub at {hub.endpoint} ({detail}): check your network (and "
                      "HF_ENDPOINT); rerun the same command to resume (finished files are kept)")


def explain(exc: BaseException, repo_id: str, revision: str, hub: HubSettings) -> FetchError | None:
    """The :class:`FetchError` for a failure of the Hub client, or None when `exc` is not one it knows."""
    import httpx2
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    url = hub.repo_url(repo_id)
    login = "log in with `hf auth login` or set HF_TOKEN"
    status = _status(exc)
    if isinstance(exc, RevisionNotFoundError):
        return FetchError(f"revision {revision!r} does not exist in {repo_id}: pass --revision with a branch, tag "
                          f"or commit of the repository (see {url}/tree/main)")
    if isinstance(exc, GatedRepoError):
        if not hub.token:
            return FetchError(f"{repo_id} is gated and no Hugging Face token is set: accept its conditions at "
                              f"{url}, then {login}")
        return FetchError(f"{repo_id} is gated and your token has no access to it ({status}): accept its "
                          f"conditions at {url} with the account of that token")
    if isinstance(exc, RepositoryNotFoundError):
        if status == 401 and not hub.token:
            return FetchError(f"the Hub refused {repo_id} without a token (401): it is private or gated; {login} "
                              f"with an account that can read {url}")
        if status == 401:
            return FetchError(f"the Hub refused your token for {repo_id} (401): check HF_TOKEN (or "
                              f"`hf auth login` again) and that the account can read {url}")
        return FetchError(f"dataset repository {repo_id} not found at {hub.endpoint} ({status}): check --repo-id "
                          f"(the official release is iMVR-PL/Scale-VQA) and HF_ENDPOINT")
    if isinstance(exc, OfflineModeIsEnabled | LocalEntryNotFoundError):
        if hub.offline:
            return FetchError(f"HF_HUB_OFFLINE is set and {repo_id}@{revision} is not (completely) on this disk: "
                              "unset HF_HUB_OFFLINE to download it")
        cause = exc.__cause__ or exc.__context__ or exc
        return _unreachable(hub, f"{type(cause).__name__}: {str(cause).strip().splitlines()[0] if str(cause) else ''}")
    if isinstance(exc, httpx2.TransportError):
        return _unreachable(hub, f"{type(exc).__name__}: {exc}")
    if isinstance(exc, HfHubHTTPError):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FetchError(f"the Hub answered {status} for {repo_id}@{revision}: {first}; try again later, or check "
                          "HF_ENDPOINT")
    if isinstance(exc, OSError) and "Consistency check failed" in str(exc):
        return FetchError(f"a download from {hub.endpoint} was cut short ({str(exc).splitlines()[0]}): rerun the "
                          "same command to resume (finished files are kept)")
    return None


@contextmanager
def hub_errors(repo_id: str, revision: str, hub: HubSettings) -> Iterator[None]:
    """Inside the block, failures of the Hub client become :class:`FetchError` with the cause and the fix."""
    try:
        yield
    except FetchError:
        raise
    except Exception as exc:  # the client raises many types (HTTP, transport, cache); explain() sorts them
        error = explain(exc, repo_id, revision, hub)
        if error is None:
            raise
        raise error from exc
