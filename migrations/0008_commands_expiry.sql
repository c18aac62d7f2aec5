-- 0008: a command carries a deadline for its delivery and, optionally, an
-- idempotency key (one command per key and device, however often it is
-- asked for). One that is still queued at its deadline reads as "expired"
-- (derived when read: an offline device never makes it pending for ever),
-- and a device without a hook for a command answers "refused". SQLite keeps
-- a CHECK constraint with its table, so the table is rebuilt.

CREATE TABLE commands_new (
	id TEXT PRIMARY KEY,
	device_id TEXT NOT NULL REFERENCES devices (id),
	type TEXT NOT NULL,
	args TEXT NOT NULL DEFAULT '{}',
	status TEXT NOT NULL
		CHECK (status IN ('queued', 'delivered', 'ok', 'error', 'refused')),
	result TEXT,
	created_at INTEGER NOT NULL,
	delivered_at INTEGER,
	completed_at INTEGER,
	deliver_by INTEGER,		-- unix seconds; NULL: no deadline
	idem_key TEXT			-- NULL: none
) WITHOUT ROWID;
INSERT INTO commands_new (id, device_id, type, args, status, result, created_at,
			  delivered_at, completed_at)
	SELECT id, device_id, type, args, status, result, created_at, delivered_at,
	       completed_at FROM commands;
DROP TABLE commands;
ALTER TABLE commands_new RENAME TO commands;
CREATE INDEX commands_by_device ON commands (device_id, created_at);
CREATE UNIQUE INDEX commands_by_key ON commands (device_id, idem_key)
	WHERE idem_key IS NOT NULL;
