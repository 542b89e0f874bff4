-- 0004_strict: every table becomes STRICT, and the counts the code reads get range CHECKs.
-- SQLite's default type affinity lets a value of any type into any column: an UPDATE by hand
-- (people query and edit this file directly) could put text into runs.attempts, and a server
-- reading it would stop on a failed conversion. STRICT tables refuse such writes, so every value
-- the server reads has the type and range its schema says. Rebuilt the way SQLite documents
-- (create, copy, drop, rename; foreign keys are off during migrations); the view and indexes are
-- dropped with their tables and made again. A database already holding a mistyped value fails
-- this migration naming the column, rather than failing later at a read.
DROP VIEW results;

CREATE TABLE sweeps_strict (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO sweeps_strict (id, name, spec, status, created_at) SELECT id, name, spec, status, created_at FROM sweeps;
DROP TABLE sweeps;
ALTER TABLE sweeps_strict RENAME TO sweeps;

CREATE TABLE workers_strict (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    device        TEXT NOT NULL,
    pid           INTEGER,
    started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen     REAL NOT NULL
) STRICT;
INSERT INTO workers_strict (id, host, device, pid, started_at, last_seen) SELECT id, host, device, pid, started_at, last_seen FROM workers;
DROP TABLE workers;
ALTER TABLE workers_strict RENAME TO workers;

CREATE TABLE runs_strict (
    key               TEXT PRIMARY KEY CHECK (length(key) = 64),
    config            TEXT NOT NULL CHECK (json_valid(config)),
    architecture      TEXT NOT NULL,
    dataset           TEXT NOT NULL,
    pruner            TEXT NOT NULL,
    mode              TEXT CHECK (mode IS NULL OR mode IN ('direct', 'effective')),
    compression       REAL CHECK (compression IS NULL OR compression > 1),
    seed              INTEGER NOT NULL,
    shuffle           INTEGER NOT NULL CHECK (shuffle IN (0, 1)),
    status            TEXT NOT NULL DEFAULT 'queued'
                      CHECK (status IN ('queued', 'leased', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts          INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts      INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    error             TEXT,
    worker_id         TEXT REFERENCES workers(id) ON DELETE SET NULL,
    lease_expires     REAL,
    step              INTEGER CHECK (step >= 0),
    total_steps       INTEGER CHECK (total_steps >= 0),
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at        TEXT,
    finished_at       TEXT,
    test_accuracy         REAL CHECK (test_accuracy BETWEEN 0 AND 1),
    test_loss             REAL CHECK (test_loss >= 0),
    total_weights         INTEGER CHECK (total_weights >= 0),
    kept                  INTEGER CHECK (kept >= 0),
    effective             INTEGER CHECK (effective >= 0),
    direct_compression    REAL CHECK (direct_compression >= 1),
    effective_compression REAL CHECK (effective_compression >= 1),
    wall_seconds          REAL CHECK (wall_seconds >= 0),
    images_per_second     REAL CHECK (images_per_second >= 0),
    result            TEXT CHECK (result IS NULL OR json_valid(result)),
    CHECK ((status IN ('leased', 'running')) = (worker_id IS NOT NULL AND lease_expires IS NOT NULL))
) STRICT;
INSERT INTO runs_strict (key, config, architecture, dataset, pruner, mode, compression, seed, shuffle, status, attempts, max_attempts, error, worker_id, lease_expires, step, total_steps, created_at, started_at, finished_at, test_accuracy, test_loss, total_weights, kept, effective, direct_compression, effective_compression, wall_seconds, images_per_second, result) SELECT key, config, architecture, dataset, pruner, mode, compression, seed, shuffle, status, attempts, max_attempts, error, worker_id, lease_expires, step, total_steps, created_at, started_at, finished_at, test_accuracy, test_loss, total_weights, kept, effective, direct_compression, effective_compression, wall_seconds, images_per_second, result FROM runs;
DROP TABLE runs;
ALTER TABLE runs_strict RENAME TO runs;

CREATE TABLE sweep_runs_strict (
    sweep_id  INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    run_key   TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    PRIMARY KEY (sweep_id, run_key)
) WITHOUT ROWID, STRICT;
INSERT INTO sweep_runs_strict (sweep_id, run_key) SELECT sweep_id, run_key FROM sweep_runs;
DROP TABLE sweep_runs;
ALTER TABLE sweep_runs_strict RENAME TO sweep_runs;

CREATE TABLE run_dependencies_strict (
    run_key     TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    parent_key  TEXT NOT NULL REFERENCES runs(key),
    PRIMARY KEY (run_key, parent_key),
    CHECK (run_key <> parent_key)
) WITHOUT ROWID, STRICT;
INSERT INTO run_dependencies_strict (run_key, parent_key) SELECT run_key, parent_key FROM run_dependencies;
DROP TABLE run_dependencies;
ALTER TABLE run_dependencies_strict RENAME TO run_dependencies;

CREATE TABLE metrics_strict (
    run_key  TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    phase    INTEGER NOT NULL DEFAULT 0 CHECK (phase >= 0),
    step     INTEGER NOT NULL CHECK (step >= 0),
    name     TEXT NOT NULL,
    value    REAL,
    PRIMARY KEY (run_key, phase, step, name)
) WITHOUT ROWID, STRICT;
INSERT INTO metrics_strict (run_key, phase, step, name, value) SELECT run_key, phase, step, name, value FROM metrics;
DROP TABLE metrics;
ALTER TABLE metrics_strict RENAME TO metrics;

CREATE TABLE layers_strict (
    run_key      TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    layer_index  INTEGER NOT NULL CHECK (layer_index >= 0),
    name         TEXT NOT NULL,
    shape        TEXT NOT NULL CHECK (json_valid(shape)),
    size         INTEGER NOT NULL CHECK (size >= 0),
    kept         INTEGER NOT NULL CHECK (kept BETWEEN 0 AND size),
    effective    INTEGER NOT NULL CHECK (effective BETWEEN 0 AND kept),
    quota        REAL,
    PRIMARY KEY (run_key, layer_index)
) WITHOUT ROWID, STRICT;
INSERT INTO layers_strict (run_key, layer_index, name, shape, size, kept, effective, quota) SELECT run_key, layer_index, name, shape, size, kept, effective, quota FROM layers;
DROP TABLE layers;
ALTER TABLE layers_strict RENAME TO layers;

CREATE TABLE masks_strict (
    run_key      TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    layer_index  INTEGER NOT NULL CHECK (layer_index >= 0),
    kind         TEXT NOT NULL CHECK (kind IN ('direct', 'effective')),
    bits         BLOB NOT NULL,
    PRIMARY KEY (run_key, layer_index, kind)
) WITHOUT ROWID, STRICT;
INSERT INTO masks_strict (run_key, layer_index, kind, bits) SELECT run_key, layer_index, kind, bits FROM masks;
DROP TABLE masks;
ALTER TABLE masks_strict RENAME TO masks;

CREATE TABLE checkpoints_strict (
    run_key     TEXT PRIMARY KEY REFERENCES runs(key) ON DELETE CASCADE,
    phase       INTEGER NOT NULL CHECK (phase >= 0),
    step        INTEGER NOT NULL CHECK (step >= 0),
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    size        INTEGER NOT NULL CHECK (size > 0),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
INSERT INTO checkpoints_strict (run_key, phase, step, sha256, size, created_at) SELECT run_key, phase, step, sha256, size, created_at FROM checkpoints;
DROP TABLE checkpoints;
ALTER TABLE checkpoints_strict RENAME TO checkpoints;

CREATE TABLE events_strict (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind       TEXT NOT NULL,
    sweep_id   INTEGER,
    run_key    TEXT,
    worker_id  TEXT,
    detail     TEXT
) STRICT;
INSERT INTO events_strict (id, at, kind, sweep_id, run_key, worker_id, detail) SELECT id, at, kind, sweep_id, run_key, worker_id, detail FROM events;
DROP TABLE events;
ALTER TABLE events_strict RENAME TO events;

CREATE INDEX runs_queue ON runs (status, created_at);
CREATE INDEX runs_pruner ON runs (pruner, compression);
CREATE INDEX sweep_runs_run ON sweep_runs (run_key);
CREATE INDEX run_dependencies_parent ON run_dependencies (parent_key);
CREATE INDEX events_run ON events (run_key);
CREATE INDEX runs_queued ON runs (status) WHERE status = 'queued';
CREATE INDEX checkpoints_sha256 ON checkpoints (sha256);

CREATE VIEW results AS
SELECT
    r.key,
    r.architecture,
    r.dataset,
    r.pruner,
    r.mode,
    r.compression                                      AS target_compression,
    r.seed,
    r.shuffle,
    json_extract(r.config, '$.training.iterations')     AS iterations,
    json_extract(r.config, '$.training.batch_size')     AS batch_size,
    json_extract(r.config, '$.training.learning_rate')  AS learning_rate,
    json_extract(r.config, '$.training.weight_decay')   AS weight_decay,
    r.status,
    r.attempts,
    r.test_accuracy,
    r.test_loss,
    r.total_weights,
    r.kept,
    r.effective,
    CASE WHEN r.total_weights > 0 THEN 1.0 - CAST(r.kept AS REAL) / r.total_weights END      AS direct_sparsity,
    CASE WHEN r.total_weights > 0 THEN 1.0 - CAST(r.effective AS REAL) / r.total_weights END AS effective_sparsity,
    r.direct_compression,
    r.effective_compression,
    r.wall_seconds,
    r.images_per_second,
    r.error,
    r.created_at,
    r.finished_at
FROM runs AS r;
