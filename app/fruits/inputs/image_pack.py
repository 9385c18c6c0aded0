"""An image pack: a folder of images written once as Parquet files of their bytes, read by `fruits run`.

Its layout is `fruits.config.layout`'s: `_PACK` (JSON: the committed generations, oldest first,
the only way into the pack), one `gen-<id>/` folder of Parquet files (PACK_COLUMNS, ~128 MB each)
per generation, and `_LOCK`, held by the one `fruits pack` writing there.

Why: a run over a folder pays one request (or one open) per image, so on S3 every image costs a
round trip; a run over a pack reads a few large files whatever the store's latency. `fruits pack`
(fruits.pipeline.pack) lists the input as `fruits run` does, reads the images many at a time on the
executors, writes the rows as a new generation, then replaces `_PACK` (one PUT on S3, an
`os.replace` locally): a reader sees the generations `_PACK` names and never a half-written one.

A later pack adds only the files no generation holds yet (same path, size and time). A file that
changed is a new row that supersedes the old one: the newest generation wins. Files removed from
the source stay: a pack only grows. Entries the job will not read keep their listing reason and
no bytes, so a run over the pack accounts for them exactly as a run over the folder would.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Optional

from fruits.config.layout import GENERATION_IN_PATH, GENERATION_PATTERN, PACK_MANIFEST
from fruits.config.schema import FILE_KEY, LISTING_COLUMNS, PACK_SCHEMA
from fruits.errors import ConfigError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Generation:
    """One `fruits pack`: its folder's name, what it holds, and how many of its rows replace older ones."""

    name: str
    rows: int
    images: int
    bytes: int
    supersedes: int
    source: str


@dataclass(frozen=True)
class PackManifest:
    """The committed generations of a pack, oldest first."""

    generations: tuple[Generation, ...] = ()

    @property
    def rows(self) -> int:
        """Rows a reader sees: every generation's rows, less the ones newer rows replaced."""
        return sum(g.rows - g.supersedes for g in self.generations)

    @property
    def superseded(self) -> int:
        return sum(g.supersedes for g in self.generations)

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT_VERSION, "generations": [asdict(g) for g in self.generations]}, indent=1) + "\n"

    @classmethod
    def from_json(cls, text: str, where: str) -> "PackManifest":
        """The manifest in `text`; ConfigError naming `where` when it is not one this tool wrote.

        >>> PackManifest.from_json('{"format": 1, "generations": []}', "x").rows
        0
        """
        try:
            record = json.loads(text)
            if record.get("format") != FORMAT_VERSION:
                raise ValueError(f"format {record.get('format')!r}, this version reads {FORMAT_VERSION}")
            generations = tuple(Generation(**g) for g in record["generations"])
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where} is not an image pack's manifest this version can read: {exc}") from exc
        bad = [g.name for g in generations if not GENERATION_PATTERN.match(g.name)]
        if bad:
            raise ConfigError(f"{where} names folders that are not pack generations: {', '.join(bad[:3])}")
        return cls(generations)

    def with_generation(self, generation: Generation) -> "PackManifest":
        return PackManifest((*self.generations, generation))


@dataclass(frozen=True)
class PackSource:
    """A pack read as a run's input: where it is and the manifest read when the run listed it."""

    uri: str
    manifest: PackManifest

    @property
    def generation_uris(self) -> list[str]:
        return [f"{self.uri}/{g.name}" for g in self.manifest.generations]


def read_manifest(files, uri: str) -> Optional[PackManifest]:
    """The manifest of the pack at `uri` (`files`: fruits.storage.files.Files), or None when `uri` is no pack."""
    manifest = f"{uri}/{PACK_MANIFEST}"
    if not files.exists(manifest):
        return None
    return PackManifest.from_json(files.read_text(manifest), manifest)


def all_rows(spark, source: PackSource):
    """Every row of every generation, PACK_COLUMNS plus `generation` (its folder's name, sortable by time)."""
    from pyspark.sql import functions as F

    if not source.manifest.generations:
        return spark.createDataFrame([], PACK_SCHEMA + ", generation string")
    folder = F.regexp_extract(F.input_file_name(), GENERATION_IN_PATH, 1)
    return spark.read.schema(PACK_SCHEMA).parquet(*source.generation_uris).withColumn("generation", folder)


def pack_listing(spark, source: PackSource) -> tuple:
    """The pack's rows as LISTING_COLUMNS (newest generation per path), and the count its manifest promises."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    rows = all_rows(spark, source).select(*LISTING_COLUMNS, "generation")
    if source.manifest.superseded:
        newest = Window.partitionBy("path").orderBy(F.col("generation").desc())
        rows = rows.withColumn("_n", F.row_number().over(newest)).filter(F.col("_n") == 1)
    return rows.select(*LISTING_COLUMNS), source.manifest.rows


def packed_contents(spark, source: PackSource, images):
    """FILE_KEY and `content` of the pack's rows that `images` (FILE_KEY rows) names.

    A file's (path, size, modified) is in one generation only (a pack adds only keys it does not
    hold), so the join finds each image once.
    """
    from pyspark.sql import functions as F

    packed = all_rows(spark, source).filter(F.col("content").isNotNull()).select(*FILE_KEY, "content")
    return packed.join(images.select(*FILE_KEY), FILE_KEY, "left_semi")
