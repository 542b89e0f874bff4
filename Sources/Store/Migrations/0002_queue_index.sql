-- 0002_queue_index: leasing takes the oldest queued run. A partial index on queued runs keeps
-- them in rowid (submission) order, so the lease query stops at the first runnable run instead
-- of sorting every queued run (a 7 000-run queue gave about 100 lease→finish cycles per second
-- with the server's core saturated; see BENCHMARKS.md, service).
CREATE INDEX runs_queued ON runs (status) WHERE status = 'queued';
