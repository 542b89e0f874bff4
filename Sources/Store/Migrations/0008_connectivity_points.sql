-- 0008_connectivity_points: the points of connectivity curves (`prunelab curves --db`, served
-- by GET /curves): an architecture pruned at initialisation, in direct mode, by one pruner to one
-- target compression with one seed, and how many of its kept weights are effective. No training,
-- so a point is a pure function of its identity (the primary key) and is computed once.
CREATE TABLE connectivity_points (
    architecture  TEXT NOT NULL CHECK (length(architecture) BETWEEN 1 AND 200),
    pruner        TEXT NOT NULL CHECK (length(pruner) BETWEEN 1 AND 200),
    seed          INTEGER NOT NULL CHECK (seed >= 0),
    target        REAL NOT NULL CHECK (target > 1),
    rounds        INTEGER NOT NULL CHECK (rounds >= 1),
    dataset       TEXT NOT NULL,
    total         INTEGER NOT NULL CHECK (total >= 1),
    kept          INTEGER NOT NULL CHECK (kept BETWEEN 0 AND total),
    effective     INTEGER NOT NULL CHECK (effective BETWEEN 0 AND kept),
    seconds       REAL NOT NULL CHECK (seconds >= 0),
    computed_at   TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (architecture, pruner, seed, target, rounds, dataset)
) STRICT;
