"""`make bench-pca`: time the scaler + PCA fit on a Fruits-360-sized table (90,000 x 2048 by default).

The features are generated, not computed: a low-rank signal plus noise (so the spectrum decays
like real CNN features do), written once as Parquet with pyarrow, then read by Spark and fed to
`fruits.pipeline.pca.fit_reduce` exactly as the job does (variance target 0.90 by default, so k comes
from the spectrum). Prints the seconds per step and writes a JSON result. Reported, not asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def generate(path: Path, rows: int, dim: int, rank: int, seed: int, chunk: int = 10_000) -> None:
    """Write `rows` x `dim` float32 features (column `features`: list<float>) as Parquet."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(rank, dim)).astype(np.float32)
    scale = (1.0 / np.arange(1, rank + 1) ** 0.7).astype(np.float32)[:, None]
    path.mkdir(parents=True, exist_ok=True)
    for part, first in enumerate(range(0, rows, chunk)):
        n = min(chunk, rows - first)
        signal = rng.normal(size=(n, rank)).astype(np.float32) @ (scale * basis)
        features = np.maximum(signal + 0.3 * rng.normal(size=(n, dim)).astype(np.float32), 0.0)  # ReLU-like, as pooled CNN outputs
        column = pa.FixedSizeListArray.from_arrays(pa.array(features.ravel()), dim).cast(pa.list_(pa.float32()))
        pq.write_table(pa.table({"features": column}), path / f"part-{part:05d}.parquet")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=90_000)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--rank", type=int, default=256, help="rank of the generated signal")
    parser.add_argument("--variance", type=float, default=0.90)
    parser.add_argument("--work", type=Path, default=Path("out/bench-pca"))
    parser.add_argument("--result", type=Path, default=Path("out/bench-pca/result.json"))
    args = parser.parse_args()

    data = args.work / f"features-{args.rows}x{args.dim}-r{args.rank}"
    if not (data / "_DONE").exists():
        started = time.perf_counter()
        generate(data, args.rows, args.dim, args.rank, seed=1)
        (data / "_DONE").write_text("")
        print(f"generated {args.rows} x {args.dim} features in {time.perf_counter() - started:.1f} s -> {data}", flush=True)

    from fruits.config.job_config import JobConfig
    from fruits.pipeline.pca import fit_reduce
    from fruits.spark.session import build_session

    os.environ.setdefault("FRUITS_SPARK_PROGRESS", "false")
    spark = build_session(JobConfig(input_uri=str(data), output_uri=str(args.work / "unused"), master="local[*]"))
    spark.sparkContext.setLogLevel("ERROR")
    table = spark.read.parquet(str(data.resolve())).cache()
    started = time.perf_counter()
    rows = table.count()
    load = time.perf_counter() - started

    started = time.perf_counter()
    _, summary = fit_reduce(table, args.dim, None, args.variance, str((args.work / "model").resolve()))
    fit = time.perf_counter() - started
    result = {
        "rows": rows, "dim": args.dim, "cores": os.cpu_count(), "variance_target": args.variance,
        "k": summary.k, "explained": summary.cumulative[-1],
        "seconds": {"read_and_cache": round(load, 1), "fit_scaler_and_pca": round(fit, 1)},
    }
    spark.stop()
    args.result.parent.mkdir(parents=True, exist_ok=True)
    args.result.write_text(json.dumps(result, indent=2) + "\n")
    print(f"PCA fit on {rows} x {args.dim}: {fit:.1f} s (k={summary.k} for {args.variance:.0%} of the variance, "
          f"{summary.cumulative[-1]:.1%}); reading and caching the table {load:.1f} s")
    print(f"result: {args.result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
