"""Every environment variable the Python code reads, parsed and checked in one place.

Why one place: a variable read where it is used restates its default wherever it is documented,
and a bad value surfaces as a bare ValueError deep in a worker. Here each variable has one name,
one default and one line of doc (docs/configuration.md is checked against them by a unit test),
and a bad value is a ConfigError that names the variable, raised before Spark starts.

The flags of one run live in `fruits.config.job_config.JobConfig`; this module holds what the environment
says about the machine: where the weights and jars are, memory, limits, logging, and the few
variables of other tools the job must know (the AWS region and CA bundle, the Keras cache, the
locale, whether spark-submit started us). The driver reads them once (`Settings.from_env()` in
the CLI), and the run's configuration carries them to every stage and, inside the functions
Spark ships, to the workers: no other module reads the environment, at import time or later, so
the driver's rules and the workers' limits cannot disagree. The process environment is written
here too (`set_process_env`), for what child processes and libraries read from it.

>>> Settings.from_env({"FRUITS_MAX_PIXELS": "1000"}).max_pixels
1000
>>> Settings.from_env({"FRUITS_MAX_PIXELS": "abc"})
Traceback (most recent call last):
  ...
fruits.errors.ConfigError: FRUITS_MAX_PIXELS must be a positive integer, got 'abc'
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from fruits.errors import ConfigError

Parser = Callable[[str, str], Any]

LOG_LEVELS = ("ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF")
# The JVM's memory sizes as Spark reads them: 4g, 4096m, 512mb.
_MEMORY = re.compile(r"[0-9]+([kmgtp]b?|b)?", re.IGNORECASE)


def _positive_int(name: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{name} must be a positive integer, got {text!r}")
    return value


def _positive_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a positive number of seconds, got {text!r}")
    return value


def _non_negative_float(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{name} must be a number of 0 or more, got {text!r}")
    return value


def parse_bool(name: str, text: str) -> bool:
    """true/false, 1/0, yes/no, on/off, in any case."""
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {text!r}")


def _text(name: str, text: str) -> str:
    return text.strip()


def _memory(name: str, text: str) -> str:
    if not _MEMORY.fullmatch(text.strip()):
        raise ConfigError(f"{name} must be a JVM memory size such as 4g or 4096m, got {text!r}")
    return text.strip()


def _log_level(name: str, text: str) -> str:
    level = text.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return level


MODEL_RUNTIMES = ("litert", "tensorflow")  # fruits.models.runtime


def _model_runtime(name: str, text: str) -> str:
    if text not in MODEL_RUNTIMES:
        raise ConfigError(f"{name} must be {' or '.join(MODEL_RUNTIMES)}, got {text!r}")
    return text


def _env(name: str, default: Any, parse: Parser, doc: str, foreign: bool = False) -> Any:
    """A dataclass field read from the environment variable `name`; `doc` is its one-line meaning;
    `foreign`: another tool's variable, documented apart from the FRUITS_* table."""
    return field(default=default, metadata={"env": name, "parse": parse, "doc": doc, "foreign": foreign})


DEFAULT_REGION = "us-east-1"


LOCAL_JIT_OPTIONS = "-XX:TieredStopAtLevel=1"


@dataclass(frozen=True)
class Settings:
    """The environment's settings, typed; an unset or empty variable takes the default shown."""

    resnet50_weights: Optional[str] = _env(
        "FRUITS_RESNET50_WEIGHTS", None, _text,
        "the ImageNet weights file `--weights imagenet` uses; unset: the Keras cache")
    s3_endpoint: Optional[str] = _env(
        "FRUITS_S3_ENDPOINT", None, _text, "S3 endpoint URL (MinIO, a VPC endpoint), as --s3-endpoint")
    s3_path_style: Optional[bool] = _env(
        "FRUITS_S3_PATH_STYLE", None, parse_bool, "path-style S3 URLs (MinIO needs them), as --s3-path-style")
    s3_credentials_provider: Optional[str] = _env(
        "FRUITS_S3_CREDENTIALS_PROVIDER", None, _text, "S3A credentials provider class; unset: Hadoop's default chain")
    s3_requester_pays: bool = _env(
        "FRUITS_S3_REQUESTER_PAYS", False, parse_bool, "send `x-amz-request-payer: requester` (buckets whose owner bills the reader)")
    s3_encryption: Optional[str] = _env(
        "FRUITS_S3_ENCRYPTION", None, _text, "server-side encryption of the job's own writes: SSE-S3, SSE-KMS or DSSE-KMS")
    s3_kms_key_id: Optional[str] = _env(
        "FRUITS_S3_KMS_KEY_ID", None, _text, "KMS key of SSE-KMS / DSSE-KMS (ARN, id or alias); unset: the account's aws/s3 key")
    cache: str = _env(
        "FRUITS_CACHE", ".cache", _text, "folder for downloaded jars and tools, relative to the working folder")
    jars_dir: Optional[str] = _env(
        "FRUITS_JARS_DIR", None, _text, "folder with the S3A jars; unset: $FRUITS_CACHE/jars (filled by make jars)")
    driver_memory: str = _env(
        "FRUITS_DRIVER_MEMORY", "4g", _memory, "driver memory in local mode")
    driver_java_options: str = _env(
        "FRUITS_DRIVER_JAVA_OPTIONS", LOCAL_JIT_OPTIONS, _text, "driver JVM options in local mode (default: the quick C1 JIT only)")
    spark_progress: bool = _env(
        "FRUITS_SPARK_PROGRESS", False, parse_bool,
        "Spark's console progress bar in local mode (off: it overwrites the job's own progress lines)")
    spark_ui: bool = _env(
        "FRUITS_SPARK_UI", False, parse_bool, "start the Spark UI in local mode")
    spark_log_level: str = _env(
        "FRUITS_SPARK_LOG_LEVEL", "WARN", _log_level, "Spark's log level once the session is up")
    progress_seconds: float = _env(
        "FRUITS_PROGRESS_SECONDS", 10.0, _positive_float, "seconds between two progress lines while featurizing")
    # A wave of 16,384 images is about 128 MB of raw 2048-d float32 features, and the most work a killed driver loses.
    wave_images: int = _env(
        "FRUITS_WAVE_IMAGES", 16_384, _positive_int, "images per wave; a restarted run resumes after the last committed wave")
    lock_lease_seconds: float = _env(
        "FRUITS_LOCK_LEASE_SECONDS", 300.0, _positive_float, "lease of the output's lock; a crashed run's lock expires after it")
    pod_uid: Optional[str] = _env(
        "FRUITS_POD_UID", None, _text,
        "set by the chart from the driver pod's UID: names the lock's holder uniquely, whatever the pod's host name")
    catalog: str = _env(
        "FRUITS_CATALOG", "sql", _text, "where the output's tables are registered: sql, glue or rest, as --catalog")
    catalog_uri: Optional[str] = _env(
        "FRUITS_CATALOG_URI", None, _text,
        "the catalog's address, as --catalog-uri (sql: an SQLAlchemy URL; unset: SQLite beside a local output's tables)")
    catalog_namespace: str = _env(
        "FRUITS_CATALOG_NAMESPACE", "fruits", _text, "the catalog namespace of the output's tables, as --catalog-namespace")
    catalog_warehouse: Optional[str] = _env(
        "FRUITS_CATALOG_WAREHOUSE", None, _text, "a rest catalog's warehouse (an S3 Tables bucket ARN, for example)")
    sweep_min_age_hours: float = _env(
        "FRUITS_SWEEP_MIN_AGE_HOURS", 48.0, _non_negative_float,
        "data files no snapshot references are deleted once their run is this old; keep it above the longest run")
    max_file_bytes: int = _env(
        "FRUITS_MAX_FILE_BYTES", 64 << 20, _positive_int, "larger files are rejected unread (64 MiB)")
    max_pixels: int = _env(
        "FRUITS_MAX_PIXELS", 50_000_000, _positive_int, "images with more pixels are rejected before decoding")
    model_runtime: str = _env(
        "FRUITS_MODEL_RUNTIME", "litert", _model_runtime,
        "what runs the model on the workers: litert (a converted .tflite file, no TensorFlow) or tensorflow")
    image_weights: Optional[str] = _env(
        "FRUITS_IMAGE_WEIGHTS", None, _text, "set by the job image: the weights baked into it, copied into metrics.json")
    # Other tools' variables (docs/configuration.md lists them apart): read here, never elsewhere.
    aws_region: Optional[str] = _env("AWS_REGION", None, _text, "", foreign=True)
    aws_default_region: Optional[str] = _env("AWS_DEFAULT_REGION", None, _text, "", foreign=True)
    aws_ca_bundle: Optional[str] = _env("AWS_CA_BUNDLE", None, _text, "", foreign=True)
    keras_home: Optional[str] = _env("KERAS_HOME", None, _text, "", foreign=True)
    spark_gateway_port: Optional[str] = _env("PYSPARK_GATEWAY_PORT", None, _text, "", foreign=True)
    lc_all: Optional[str] = _env("LC_ALL", None, _text, "", foreign=True)
    lc_ctype: Optional[str] = _env("LC_CTYPE", None, _text, "", foreign=True)
    lang: Optional[str] = _env("LANG", None, _text, "", foreign=True)

    @property
    def region(self) -> str:
        """The region S3 requests are signed for: AWS_REGION, AWS_DEFAULT_REGION, else us-east-1.

        >>> Settings(aws_default_region="eu-west-1").region, Settings().region
        ('eu-west-1', 'us-east-1')
        """
        return self.aws_region or self.aws_default_region or DEFAULT_REGION

    @property
    def launched_by_spark_submit(self) -> bool:
        """spark-submit starts the JVM first and hands Python its port; then the master is already set."""
        return self.spark_gateway_port is not None

    @property
    def locale_is_utf8(self) -> bool:
        """Whether the locale names files in UTF-8 (the JVM follows it: under POSIX, `Pêche` becomes `P?che`).

        >>> Settings(lang="en_US.utf8").locale_is_utf8, Settings(lc_all="POSIX", lang="C.UTF-8").locale_is_utf8
        (True, False)
        """
        current = self.lc_all or self.lc_ctype or self.lang or ""
        return "utf-8" in current.lower().replace("utf8", "utf-8")

    @property
    def keras_cache(self) -> Path:
        """The Keras cache folder: KERAS_HOME, else ~/.keras."""
        return Path(self.keras_home) if self.keras_home else Path.home() / ".keras"

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None) -> "Settings":
        """Read and check every variable from `environ` (default: os.environ)."""
        environ = os.environ if environ is None else environ
        values = {}
        for item in fields(cls):
            text = environ.get(item.metadata["env"], "")
            if text.strip():
                values[item.name] = item.metadata["parse"](item.metadata["env"], text)
        return cls(**values)

    @classmethod
    def variables(cls) -> list["Variable"]:
        """Each FRUITS_* variable's name, default and meaning, in declaration order (for the docs and their test)."""
        return [Variable(f.metadata["env"], f.default, f.metadata["doc"]) for f in fields(cls) if not f.metadata["foreign"]]

    @classmethod
    def env_name(cls, attribute: str) -> str:
        """The variable behind an attribute, for messages that tell the user what to set.

        >>> Settings.env_name("jars_dir")
        'FRUITS_JARS_DIR'
        """
        return next(f.metadata["env"] for f in fields(cls) if f.name == attribute)


def set_process_env(name: str, value: str, overwrite: bool = True) -> None:
    """Set a variable of this process's environment, which the libraries it loads (TensorFlow) and
    the processes it starts (the local JVM, Spark's Python workers) read. `overwrite=False` keeps a
    value the user set."""
    if overwrite or name not in os.environ:
        os.environ[name] = value


@dataclass(frozen=True)
class Variable:
    """One row of docs/configuration.md."""

    name: str
    default: Any
    doc: str

    @property
    def default_text(self) -> str:
        """The default as the docs write it: `unset`, or the value as it would be typed.

        >>> Variable("X", True, "").default_text, Variable("Y", None, "").default_text
        ('true', 'unset')
        >>> Variable("Z", 10.0, "").default_text
        '10'
        """
        if self.default is None:
            return "unset"
        if isinstance(self.default, bool):
            return str(self.default).lower()
        if isinstance(self.default, float) and self.default.is_integer():
            return str(int(self.default))
        return str(self.default)
