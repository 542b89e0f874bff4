-- 0007_run_changes: a change cursor, so that a reader (the results page, a script tailing a
-- sweep) can ask for what changed since it last looked instead of reading every run again. Each
-- run carries the number of its last change of state or figures, drawn from one database-wide
-- sequence; progress (step, heartbeats, lease extensions) is no such change. Triggers keep it, so
-- every writer — the server, a hand edit — moves the cursor.
CREATE TABLE change_sequence (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    last  INTEGER NOT NULL CHECK (last >= 0)
) STRICT;

ALTER TABLE runs ADD COLUMN changed INTEGER NOT NULL DEFAULT 0 CHECK (changed >= 0);
UPDATE runs SET changed = rowid;
INSERT INTO change_sequence (id, last) SELECT 1, COALESCE(MAX(changed), 0) FROM runs;

CREATE TRIGGER runs_changed_on_insert AFTER INSERT ON runs
BEGIN
    UPDATE change_sequence SET last = last + 1 WHERE id = 1;
    UPDATE runs SET changed = (SELECT last FROM change_sequence WHERE id = 1) WHERE key = NEW.key;
END;

CREATE TRIGGER runs_changed_on_update AFTER UPDATE OF
    status, attempts, error, test_accuracy, test_loss, total_weights, kept, effective, direct_compression, effective_compression,
    wall_seconds, images_per_second, finished_at ON runs
WHEN NEW.status IS NOT OLD.status OR NEW.attempts IS NOT OLD.attempts OR NEW.error IS NOT OLD.error
    OR NEW.test_accuracy IS NOT OLD.test_accuracy OR NEW.test_loss IS NOT OLD.test_loss
    OR NEW.total_weights IS NOT OLD.total_weights OR NEW.kept IS NOT OLD.kept OR NEW.effective IS NOT OLD.effective
    OR NEW.direct_compression IS NOT OLD.direct_compression OR NEW.effective_compression IS NOT OLD.effective_compression
    OR NEW.wall_seconds IS NOT OLD.wall_seconds OR NEW.images_per_second IS NOT OLD.images_per_second
    OR NEW.finished_at IS NOT OLD.finished_at
BEGIN
    UPDATE change_sequence SET last = last + 1 WHERE id = 1;
    UPDATE runs SET changed = (SELECT last FROM change_sequence WHERE id = 1) WHERE key = NEW.key;
END;
