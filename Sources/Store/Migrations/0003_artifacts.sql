-- 0003_artifacts: checkpoints move out of the row. A VGG-16 checkpoint (weights, momentum, masks,
-- statistics) is about 180 MB; as a BLOB it went through the WAL twice and into memory whole.
-- The bytes now live in the artifact store beside the database (files named by their SHA-256);
-- this table keeps what refers to them, written in the same transaction that makes them
-- visible. Rows of the old table are moved into the artifact store by the migration (Swift, as
-- SQL cannot write files), then the old table is dropped.
ALTER TABLE checkpoints RENAME TO checkpoints_v1;

CREATE TABLE checkpoints (
    run_key     TEXT PRIMARY KEY REFERENCES runs(key) ON DELETE CASCADE,
    phase       INTEGER NOT NULL,
    step        INTEGER NOT NULL,
    -- Content address in the artifact store: lowercase hex SHA-256 of the whole file.
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    size        INTEGER NOT NULL CHECK (size > 0),
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX checkpoints_sha256 ON checkpoints (sha256);
