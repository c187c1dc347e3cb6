-- Version 4: who runs a deployment (machine, boot, pid namespace, pid,
-- start time, as JSON) and until when its lease holds. A live runner renews
-- the lease; a new deployment closes a running one whose runner is
-- certainly dead or whose lease ran out.
ALTER TABLE deployments ADD COLUMN runner TEXT;
ALTER TABLE deployments ADD COLUMN lease_until TEXT;
