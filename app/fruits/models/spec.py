"""What a worker needs to build the same model as every other worker: small, picklable, shipped with the function Spark runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Optional


@dataclass(frozen=True)
class WeightsSpec:
    """What the workers load: `kind` is imagenet, random or file; `uri` is None for random."""

    kind: str
    uri: Optional[str] = None
    sha256: Optional[str] = None

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def description(self) -> str:
        return "random (untrained, seeded)" if self.kind == "random" else f"{self.kind} ({self.uri})"


@dataclass(frozen=True)
class ModelSpec:
    """Everything a worker needs to build the same model as every other worker.

    `local_weights` is the path a worker opens: the driver's path for `imagenet` (the same file
    is baked into the image at the same place), or the name of a file shipped with
    `fruits.spark.portable.ship_file` for `file` weights. `seed` makes `random` weights identical everywhere.
    """

    weights: WeightsSpec
    model: str = "resnet50"
    seed: int = 42
    threads: int = 1
    shipped_file: Optional[str] = None
    precision: str = "fp32"
    # The converted .tflite file (fp32 or int8) shipped with fruits.spark.portable.ship_file, run by
    # `runtime` (fruits.models.runtime); None: the Keras model is built on the worker (TensorFlow).
    model_file: Optional[str] = None
    runtime: str = "litert"
    quiet: bool = True  # hide TensorFlow's start-up lines while the model is built (fruits.quiet)

    @property
    def cache_key(self) -> tuple:
        return (self.model, self.weights.kind, self.weights.uri, self.seed, self.threads, self.precision, self.model_file,
                self.runtime)
