"""Accuracy reports: sentiment, topics and per-topic sentiment against labeled data.

Pure functions over gold/predicted label lists, plus :func:`evaluate_frames` that compares a
labeled frame with a tagged one (both in the tagging-contract layout) and :func:`render_report`
for the ``cx-text evaluate`` table. Calibration is reported as expected calibration error (ECE,
10 equal-width bins of the top probability) with the reliability table.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from cx_text.core import schema


def per_label_scores(
    gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]
) -> dict[str, Any]:
    """Precision/recall/F1/support per label, macro-F1, accuracy and the confusion matrix."""
    g, p = np.asarray(gold, dtype=object), np.asarray(pred, dtype=object)
    out: dict[str, Any] = {"labels": {}, "n": len(g)}
    for lab in labels:
        tp = int(np.sum((p == lab) & (g == lab)))
        fp, fn = int(np.sum((p == lab) & (g != lab))), int(np.sum((p != lab) & (g == lab)))
        out["labels"][lab] = _prf(tp, fp, fn)
    out["macro_f1"] = float(np.mean([v["f1"] for v in out["labels"].values()])) if labels else 0.0
    out["accuracy"] = float(np.mean(g == p)) if len(g) else 0.0
    out["confusion"] = {
        "labels": list(labels),
        "matrix": [[int(np.sum((g == a) & (p == b))) for b in labels] for a in labels],
    }
    return out


def multilabel_scores(
    gold: Sequence[Collection[str]], pred: Sequence[Collection[str]], labels: Sequence[str]
) -> dict[str, Any]:
    """Per-label P/R/F1 plus micro- and macro-F1 for multi-label sets (e.g. topics)."""
    out: dict[str, Any] = {"labels": {}, "n": len(gold)}
    tp_all = fp_all = fn_all = 0
    for lab in labels:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if lab in g and lab in p)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if lab not in g and lab in p)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if lab in g and lab not in p)
        out["labels"][lab] = _prf(tp, fp, fn)
        tp_all, fp_all, fn_all = tp_all + tp, fp_all + fp, fn_all + fn
    out["micro"] = _prf(tp_all, fp_all, fn_all)
    out["micro_f1"] = out["micro"]["f1"]
    out["macro_f1"] = float(np.mean([v["f1"] for v in out["labels"].values()])) if labels else 0.0
    out["exact_match"] = (
        float(np.mean([set(g) == set(p) for g, p in zip(gold, pred, strict=True)])) if gold else 0.0
    )
    return out


def aspect_scores(gold: Sequence[dict[str, str]], pred: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Per-topic polarity: F1 over (topic, polarity) pairs, and polarity accuracy where topics
    agree."""
    pairs_g = [{f"{t}:{p}" for t, p in g.items()} for g in gold]
    pairs_p = [{f"{t}:{p}" for t, p in q.items()} for q in pred]
    labels = sorted({x for s in pairs_g for x in s} | {x for s in pairs_p for x in s})
    scores = multilabel_scores(pairs_g, pairs_p, labels)
    agree = [(g[t], q[t]) for g, q in zip(gold, pred, strict=True) for t in g if t in q]
    scores["polarity_accuracy_on_found_topics"] = (
        float(np.mean([a == b for a, b in agree])) if agree else 0.0
    )
    scores["n_pairs"] = len(agree)
    del scores["labels"]
    return scores


def calibration(proba: np.ndarray, gold_idx: np.ndarray, bins: int = 10) -> dict[str, Any]:
    """Expected calibration error and the reliability table of the top-class probability."""
    conf = proba.max(axis=1)
    correct = proba.argmax(axis=1) == gold_idx
    edges = np.linspace(0.0, 1.0, bins + 1)
    table, ece = [], 0.0
    for lo, hi in itertools.pairwise(edges):
        mask = (conf > lo) & (conf <= hi)
        if not mask.any():
            continue
        acc, avg = float(correct[mask].mean()), float(conf[mask].mean())
        ece += mask.mean() * abs(acc - avg)
        table.append(
            {"bin": f"{lo:.1f}-{hi:.1f}", "n": int(mask.sum()), "confidence": avg, "accuracy": acc}
        )
    return {"ece": float(ece), "bins": table}


def evaluate_frames(
    gold: pd.DataFrame, tagged: pd.DataFrame, topic_ids: Sequence[str]
) -> dict[str, Any]:
    """Compare a labeled frame with the tagged frame of the same rows (same order)."""
    report: dict[str, Any] = {"n": len(gold)}
    has_sent = gold[schema.SENTIMENT].astype(str).isin(schema.SENTIMENTS)
    if has_sent.any():
        g = gold.loc[has_sent, schema.SENTIMENT].astype(str).tolist()
        p = tagged.loc[has_sent, schema.SENTIMENT].astype(str).tolist()
        report["sentiment"] = per_label_scores(g, p, schema.SENTIMENTS)
        if schema.SENTIMENT_PROBS in tagged.columns:
            probs = np.array(
                [
                    [d.get(s, 0.0) for s in schema.SENTIMENTS] if isinstance(d, dict) else [0, 1, 0]
                    for d in tagged.loc[has_sent, schema.SENTIMENT_PROBS]
                ],
                dtype=float,
            )
            idx = np.array([schema.SENTIMENTS.index(x) for x in g])
            report["sentiment"]["calibration"] = calibration(probs, idx)
        if "lang" in gold.columns:
            report["sentiment_by_lang"] = _by_lang(gold[has_sent], g, p)
    gold_topics = [schema.split_list(x) for x in gold[schema.TOPICS]]
    pred_topics = [schema.split_list(x) for x in tagged[schema.TOPICS]]
    report["topics"] = multilabel_scores(gold_topics, pred_topics, topic_ids)
    if schema.ASPECT_SENTIMENTS in gold.columns:
        ga = [
            {a["topic"]: a["polarity"] for a in schema.split_aspects(x)}
            for x in gold[schema.ASPECT_SENTIMENTS]
        ]
        pa = [
            {a["topic"]: a["polarity"] for a in schema.split_aspects(x)}
            for x in tagged[schema.ASPECT_SENTIMENTS]
        ]
        report["aspects"] = aspect_scores(ga, pa)
    return report


def _by_lang(frame: pd.DataFrame, gold: list[str], pred: list[str]) -> dict[str, float]:
    out = {}
    langs = frame["lang"].astype(str).tolist()
    for lang in sorted(set(langs)):
        idx = [i for i, x in enumerate(langs) if x == lang]
        out[lang] = per_label_scores(
            [gold[i] for i in idx], [pred[i] for i in idx], schema.SENTIMENTS
        )["macro_f1"]
    return out


def render_report(report: dict[str, Any]) -> str:
    """Human-readable tables of an evaluation report."""
    lines = [f"messages: {report['n']}"]
    if "sentiment" in report:
        s = report["sentiment"]
        lines += [
            "",
            "SENTIMENT  macro-F1 {:.3f}  accuracy {:.3f}".format(s["macro_f1"], s["accuracy"]),
        ]
        lines += _label_table(s["labels"])
        lines += [
            "",
            "confusion (rows gold, cols predicted): " + " ".join(s["confusion"]["labels"]),
        ]
        lines += [
            f"  {lab:<9} {row}"
            for lab, row in zip(s["confusion"]["labels"], s["confusion"]["matrix"], strict=True)
        ]
        if "calibration" in s:
            lines.append(f"calibration: ECE {s['calibration']['ece']:.3f}")
        for lang, f1 in report.get("sentiment_by_lang", {}).items():
            lines.append(f"  macro-F1 [{lang}] {f1:.3f}")
    t = report["topics"]
    lines += [
        "",
        "TOPICS  micro-F1 {:.3f}  macro-F1 {:.3f}  exact {:.3f}".format(
            t["micro_f1"], t["macro_f1"], t["exact_match"]
        ),
    ]
    lines += _label_table(t["labels"])
    if "aspects" in report:
        a = report["aspects"]
        lines += [
            "",
            (
                "PER-TOPIC SENTIMENT  pair micro-F1 {:.3f}  "
                "polarity accuracy on found topics {:.3f}"
            ).format(a["micro_f1"], a["polarity_accuracy_on_found_topics"]),
        ]
    return "\n".join(lines)


def _label_table(labels: dict[str, dict[str, float]]) -> list[str]:
    rows = [f"  {'label':<11}{'prec':>7}{'rec':>7}{'f1':>7}{'n':>7}"]
    rows += [
        f"  {k:<11}{v['precision']:>7.3f}{v['recall']:>7.3f}{v['f1']:>7.3f}{v['support']:>7}"
        for k, v in labels.items()
    ]
    return rows


def _prf(tp: int, fp: int, fn: int) -> dict[str, Any]:
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "support": tp + fn}
