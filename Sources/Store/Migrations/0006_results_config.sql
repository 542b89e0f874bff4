-- 0006_results_config: the `results` view shows every field of a run's config, so that a sweep
-- can be read from SQL alone whatever it varied (momentum, lr_drops, eval_every and the pruners'
-- own settings were missing). The names follow one rule, which a test checks against the config
-- format: a top-level field keeps its name (compression reads target_compression), a `training`
-- field its own name, a pruner group's field `<group>_<field>`; lr_drops is a JSON array, augment
-- 1 unless the run turned augmentation off.
DROP VIEW results;

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
    json_extract(r.config, '$.training.momentum')       AS momentum,
    json_extract(r.config, '$.training.weight_decay')   AS weight_decay,
    json_extract(r.config, '$.training.lr_drops')       AS lr_drops,
    json_extract(r.config, '$.training.eval_every')     AS eval_every,
    coalesce(json_extract(r.config, '$.training.augment'), 1) AS augment,
    json_extract(r.config, '$.synflow.rounds')          AS synflow_rounds,
    json_extract(r.config, '$.snip.batches')            AS snip_batches,
    json_extract(r.config, '$.snip.rounds')             AS snip_rounds,
    json_extract(r.config, '$.grasp.batches')           AS grasp_batches,
    json_extract(r.config, '$.lth.rate')                AS lth_rate,
    json_extract(r.config, '$.lth.rounds')              AS lth_rounds,
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
