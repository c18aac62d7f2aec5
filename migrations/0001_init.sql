-- 0001: the registry, device keys, operator tokens, enrollment and the audit log.

CREATE TABLE devices (
	id TEXT PRIMARY KEY,
	state TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'rejected',
		'quarantined', 'revoked', 'decommissioned')),
	state_reason TEXT,
	labels TEXT NOT NULL DEFAULT '{}',
	inventory TEXT NOT NULL DEFAULT '{}',
	desired TEXT NOT NULL DEFAULT '{}',
	desired_version INTEGER NOT NULL DEFAULT 0,
	reported TEXT NOT NULL DEFAULT '{}',
	enrolled_at INTEGER NOT NULL,
	last_seen INTEGER
) WITHOUT ROWID;

CREATE TABLE device_keys (
	keyid TEXT PRIMARY KEY,
	device_id TEXT NOT NULL REFERENCES devices (id),
	pubkey TEXT NOT NULL UNIQUE,
	active INTEGER NOT NULL CHECK (active IN (0, 1)),
	created_at INTEGER NOT NULL,
	retired_at INTEGER
) WITHOUT ROWID;

-- Exactly one active key per device, enforced by the database itself.
CREATE UNIQUE INDEX device_keys_one_active ON device_keys (device_id) WHERE active = 1;

CREATE TABLE preauthorized (
	device_id TEXT PRIMARY KEY,
	pubkey TEXT NOT NULL,
	labels TEXT NOT NULL DEFAULT '{}',
	created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE api_tokens (
	id TEXT PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	role TEXT NOT NULL CHECK (role IN ('admin', 'release-manager', 'operator',
		'viewer', 'automation')),
	name TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER,
	revoked_at INTEGER
) WITHOUT ROWID;

CREATE TABLE enroll_tokens (
	id TEXT PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	max_uses INTEGER NOT NULL CHECK (max_uses > 0),
	uses_left INTEGER NOT NULL CHECK (uses_left >= 0),
	labels TEXT NOT NULL DEFAULT '{}',
	auto_accept INTEGER NOT NULL CHECK (auto_accept IN (0, 1)),
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	revoked_at INTEGER
) WITHOUT ROWID;

CREATE TABLE audit_log (
	seq INTEGER PRIMARY KEY,
	ts INTEGER NOT NULL,
	actor TEXT NOT NULL,
	action TEXT NOT NULL,
	target TEXT NOT NULL,
	details TEXT NOT NULL,
	prev_hash TEXT NOT NULL,
	hash TEXT NOT NULL
);

-- Append-only through the server's connection; tampering needs to drop these
-- first, and the hash chain catches it anyway.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
