"""Closing-the-loop register: status workflow, team routing, before/after re-measurement against
a hand computation, the follow-up list (PII, anonymous rows) and formula-safe CRM export."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from cx_text.cli.main import cli
from cx_text.core.errors import LoopError
from cx_text.loop import service as loop
from cx_text.store.store import Store, open_store
from tests.error_codes import raises_code

FIX = date(2026, 4, 15)
COMPLAINTS = [
    "Курьер опоздал на три часа и не позвонил",
    "The courier was late again, parcel crushed",
    "Посылку оставили у двери, хотя я просил позвонить",
    "Delivery took 9 days, tracking never updated",
]
NEUTRAL = [
    "Спасибо, всё пришло вовремя",
    "Great prices this week",
    "Приложение удобное",
    "Support was quick",
]


def feedback_row(
    i: int,
    day: date,
    *,
    member: bool,
    nps: float | None,
    customer: str | None = "auto",
    text: str | None = None,
    channel: str = "nps_comment",
    topic: str = "delivery",
) -> dict[str, Any]:
    """One tagged message; ``member`` = a negative mention of ``topic``."""
    body = text or (COMPLAINTS if member else NEUTRAL)[i % 4]
    return {
        "id": str(i),
        "text": body,
        "created_at": pd.Timestamp(day) + pd.Timedelta(hours=10),
        "channel": channel,
        "nps": nps,
        "customer_id": f"CU{i:06d}" if customer == "auto" else customer,
        "sentiment": "negative" if member else "positive",
        "topics": [topic] if member else ["other"],
        "aspects": [
            {
                "topic": topic if member else "other",
                "polarity": "negative" if member else "positive",
                "score": 0.9,
            }
        ],
        "clause": body,
    }


def tagged_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    n = len(rows)
    frame = pd.DataFrame(rows)
    return pd.DataFrame(
        {
            "id": frame["id"],
            "text": frame["text"],
            "text_clean": frame["text"],
            "created_at": frame["created_at"],
            "channel": frame["channel"],
            "nps": frame["nps"],
            "csat": [None] * n,
            "customer_id": frame["customer_id"],
            "segment": ["regular"] * n,
            "lang": ["ru"] * n,
            "lang_confidence": [0.99] * n,
            "sentiment": frame["sentiment"],
            "sentiment_score": [0.0] * n,
            "topics": frame["topics"],
            "subtopics": [[] for _ in range(n)],
            "topic_scores": [{} for _ in range(n)],
            "pii_found": [[] for _ in range(n)],
            "row_status": ["ok"] * n,
            "row_issues": [[] for _ in range(n)],
            "aspect_sentiments": frame["aspects"],
            "evidence": [
                [
                    {
                        "topic": a[0]["topic"],
                        "clause": c,
                        "start": 0,
                        "end": len(c),
                        "terms": [],
                        "source": "rule",
                    }
                ]
                for a, c in zip(frame["aspects"], frame["clause"], strict=True)
            ],
        }
    )


def fill(path: Path, rows: list[dict[str, Any]], mask_pii: bool = True) -> Path:
    with open_store(path) as st:
        run = st.begin_run({"settings": {"mask_pii": mask_pii}}, "export.csv", "fp", len(rows))
        st.append_chunk(run, 0, tagged_frame(rows))
        st.finish_run(run, {})
    return path


def window_rows(
    start: int,
    first: date,
    days: int,
    n: int,
    k: int,
    nps_members: float = 2,
    promoters: int | None = None,
) -> list[dict[str, Any]]:
    """``n`` messages spread over ``days`` days from ``first`` (first and last day included);
    the first ``k`` are theme complaints (NPS ``nps_members``); others split promoters/passives."""
    promoters = (n - k) // 2 if promoters is None else promoters
    rows = []
    for j in range(n):
        day = first + timedelta(days=round(j * (days - 1) / max(n - 1, 1)))
        member = j < k
        nps = nps_members if member else (10 if j - k < promoters else 8)
        rows.append(feedback_row(start + j, day, member=member, nps=nps))
    return rows


def story(
    before_k: int, after_k: int, n: int = 200, window: int = 28, gap: int = 7
) -> list[dict[str, Any]]:
    before = window_rows(0, FIX - timedelta(days=window), window, n, before_k)
    after = window_rows(10_000, FIX + timedelta(days=gap), window, n, after_k)
    return before + after


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(fill(tmp_path / "cx.duckdb", story(40, 10))) as st:
        yield st


def _to_fixed(st: Store, item_id: int, fixed_at: date = FIX) -> loop.Item:
    loop.update_item(st, item_id, status="acknowledged")
    loop.update_item(st, item_id, status="in progress")
    return loop.update_item(
        st, item_id, status="fixed", fixed_at=fixed_at, note="switched back to Strela"
    )


# -- status workflow -------------------------------------------------------------------------------
def test_loop_status_walks_the_whole_workflow(store: Store) -> None:
    item = loop.open_item(store, topic="delivery", owner="Иван Петров", due=date(2026, 4, 30))
    assert (item.status, item.team) == ("new", "delivery")
    item = _to_fixed(store, item.item_id)
    assert item.fixed_at == FIX and "switched back to Strela" in (item.notes or "")
    item = loop.update_item(store, item.item_id, status="customers_notified")
    item, result = loop.verify_item(store, item.item_id, window="4w", gap=7)
    assert result.verdict == "improved" and item.status == "verified"
    fields = loop.history(store, item.item_id)["field"].tolist()
    assert fields == ["opened", "status", "status", "status", "fixed_at", "status", "status"]


@pytest.mark.parametrize(
    ("path", "target", "allowed"),
    [
        ([], "fixed", "acknowledged"),
        ([], "verified", "acknowledged"),
        (["acknowledged"], "customers_notified", "in_progress"),
        (["acknowledged", "in_progress"], "new", "fixed"),
        (
            ["acknowledged", "in_progress", "fixed"],
            "acknowledged",
            "customers_notified, in_progress",
        ),
    ],
)
def test_loop_invalid_move_names_allowed_states(
    store: Store, path: list[str], target: str, allowed: str
) -> None:
    item = loop.open_item(store, topic="delivery")
    for status in path:
        loop.update_item(store, item.item_id, status=status)
    with raises_code("CX-E070", allowed):
        loop.update_item(store, item.item_id, status=target)
    assert loop.get_item(store, item.item_id).status == (path[-1] if path else "new")


@pytest.mark.parametrize("bad", ["done", "closed", "in progres"])
def test_loop_unknown_status_lists_statuses(store: Store, bad: str) -> None:
    item = loop.open_item(store, topic="delivery")
    with raises_code("CX-E070", "customers_notified"):
        loop.update_item(store, item.item_id, status=bad)


def test_loop_verified_needs_an_improved_measurement(store: Store) -> None:
    item = _to_fixed(store, loop.open_item(store, topic="delivery").item_id)
    loop.update_item(store, item.item_id, status="customers_notified")
    with raises_code("CX-E070", "loop verify"):
        loop.update_item(store, item.item_id, status="verified")


def test_loop_reopen_after_fix_keeps_history(store: Store) -> None:
    item = _to_fixed(store, loop.open_item(store, topic="delivery").item_id)
    item = loop.update_item(store, item.item_id, status="in_progress", note="жалобы вернулись")
    assert item.status == "in_progress"
    assert loop.history(store, item.item_id)["note"].iloc[-1] == "жалобы вернулись"


@pytest.mark.parametrize(
    ("topic", "team"), [("delivery", "delivery"), ("delivery/late", "delivery")]
)
def test_loop_open_routes_topic_to_owning_team(store: Store, topic: str, team: str) -> None:
    assert loop.open_item(store, topic=topic).team == team


@pytest.mark.parametrize(
    ("alias", "team"),
    [("logistics", "delivery"), ("App", "web_app"), ("store_operations", "store_staff")],
)
def test_loop_team_aliases_resolve(alias: str, team: str) -> None:
    assert loop.load_teams().get(alias).id == team


def test_loop_rejects_duplicates_unknown_topics_and_teams(store: Store) -> None:
    item = loop.open_item(store, topic="delivery")
    with raises_code("CX-E070", f"#{item.item_id}"):
        loop.open_item(store, topic="delivery")
    with raises_code("CX-E070", "delivery"):
        loop.open_item(store, topic="parking")
    with pytest.raises(LoopError, match="teams are"):
        loop.open_item(store, topic="delivery/late", team="marketing")
    with pytest.raises(LoopError, match="theme id or a topic"):
        loop.open_item(store)


def test_loop_verify_needs_a_fix_date(store: Store) -> None:
    item = loop.open_item(store, topic="delivery")
    with raises_code("CX-E070", "--status fixed"):
        loop.verify_item(store, item.item_id)


# -- re-measurement --------------------------------------------------------------------------------
def _hand_share_test(k1: int, n1: int, k0: int, n0: int) -> tuple[float, float]:
    pooled = (k1 + k0) / (n1 + n0)
    z = (k1 / n1 - k0 / n0) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
    return z, math.erfc(abs(z) / math.sqrt(2))


def _hand_impact(k: int, n: int, promoters: int) -> float:
    """Members are detractors; the rest are promoters and passives."""
    nps_all = (promoters - k) / n
    nps_rest = promoters / (n - k)
    return 100 * (nps_all - nps_rest)


def test_loop_verify_matches_hand_computation(store: Store) -> None:
    item = _to_fixed(store, loop.open_item(store, topic="delivery").item_id)
    _, m = loop.verify_item(store, item.item_id, window=28, gap="7d")
    z, p = _hand_share_test(10, 200, 40, 200)
    assert m.before == (FIX - timedelta(days=28), FIX - timedelta(days=1))
    assert m.after == (FIX + timedelta(days=7), FIX + timedelta(days=34))
    assert (m.share["k_before"], m.share["n_before"], m.share["k_after"], m.share["n_after"]) == (
        40,
        200,
        10,
        200,
    )
    assert m.share["diff"] == pytest.approx(-15.0)
    assert m.share["z"] == pytest.approx(z) and m.share["p_value"] == pytest.approx(p)
    assert m.share["lo"] < -15.0 < m.share["hi"] < 0
    assert m.volume["ratio"] == pytest.approx(0.25) and m.volume["hi"] < 1
    assert m.volume["weekly_before"] == pytest.approx(40 / 4)
    before, after = _hand_impact(40, 200, 80), _hand_impact(10, 200, 95)
    assert (m.nps_impact["before"], m.nps_impact["after"]) == (
        pytest.approx(before),
        pytest.approx(after),
    )
    assert m.nps_impact["diff"] == pytest.approx(after - before)
    assert m.nps_impact["lo"] < after - before < m.nps_impact["hi"]
    assert m.verdict == "improved"
    assert loop.latest_measurement(store, item.item_id) == m


@pytest.mark.parametrize(
    ("before_k", "after_k", "verdict"),
    [(40, 10, "improved"), (12, 45, "worse"), (20, 22, "no change"), (3, 2, "too little data")],
)
def test_loop_verdicts(tmp_path: Path, before_k: int, after_k: int, verdict: str) -> None:
    with open_store(fill(tmp_path / "v.duckdb", story(before_k, after_k))) as st:
        item = _to_fixed(st, loop.open_item(st, topic="delivery").item_id)
        _, m = loop.verify_item(st, item.item_id, window=28, gap=7)
    assert m.verdict == verdict, m.reason


def test_loop_verify_too_soon_after_the_fix(store: Store) -> None:
    item = _to_fixed(
        store, loop.open_item(store, topic="delivery").item_id, fixed_at=date(2026, 5, 15)
    )
    _, m = loop.verify_item(store, item.item_id, window=28, gap=7)
    assert m.verdict == "too little data" and "day(s)" in m.reason


@pytest.mark.parametrize(("text", "days"), [("6w", 42), ("42d", 42), ("10", 10), (14, 14)])
def test_loop_parse_days(text: str | int, days: int) -> None:
    assert loop.parse_days(text) == days


@pytest.mark.parametrize("bad", ["six weeks", "0", "-3d"])
def test_loop_parse_days_rejects_nonsense(bad: str) -> None:
    with pytest.raises(LoopError):
        loop.parse_days(bad)


# -- inner loop ------------------------------------------------------------------------------------
FOLLOWUP_ROWS = [
    # (id, customer, nps, member, text)
    (1, "CU1", 2, True, "Курьер опоздал, звоните мне 8 (912) 345-67-89"),
    (2, "CU1", 4, True, "Опять опоздали, второй раз за неделю"),
    (3, "CU2", 10, True, "Late once, but support fixed it fast"),
    (4, None, 1, True, "Parcel left at the door in the rain"),
    (5, "CU3", 0, True, '=HYPERLINK("http://evil.example","click me")'),
    (6, "CU4", 3, False, "Цены высокие, но доставка быстрая"),
]


def _followup_store(tmp_path: Path, mask_pii: bool) -> Path:
    rows = [
        feedback_row(i, date(2026, 3, 1) + timedelta(days=i), member=m, nps=nps, customer=c, text=t)
        for i, c, nps, m, t in FOLLOWUP_ROWS
    ]
    return fill(tmp_path / "fu.duckdb", rows, mask_pii=mask_pii)


def test_loop_followup_lists_detractors_once_per_customer(tmp_path: Path) -> None:
    with open_store(_followup_store(tmp_path, mask_pii=True)) as st:
        item = loop.open_item(st, topic="delivery")
        fu = loop.followup(st, item.item_id)
    assert fu.customers["customer_id"].tolist() == [
        "CU3",
        "CU1",
    ]  # newest first; CU2 promoter, CU4 not a member
    cu1 = fu.customers.set_index("customer_id").loc["CU1"]
    assert (cu1["messages"], cu1["score"], cu1["message_id"]) == (2, 4, "2")
    assert cu1["source"] == "export"  # (source, message_id) identifies the message in the store
    assert fu.anonymous == 1 and fu.pii == "masked in store"


@pytest.mark.parametrize(("show_pii", "phone_visible"), [(False, False), (True, True)])
def test_loop_followup_masks_pii_unless_asked(
    tmp_path: Path, show_pii: bool, phone_visible: bool
) -> None:
    with open_store(_followup_store(tmp_path, mask_pii=False)) as st:
        item = loop.open_item(st, topic="delivery")
        fu = loop.followup(st, item.item_id, end=date(2026, 3, 2), show_pii=show_pii)
    text = fu.customers["text"].iloc[0]
    assert ("345-67-89" in text) is phone_visible
    assert ("[PHONE]" in text) is not phone_visible


def test_loop_followup_export_is_formula_safe(tmp_path: Path) -> None:
    with open_store(_followup_store(tmp_path, mask_pii=True)) as st:
        fu = loop.followup(st, loop.open_item(st, topic="delivery").item_id)
    csv = loop.export_followup(fu, tmp_path / "fu.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in csv and "\n=HYPERLINK" not in csv and ",=HYPERLINK" not in csv
    sheet = openpyxl.load_workbook(loop.export_followup(fu, tmp_path / "fu.xlsx")).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if "HYPERLINK" in str(c.value)]
    assert cells and all(c.data_type == "s" and str(c.value).startswith("'=") for c in cells)


def test_loop_register_notes_are_stored_masked(tmp_path: Path) -> None:
    with open_store(fill(tmp_path / "n.duckdb", story(40, 10))) as st:
        item = loop.open_item(
            st, topic="delivery", notes="клиент просил перезвонить: 8 (912) 345-67-89"
        )
        loop.update_item(
            st, item.item_id, status="acknowledged", note="wrote to olga.k@example.com"
        )
        loop.update_item(st, item.item_id, note="escalated; card 4111 1111 1111 1111 charged twice")
        stored = st.con.execute("SELECT notes FROM loop_items").fetchall()
        stored += st.con.execute("SELECT old_value, new_value, note FROM loop_history").fetchall()
    dump = " ".join(str(v) for row in stored for v in row)
    for raw in ("345-67-89", "olga.k@example.com", "4111 1111 1111 1111"):
        assert raw not in dump
    assert "[PHONE]" in dump and "[EMAIL]" in dump and "[CARD]" in dump and "escalated" in dump


# -- CLI -------------------------------------------------------------------------------------------
def test_loop_cli_open_fix_verify(tmp_path: Path) -> None:
    db = str(fill(tmp_path / "cli.duckdb", story(40, 10)))
    run = CliRunner().invoke
    assert (
        "Opened #1"
        in run(cli, ["loop", "open", "--db", db, "--topic", "delivery", "--owner", "Olga"]).output
    )
    bad = run(cli, ["loop", "update", "1", "--db", db, "--status", "fixed"])
    assert isinstance(bad.exception, LoopError) and bad.exception.code == "CX-E070"
    assert "acknowledged" in str(bad.exception)  # the allowed next status
    for status in ("acknowledged", "in_progress"):
        assert run(cli, ["loop", "update", "1", "--db", db, "--status", status]).exit_code == 0
    out = run(
        cli, ["loop", "update", "1", "--db", db, "--status", "fixed", "--fixed-at", "2026-04-15"]
    )
    assert "fixed 2026-04-15" in out.output
    verify = run(cli, ["loop", "verify", "1", "--db", db, "--window", "4w"])
    assert verify.exit_code == 0 and "IMPROVED" in verify.output and "20.00% " in verify.output
    listed = run(cli, ["loop", "list", "--db", db, "--team", "logistics"])
    assert "improved" in listed.output and "Olga" in listed.output
    fu = run(cli, ["loop", "followup", "1", "--db", db, "-o", str(tmp_path / "fu.csv")])
    assert fu.exit_code == 0 and (tmp_path / "fu.csv").is_file()
