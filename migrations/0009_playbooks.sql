-- 0009: playbooks, the engine's state, and runs.
--
-- A playbook is stored in its canonical JSON (controlplane/playbook/format.h).
-- playbooks_rev counts every change of the table, so that each replica's
-- engine notices one by reading a single row.

CREATE TABLE playbooks (
	name TEXT PRIMARY KEY,
	version INTEGER NOT NULL,
	enabled INTEGER NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('api', 'file')),
	definition TEXT NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE playbooks_rev (
	id INTEGER PRIMARY KEY CHECK (id = 1),
	rev INTEGER NOT NULL
);
INSERT INTO playbooks_rev (id, rev) VALUES (1, 0);

-- What the engine keeps across restarts, per playbook: its throttle's state
-- and the last schedule tick it fired. Saved with the runs it made and the
-- event cursor, in one transaction.
CREATE TABLE playbook_state (
	name TEXT PRIMARY KEY,
	throttle TEXT,
	last_tick INTEGER,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- The engine's position in the event log, and the offline episodes it has
-- already reported (a device, the threshold, and the last_seen it had).
CREATE TABLE engine_cursor (
	name TEXT PRIMARY KEY,
	seq INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE offline_reported (
	device_id TEXT NOT NULL,
	for_s INTEGER NOT NULL,
	last_seen INTEGER NOT NULL,
	PRIMARY KEY (device_id, for_s)
) WITHOUT ROWID;

-- A run: the playbook as it was, the events that started it, the frozen
-- plan and where the executor is in it.
CREATE TABLE runs (
	id TEXT PRIMARY KEY,
	playbook TEXT NOT NULL,
	version INTEGER NOT NULL,
	definition TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('awaiting_approval', 'running', 'succeeded',
		'failed', 'halted', 'cancelled', 'denied', 'expired')),
	trigger TEXT NOT NULL,
	plan TEXT NOT NULL,
	plan_hash TEXT NOT NULL,
	cursor TEXT NOT NULL DEFAULT '{}',
	error TEXT,
	started_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	approval_expires_at INTEGER,
	ended_at INTEGER
) WITHOUT ROWID;
CREATE INDEX runs_by_state ON runs (state, created_at);
CREATE INDEX runs_by_playbook ON runs (playbook, created_at);

CREATE TABLE run_approvals (
	run_id TEXT NOT NULL REFERENCES runs (id),
	who TEXT NOT NULL,
	role TEXT NOT NULL,
	decision TEXT NOT NULL CHECK (decision IN ('approve', 'deny')),
	plan_hash TEXT NOT NULL,
	at INTEGER NOT NULL,
	PRIMARY KEY (run_id, who)
) WITHOUT ROWID;

-- One action of a step on one device ('' for a step that acts on none).
-- 'intent' is written before acting: after a crash the action is taken
-- again under the same idempotency key, which the action dedupes.
CREATE TABLE run_actions (
	run_id TEXT NOT NULL REFERENCES runs (id),
	step TEXT NOT NULL,
	device_id TEXT NOT NULL,
	attempt INTEGER NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('intent', 'waiting', 'ok', 'error')),
	key TEXT NOT NULL,
	ref TEXT,
	result TEXT,
	started_at INTEGER NOT NULL,
	next_at INTEGER,
	ended_at INTEGER,
	PRIMARY KEY (run_id, step, device_id)
) WITHOUT ROWID;
