"""Many chat requests to one backend: replies already in the cache are reused, the rest are sent concurrently
(at most `rpm` per minute), transient failures are retried with exponential backoff (tenacity), and each reply is
cached as soon as it arrives, so an interrupted run resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential, wait_random

from .backend import ChatBackend, ChatError, Messages, TransientError
from .cache import ResponseCache
from .settings import Generation

MAX_BACKOFF = 60.0
"""Longest wait between two attempts, in seconds."""


class RateLimiter:
    """At most `rpm` request starts per minute across threads (0 = unlimited)."""

    def __init__(self, rpm: float) -> None:
        self.interval = 60.0 / rpm if rpm > 0 else 0.0
        self.next = 0.0
        self.lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next)
            self.next = start + self.interval
        time.sleep(max(0.0, start - now))


@dataclass
class RunStats:
    cached: int = 0
    requested: int = 0
    retries: int = 0
    failed: list[str] = field(default_factory=list)


class ChatRunner:
    """Sends many chat requests to one backend (see the module docstring). `retries` attempts follow the first
    one, waiting `backoff` seconds, then twice as long each time (at most a minute), plus up to a quarter of
    `backoff` of jitter. `stats` counts over every :meth:`run` of this runner."""

    def __init__(self, backend: ChatBackend, gen: Generation | None = None, cache: ResponseCache | None = None, *,
                 concurrency: int = 4, rpm: float = 0.0, retries: int = 5, backoff: float = 1.0,
                 progress: bool = True, name: str | None = None, unit: str = "request") -> None:
        self.backend, self.gen, self.cache = backend, gen or Generation(), cache
        self.concurrency, self.retries, self.backoff = max(1, concurrency), retries, backoff
        self.limiter = RateLimiter(rpm)
        self.progress, self.unit = progress, unit
        self.name = name or f"{backend.backend}:{backend.model}"
        self.stats = RunStats()

    def cache_key(self, messages: Messages, gen: Generation | None = None) -> str:
        """What identifies a reply: backend identity, messages and generation settings."""
        payload = {**self.backend.identity, "messages": messages, **(gen or self.gen).key_fields()}
        return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

    def _count_retry(self, _state: Any) -> None:
        self.stats.retries += 1

    def call(self, messages: Messages, gen: Generation | None = None) -> str:
        """One request, retried on transient failures; no cache."""
        gen = gen or self.gen
        retrying = Retrying(retry=retry_if_exception_type(TransientError), stop=stop_after_attempt(self.retries + 1),
                            wait=wait_exponential(multiplier=self.backoff, max=MAX_BACKOFF)
                            + wait_random(0, self.backoff / 4),
                            before_sleep=self._count_retry, reraise=True)
        try:
            for attempt in retrying:
                with attempt:
                    self.limiter.wait()
                    return self.backend.complete(messages, gen)
        except TransientError as exc:
            raise ChatError(f"{self.backend.where} unreachable or failing after {self.retries + 1} attempts: "
                            f"{exc}") from exc
        raise AssertionError("unreachable")

    def run(self, requests: Sequence[Messages], meta: Sequence[dict[str, Any]] | None = None, *,
            gens: Sequence[Generation] | None = None, progress: bool | None = None) -> list[str]:
        """The reply text to each request, in order. `meta[i]` is stored with request i's cached reply (e.g. an
        item id); `gens[i]` overrides the runner's generation settings for request i. The first failure that
        retries cannot fix stops the run (queued requests are dropped; replies received so far stay cached)."""
        if meta is not None and len(meta) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(meta)} meta entries")
        if gens is not None and len(gens) != len(requests):
            raise ValueError(f"{len(requests)} requests but {len(gens)} generation settings")
        texts: list[str | None] = [None] * len(requests)
        todo: list[tuple[int, str]] = []
        for i, msgs in enumerate(requests):
            key = self.cache_key(msgs, gens[i] if gens is not None else None)
            hit = self.cache.get(key) if self.cache is not None else None
            if hit is not None:
                texts[i] = hit
                self.stats.cached += 1
            else:
                todo.append((i, key))
        bar = None
        if (self.progress if progress is None else progress) and todo:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(todo), desc=self.name, unit=self.unit, leave=False)

        def send(i: int, key: str) -> None:
            text = self.call(requests[i], gens[i] if gens is not None else None)
            if self.cache is not None:
                self.cache.put(key, text, {**self.backend.identity, **(meta[i] if meta is not None else {})})
            texts[i] = text
            self.stats.requested += 1
            if bar is not None:
                bar.update()

        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        try:
            futures = [pool.submit(send, *job) for job in todo]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            for f in done:
                exc = f.exception()
                if exc is not None:
                    raise exc
        finally:  # on an error or Ctrl-C: drop queued requests; replies already received stay cached
            pool.shutdown(wait=True, cancel_futures=True)
            if bar is not None:
                bar.close()
        return [text or "" for text in texts]
