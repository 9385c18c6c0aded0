"""The per-worker model cache is a bounded LRU: hits reuse, a new model past the bound evicts the oldest."""

import threading
import time

import pytest

from fruits.models.cache import DEFAULT_CAPACITY, ModelCache


class Builds:
    """Counts builds per key; each build returns a fresh object."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}

    def __call__(self, key: str):
        def build() -> object:
            self.count[key] = self.count.get(key, 0) + 1
            return object()

        return build


def test_a_hit_returns_the_same_model_without_building():
    cache, builds = ModelCache(2), Builds()
    first = cache.get("resnet50", builds("resnet50"))
    assert cache.get("resnet50", builds("resnet50")) is first
    assert builds.count == {"resnet50": 1}


def test_past_the_bound_the_least_recently_used_is_evicted():
    cache, builds = ModelCache(2), Builds()
    for key in ("a", "b", "a", "c"):  # "a" used again after "b": "b" is the oldest when "c" comes
        cache.get(key, builds(key))
    assert cache.keys() == ["a", "c"] and len(cache) == 2
    cache.get("b", builds("b"))
    assert builds.count == {"a": 1, "b": 2, "c": 1}
    assert cache.keys() == ["c", "b"]


def test_on_build_counts_real_builds_only():
    cache, builds, built = ModelCache(1), Builds(), []
    for key in ("a", "a", "b", "a"):
        cache.get(key, builds(key), on_build=lambda: built.append(1))
    assert len(built) == 3


def test_threads_asking_for_a_new_model_build_it_once():
    cache, count = ModelCache(2), []

    def slow_build() -> object:
        count.append(1)
        time.sleep(0.05)
        return object()

    models = []
    threads = [threading.Thread(target=lambda: models.append(cache.get("m", slow_build))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(count) == 1 and all(m is models[0] for m in models)


def test_the_bound_is_small_and_positive():
    assert 1 <= DEFAULT_CAPACITY <= 3
    with pytest.raises(ValueError):
        ModelCache(0)


def test_the_featurizer_keeps_its_models_in_a_bounded_cache(monkeypatch):
    from fruits.models import cache as worker_cache
    from fruits.models.spec import ModelSpec, WeightsSpec

    cache = ModelCache(2)
    monkeypatch.setattr(worker_cache, "_MODELS", cache)
    monkeypatch.setattr(worker_cache, "build_model", lambda spec: object())
    specs = [ModelSpec(weights=WeightsSpec(kind="random"), seed=seed) for seed in range(3)]
    models = [worker_cache.get_model(spec) for spec in specs]
    assert len(cache) == 2 and worker_cache.get_model(specs[2]) is models[2]
