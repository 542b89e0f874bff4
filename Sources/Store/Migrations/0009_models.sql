-- 0009_models: ONNX models uploaded to train in sweeps (POST /api/v1/models). The file lives in
-- the artifact store under its SHA-256, which is also the model's name in run configs
-- (`"architecture": "onnx:<sha256>"`): a run key then means one model for ever. What the graph
-- is (its input, classes, prunable layers) and whether the engine can train it are read once, at
-- upload; a graph the engine cannot train is kept with the reason, and sweeps naming it are refused.
CREATE TABLE models (
    sha256          TEXT PRIMARY KEY CHECK (length(sha256) = 64 AND sha256 NOT GLOB '*[^0-9a-f]*'),
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    size            INTEGER NOT NULL CHECK (size > 0),
    producer        TEXT NOT NULL CHECK (length(producer) <= 200),
    -- JSON array: the graph's per-sample input shape, e.g. [3, 32, 32].
    input_shape     TEXT NOT NULL CHECK (json_valid(input_shape) AND json_type(input_shape) = 'array'),
    -- Classes of the output when the engine trains the graph; NULL otherwise.
    classes         INTEGER CHECK (classes >= 1),
    prunable_layers INTEGER NOT NULL CHECK (prunable_layers >= 0),
    weights         INTEGER NOT NULL CHECK (weights >= 0),
    trainable       INTEGER NOT NULL CHECK (trainable IN (0, 1)),
    -- Why the engine cannot train it (the node and the reason); NULL when it can.
    refusal         TEXT CHECK ((trainable = 1) = (refusal IS NULL)),
    uploaded_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;
