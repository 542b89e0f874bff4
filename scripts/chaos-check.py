#!/usr/bin/env python3
"""Invariants of a sweep that survived faults, checked in SQLite against a calm run of the same sweep.

    python3 scripts/chaos-check.py CHAOS.sqlite CALM.sqlite [--runs N] [--stats FILE]

Asserts, on the chaos database: PRAGMA integrity_check is ok and foreign_key_check empty; N runs
(the calm run's set of keys), every one succeeded, with exactly one `succeeded` event and no
`failed` one and no `retry` one (the soak's runs cannot fail on their own: a reported failure is
a fault of the service blamed on the run; --allow-retries accepts them); every attempt has its
`leased` event and every attempt beyond the first a `lease_expired` or `retry` event; metrics have no duplicate (run_key, phase, step, name) and no
gap (the four evaluation metrics at every `eval_every` step and the last one, of every phase);
no checkpoint is left. Against the calm database, bit for bit: the final figures (accuracy, loss,
counts, direct and effective compression), the result JSON without its timings, the per-layer
table, both kinds of masks and every metric value. Prints what fails (exit 1), else a one-line
summary; --stats writes counts for the caller as JSON.
"""
import argparse
import json
import sqlite3
import struct
import sys

EVAL_METRICS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy")
FIGURES = ("test_accuracy", "test_loss", "total_weights", "kept", "effective", "direct_compression",
           "effective_compression")
# Differ from run to run by nature: how long it took, and where an attempt resumed.
TIMINGS = {"wall_seconds", "training_seconds", "images_per_second", "resumed_from_step",
           "wallSeconds", "trainingSeconds", "imagesPerSecond", "resumedFromStep"}


def exact(value):
    """A value compared bit for bit (floats by their IEEE-754 bytes, so -0.0 ≠ 0.0 and NaN = NaN)."""
    if isinstance(value, float):
        return ("f", struct.pack("<d", value))
    return value


def open_ro(path):
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


def expected_metrics(config):
    """(phase, step, name) of every evaluation a run of `config` records."""
    training = config["training"]
    iterations, every = training["iterations"], training["eval_every"]
    steps = set(range(every, iterations + 1, every)) | {iterations}
    if config.get("pruner") == "lth":
        rounds = (config.get("lth") or {}).get("rounds") or 1
        phases = range(1, rounds + 1)
    else:
        phases = [0]
    return {(phase, step, name) for phase in phases for step in steps for name in EVAL_METRICS}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chaos")
    parser.add_argument("calm")
    parser.add_argument("--runs", type=int, help="how many runs the sweep has (default: as many as the calm run)")
    parser.add_argument("--stats", help="write counts (runs, expiries, retries, resumed runs) here as JSON")
    parser.add_argument("--allow-retries", action="store_true",
                        help="accept runs reported failed and retried (sweeps whose runs may fail on their own)")
    args = parser.parse_args()
    failures = []

    def fail(message):
        failures.append(message)

    chaos, calm = open_ro(args.chaos), open_ro(args.calm)
    for name, db in (("chaos", chaos), ("calm", calm)):
        integrity = db.execute("PRAGMA integrity_check").fetchall()
        if integrity != [("ok",)]:
            fail(f"{name}: PRAGMA integrity_check: {integrity[:5]}")
        foreign = db.execute("PRAGMA foreign_key_check").fetchall()
        if foreign:
            fail(f"{name}: PRAGMA foreign_key_check: {len(foreign)} rows, e.g. {foreign[:3]}")

    def runs(db):
        columns = ", ".join(("key", "status", "attempts", "config", "result") + FIGURES)
        return {row[0]: dict(zip(columns.split(", "), row)) for row in db.execute(f"SELECT {columns} FROM runs")}

    chaos_runs, calm_runs = runs(chaos), runs(calm)
    expected = args.runs if args.runs is not None else len(calm_runs)
    if len(calm_runs) != expected:
        fail(f"calm: {len(calm_runs)} runs, expected {expected}")
    for key, run in calm_runs.items():
        if run["status"] != "succeeded":
            fail(f"calm: run {key[:12]} is {run['status']}")
    lost = sorted(set(calm_runs) - set(chaos_runs))
    extra = sorted(set(chaos_runs) - set(calm_runs))
    if len(chaos_runs) != expected or lost or extra:
        fail(f"chaos: {len(chaos_runs)} runs, expected {expected}; missing {[k[:12] for k in lost]}, "
             f"unexpected {[k[:12] for k in extra]}")
    unfinished = {key: run["status"] for key, run in chaos_runs.items() if run["status"] != "succeeded"}
    if unfinished:
        fail(f"chaos: {len(unfinished)} runs did not succeed: "
             + ", ".join(f"{k[:12]} {s}" for k, s in sorted(unfinished.items())[:10]))

    # Events: one success a run, every attempt leased once, every attempt beyond the first explained.
    def counts(kind):
        return dict(chaos.execute("SELECT run_key, COUNT(*) FROM events WHERE kind = ? GROUP BY run_key", (kind,)).fetchall())

    succeeded, leased = counts("succeeded"), counts("leased")
    expired, retried, failed = counts("lease_expired"), counts("retry"), counts("failed")
    duplicated = {key: n for key, n in succeeded.items() if n != 1}
    if duplicated:
        fail(f"chaos: runs with more than one succeeded event: "
             + ", ".join(f"{k[:12]}×{n}" for k, n in sorted(duplicated.items())))
    missing_success = [key for key in chaos_runs if key not in succeeded]
    if missing_success:
        fail(f"chaos: {len(missing_success)} runs without a succeeded event: {[k[:12] for k in missing_success[:10]]}")
    if failed:
        fail(f"chaos: failed events: {sorted((k[:12], n) for k, n in failed.items())}")
    if retried and not args.allow_retries:
        # The soak's runs are sound: a failure reported for one is a fault of the service blamed on the run.
        for key, worker, detail in chaos.execute("SELECT run_key, worker_id, detail FROM events WHERE kind = 'retry' LIMIT 5"):
            fail(f"chaos: run {key[:12]} was reported failed by {worker} (retry event; the runs themselves cannot fail): "
                 f"{(detail or '')[:300]}")
    for key, run in sorted(chaos_runs.items()):
        attempts = run["attempts"]
        if leased.get(key, 0) != attempts:
            fail(f"chaos: run {key[:12]} has {attempts} attempts but {leased.get(key, 0)} leased events")
        explained = expired.get(key, 0) + retried.get(key, 0)
        if attempts - 1 != explained:
            fail(f"chaos: run {key[:12]}: {attempts} attempts, but {expired.get(key, 0)} lease_expired and "
                 f"{retried.get(key, 0)} retry events (attempts without an expiry or retry)")

    # Metrics: no duplicates, no gaps, nothing unexpected.
    for name, db in (("chaos", chaos), ("calm", calm)):
        duplicates = db.execute("SELECT run_key, phase, step, name, COUNT(*) FROM metrics GROUP BY 1, 2, 3, 4 "
                                "HAVING COUNT(*) > 1").fetchall()
        if duplicates:
            fail(f"{name}: {len(duplicates)} duplicated metrics, e.g. "
                 + ", ".join(f"{r[0][:12]} phase {r[1]} step {r[2]} {r[3]}×{r[4]}" for r in duplicates[:5]))

    def metrics(db):
        found = {}
        for key, phase, step, name, value in db.execute("SELECT run_key, phase, step, name, value FROM metrics"):
            found.setdefault(key, {})[(phase, step, name)] = exact(value)
        return found

    chaos_metrics, calm_metrics = metrics(chaos), metrics(calm)
    gaps = 0
    for key, run in sorted(chaos_runs.items()):
        want = expected_metrics(json.loads(run["config"]))
        have = set(chaos_metrics.get(key, {}))
        missing, unexpected = sorted(want - have), sorted(have - want)
        if missing or unexpected:
            gaps += len(missing)
            fail(f"chaos: run {key[:12]} metrics: {len(missing)} missing (e.g. {missing[:3]}), "
                 f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")

    # Identical to the calm run, bit for bit.
    def strip(result):
        def clean(value):
            if isinstance(value, dict):
                return {k: clean(v) for k, v in value.items() if k not in TIMINGS}
            if isinstance(value, list):
                return [clean(v) for v in value]
            return exact(value)
        return clean(json.loads(result)) if result else None

    def rows(db, sql):
        found = {}
        for row in db.execute(sql):
            found.setdefault(row[0], []).append(tuple(exact(v) for v in row[1:]))
        return found

    layer_sql = "SELECT run_key, layer_index, name, shape, size, kept, effective, quota FROM layers ORDER BY run_key, layer_index"
    mask_sql = "SELECT run_key, kind, layer_index, bits FROM masks ORDER BY run_key, kind, layer_index"
    chaos_layers, calm_layers = rows(chaos, layer_sql), rows(calm, layer_sql)
    chaos_masks, calm_masks = rows(chaos, mask_sql), rows(calm, mask_sql)
    differ = set()
    for key in sorted(set(chaos_runs) & set(calm_runs)):
        a, b = chaos_runs[key], calm_runs[key]
        for figure in FIGURES:
            if exact(a[figure]) != exact(b[figure]):
                differ.add(key)
                fail(f"run {key[:12]}: {figure} {a[figure]!r} after chaos, {b[figure]!r} calm")
        if strip(a["result"]) != strip(b["result"]):
            differ.add(key)
            left, right = strip(a["result"]) or {}, strip(b["result"]) or {}
            fields = sorted(k for k in set(left) | set(right) if left.get(k) != right.get(k))
            fail(f"run {key[:12]}: result JSON differs from calm in {fields}: "
                 + ", ".join(f"{f} {json.loads(a['result'] or '{}').get(f)!r} vs {json.loads(b['result'] or '{}').get(f)!r}"
                             for f in fields[:4]))
        if chaos_layers.get(key) != calm_layers.get(key):
            differ.add(key)
            fail(f"run {key[:12]}: per-layer table differs from calm")
        if chaos_masks.get(key) != calm_masks.get(key):
            differ.add(key)
            left, right = chaos_masks.get(key, []), calm_masks.get(key, [])
            fail(f"run {key[:12]}: masks differ from calm ({len(left)} vs {len(right)} layer masks; "
                 f"{sum(1 for x, y in zip(left, right) if x != y)} differ)")
        if chaos_metrics.get(key, {}) != calm_metrics.get(key, {}):
            differ.add(key)
            left, right = chaos_metrics.get(key, {}), calm_metrics.get(key, {})
            changed = sorted(k for k in set(left) & set(right) if left[k] != right[k])
            fail(f"run {key[:12]}: metrics differ from calm: {len(changed)} values (e.g. {changed[:3]}), "
                 f"{len(set(right) - set(left))} missing, {len(set(left) - set(right))} extra")
        if not calm_masks.get(key):
            fail(f"calm: run {key[:12]} has no masks")

    left_over = chaos.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0]
    if left_over:
        fail(f"chaos: {left_over} checkpoints left after every run finished")

    resumed = sum(1 for run in chaos_runs.values() if run["attempts"] > 1)
    stats = {"runs": len(chaos_runs), "succeeded": sum(1 for r in chaos_runs.values() if r["status"] == "succeeded"),
             "lost": len(lost) + len(unfinished), "duplicated": len(duplicated),
             "expiries": sum(expired.values()), "retries": sum(retried.values()), "retried_runs": resumed,
             "max_attempts": max((r["attempts"] for r in chaos_runs.values()), default=0),
             "metric_gaps": gaps, "differ_from_calm": len(differ), "identical_to_calm": not differ and not failures,
             "failures": len(failures)}
    if args.stats:
        with open(args.stats, "w") as out:
            json.dump(stats, out)
    for message in failures[:40]:
        print(f"chaos-check: FAIL: {message}", file=sys.stderr)
    if len(failures) > 40:
        print(f"chaos-check: … and {len(failures) - 40} more", file=sys.stderr)
    if failures:
        return 1
    print(f"chaos-check: ok: {stats['runs']} runs succeeded once each, {stats['expiries']} expiries and "
          f"{stats['retries']} retries all in the events, {resumed} runs took more than one attempt (up to "
          f"{stats['max_attempts']}), no metric duplicated or missing, figures, masks and metrics bit-identical to the calm run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
