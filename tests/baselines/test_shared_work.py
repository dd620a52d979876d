"""Work the panel saves must not change what it computes: gradient boosting without the columns that never
vary in training, and a TF-IDF fit that returns its own training matrix."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn")

from baselines.text_only.features import Tfidf
from baselines.text_only.learned import fit_pointwise


def test_gradient_boosting_ignores_columns_constant_in_training():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6))
    y = (x[:, 0] + 0.5 * x[:, 3] + rng.normal(scale=0.5, size=400) > 0).astype(float)
    padded = np.hstack([np.zeros((400, 2)), x[:, :3], np.full((400, 1), 7.0), x[:, 3:]])
    test = rng.normal(size=(50, 6))
    test_padded = np.hstack([rng.normal(size=(50, 2)), test[:, :3], rng.normal(size=(50, 1)), test[:, 3:]])
    plain = fit_pointwise("gbm", x, y, seed=0)
    dropped = fit_pointwise("gbm", padded, y, seed=0)
    # the constant training columns vary at test time: still never read
    np.testing.assert_array_equal(dropped.predict_proba(test_padded), plain.predict_proba(test))
    np.testing.assert_array_equal(dropped.decision_function(test_padded), plain.decision_function(test))
    flat = fit_pointwise("gbm", np.ones((40, 3)), np.arange(40) % 2, seed=0)  # nothing varies: still fits
    assert flat.predict_proba(rng.normal(size=(5, 3))).shape == (5, 2)


@pytest.mark.parametrize("params", [
    {"ngram_range": (1, 2), "stop_words": "english", "sublinear_tf": True},
    {"analyzer": "char_wb", "ngram_range": (3, 5), "sublinear_tf": True},
    {"min_df": 2, "max_features": 20, "sublinear_tf": True}])
def test_tfidf_fit_returns_exactly_what_transform_gives(params):
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["the nuclei are enlarged", "nuclei are small and round", "no necrosis", "necrosis is extensive",
             "the stroma is dense", "dense stroma with lymphocytes", "lymphocytes are scattered"] * 3
    vec = Tfidf(**params)
    fitted = vec.fit_transform(texts)
    again = vec.transform(texts)
    assert (fitted != again).nnz == 0 and fitted.has_sorted_indices
    reference = TfidfVectorizer(**params).fit(texts).transform(texts)  # what the panel computed before
    assert (fitted != reference).nnz == 0
    with pytest.raises(ValueError):
        Tfidf(stop_words="english").fit_transform(["the", "a and"])
