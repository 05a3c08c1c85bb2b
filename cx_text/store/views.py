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
    ("source", "VARCHAR"),
    ("id", "VARCHAR"),
    ("created_at", "TIMESTAMP"),
    ("channel", "VARCHAR"),
    ("segment", "VARCHAR"),
    ("customer_id", "VARCHAR"),
    ("source_system", "VARCHAR"),
    ("lang", "VARCHAR"),
    ("text_clean", "VARCHAR"),
    ("sentiment", "VARCHAR"),
    ("sentiment_score", "DOUBLE"),
    ("topics", "VARCHAR[]"),
    ("topic_list", "VARCHAR"),
    ("subtopics", "VARCHAR[]"),
    ("nps", "DOUBLE"),
    ("csat", "DOUBLE"),
    ("ces", "DOUBLE"),
    ("rating", "DOUBLE"),
    ("row_status", "VARCHAR"),
    ("run_id", "VARCHAR"),
    ("tagged_at", "TIMESTAMP"),
)
MESSAGE_TOPICS_COLUMNS: tuple[tuple[str, str], ...] = (
    ("source", "VARCHAR"),
    ("id", "VARCHAR"),
    ("topic", "VARCHAR"),
    ("polarity", "VARCHAR"),
    ("score", "DOUBLE"),
    ("created_at", "TIMESTAMP"),
    ("channel", "VARCHAR"),
    ("segment", "VARCHAR"),
    ("run_id", "VARCHAR"),
)

LATEST_VIEWS = """
CREATE OR REPLACE VIEW latest_run_per_id AS
    SELECT r.source, t.id,
           arg_max(t.run_id, (NOT starts_with(t.row_status, 'error'), r.started_at, t.run_id)) AS \
run_id
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
    SELECT l.source AS message_source, e.* FROM evidence e JOIN latest_run_per_id l USING (run_id, \
id);
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

#: the views as migration 5 left them (migration 5 must not read tables that migration 6 adds)
VIEWS_V5 = LATEST_VIEWS + CONTRACT_VIEWS

#: migration 6: analysts' corrections (store/labels.py). ``latest_labels`` = the newest label per
#: (source, id, field, topic); ``current_labels`` = those made on the text the message has now
#: (a label whose text hash differs from the latest text is kept but not shown or applied).
LABEL_VIEWS = """
CREATE OR REPLACE VIEW latest_labels AS
    SELECT * FROM labels
    QUALIFY row_number() OVER (PARTITION BY source, id, field, topic
                               ORDER BY labelled_at DESC, label_id DESC) = 1;
CREATE OR REPLACE VIEW current_labels AS
    SELECT x.* FROM latest_labels x
    JOIN latest_run_per_id l USING (source, id) JOIN feedback f ON f.run_id = l.run_id AND f.id = \
l.id
    WHERE x.text_hash = sha256(coalesce(f.text, ''));
"""

#: the BI contract after migration 6: ``messages`` gains the analyst's corrections at the end
#: (the model's columns are never rewritten), ``message_topics`` the analyst's polarity. They
#: join ``latest_labels`` on the row's own text hash (= ``current_labels`` without evaluating the
#: latest-run aggregate again)
CONTRACT_VIEWS_V6 = (
    CONTRACT_VIEWS.replace(
        "f.rating, t.row_status, f.run_id, r.finished_at AS tagged_at\n",
        "f.rating, t.row_status, f.run_id, r.finished_at AS tagged_at,\n"
        "           ls.new_value AS analyst_sentiment,\n"
        "           CASE WHEN lt.new_value = '' THEN []::VARCHAR[]\n"
        "                ELSE string_split(lt.new_value, ';') END AS analyst_topics,\n"
        "           greatest(ls.labelled_at, lt.labelled_at) AS labelled_at\n",
    )
    .replace(
        "    JOIN runs r USING (run_id);\n",
        "    JOIN runs r USING (run_id)\n"
        "    LEFT JOIN (SELECT * FROM latest_labels WHERE field = 'sentiment') ls\n"
        "         ON ls.source = f.source AND ls.id = f.id AND ls.text_hash = "
        "sha256(coalesce(f.text, ''))\n"
        "    LEFT JOIN (SELECT * FROM latest_labels WHERE field = 'topics') lt\n"
        "         ON lt.source = f.source AND lt.id = f.id AND lt.text_hash = "
        "sha256(coalesce(f.text, ''));\n",
    )
    .replace(
        "           p.score, f.created_at, f.channel, f.segment, m.run_id\n"
        "    FROM mentions m LEFT JOIN polarity p USING (run_id, id, topic)\n"
        "    JOIN feedback f USING (run_id, id);",
        "           p.score, f.created_at, f.channel, f.segment, m.run_id, lp.new_value AS "
        "analyst_polarity\n"
        "    FROM mentions m LEFT JOIN polarity p USING (run_id, id, topic)\n"
        "    JOIN feedback f USING (run_id, id)\n"
        "    LEFT JOIN (SELECT * FROM latest_labels WHERE field = 'polarity') lp\n"
        "         ON lp.source = f.source AND lp.id = m.id AND lp.topic = m.topic\n"
        "         AND lp.text_hash = sha256(coalesce(f.text, ''));",
    )
)
LABELED_MESSAGES_COLUMNS: tuple[tuple[str, str], ...] = (
    ("analyst_sentiment", "VARCHAR"),
    ("analyst_topics", "VARCHAR[]"),
    ("labelled_at", "TIMESTAMP"),
)
LABELED_TOPICS_COLUMNS: tuple[tuple[str, str], ...] = (("analyst_polarity", "VARCHAR"),)

#: the views of the latest schema (every migration after 5 re-creates them)
VIEWS = LATEST_VIEWS + LABEL_VIEWS + CONTRACT_VIEWS_V6
