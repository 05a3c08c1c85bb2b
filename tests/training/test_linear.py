"""The models heads are made of: folded into layers a Head reads, with the same decisions."""

from __future__ import annotations

import numpy as np

from cx_text.classify.heads import Head
from cx_text.training.linear import _fit_one_mlp, fit_logreg, fit_mlp, stack_binary


def _data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(3, 8)) * 2
    y = np.repeat(np.arange(3), 60)
    return (centers[y] + rng.normal(size=(len(y), 8))).astype(np.float32), y


def test_bagged_mlp_is_the_logit_average_of_its_members() -> None:
    x, y = _data()
    bag = fit_mlp(x, y, seed=3, n_classes=3, bag=3)
    assert bag["model"] == "mlp(256)x3"
    (w1, _), (w2, _) = bag["layers"]
    assert w1.shape == (3 * 256, 8) and w2.shape == (3, 3 * 256)
    members = [_fit_one_mlp(x, y, 3 + k, 3) for k in range(3)]
    logits = [np.maximum(x @ m[0].T + m[1], 0) @ m[2].T + m[3] for m in members]
    head = Head("sentiment", "softmax", ("negative", "neutral", "positive"), bag["layers"])
    np.testing.assert_allclose(head.logits(x), np.mean(logits, axis=0), rtol=1e-4, atol=1e-4)
    # the members differ (their seeds do), so the average is not one of them
    assert not np.allclose(logits[0], logits[1], atol=1e-3)


def test_one_member_bag_is_the_plain_mlp() -> None:
    x, y = _data(1)
    one = fit_mlp(x, y, seed=5, n_classes=3, bag=1)
    w1, b1, w2, b2 = _fit_one_mlp(x, y, 5, 3)
    for (w, b), (w_ref, b_ref) in zip(one["layers"], [(w1, b1), (w2, b2)], strict=True):
        np.testing.assert_array_equal(w, w_ref.astype(np.float32))
        np.testing.assert_array_equal(b, b_ref.astype(np.float32))
    assert one["model"] == "mlp(256)"


def test_mlp_keeps_a_class_absent_from_training_as_an_output() -> None:
    x, y = _data(2)
    keep = y != 1
    fitted = fit_mlp(x[keep], y[keep], seed=0, n_classes=3, bag=2)
    head = Head("sentiment", "softmax", ("negative", "neutral", "positive"), fitted["layers"])
    proba = head.predict_proba(x)
    assert proba.shape == (len(x), 3)
    assert proba[:, 1].max() < 1e-6  # never predicted: it was never seen


def _binary(seed: int) -> tuple[np.ndarray, np.ndarray]:
    x, y = _data(seed)
    return x, (y == 0).astype(int)


def test_stacked_binary_heads_give_each_label_its_own_models_logit() -> None:
    """A topics head of mixed models: label 0 logistic, labels 1 and 2 bagged MLPs of another
    width. Each sigmoid logit is exactly its own model's class-1 minus class-0 score."""
    x = _data(4)[0]
    fits = [
        fit_logreg(*_binary(4), 0.25, 0, 2),
        fit_mlp(*_binary(5), seed=1, n_classes=2, bag=2, hidden=16),
        fit_mlp(*_binary(6), seed=2, n_classes=2, bag=1, hidden=8),
    ]
    layers = stack_binary([f["layers"] for f in fits])
    (w1, _), (w2, _) = layers
    assert w1.shape == (2 + 2 * 16 + 8, 8) and w2.shape == (3, 2 + 2 * 16 + 8)
    head = Head("topics", "sigmoid", ("a", "b", "c"), layers)
    for j, f in enumerate(fits):
        two = Head("t", "softmax", ("0", "1"), f["layers"]).logits(x)
        np.testing.assert_allclose(head.logits(x)[:, j], two[:, 1] - two[:, 0], atol=1e-4)
    assert fits[1]["model"] == "mlp(16)x2" and fits[2]["model"] == "mlp(8)"


def test_stacked_linear_heads_stay_one_layer() -> None:
    x = _data(7)[0]
    fits = [fit_logreg(*_binary(k), 1.0, 0, 2) for k in (7, 8)]
    layers = stack_binary([f["layers"] for f in fits])
    assert len(layers) == 1 and layers[0][0].shape == (2, 8)
    two = Head("t", "softmax", ("0", "1"), fits[1]["layers"]).logits(x)
    head = Head("topics", "sigmoid", ("a", "b"), layers)
    np.testing.assert_allclose(head.logits(x)[:, 1], two[:, 1] - two[:, 0], atol=1e-5)
