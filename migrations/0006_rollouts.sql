-- 0006: canary rollouts (issue 5). A rollout snapshots its target devices at
-- start, each with its rank in the rollout's stable hash order and the
-- release it ran before (the rollback target). The controller's whole state
-- is here, so that it picks up where it was after a restart: a device's
-- progress is never stored twice but read from device_updates.

CREATE TABLE rollouts (
	id TEXT PRIMARY KEY,
	release_name TEXT NOT NULL,
	release_version TEXT NOT NULL,
	selector TEXT NOT NULL,
	spec TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('running', 'paused', 'done', 'aborted')),
	stage INTEGER NOT NULL DEFAULT 0,
	stage_started_at INTEGER NOT NULL,
	bake_started_at INTEGER NOT NULL DEFAULT 0,
	wait_since INTEGER NOT NULL DEFAULT 0,
	looks INTEGER NOT NULL DEFAULT 0,
	reason TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL,
	finished_at INTEGER NOT NULL DEFAULT 0,
	FOREIGN KEY (release_name, release_version) REFERENCES releases (name, version)
) WITHOUT ROWID;
CREATE INDEX rollouts_by_state ON rollouts (state, created_at);

CREATE TABLE rollout_devices (
	rollout_id TEXT NOT NULL REFERENCES rollouts (id),
	device_id TEXT NOT NULL REFERENCES devices (id),
	rank INTEGER NOT NULL,
	prev_release TEXT,
	state TEXT NOT NULL CHECK (state IN ('pending', 'assigned', 'reverted', 'unrevertable')),
	assigned_at INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (rollout_id, device_id)
) WITHOUT ROWID;
CREATE INDEX rollout_devices_by_device ON rollout_devices (device_id);
CREATE UNIQUE INDEX rollout_devices_by_rank ON rollout_devices (rollout_id, rank);

CREATE TABLE rollout_history (
	rollout_id TEXT NOT NULL REFERENCES rollouts (id),
	seq INTEGER NOT NULL,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	stage INTEGER NOT NULL,
	actor TEXT NOT NULL,
	details TEXT NOT NULL DEFAULT '{}',
	PRIMARY KEY (rollout_id, seq)
) WITHOUT ROWID;
