"""Labels files: blank = not labelled, 'none' = no topic, the labelled column, the queue file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.core.errors import LabelError
from cx_text.store.label_files import export_labels, import_labels, write_queue
from cx_text.store.labels import corrections, label_history
from cx_text.store.store import open_store
from tests.store.test_labels import TEXTS, TOPIC_IDS, tag_run


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        ({"sentiment": "positive"}, {"sentiment": "positive"}),
        ({"topics": "none"}, {"topics": []}),
        ({"topics": "", "labelled": "topics"}, {"topics": []}),
        (
            {"topics": "staff;delivery", "aspect_sentiments": "staff:positive"},
            {"topics": ["delivery", "staff"], "polarity": {"staff": "positive"}},
        ),
        ({"aspect_sentiments": "pricing:negative"}, {"polarity": {"pricing": "negative"}}),
        ({"sentiment": "", "topics": ""}, {}),
    ],
)
def test_label_files_cells_become_labels(
    tmp_path: Path, cells: dict[str, str], expected: dict[str, object]
) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    file = tmp_path / "in.csv"
    pd.DataFrame([{"id": "1", "text": TEXTS["1"], **cells}]).to_csv(
        file, index=False
    )  # one source: no column needed
    with open_store(db) as store:
        report = import_labels(store, file, who="a", topic_ids=TOPIC_IDS)
        found = corrections(store).get(("export_a", "1"), {"polarity": {}})
    assert report.empty_rows == ([] if expected else [2])
    for key, value in expected.items():
        assert found[key] == value
    assert set(found) - {"polarity", "who", "labelled_at"} == set(expected) - {"polarity"}


def test_label_files_polarity_of_a_topic_outside_the_list_is_an_error(tmp_path: Path) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    file = tmp_path / "in.csv"
    pd.DataFrame(
        [
            {
                "source": "export_a",
                "id": "2",
                "topics": "staff",
                "aspect_sentiments": "pricing:negative",
            }
        ]
    ).to_csv(file, index=False)
    with (
        open_store(db) as store,
        pytest.raises(LabelError, match="row 2: aspect_sentiments names 'pricing'"),
    ):
        import_labels(store, file, who="a", topic_ids=TOPIC_IDS)


def test_label_files_export_marks_labelled_fields_and_the_queue_leaves_labels_blank(
    tmp_path: Path,
) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    file = tmp_path / "in.csv"
    pd.DataFrame([{"source": "export_a", "id": "2", "topics": "none"}]).to_csv(file, index=False)
    with open_store(db) as store:
        import_labels(store, file, who="a", topic_ids=TOPIC_IDS)
        export_labels(store, tmp_path / "out.csv", TOPIC_IDS)
        write_queue(store, tmp_path / "queue.csv", n=10)
        assert label_history(store)["origin"].tolist() == ["import"]
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert out[["id", "topics", "labelled", "sentiment"]].values.tolist() == [
        [2, "none", "topics", ""]
    ]
    queue = pd.read_csv(tmp_path / "queue.csv", keep_default_na=False, dtype=str)
    assert sorted(queue["id"]) == ["1", "3"] and (queue["sentiment"] == "").all()
    assert set(queue["model_topics"]) == {"delivery"} and set(queue["model_aspect_sentiments"]) == {
        "delivery:negative"
    }
