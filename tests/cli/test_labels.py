"""`cx-text labels export | import | queue`: round trips through XLSX/CSV/JSONL, checked imports."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from cx_text.cli.main import main
from cx_text.store.labels import Label, add_labels, corrections, label_history
from cx_text.store.store import open_store
from cx_text.training.corpus import load_corpus, read_labeled_table
from tests.store.test_labels import TEXTS, tag_run


def run(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def labelled_store(tmp_path: Path) -> Path:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    with open_store(db) as store:
        add_labels(
            store,
            [
                Label("export_a", "1", "sentiment", "neutral"),
                Label("export_a", "1", "topics", []),
                Label("export_a", "2", "topics", ["staff", "delivery"]),
                Label("export_a", "2", "polarity", "positive", "staff"),
            ],
            who="anna",
        )
    return db


@pytest.mark.parametrize("suffix", ["xlsx", "csv", "jsonl"])
def test_labels_export_import_round_trip(tmp_path: Path, suffix: str) -> None:
    db = labelled_store(tmp_path)
    out = tmp_path / f"labels.{suffix}"
    assert run(["labels", "export", "--db", str(db), "-o", str(out)]) == 0
    rows = {r["text"]: r for r in read_labeled_table(out)}
    assert rows[TEXTS["2"]]["topics"] == ["delivery", "staff"] and rows[TEXTS["2"]]["aspects"] == {
        "staff": "positive"
    }
    assert rows[TEXTS["1"]]["sentiment"] == "neutral"
    if (
        suffix == "csv"
    ):  # load_corpus reads CSV through read_labeled_table; its JSONL wants full aspects
        assert len(load_corpus([out])) == 2
    other = tmp_path / "other.duckdb"
    tag_run(other, TEXTS)
    assert run(["labels", "import", str(out), "--db", str(other), "--who", "boris"]) == 0
    with open_store(other) as store:
        found = corrections(store)
        assert set(label_history(store)["who"]) == {"boris"}
    assert (
        found[("export_a", "1")]["sentiment"] == "neutral"
        and found[("export_a", "1")]["topics"] == []
    )
    assert found[("export_a", "2")]["topics"] == ["delivery", "staff"]
    assert found[("export_a", "2")]["polarity"] == {"staff": "positive"}


def test_labels_import_names_every_bad_row_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    bad = tmp_path / "bad.csv"
    pd.DataFrame(
        {
            "source": ["export_a"] * 3,
            "id": ["1", "2", "3"],
            "text": list(TEXTS.values()),
            "sentiment": ["angry", "negative", ""],
            "topics": ["", "delivery;loyalty", "staff"],
            "aspect_sentiments": ["", "", "pricing:negative"],
        }
    ).to_csv(bad, index=False)
    assert run(["labels", "import", str(bad), "--db", str(db), "--who", "a"]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("Error CX-E090") and "row 2:" in err and "row 3:" in err and "row 4:" in err
    )
    assert "loyalty" in err and "angry" in err
    with open_store(db) as store:
        assert label_history(store).empty


def test_labels_import_reports_rows_without_a_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cx.duckdb"
    tag_run(db, TEXTS)
    file = tmp_path / "some.csv"
    pd.DataFrame(
        {
            "source": ["export_a", "export_a", "export_z", "export_a"],
            "id": ["1", "404", "1", "3"],
            "text": [TEXTS["1"], "x", "y", "a different text"],
            "sentiment": ["positive", "neutral", "neutral", "neutral"],
        }
    ).to_csv(file, index=False)
    assert run(["labels", "import", str(file), "--db", str(db), "--who", "a"]) == 1
    out = capsys.readouterr().out
    assert "1 labels stored for 1 messages" in out and "3 rows NOT imported" in out
    assert (
        "row 3 (export_a/404)" in out
        and "row 4 (export_z/1)" in out
        and "row 5 (export_a/3): the stored text" in out
    )


def test_labels_queue_writes_a_file_to_label_and_reports_progress(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = labelled_store(tmp_path)
    out = tmp_path / "to_label.xlsx"
    assert run(["labels", "queue", "--db", str(db), "-n", "5", "-o", str(out)]) == 0
    frame = pd.read_excel(out, dtype={"sentiment": object, "id": str})
    assert frame["id"].astype(str).tolist() == ["3"]  # 1 and 2 are labelled already
    assert frame["model_sentiment"].tolist() == ["negative"] and frame["sentiment"].isna().all()
    assert "2 labelled, 1 left" in capsys.readouterr().out
    frame.loc[0, "sentiment"] = "neutral"
    frame.to_excel(out, index=False)
    assert run(["labels", "import", str(out), "--db", str(db), "--who", "a"]) == 0
    with open_store(db) as store:
        assert corrections(store)[("export_a", "3")]["sentiment"] == "neutral"


def test_labels_queue_of_one_channel(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = labelled_store(tmp_path)
    out = tmp_path / "to_label.csv"
    argv = ["labels", "queue", "--db", str(db), "-n", "5", "-o", str(out)]
    assert run([*argv, "--channel", "app_review"]) == 0
    assert pd.read_csv(out, dtype=str)["id"].tolist() == ["3"]
    assert "1 messages of channel 'app_review'" in capsys.readouterr().out
    assert run([*argv, "--channel", "tweet"]) == 2
    err = capsys.readouterr().err
    assert "CX-E090" in err and "no message of channel 'tweet'" in err and "'app_review'" in err
