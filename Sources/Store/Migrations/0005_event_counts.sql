-- 0005_event_counts: /metrics reports queue events by kind as monotone totals. Counting the events
-- table at every scrape cost O(events) (it only grew), and once old events may be deleted
-- (`serve --events-retention-days`) a count would go backwards. A trigger keeps one running total
-- per kind instead: a scrape reads a handful of rows, and deleting events changes no total.
CREATE TABLE event_counts (
    kind   TEXT PRIMARY KEY,
    total  INTEGER NOT NULL CHECK (total >= 0)
) STRICT, WITHOUT ROWID;

INSERT INTO event_counts (kind, total) SELECT kind, COUNT(*) FROM events GROUP BY kind;

CREATE TRIGGER events_count_kind AFTER INSERT ON events
BEGIN
    INSERT INTO event_counts (kind, total) VALUES (NEW.kind, 1)
        ON CONFLICT (kind) DO UPDATE SET total = total + 1;
END;
