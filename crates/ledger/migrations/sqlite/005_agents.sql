-- Version 5: each pull agent's latest report, per app, environment and
-- host. Roles and labels are JSON text; times are the ledger's fixed-width
-- text, so `at` compares as text. An older report never replaces a newer.
CREATE TABLE agents (
    app TEXT NOT NULL,
    env TEXT NOT NULL,
    host TEXT NOT NULL,
    roles TEXT NOT NULL,
    labels TEXT NOT NULL,
    wave INTEGER,
    blessing INTEGER,
    release TEXT,
    live TEXT,
    phase TEXT NOT NULL,
    error TEXT,
    at TEXT NOT NULL,
    agent TEXT NOT NULL,
    recorded TEXT NOT NULL,
    PRIMARY KEY (app, env, host)
);
