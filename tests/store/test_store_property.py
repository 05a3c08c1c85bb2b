"""Property: whatever sequence of exports is tagged into one store, every row fed in is a message
of the ``messages`` view, once, under its own (source, id), carrying the tags of its own export's
latest complete run that tagged it well.

Exports: 1–5 of them, from 3 source names (so some are re-tagged), ids drawn from a small pool
(overlapping across exports and repeated inside one), empty texts, texts the fake model fails on
(``💥`` — a run with more than 25 % of them is failed), chunk sizes 1–50. Tagged by the local
engine with a model-free keyword tagger.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cx_text.core.config import Settings
from cx_text.engines.local import tag_file
from cx_text.store.store import open_store
from tests.fault_taggers import exploding

TEXTS = ("Курьер не позвонил", "Great app, fast checkout", "", "💥 model breaker", "ок")
EXAMPLES = int(os.environ.get("CX_TEXT_FUZZ_EXAMPLES", "30"))  # docs/RELIABILITY.md runs more
LOG = os.environ.get("CX_TEXT_FUZZ_LOG")  # append one JSON line per example (counts for the docs)
MAX_ERROR_SHARE = 0.25  # high enough that complete runs with error rows are common


@dataclass(frozen=True)
class Export:
    source: str
    rows: tuple[tuple[str, int], ...]  # (id, text index)
    chunk: int


exports = st.lists(
    st.builds(
        Export,
        source=st.sampled_from(("crm", "app_store", "survey")),
        rows=st.lists(
            st.tuples(
                st.sampled_from([str(i) for i in range(1, 9)]), st.integers(0, len(TEXTS) - 1)
            ),
            min_size=0,
            max_size=20,
        ).map(tuple),
        chunk=st.integers(1, 50),
    ),
    min_size=1,
    max_size=5,
)


def unique(ids: list[str]) -> list[str]:
    """The store's rule for repeated ids, written out independently: 1, 1#2, 1#3 …"""
    seen: set[str] = set()
    out = []
    for value in ids:
        if value in seen:
            k = 2
            while f"{value}#{k}" in seen:
                k += 1
            value = f"{value}#{k}"
        seen.add(value)
        out.append(value)
    return out


def expected(batch: list[Export]) -> dict[tuple[str, str], str]:
    """(source, id) -> the text the messages view must show (the oracle)."""
    best: dict[tuple[str, str], tuple[bool, int, str]] = {}
    for n, export in enumerate(batch):
        texts = [_text(t, n) for _, t in export.rows]
        errors = sum("💥" in t for t in texts)
        if texts and errors / len(texts) > MAX_ERROR_SHARE:
            continue  # a failed run is never latest
        for uid, text in zip(unique([i for i, _ in export.rows]), texts, strict=True):
            # a row the model failed on has no PII-masked text, so the store keeps none (NULL)
            rank = ("💥" not in text, n, "" if "💥" in text else text)
            key = (export.source, uid)
            if key not in best or rank[:2] > best[key][:2]:
                best[key] = rank
    return {k: v[2] for k, v in best.items()}


def _text(index: int, export_no: int) -> str:
    return f"{TEXTS[index]} e{export_no}" if TEXTS[index] else ""


def tag_all(batch: list[Export], folder: Path) -> dict[tuple[str, str], str]:
    db = folder / "s.duckdb"
    for n, export in enumerate(batch):
        src = folder / f"export{n}.csv"
        pd.DataFrame(
            {"id": [i for i, _ in export.rows], "text": [_text(t, n) for _, t in export.rows]},
            columns=["id", "text"],
        ).to_csv(src, index=False)
        summary = tag_file(
            src,
            folder / f"out{n}.parquet",
            exploding,
            Settings(chunk_size=export.chunk, max_error_share=MAX_ERROR_SHARE),
            manifest={"fingerprint": "kw"},
            db_path=db,
            progress=False,
            source=export.source,
        )
        assert summary.rows_in == summary.rows_out == len(export.rows)
        assert len(pd.read_parquet(folder / f"out{n}.parquet")) == len(export.rows)
    with open_store(db, read_only=True) as store:
        view = store.query("SELECT source, id, text_clean FROM messages")
        stored = store.query("SELECT count(*) AS n FROM tags JOIN feedback USING (run_id, id)")[
            "n"
        ].iloc[0]
    assert stored == sum(len(e.rows) for e in batch)  # every row of every run is in the store
    assert not view.duplicated(["source", "id"]).any()
    return {
        (r.source, r.id): "" if pd.isna(r.text_clean) else str(r.text_clean)
        for r in view.itertuples(index=False)
    }


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exports)
def test_store_property_every_row_fed_in_is_one_message_with_its_own_latest_tags(
    batch: list[Export],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        got = tag_all(batch, Path(tmp))
    assert got == expected(batch)
    if LOG:
        with open(LOG, "a", encoding="utf-8") as fh:
            fh.write(
                json.dumps(
                    {
                        "exports": len(batch),
                        "rows": sum(len(e.rows) for e in batch),
                        "messages": len(got),
                        "sources": len({e.source for e in batch}),
                    }
                )
                + "\n"
            )
