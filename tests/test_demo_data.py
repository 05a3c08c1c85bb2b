"""The seeded demo data set: deterministic, the right shape, and the planted story is in the data.

The committed ``data/demo/demo_export.csv`` and ``customers.csv`` are read as an analyst would (all
columns as text); ``generate()`` also returns the planted labels (``_aspects`` …) for exact checks.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pandas as pd
import pytest
import yaml

DEMO = Path(__file__).resolve().parent.parent / "data" / "demo"


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_generate", DEMO / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gen() -> ModuleType:
    return _load_generator()


@pytest.fixture(scope="module")
def story() -> dict[str, Any]:
    return yaml.safe_load((DEMO / "story.yaml").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    frame = pd.read_csv(DEMO / "demo_export.csv", dtype=str, keep_default_na=False)
    frame["day"] = pd.to_datetime(frame["created_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    return frame


@pytest.fixture(scope="module")
def customers() -> pd.DataFrame:
    return pd.read_csv(DEMO / "customers.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def truth(gen: ModuleType) -> pd.DataFrame:
    frame, _ = gen.generate(gen.DEFAULT_SEED)
    frame["day"] = pd.to_datetime(frame["created_at"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
    return frame


def _event(story: dict[str, Any], event_id: str) -> dict[str, Any]:
    return next(e for e in story["events"] if e["id"] == event_id)


def _cue_hits(frame: pd.DataFrame, cues: dict[str, list[str]]) -> pd.Series:
    pattern = "|".join(re.escape(c.lower()) for c in cues["ru"] + cues["en"])
    return frame["text"].str.lower().str.contains(pattern, regex=True)


def _daily_rate(frame: pd.DataFrame, mask: pd.Series, start: str, end: str) -> float:
    """Flagged messages per day in [start, end)."""
    inside = frame["day"].ge(start) & frame["day"].lt(end)
    return float((mask & inside).sum()) / (pd.Timestamp(end) - pd.Timestamp(start)).days


def _nps(scores: pd.Series) -> float:
    s = pd.to_numeric(scores, errors="coerce")
    s = s[s.between(0, 10)]
    return 100.0 * ((s >= 9).mean() - (s <= 6).mean())


# ------------------------------------------------------------------------------ determinism, shape
def test_demo_data_committed_files_equal_a_fresh_generation(
    gen: ModuleType, tmp_path: Path
) -> None:
    gen.write(tmp_path, seed=gen.DEFAULT_SEED)
    for name in ("demo_export.csv", "customers.csv"):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), (
            f"{name} is stale: run `python data/demo/generate.py --seed 7 --out data/demo`"
        )


def test_demo_data_another_seed_gives_other_data(gen: ModuleType, truth: pd.DataFrame) -> None:
    other, _ = gen.generate(8)
    assert len(other) == len(truth)
    assert (other["text"] != truth["text"]).mean() > 0.9


def test_demo_data_export_has_real_export_headers_and_row_count(
    export: pd.DataFrame, story: dict[str, Any]
) -> None:
    assert list(export.columns[:11]) == [
        "review_id",
        "created_at",
        "channel",
        "source",
        "text",
        "nps",
        "csat",
        "ces",
        "rating",
        "customer_id",
        "segment",
    ]
    assert len(export) == story["rows"] == 20_000
    assert (DEMO / "demo_export.csv").stat().st_size < 6_000_000


def test_demo_data_dates_cover_the_twelve_months(export: pd.DataFrame) -> None:
    days = export["day"].dropna()
    assert days.min().date() == date(2025, 11, 1)
    assert days.max().date() == date(2026, 10, 31)
    assert days.dt.to_period("M").nunique() == 12
    assert 1 <= export["day"].isna().sum() <= 10  # the deliberately bad dates


@pytest.mark.parametrize(
    ("channel", "low", "high"),
    [
        ("nps_comment", 0.22, 0.36),
        ("support_chat", 0.22, 0.34),
        ("app_review", 0.15, 0.25),
        ("marketplace_review", 0.10, 0.18),
        ("email", 0.07, 0.14),
    ],
)
def test_demo_data_channel_mix(export: pd.DataFrame, channel: str, low: float, high: float) -> None:
    assert low <= (export["channel"] == channel).mean() <= high


@pytest.mark.parametrize(
    ("channel", "present", "absent"),
    [
        ("nps_comment", "nps", "rating"),
        ("support_chat", "csat", "nps"),
        ("support_chat", "ces", "rating"),
        ("app_review", "rating", "nps"),
        ("marketplace_review", "rating", "csat"),
    ],
)
def test_demo_data_metrics_belong_to_their_channel(
    export: pd.DataFrame, channel: str, present: str, absent: str
) -> None:
    rows = export[export["channel"] == channel]
    assert (rows[present] != "").mean() > 0.5
    assert (rows[absent] == "").all()


def test_demo_data_language_mix_from_the_text(export: pd.DataFrame) -> None:
    cyrillic = export["text"].str.count("[а-яёА-ЯЁ]")
    share = cyrillic / (cyrillic + export["text"].str.count("[a-zA-Z]")).where(lambda n: n > 0)
    assert 0.60 <= (share > 0.85).mean() <= 0.70  # Russian (Latin brand names allowed)
    assert 0.27 <= (share < 0.15).mean() <= 0.36  # English + transliterated Russian
    assert 0.025 <= share.between(0.15, 0.85).mean() <= 0.08  # code-switching RU/EN


@pytest.mark.parametrize(
    ("lang", "low", "high"),
    [
        ("ru", 0.60, 0.70),
        ("en", 0.25, 0.32),
        ("mixed", 0.025, 0.06),
        ("translit", 0.015, 0.04),
    ],
)
def test_demo_data_planted_language_shares(
    truth: pd.DataFrame, lang: str, low: float, high: float
) -> None:
    assert low <= (truth["_lang"] == lang).mean() <= high


@pytest.mark.parametrize("word", ["dostav", "zakaz", "kurer", "spasibo"])
def test_demo_data_has_transliterated_russian(export: pd.DataFrame, word: str) -> None:
    assert export["text"].str.lower().str.contains(word).sum() >= 5


# ------------------------------------------------------------------------------ the planted story
@pytest.mark.parametrize(
    ("event_id", "field", "expected"),
    [
        ("delivery_spike", "start", date(2026, 3, 1)),
        ("delivery_spike", "recovery", date(2026, 4, 15)),
        ("price_rise", "start", date(2026, 6, 1)),
        ("checkout_redesign", "start", date(2026, 8, 10)),
        ("checkout_redesign", "recovery", date(2026, 9, 10)),
    ],
)
def test_demo_data_story_dates(
    story: dict[str, Any], event_id: str, field: str, expected: date
) -> None:
    assert _event(story, event_id)[field] == expected


def test_demo_data_delivery_complaints_spike_then_recover(
    export: pd.DataFrame, story: dict[str, Any]
) -> None:
    hits = _cue_hits(export, _event(story, "delivery_spike")["detect"]["complaint"])
    base = _daily_rate(export, hits, "2026-01-09", "2026-03-01")
    spike = _daily_rate(export, hits, "2026-03-01", "2026-04-15")
    after = _daily_rate(export, hits, "2026-04-21", "2026-06-01")
    assert spike >= 2.2 * base
    assert 0.7 * base <= after <= 1.35 * base


def test_demo_data_delivery_spike_is_three_fold_in_planted_labels(truth: pd.DataFrame) -> None:
    main = truth["_aspects"].str.startswith("delivery:negative")
    base = _daily_rate(truth, main, "2026-01-09", "2026-03-01")
    assert 2.4 <= _daily_rate(truth, main, "2026-03-01", "2026-04-15") / base <= 3.8
    assert 0.75 <= _daily_rate(truth, main, "2026-04-21", "2026-06-01") / base <= 1.3


def test_demo_data_nps_drops_during_the_delivery_spike(export: pd.DataFrame) -> None:
    def window(start: str, end: str) -> pd.Series:
        return export.loc[export["day"].ge(start) & export["day"].lt(end), "nps"]

    before = _nps(window("2025-11-01", "2026-03-01"))
    during = _nps(window("2026-03-01", "2026-04-15"))
    after = _nps(window("2026-04-21", "2026-06-01"))
    assert during <= before - 12
    assert after >= during + 8


def test_demo_data_pricing_complaints_rise_and_stay(
    export: pd.DataFrame, story: dict[str, Any]
) -> None:
    hits = _cue_hits(export, _event(story, "price_rise")["detect"]["complaint"])
    base = _daily_rate(export, hits, "2026-01-09", "2026-06-01")
    assert _daily_rate(export, hits, "2026-06-01", "2026-08-01") >= 1.4 * base
    assert _daily_rate(export, hits, "2026-09-01", "2026-11-01") >= 1.4 * base  # still elevated


def test_demo_data_checkout_redesign_hurts_then_beats_baseline(
    truth: pd.DataFrame, story: dict[str, Any]
) -> None:
    complaints = _cue_hits(truth, _event(story, "checkout_redesign")["detect"]["complaint"])
    base = _daily_rate(truth, complaints, "2026-05-01", "2026-08-10")
    assert _daily_rate(truth, complaints, "2026-08-10", "2026-09-10") >= 2.5 * base
    usability_neg = truth["_aspects"].str.startswith("usability:negative")
    old = _daily_rate(truth, usability_neg, "2025-11-01", "2026-08-10")
    assert _daily_rate(truth, usability_neg, "2026-09-14", "2026-11-01") <= 0.8 * old


def test_demo_data_new_checkout_praise_only_after_the_fix(
    truth: pd.DataFrame, story: dict[str, Any]
) -> None:
    mentions = _cue_hits(truth, _event(story, "checkout_redesign")["detect"]["redesign_mentions"])
    positive = truth["_sentiment"] == "positive"
    assert not (mentions & truth["day"].lt("2026-08-10")).any()
    assert (mentions & positive & truth["day"].ge("2026-09-10")).sum() >= 40
    assert (mentions & positive & truth["day"].between("2026-08-10", "2026-09-09")).sum() <= 5


@pytest.mark.parametrize("phrase", ["логистпро", "logistpro"])
def test_demo_data_new_courier_partner_named_only_in_its_window(
    export: pd.DataFrame, phrase: str
) -> None:
    named = export["text"].str.lower().str.contains(phrase)
    assert named.sum() >= 5
    assert export.loc[named, "day"].dropna().between("2026-03-01", "2026-04-20").all()


# ----------------------------------------------------------------------------- scores and customers
@pytest.mark.parametrize(
    ("sentiment", "low", "high", "share"),
    [
        ("negative", 0, 6, 0.8),
        ("positive", 9, 10, 0.7),
        ("neutral", 5, 9, 0.75),
    ],
)
def test_demo_data_nps_matches_the_text(
    truth: pd.DataFrame, sentiment: str, low: int, high: int, share: float
) -> None:
    nps = pd.to_numeric(
        truth.loc[truth["_sentiment"] == sentiment, "nps"], errors="coerce"
    ).dropna()
    assert len(nps) > 300
    assert nps.between(low, high).mean() >= share


def test_demo_data_customers_link_by_id(
    export: pd.DataFrame, customers: pd.DataFrame, truth: pd.DataFrame
) -> None:
    assert len(customers) == 8_000 and customers["customer_id"].is_unique
    ids = export.loc[
        (export["customer_id"] != "") & (truth["_messy"] != "unknown_customer"), "customer_id"
    ]
    assert ids.isin(customers["customer_id"]).all()
    assert ids.nunique() > 4_000
    assert pd.to_numeric(customers["ltv"]).gt(0).all()


def test_demo_data_customers_are_active_when_they_write(
    export: pd.DataFrame, customers: pd.DataFrame
) -> None:
    rows = export.dropna(subset=["day"]).merge(customers, on="customer_id")
    written = rows["day"].dt.strftime("%Y-%m-%d")
    assert (rows["signup"] <= written).all()
    churned = rows["churned_at"] != ""
    assert (rows.loc[churned, "churned_at"] > written[churned]).all()


def test_demo_data_complainers_and_detractors_churn_more(
    export: pd.DataFrame, customers: pd.DataFrame, truth: pd.DataFrame
) -> None:
    churned = customers.set_index("customer_id")["churned_at"] != ""
    spike = truth["_aspects"].str.contains("delivery:negative") & truth["day"].between(
        "2026-03-01", "2026-04-14"
    )
    nps = pd.to_numeric(export["nps"], errors="coerce")
    groups = {
        "spike": set(export.loc[spike, "customer_id"]),
        "detractor": set(export.loc[nps.between(0, 6), "customer_id"]),
        "promoter": set(export.loc[nps.between(9, 10), "customer_id"]),
        "happy": set(export.loc[truth["_sentiment"] == "positive", "customer_id"]),
    }
    rate = {k: churned[churned.index.isin(v - {""})].mean() for k, v in groups.items()}
    assert rate["spike"] >= 2 * rate["happy"]
    assert rate["detractor"] >= 1.5 * rate["promoter"]


# ------------------------------------------------------------------------------ realism and mess
def test_demo_data_messy_rows_are_kept_and_rare(export: pd.DataFrame, truth: pd.DataFrame) -> None:
    assert 0.003 <= (truth["_messy"] != "").mean() <= 0.008
    assert (export["text"].str.strip() == "").sum() >= 10
    assert export["nps"].isin(["11", "-1", "100", "12"]).any()
    assert export["csat"].isin(["good", "отлично", "5/5", "плохо", "n/a"]).any()
    assert export["text"].str.len().max() > 20_000
    assert export["review_id"].duplicated().sum() >= 1


def test_demo_data_few_exact_duplicates(export: pd.DataFrame) -> None:
    assert export["text"].duplicated().mean() < 0.08


@pytest.mark.parametrize(
    ("label", "pattern", "minimum"),
    [
        ("phone", r"(?:\+7|8) ?\(?9\d\d\)? ?\d{3}-?\d\d-?\d\d", 100),
        ("e-mail", r"[\w.]+\d+@[a-z]+\.[a-z]+", 100),
        ("order number", r"№ ?\d{8}", 100),
        ("quoted reply", r"-----Original Message-----|\n> ", 100),
        ("emoji", "[\U0001f300-\U0001faff]", 1000),
        ("slang", r"\b(?:норм|жесть|ваще|лол|smh|ngl)\b", 200),
        ("caps", r"\b[А-ЯЁA-Z]{6,}\b", 50),
        ("contrast", r", но |, but ", 300),
    ],
)
def test_demo_data_reads_like_real_customers(
    export: pd.DataFrame, label: str, pattern: str, minimum: int
) -> None:
    assert export["text"].str.contains(pattern, regex=True).sum() >= minimum, label


def test_demo_data_lengths_range_from_a_word_to_a_paragraph(export: pd.DataFrame) -> None:
    words = export["text"].str.split().str.len()
    assert (words <= 2).mean() > 0.03
    assert (words >= 40).mean() > 0.02
    assert 8 <= words.median() <= 30
