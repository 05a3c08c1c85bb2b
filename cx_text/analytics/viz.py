"""Chart builders shared by the app and the reports: small frame in, Altair chart out.

Pure functions, no Streamlit. Every chart has a title, axis titles with units and the formula
of its metric as a subtitle and in the tooltip, so a manager can read it without the docs.
Groups with too few answers (``low_n``) are drawn grey and say so in the tooltip.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import pandas as pd

from cx_text.analytics.metrics import FORMULAS, IMPACT_FORMULA

SENTIMENT_COLORS = {
    "negative": "#d62728",
    "neutral": "#9e9e9e",
    "positive": "#2ca02c",
    "untagged": "#dddddd",
}
BAR_COLOR, LOW_N_COLOR, ALERT_COLOR = "#4c78a8", "#c7c7c7", "#d62728"
METRIC_TITLES = {
    "nps": "NPS, points (−100…100)",
    "csat": "CSAT, % satisfied (4–5 of 5)",
    "ces": "CES, mean ease (1–7, 7 = easiest)",
    "neg_share": "% negative messages",
    "volume": "messages",
    "volume_share": "% of all messages",
    "churn_rate": "churn, % of customers",
    "topic_neg_share": "% negative mentions",
}


def _title(text: str, subtitle: str | None = None) -> alt.TitleParams:
    return alt.TitleParams(text=text, subtitle=subtitle or "", anchor="start", subtitleColor="#666")


def _named(frame: pd.DataFrame, names: Mapping[str, str] | None, col: str = "key") -> pd.DataFrame:
    out = frame.copy()
    out["name"] = [str((names or {}).get(k, k)) for k in out[col]]
    return out


def empty_chart(message: str) -> alt.Chart:
    """A chart that only says why there is nothing to draw."""
    return (
        alt.Chart(pd.DataFrame({"m": [message]}))
        .mark_text(size=14, color="#666")
        .encode(text="m:N")
        .properties(height=60)
    )


def impact_chart(
    impact: pd.DataFrame,
    metric: str = "nps_impact",
    names: Mapping[str, str] | None = None,
    title: str = "What costs NPS",
    x_title: str = "NPS impact, points",
) -> alt.Chart:
    """Horizontal bars of remove-topic impact with 95% CIs, worst (most negative) first."""
    rows = impact[impact["metric"] == metric] if "metric" in impact.columns else impact
    if rows.empty:
        return empty_chart("No topic has enough negative mentions to measure its impact.")
    data = _named(rows, names).assign(low_n=rows["low_n"].astype(bool).to_numpy())
    data["effect"] = [
        "too few answers" if low else "costs points" if v < 0 else "adds points"
        for low, v in zip(data["low_n"], data["value"], strict=True)
    ]
    data = data.sort_values("value", ascending=True)
    order = data["name"].tolist()
    y = alt.Y("name:N", sort=order, title=None)
    tip = [
        alt.Tooltip("name:N", title="group"),
        alt.Tooltip("value:Q", title=x_title, format=".1f"),
        alt.Tooltip("lo:Q", title="95% CI from", format=".1f"),
        alt.Tooltip("hi:Q", title="95% CI to", format=".1f"),
        alt.Tooltip("n:Q", title="negative mentions"),
        alt.Tooltip("low_n:N", title="too few answers"),
    ]
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            x=alt.X("value:Q", title=x_title),
            y=y,
            tooltip=tip,
            color=alt.Color(
                "effect:N",
                title=None,
                scale=alt.Scale(
                    domain=["costs points", "adds points", "too few answers"],
                    range=[ALERT_COLOR, "#2ca02c", LOW_N_COLOR],
                ),
            ),
        )
    )
    ci = alt.Chart(data).mark_rule(color="#333").encode(x="lo:Q", x2="hi:Q", y=y, tooltip=tip)
    return (bars + ci).properties(
        title=_title(title, IMPACT_FORMULA), height=max(120, 26 * len(data))
    )


def trend_chart(
    series: pd.DataFrame,
    alerts: pd.DataFrame | None = None,
    value: str = "volume",
    names: Mapping[str, str] | None = None,
    title: str = "Trend",
    y_title: str | None = None,
    keys: Sequence[str] | None = None,
) -> alt.LayerChart:
    """One line per key over periods; alerts (anomalies) drawn as red circles with their message."""
    data = series if keys is None else series[series["key"].isin(list(keys))]
    if data.empty:
        return alt.LayerChart(layer=[empty_chart("No messages in this period.")])
    data = _named(data, names)
    y_title = y_title or METRIC_TITLES.get(value, value)
    tip = [
        alt.Tooltip("name:N", title="group"),
        alt.Tooltip("period:T", title="period from"),
        alt.Tooltip(f"{value}:Q", title=y_title, format=",.1f"),
        alt.Tooltip("volume:Q", title="messages"),
        alt.Tooltip("low_n:N", title="too few answers"),
    ]
    base = alt.Chart(data).encode(
        x=alt.X("period:T", title="period"),
        y=alt.Y(f"{value}:Q", title=y_title),
        color=alt.Color("name:N", title=None),
        tooltip=tip,
    )
    layers: list[Any] = [base.mark_line(point=True)]
    marks = _alert_points(data, alerts, value)
    if marks is not None:
        layers.append(marks)
    subtitle = FORMULAS.get(value, "") + (
        "; red circles = anomalies (alerts)" if marks is not None else ""
    )
    return alt.LayerChart(layer=layers).properties(title=_title(title, subtitle), height=320)


def _alert_points(data: pd.DataFrame, alerts: pd.DataFrame | None, value: str) -> alt.Chart | None:
    metric = "neg_share" if value == "neg_share" else "volume"
    if alerts is None or alerts.empty or value not in ("volume", "neg_share"):
        return None
    hits = alerts[alerts["metric"] == metric][["period", "key", "message"]]
    hits = hits.assign(period=pd.to_datetime(hits["period"]))
    points = data.merge(hits, on=["period", "key"], how="inner")
    if points.empty:
        return None
    return (
        alt.Chart(points)
        .mark_point(shape="circle", size=260, filled=False, color=ALERT_COLOR, strokeWidth=3)
        .encode(x="period:T", y=f"{value}:Q", tooltip=[alt.Tooltip("message:N", title="alert")])
    )


def sentiment_mix_chart(mix: pd.DataFrame, title: str = "Sentiment of the messages") -> alt.Chart:
    """One stacked bar: share of negative / neutral / positive messages (``sentiment, n,
    share``)."""
    if mix.empty:
        return empty_chart("No messages.")
    order = [s for s in SENTIMENT_COLORS if s in set(mix["sentiment"])]
    return (
        alt.Chart(mix.assign(row=""))
        .mark_bar()
        .encode(
            y=alt.Y("row:N", title=None, axis=None),
            x=alt.X("share:Q", title="% of messages", stack="normalize", axis=alt.Axis(format="%")),
            color=alt.Color(
                "sentiment:N",
                sort=order,
                title=None,
                scale=alt.Scale(domain=order, range=[SENTIMENT_COLORS[s] for s in order]),
            ),
            order=alt.Order("sentiment:N"),
            tooltip=[
                alt.Tooltip("sentiment:N"),
                alt.Tooltip("n:Q", title="messages"),
                alt.Tooltip("share:Q", title="%", format=".1f"),
            ],
        )
        .properties(
            title=_title(title, "overall sentiment of each message in the theme"), height=70
        )
    )


def compare_chart(
    compare: pd.DataFrame,
    metric: str = "nps",
    names: Mapping[str, str] | None = None,
    title: str = "Groups compared",
) -> alt.Chart:
    """Each group's value with its difference-vs-rest CI; significant groups dark, others light."""
    rows = compare[compare["metric"] == metric] if len(compare) else compare
    if rows.empty:
        return empty_chart("Nothing to compare with these filters.")
    data = _named(rows, names).assign(
        mark=[
            "★ significant" if s else ("too few answers" if low else "not significant")
            for s, low in zip(rows["significant"], rows["low_n"], strict=True)
        ]
    )
    y_title = METRIC_TITLES.get(metric, metric)
    tip = [
        alt.Tooltip("name:N", title="group"),
        alt.Tooltip("value:Q", title=y_title, format=".1f"),
        alt.Tooltip("rest:Q", title="all other groups", format=".1f"),
        alt.Tooltip("diff:Q", title="difference", format="+.1f"),
        alt.Tooltip("lo:Q", title="95% CI from", format="+.1f"),
        alt.Tooltip("hi:Q", title="95% CI to", format="+.1f"),
        alt.Tooltip("p_adj:Q", title="p (Holm-adjusted)", format=".3g"),
        alt.Tooltip("n:Q", title="answers"),
        alt.Tooltip("mark:N", title="verdict"),
    ]
    scale = alt.Scale(
        domain=["★ significant", "not significant", "too few answers"],
        range=[BAR_COLOR, "#a6bddb", LOW_N_COLOR],
    )
    bars = (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort="-x", title=None),
            x=alt.X("value:Q", title=y_title),
            color=alt.Color("mark:N", scale=scale, title=None),
            tooltip=tip,
        )
    )
    rest = (
        alt.Chart(data)
        .mark_tick(color="#333", thickness=2, size=22)
        .encode(y=alt.Y("name:N", sort="-x"), x="rest:Q", tooltip=tip)
    )
    subtitle = (
        f"{FORMULAS.get(metric, metric)}. Black tick = all other groups; "
        "★ = differs from the rest, p < 0.05 after Holm"
    )
    return (bars + rest).properties(title=_title(title, subtitle), height=max(120, 30 * len(data)))


def affected_chart(
    affected: pd.DataFrame,
    names: Mapping[str, str] | None = None,
    title: str = "Who is most affected",
) -> alt.Chart:
    """Share of each group's messages that fall in the theme, significant lifts dark."""
    if affected.empty:
        return empty_chart("No messages.")
    data = affected.assign(
        name=[
            f"{d}: {(names or {}).get(k, k)}"
            for d, k in zip(affected["dimension"], affected["key"], strict=True)
        ]
    )
    data = data.assign(
        mark=["★ significant" if s else "not significant" for s in data["significant"]]
    )
    tip = [
        alt.Tooltip("name:N", title="group"),
        alt.Tooltip("share:Q", title="% of its messages", format=".1f"),
        alt.Tooltip("rest:Q", title="% elsewhere", format=".1f"),
        alt.Tooltip("lift:Q", format=".2f"),
        alt.Tooltip("in_theme:Q", title="messages in theme"),
        alt.Tooltip("p_adj:Q", title="p (Holm)", format=".3g"),
    ]
    scale = alt.Scale(domain=["★ significant", "not significant"], range=[ALERT_COLOR, "#a6bddb"])
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("name:N", sort="-x", title=None),
            x=alt.X("share:Q", title="% of the group's messages in the theme"),
            color=alt.Color("mark:N", scale=scale, title=None),
            tooltip=tip,
        )
        .properties(
            title=_title(
                title,
                "share = group messages in the theme / all group messages; "
                "★ = higher or lower than elsewhere, p < 0.05 (Holm)",
            ),
            height=max(120, 22 * len(data)),
        )
    )


def rank_chart(
    frame: pd.DataFrame,
    value: str,
    label: str = "label",
    key: str = "theme_id",
    title: str = "Themes",
    x_title: str = "messages",
) -> alt.Chart:
    """Horizontal bars of ``value`` per row, in the frame's order (top first); ``key`` keeps
    rows with the same label apart."""
    if frame.empty:
        return empty_chart("No themes yet.")
    data = frame.assign(
        name=[f"{str(lbl)[:48]} · {k}" for lbl, k in zip(frame[label], frame[key], strict=True)]
    )
    return (
        alt.Chart(data)
        .mark_bar(color=BAR_COLOR)
        .encode(
            y=alt.Y("name:N", sort=None, title=None, axis=alt.Axis(labelLimit=360)),
            x=alt.X(f"{value}:Q", title=x_title),
            tooltip=[
                alt.Tooltip("name:N", title="theme"),
                alt.Tooltip(f"{value}:Q", title=x_title, format=",.2f"),
            ],
        )
        .properties(title=_title(title), height=max(120, 24 * len(data)))
    )


def change_chart(
    change: pd.DataFrame,
    names: Mapping[str, str] | None = None,
    title: str = "Period vs the one before",
) -> alt.Chart:
    """Dumbbells: negative share previous → current per topic; significant changes red."""
    if change.empty:
        return empty_chart("Needs at least two periods.")
    data = _named(change, names).assign(
        mark=[
            "★ significant" if (p < 0.05 and not low) else "not significant"
            for p, low in zip(change["p_neg_adj"].fillna(1.0), change["low_n"], strict=True)
        ]
    )
    long = pd.concat(
        [
            data.assign(when="previous", share=data["neg_share_prev"]),
            data.assign(when="current", share=data["neg_share_cur"]),
        ],
        ignore_index=True,
    )
    long = long[["name", "when", "share", "mark", "diff", "p_neg_adj", "volume_prev", "volume_cur"]]
    tip = [
        alt.Tooltip("name:N", title="group"),
        alt.Tooltip("when:N"),
        alt.Tooltip("share:Q", title="% negative", format=".1f"),
        alt.Tooltip("diff:Q", title="change, points", format="+.1f"),
        alt.Tooltip("p_neg_adj:Q", title="p (Holm)", format=".3g"),
        alt.Tooltip("volume_prev:Q", title="mentions before"),
        alt.Tooltip("volume_cur:Q", title="mentions now"),
    ]
    y = alt.Y("name:N", title=None)
    rule = alt.Chart(long).mark_line(color="#999").encode(x="share:Q", y=y, detail="name:N")
    dots = (
        alt.Chart(long)
        .mark_point(filled=True, size=90)
        .encode(
            x=alt.X("share:Q", title="% negative mentions"),
            y=y,
            tooltip=tip,
            color=alt.Color(
                "when:N",
                scale=alt.Scale(domain=["previous", "current"], range=["#9e9e9e", ALERT_COLOR]),
                title=None,
            ),
            shape=alt.Shape("mark:N", title=None),
        )
    )
    subtitle = (
        "% negative = negative mentions / all mentions of the topic; two-proportion z-test, "
        "Holm-adjusted"
    )
    return (rule + dots).properties(
        title=_title(title, subtitle), height=max(120, 26 * change["key"].nunique())
    )
