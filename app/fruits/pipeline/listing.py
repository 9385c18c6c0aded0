"""The list stage: every entry under the input as a row with its skip reason, and the incremental plan."""

from __future__ import annotations

import logging

from fruits.errors import ConfigError, JobError
from fruits.inputs.entry_rules import IMAGE_EXTENSIONS
from fruits.inputs.listing import ListingMismatch, list_files, with_skip_reason
from fruits.pipeline.incremental import plan_work
from fruits.pipeline.run import Listed, Run

log = logging.getLogger(__name__)


def list_stage(r: Run) -> Listed:
    """List the input, give each entry its skip reason, and plan an incremental run."""
    from pyspark.sql import functions as F

    with r.timer("list"):
        try:
            listing = list_files(r.spark, r.config.input_uri, r.s3, r.config.limit,
                                 r.config.input_list)
        except ListingMismatch as exc:
            raise JobError(str(exc)) from exc
        files, listed = with_skip_reason(listing.files, r.config.settings.max_file_bytes), listing.listed
        readable = files.filter(F.col("reason").isNull()).count()
        if readable == 0:
            raise ConfigError(f"input {r.config.input_uri} holds no readable image files ({', '.join(sorted(IMAGE_EXTENSIONS))})")
        plan = plan_work(files, listed, r.previous if r.config.incremental else None, carry_files=r.config.reuse_model)
        images = plan.todo.filter(F.col("reason").isNull()).count() if r.previous is not None and r.config.incremental else readable
    log.info("listed %d files; %d non-empty images to featurize", listed, images)
    counts = dict(plan.counts, previous_run=r.previous.run.run_id if r.previous else None, reused_model=r.config.reuse_model)
    return Listed(files=files, listed=listed, todo=plan.todo, images=images, incremental=counts,
                  reused_features=plan.reused_features, reused_rejected=plan.reused_rejected, list_retries=listing.retries,
                  cached=listing.files, carried_files=plan.carried_files, carried_rows=plan.carried_rows,
                  replaced_files=plan.replaced_files, pack=listing.pack)


