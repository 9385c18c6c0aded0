"""The SparkSession for every target (local, standalone, Kubernetes), with S3A set up in one place.

Settings the launcher already gave (spark-submit --conf, the SparkApplication's sparkConf and
hadoopConf) win over ours: we only fill in what is unset.
"""

from __future__ import annotations

import logging
import sys
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Optional, Union

from fruits.config.job_config import JobConfig, PackConfig, S3Settings
from fruits.config.settings import Settings, set_process_env
from fruits.errors import ConfigError
from fruits.quiet import QUIET_LOG4J, jvm_startup_notice_hidden, set_tensorflow_log_level
from fruits.spark.portable import conf_value, is_connect, set_log_level

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


def s3a_jars(settings: Settings) -> list[str]:
    """hadoop-aws and its AWS SDK jars from the project's cache (see `fruits.spark.jars`), if present."""
    folder = Path(settings.jars_dir or default_jars_dir(settings))
    return sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []


def default_jars_dir(settings: Settings) -> Path:
    """$FRUITS_CACHE/jars, where `make jars` puts them; a relative FRUITS_CACHE is under the working folder."""
    return Path.cwd() / settings.cache / "jars"


def s3a_settings(s3: S3Settings) -> dict[str, str]:
    """The spark.hadoop.fs.s3a.* settings for `s3`; unset fields are left to Hadoop's defaults."""
    settings = {f"spark.hadoop.{k}": v for k, v in S3A_FAIL_FAST.items()}
    if s3.endpoint:
        settings["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint
        if s3.endpoint.startswith("http://"):
            settings["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
        # A custom endpoint (MinIO, a VPC endpoint) has no region to discover from; any name works.
        settings["spark.hadoop.fs.s3a.endpoint.region"] = s3.region
    if s3.path_style is not None:
        settings["spark.hadoop.fs.s3a.path.style.access"] = str(s3.path_style).lower()
    if s3.credentials_provider:
        settings["spark.hadoop.fs.s3a.aws.credentials.provider"] = s3.credentials_provider
    # The same requester-pays and encryption settings the job's own S3 client sends (fruits.storage.object_store).
    if s3.requester_pays:
        settings["spark.hadoop.fs.s3a.requester.pays.enabled"] = "true"
    if s3.encryption:
        settings["spark.hadoop.fs.s3a.encryption.algorithm"] = s3.encryption
    if s3.kms_key_id:
        settings["spark.hadoop.fs.s3a.encryption.key"] = s3.kms_key_id
    return settings


DRIVER_MAX_RESULT_SIZE = "512m"
# The job's settings a client may set on a running Spark Connect server's session (SQL settings).
SESSION_SETTINGS = ("spark.sql.execution.arrow.pyspark.enabled", "spark.sql.execution.arrow.maxRecordsPerBatch",
                    "spark.sql.session.timeZone")


def use_utf8_for_the_jvm(settings: Settings) -> None:
    """The JVM names files in the locale's character set (under LC_ALL=POSIX, ASCII: an output path
    with 'Pêche' becomes 'P?che'); give the JVM this process starts a UTF-8 locale, whatever ours is."""
    if not settings.locale_is_utf8:
        set_process_env("LC_ALL", "C.UTF-8")


def build_session(config: Union[JobConfig, PackConfig], app_name: str = "fruits-pipeline"):
    """Create (or join, under spark-submit) the SparkSession configured for `config`."""
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    env = config.settings
    remote = getattr(config, "remote", None)
    submitted = env.launched_by_spark_submit and not remote
    builder = SparkSession.builder.appName(app_name)
    local = False
    if remote:
        # A Connect server: sc://HOST:PORT is the cluster's (its own settings stand), local[N] starts one in this process.
        builder = builder.remote(remote)
        local = remote.startswith("local")
    elif config.master:
        builder = builder.master(config.master)
        local = config.master.startswith("local")
    elif not submitted:
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
    if not submitted:
        # Python workers must import this interpreter's packages (TensorFlow, fruits); pyspark
        # takes the workers' interpreter from PYSPARK_PYTHON, defaulting to whatever `python3` is.
        set_process_env("PYSPARK_PYTHON", sys.executable, overwrite=False)
        use_utf8_for_the_jvm(env)
    # Workers inherit the driver's environment in local mode: keep TensorFlow's start-up chatter out
    # of the log unless --verbose (fruits.quiet).
    set_tensorflow_log_level(config.verbose)
    if local:
        wanted["spark.ui.showConsoleProgress"] = str(env.spark_progress).lower()
        wanted["spark.driver.memory"] = env.driver_memory
        wanted["spark.ui.enabled"] = str(env.spark_ui).lower()
        # The JVM's share of a local run is plumbing (file reads, Arrow, cache), while its C2 JIT
        # compiler spent ~40 CPU-seconds per run here optimising Spark's generated code, on the
        # cores TensorFlow needs. C1 only ("client" JIT) compiles in a fifth of that time
        # (FRUITS_DRIVER_JAVA_OPTIONS' default, fruits.config.settings).
        java_options = env.driver_java_options
        if not config.verbose:
            # Spark's start-up hints and warnings stay off the console (fruits.quiet).
            java_options += f" -Dlog4j2.configurationFile={QUIET_LOG4J.as_uri()}"
        wanted["spark.driver.extraJavaOptions"] = java_options
    if config.uses_s3 and (local or not remote):
        wanted.update(s3a_settings(config.s3))
        jars = s3a_jars(env)
        if jars and not submitted:
            wanted["spark.jars"] = ",".join(jars)
    if remote and not local:  # a running server takes only the settings a session may change
        wanted = {key: value for key, value in wanted.items() if key in SESSION_SETTINGS}

    existing = SparkConf()
    for key, value in wanted.items():
        if not existing.contains(key):
            builder = builder.config(key, value)
    for key, value in config.spark_conf:  # --conf: the user's word is last
        builder = builder.config(key, value)
    # The local JVM starts here; its incubator-module notice stays off the console (fruits.quiet).
    with jvm_startup_notice_hidden(local and not config.verbose and not submitted), warnings.catch_warnings():
        if remote:
            # A local Connect server starts with every setting, then its client tries them all again
            # as session settings and warns for each one only a server start can take.
            warnings.filterwarnings("ignore", message="Failed to set spark", category=UserWarning)
        spark = builder.getOrCreate()
    set_log_level(spark, env.spark_log_level)
    if config.uses_s3:
        check_s3a_available(spark)
    return spark


def check_s3a_available(spark) -> None:
    """Fail with the fix in the message, not a ClassNotFoundException deep in a Spark stack trace.
    (A Connect server is the cluster's: its image carries the jars, and its errors say so.)"""
    if is_connect(spark):
        return
    loader = spark.sparkContext._jvm.java.lang.Thread.currentThread().getContextClassLoader()
    try:
        loader.loadClass("org.apache.hadoop.fs.s3a.S3AFileSystem")
    except Exception as exc:  # py4j wraps ClassNotFoundException
        raise ConfigError(
            "s3a:// needs the S3A jars (hadoop-aws + AWS SDK bundle): run 'make jars' "
            f"(or 'python -m fruits.spark.jars --dest DIR' and set {Settings.env_name('jars_dir')}=DIR)"
        ) from exc


def effective_s3(spark, s3: S3Settings) -> S3Settings:
    """The S3 settings the session's S3A connector really uses, for the workers' own S3 client.

    Flags and FRUITS_S3_* win; else the Hadoop configuration (spark-submit's and the chart's
    `spark.hadoop.fs.s3a.*`), so that both clients always talk to the same endpoint.
    """
    endpoint = s3.endpoint or hadoop_setting(spark, "fs.s3a.endpoint") or None
    if endpoint and "://" not in endpoint:
        secure = (hadoop_setting(spark, "fs.s3a.connection.ssl.enabled") or "true").strip().lower() != "false"
        endpoint = ("https://" if secure else "http://") + endpoint
    path_style = s3.path_style
    style = hadoop_setting(spark, "fs.s3a.path.style.access")
    if path_style is None and style:
        path_style = style.strip().lower() == "true"
    return replace(s3, endpoint=endpoint, path_style=path_style)


def hadoop_setting(spark, key: str) -> Optional[str]:
    """A Hadoop setting of the session: its Hadoop configuration (core-site.xml included) on a classic
    session; over Spark Connect, the server's `spark.hadoop.*` settings."""
    if is_connect(spark):
        return conf_value(spark, f"spark.hadoop.{key}")
    return spark.sparkContext._jsc.hadoopConfiguration().get(key)
