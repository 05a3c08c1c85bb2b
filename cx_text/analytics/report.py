"""One call for ``cx-text metrics``: build the asked sections, render them as text or JSON.

:func:`build_report` returns ``{section: DataFrame}`` plus notes; :func:`render_text` prints
readable tables with CIs (low-n cells replaced by ``n<30``) and the formulas used;
:func:`render_json` is the same for machines (values kept, ``low_n`` flags included).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from cx_text.analytics import drivers, metrics, trends
from cx_text.analytics.filters import (
    PERIODS,
    TOPIC_DIMENSIONS,
    Filters,
    check_dimension,
)
from cx_text.core.config import Settings

CHURN_FORMULA = (
    "churn complained vs other: churn of cohort customers who mentioned the topic "
    "negatively vs those who did not; two-proportion z-test, Wald CI on the difference; "
    "revenue at risk = LTV of not-yet-churned detractors (0–6) who complained"
)
ALERT_FORMULA = (
    "alert = robust z ≥ 4 against the previous 8 periods (median, 1.4826·MAD floored "
    "at the Poisson/binomial s.e.) AND one-sided exact test p < 0.001 (Poisson for volume, "
    "binomial for negative share); change = Poisson rate test / two-proportion z, Holm-adjusted"
)
_SHOWN = [
    ("volume", "n"),
    ("nps", "NPS"),
    ("csat", "CSAT %"),
    ("ces", "CES 1–7"),
    ("neg_share", "% neg"),
    ("topic_neg_share", "topic % neg"),
    ("churn_rate", "churn %"),
    ("ltv", "LTV"),
    ("nps_impact", "NPS impact"),
]


@dataclass(frozen=True)
class MetricsRequest:
    """What ``cx-text metrics`` was asked for."""

    by: str = "overall"
    filters: Filters = field(default_factory=Filters)
    impact: bool = False
    drivers: bool = False
    churn: bool = False
    trends: bool = False
    alerts: bool = False
    compare: str | None = None
    period: str = "week"
    level: str = "topic"


def build_report(store: Any, request: MetricsRequest, settings: Settings) -> dict[str, Any]:
    """Compute every asked section; ``{"sections": {name: frame}, "notes": [...]}``."""
    check_dimension(request.by)
    metrics.require_rows(store)
    f, s, lvl = request.filters, settings, request.level
    sections: dict[str, pd.DataFrame] = {"metrics": metrics.metrics_by(store, request.by, f, s)}
    notes: list[str] = []
    if request.by in TOPIC_DIMENSIONS or request.impact:
        level = request.by if request.by in TOPIC_DIMENSIONS else lvl
        sections["impact"] = drivers.topic_impact(store, f, s, level)
    if request.drivers:
        sections["drivers"], sentence = drivers.key_drivers(store, f, s, lvl)
        notes.append(sentence)
    if request.churn:
        sections["churn"] = drivers.churn_and_revenue(store, f, s, lvl)
    if request.trends or request.alerts:
        series = trends.topic_trends(store, f, s, request.period, lvl)
        if request.trends:
            sections["trends"] = series
            sections["change"] = trends.period_change(series, s)
        if request.alerts:
            sections["alerts"] = trends.detect_alerts(series, s)
    if request.compare:
        sections["compare"] = trends.compare_groups(store, f, s, request.compare)
    return {"request": request, "min_n": s.min_n, "sections": sections, "notes": notes}


def _cell(value: float, lo: float, hi: float, low_n: bool, min_n: int, digits: int = 1) -> str:
    if value is None or not np.isfinite(value):
        return "—"
    if low_n:
        return f"n<{min_n}"
    text = f"{value:,.{digits}f}"
    return text if not np.isfinite(lo) else f"{text} [{lo:,.{digits}f}, {hi:,.{digits}f}]"


def metrics_table(long: pd.DataFrame, min_n: int) -> pd.DataFrame:
    """The wide, formatted table ``render_text`` prints (one row per group)."""
    indexed = long.set_index(["key", "metric"])
    keys = list(dict.fromkeys(long["key"]))
    if long["dimension"].iloc[0] not in PERIODS:
        volume = indexed.xs("volume", level="metric")["value"]
        keys = sorted(keys, key=lambda k: (-volume.get(k, 0), k))
    rows = []
    for key in keys:
        row = {long["dimension"].iloc[0]: key}
        for metric, title in _SHOWN:
            if (key, metric) in indexed.index:
                r = indexed.loc[(key, metric)]
                digits = 0 if metric in ("volume", "ltv") else 2 if metric == "ces" else 1
                row[title] = _cell(r["value"], r["lo"], r["hi"], bool(r["low_n"]), min_n, digits)
        rows.append(row)
    return pd.DataFrame(rows)


def render_text(report: dict[str, Any]) -> str:
    """Readable tables and the formulas used."""
    request: MetricsRequest = report["request"]
    sections, min_n = report["sections"], report["min_n"]
    long = sections["metrics"]
    if long.empty and request.by == "theme":
        return (
            "No theme members in the store yet: run `cx-text themes` first, or pick another --by."
        )
    if long.empty:
        return f"No messages match the filters ({_describe(request.filters)})."
    impact = sections.get("impact")
    merged = (
        long
        if impact is None or request.by not in TOPIC_DIMENSIONS
        else pd.concat([long, impact], ignore_index=True)
    )
    out = [
        f"CX metrics by {request.by} ({_describe(request.filters)}); 95% CIs in brackets, "
        f"n<{min_n} = too few answers to show",
        _table(metrics_table(merged, min_n)),
    ]
    for name, title in (
        ("impact", "Impact on NPS / CSAT / CES"),
        ("drivers", "Key drivers (Shapley R² shares)"),
        ("churn", "Churn and revenue at risk"),
        ("alerts", "Alerts"),
        ("change", "Latest period vs previous"),
        ("compare", f"{request.compare} vs the rest"),
        ("trends", f"Trends by {request.period}"),
    ):
        if name in sections and not (
            name == "impact" and request.by in TOPIC_DIMENSIONS and not request.impact
        ):
            out += ["", title, _section_text(name, sections[name])]
    out += [
        "",
        *report["notes"],
        "Formulas:",
        *[f"  {k}: {v}" for k, v in _formulas(sections).items()],
    ]
    return "\n".join(out)


def _section_text(name: str, frame: pd.DataFrame) -> str:
    if frame.empty:
        return "  (none)" if name == "alerts" else "  (not enough data)"
    if name == "alerts":
        return "\n".join(f"  ! {m}" for m in frame["message"])
    drop = [c for c in ("dimension", "ci_method", "overall", "without") if c in frame.columns]
    return _table(_readable(frame.drop(columns=drop)))


def _readable(frame: pd.DataFrame) -> pd.DataFrame:
    """Dates as days, p-values to 3 significant digits, other floats to 2 decimals."""
    out = frame.copy()
    for col in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[col]):
            out[col] = out[col].dt.strftime("%Y-%m-%d")
        elif col.startswith("p_") and pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].map(lambda v: "—" if pd.isna(v) else f"{v:.3g}")
        elif pd.api.types.is_float_dtype(out[col]):
            out[col] = out[col].round(3 if col in ("shapley", "share") else 2)
    return out


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(index=False, na_rep="—", max_rows=200)


def _formulas(sections: dict[str, pd.DataFrame]) -> dict[str, str]:
    shown = set(sections["metrics"]["metric"])
    out = {k: v for k, v in metrics.FORMULAS.items() if k in shown}
    if "impact" in sections:
        out["impact"] = metrics.IMPACT_FORMULA
    if "churn" in sections:
        out["churn by topic"] = CHURN_FORMULA
    if "alerts" in sections or "change" in sections:
        out["alerts/change"] = ALERT_FORMULA
    return out


def _describe(filters: Filters) -> str:
    parts = [f"{k}={v}" for k, v in asdict(filters).items() if v not in (None, ())]
    return ", ".join(parts) or "all messages"


def render_json(report: dict[str, Any]) -> str:
    """Every section as records, plus request, formulas and notes."""
    sections = report["sections"]
    payload = {
        "request": json.loads(json.dumps(asdict(report["request"]), default=str)),
        "min_n": report["min_n"],
        "sections": {
            k: json.loads(v.to_json(orient="records", date_format="iso", force_ascii=False))
            for k, v in sections.items()
        },
        "formulas": _formulas(sections) if not sections["metrics"].empty else metrics.FORMULAS,
        "notes": report["notes"],
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)
