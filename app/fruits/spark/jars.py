"""Fetch the S3A connector jars that match the Hadoop client inside the installed pyspark.

pip's pyspark ships Hadoop's client jars but not `hadoop-aws` (the S3A filesystem) nor the AWS SDK
it needs. Their versions must match that Hadoop exactly, so we read the Hadoop version from
pyspark's own jars and the SDK versions from hadoop-aws's published POMs, then download from Maven
Central with checksums. Hand-rolled (about 60 lines) instead of `spark.jars.packages`, because Ivy
would resolve again at every Spark start, and the container image build reuses this module.

    python -m fruits.spark.jars --dest .cache/jars
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

log = logging.getLogger(__name__)

MAVEN_CENTRAL = "https://repo1.maven.org/maven2"
POM_NS = {"m": "http://maven.apache.org/POM/4.0.0"}
# Runtime dependencies of hadoop-aws beyond Hadoop itself: (groupId, artifactId, version property in hadoop-project).
HADOOP_AWS_DEPENDENCIES = (
    ("software.amazon.awssdk", "bundle", "aws-java-sdk-v2.version"),
    ("software.amazon.s3.analyticsaccelerator", "analyticsaccelerator-s3", "amazon-s3-analyticsaccelerator-s3.version"),
)


def hadoop_version() -> str:
    """The Hadoop client version bundled with the installed pyspark (hadoop-client-api-X.jar)."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    for jar in jars.glob("hadoop-client-api-*.jar"):
        match = re.fullmatch(r"hadoop-client-api-(.+)\.jar", jar.name)
        if match:
            return match.group(1)
    raise RuntimeError(f"no hadoop-client-api jar in {jars}: is pyspark installed?")


def artifact_url(group: str, artifact: str, version: str, ext: str = "jar", repository: str = MAVEN_CENTRAL) -> str:
    return f"{repository.rstrip('/')}/{group.replace('.', '/')}/{artifact}/{version}/{artifact}-{version}.{ext}"


def pom_property(pom_xml: bytes, name: str) -> str:
    node = ET.fromstring(pom_xml).find(f"m:properties/m:{name}", POM_NS)
    if node is None or not node.text:
        raise RuntimeError(f"property {name} not found in POM")
    return node.text.strip()


def required_jars(hadoop: str, repository: str = MAVEN_CENTRAL) -> list[tuple[str, str, str]]:
    """(group, artifact, version) of hadoop-aws and its runtime dependencies for Hadoop `hadoop`."""
    project_pom = _get(artifact_url("org.apache.hadoop", "hadoop-project", hadoop, "pom", repository))
    jars = [("org.apache.hadoop", "hadoop-aws", hadoop)]
    jars += [(g, a, pom_property(project_pom, prop)) for g, a, prop in HADOOP_AWS_DEPENDENCIES]
    return jars


def download(dest: Path, jars: list[tuple[str, str, str]], repository: str = MAVEN_CENTRAL) -> list[Path]:
    """Download each jar into `dest` once, verified against Maven Central's .sha1 file."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for group, artifact, version in jars:
        target = dest / f"{artifact}-{version}.jar"
        paths.append(target)
        if target.is_file():
            continue
        url = artifact_url(group, artifact, version, repository=repository)
        expected = _get(url + ".sha1").decode().split()[0]
        log.info("downloading %s", url)
        partial = target.with_suffix(".jar.part")
        digest = hashlib.sha1()
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != expected:
            partial.unlink()
            raise RuntimeError(f"checksum mismatch for {url}")
        partial.rename(target)
    return paths


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fruits.spark.jars", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", required=True, type=Path, help="folder for the jars (e.g. .cache/jars or $SPARK_HOME/jars)")
    parser.add_argument("--repository", default=MAVEN_CENTRAL, help="Maven repository (default %(default)s; a mirror where Central is not reachable)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    hadoop = hadoop_version()
    paths = download(args.dest, required_jars(hadoop, args.repository), args.repository)
    print(f"S3A jars for Hadoop {hadoop} in {args.dest}: {', '.join(p.name for p in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
