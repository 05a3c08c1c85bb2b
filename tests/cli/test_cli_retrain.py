"""`cx-text train --labels`, `cx-text evaluate --labels --model-version`, `cx-text models list`
and `cx-text tag --model-version` through click's CliRunner (fake embedder and tagging, no
model)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from cx_text.cli.main import cli
from cx_text.core.config import Settings
from cx_text.io.output import write_frame
from tests.training.retrain_support import base_frame, fake_embed, loyalty_taxonomy, org_labels


def _fake_tag(settings: Settings, frame: pd.DataFrame) -> pd.DataFrame:
    """Knows the new topic only in a trained version (what retraining is for)."""
    knows = settings.model_version != "shipped"
    topics = [["loyalty"] if knows and "points" in t else [] for t in frame["text"]]
    return pd.DataFrame(
        {
            "sentiment": ["neutral"] * len(frame),
            "topics": topics,
            "aspect_sentiments": [[] for _ in range(len(frame))],
        }
    )


@pytest.fixture()
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    from cx_text.training import before_after, retrain

    monkeypatch.setattr(retrain, "pipeline_embedder", lambda s: (fake_embed, {"name": "fake"}))
    monkeypatch.setattr(retrain, "shipped_training_frame", lambda *a, **k: base_frame())
    monkeypatch.setattr(before_after, "pipeline_tag", _fake_tag)
    monkeypatch.setenv("CX_TEXT_CACHE", str(tmp_path / "cache"))
    return {"CX_TEXT_CACHE": str(tmp_path / "cache")}


def _labels_file(tmp_path: Path) -> Path:
    frame = org_labels()
    flat = pd.DataFrame(
        {
            "id": frame["id"],
            "text": frame["text"],
            "sentiment": frame["sentiment"],
            "topics": [list(t or []) for t in frame["topics"]],
            "aspect_sentiments": [
                [{"topic": k, "polarity": v} for k, v in a.items()] for a in frame["aspects"]
            ],
        }
    )
    return write_frame(flat, tmp_path / "labels.xlsx")


def test_cli_train_labels_makes_a_version_and_prints_before_after(
    tmp_path: Path, env: dict[str, str]
) -> None:
    labels, taxonomy = _labels_file(tmp_path), loyalty_taxonomy(tmp_path)
    res = CliRunner().invoke(
        cli,
        ["train", "--labels", str(labels), "--name", "acme-1", "--taxonomy", str(taxonomy)],
        env=env,
    )
    assert res.exit_code == 0, res.output
    assert "model version 'acme-1' written to" in res.output and "new topics: loyalty" in res.output
    assert "before (shipped) vs after (acme-1)" in res.output
    loyalty = next(
        line for line in res.output.splitlines() if line.split()[:2] == ["topic", "loyalty"]
    )
    assert loyalty.split()[-3:] == ["0.000", "1.000", "+1.000"]

    listed = CliRunner().invoke(cli, ["models", "list"], env=env)
    assert (
        "shipped" in listed.output
        and "acme-1" in listed.output
        and "model-version" in listed.output
    )

    again = CliRunner().invoke(
        cli,
        [
            "evaluate",
            "--labels",
            str(labels),
            "--model-version",
            "acme-1",
            "--json",
            str(tmp_path / "ba.json"),
        ],
        env=env,
    )
    assert again.exit_code == 0, again.output
    table = pd.read_json(tmp_path / "ba.json")
    assert {"kind", "label", "n", "before", "after", "change"} <= set(table.columns)


def test_cli_evaluate_labels_needs_a_version(tmp_path: Path, env: dict[str, str]) -> None:
    res = CliRunner().invoke(cli, ["evaluate", "--labels", str(_labels_file(tmp_path))], env=env)
    assert res.exit_code != 0 and "--model-version" in res.output


def test_cli_tag_with_unknown_model_version_is_a_clear_error(
    tmp_path: Path, env: dict[str, str]
) -> None:
    src = tmp_path / "in.csv"
    src.write_text("text\nКурьер опоздал\n", encoding="utf-8")
    from cx_text.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(
            ["tag", str(src), "-o", str(tmp_path / "out.csv"), "--no-db", "--model-version", "nope"]
        )
    assert exit_info.value.code == 2
