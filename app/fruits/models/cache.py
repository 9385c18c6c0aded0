"""A small least-recently-used cache of built models, one per Python worker process.

Why cache: Spark reuses a Python worker for many tasks (`spark.python.worker.reuse`), and building
ResNet50 costs seconds, so a model built by the first task is kept for the next ones.

Why bounded: a long-lived worker can serve many runs of one SparkSession (a notebook, the test
suite, a driver that runs several configurations), each with its own model, weights or precision.
Kept forever, every model it ever built (ResNet50: about 100 MB of weights plus TensorFlow's state)
would stay in the worker's memory, outside Spark's accounting. A run needs one model, so a bound
of two keeps the one in use and the one before it; a third evicts the least recently used.

>>> cache = ModelCache(capacity=2)
>>> cache.get("a", lambda: "model a"), cache.get("b", lambda: "model b")
('model a', 'model b')
>>> cache.get("a", lambda: "rebuilt a")  # a hit: "a" becomes the most recently used
'model a'
>>> cache.get("c", lambda: "model c")  # over the bound: "b", the least recently used, goes
'model c'
>>> cache.keys()
['a', 'c']
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Generic, Hashable, Optional, TypeVar

from fruits.models.build import build_model
from fruits.models.spec import ModelSpec
from fruits.quiet import native_info_lines_hidden

Model = TypeVar("Model")

# A run uses one model per worker; two leave room for the previous run's without growing further.
DEFAULT_CAPACITY = 2


class ModelCache(Generic[Model]):
    """At most `capacity` models by key, the least recently used evicted first; thread-safe."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._models: OrderedDict[Hashable, Model] = OrderedDict()
        # Held while building too: two threads asking for the same new model build it once.
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], Model], on_build: Optional[Callable[[], None]] = None) -> Model:
        """The model cached under `key`, or `build()`'s, cached; `on_build` is called after a real build."""
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
            model = build()
            self._models[key] = model
            while len(self._models) > self.capacity:
                self._models.popitem(last=False)
            if on_build is not None:
                on_build()
            return model

    def keys(self) -> list[Hashable]:
        """The cached keys, least recently used first."""
        with self._lock:
            return list(self._models)

    def clear(self) -> None:
        with self._lock:
            self._models.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._models)


# This worker's built models, by ModelSpec.cache_key (bounded: see the module's docstring).
_MODELS: ModelCache[Any] = ModelCache()


def get_model(spec: ModelSpec, on_build: Optional[Callable[[], None]] = None) -> Any:
    """The worker's cached model for `spec`, built on first use; `on_build` counts real builds.

    The build runs with TensorFlow's C++ start-up INFO lines filtered out unless the run is verbose
    (see fruits.quiet).
    """
    def build() -> Any:
        with native_info_lines_hidden(spec.quiet):
            return build_model(spec)

    return _MODELS.get(spec.cache_key, build, on_build)
