-- 0003: signed releases (issue 3): the root chain, pushed releases, director
-- assignments, the devices' reported update status and signed timestamps.
-- Envelopes are stored as the exact bytes that are served and hashed.

CREATE TABLE roots (
	version INTEGER PRIMARY KEY CHECK (version > 0),
	envelope TEXT NOT NULL,
	created_at INTEGER NOT NULL
);

CREATE TABLE releases (
	name TEXT NOT NULL,
	version TEXT NOT NULL,
	kind TEXT NOT NULL CHECK (kind IN ('model', 'firmware', 'config')),
	counter INTEGER NOT NULL CHECK (counter > 0),
	hardware TEXT NOT NULL DEFAULT '[]',
	commit_id TEXT NOT NULL,
	sha256 TEXT NOT NULL UNIQUE,
	envelope TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (name, version)
) WITHOUT ROWID;

-- Counters rise strictly per name; the unique index makes the database refuse
-- a repeated one even if two pushes race past the handler's check.
CREATE UNIQUE INDEX releases_by_counter ON releases (name, counter);

CREATE TABLE assignments (
	device_id TEXT PRIMARY KEY REFERENCES devices (id),
	release_name TEXT NOT NULL,
	release_version TEXT NOT NULL,
	counter INTEGER NOT NULL,
	rollback INTEGER NOT NULL CHECK (rollback IN (0, 1)),
	issued_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	envelope TEXT NOT NULL,
	FOREIGN KEY (release_name, release_version) REFERENCES releases (name, version)
) WITHOUT ROWID;

CREATE INDEX assignments_by_expiry ON assignments (expires_at);

CREATE TABLE device_updates (
	device_id TEXT PRIMARY KEY REFERENCES devices (id),
	release TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('assigned', 'downloading', 'verifying',
		'installing', 'health_check', 'committed', 'failed', 'rolled_back')),
	progress REAL,
	reason TEXT,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE timestamps (
	version INTEGER PRIMARY KEY CHECK (version > 0),
	envelope TEXT NOT NULL,
	expires_at INTEGER NOT NULL,
	created_at INTEGER NOT NULL
);
