"""One typed place for every setting of a run, validated before Spark starts.

`JobConfig` is built from CLI flags (`fruits.cli`), whose defaults are the field defaults here, and the
environment's settings, read once by `fruits.config.settings` and carried in `settings`; then `validate()` checks everything that
can be checked without a JVM, so a typo costs a second and a one-line message (exit code 2), not a
Spark start-up.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, replace
from typing import Literal, Optional

from fruits.config.catalog import CatalogSettings
from fruits.config.layout import RUN_ID_PATTERN
from fruits.config.settings import DEFAULT_REGION, Settings
from fruits.config.uris import check_supported, is_remote, is_s3, local_path, overlap, within
from fruits.errors import ConfigError

WEIGHT_NAMES = ("imagenet", "random")
WEIGHT_FILE_SUFFIXES = (".h5", ".keras", ".weights.h5", ".pth")
# Featurizers and the size of the vector each gives.
MODEL_DIMS = {"resnet50": 2048, "efficientnet-lite0": 1280}
FEATURE_DIM = MODEL_DIMS["resnet50"]
OutputFormat = Literal["parquet", "csv"]
# fp32: the model as trained; int8: quantized per run, calibrated on the run's images (fruits.models.quantize).
PRECISIONS = ("fp32", "int8")


@dataclass(frozen=True)
class S3Settings:
    """How the job talks to S3, for S3A and the workers' own reads alike. None means: leave Hadoop's
    default (or a value set by spark-submit).

    No keys live here: S3A and the workers read AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY from the
    environment, or the default provider chain (IRSA web identity, EKS Pod Identity) when they are
    absent. `region` and `ca_bundle` are read from the driver's environment once and travel with
    the rest, so every worker signs for the same region and trusts the same certificates.
    """

    endpoint: Optional[str] = None
    path_style: Optional[bool] = None
    credentials_provider: Optional[str] = None
    region: str = DEFAULT_REGION
    ca_bundle: Optional[str] = None
    # Requester pays, and server-side encryption as S3A names it (SSE-S3, SSE-KMS, DSSE-KMS) with its KMS key.
    requester_pays: bool = False
    encryption: Optional[str] = None
    kms_key_id: Optional[str] = None

    @classmethod
    def from_settings(cls, settings: Settings, endpoint: Optional[str] = None, path_style: Optional[bool] = None) -> "S3Settings":
        """The flags where given, else FRUITS_S3_* (`fruits.config.settings`).

        >>> s3 = S3Settings.from_settings(Settings(s3_endpoint="http://minio:9000", aws_region="eu-west-1"), path_style=True)
        >>> s3.endpoint, s3.path_style, s3.credentials_provider, s3.region, s3.ca_bundle, s3.requester_pays, s3.encryption
        ('http://minio:9000', True, None, 'eu-west-1', None, False, None)
        """
        return cls(
            endpoint=endpoint or settings.s3_endpoint,
            path_style=path_style if path_style is not None else settings.s3_path_style,
            credentials_provider=settings.s3_credentials_provider,
            region=settings.region,
            ca_bundle=settings.aws_ca_bundle,
            requester_pays=settings.s3_requester_pays,
            encryption=settings.s3_encryption,
            kms_key_id=settings.s3_kms_key_id,
        )


@dataclass(frozen=True)
class JobConfig:
    """Everything `fruits run` needs. URIs are local paths, file:// or s3a:// URIs."""

    input_uri: str
    output_uri: str
    weights: str = "imagenet"
    model: str = "resnet50"
    pca_k: Optional[int] = None
    pca_variance: Optional[float] = 0.90
    batch_size: int = 32
    master: Optional[str] = None
    # A Spark Connect server to run on instead of a Spark of this process: sc://HOST:PORT, or
    # local[N] for one started here (fruits.spark.session.build_session).
    remote: Optional[str] = None
    limit: Optional[int] = None
    output_format: OutputFormat = "parquet"
    files_per_partition: int = 256
    seed: int = 42
    keep_runs: int = 2
    incremental: bool = False
    evaluate: bool = False
    reuse_model: bool = False
    precision: str = "fp32"
    # Seconds to wait for another run's lock on the output before giving up (0: refuse at once).
    lock_wait: float = 0.0
    # Finish an unfinished run instead of starting a new one: its id, or "auto" (fruits.pipeline.stages.start).
    resume: Optional[str] = None
    # A list of the input's files (text, CSV, Parquet, or an S3 Inventory manifest.json) instead of
    # listing --input: for very large inputs (fruits.inputs.input_list).
    input_list: Optional[str] = None
    s3: S3Settings = field(default_factory=S3Settings)
    # Where the output's tables are registered (fruits.config.catalog); the default needs a local output.
    catalog: CatalogSettings = field(default_factory=CatalogSettings)
    # Show the JVM's and TensorFlow's start-up lines in local mode (hidden by default: fruits.quiet).
    verbose: bool = False
    # Add the input's new images to this image pack first (`fruits pack`), then read them from it.
    pack: Optional[str] = None
    # Spark settings passed as they are (`--conf key=value`), over the job's own defaults.
    spark_conf: tuple[tuple[str, str], ...] = ()
    # The environment's settings, read once by the CLI (fruits.config.settings); the defaults here.
    settings: Settings = field(default_factory=Settings)

    def validate(self) -> "JobConfig":
        """Check every setting that needs no JVM; raise ConfigError with a one-line message."""
        _check_input(self.input_uri)
        _check_output(self.output_uri, self.input_uri)
        self.catalog.validate(self.output_uri)
        if self.pack is not None:
            for other, name in ((self.input_uri, "--input"), (self.output_uri, "--output")):
                if overlap(self.pack, other):
                    raise ConfigError(f"--pack {self.pack!r} overlaps {name} {other!r}: give the pack a folder of its own")
            self.pack_config().validate()
        check_remote(self.remote, self.master)
        if self.remote and self.pack is not None:
            raise ConfigError("--pack runs on a Spark of this process: run `fruits pack` first, then --remote with the pack as --input")
        check_weights(self.weights)
        if self.model not in MODEL_DIMS:
            raise ConfigError(f"unknown model {self.model!r}: use {' or '.join(MODEL_DIMS)}")
        if self.weights.endswith(".pth") and self.model != "efficientnet-lite0":
            raise ConfigError("a .pth state dict is for --model efficientnet-lite0; ResNet50 takes .h5 or .keras files")
        if self.pca_k is not None and self.pca_variance is not None:
            raise ConfigError("give either --pca-k or --pca-variance, not both")
        if self.pca_k is None and self.pca_variance is None:
            raise ConfigError("give --pca-k K or --pca-variance V")
        if self.pca_k is not None and not 1 <= self.pca_k <= self.feature_dim:
            raise ConfigError(f"--pca-k must be between 1 and {self.feature_dim} (the feature size), got {self.pca_k}")
        if self.pca_variance is not None and not 0.0 < self.pca_variance <= 1.0:
            raise ConfigError(f"--pca-variance must be in (0, 1], got {self.pca_variance}")
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size must be at least 1, got {self.batch_size}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.files_per_partition < 1:
            raise ConfigError(f"--files-per-partition must be at least 1, got {self.files_per_partition}")
        if self.resume is not None and self.resume != "auto" and not RUN_ID_PATTERN.match(self.resume):
            raise ConfigError(f"--resume takes a run id like 20261203T090000Z-3f2a1c, or 'auto'; got {self.resume!r}")
        if self.lock_wait < 0:
            raise ConfigError(f"--lock-wait must be 0 or more seconds, got {self.lock_wait}")
        if self.keep_runs < 1:
            raise ConfigError(f"--keep-runs must be at least 1, got {self.keep_runs}")
        if self.precision not in PRECISIONS:
            raise ConfigError(f"--precision must be {' or '.join(PRECISIONS)}, got {self.precision!r}")
        if self.output_format not in ("parquet", "csv"):
            raise ConfigError(f"--format must be parquet or csv, got {self.output_format!r}")
        return self

    @property
    def feature_dim(self) -> int:
        return MODEL_DIMS.get(self.model, FEATURE_DIM)

    @property
    def uses_s3(self) -> bool:
        return any(is_s3(u) for u in (self.input_uri, self.output_uri, self.weights, self.pack or ""))

    def pack_config(self) -> "PackConfig":
        """`--pack`: the `fruits pack` of the input into `pack`, with this run's shared settings."""
        return PackConfig(input_uri=self.input_uri, output_uri=self.pack or "", input_list=self.input_list,
                          limit=self.limit, master=self.master, files_per_partition=self.files_per_partition,
                          lock_wait=self.lock_wait, s3=self.s3, verbose=self.verbose, batch_size=self.batch_size,
                          spark_conf=self.spark_conf, settings=self.settings)

    def reading_the_pack(self) -> "JobConfig":
        """`--pack`, once packed: the same run with the pack as its input (its rows are its listing)."""
        return replace(self, input_uri=self.pack, input_list=None, pack=None)


def check_remote(remote: Optional[str], master: Optional[str]) -> None:
    """--remote names a Spark Connect server (sc://HOST:PORT) or starts one here (local, local[N])."""
    if remote is None:
        return
    if master:
        raise ConfigError("give --master or --remote, not both: --remote runs on the Spark Connect server's own cluster")
    if not (remote.startswith("sc://") or re.fullmatch(r"local(\[(\*|\d+)\])?", remote)):
        raise ConfigError(f"--remote takes a Spark Connect URL like sc://spark-connect:15002 (or local[2]), got {remote!r}")


@dataclass(frozen=True)
class PackConfig:
    """Everything `fruits pack` needs (fruits.pipeline.pack); the fields it shares with JobConfig mean the same."""

    input_uri: str
    output_uri: str
    input_list: Optional[str] = None
    limit: Optional[int] = None
    master: Optional[str] = None
    files_per_partition: int = JobConfig.files_per_partition
    lock_wait: float = 0.0
    s3: S3Settings = field(default_factory=S3Settings)
    verbose: bool = False
    batch_size: int = JobConfig.batch_size  # rows per Arrow batch on their way to the readers
    spark_conf: tuple[tuple[str, str], ...] = ()
    settings: Settings = field(default_factory=Settings)

    def validate(self) -> "PackConfig":
        """Check every setting that needs no JVM; raise ConfigError with a one-line message."""
        _check_input(self.input_uri)
        _check_output(self.output_uri, self.input_uri)
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")
        if self.files_per_partition < 1:
            raise ConfigError(f"--files-per-partition must be at least 1, got {self.files_per_partition}")
        if self.lock_wait < 0:
            raise ConfigError(f"--lock-wait must be 0 or more seconds, got {self.lock_wait}")
        return self

    @property
    def uses_s3(self) -> bool:
        return any(is_s3(u) for u in (self.input_uri, self.output_uri))


@dataclass(frozen=True)
class SampleConfig:
    """`fruits sample`'s defaults: the demo set (fruits.sample)."""

    kind: str = "shapes"
    per_class: int = 32
    seed: int = 42


def check_weights(weights: str) -> None:
    """`imagenet`, `random`, or a readable weights file (.h5/.keras; .pth for EfficientNet-Lite0)."""
    if weights in WEIGHT_NAMES:
        return
    looks_like_file = "/" in weights or weights.endswith(WEIGHT_FILE_SUFFIXES)
    if not looks_like_file:
        raise ConfigError(
            f"unknown weights {weights!r}: use 'imagenet', 'random', or a path/URI to a .h5 or .keras weights file"
        )
    if is_remote(weights):
        return  # read by Spark's Hadoop filesystem at run time; errors there name the URI
    path = local_path(weights)
    if not path.is_file() or not os.access(path, os.R_OK):
        raise ConfigError(f"weights file {weights!r} does not exist or is not readable")


def _check_input(uri: str) -> None:
    if not uri:
        raise ConfigError("--input is required")
    check_supported(uri, "input")
    if is_remote(uri):
        return  # listed by Spark; an empty or missing bucket prefix is reported then
    path = local_path(uri)
    if not path.exists():
        raise ConfigError(f"input {uri!r} does not exist")
    if not path.is_dir():
        raise ConfigError(f"input {uri!r} is not a folder")
    if not any(p.is_file() for p in path.rglob("*")):
        raise ConfigError(f"input {uri!r} contains no files")


def _check_output(output: str, input_uri: str) -> None:
    if not output:
        raise ConfigError("--output is required")
    check_supported(output, "output")
    if within(output, input_uri):
        raise ConfigError(f"output {output!r} is inside the input {input_uri!r}: the next run would read its own output")
    if within(input_uri, output):
        raise ConfigError(f"input {input_uri!r} is inside the output {output!r}: old runs are deleted from there")
    if not is_remote(output):
        path = local_path(output)
        if path.exists() and not path.is_dir():
            raise ConfigError(f"output {output!r} exists and is not a folder")

