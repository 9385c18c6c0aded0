"""Converted models kept once per output (`OUTPUT/models/<key>/`, fruits.config.layout), so that a
later run of the same model, weights, precision and calibration pays no conversion.

The key is a hash of everything that decides the file's bytes: the model, the weights (their
sha256, or `random` and the seed), the precision, the calibration sample (int8), and the versions
of TensorFlow and Keras that convert. The file is written first, its manifest (its sha256, what it
was made from) after it, each in one atomic write (`Files.replace`): a file without a manifest is
never used. A run that finds one checks the file against the manifest's sha256 before it uses it;
a corrupt or partial one is reported and made again, never used.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from fruits.config.layout import CONVERTED, CONVERTED_FILE, CONVERTED_MANIFEST
from fruits.models.spec import ModelSpec, WeightsSpec  # noqa: F401 - WeightsSpec: the doctest's
from fruits.models.weights import sha256_file
from fruits.storage.files import Files

log = logging.getLogger(__name__)

# Bumped when the conversion itself changes in a way the versions below do not show.
FORMAT = 1


def converter_versions() -> str:
    """The TensorFlow and Keras that build and convert, read from their packages' metadata (no import).

    >>> converter_versions().startswith("tensorflow ")
    True
    """
    def version(*names: str) -> str:
        for name in names:
            try:
                return importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                continue
        return "absent"

    return f"tensorflow {version('tensorflow-cpu', 'tensorflow')}, keras {version('keras')}"


def model_key(spec: ModelSpec, precision: str, calibration: Optional[str] = None) -> Optional[dict]:
    """What decides the converted file of `spec` at `precision` (int8: `calibration`, an identity of
    the sample), or None when the weights' content is unknown (a remote file: converted per run).

    >>> key = model_key(ModelSpec(weights=WeightsSpec("random")), "fp32")
    >>> key["weights"], key["seed"], key["precision"]
    ('random', 42, 'fp32')
    """
    weights = spec.weights
    if weights.kind != "random" and not weights.sha256:
        return None
    return {"format": FORMAT, "model": spec.model, "weights": "random" if weights.kind == "random" else weights.sha256,
            "seed": spec.seed if weights.kind == "random" else None, "precision": precision,
            "calibration": calibration, "converter": converter_versions()}


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ConvertedStore:
    """The output's converted models: `find` one by key (checked), `keep` a new one."""

    files: Files
    output: str

    def folder(self, key: dict) -> str:
        return f"{self.output}/{CONVERTED}/{key_digest(key)}"

    def has(self, key: Optional[dict]) -> bool:
        """Whether a model of `key` is stored (not yet checked: `find` checks it)."""
        return key is not None and self.files.exists(f"{self.folder(key)}/{CONVERTED_MANIFEST}")

    def find(self, key: dict, local: Path) -> Optional[dict]:
        """The stored model of `key` copied to `local` and its manifest, or None when there is none
        or it fails its check (then said in the log, and the caller makes it again)."""
        folder = self.folder(key)
        if not self.files.exists(f"{folder}/{CONVERTED_MANIFEST}"):
            return None
        try:
            manifest = json.loads(self.files.read_text(f"{folder}/{CONVERTED_MANIFEST}"))
            self.files.download(f"{folder}/{CONVERTED_FILE}", local)
        except (OSError, ValueError) as exc:
            log.warning("converted model %s is unreadable (%s): converting it again", folder, exc)
            return None
        found = sha256_file(local)
        if manifest.get("key") != key or manifest.get("sha256") != found:
            log.warning("converted model %s/%s fails its check (sha256 %s, the manifest says %s): converting it again",
                        folder, CONVERTED_FILE, found[:16], str(manifest.get("sha256"))[:16])
            local.unlink(missing_ok=True)
            return None
        return manifest

    def keep(self, key: dict, local: Path, report: dict) -> dict:
        """Store `local` under `key`: the file, then the manifest that makes it usable; returns the manifest."""
        folder = self.folder(key)
        data = local.read_bytes()
        manifest = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "report": report}
        self.files.replace(f"{folder}/{CONVERTED_FILE}", data, tag=manifest["sha256"][:12])
        self.files.replace(f"{folder}/{CONVERTED_MANIFEST}", json.dumps(manifest, indent=1).encode(), tag=manifest["sha256"][:12])
        return manifest
