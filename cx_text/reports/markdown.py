"""Markdown lines of a team report from the shared view model (see :mod:`cx_text.reports.render`).

Every value that can hold customer or user text goes through ``esc`` (pipes, emphasis, HTML
tags and line breaks escaped), so a quote cannot break the table or inject markup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Esc = Callable[[Any], str]


def markdown_lines(v: dict[str, Any], esc: Esc) -> list[str]:
    """The whole report as Markdown lines."""
    lines = [
        f"# {esc(v['team'])}: customer feedback, {esc(v['period'])}",
        "",
        f"*{esc(v['team_ru'])} · period {v['period_span']} compared with {esc(v['previous'])} · "
        f"generated {v['generated']} by cx_text*",
        "",
    ]
    lines += [f"> **Note:** {esc(n)}" for n in v["notes"]]
    for part in (_headline, _themes, _items, _verified, _followups, _methods):
        lines += ["", *part(v, esc)]
    return lines


def _table(header: list[str], rows: list[list[str]], right: set[int] | None = None) -> list[str]:
    right = right or set()
    align = ["---:" if i in right else "---" for i in range(len(header))]
    return [
        "| " + " | ".join(header) + " |",
        "| " + " | ".join(align) + " |",
        *("| " + " | ".join(r) + " |" for r in rows),
    ]


def _headline(v: dict[str, Any], esc: Esc) -> list[str]:
    rows = [
        [
            esc(r["label"]),
            f"**{r['value']}**",
            r["ci"],
            r["previous"],
            r["change"] + (" ★" if r["significant"] else ""),
            r["p"],
            r["n"],
        ]
        for r in v["headline"]
    ]
    return [
        "## 1. Headline metrics",
        "",
        *_table(
            ["Metric", esc(v["period"]), "95% CI", esc(v["previous"]), "Change", "p", "n"],
            rows,
            {1, 2, 3, 4, 5, 6},
        ),
        "",
        "★ = significant change (p < 0.05).",
    ]


def _themes(v: dict[str, Any], esc: Esc) -> list[str]:
    head = [f"## 2. Your {v['level']}s, ranked by what they cost in NPS", ""]
    if not v["themes"]:
        return [*head, f"No complaints about this team's topics in {esc(v['period'])}."]
    rows = [
        [
            str(i),
            f"**{esc(t['label'])}** `{esc(t['key'])}`" + (" *(few answers)*" if t["low_n"] else ""),
            t["volume"],
            f"{t['volume_prev']} ({t['change']})",
            f"{t['impact']} {t['impact_ci']}",
            t["spark_text"],
            " · ".join(f"“{esc(q)}”" for q in t["quotes"]),
        ]
        for i, t in enumerate(v["themes"], 1)
    ]
    return [
        *head,
        *_table(
            [
                "#",
                v["level"].capitalize(),
                "Complaints",
                f"vs {esc(v['previous'])}",
                "NPS impact (95% CI)",
                "13 weeks",
                "Customers say",
            ],
            rows,
            {0, 2, 3, 4},
        ),
    ]


def _items(v: dict[str, Any], esc: Esc) -> list[str]:
    head = ["## 3. Open register items", ""]
    if not v["items"]:
        return [*head, "No open items."]
    rows = [
        [
            str(i["id"]),
            f"{esc(i['title'])} `{esc(i['subject'])}`",
            esc(i["status"]),
            esc(i["owner"]),
            i["due"] + (" **overdue**" if i["overdue"] else ""),
            i["fixed"],
            esc(i["verdict"]),
            str(i["followup"]),
        ]
        for i in v["items"]
    ]
    return [
        *head,
        *_table(
            ["#", "Item", "Status", "Owner", "Due", "Fixed", "Re-measured", "Follow up"],
            rows,
            {0, 7},
        ),
    ]


def _verified(v: dict[str, Any], esc: Esc) -> list[str]:
    head = ["## 4. You said, we did", ""]
    if not v["verified"]:
        return [*head, "No verified fixes yet."]
    out = head
    for r in v["verified"]:
        out += [
            f"- **You said:** {esc(r['title'])} `{esc(r['subject'])}` — **we did:** "
            f"{esc(r['did'] or 'fixed')} (live {r['fixed']}) — **result:** complaints "
            f"{r['share']} of "
            f"all feedback (p {r['p']}), {r['weekly']} per week, NPS impact {r['impact']} points."
        ]
    return out


def _followups(v: dict[str, Any], esc: Esc) -> list[str]:
    out = [
        "## 5. Customers to follow up",
        "",
        f"**{v['followup_total']}** detractors mentioned an open item's theme in "
        f"{esc(v['period'])} "
        "and left a customer id.",
    ]
    if v["followups"]:
        rows = [
            [
                str(f["item_id"]),
                esc(f["title"]),
                esc(f["status"]),
                str(f["customers"]),
                str(f["anonymous"]),
            ]
            for f in v["followups"]
        ]
        out += [
            "",
            *_table(["#", "Item", "Status", "Customers", "Anonymous"], rows, {0, 3, 4}),
            "",
            "Export for the CRM: `cx-text loop followup ID -o followup.xlsx` (PII stays masked).",
        ]
    return out


def _methods(v: dict[str, Any], esc: Esc) -> list[str]:
    return [
        "## How the numbers are computed",
        "",
        *(f"- {esc(m)}" for m in v["methods"]),
        "- Re-measurement: share of all feedback before vs after the fix date (two-proportion "
        "z-test), weekly volume (Poisson rate ratio), NPS impact change (bootstrap CI).",
    ]
