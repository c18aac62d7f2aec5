-- 0005: SLO definitions, their burn-rate alerts and the event log (issue 4).
-- Definitions are stored as the canonical JSON the server validated. An
-- alert is one firing episode of one alert pair of one SLO; at most one per
-- pair fires at a time. Events are append-only: playbooks consume them by
-- sequence number.

CREATE TABLE slos (
	name TEXT PRIMARY KEY,
	definition TEXT NOT NULL,
	source TEXT NOT NULL CHECK (source IN ('api', 'file')),
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE alerts (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	slo TEXT NOT NULL,
	severity TEXT NOT NULL CHECK (severity IN ('page', 'ticket')),
	pair TEXT NOT NULL,
	state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
	started_at INTEGER NOT NULL,
	resolved_at INTEGER,
	explanation TEXT NOT NULL DEFAULT '{}'
);
CREATE UNIQUE INDEX alerts_one_firing ON alerts (slo, severity, pair) WHERE state = 'firing';
CREATE INDEX alerts_by_state ON alerts (state, id);

CREATE TABLE events (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	subject TEXT NOT NULL,
	body TEXT NOT NULL DEFAULT '{}'
);
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN
	SELECT RAISE(ABORT, 'events are append-only');
END;
