-- The ledger's schema on SQLite. Times are RFC 3339 text in UTC, which sorts.
CREATE TABLE releases (
    app TEXT NOT NULL,
    id TEXT NOT NULL,
    digest TEXT NOT NULL,
    revision TEXT,
    built_by TEXT NOT NULL,
    created TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    PRIMARY KEY (app, id)
);
CREATE TABLE deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    env TEXT NOT NULL,
    release TEXT NOT NULL,
    trigger TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    config_digest TEXT NOT NULL,
    status TEXT NOT NULL,
    undoes INTEGER REFERENCES deployments (id),
    message TEXT,
    started TEXT NOT NULL,
    finished TEXT
);
CREATE INDEX deployments_app_env ON deployments (app, env, id);
CREATE TABLE host_results (
    deployment INTEGER NOT NULL REFERENCES deployments (id),
    host TEXT NOT NULL,
    phase TEXT NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    elapsed_ms INTEGER NOT NULL,
    PRIMARY KEY (deployment, host)
);
CREATE TABLE verifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    deployment INTEGER NOT NULL REFERENCES deployments (id),
    name TEXT NOT NULL,
    result TEXT NOT NULL,
    link TEXT,
    reporter TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX verifications_deployment ON verifications (deployment, name, id);
CREATE TABLE approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    app TEXT NOT NULL,
    release TEXT NOT NULL,
    env TEXT NOT NULL,
    actor TEXT NOT NULL,
    comment TEXT,
    at TEXT NOT NULL,
    UNIQUE (app, release, env, actor)
);
CREATE TABLE quarantines (
    app TEXT NOT NULL,
    release TEXT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (app, release)
);
CREATE TABLE audit (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    data TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL
);
-- One row: the newest audit entry. Updating it first serializes writers.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '');
