-- 0002: commands queued for agents (the first is "ping").

CREATE TABLE commands (
	id TEXT PRIMARY KEY,
	device_id TEXT NOT NULL REFERENCES devices (id),
	type TEXT NOT NULL,
	args TEXT NOT NULL DEFAULT '{}',
	status TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'ok', 'error')),
	result TEXT,
	created_at INTEGER NOT NULL,
	delivered_at INTEGER,
	completed_at INTEGER
) WITHOUT ROWID;

CREATE INDEX commands_by_device ON commands (device_id, created_at);
