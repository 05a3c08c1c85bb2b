"""Evaluation metrics against hand computations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cx_text.training.evaluate import (
    aspect_scores,
    calibration,
    evaluate_frames,
    multilabel_scores,
    per_label_scores,
    render_report,
)


def test_evaluate_per_label_matches_hand_computation() -> None:
    gold = ["negative", "negative", "neutral", "positive", "positive"]
    pred = ["negative", "neutral", "neutral", "positive", "negative"]
    s = per_label_scores(gold, pred, ("negative", "neutral", "positive"))
    assert s["labels"]["negative"]["precision"] == pytest.approx(1 / 2)
    assert s["labels"]["negative"]["recall"] == pytest.approx(1 / 2)
    assert s["labels"]["neutral"]["f1"] == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert s["labels"]["positive"]["f1"] == pytest.approx(2 / 3)
    assert s["accuracy"] == pytest.approx(3 / 5)
    assert s["confusion"]["matrix"] == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_evaluate_multilabel_micro_f1() -> None:
    gold = [["delivery", "staff"], ["pricing"], []]
    pred = [["delivery"], ["pricing", "quality"], ["other"]]
    s = multilabel_scores(gold, pred, ("delivery", "staff", "pricing", "quality", "other"))
    # tp=2 (delivery, pricing), fp=2 (quality, other), fn=1 (staff)
    assert s["micro"]["precision"] == pytest.approx(0.5)
    assert s["micro"]["recall"] == pytest.approx(2 / 3)
    assert s["exact_match"] == pytest.approx(0.0)


def test_evaluate_aspects_pairs_and_polarity_accuracy() -> None:
    gold = [{"staff": "positive", "delivery": "negative"}]
    pred = [{"staff": "positive", "delivery": "positive"}]
    s = aspect_scores(gold, pred)
    assert s["polarity_accuracy_on_found_topics"] == pytest.approx(0.5)
    assert s["micro"]["precision"] == pytest.approx(0.5)


def test_evaluate_calibration_perfect_is_zero() -> None:
    proba = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    assert calibration(proba, np.array([0, 1]))["ece"] == pytest.approx(0.0)


def test_evaluate_frames_contract_columns_and_render() -> None:
    gold = pd.DataFrame(
        {
            "text": ["Курьер вежливый, но опоздал", "ok"],
            "lang": ["ru", "en"],
            "sentiment": ["negative", "neutral"],
            "topics": ["delivery;staff", ""],
            "aspect_sentiments": ["staff:positive;delivery:negative", ""],
        }
    )
    tagged = gold.assign(
        sentiment=["negative", "positive"],
        topics=[["delivery"], []],
        aspect_sentiments=[[{"topic": "delivery", "polarity": "negative"}], []],
    )
    rep = evaluate_frames(gold, tagged, ("delivery", "staff"))
    assert rep["topics"]["micro"]["recall"] == pytest.approx(0.5)
    assert rep["aspects"]["polarity_accuracy_on_found_topics"] == pytest.approx(1.0)
    text = render_report(rep)
    assert "SENTIMENT" in text and "TOPICS" in text and "macro-F1 [ru]" in text
