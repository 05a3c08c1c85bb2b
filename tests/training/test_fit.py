"""The heads' decisions chosen for what the tagger does with them."""

from __future__ import annotations

import numpy as np

from cx_text.classify.heads import Head
from cx_text.core import schema
from cx_text.training.fit import with_other_threshold


def test_other_threshold_is_chosen_where_the_tagger_reads_other() -> None:
    def logit(p: float) -> float:
        return float(np.log(p / (1 - p)))

    eye = np.eye(5, dtype=np.float32)
    topics = Head(
        "topics",
        "sigmoid",
        ("delivery", "other"),
        ((eye[:2], np.zeros(2, np.float32)),),
        1.0,
        (0.5, 0.75),
    )
    sentiment = Head(
        "sentiment", "softmax", schema.SENTIMENTS, ((eye[2:], np.zeros(3, np.float32)),)
    )
    # columns: delivery logit, other logit, sentiment logits (negative, neutral, positive)
    rows = [
        ([logit(0.1), logit(0.60), 0, 0, 3], 1),  # an opinion on nothing else: other
        ([logit(0.1), logit(0.55), 3, 0, 0], 1),  # other
        ([logit(0.9), logit(0.50), 3, 0, 0], 0),  # delivery assigned: other is never read
        ([logit(0.1), logit(0.58), 0, 4, 0], 0),  # surely neutral: other is never read
        ([logit(0.1), logit(0.30), 0, 0, 3], 0),
    ]
    x = np.array([r for r, _ in rows], dtype=np.float32)
    y = np.array([[0, g] for _, g in rows])
    tuned = with_other_threshold(topics, sentiment, x, y)
    # 0.55 and 0.50 both catch rows 1-2 with no false `other` among the rows the tagger reads;
    # a tie keeps the higher. Over every row, 0.55 would count row 4 as a false `other`.
    assert tuned.thresholds == (0.5, 0.55)
    assert tuned.layers is topics.layers and tuned.temperature == topics.temperature
    no_other = Head("topics", "sigmoid", ("delivery", "staff"), topics.layers, 1.0, (0.5, 0.75))
    assert with_other_threshold(no_other, sentiment, x, y) is no_other
