"""Crafted weights files are refused through `fruits run`, before Spark starts, without running any
of their code and without allocating what they claim: a payload in each of the five pickles of the
legacy layout and in the zip layout's data.pkl, a stride-0 view of a huge shape, a zip bomb, and a
.keras file with a Lambda layer (Keras safe mode)."""

from __future__ import annotations

import collections
import io
import json
import os
import pickle
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest

LEGACY_MAGIC, LEGACY_PROTOCOL = 0x1950A86A20F9469CFC6C, 1001


class Payload:
    """Creates `marker` when unpickled by an unrestricted unpickler."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


@pytest.fixture()
def fake_torch(monkeypatch):
    """Just enough of a `torch` module for pickle to write the globals a state dict names."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    _rebuild_tensor_v2.__module__ = "torch._utils"
    _rebuild_tensor_v2.__qualname__ = "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = _rebuild_tensor_v2
    storage = type("FloatStorage", (), {"__module__": "torch"})
    torch.FloatStorage, torch._utils = storage, utils
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)
    return torch


class _Storage:
    def __init__(self, numel: int):
        self.numel = numel


class _Tensor:
    def __init__(self, storage: _Storage, shape: tuple, stride: tuple):
        self.storage, self.shape, self.stride = storage, shape, stride

    def __reduce__(self):
        import torch

        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, self.shape, self.stride, False, collections.OrderedDict()))


def state_dict_pickle(state: dict) -> bytes:
    import torch

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _Storage):
                return ("storage", torch.FloatStorage, "0", "cpu", obj.numel)
            return None

    out = io.BytesIO()
    Pickler(out, protocol=2).dump(collections.OrderedDict(state))
    return out.getvalue()


def zip_state_dict(path: Path, data_pkl: bytes, storage: bytes = b"\0\0\0\0", compress: bool = False) -> Path:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        archive.writestr("archive/data.pkl", data_pkl)
        archive.writestr("archive/byteorder", "little")
        archive.writestr("archive/data/0", storage)
    return path


def legacy_with_payload_at(position: int, path: Path, marker: Path) -> Path:
    parts = [pickle.dumps(LEGACY_MAGIC), pickle.dumps(LEGACY_PROTOCOL), pickle.dumps({"little_endian": True}),
             pickle.dumps(collections.OrderedDict()), pickle.dumps([])]
    parts[position] = pickle.dumps(Payload(marker))
    path.write_bytes(b"".join(parts))
    return path


def refuse(weights: Path, tmp_path: Path, model: str = "efficientnet-lite0") -> tuple[subprocess.CompletedProcess, int]:
    """`fruits run` with these weights in a fresh interpreter; returns the result and its RSS growth (KB)
    from before the weights were looked at to the end."""
    images = tmp_path / "in" / "Kiwi"
    images.mkdir(parents=True, exist_ok=True)
    (images / "1.jpg").write_bytes(b"\xff\xd8 not really")
    script = (
        "import json, resource, sys\n"
        "from fruits import cli\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "rc = cli.main(sys.argv[1:])\n"
        "print(json.dumps({'rc': rc, 'growth_kb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base}))\n"
    )
    args = ["run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), "--model", model, "--weights", str(weights)]
    result = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=300)
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rc"] == 2, f"exit {report['rc']}\n{result.stderr[-3000:]}"
    assert "refused" in result.stderr, result.stderr[-3000:]
    assert not (tmp_path / "out").exists(), "a refused run created its output"
    return result, report["growth_kb"]


@pytest.mark.parametrize("position", range(5), ids=["magic", "protocol", "sys_info", "state_dict", "storage_keys"])
def test_payload_in_any_legacy_pickle_never_runs(tmp_path, position):
    marker = tmp_path / "pwned"
    result, growth_kb = refuse(legacy_with_payload_at(position, tmp_path / "x.pth", marker), tmp_path)
    assert not marker.exists(), "the payload ran"
    assert "refusing to load posix.mkdir" in result.stderr, result.stderr[-2000:]
    assert growth_kb < 100 * 1024


def test_payload_in_zip_data_pkl_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    result, _ = refuse(zip_state_dict(tmp_path / "x.pth", pickle.dumps(Payload(marker))), tmp_path)
    assert not marker.exists(), "the payload ran"
    assert "refusing to load posix.mkdir" in result.stderr


def test_stride_zero_view_of_a_huge_shape_is_refused_without_allocating_it(tmp_path, fake_torch):
    huge = _Tensor(_Storage(1), shape=(1 << 16, 1 << 13), stride=(0, 0))  # 2 GiB of float32 from 4 bytes
    result, growth_kb = refuse(zip_state_dict(tmp_path / "x.pth", state_dict_pickle({"w": huge})), tmp_path)
    assert "repeats elements of storage" in result.stderr or "would take" in result.stderr, result.stderr[-2000:]
    assert growth_kb < 100 * 1024, f"reading the file grew the process by {growth_kb} KB"


def test_zip_bomb_storage_is_refused_before_it_is_inflated(tmp_path, fake_torch):
    one = _Tensor(_Storage(1), shape=(1,), stride=(1,))
    bomb = zip_state_dict(tmp_path / "x.pth", state_dict_pickle({"w": one}), storage=bytes(256 << 20), compress=True)
    assert bomb.stat().st_size < 2 << 20
    result, growth_kb = refuse(bomb, tmp_path)
    assert "over the 4 expected" in result.stderr, result.stderr[-2000:]
    assert growth_kb < 100 * 1024, f"reading the file grew the process by {growth_kb} KB"


def test_keras_file_with_a_lambda_layer_is_refused_by_safe_mode(tmp_path):
    marker = tmp_path / "pwned"
    build = (
        "import os, sys\n"
        "os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3'\n"
        "import keras\n"
        "marker = sys.argv[2]\n"
        "inputs = keras.Input((224, 224, 3))\n"
        "x = keras.layers.Lambda(lambda t: (os.makedirs(marker, exist_ok=True), t)[1])(inputs)\n"
        "keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x)).save(sys.argv[1])\n"
    )
    subprocess.run([sys.executable, "-c", build, str(tmp_path / "lambda.keras"), str(marker)], check=True, timeout=300)
    marker.rmdir() if marker.exists() else None  # building the model traced the lambda once
    result, _ = refuse(tmp_path / "lambda.keras", tmp_path, model="resnet50")
    assert not marker.exists(), "the Lambda layer's code ran"
    assert "safe mode" in result.stderr.lower(), result.stderr[-2000:]
