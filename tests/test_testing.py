"""cx_text.testing: the fake taggers keep the tagging contract of cx_text/core/schema.py."""

from __future__ import annotations

import pickle

import pandas as pd
import pyarrow as pa
import pytest

from cx_text.core import schema
from cx_text.io.output import arrow_schema
from cx_text.testing import KeywordTagger, fake_tagger, keyword_tagger

CHUNK = pd.DataFrame(
    {
        schema.ID: ["1", "2", "3", "4"],
        schema.TEXT: ["Курьер не позвонил, доставка ужас", "Great app", "", None],
    }
)


@pytest.mark.parametrize(
    "tagger", [keyword_tagger, KeywordTagger(every_type=True)], ids=["plain", "every-type"]
)
def test_testing_tagger_fills_every_tag_column_without_touching_input(
    tagger: KeywordTagger,
) -> None:
    before = CHUNK.copy()
    out = tagger(CHUNK)
    pd.testing.assert_frame_equal(CHUNK, before)
    assert out[schema.ID].tolist() == ["1", "2", "3", "4"]
    assert set(schema.EMPTY_TAGS) | {schema.LANG, schema.LANG_CONFIDENCE, schema.TEXT_CLEAN} <= set(
        out.columns
    )
    assert set(out[schema.SENTIMENT]) <= set(schema.SENTIMENTS)
    pa.Table.from_pandas(
        out, schema=arrow_schema(out), preserve_index=False
    )  # the declared nested types


def test_testing_every_type_fills_nested_values_like_the_real_tagger() -> None:
    row = KeywordTagger(every_type=True)(CHUNK).iloc[0]
    assert set(row[schema.SENTIMENT_PROBS]) == set(schema.SENTIMENTS)
    assert row[schema.TOPIC_SCORES] == {"delivery": 0.9} and row[schema.SUBTOPICS] == [
        "delivery/other"
    ]
    (evidence,) = row[schema.EVIDENCE]
    assert evidence["terms"] == ["Курьер", "доставка"]
    assert set(evidence) == {
        "topic",
        "clause",
        "terms",
        "start",
        "end",
        "spans",
        "source",
    }  # as io.output declares
    assert evidence["spans"] == [[0, 6], [20, 28]]


def test_testing_fail_on_marker_raises_and_pickles() -> None:
    tagger = pickle.loads(pickle.dumps(KeywordTagger(fail_on="💥")))
    with pytest.raises(RuntimeError):
        tagger(pd.DataFrame({schema.TEXT: ["ok", "boom 💥"]}))
    assert len(tagger(pd.DataFrame({schema.TEXT: ["ok"]}))) == 1


def test_testing_fake_tagger_tags_a_frame_end_to_end() -> None:
    out = fake_tagger(every_type=True).tag(
        pd.DataFrame({"comment": ["Курьер опоздал", "fine"]}), text_col="comment"
    )
    assert len(out) == 2 and out["topics"].map(list).tolist() == [["delivery"], ["other"]]
