-- Version 6: secret files. `secret_key` holds the one random key (hex) the
-- digests are keyed with, made on first use; `secret_digests` each host's
-- keyed digest of each secret file it was last given. Never a value.
CREATE TABLE secret_key (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL
);
CREATE TABLE secret_digests (
    app TEXT NOT NULL,
    env TEXT NOT NULL,
    host TEXT NOT NULL,
    path TEXT NOT NULL,
    digest TEXT NOT NULL,
    written TEXT NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (app, env, host, path)
);
