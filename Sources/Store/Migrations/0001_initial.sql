-- 0001_initial: sweeps, runs and everything runs produce.
--
-- Times: `*_at` columns are ISO-8601 UTC text for people; lease deadlines and heartbeats are
-- REAL unix seconds because the scheduler compares them.

CREATE TABLE sweeps (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    -- The sweep spec as submitted: {"name", "base", "grid"}.
    spec        TEXT NOT NULL CHECK (json_valid(spec)),
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'cancelled')),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE workers (
    id            TEXT PRIMARY KEY,
    host          TEXT NOT NULL,
    -- "cpu" or "gpu:N".
    device        TEXT NOT NULL,
    pid           INTEGER,
    started_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    last_seen     REAL NOT NULL
);

-- One row per distinct experiment: the key is the SHA-256 of the run's canonical config, so
-- the same experiment submitted twice (in one sweep or two) is one run.
CREATE TABLE runs (
    key               TEXT PRIMARY KEY CHECK (length(key) = 64),
    -- The completed config (canonical JSON).
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
    attempts          INTEGER NOT NULL DEFAULT 0,
    max_attempts      INTEGER NOT NULL DEFAULT 3 CHECK (max_attempts >= 1),
    error             TEXT,
    worker_id         TEXT REFERENCES workers(id) ON DELETE SET NULL,
    lease_expires     REAL,
    -- Progress of the current attempt.
    step              INTEGER,
    total_steps       INTEGER,
    created_at        TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at        TEXT,
    finished_at       TEXT,
    -- Final figures (succeeded runs).
    test_accuracy         REAL,
    test_loss             REAL,
    total_weights         INTEGER,
    kept                  INTEGER,
    effective             INTEGER,
    direct_compression    REAL,
    effective_compression REAL,
    wall_seconds          REAL,
    images_per_second     REAL,
    -- The whole RunResult JSON.
    result            TEXT CHECK (result IS NULL OR json_valid(result)),
    CHECK ((status IN ('leased', 'running')) = (worker_id IS NOT NULL AND lease_expires IS NOT NULL))
);
CREATE INDEX runs_queue ON runs (status, created_at);
CREATE INDEX runs_pruner ON runs (pruner, compression);

-- Which sweeps asked for which runs (a run may serve several sweeps).
CREATE TABLE sweep_runs (
    sweep_id  INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    run_key   TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    PRIMARY KEY (sweep_id, run_key)
) WITHOUT ROWID;
CREATE INDEX sweep_runs_run ON sweep_runs (run_key);

-- A run waits for its parents (magnitude, LAMP and LTH prune the trained dense run).
CREATE TABLE run_dependencies (
    run_key     TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    parent_key  TEXT NOT NULL REFERENCES runs(key),
    PRIMARY KEY (run_key, parent_key),
    CHECK (run_key <> parent_key)
) WITHOUT ROWID;
CREATE INDEX run_dependencies_parent ON run_dependencies (parent_key);

-- Evaluations during training. The key makes re-uploads after a resume idempotent.
CREATE TABLE metrics (
    run_key  TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    phase    INTEGER NOT NULL DEFAULT 0,
    step     INTEGER NOT NULL,
    name     TEXT NOT NULL,
    value    REAL,
    PRIMARY KEY (run_key, phase, step, name)
) WITHOUT ROWID;

-- Per prunable layer of a run's masks (canonical order).
CREATE TABLE layers (
    run_key      TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    layer_index  INTEGER NOT NULL,
    name         TEXT NOT NULL,
    shape        TEXT NOT NULL CHECK (json_valid(shape)),
    size         INTEGER NOT NULL,
    kept         INTEGER NOT NULL CHECK (kept BETWEEN 0 AND size),
    effective    INTEGER NOT NULL CHECK (effective BETWEEN 0 AND kept),
    quota        REAL,
    PRIMARY KEY (run_key, layer_index)
) WITHOUT ROWID;

-- Masks as packed bits, row-major over the layer's weight shape, least significant bit first
-- (numpy.packbits(mask.ravel(), bitorder='little')).
CREATE TABLE masks (
    run_key      TEXT NOT NULL REFERENCES runs(key) ON DELETE CASCADE,
    layer_index  INTEGER NOT NULL,
    kind         TEXT NOT NULL CHECK (kind IN ('direct', 'effective')),
    bits         BLOB NOT NULL,
    PRIMARY KEY (run_key, layer_index, kind)
) WITHOUT ROWID;

-- The latest checkpoint of an unfinished run (prunelab's checkpoint format, see README).
CREATE TABLE checkpoints (
    run_key     TEXT PRIMARY KEY REFERENCES runs(key) ON DELETE CASCADE,
    phase       INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- What happened, in order: submissions, leases, expiries, retries, failures.
CREATE TABLE events (
    id         INTEGER PRIMARY KEY,
    at         TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind       TEXT NOT NULL,
    sweep_id   INTEGER,
    run_key    TEXT,
    worker_id  TEXT,
    detail     TEXT
);
CREATE INDEX events_run ON events (run_key);

-- One row per run: its config as columns and its final figures, for `sqlite3` users.
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
