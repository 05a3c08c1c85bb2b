"""The store's views: what queries and BI tools read (docs/STORE.md, "SQL contract").

A message is identified by ``(source, id)``: ``source`` names the export it came from, ``id`` is
its id inside that export. Every view joins and groups by that pair (or by ``(run_id, id)``,
which is unique too: a run tags one source and ids are unique inside a run).

"Latest" = for every message, the newest *complete* run whose row for it was not an error; if
every complete run failed on that message, the newest complete run (its error row keeps the
message visible). Runs that are running, interrupted, failed or discarded are invisible.

``messages`` and ``message_topics`` are the stable contract for Excel / Metabase / Superset /
Power BI: their columns (names, order, types) only ever grow at the end, never change.
"""

from __future__ import annotations

#: the BI contract: (column, DuckDB type) in order — tests check migrated stores keep them
MESSAGES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"), ("id", "VARCHAR"), ("created_at", "TIMESTAMP"), ("channel", "VARCHAR"),
    ("segment", "VARCHAR"), ("customer_id", "VARCHAR"), ("source_system", "VARCHAR"),
    ("lang", "VARCHAR"), ("text_clean", "VARCHAR"), ("sentiment", "VARCHAR"),
    ("sentiment_score", "DOUBLE"), ("topics", "VARCHAR[]"), ("topic_list", "VARCHAR"),
    ("subtopics", "VARCHAR[]"), ("nps", "DOUBLE"), ("csat", "DOUBLE"), ("ces", "DOUBLE"),
    ("rating", "DOUBLE"), ("row_status", "VARCHAR"), ("run_id", "VARCHAR"), ("tagged_at", "TIMESTAMP"),
)
MESSAGE_TOPICS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"), ("id", "VARCHAR"), ("topic", "VARCHAR"), ("polarity", "VARCHAR"),
    ("score", "DOUBLE"), ("created_at", "TIMESTAMP"), ("channel", "VARCHAR"), ("segment", "VARCHAR"),
    ("run_id", "VARCHAR"),
)

LATEST_VIEWS = """
CREATE OR REPLACE VIEW latest_run_per_id AS
    SELECT r.source, t.id,
           arg_max(t.run_id, (NOT starts_with(t.row_status, 'error'), r.started_at, t.run_id)) AS run_id
    FROM tags t JOIN runs r USING (run_id)
    WHERE r.status = 'complete'
    GROUP BY r.source, t.id;
CREATE OR REPLACE VIEW latest_tags AS
    SELECT l.source, t.* FROM tags t JOIN latest_run_per_id l USING (run_id, id);
CREATE OR REPLACE VIEW tagged AS
    SELECT f.*, t.row_index, t.lang, t.lang_confidence, t.sentiment, t.sentiment_score, t.topics,
           t.subtopics, t.topic_scores, t.pii_found, t.dedupe_key, t.row_status, t.row_issues
    FROM feedback f JOIN latest_run_per_id l USING (run_id, id) JOIN tags t USING (run_id, id);
CREATE OR REPLACE VIEW latest_aspects AS
    SELECT l.source, a.* FROM aspects a JOIN latest_run_per_id l USING (run_id, id);
CREATE OR REPLACE VIEW latest_evidence AS
    SELECT l.source AS message_source, e.* FROM evidence e JOIN latest_run_per_id l USING (run_id, id);
CREATE OR REPLACE VIEW theme_members AS
    SELECT DISTINCT r.source, m.id, m.theme_id, th.topic, th.label, th.status
    FROM theme_memberships m JOIN themes th USING (theme_id) JOIN runs r USING (run_id)
    WHERE th.status IN ('active', 'proposed');
"""

CONTRACT_VIEWS = """
CREATE OR REPLACE VIEW messages AS
    SELECT f.source, f.id, f.created_at, f.channel, f.segment, f.customer_id, f.source_system,
           t.lang, f.text AS text_clean, t.sentiment, t.sentiment_score, t.topics,
           array_to_string(t.topics, ';') AS topic_list, t.subtopics, f.nps, f.csat, f.ces,
           f.rating, t.row_status, f.run_id, r.finished_at AS tagged_at
    FROM feedback f JOIN latest_run_per_id l USING (run_id, id) JOIN tags t USING (run_id, id)
    JOIN runs r USING (run_id);
CREATE OR REPLACE VIEW message_topics AS
    WITH mentions AS (
        SELECT t.run_id, t.id, unnest(t.topics) AS topic, t.sentiment
        FROM tags t JOIN latest_run_per_id l USING (run_id, id)),
    polarity AS (
        SELECT a.run_id, a.id, a.topic, arg_max(a.polarity, abs(coalesce(a.score, 0))) AS polarity,
               avg(a.score) AS score
        FROM aspects a JOIN latest_run_per_id l USING (run_id, id) GROUP BY ALL)
    SELECT f.source, m.id, m.topic, coalesce(p.polarity, nullif(m.sentiment, '')) AS polarity,
           p.score, f.created_at, f.channel, f.segment, m.run_id
    FROM mentions m LEFT JOIN polarity p USING (run_id, id, topic)
    JOIN feedback f USING (run_id, id);
"""

VIEWS = LATEST_VIEWS + CONTRACT_VIEWS
