"""Labeled data: the project's own corpus (data/corpus/*.jsonl) and mapped public data sets.

Every loader returns one frame with the columns of :data:`LABEL_COLUMNS`:
``id, text, lang, channel, sentiment, topics (list), aspects (dict topic->polarity), origin,
split``.
``sentiment`` may be ``""`` where a source has no overall label (MAMS sentences); such rows train
only the topic and aspect heads.

The corpus split is fixed by a hash of each id (70 % train, 15 % dev, 15 % test), so adding
messages never moves existing ones between splits.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from cx_text.core import schema
from cx_text.core.errors import IngestError

LABEL_COLUMNS = (
    "id",
    "text",
    "lang",
    "channel",
    "sentiment",
    "topics",
    "aspects",
    "origin",
    "split",
)
#: the project corpus is training data, not package data: it is read from the source checkout
DEFAULT_CORPUS_DIR = Path("data") / "corpus"

# MAMS restaurant categories -> our topics (ambience/menu/place/misc are opinions on none of ours)
MAMS_TOPICS = {
    "food": "quality",
    "service": "staff",
    "staff": "staff",
    "price": "pricing",
    "ambience": "other",
    "menu": "other",
    "place": "other",
    "miscellaneous": "other",
}
# banking77 intents that belong to a topic; every other intent is a neutral request with no topic
BANKING77_TOPICS = {
    "card_arrival": "delivery",
    "card_delivery_estimate": "delivery",
    "card_payment_fee_charged": "pricing",
    "cash_withdrawal_charge": "pricing",
    "exchange_charge": "pricing",
    "exchange_rate": "pricing",
    "top_up_by_card_charge": "pricing",
    "transfer_fee_charged": "pricing",
    "extra_charge_on_statement": "pricing",
    "card_payment_wrong_exchange_rate": "pricing",
    "wrong_exchange_rate_for_cash_withdrawal": "pricing",
    "top_up_by_bank_transfer_charge": "pricing",
    "transaction_charged_twice": "pricing",
    "request_refund": "support",
    "Refund_not_showing_up": "support",
}


def split_of(item_id: str) -> str:
    """Fixed split for an id: ``train`` (70 %), ``dev`` (15 %) or ``test`` (15 %)."""
    bucket = int(hashlib.sha1(item_id.encode("utf-8")).hexdigest(), 16) % 100
    return "train" if bucket < 70 else ("dev" if bucket < 85 else "test")


def load_corpus(paths: Iterable[Path] | None = None) -> pd.DataFrame:
    """Read corpus JSONL files (default: every ``data/corpus/*.jsonl``), validated, with splits."""
    files = sorted(paths) if paths else sorted(DEFAULT_CORPUS_DIR.glob("*.jsonl"))
    if not files:
        raise IngestError(
            f"no corpus files found in {DEFAULT_CORPUS_DIR.resolve()}.",
            "Run from the source checkout or pass --data FILE.jsonl.",
        )
    rows = [row for f in files for row in _read_jsonl(Path(f))]
    frame = pd.DataFrame(rows, columns=list(LABEL_COLUMNS))
    frame["split"] = frame["id"].map(split_of)
    return frame


def _read_jsonl(path: Path) -> list[dict[str, object]]:
    if path.suffix.lower() == ".csv":
        return read_labeled_table(path)
    out = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise IngestError(f"{path}:{line_no} is not valid JSON: {exc.msg}.") from exc
            out.append(_validated(rec, f"{path}:{line_no}", origin=path.stem))
    return out


def read_labeled_table(path: Path) -> list[dict[str, object]]:
    """A labeled CSV/XLSX/Parquet/JSONL in the tagging-contract layout (text, sentiment,
    topics ``a;b`` or a list, aspect_sentiments ``topic:polarity;…`` or a list of structs)."""
    from cx_text.io.output import read_frame

    frame = read_frame(path)
    schema.require_columns(frame, ["text"], f"labeled file {path}")
    out = []
    for i, row in enumerate(frame.to_dict("records"), 2):
        cell = {k: schema.row_cell(row, k) for k in row}
        aspects = {
            a["topic"]: a["polarity"]
            for a in schema.split_aspects(cell.get("aspect_sentiments", ""))
        }
        rec = {
            "id": str(cell.get("id") or f"{path.stem}-{i}"),
            "text": str(cell["text"]),
            "lang": str(cell.get("lang", "")),
            "channel": str(cell.get("channel", "")),
            "sentiment": str(cell.get("sentiment", "")),
            "topics": schema.split_list(cell.get("topics", "")),
            "aspects": aspects,
        }
        out.append(_validated(rec, f"{path}:{i}", origin=path.stem, strict=False))
    return out


def _validated(rec: dict, where: str, origin: str, strict: bool = True) -> dict[str, object]:
    text = str(rec.get("text") or "").strip()
    sentiment = str(rec.get("sentiment") or "")
    topics = [str(t) for t in rec.get("topics") or []]
    aspects = {str(k): str(v) for k, v in (rec.get("aspects") or {}).items()}
    if not text:
        raise IngestError(f"{where}: empty text.", "Every labeled message needs text.")
    if sentiment and sentiment not in schema.SENTIMENTS:
        raise IngestError(f"{where}: sentiment {sentiment!r} is not one of {schema.SENTIMENTS}.")
    if strict and set(aspects) != set(topics):
        raise IngestError(f"{where}: aspects {sorted(aspects)} must match topics {sorted(topics)}.")
    return {
        "id": str(rec.get("id") or where),
        "text": text,
        "lang": str(rec.get("lang") or ""),
        "channel": str(rec.get("channel") or ""),
        "sentiment": sentiment,
        "topics": topics,
        "aspects": aspects,
        "origin": origin,
        "split": "",
    }


def load_mams(directory: Path) -> pd.DataFrame:
    """MAMS-ACSA (Apache-2.0) restaurant sentences: topics from non-neutral aspect categories.

    The official train/val/test files keep their roles (val -> dev).
    """
    rows = []
    for part, split in (("train", "train"), ("val", "dev"), ("test", "test")):
        path = directory / f"MAMS-ACSA_{part}.xml"
        if not path.is_file():
            continue
        for i, sent in enumerate(ET.parse(path).getroot().iter("sentence")):
            aspects: dict[str, str] = {}
            for cat in sent.iter("aspectCategory"):
                topic, pol = MAMS_TOPICS.get(cat.get("category", ""), ""), cat.get("polarity", "")
                if topic and pol in ("positive", "negative") and aspects.get(topic) != "negative":
                    aspects[topic] = pol
            rows.append(
                {
                    "id": f"mams-{part}-{i}",
                    "text": (sent.findtext("text") or "").strip(),
                    "lang": "en",
                    "channel": "restaurant_review",
                    "sentiment": "",
                    "topics": sorted(aspects),
                    "aspects": aspects,
                    "origin": "mams",
                    "split": split,
                }
            )
    return pd.DataFrame(rows, columns=list(LABEL_COLUMNS))


def load_banking77(directory: Path) -> pd.DataFrame:
    """banking77 (CC BY 4.0) support queries: mapped intents get a topic, the rest none.

    Queries are requests, mostly without an opinion: sentiment is left unlabeled; the topic
    polarity of a mapped intent is ``neutral`` (rule 3 of the label guide). The ``intent``
    column (beyond :data:`LABEL_COLUMNS`) lets dev/test be sampled stratified by intent.
    """
    rows = []
    for part, split in (("train", "train"), ("test", "test")):
        path = directory / f"{part}.csv"
        if not path.is_file():
            continue
        frame = pd.read_csv(path, dtype=str)
        for i, (text, intent) in enumerate(zip(frame["text"], frame["category"], strict=True)):
            topic = BANKING77_TOPICS.get(intent)
            aspects = {topic: "neutral"} if topic else {}
            use_split = split if split == "test" or i % 7 else "dev"
            rows.append(
                {
                    "id": f"b77-{part}-{i}",
                    "text": str(text).strip(),
                    "lang": "en",
                    "channel": "support_chat",
                    "sentiment": "",
                    "topics": sorted(aspects),
                    "aspects": aspects,
                    "origin": "banking77",
                    "split": use_split,
                    "intent": intent,
                }
            )
    return pd.DataFrame(rows, columns=[*LABEL_COLUMNS, "intent"])


def load_shared(shared_dir: Path | None) -> pd.DataFrame:
    """Every mapped public set found under ``shared_dir`` (``../shared/data``), or an empty
    frame."""
    if shared_dir is None or not shared_dir.is_dir():
        return pd.DataFrame(columns=list(LABEL_COLUMNS))
    parts = [load_mams(shared_dir / "mams_acsa"), load_banking77(shared_dir / "banking77")]
    return pd.concat([p for p in parts if len(p)], ignore_index=True)
