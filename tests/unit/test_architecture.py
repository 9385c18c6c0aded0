"""The package's shape, checked on its source: settings read in one module, storage in one package."""

from __future__ import annotations

import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "app" / "fruits"
SETTINGS = PACKAGE / "config" / "settings.py"


def lines_matching(pattern: str, allowed: tuple[Path, ...]) -> list[str]:
    """`path:line: text` of every line of the package matching `pattern`, outside the `allowed` files and folders."""
    regex = re.compile(pattern)
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if any(path == a or a in path.parents for a in allowed):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if regex.search(code):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}")
    return found


def test_no_module_but_the_settings_reads_or_writes_the_environment():
    offenders = lines_matching(r"\bos\.(environ|getenv|putenv|unsetenv)\b|\bgetenv\(|from os import .*environ", (SETTINGS,))
    assert not offenders, ("read the environment through fruits.config.settings.Settings (once, on the driver) "
                           "and write it with set_process_env:\n" + "\n".join(offenders))


CLIENTS = (r"\bimport (pycurl|botocore|boto3|obstore)\b|from (pycurl|botocore|boto3|obstore|pyarrow\.fs|pyarrow import fs)\b"
           r"|\bpyarrow\.fs\b|\bos\.scandir\(|\bos\.walk\(")
HADOOP_FILES = r"hadoop\.fs\.(Path|FileSystem|FileUtil)\b"


def test_only_the_storage_package_talks_to_s3_or_walks_folders():
    offenders = lines_matching(CLIENTS, (PACKAGE / "storage",))
    assert not offenders, "S3 clients and directory walks belong in fruits.storage:\n" + "\n".join(offenders)


def test_no_file_goes_through_the_jvm():
    """A Spark Connect client has no JVM: files, the lock and the tables' bookkeeping are the Python
    side's (fruits.storage), never Hadoop's filesystem through py4j."""
    offenders = lines_matching(HADOOP_FILES, ())
    assert not offenders, "files go through fruits.storage, not Hadoop's filesystem:\n" + "\n".join(offenders)


CLASSIC_ONLY = r"\._(jvm|jsc)\b|\bsparkContext\b|\.rdd\b|\baccumulator\(|\baddFile\("


def test_only_the_spark_package_uses_what_spark_connect_lacks():
    """The stages speak DataFrames; what differs between a classic session and a Connect one
    (parallelism, shipped files, progress, the driver's JVM) is fruits.spark's alone."""
    offenders = lines_matching(CLASSIC_ONLY, (PACKAGE / "spark",))
    assert not offenders, ("use DataFrames, or fruits.spark.portable, so the job runs on Spark Connect too:\n"
                           + "\n".join(offenders))


def test_the_checks_see_what_they_look_for():
    """The patterns above match the code they must refuse (a check that cannot fail checks nothing)."""
    assert lines_matching(r"\bos\.environ\b", ())  # the settings module itself does read it
    assert re.search(CLIENTS, "from obstore.store import S3Store") and re.search(CLIENTS, "with os.scandir(folder) as entries:")
    assert re.search(HADOOP_FILES, "fs = jvm.org.apache.hadoop.fs.Path(uri).getFileSystem(conf)")
    assert re.search(CLASSIC_ONLY, "conf = spark.sparkContext._jsc.hadoopConfiguration()")
    assert re.search(CLASSIC_ONLY, "moments = frame.rdd.treeReduce(merge)") and re.search(CLASSIC_ONLY, "sc.accumulator(0)")
    assert not re.search(CLASSIC_ONLY, "rows = frame.mapInArrow(scan, schema)")
