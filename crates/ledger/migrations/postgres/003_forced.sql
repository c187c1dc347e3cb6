-- Version 3: break-glass deployments. `forced` is NULL for a deployment the
-- gate let in; for one forced past it (`--force --reason`, or an `admin`
-- token asking for `force`), what the gate refused, overridden.
ALTER TABLE deployments ADD COLUMN forced TEXT;
