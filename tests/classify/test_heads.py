"""Classifier heads: save/load round trip, checksum, calibration and thresholds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cx_text.classify.heads import Head, best_thresholds, fit_temperature, load_head, save_head
from tests.error_codes import raises_code


def _head(kind: str = "softmax", hidden: bool = False) -> Head:
    rng = np.random.default_rng(0)
    layers = [(rng.normal(size=(3, 8)).astype(np.float32), rng.normal(size=3).astype(np.float32))]
    if hidden:
        layers = [
            (rng.normal(size=(5, 8)).astype(np.float32), np.zeros(5, np.float32)),
            (rng.normal(size=(3, 5)).astype(np.float32), np.zeros(3, np.float32)),
        ]
    return Head(
        "h", kind, ("a", "b", "c"), tuple(layers), temperature=1.5, thresholds=(0.4, 0.5, 0.6)
    )  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "hidden"),
    [("softmax", False), ("softmax", True), ("sigmoid", False), ("sigmoid", True)],
)
def test_heads_round_trip_keeps_predictions(tmp_path: Path, kind: str, hidden: bool) -> None:
    head = _head(kind, hidden)
    save_head(head, tmp_path)
    loaded = load_head(tmp_path, "h")
    x = np.random.default_rng(1).normal(size=(4, 8)).astype(np.float32)
    np.testing.assert_allclose(loaded.predict_proba(x), head.predict_proba(x), rtol=1e-6)
    assert loaded.thresholds == head.thresholds and loaded.checksum() == head.checksum()


def test_heads_softmax_rows_sum_to_one() -> None:
    p = _head().predict_proba(np.ones((2, 8), np.float32))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


def test_heads_tampered_weights_fail_checksum(tmp_path: Path) -> None:
    save_head(_head(), tmp_path)
    meta = (tmp_path / "h.json").read_text()
    (tmp_path / "h.json").write_text(meta.replace('"temperature": 1.5', '"temperature": 2.5'))
    with raises_code("CX-E050", "checksum"):
        load_head(tmp_path, "h")


def test_heads_sigmoid_saturates_without_overflow_warnings() -> None:
    """A two-layer topics head can give logits of hundreds: probabilities are exactly 0 or 1
    and no RuntimeWarning leaks (pytest -W error would turn it into a failure)."""
    head = _head("sigmoid", hidden=True)
    x = np.full((1, 8), 1e3, np.float32) * np.sign(head.layers[0][0].sum(axis=0))
    with np.errstate(over="raise"):
        p = head.predict_proba(np.vstack([x, -x]))
    assert np.isfinite(p).all() and ((p == 0.0) | (p == 1.0)).any()


def test_heads_wrong_width_says_retrain() -> None:
    with raises_code("CX-E050", "retrain"):
        _head().predict_proba(np.ones((1, 7), np.float32))


def test_heads_missing_head_names_files(tmp_path: Path) -> None:
    with raises_code("CX-E050", "sentiment.json"):
        load_head(tmp_path, "sentiment")


def test_heads_temperature_recovers_overconfidence() -> None:
    rng = np.random.default_rng(3)
    z = rng.normal(size=(3000, 3)) * 1.5
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])  # labels drawn from calibrated probabilities
    t = fit_temperature(z * 4.0, y, "softmax")  # the same logits, 4x overconfident
    assert 3.0 < t < 5.5


def test_heads_best_thresholds_find_separating_cut() -> None:
    proba = np.array([[0.9], [0.7], [0.35], [0.3], [0.1]])
    y = np.array([[1], [1], [1], [0], [0]])
    (t,) = best_thresholds(proba, y)
    assert 0.3 < t <= 0.35


def test_heads_threshold_is_the_middle_of_the_near_best_run() -> None:
    from cx_text.classify.heads import _tied_run

    # a plateau within one point of the best, right of it; a far peak of the same height is
    # another run and is not joined to it
    scores = np.array([0.50, 0.800, 0.805, 0.810, 0.804, 0.70, 0.809, 0.60])
    assert _tied_run(scores, 0.01) == (1, 4)
    assert _tied_run(scores, 1e-9) == (3, 3)
    # equally best cuts: the middle one anchors the run
    assert _tied_run(np.array([0.9, 0.9, 0.9, 0.5]), 0.0) == (0, 2)


def test_heads_thresholds_do_not_jump_with_noise() -> None:
    """Two dev curves that differ by noise (the best cut moves by one step) give one cut;
    exact ties alone would follow the noise."""
    from cx_text.classify.heads import cut_index

    a = np.array([0.50, 0.800, 0.805, 0.810, 0.804, 0.60])
    b = np.array([0.50, 0.803, 0.812, 0.806, 0.804, 0.60])
    assert cut_index(a, 0.01) == cut_index(b, 0.01) == 3
    assert (cut_index(a, 1e-9), cut_index(b, 1e-9)) == (3, 2)


def test_heads_of_another_encoder_are_named_not_silently_used():
    from types import SimpleNamespace

    from cx_text.classify.tagger import heads_encoder_mismatch
    from cx_text.models.registry import ModelInfo

    meta = {"encoder": {"name": "e5-small-cx", "checksum": "sha256:aaaa"}}
    heads = {"sentiment": SimpleNamespace(meta=meta), "topics": SimpleNamespace(meta=meta)}
    ours = ModelInfo(
        name="e5-small-cx", kind="encoder", source="x", version="1", checksum="sha256:aaaa"
    )
    other = ModelInfo(
        name="e5-small", kind="encoder", source="x", version="1", checksum="sha256:bbbb"
    )
    assert heads_encoder_mismatch(heads, ours) is None
    message = heads_encoder_mismatch(heads, other)
    assert message is not None and "e5-small-cx" in message and "cx-text train --out" in message
    assert (
        heads_encoder_mismatch({"s": SimpleNamespace(meta={})}, other) is None
    )  # unknown: no claim
