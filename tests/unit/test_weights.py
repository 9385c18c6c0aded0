import pytest

from fruits.config.settings import Settings
from fruits.errors import ConfigError
from fruits.models.weights import KERAS_NOTOP_FILE, resolve_weights


def test_random_is_explicit_and_has_no_file():
    spec = resolve_weights("random")
    assert (spec.kind, spec.uri) == ("random", None)
    assert "random" in spec.description


def test_imagenet_found_in_the_keras_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("FRUITS_RESNET50_WEIGHTS", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / KERAS_NOTOP_FILE).write_bytes(b"weights")
    spec = resolve_weights("imagenet", settings=Settings.from_env())
    assert spec.kind == "imagenet" and spec.uri.endswith(KERAS_NOTOP_FILE) and len(spec.sha256) == 64


def test_imagenet_named_by_environment_variable(tmp_path, monkeypatch):
    file = tmp_path / "mine.h5"
    file.write_bytes(b"weights")
    monkeypatch.setenv("FRUITS_RESNET50_WEIGHTS", str(file))
    assert resolve_weights("imagenet", settings=Settings.from_env()).uri == str(file)


def test_imagenet_missing_never_falls_back_to_random(tmp_path, monkeypatch):
    monkeypatch.setenv("FRUITS_RESNET50_WEIGHTS", str(tmp_path / "absent.h5"))
    with pytest.raises(ConfigError, match="ImageNet weights not found"):
        resolve_weights("imagenet", settings=Settings.from_env())


def test_remote_weights_file_is_left_to_spark():
    spec = resolve_weights("s3a://models/resnet50.h5")
    assert (spec.kind, spec.uri) == ("file", "s3a://models/resnet50.h5")


def test_efficientnet_imagenet_weights_come_from_the_installed_wheel():
    from fruits.models.efficientnet_lite0 import WEIGHTS_SHA256

    spec = resolve_weights("imagenet", "efficientnet-lite0")
    assert spec.kind == "imagenet" and spec.uri.endswith(".pth") and spec.sha256 == WEIGHTS_SHA256
