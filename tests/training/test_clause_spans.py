"""Clause spans of the encoder fine-tune: which clauses each labeled topic owns (by cues), and
the token positions the polarity loss pools over."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from cx_text.core.config import Settings
from cx_text.core.taxonomy import load_taxonomy
from cx_text.training.clause_spans import clause_owners, with_clause_spans
from cx_text.training.multitask import span_tokens


@dataclass(frozen=True)
class _Hit:
    label: str
    clause_index: int


@pytest.mark.parametrize(
    ("topics", "n", "hits", "owners"),
    [
        # a sub-topic cue outranks another topic's plain cue in the same clause
        (
            ["staff", "delivery"],
            2,
            [("delivery", 0), ("staff/polite", 0), ("delivery/late", 1)],
            {"staff": [0], "delivery": [1]},
        ),
        # the one topic without a cue takes the clauses nobody claimed
        (["quality", "staff"], 3, [("staff/rude", 2)], {"staff": [2], "quality": [0, 1]}),
        # two topics without a cue: neither gets a span (the message vector teaches them)
        (["quality", "pricing", "staff"], 3, [("staff", 0)], {"staff": [0]}),
        # a topic owning every clause reads the message, as the tagger does
        (["delivery"], 2, [("delivery", 0), ("delivery", 1)], {}),
        # one clause: nothing to pool; signals and unlabeled topics are not owners
        (["delivery"], 1, [("delivery", 0)], {}),
        (["delivery"], 2, [("@churn", 0), ("pricing", 0), ("delivery", 1)], {"delivery": [1]}),
    ],
)
def test_clause_owners_by_cues(topics, n, hits, owners) -> None:
    assert clause_owners(topics, n, [_Hit(lab, i) for lab, i in hits]) == owners


@pytest.fixture(scope="module")
def nlp():
    from cx_text.text.nlp import NlpResources

    return NlpResources.load()


def test_with_clause_spans_on_real_language_layer(nlp) -> None:
    from cx_text.training.run import clean_texts

    texts = clean_texts(
        [
            "Курьер вежливый, но опоздал на два часа",
            "Доставили быстро, но упаковка порвана и товар с браком",
            "Цены выросли в два раза",
        ],
        nlp,
    )
    rows = pd.DataFrame(
        {
            "text": texts,
            "aspects": [
                {"staff": "positive", "delivery": "negative"},
                {"delivery": "positive", "quality": "negative"},
                {"pricing": "negative"},
            ],
        }
    )
    taxonomy = load_taxonomy(Settings().taxonomy_path)
    spans = with_clause_spans(rows, nlp, taxonomy)["clause_spans"].tolist()
    read = [
        {t: [text[a:b] for a, b in s] for t, s in row.items()}
        for text, row in zip(texts, spans, strict=True)
    ]
    assert read[0] == {"staff": ["Курьер вежливый,"], "delivery": ["опоздал на два часа"]}
    assert read[1]["delivery"] == ["Доставили быстро,"]
    assert read[1]["quality"] == ["упаковка порвана и товар с браком"]
    assert read[2] == {}


def test_span_tokens_shift_by_prefix_skip_specials_and_truncation() -> None:
    # "query: " (7 chars) + "ab, cd" — tokens: [CLS], query, :, ab, ",", cd, [SEP]
    offsets = [[(0, 0), (0, 5), (5, 6), (7, 9), (9, 10), (11, 13), (0, 0)]]
    spans = [{"staff": [(0, 3)], "delivery": [(4, 6)], "pricing": [(40, 50)]}]
    pairs = span_tokens(offsets, spans, ["delivery", "staff", "pricing"], shift=7)
    got = {j: toks.tolist() for j, toks in pairs[0]}
    assert got == {1: [3, 4], 0: [5]}  # pricing's span was truncated away: no pair


def test_with_span_polarity_reads_clause_tokens_only_where_paired() -> None:
    torch = pytest.importorskip("torch")
    from cx_text.training.multitask import joint_heads, with_span_polarity

    torch.manual_seed(0)
    heads = joint_heads(8, 3)
    hidden = torch.randn(2, 5, 8, requires_grad=True)
    pooled = torch.randn(2, 8)
    outputs = heads(pooled)
    toks = np.array([1, 2])
    _, _, asp = with_span_polarity(heads, hidden, outputs, [(1, 2, toks)], 20.0)
    vec = torch.nn.functional.normalize(hidden[1, 1:3].mean(0), dim=-1) * 20.0
    expected = heads.aspects(vec).view(3, 3)[2]
    assert torch.allclose(asp[1, 2], expected)
    unchanged = torch.ones(2, 3, dtype=torch.bool)
    unchanged[1, 2] = False
    assert torch.allclose(asp[unchanged], outputs[2][unchanged])
    asp[1, 2].sum().backward()
    assert hidden.grad is not None and hidden.grad[1, 1:3].abs().sum() > 0
    assert hidden.grad[0].abs().sum() == 0 and hidden.grad[1, [0, 3, 4]].abs().sum() == 0
