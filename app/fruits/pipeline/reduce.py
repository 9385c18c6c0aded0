"""The reduce stage: scaler + PCA fitted on the accepted rows (fruits.pipeline.pca), or the stored ones reused."""

from __future__ import annotations

import logging

from fruits.config.layout import MODEL
from fruits.config.schema import FEATURE_COLUMNS, FILE_KEY, REJECTED_COLUMNS
from fruits.errors import JobError
from fruits.inputs.listing import with_labels
from fruits.pipeline.pca import PcaSummary, fit_reduce, project
from fruits.pipeline.run import Featurized, Listed, Reduced, Run

log = logging.getLogger(__name__)


def reduce_stage(r: Run, listed: Listed, featurized: Featurized) -> Reduced:
    """Scaler + PCA fitted on the accepted rows (or the stored model with --reuse-model), read from files."""
    from pyspark.ml import PipelineModel
    from pyspark.sql import functions as F

    config, plan = r.config, listed
    accepted = with_labels(featurized.raw.filter(F.col("error").isNull())).select(*FEATURE_COLUMNS)
    rejected = (featurized.raw.filter(F.col("error").isNotNull()).select(*FILE_KEY, F.col("error").alias("reason"))
                .unionByName(listed.todo.filter(F.col("reason").isNotNull()).select(*REJECTED_COLUMNS)))
    if plan.reused_features is not None:
        accepted = accepted.unionByName(plan.reused_features.select(*FEATURE_COLUMNS))
        rejected = rejected.unionByName(plan.reused_rejected.select(*REJECTED_COLUMNS))
    n_accepted, n_rejected = accepted.count() + plan.carried_rows, rejected.count()
    if n_accepted + n_rejected != listed.listed:
        raise JobError(f"listed {listed.listed} files but accounted for {n_accepted} accepted + {n_rejected} rejected; "
                       "nothing was written")
    if n_accepted == 0:
        reasons = [row.reason for row in rejected.limit(3).collect()]
        raise JobError(f"none of the {listed.images} images could be decoded; for example: {reasons}")
    with r.timer("reduce"):
        if config.reuse_model:
            model = PipelineModel.load(r.previous.run[MODEL])
            stored = r.previous.metrics["pca"]
            pca = PcaSummary(k=stored["k"], explained_variance=stored["explained_variance"],
                             target_variance=stored.get("target_variance"), spectrum=stored.get("spectrum", []))
            log.info("projecting with the model of run %s (k=%d)", r.previous.run.run_id, pca.k)
        else:
            if n_accepted < 2:
                raise JobError(f"PCA needs at least 2 decoded images, got {n_accepted}; nothing was written")
            try:
                model, pca = fit_reduce(accepted, config.feature_dim, config.pca_k, config.pca_variance, r.run[MODEL])
            except ValueError as exc:
                raise JobError(f"cannot fit the PCA: {exc}; nothing was written") from exc
        log.info("PCA: k=%d components explain %.1f%% of the variance", pca.k, 100 * pca.cumulative[-1])
    return Reduced(table=project(model, accepted), rejected=rejected, model=model, pca=pca,
                   accepted=n_accepted, rejected_count=n_rejected, carried_files=plan.carried_files,
                   model_saved=not config.reuse_model)


