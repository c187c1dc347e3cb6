-- Version 6: every `haul content sync`: who copied which content sets of an
-- app from which environment into which, why, the bytes moved, the digest
-- of each set's stream (JSON text: set → blake3) and how it ended (an
-- error names the step and host). `sets` is the set names, comma-joined
-- (names have no commas); `at` is the ledger's fixed-width time text.
CREATE TABLE content_syncs (
    id BIGINT PRIMARY KEY,
    app TEXT NOT NULL,
    from_env TEXT NOT NULL,
    to_env TEXT NOT NULL,
    sets TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    outcome TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    digests TEXT NOT NULL,
    error TEXT,
    at TEXT NOT NULL
);
CREATE INDEX content_syncs_app_env ON content_syncs (app, to_env, id);
