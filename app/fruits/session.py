"""The SparkSession for every target (local, standalone, Kubernetes), with S3A set up in one place.

Settings the launcher already gave (spark-submit --conf, the SparkApplication's sparkConf and
hadoopConf) win over ours: we only fill in what is unset.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Optional, Union

from fruits.config import ConfigError, JobConfig, PackConfig, S3Settings
from fruits.quiet import QUIET_LOG4J, jvm_startup_notice_hidden, set_tensorflow_log_level
from fruits.settings import Settings

log = logging.getLogger(__name__)

# Bounded failure on a wrong endpoint or bad keys: a few quick retries, not Hadoop's minutes-long defaults.
S3A_FAIL_FAST = {
    "fs.s3a.attempts.maximum": "2",
    "fs.s3a.retry.limit": "2",
    "fs.s3a.retry.interval": "500ms",
    "fs.s3a.retry.throttle.limit": "3",
    "fs.s3a.connection.establish.timeout": "5s",
    "fs.s3a.connection.timeout": "30s",
    "fs.s3a.connection.request.timeout": "60s",
}


def launched_by_spark_submit() -> bool:
    """spark-submit starts the JVM first and hands Python its port; then the master is already set."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def s3a_jars(jars_dir: Optional[str] = None) -> list[str]:
    """hadoop-aws and its AWS SDK jars from the project's cache (see `fruits.jars`), if present."""
    folder = Path(jars_dir or Settings.from_env().jars_dir or default_jars_dir())
    return sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []


def default_jars_dir() -> Path:
    """$FRUITS_CACHE/jars, where `make jars` puts them; a relative FRUITS_CACHE is under the working folder."""
    return Path.cwd() / Settings.from_env().cache / "jars"


def s3a_settings(s3: S3Settings) -> dict[str, str]:
    """The spark.hadoop.fs.s3a.* settings for `s3`; unset fields are left to Hadoop's defaults."""
    settings = {f"spark.hadoop.{k}": v for k, v in S3A_FAIL_FAST.items()}
    if s3.endpoint:
        settings["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint
        if s3.endpoint.startswith("http://"):
            settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
        # A custom endpoint (MinIO, a VPC endpoint) has no region to discover from; any name works.
        settings["spark.hadoop.fs.s3a.endpoint.region"] = os.environ.get("AWS_REGION", "us-east-1")
    if s3.path_style is not None:
        settings["spark.hadoop.fs.s3a.path.style.access"] = str(s3.path_style).lower()
    if s3.credentials_provider:
        settings["spark.hadoop.fs.s3a.aws.credentials.provider"] = s3.credentials_provider
    return settings


DRIVER_MAX_RESULT_SIZE = "512m"


def use_utf8_for_the_jvm() -> None:
    """The JVM names files in the locale's character set (under LC_ALL=POSIX, ASCII: an output path
    with 'Pêche' becomes 'P?che'); give the JVM this process starts a UTF-8 locale, whatever ours is."""
    current = os.environ.get("LC_ALL") or os.environ.get("LC_CTYPE") or os.environ.get("LANG") or ""
    if "utf-8" not in current.lower().replace("utf8", "utf-8"):
        os.environ["LC_ALL"] = "C.UTF-8"


def build_session(config: Union[JobConfig, PackConfig], app_name: str = "fruits-pipeline"):
    """Create (or join, under spark-submit) the SparkSession configured for `config`."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    local = False
    if config.master:
        builder = builder.master(config.master)
        local = config.master.startswith("local")
    elif not launched_by_spark_submit():
        builder = builder.master("local[*]")
        local = True

    wanted: dict[str, str] = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # One Arrow batch per model batch: what crosses to Python is compressed JPEG bytes.
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(config.batch_size),
        "spark.python.worker.reuse": "true",
        "spark.sql.session.timeZone": "UTC",
        # The driver takes summaries only (counts, the PCA's partial sums, the picture's sample);
        # a collect that passes this is a bug to fix, not a limit to raise.
        "spark.driver.maxResultSize": DRIVER_MAX_RESULT_SIZE,
    }
    if not launched_by_spark_submit():
        # Python workers must import this interpreter's packages (TensorFlow, fruits); pyspark
        # takes the workers' interpreter from PYSPARK_PYTHON, defaulting to whatever `python3` is.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if not launched_by_spark_submit():
        use_utf8_for_the_jvm()
    # Workers inherit the driver's environment in local mode: keep TensorFlow's start-up chatter out
    # of the log unless --verbose (fruits.quiet).
    set_tensorflow_log_level(config.verbose)
    env = Settings.from_env()
    if local:
        wanted["spark.ui.showConsoleProgress"] = str(env.spark_progress).lower()
        wanted["spark.driver.memory"] = env.driver_memory
        wanted["spark.ui.enabled"] = str(env.spark_ui).lower()
        # The JVM's share of a local run is plumbing (file reads, Arrow, cache), while its C2 JIT
        # compiler spent ~40 CPU-seconds per run here optimising Spark's generated code, on the
        # cores TensorFlow needs. C1 only ("client" JIT) compiles in a fifth of that time
        # (FRUITS_DRIVER_JAVA_OPTIONS' default, fruits.settings).
        java_options = env.driver_java_options
        if not config.verbose:
            # Spark's start-up hints and warnings stay off the console (fruits.quiet).
            java_options += f" -Dlog4j2.configurationFile={QUIET_LOG4J.as_uri()}"
        wanted["spark.driver.extraJavaOptions"] = java_options
    if config.uses_s3:
        wanted.update(s3a_settings(config.s3))
        jars = s3a_jars()
        if jars and not launched_by_spark_submit():
            wanted["spark.jars"] = ",".join(jars)

    existing = SparkConf()
    for key, value in wanted.items():
        if not existing.contains(key):
            builder = builder.config(key, value)
    # The local JVM starts here; its incubator-module notice stays off the console (fruits.quiet).
    with jvm_startup_notice_hidden(local and not config.verbose and not launched_by_spark_submit()):
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(env.spark_log_level)
    if config.uses_s3:
        check_s3a_available(spark)
    return spark


def check_s3a_available(spark) -> None:
    """Fail with the fix in the message, not a ClassNotFoundException deep in a Spark stack trace."""
    loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        loader.loadClass("org.apache.hadoop.fs.s3a.S3AFileSystem")
    except Exception as exc:  # py4j wraps ClassNotFoundException
        raise ConfigError(
            "s3a:// needs the S3A jars (hadoop-aws + AWS SDK bundle): run 'make jars' "
            f"(or 'python -m fruits.jars --dest DIR' and set {Settings.env_name('jars_dir')}=DIR)"
        ) from exc
