"""Recurring complaint themes: discover, label and keep stable ids across runs (docs/THEMES.md).

Within each topic, the negative clauses (evidence clauses whose aspect polarity for that topic is
negative) are embedded by the ``embed`` callable passed in, centred per language, assigned to the
topic's existing themes (cosine to centroid above the theme's threshold) and the leftovers
clustered into new themes (k-means on a sample, k by silhouette). Themes live in DuckDB with
ids like ``delivery:t007``; the first discovery of a topic makes them ``active``, later ones
``proposed`` until accepted. Analyst edits (rename / merge / split / accept) are logged in
``theme_edits`` and re-applied after every discovery. ``theme_members`` (id, theme_id, …) is the
view metrics join.

Typical use::

    enc = Encoder.load(settings)
    result = discover_themes(store, lambda t: enc.encode(t, prefix="query: "), lemmatize)
    list_themes(store, "delivery")
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cx_text.core.config import Settings
from cx_text.store.store import Store
from cx_text.themes.cluster import (
    ALL_LANGS,
    Cluster,
    ThemeParams,
    centre,
    embed_clauses,
    grow,
    space_means,
)
from cx_text.themes.db import (
    check_dimension,
    clusters_of,
    insert_theme,
    load_spaces,
    negative_clauses,
    new_theme_run_id,
    next_number,
    now,
    record_run,
    replace_memberships,
    retire_topics,
    save_spaces,
    theme_id,
    themes_frame,
)
from cx_text.themes.edits import (
    accept_theme,
    merge_themes,
    reapply_edits,
    relabel_topic,
    rename_theme,
    split_theme,
)
from cx_text.themes.label import Lemmatize, nlp_lemmatizer, simple_lemmatize
from cx_text.themes.query import coverage, list_themes, render_theme, render_themes, theme_quotes

Embed = Callable[[Sequence[str]], np.ndarray]

__all__ = [
    "Embed",
    "Lemmatize",
    "ThemeParams",
    "ThemeRunResult",
    "accept_theme",
    "coverage",
    "discover_themes",
    "embed_clauses",
    "list_themes",
    "load_theme_tools",
    "merge_themes",
    "nlp_lemmatizer",
    "rename_theme",
    "render_theme",
    "render_themes",
    "simple_lemmatize",
    "split_theme",
    "theme_quotes",
]

_MEMBER_COLS = [
    "theme_run_id",
    "run_id",
    "id",
    "topic",
    "clause",
    "clause_start",
    "clause_end",
    "lang",
    "theme_id",
    "similarity",
]


@dataclass(frozen=True)
class ThemeRunResult:
    """What one discovery did: counts per topic, new theme ids, the unassigned share."""

    theme_run_id: str
    per_topic: pd.DataFrame
    new_theme_ids: tuple[str, ...] = ()
    seconds: float = 0.0
    params: dict[str, float | int] = field(default_factory=dict)

    @property
    def clauses(self) -> int:
        return int(self.per_topic["clauses"].sum()) if len(self.per_topic) else 0

    @property
    def unassigned(self) -> int:
        return int(self.per_topic["unassigned"].sum()) if len(self.per_topic) else 0

    @property
    def unassigned_share(self) -> float:
        return self.unassigned / self.clauses if self.clauses else 0.0

    def render(self) -> str:
        if not self.clauses:
            return (
                "No negative clauses in the store yet — tag an export first (cx-text tag … --db)."
            )
        lines = [
            f"Theme run {self.theme_run_id}: {self.clauses:,} negative clauses in "
            f"{len(self.per_topic)} topic(s), {len(self.new_theme_ids)} new theme(s), "
            f"{self.unassigned_share:.1%} unassigned, {self.seconds:.1f}s."
        ]
        for row in self.per_topic.itertuples():
            lines.append(
                f"  {row.topic:<14} {row.clauses:>7,} clauses  {row.themes:>3} themes  "
                f"+{row.new_themes} new  unassigned {row.unassigned_share:.1%}"
            )
        if self.new_theme_ids:
            shown = ", ".join(self.new_theme_ids[:8])
            more = len(self.new_theme_ids) - 8
            lines.append(
                f"New: {shown}{f' … and {more} more' if more > 0 else ''}"
                " — review with `cx-text themes list` / `cx-text themes show ID`."
            )
        return "\n".join(lines)


def load_theme_tools(settings: Settings) -> tuple[Embed, Lemmatize]:
    """The real embedder (the settings' encoder, ``query: `` prefix) and the nlp lemmatizer.

    Falls back to :func:`simple_lemmatize` when the language layer cannot be built.
    """
    from cx_text.core.errors import ModelError
    from cx_text.models.encoder import Encoder

    encoder = Encoder.load(settings)
    try:
        from cx_text.text.nlp import NlpResources

        lemmatize = nlp_lemmatizer(NlpResources.load(ner=False))
    except (ImportError, ModelError):
        lemmatize = simple_lemmatize
    return (lambda texts: encoder.encode(texts, prefix="query: ")), lemmatize


def discover_themes(
    store: Store,
    embed: Embed,
    lemmatize: Lemmatize = simple_lemmatize,
    *,
    topic: str | None = None,
    settings: Settings | None = None,
    params: ThemeParams | None = None,
    full: bool = False,
    reset: bool = False,
) -> ThemeRunResult:
    """(Re)run discovery on the latest data of every topic (or one); returns what changed.

    Clauses already in a live theme keep it unless ``full``; only new and unassigned clauses
    are embedded. Names are recomputed (an analyst's name is kept) and edits re-applied.
    ``reset`` retires the topics' themes and starts afresh (needed after changing the encoder;
    new ids, old ones are never reused).
    """
    params = params or ThemeParams(seed=(settings or Settings()).seed)
    started, clock, run_id = now(), time.perf_counter(), new_theme_run_id()
    if reset:
        retire_topics(store, topic)
    clauses = negative_clauses(store, topic)
    rows, new_ids = [], []
    for name, group in clauses.groupby("topic", sort=True):
        stats, created = _discover_topic(
            store, str(name), group, embed, lemmatize, params, run_id, full
        )
        rows.append(stats)
        new_ids += created
    per_topic = pd.DataFrame(rows, columns=_STAT_COLS)
    result = ThemeRunResult(
        run_id, per_topic, tuple(new_ids), time.perf_counter() - clock, params.as_dict()
    )
    record_run(
        store,
        run_id,
        started,
        topic,
        params.as_dict(),
        {
            "topics": per_topic.to_dict("records"),
            "new": new_ids,
            "unassigned_share": result.unassigned_share,
        },
    )
    return result


_STAT_COLS = [
    "topic",
    "clauses",
    "embedded",
    "kept",
    "themes",
    "new_themes",
    "unassigned",
    "unassigned_share",
]


def _discover_topic(
    store: Store,
    topic: str,
    group: pd.DataFrame,
    embed: Embed,
    lemmatize: Lemmatize,
    params: ThemeParams,
    run_id: str,
    full: bool,
) -> tuple[dict[str, object], list[str]]:
    group = group.reset_index(drop=True)
    work = group if full else group[group["kept_theme_id"].isna()]
    known = themes_frame(store, topic)
    usable, targets = _usable(known)
    x = _centred(store, topic, work, embed, params, run_id)
    fresh, labels, sims = grow(x, clusters_of(usable), params)
    order = _by_size(fresh, labels, len(usable))
    status = "proposed" if known["status"].isin(["active", "proposed"]).any() else "active"
    with store.transaction():
        created = _insert_new(store, topic, [fresh[i] for i in order], status, run_id)
        ids = [*targets, *[created[order.index(i)] for i in range(len(fresh))]]
        members = _memberships(group, work, labels, sims, ids, run_id)
        replace_memberships(store, [topic], members)
        reapply_edits(store)
        relabel_topic(store, topic, lemmatize, params, run_id)
    unassigned = int(members["theme_id"].isna().sum())
    live = int(themes_frame(store, topic, ["active", "proposed"]).shape[0])
    return (
        {
            "topic": topic,
            "clauses": len(group),
            "embedded": len(work),
            "kept": len(group) - len(work),
            "themes": live,
            "new_themes": len(created),
            "unassigned": unassigned,
            "unassigned_share": unassigned / max(len(group), 1),
        },
        created,
    )


def _centred(
    store: Store, topic: str, work: pd.DataFrame, embed: Embed, params: ThemeParams, run_id: str
) -> np.ndarray:
    """Embeddings of the work clauses in the topic's centred space (means stored on first use)."""
    if work.empty:
        return np.zeros((0, 1), dtype=np.float32)
    raw = embed_clauses(embed, work["clause"].tolist())
    langs = work["lang"].astype(str).tolist()
    means = load_spaces(store, topic)
    check_dimension(topic, means, raw.shape[1])
    fresh = space_means(raw, langs, params.shrinkage, overall=means.get(ALL_LANGS))
    missing = {k: v for k, v in fresh.items() if k not in means}
    counts = {lang: (len(langs) if lang == ALL_LANGS else langs.count(lang)) for lang in missing}
    save_spaces(store, topic, missing, counts, run_id)
    return centre(raw, langs, {**missing, **means})


def _by_size(fresh: Sequence[Cluster], labels: np.ndarray, offset: int) -> list[int]:
    """Indexes of new clusters, biggest first (so t001 is the biggest theme of a first run)."""
    counts = np.bincount(labels[labels >= offset] - offset, minlength=len(fresh))
    return sorted(range(len(fresh)), key=lambda i: (-int(counts[i]), i))


def _insert_new(
    store: Store, topic: str, clusters: Sequence[Cluster], status: str, run_id: str
) -> list[str]:
    start = next_number(store, topic)
    ids = [theme_id(topic, start + i) for i in range(len(clusters))]
    for tid, cluster in zip(ids, clusters, strict=True):
        insert_theme(store, tid, topic, cluster, status, run_id)
    return ids


def _usable(known: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Themes whose centroids assign, and the live id each assigns to (merged -> survivor)."""
    into = {
        t: m
        for t, m, s in zip(known["theme_id"], known["merged_into"], known["status"], strict=True)
        if s == "merged" and isinstance(m, str)
    }
    live = set(known.loc[known["status"].isin(["active", "proposed"]), "theme_id"])
    targets = []
    for tid in known["theme_id"]:
        seen = {tid}
        while tid in into and into[tid] not in seen:
            tid = into[tid]
            seen.add(tid)
        targets.append(tid)
    keep = [t in live for t in targets]
    mask = np.array(keep, dtype=bool)
    return known.loc[mask].reset_index(drop=True), [
        t for t, k in zip(targets, keep, strict=True) if k
    ]


def _memberships(
    group: pd.DataFrame,
    work: pd.DataFrame,
    labels: np.ndarray,
    sims: np.ndarray,
    ids: Sequence[str],
    run_id: str,
) -> pd.DataFrame:
    out = group.assign(theme_id=group["kept_theme_id"], similarity=group["kept_similarity"])
    out = out.astype({"theme_id": object, "similarity": "float64"})
    assigned = [ids[k] if k >= 0 else None for k in labels.tolist()]
    out.loc[work.index, "theme_id"] = pd.Series(assigned, index=work.index, dtype=object)
    out.loc[work.index, "similarity"] = sims.astype("float64")
    out["theme_run_id"] = run_id
    return out[_MEMBER_COLS].reset_index(drop=True)
