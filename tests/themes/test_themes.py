"""Recurring complaint themes: clustering, c-TF-IDF labels, stable ids, edits that survive re-runs.

The embedder is a tiny deterministic one: words are mapped to shared RU/EN concepts by stem
(``позвон``/``call`` -> "call"), each concept and each unknown word gets a fixed random vector,
so clauses of the same meaning land together across languages, as the multilingual encoder does.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cx_text.cli.main import main
from cx_text.store.store import Store, open_store
from cx_text.themes.label import ctfidf, simple_lemmatize, terms
from cx_text.themes.service import (
    ThemeParams,
    accept_theme,
    coverage,
    discover_themes,
    embed_clauses,
    list_themes,
    merge_themes,
    rename_theme,
    split_theme,
    theme_quotes,
)
from tests.error_codes import cli_error, raises_code

CONCEPTS = {
    "call": ("позвон", "звон", "дозвон", "call", "phon"),
    "courier": ("курьер", "courier", "driver"),
    "damaged": ("помят", "повред", "разбит", "damag", "crush", "broke", "dent"),
    "box": ("коробк", "посылк", "упаковк", "box", "parcel", "packag"),
    "pickup": ("пункт", "пвз", "выдач", "pickup", "point"),
    "closed": ("закрыт", "closed", "shut"),
    "refund": ("возврат", "деньг", "денег", "верн", "refund", "money"),
    "never": ("не", "never", "didn", "not", "no"),
}
_STEMS = sorted(((s, c) for c, stems in CONCEPTS.items() for s in stems), key=lambda p: -len(p[0]))
DIM = 64


def _vec(key: str, weight: float) -> np.ndarray:
    return np.random.RandomState(zlib.crc32(key.encode())).normal(size=DIM) * weight


def fake_embed(texts: Sequence[str]) -> np.ndarray:
    """Bag of concept vectors (weight 1) and unknown-word vectors (weight 0.35), unit length."""
    out = np.zeros((len(texts), DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            concept = next((c for s, c in _STEMS if word.startswith(s)), None)
            out[i] += _vec(concept, 1.0) if concept else _vec(word, 0.35)
        out[i] /= np.linalg.norm(out[i]) or 1.0
    return out


FILLERS = {
    "ru": ["", "опять", "вчера", "сегодня", "снова"],
    "en": ["", "again", "yesterday", "today", "once more"],
}
GROUPS = {
    "no_call": {
        "ru": [
            "Курьер не позвонил",
            "Курьер так и не позвонил мне",
            "Курьер не позвонил перед доставкой",
        ],
        "en": [
            "The courier did not call",
            "Courier never called me",
            "The courier did not call before delivery",
        ],
    },
    "damaged": {
        "ru": [
            "Коробка пришла помятая",
            "Посылка помятая и разбита",
            "Коробка помятая, товар повреждён",
        ],
        "en": ["The box arrived damaged", "Parcel damaged and crushed", "Box damaged, item broken"],
    },
    "pickup_closed": {
        "ru": ["Пункт выдачи закрыт", "ПВЗ закрыт в рабочее время", "Пункт выдачи был закрыт днём"],
        "en": [
            "The pickup point was closed",
            "Pickup point closed during opening hours",
            "Pickup point shut in the afternoon",
        ],
    },
}
REFUND = {
    "ru": [
        "Деньги за возврат не вернули",
        "Возврат денег так и не пришёл",
        "Деньги за возврат не вернули до сих пор",
    ],
    "en": [
        "Refund money never came back",
        "My refund money was never returned",
        "Still no refund money",
    ],
}


def _clauses(
    groups: dict[str, dict[str, list[str]]], prefix: str, fillers: slice = slice(0, 5)
) -> list[tuple[str, str, str, str]]:
    """(id, clause, lang, group) rows: every template × filler, RU and EN."""
    rows = []
    for name, by_lang in groups.items():
        for lang, templates in by_lang.items():
            for t, template in enumerate(templates):
                for f, filler in enumerate(FILLERS[lang][fillers]):
                    text = f"{template} {filler}".strip() + "."
                    rows.append((f"{prefix}-{name}-{lang}-{t}-{f}", text, lang, name))
    return rows


def _tagged(
    rows: list[tuple[str, str, str, str]], topic: str = "delivery", polarity: str = "negative"
) -> pd.DataFrame:
    n = len(rows)
    return pd.DataFrame(
        {
            "id": [r[0] for r in rows],
            "text": [r[1] for r in rows],
            "text_clean": [r[1] for r in rows],
            "created_at": pd.to_datetime(["2026-03-05"] * n),
            "nps": [2.0] * n,
            "lang": [r[2] for r in rows],
            "sentiment": [polarity] * n,
            "row_status": ["ok"] * n,
            "topics": [[topic]] * n,
            "aspect_sentiments": [[{"topic": topic, "polarity": polarity, "score": -0.8}]] * n,
            "evidence": [
                [
                    {
                        "topic": topic,
                        "clause": r[1],
                        "start": 0,
                        "end": len(r[1]),
                        "terms": [],
                        "source": "rule",
                    }
                ]
                for r in rows
            ],
        }
    )


def _add_run(store: Store, frame: pd.DataFrame) -> None:
    run = store.begin_run({}, "x.csv", f"fp{len(store.runs())}", rows_in=len(frame))
    store.append_chunk(run, 0, frame)
    store.finish_run(run, {})


NOISE = [
    ("n-1", "Ужасный сервис в целом.", "ru", "noise"),
    ("n-2", "Terrible overall experience.", "en", "noise"),
    ("n-3", "Всё плохо, никогда больше.", "ru", "noise"),
]
BASE = _clauses(GROUPS, "a", slice(0, 4)) + NOISE


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path / "cx.duckdb") as st:
        _add_run(st, _tagged(BASE))
        yield st


def _members(store: Store) -> pd.DataFrame:
    return store.query("SELECT id, theme_id, similarity FROM theme_memberships ORDER BY id")


def _group_of(theme: str, store: Store, rows: list[tuple[str, str, str, str]]) -> str:
    groups = {r[0]: r[3] for r in rows}
    ids = _members(store).query("theme_id == @theme")["id"]
    return pd.Series([groups[i] for i in ids if i in groups]).mode().iloc[0]


def test_themes_separate_planted_groups_across_languages(store: Store) -> None:
    result = discover_themes(store, fake_embed)
    members = _members(store).assign(
        group=lambda f: f["id"].map({r[0]: r[3] for r in BASE}),
        lang=lambda f: f["id"].map({r[0]: r[2] for r in BASE}),
    )
    planted = members[members["group"] != "noise"]
    assert planted["theme_id"].notna().all()
    assert planted.groupby("group")["theme_id"].nunique().eq(1).all()  # one theme per group
    assert planted.groupby("theme_id")["group"].nunique().eq(1).all()  # no mixed themes
    assert planted.groupby("theme_id")["lang"].nunique().eq(2).all()  # RU and EN together
    assert len(result.new_theme_ids) == 3 and result.per_topic["themes"].iloc[0] == 3
    assert set(list_themes(store)["status"]) == {"active"}


@pytest.mark.parametrize(
    ("group", "ru_term", "en_term", "name"),
    [
        ("no_call", "не позвонил", "not call", "курьер не позвонил | courier did not call"),
        ("damaged", "помятая", "damaged", "коробка помятая | box damaged"),
        ("pickup_closed", "закрыт", "pickup", "пункт выдачи закрыт | pickup point was closed"),
    ],
)
def test_themes_labels_are_phrases_with_planted_terms(
    store: Store, group: str, ru_term: str, en_term: str, name: str
) -> None:
    discover_themes(store, fake_embed)
    listed = list_themes(store).set_index("theme_id")
    theme = next(t for t in listed.index if _group_of(t, store, BASE) == group)
    assert (
        listed.loc[theme, "label"] == name == listed.loc[theme, "auto_label"]
    )  # RU phrase | EN phrase
    assert (
        ru_term in listed.loc[theme, "top_terms"][:5]
    )  # c-TF-IDF terms stay, as the secondary line
    assert en_term in " ".join(listed.loc[theme, "top_terms"])
    assert " · " in listed.loc[theme, "terms"] and ru_term in listed.loc[theme, "terms"]
    quotes = listed.loc[theme, "quotes"]
    assert len(quotes) == 3 and len(set(quotes)) == 3


def test_themes_names_stable_and_rename_wins(store: Store) -> None:
    discover_themes(store, fake_embed)
    first = list_themes(store).set_index("theme_id")["label"]
    tid = first.index[0]
    rename_theme(store, tid, "Пункт выдачи закрыт днём")
    discover_themes(store, fake_embed, full=True)
    again = list_themes(store).set_index("theme_id")
    assert list(again.index) == list(first.index)  # same ids
    assert again.loc[tid, "label"] == "Пункт выдачи закрыт днём"  # the analyst's name wins
    assert again.loc[tid, "auto_label"] == first[tid]  # the discovered name is still kept
    assert (again["label"].drop(tid) == first.drop(tid)).all()  # names do not drift on a re-run


def test_themes_ids_stable_on_rerun(store: Store, tmp_path: Path) -> None:
    discover_themes(store, fake_embed)
    first = _members(store)
    again = discover_themes(store, fake_embed)
    full = discover_themes(store, fake_embed, full=True)
    assert again.new_theme_ids == () and full.new_theme_ids == ()
    pd.testing.assert_frame_equal(first[["id", "theme_id"]], _members(store)[["id", "theme_id"]])
    with open_store(tmp_path / "fresh.duckdb") as other:  # same data, new store: same ids
        _add_run(other, _tagged(BASE))
        discover_themes(other, fake_embed)
        pd.testing.assert_frame_equal(
            first[["id", "theme_id"]], _members(other)[["id", "theme_id"]]
        )


def test_themes_new_data_assigned_to_existing_themes(store: Store) -> None:
    discover_themes(store, fake_embed)
    before = set(list_themes(store)["theme_id"])
    later = _clauses(GROUPS, "b", slice(4, 5))  # unseen filler words
    _add_run(store, _tagged(later))
    result = discover_themes(store, fake_embed)
    assert result.new_theme_ids == ()
    assert result.per_topic["embedded"].iloc[0] == len(later) + len(
        NOISE
    )  # kept ones not re-embedded
    members = _members(store).set_index("id")
    for rid, _, _, group in later:
        assert members.loc[rid, "theme_id"] in before
        assert _group_of(members.loc[rid, "theme_id"], store, BASE) == group


def test_themes_new_group_becomes_proposed_theme(store: Store) -> None:
    discover_themes(store, fake_embed)
    refunds = _clauses({"refund": REFUND}, "c")
    _add_run(store, _tagged(refunds))
    result = discover_themes(store, fake_embed)
    assert len(result.new_theme_ids) == 1
    new = result.new_theme_ids[0]
    assert new == "delivery:t004"
    listed = list_themes(store).set_index("theme_id")
    assert listed.loc[new, "status"] == "proposed" and listed.loc[new, "volume"] == len(refunds)
    assert "refund" in " ".join(listed.loc[new, "top_terms"])
    accept_theme(store, new)
    discover_themes(store, fake_embed)
    assert list_themes(store).set_index("theme_id").loc[new, "status"] == "active"


def test_themes_rename_merge_split_survive_rerun(store: Store) -> None:
    discover_themes(store, fake_embed)
    listed = list_themes(store)
    by_group = {_group_of(t, store, BASE): t for t in listed["theme_id"]}
    rename_theme(store, by_group["no_call"], "Courier did not call")
    survivor = merge_themes(
        store, [by_group["damaged"], by_group["pickup_closed"]], into=by_group["damaged"]
    )
    children = split_theme(store, by_group["no_call"], fake_embed, parts=2)
    _add_run(store, _tagged(_clauses(GROUPS, "d", slice(4, 5))))
    for _ in range(2):
        result = discover_themes(store, fake_embed, full=True)
        assert result.new_theme_ids == ()
    themes = list_themes(store, statuses=("active", "proposed", "merged", "split")).set_index(
        "theme_id"
    )
    assert themes.loc[by_group["pickup_closed"], "status"] == "merged"
    assert themes.loc[by_group["no_call"], "status"] == "split"
    assert themes.loc[by_group["no_call"], "label"] == "Courier did not call"
    assert {themes.loc[c, "status"] for c in children} == {"active"}
    assert set(children).isdisjoint(by_group.values())
    members = _members(store)
    assert set(members["theme_id"].dropna()) == {survivor, *children}
    closed = members[members["id"].str.contains("pickup_closed")]
    assert (closed["theme_id"] == survivor).all()  # merged centroid still pulls, for the survivor
    quotes = theme_quotes(store, by_group["pickup_closed"], 4)  # redirect to the survivor
    assert set(quotes["theme_id"]) == {survivor} and len(quotes) == 4
    edits = store.query("SELECT action FROM theme_edits ORDER BY edit_id")["action"].tolist()
    assert edits == ["rename", "merge", "split"]


def test_themes_unassigned_share_reported(store: Store) -> None:
    result = discover_themes(store, fake_embed)
    assert result.unassigned == len(NOISE)
    assert result.unassigned_share == pytest.approx(len(NOISE) / len(BASE))
    cov = coverage(store).iloc[0]
    assert cov["unassigned"] == len(NOISE) and cov["clauses"] == len(BASE)
    assert "unassigned" in result.render()


def test_themes_empty_store_handled(tmp_path: Path) -> None:
    with open_store(tmp_path / "empty.duckdb") as st:
        result = discover_themes(st, fake_embed)
        assert result.clauses == 0 and result.unassigned_share == 0.0
        assert "tag an export first" in result.render()
        assert list_themes(st).empty and coverage(st).empty


def test_themes_positive_clauses_and_other_topics_ignored(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        _add_run(st, _tagged(BASE))
        happy = [(f"p{i}", f"Курьер позвонил заранее {i}", "ru", "pos") for i in range(8)]
        _add_run(st, _tagged(happy, polarity="positive"))
        result = discover_themes(st, fake_embed, topic="delivery")
        assert result.clauses == len(BASE)
        assert not _members(st)["id"].str.startswith("p").any()


def test_themes_greetings_and_sign_offs_are_not_theme_material(tmp_path: Path) -> None:
    with open_store(tmp_path / "cx.duckdb") as st:
        _add_run(st, _tagged(BASE))
        polite = [
            ("g1", "Здравствуйте!", "ru", "greet"),
            ("g2", "Добрый день.", "ru", "greet"),
            ("g3", "Thanks, team", "en", "greet"),
            ("g4", "Отправлено с iPhone", "ru", "greet"),
        ]
        _add_run(st, _tagged(polite))
        result = discover_themes(st, fake_embed, topic="delivery")
        assert result.clauses == len(BASE)
        assert not _members(st)["id"].str.startswith("g").any()


def test_themes_members_view_joins_for_metrics(store: Store) -> None:
    discover_themes(store, fake_embed)
    by_theme = store.query(
        "SELECT theme_id, count(*) AS n, avg(nps) AS nps FROM theme_members "
        "JOIN tagged USING (id) GROUP BY theme_id ORDER BY theme_id"
    )
    assert len(by_theme) == 3 and by_theme["n"].sum() == len(BASE) - len(NOISE)
    assert (by_theme["nps"] == 2.0).all()


def test_themes_edit_errors_say_what_to_do(store: Store) -> None:
    discover_themes(store, fake_embed)
    with raises_code("CX-E060", "cx-text themes list"):
        rename_theme(store, "delivery:t999", "x")
    with raises_code("CX-E060"):
        merge_themes(store, ["delivery:t001"])
    with raises_code("CX-E060"):
        split_theme(store, "delivery:t001", fake_embed, parts=20)
    with raises_code("CX-E050", "shape"):
        embed_clauses(lambda texts: np.zeros((1, 4)), ["a", "b"])


@pytest.mark.parametrize(
    ("text", "lang", "expected"),
    [
        ("Курьер не позвонил!", "ru", ["курьер", "не позвонил", "курьер не позвонил"]),
        ("The courier didn't call me", "en", ["courier", "not call", "courier not call"]),
        ("Пункт выдачи [PHONE] закрыт", "ru", ["пункт", "выдачи", "закрыт"]),
    ],
)
def test_themes_terms_glue_negation_and_drop_stop_words(
    text: str, lang: str, expected: list[str]
) -> None:
    got = terms(simple_lemmatize(text, lang))
    assert all(t in got for t in expected)
    assert not {"the", "me", "[phone]"} & set(got)


def test_themes_ctfidf_prefers_distinctive_terms() -> None:
    docs = {"a": [["курьер", "не позвонить"]] * 5, "b": [["курьер", "коробка"]] * 5}
    ranked = ctfidf(docs)
    assert ranked["a"][0][0] == "не позвонить" and ranked["b"][0][0] == "коробка"


def test_themes_params_bound_small_input() -> None:
    params = ThemeParams(min_theme_size=5)
    from cx_text.themes.cluster import find_clusters, normalise

    x = normalise(np.random.RandomState(0).normal(size=(4, 8)))
    assert find_clusters(x, params) == []


def test_themes_cli_list_rename_merge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = str(tmp_path / "cli.duckdb")
    with open_store(path) as st:
        _add_run(st, _tagged(BASE))
        discover_themes(st, fake_embed)
    main(["themes", "rename", "delivery:t001", "Посылка повреждена", "--db", path])
    main(
        [
            "themes",
            "merge",
            "delivery:t002",
            "delivery:t003",
            "--into",
            "delivery:t002",
            "--db",
            path,
        ]
    )
    main(["themes", "--db", path])
    main(["themes", "show", "delivery:t003", "--db", path, "-n", "2"])
    out = capsys.readouterr().out
    assert "Посылка повреждена" in out and "Merged into delivery:t002" in out
    assert "delivery:t003 was merged into delivery:t002" in out
    assert "курьер не позвонил | courier did not call" in out  # the name, then its key terms
    assert "курьер · не позвонил" in out and "key terms: " in out
    assert "Unassigned negative clauses: 4.0%" in out
    with pytest.raises(SystemExit) as exc:
        main(["themes", "show", "delivery:t404", "--db", path])
    assert exc.value.code == 2
    assert cli_error(capsys.readouterr().err, "CX-E060", "cx-text themes list")


@pytest.mark.parametrize(
    "command", ["list", "discover", "show", "rename", "merge", "split", "accept"]
)
def test_themes_cli_subcommands_have_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    main(["themes", command, "--help"])
    assert "Usage: cx-text themes " + command in capsys.readouterr().out


def test_themes_other_encoder_needs_reset(store: Store) -> None:
    discover_themes(store, fake_embed)
    wider = lambda texts: np.hstack([fake_embed(texts), fake_embed(texts)]) / np.sqrt(2)  # noqa: E731
    with raises_code("CX-E050", "--reset"):
        discover_themes(store, wider)
    result = discover_themes(store, wider, reset=True)
    assert result.new_theme_ids == ("delivery:t004", "delivery:t005", "delivery:t006")
    statuses = list_themes(store, statuses=("active", "retired")).set_index("theme_id")["status"]
    assert statuses[["delivery:t001", "delivery:t002", "delivery:t003"]].eq("retired").all()
    assert statuses[list(result.new_theme_ids)].eq("active").all()
    assert discover_themes(store, wider).new_theme_ids == ()
