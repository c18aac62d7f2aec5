-- 0004: device SLIs (issue 4). Agents' reports land per device per minute;
-- rollups per series (release + label cohort + hardware) at 5 minutes and
-- 1 hour merge counts, sums, latency sketches and drift bin counts, so a
-- fleet query reads a handful of rows per step whatever the fleet's size.
-- Sketches and bin counts are compact varint BLOBs (fairlead/sketch.h,
-- controlplane/store/sli.c). Times are unix seconds, multiples of the step.

-- The cohort tag: what a device was at ingestion. One row per distinct
-- (release, labels, hardware); a label change starts a new series.
CREATE TABLE sli_series (
	id INTEGER PRIMARY KEY,
	release TEXT NOT NULL,	-- "NAME@VERSION", '' for agent-only windows
	labels TEXT NOT NULL,	-- compact JSON, keys sorted
	site TEXT NOT NULL,	-- the label "site", else 'default'
	hw TEXT NOT NULL,	-- inventory hw_model, else 'default'
	created_at INTEGER NOT NULL,
	UNIQUE (release, labels, hw)
);

CREATE TABLE sli_minute (
	device_id TEXT NOT NULL,
	minute INTEGER NOT NULL,
	series_id INTEGER NOT NULL,
	reports INTEGER NOT NULL,
	inferences INTEGER NOT NULL,
	errors INTEGER NOT NULL,
	up_s REAL NOT NULL,
	expected_s REAL NOT NULL,
	energy_j REAL NOT NULL,
	carbon_g REAL NOT NULL,
	drift_checks INTEGER NOT NULL,
	drift_alarms INTEGER NOT NULL,
	latency BLOB,	-- NULL: no latency in the minute
	drift BLOB,	-- NULL: no feature histograms
	PRIMARY KEY (device_id, minute, series_id)
) WITHOUT ROWID;

-- Retention deletes and the fleet's step-60 queries go by time.
CREATE INDEX sli_minute_by_time ON sli_minute (minute, series_id);

CREATE TABLE sli_5m (
	series_id INTEGER NOT NULL,
	ts INTEGER NOT NULL,
	reports INTEGER NOT NULL,
	inferences INTEGER NOT NULL,
	errors INTEGER NOT NULL,
	up_s REAL NOT NULL,
	expected_s REAL NOT NULL,
	energy_j REAL NOT NULL,
	carbon_g REAL NOT NULL,
	drift_checks INTEGER NOT NULL,
	drift_alarms INTEGER NOT NULL,
	latency BLOB,
	drift BLOB,
	PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;

CREATE TABLE sli_1h (
	series_id INTEGER NOT NULL,
	ts INTEGER NOT NULL,
	reports INTEGER NOT NULL,
	inferences INTEGER NOT NULL,
	errors INTEGER NOT NULL,
	up_s REAL NOT NULL,
	expected_s REAL NOT NULL,
	energy_j REAL NOT NULL,
	carbon_g REAL NOT NULL,
	drift_checks INTEGER NOT NULL,
	drift_alarms INTEGER NOT NULL,
	latency BLOB,
	drift BLOB,
	PRIMARY KEY (series_id, ts)
) WITHOUT ROWID;

-- Per device: the highest report seq stored (duplicates at or below it are
-- counted, not stored again) and the agent's cumulative dropped count.
CREATE TABLE sli_ingest (
	device_id TEXT PRIMARY KEY,
	seq INTEGER NOT NULL,
	dropped INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
