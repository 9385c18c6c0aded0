"""The `fruits` command: run, sample, report, weights.

Exit codes: 0 done; 1 the run failed (one line says why, the log above has the details);
2 a bad argument or setting, reported before Spark starts whenever it can be.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Optional, Sequence, get_args

from fruits import __version__
from fruits.config import MODEL_DIMS, PRECISIONS, WEIGHT_NAMES, ConfigError, JobConfig, OutputFormat, PackConfig, S3Settings, SampleConfig
from fruits.quiet import set_tensorflow_log_level

log = logging.getLogger("fruits")

EXIT_FAILED = 1
EXIT_USAGE = 2


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """--verbose for the commands that start Spark: their quiet console is the default."""
    parser.add_argument("--verbose", action="store_true",
                        help="also show Spark's and TensorFlow's start-up lines, and the traceback of a failure")


def build_parser() -> argparse.ArgumentParser:
    """Every default and choice comes from JobConfig, SampleConfig and MODEL_DIMS, never restated here."""
    models = ", ".join(f"{name} ({dim} features)" for name, dim in MODEL_DIMS.items())
    pca_bounds = ", ".join(f"1-{dim} for {name}" for name, dim in MODEL_DIMS.items())
    parser = argparse.ArgumentParser(prog="fruits", description="Fruits-360 images -> ResNet50 features -> PCA, with Spark.")
    parser.add_argument("--version", action="version", version=f"fruits-pipeline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="featurize a folder of images and write a feature table")
    run.add_argument("--input", required=True, help="image folder: path, file:// or s3a:// URI (<root>/<Split>/<Label>/<name>.jpg)")
    run.add_argument("--output", required=True, help="output folder: path, file:// or s3a:// URI")
    run.add_argument("--model", choices=tuple(MODEL_DIMS), default=JobConfig.model,
                     help=f"featurizer: {models}; default %(default)s (EfficientNet-Lite0's ImageNet weights ship with a pip package)")
    run.add_argument("--weights", default=JobConfig.weights,
                     help=f"{' or '.join(WEIGHT_NAMES)}, or a path/URI to a weights file (.h5/.keras; a .pth state dict for "
                          "EfficientNet-Lite0); default %(default)s")
    pca = run.add_mutually_exclusive_group()
    pca.add_argument("--pca-k", type=int, help=f"number of PCA components: {pca_bounds}")
    pca.add_argument("--pca-variance", type=float,
                     help=f"keep the fewest components that explain this share of variance (default {JobConfig.pca_variance})")
    run.add_argument("--precision", choices=PRECISIONS, default=JobConfig.precision,
                     help="fp32: the model as trained; int8: the model quantized per run, calibrated on 100 of its images, "
                          "faster, features close to fp32 (cosine in metrics.json); default %(default)s")
    run.add_argument("--batch-size", type=int, default=JobConfig.batch_size,
                     help="images per model call and per Arrow batch (default %(default)s)")
    run.add_argument("--master", help="Spark master (default local[*], or the one spark-submit gives)")
    run.add_argument("--limit", type=int, help="only the first N files, in path order")
    run.add_argument("--format", dest="output_format", choices=get_args(OutputFormat), default=JobConfig.output_format,
                     help="table format; csv flattens vectors into one column per value (default %(default)s)")
    run.add_argument("--files-per-partition", type=int, default=JobConfig.files_per_partition,
                     help="images per Spark task (default %(default)s)")
    run.add_argument("--seed", type=int, default=JobConfig.seed, help="seed of the random weights (default %(default)s)")
    run.add_argument("--keep-runs", type=int, default=JobConfig.keep_runs, help="complete runs kept in the output (default %(default)s)")
    run.add_argument("--lock-wait", type=float, default=JobConfig.lock_wait, metavar="SECONDS",
                     help="if another run is writing the same output, wait up to this long for it (default: refuse at once)")
    run.add_argument("--input-list", metavar="URI",
                     help="read the input's files from this list instead of listing --input: a text file (one path per line), "
                          "CSV or Parquet with a path column, or an S3 Inventory manifest.json")
    run.add_argument("--pack", metavar="URI",
                     help="first add the input's new images to this image pack (as `fruits pack --output URI`), then "
                          "featurize from the pack: later runs read one Parquet file per ~128 MB instead of one object per image")
    run.add_argument("--resume", metavar="RUN_ID|auto",
                     help="finish an unfinished run: reuse the raw features its finished waves wrote, featurize the rest; "
                          "'auto' picks the newest unfinished run with the same settings, or starts a new one")
    run.add_argument("--incremental", action="store_true",
                     help="reuse the current run's rows for unchanged files (same path, size, modification time)")
    run.add_argument("--reuse-model", action="store_true",
                     help="project with the current run's scaler + PCA instead of fitting them again")
    run.add_argument("--evaluate", action="store_true",
                     help="also fit a logistic regression on Training, score it on Test (see `fruits evaluate`)")
    run.add_argument("--s3-endpoint", help="S3 endpoint URL (MinIO, VPC endpoint); env FRUITS_S3_ENDPOINT")
    run.add_argument("--s3-path-style", action=argparse.BooleanOptionalAction, default=None,
                     help="path-style S3 URLs (MinIO needs them); env FRUITS_S3_PATH_STYLE")
    add_verbose(run)

    pack = sub.add_parser("pack", help="add a folder's images to an image pack: Parquet files of their bytes, "
                                       "which `fruits run --input PACK` reads instead of one file per image")
    pack.add_argument("--input", required=True, help="image folder: path, file:// or s3a:// URI")
    pack.add_argument("--output", required=True, help="the pack: a new or empty folder, or an earlier pack to add the new files to")
    pack.add_argument("--input-list", metavar="URI", help="read the input's files from this list (as `fruits run --input-list`)")
    pack.add_argument("--limit", type=int, help="only the first N files, in path order")
    pack.add_argument("--master", help="Spark master (default local[*], or the one spark-submit gives)")
    pack.add_argument("--files-per-partition", type=int, default=PackConfig.files_per_partition,
                      help="images read per Spark task (default %(default)s)")
    pack.add_argument("--lock-wait", type=float, default=PackConfig.lock_wait, metavar="SECONDS",
                      help="if another pack is writing the same pack, wait up to this long for it (default: refuse at once)")
    pack.add_argument("--s3-endpoint", help="S3 endpoint URL (MinIO, VPC endpoint); env FRUITS_S3_ENDPOINT")
    pack.add_argument("--s3-path-style", action=argparse.BooleanOptionalAction, default=None,
                      help="path-style S3 URLs (MinIO needs them); env FRUITS_S3_PATH_STYLE")
    add_verbose(pack)

    sample = sub.add_parser("sample", help="generate a synthetic Fruits-360-like data set")
    sample.add_argument("--out", required=True, type=Path, help="folder to create")
    sample.add_argument("--set", dest="kind", choices=("shapes", "textures"), default=SampleConfig.kind,
                        help="shapes: classes differ in colour and outline; textures: one disc in shared colours, classes "
                             "differ only by surface, a test of whether features mean something (default %(default)s)")
    sample.add_argument("--classes", type=int, default=None,
                        help="number of classes (default: 10 of the 12 shapes, all 8 textures)")
    sample.add_argument("--per-class", type=int, default=SampleConfig.per_class,
                        help="images per class, 75%% Training / 25%% Test (default %(default)s)")
    sample.add_argument("--seed", type=int, default=SampleConfig.seed, help="seed (same seed, same bytes; default %(default)s)")

    report = sub.add_parser("report", help="print a run's metrics and redraw its PCA picture")
    report.add_argument("output", help="the --output of an earlier run")
    report.add_argument("--png", type=Path, help="write the picture here instead of into the run")
    report.add_argument("--s3-endpoint", help="S3 endpoint URL; env FRUITS_S3_ENDPOINT")
    report.add_argument("--s3-path-style", action=argparse.BooleanOptionalAction, default=None)
    add_verbose(report)

    evaluate = sub.add_parser("evaluate", help="logistic regression on a run's features: accuracy and per-class recall")
    evaluate.add_argument("output", help="the --output of an earlier run")
    evaluate.add_argument("--s3-endpoint", help="S3 endpoint URL; env FRUITS_S3_ENDPOINT")
    evaluate.add_argument("--s3-path-style", action=argparse.BooleanOptionalAction, default=None)
    add_verbose(evaluate)

    weights = sub.add_parser("weights", help="where the ImageNet weights are looked for; download them")
    weights.add_argument("action", choices=("where", "download", "demo"),
                         help="demo: print the --model and --weights `make run` uses, and on stderr why when it falls back")
    weights.add_argument("--model", choices=tuple(MODEL_DIMS), default=JobConfig.model)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-5s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("py4j", "matplotlib", "PIL"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    verbose = getattr(args, "verbose", False)
    if verbose:
        log.setLevel(logging.DEBUG)
    set_tensorflow_log_level(verbose)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as exc:
        print(f"fruits: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("fruits: interrupted; the previous complete output is untouched", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - turn any failure into one readable line
        from fruits.errors import explain

        log.debug("failure", exc_info=True)
        print(f"fruits: run failed: {explain(exc)}", file=sys.stderr)
        return EXIT_FAILED


def job_config(args: argparse.Namespace) -> JobConfig:
    """The JobConfig of `fruits run`'s arguments, not yet validated."""
    variance = args.pca_variance if args.pca_variance is not None else (None if args.pca_k is not None else JobConfig.pca_variance)
    return JobConfig(
        input_uri=args.input, output_uri=args.output, weights=args.weights, model=args.model, pca_k=args.pca_k,
        pca_variance=variance, batch_size=args.batch_size, master=args.master, limit=args.limit,
        output_format=args.output_format, files_per_partition=args.files_per_partition, seed=args.seed,
        keep_runs=args.keep_runs, incremental=args.incremental, reuse_model=args.reuse_model, verbose=args.verbose,
        evaluate=args.evaluate, precision=args.precision, lock_wait=args.lock_wait, resume=args.resume, input_list=args.input_list,
        s3=S3Settings.from_env(args.s3_endpoint, args.s3_path_style), pack=args.pack,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from fruits.job import run_job

    config = job_config(args).validate()
    result = run_job(config)
    if result.pack is not None:
        print_pack(result.pack, config.input_uri, then="")
    from fruits.report import summarize

    print(summarize(result.metrics))
    if "evaluation" in result.metrics:
        from fruits.evaluate import format_evaluation

        print(format_evaluation(result.metrics["evaluation"]))
    print(f"\nOutputs of run {result.run.run_id} (current run of {result.run.output}):")
    from fruits.schema import CONFUSION, REQUIRED_ARTIFACTS

    for artifact in (*REQUIRED_ARTIFACTS, *([CONFUSION] if args.evaluate else [])):
        print(f"  {artifact:13s} {result.run[artifact]}")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    from fruits.pack_job import run_pack

    config = PackConfig(input_uri=args.input, output_uri=args.output, input_list=args.input_list, limit=args.limit,
                        master=args.master, files_per_partition=args.files_per_partition, lock_wait=args.lock_wait,
                        s3=S3Settings.from_env(args.s3_endpoint, args.s3_path_style), verbose=args.verbose).validate()
    result = run_pack(config)
    print_pack(result, config.input_uri, then=f"; featurize them with: fruits run --input {result.pack} --output OUTPUT")
    return 0


def print_pack(result, input_uri: str, then: str) -> None:
    """What a pack added (fruits.pack_job.PackResult), the files it could not read, what it holds."""
    added = result.generation
    if added is None:
        print(f"nothing new: every file under {input_uri} is in {result.pack} already")
    else:
        print(f"added {added.rows:,} files ({added.images:,} images, {added.bytes / 1e6:,.1f} MB) to {result.pack} "
              f"as {added.name}" + (f"; {added.supersedes:,} of them replace older versions" if added.supersedes else ""))
    if result.unread:
        print(f"{result.unread:,} files could not be read and were left out; the next pack tries them again. For example:")
        for example in result.unread_examples:
            print(f"  {example}")
    print(f"the pack holds {result.manifest.rows:,} files in {len(result.manifest.generations)} generation(s){then}")


def cmd_sample(args: argparse.Namespace) -> int:
    from fruits.sample import DEFAULT_CLASSES, generate_sample

    if args.out.exists() and any(args.out.iterdir()):
        raise ConfigError(f"{args.out} exists and is not empty; choose a new folder")
    try:
        counts = generate_sample(args.out, classes=args.classes, per_class=args.per_class, seed=args.seed, kind=args.kind)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    classes = DEFAULT_CLASSES[args.kind] if args.classes is None else args.classes
    print(f"wrote {sum(counts.values())} images ({counts['Training']} Training, {counts['Test']} Test, "
          f"{classes} {args.kind} classes) to {args.out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from fruits.existing_output import report_output

    report_output(args.output, args.png, S3Settings.from_env(args.s3_endpoint, args.s3_path_style), args.verbose)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from fruits.existing_output import evaluate_output

    evaluate_output(args.output, S3Settings.from_env(args.s3_endpoint, args.s3_path_style), args.verbose)
    return 0


def cmd_weights(args: argparse.Namespace) -> int:
    from fruits.weights import banner, demo_choice, download_imagenet_weights, keras_cache_file

    if args.action == "demo":
        choice = demo_choice()
        if choice.notice:
            print(f"\n{banner(choice.notice)}\n", file=sys.stderr)
        print(" ".join(choice.flags))
        return 0
    if args.model == "efficientnet-lite0":
        from fruits.models.efficientnet_lite0 import WEIGHTS_PACKAGE, WeightsNotFound, locate_weights

        if args.action == "download":
            raise ConfigError(f"EfficientNet-Lite0 weights come with the pip package {WEIGHTS_PACKAGE}; nothing to download")
        try:
            print(f"{locate_weights()} (present)")
        except WeightsNotFound as exc:
            print(f"missing: {exc}")
        return 0
    if args.action == "where":
        path = keras_cache_file()
        print(f"{path} ({'present' if path.is_file() else 'missing'}); override with FRUITS_RESNET50_WEIGHTS")
        return 0
    print(f"downloaded {download_imagenet_weights()}")
    return 0


COMMANDS = {"run": cmd_run, "pack": cmd_pack, "sample": cmd_sample, "report": cmd_report, "evaluate": cmd_evaluate, "weights": cmd_weights}

if __name__ == "__main__":
    sys.exit(main())
