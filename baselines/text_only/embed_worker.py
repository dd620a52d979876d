"""Encode texts in a separate process: ``python -m baselines.text_only.embed_worker`` reads a JSON request on
stdin (``texts``, ``model_dir``, ``device``, ``batch_size``, ``threads``, ``dtype``: a
:data:`~baselines.text_only.embedding.DTYPES` setting) and writes to stdout one ``.npz`` holding the
unit-normalised float32 embeddings (``vectors``) and the dtype the encoder ran in (``dtype``).
:meth:`~baselines.text_only.embedding.Embedder.prefetch` runs it so the rest of the adversary panel can use the
other cores meanwhile."""

from __future__ import annotations

import io
import json
import sys


def main() -> int:
    request = json.load(sys.stdin)
    import numpy as np
    import torch

    from baselines.text_only.embedding import encode_with, load_model, resolve_dtype

    torch.set_num_threads(max(1, int(request.get("threads", 1))))
    device = request.get("device", "cpu")
    dtype = resolve_dtype(request.get("dtype", "auto"), device)
    model = load_model(request.get("model_dir"), device, dtype)
    vecs = encode_with(model, list(request["texts"]), int(request.get("batch_size", 64)))
    buf = io.BytesIO()
    np.savez(buf, vectors=vecs, dtype=np.array(dtype))
    sys.stdout.buffer.write(buf.getvalue())
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
