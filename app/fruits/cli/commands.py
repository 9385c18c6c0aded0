"""What each `fruits` command does with its parsed arguments and the environment's settings (read once, in `main`)."""

from __future__ import annotations

import argparse
import sys
from typing import Optional

from fruits.cli.deadline import Deadline, DeadlineExceeded
from fruits.cli.outputs import ExistingOutput, evaluate_output, migrate_output, report_output
from fruits.config.catalog import CatalogSettings
from fruits.config.job_config import JobConfig, PackConfig, S3Settings
from fruits.config.layout import CONFUSION, CSV_EXPORT, FEATURES, REJECTED, RUN_ARTIFACTS
from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.pipeline.job import run_job
from fruits.pipeline.pack import run_pack
from fruits.report.evaluate import format_evaluation
from fruits.report.text import summarize


def job_config(args: argparse.Namespace, settings: Settings) -> JobConfig:
    """The JobConfig of `fruits run`'s arguments and the environment's `settings`, not yet validated."""
    variance = args.pca_variance if args.pca_variance is not None else (None if args.pca_k is not None else JobConfig.pca_variance)
    return JobConfig(
        input_uri=args.input, output_uri=args.output, weights=args.weights, model=args.model, pca_k=args.pca_k,
        pca_variance=variance, batch_size=args.batch_size, master=args.master, remote=args.remote, limit=args.limit,
        output_format=args.output_format, files_per_partition=args.files_per_partition, seed=args.seed,
        keep_runs=args.keep_runs, incremental=args.incremental, reuse_model=args.reuse_model, verbose=args.verbose,
        evaluate=args.evaluate, precision=args.precision, lock_wait=args.lock_wait, resume=args.resume, input_list=args.input_list,
        s3=S3Settings.from_settings(settings, args.s3_endpoint, args.s3_path_style), pack=args.pack,
        catalog=catalog_settings(args, settings), spark_conf=tuple(args.conf), settings=settings,
    )


def catalog_settings(args: argparse.Namespace, settings: Settings) -> CatalogSettings:
    return CatalogSettings.from_settings(settings, args.catalog, args.catalog_uri, args.catalog_namespace)


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    config = job_config(args, settings).validate()
    if args.deadline < 0:
        raise ConfigError(f"--deadline must be 0 (none) or a positive number of seconds, got {args.deadline:g}")
    with Deadline(args.deadline, args.termination_log) as deadline:
        try:
            result = run_job(config)
        except Exception as exc:
            if deadline.expired.is_set():
                raise DeadlineExceeded(deadline.message) from exc
            raise
    if deadline.expired.is_set():
        deadline.finished_late()
    if result.pack is not None:
        print_pack(result.pack, config.input_uri, then="")
    print(summarize(result.metrics))
    if "evaluation" in result.metrics:
        print(format_evaluation(result.metrics["evaluation"]))
    print(f"\nRun {result.run.run_id} is the current snapshot of the tables of {result.run.output}:")
    for name in (FEATURES, REJECTED):
        print(f"  {name:13s} {config.catalog.namespace}.{name} at {result.run.output}/{name} (Iceberg)")
    print("Beside them, in its folder:")
    for artifact in (*RUN_ARTIFACTS, *([CONFUSION] if args.evaluate else []), *([CSV_EXPORT] if config.output_format == "csv" else [])):
        print(f"  {artifact:13s} {result.run[artifact]}")
    return 0


def cmd_pack(args: argparse.Namespace, settings: Settings) -> int:
    config = PackConfig(input_uri=args.input, output_uri=args.output, input_list=args.input_list, limit=args.limit,
                        master=args.master, files_per_partition=args.files_per_partition, lock_wait=args.lock_wait,
                        s3=S3Settings.from_settings(settings, args.s3_endpoint, args.s3_path_style), verbose=args.verbose,
                        spark_conf=tuple(args.conf), settings=settings).validate()
    result = run_pack(config)
    print_pack(result, config.input_uri, then=f"; featurize them with: fruits run --input {result.pack} --output OUTPUT")
    return 0


def print_pack(result, input_uri: str, then: str) -> None:
    """What a pack added (fruits.pipeline.pack.PackResult), the files it could not read, what it holds."""
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


def cmd_sample(args: argparse.Namespace, settings: Settings) -> int:
    from fruits.sample import DEFAULT_CLASSES, generate_sample

    if args.output.exists() and any(args.output.iterdir()):
        raise ConfigError(f"{args.output} exists and is not empty; choose a new folder")
    try:
        counts = generate_sample(args.output, classes=args.classes, per_class=args.per_class, seed=args.seed, kind=args.kind)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    classes = DEFAULT_CLASSES[args.kind] if args.classes is None else args.classes
    print(f"wrote {sum(counts.values())} images ({counts['Training']} Training, {counts['Test']} Test, "
          f"{classes} {args.kind} classes) to {args.output}")
    return 0


def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    report_output(existing_output(args, settings, run_id=args.run), args.png, as_json=args.json)
    return 0


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    done = migrate_output(existing_output(args, settings))
    print(f"migrated {len(done)} run(s) of {args.output} into its tables" + (f": {', '.join(done)}" if done else
                                                                           " (it was migrated already)"))
    return 0


def cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    evaluate_output(existing_output(args, settings))
    return 0


def cmd_weights(args: argparse.Namespace, settings: Settings) -> int:
    from fruits.models.weights import banner, demo_choice, download_imagenet_weights, keras_cache_file

    if args.action == "demo":
        choice = demo_choice(settings)
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
        path = keras_cache_file(settings)
        print(f"{path} ({'present' if path.is_file() else 'missing'}); override with {Settings.env_name('resnet50_weights')}")
        return 0
    print(f"downloaded {download_imagenet_weights(settings)}")
    return 0


def existing_output(args: argparse.Namespace, settings: Settings, run_id: Optional[str] = None) -> ExistingOutput:
    """`fruits report`, `evaluate` and `migrate`: the output they open and how."""
    return ExistingOutput(args.output, S3Settings.from_settings(settings, args.s3_endpoint, args.s3_path_style),
                          catalog=catalog_settings(args, settings), run_id=run_id, verbose=args.verbose,
                          spark_conf=tuple(args.conf), settings=settings)


COMMANDS = {"run": cmd_run, "pack": cmd_pack, "sample": cmd_sample, "report": cmd_report, "evaluate": cmd_evaluate,
            "migrate": cmd_migrate, "weights": cmd_weights}
