"""DuckDB schema of the cx_text store, as numbered migrations (see docs/STORE.md).

A migration is applied once and recorded in ``schema_migrations``; never edit an applied
migration — add a new one. Tables:

* ``runs``        one row per tagging run: manifest (models, versions, checksums, taxonomy,
                  settings), input file, status, summary.
* ``feedback``    per (run, id): the message's source export, canonical input columns (the input's
                  ``source`` column is ``source_system``), PII-masked text.
* ``tags``        per (run, id): language, sentiment, topics, row status.
* ``aspects``     per (run, id, topic): polarity and score — the long table metrics group by.
* ``evidence``    per (run, id, topic, clause): the clause and the words that triggered a topic.
* ``customers``   customer_id, signup, churned_at, ltv (from ``--customers``).
* ``run_chunks``  chunks finished per run — what ``--resume`` continues from.
* ``labels``      analysts' corrections and confirmations (migration 6, store/labels.py).

A message is identified by ``(source, id)`` (migration 5, store/upgrade.py). Views (store/views.py;
"latest" = the newest complete run with a good row for each message): ``latest_tags``, ``tagged``
(feedback ⨝ latest_tags), ``latest_aspects``, ``latest_evidence`` and the BI contract ``messages``,
``message_topics``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cx_text.store.upgrade import upgrade_to_v5, upgrade_to_v6

#: (version, name, SQL script or a function of the connection for data migrations)
Migration = tuple[int, str, str | Callable[[Any], None]]

MIGRATIONS: tuple[Migration, ...] = (
    (
        1,
        "core tables",
        """
        CREATE TABLE IF NOT EXISTS runs (
            run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            status VARCHAR NOT NULL,            -- running | complete | failed
            input_path VARCHAR,
            input_fingerprint VARCHAR,
            rows_in BIGINT,
            manifest JSON,
            summary JSON
        );
        CREATE TABLE IF NOT EXISTS run_chunks (
            run_id VARCHAR NOT NULL,
            chunk_index INTEGER NOT NULL,
            rows BIGINT NOT NULL,
            finished_at TIMESTAMP NOT NULL,
            PRIMARY KEY (run_id, chunk_index)
        );
        CREATE TABLE IF NOT EXISTS feedback (
            id VARCHAR PRIMARY KEY,
            text VARCHAR,
            created_at TIMESTAMP,
            channel VARCHAR,
            source VARCHAR,
            nps DOUBLE,
            csat DOUBLE,
            ces DOUBLE,
            rating DOUBLE,
            customer_id VARCHAR,
            segment VARCHAR,
            extra JSON,
            first_run_id VARCHAR,
            last_run_id VARCHAR
        );
        CREATE TABLE IF NOT EXISTS tags (
            run_id VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            row_index BIGINT NOT NULL,
            lang VARCHAR,
            lang_confidence DOUBLE,
            sentiment VARCHAR,
            sentiment_score DOUBLE,
            topics VARCHAR[],
            subtopics VARCHAR[],
            topic_scores JSON,
            pii_found VARCHAR[],
            dedupe_key VARCHAR,
            row_status VARCHAR NOT NULL,
            row_issues VARCHAR[],
            PRIMARY KEY (run_id, id)
        );
        CREATE TABLE IF NOT EXISTS aspects (
            run_id VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            topic VARCHAR NOT NULL,
            polarity VARCHAR NOT NULL,
            score DOUBLE
        );
        CREATE TABLE IF NOT EXISTS evidence (
            run_id VARCHAR NOT NULL,
            id VARCHAR NOT NULL,
            topic VARCHAR NOT NULL,
            clause VARCHAR,
            clause_start INTEGER,
            clause_end INTEGER,
            terms VARCHAR[],
            source VARCHAR
        );
        CREATE TABLE IF NOT EXISTS customers (
            customer_id VARCHAR PRIMARY KEY,
            signup DATE,
            churned_at DATE,
            ltv DOUBLE,
            extra JSON
        );
        """,
    ),
    (
        2,
        "latest-run views",
        """
        CREATE OR REPLACE VIEW latest_run_per_id AS
            SELECT t.id, arg_max(t.run_id, r.started_at) AS run_id
            FROM tags t JOIN runs r USING (run_id)
            WHERE r.status = 'complete'
            GROUP BY t.id;
        CREATE OR REPLACE VIEW latest_tags AS
            SELECT t.* FROM tags t JOIN latest_run_per_id l USING (id, run_id);
        CREATE OR REPLACE VIEW tagged AS
            SELECT f.*, t.run_id, t.row_index, t.lang, t.lang_confidence, t.sentiment,
                   t.sentiment_score, t.topics, t.subtopics, t.topic_scores, t.pii_found,
                   t.dedupe_key, t.row_status, t.row_issues
            FROM feedback f JOIN latest_tags t USING (id);
        CREATE OR REPLACE VIEW latest_aspects AS
            SELECT a.* FROM aspects a JOIN latest_run_per_id l USING (id, run_id);
        CREATE OR REPLACE VIEW latest_evidence AS
            SELECT e.* FROM evidence e JOIN latest_run_per_id l USING (id, run_id);
        """,
    ),
    (
        3,
        "recurring complaint themes",
        """
        CREATE TABLE IF NOT EXISTS themes (
            theme_id VARCHAR PRIMARY KEY,       -- '<topic>:t007', never reused
            topic VARCHAR NOT NULL,
            label VARCHAR NOT NULL,             -- what users see (an analyst's name wins)
            auto_label VARCHAR,                 -- c-TF-IDF label of the latest discovery
            label_pinned BOOLEAN NOT NULL DEFAULT FALSE,
            top_terms JSON,                     -- [{"term", "lang", "score"}], best first
            centroid FLOAT[],                   -- unit vector in the topic's centred space
            threshold DOUBLE,                   -- min cosine to centroid to join the theme
            cohesion DOUBLE,                    -- mean member cosine when the theme was made
            status VARCHAR NOT NULL,            -- proposed | active | merged | split | retired
            merged_into VARCHAR,
            parent_id VARCHAR,
            created_run VARCHAR,
            updated_run VARCHAR,
            created_at TIMESTAMP,
            updated_at TIMESTAMP
        );
        CREATE TABLE IF NOT EXISTS theme_spaces (
            topic VARCHAR NOT NULL,
            lang VARCHAR NOT NULL,              -- ru | en | '*' (all clauses of the topic)
            mean FLOAT[] NOT NULL,              -- subtracted before cosine (per-language centring)
            n BIGINT,
            created_run VARCHAR,
            PRIMARY KEY (topic, lang)
        );
        CREATE TABLE IF NOT EXISTS theme_runs (
            theme_run_id VARCHAR PRIMARY KEY,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP,
            topic VARCHAR,                      -- NULL = every topic
            params JSON,
            stats JSON
        );
        CREATE TABLE IF NOT EXISTS theme_memberships (
            theme_run_id VARCHAR NOT NULL,
            run_id VARCHAR NOT NULL,            -- the tagging run the clause came from
            id VARCHAR NOT NULL,
            topic VARCHAR NOT NULL,
            clause VARCHAR,
            clause_start INTEGER,
            clause_end INTEGER,
            lang VARCHAR,
            theme_id VARCHAR,                   -- NULL = unassigned
            similarity DOUBLE
        );
        CREATE TABLE IF NOT EXISTS theme_edits (
            edit_id BIGINT PRIMARY KEY,
            edited_at TIMESTAMP NOT NULL,
            action VARCHAR NOT NULL,            -- rename | merge | split | accept | retire
            theme_id VARCHAR NOT NULL,
            args JSON,
            result JSON
        );
        CREATE OR REPLACE VIEW theme_members AS
            SELECT DISTINCT m.id, m.theme_id, th.topic, th.label, th.status
            FROM theme_memberships m JOIN themes th USING (theme_id)
            WHERE th.status IN ('active', 'proposed');
        """,
    ),
    (
        4,
        "closing-the-loop register",
        """
        CREATE TABLE IF NOT EXISTS loop_items (
            item_id INTEGER PRIMARY KEY,
            title VARCHAR NOT NULL,
            theme_id VARCHAR,                   -- a theme id ('delivery:t003') or NULL
            topic VARCHAR NOT NULL,             -- the theme's topic, or the topic ('delivery', \
'delivery/late')
            team VARCHAR NOT NULL,              -- owning team id (cx_text/core/lang/teams.yaml)
            owner VARCHAR,                      -- the person who owns the fix
            status VARCHAR NOT NULL,            -- new | acknowledged | in_progress | fixed | \
customers_notified | verified
            due_date DATE,
            fixed_at DATE,                      -- when the fix reached customers (re-measurement \
pivot)
            notes VARCHAR,
            created_at TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE IF NOT EXISTS loop_history (
            item_id INTEGER NOT NULL,
            changed_at TIMESTAMP NOT NULL,
            actor VARCHAR,
            field VARCHAR NOT NULL,             -- status | owner | due_date | fixed_at | notes | \
team | title | opened
            old_value VARCHAR,
            new_value VARCHAR,
            note VARCHAR
        );
        CREATE TABLE IF NOT EXISTS loop_measurements (
            item_id INTEGER NOT NULL,
            measured_at TIMESTAMP NOT NULL,
            fixed_at DATE NOT NULL,
            window_days INTEGER NOT NULL,
            gap_days INTEGER NOT NULL,
            verdict VARCHAR NOT NULL,           -- improved | no change | worse | too little data
            result JSON NOT NULL                -- windows, counts, tests, CIs \
(loop_measure.Measurement)
        );
        """,
    ),
    (
        5,
        "messages identified by (source, id); feedback per run; run outcomes; BI views",
        upgrade_to_v5,
    ),
    (
        6,
        "analysts' labels; sentiment probabilities per tag; corrected columns in the BI views",
        upgrade_to_v6,
    ),
)

LATEST_VERSION = MIGRATIONS[-1][0]
