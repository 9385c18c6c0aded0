"""Where an output's tables are registered: the catalog's kind, address and namespace.

Local outputs need no server: the default is an SQL catalog in an SQLite file beside the tables
(`fruits.config.layout`). An S3 output needs a catalog that every run and reader reaches: an SQL
database (PostgreSQL), AWS Glue, or an Iceberg REST endpoint (S3 Tables among them).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from fruits.config.settings import Settings
from fruits.config.uris import is_remote
from fruits.errors import ConfigError

CATALOG_KINDS = ("sql", "glue", "rest")
DEFAULT_NAMESPACE = "fruits"


@dataclass(frozen=True)
class CatalogSettings:
    """`kind` sql (SQLAlchemy `uri`; none: SQLite beside a local output's tables), glue (AWS Glue,
    the pod's credentials) or rest (an Iceberg REST endpoint at `uri`; `warehouse` as it asks)."""

    kind: str = "sql"
    uri: Optional[str] = None
    namespace: str = DEFAULT_NAMESPACE
    warehouse: Optional[str] = None

    @classmethod
    def from_settings(cls, settings: Settings, kind: Optional[str] = None, uri: Optional[str] = None,
                      namespace: Optional[str] = None) -> "CatalogSettings":
        """The flags where given, else FRUITS_CATALOG* (`fruits.config.settings`).

        >>> CatalogSettings.from_settings(Settings(catalog_uri="postgresql+psycopg2://c/db"), namespace="prod")
        CatalogSettings(kind='sql', uri='postgresql+psycopg2://c/db', namespace='prod', warehouse=None)
        """
        return cls(kind=kind or settings.catalog, uri=uri or settings.catalog_uri,
                   namespace=namespace or settings.catalog_namespace, warehouse=settings.catalog_warehouse)

    @property
    def embedded(self) -> bool:
        """The SQLite file beside the tables, which only a local output can hold."""
        return self.kind == "sql" and not self.uri

    def validate(self, output_uri: Optional[str] = None) -> "CatalogSettings":
        if self.kind not in CATALOG_KINDS:
            raise ConfigError(f"--catalog {self.kind!r} is not one of {', '.join(CATALOG_KINDS)}")
        if self.kind == "rest" and not self.uri:
            raise ConfigError("--catalog rest needs the endpoint: --catalog-uri https://...")
        if not self.namespace or "." in self.namespace or "/" in self.namespace:
            raise ConfigError(f"--catalog-namespace {self.namespace!r} must be one non-empty name without dots or slashes")
        if output_uri is not None and self.embedded and is_remote(output_uri):
            raise ConfigError(
                f"output {output_uri} is on a remote store, where the embedded SQLite catalog cannot live: give its "
                "catalog with --catalog-uri postgresql+psycopg2://USER@HOST/DB (or sqlite:////a/local/file.db for a "
                "one-machine test), --catalog glue, or --catalog rest --catalog-uri URL")
        return self

    def describe(self) -> str:
        """For logs and `fruits report`: the kind and address, with any password hidden.

        >>> CatalogSettings(uri="postgresql+psycopg2://fruits:s3cret@pg:5432/cat").describe()
        'sql postgresql+psycopg2://fruits:***@pg:5432/cat (namespace fruits)'
        """
        address = self.uri or ("the SQLite file beside the tables" if self.kind == "sql" else "the account's default")
        if "@" in address and ":" in address.split("@", 1)[0].split("//", 1)[-1]:
            scheme, rest = address.split("//", 1)
            user, at = rest.split("@", 1)
            address = f"{scheme}//{user.split(':', 1)[0]}:***@{at}"
        return f"{self.kind} {address} (namespace {self.namespace})"
