"""Read a PyTorch state dict file (`torch.save(model.state_dict(), f)`) into numpy, without torch.

Why hand-rolled: the job runs TensorFlow, and torch (a CUDA wheel of several GB on PyPI for
x86_64) must not become a runtime dependency just to read 18 MB of float32 arrays. A state dict
file is a pickle of `name -> tensor`, where each tensor is a view (offset, shape, strides) into a
raw storage buffer stored beside the pickle. Reading one needs no more than `pickle`, `zipfile`
and numpy. Two layouts exist and both are read here:

- zip (torch >= 1.6): `<root>/data.pkl` holds the pickle; each storage is the raw file
  `<root>/data/<key>`; `<root>/byteorder` says `little` or `big` (absent means little).
- legacy (torch < 1.6, the layout of the EfficientNet-Lite0 file on PyPI): five things written one
  after another: a pickled magic number, a pickled protocol version, a pickled dict of system
  info (byte order, sizes), the pickled object itself, a pickled list of storage keys; then, for
  each key in that order, the storage's element count as a little-endian int64 followed by its
  raw bytes.

Every pickle in the file goes through a restricted unpickler, so a file cannot run code when it is
read (which `torch.load(..., weights_only=False)` would allow): the state dict itself may name only
the handful of globals a state dict uses (`collections.OrderedDict`, the typed storage classes,
`torch._utils._rebuild_tensor_v2` and `_rebuild_parameter`); the legacy layout's four small
pickles (magic number, protocol, system info, storage keys) may name no global at all. Sizes are
checked before anything is allocated: the file, each zip entry, each storage, and each tensor view
against its storage (no zero or negative strides, no more elements than the storage holds), all
under `MAX_BYTES`.

    >>> arrays = read_state_dict("efficientnet-lite0-57934424.pth")   # doctest: +SKIP
    >>> arrays["_conv_stem.weight"].shape                                # doctest: +SKIP
    (32, 3, 3, 3)
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile
from dataclasses import dataclass
from typing import Any, BinaryIO, Union

import numpy as np

PathLike = Union[str, "os.PathLike[str]"]

# torch.<Name>Storage -> numpy dtype of one element.
_STORAGE_DTYPES = {
    "DoubleStorage": np.float64,
    "FloatStorage": np.float32,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001
# Far above any featurizer's weights (EfficientNet-Lite0: 18 MB, ResNet50: 100 MB), far below memory.
MAX_BYTES = 1 << 30


class StateDictError(ValueError):
    """The file is not a state dict this reader understands; the message says what was found."""


@dataclass
class _Storage:
    """A raw buffer named by `key`, filled in once the bytes have been read."""

    key: str
    dtype: np.dtype
    numel: int
    data: Any = None


@dataclass
class _TensorRef:
    """A strided view into a storage, resolved to a numpy array after the storages are read."""

    storage: _Storage
    offset: int
    shape: tuple
    stride: tuple

    def materialize(self) -> np.ndarray:
        buffer = self.storage.data
        if buffer is None:
            raise StateDictError(f"storage {self.storage.key} was never read")
        if len(self.shape) != len(self.stride) or any(not isinstance(n, int) or n < 0 for n in self.shape):
            raise StateDictError(f"tensor view {self.shape} with strides {self.stride}: not a valid shape")
        elements = int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1
        if elements * buffer.itemsize > MAX_BYTES:
            raise StateDictError(f"tensor view {self.shape} would take {elements * buffer.itemsize:,} bytes (limit {MAX_BYTES:,})")
        if not all(self.shape):  # a dimension of size 0
            return np.zeros(self.shape, dtype=buffer.dtype)
        # A state dict's tensors are plain views: each element its own, so never more than the storage.
        if any(s < 1 for n, s in zip(self.shape, self.stride, strict=True) if n > 1) or elements > len(buffer):
            raise StateDictError(f"tensor view {self.shape} with strides {self.stride} repeats elements of storage "
                                 f"{self.storage.key} ({len(buffer)} elements)")
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride, strict=True))
        if self.offset < 0 or last >= len(buffer):
            raise StateDictError(f"tensor view {self.shape} at {self.offset} lies outside storage {self.storage.key}")
        if not self.shape:  # a scalar
            return np.array(buffer[self.offset], dtype=buffer.dtype)
        item = buffer.itemsize
        view = np.lib.stride_tricks.as_strided(
            buffer[self.offset:], shape=self.shape, strides=tuple(s * item for s in self.stride), writeable=False
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None, metadata=None):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _TensorRef(storage, int(storage_offset), tuple(size), tuple(stride))


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None):
    return data


class _StorageType:
    """Stands in for `torch.FloatStorage` and friends: only its element dtype matters."""

    def __init__(self, name: str):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _NoGlobalsUnpickler(pickle.Unpickler):
    """For the legacy layout's small pickles (numbers, a dict of sizes, a list of keys): no global,
    so no callable, can be named, and nothing can be called."""

    def find_class(self, module: str, name: str):
        raise StateDictError(f"refusing to load {module}.{name}: this part of the file holds plain values only")

    def persistent_load(self, pid):
        raise StateDictError(f"unexpected persistent id {pid!r} in a plain-values pickle")


def _plain_load(file: BinaryIO) -> Any:
    return _NoGlobalsUnpickler(file, encoding="utf-8").load()


class _Unpickler(pickle.Unpickler):
    _ALLOWED = {
        ("collections", "OrderedDict"),
        ("torch._utils", "_rebuild_tensor_v2"),
        ("torch._utils", "_rebuild_tensor"),
        ("torch._utils", "_rebuild_parameter"),
    }

    def __init__(self, file: BinaryIO, storages: dict[str, _Storage]):
        super().__init__(file, encoding="utf-8")
        self._storages = storages

    def find_class(self, module: str, name: str):
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if (module, name) not in self._ALLOWED:
            raise StateDictError(f"refusing to load {module}.{name}: not part of a plain state dict")
        if module == "collections":
            return collections.OrderedDict
        return {"_rebuild_tensor_v2": _rebuild_tensor_v2, "_rebuild_tensor": _rebuild_tensor,
                "_rebuild_parameter": _rebuild_parameter}[name]

    def persistent_load(self, pid):
        # zip:    ('storage', storage_type, key, location, numel)
        # legacy: ('storage', storage_type, key, location, numel, view_metadata)
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise StateDictError(f"unexpected persistent id {pid!r}")
        if len(pid) < 5:
            raise StateDictError(f"unexpected persistent id {pid!r}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if not isinstance(storage_type, _StorageType):
            raise StateDictError(f"unsupported storage type {storage_type!r}")
        if not isinstance(numel, int) or not 0 <= numel * storage_type.dtype.itemsize <= MAX_BYTES:
            raise StateDictError(f"storage {key}: {numel!r} elements is not a size this reader accepts (limit {MAX_BYTES:,} bytes)")
        if len(pid) > 5 and pid[5] is not None:
            raise StateDictError("storage views (legacy view_metadata) are not supported")
        storage = self._storages.get(key)
        if storage is None:
            storage = self._storages[key] = _Storage(key, storage_type.dtype, numel)
        return storage


def read_state_dict(path: PathLike) -> dict[str, np.ndarray]:
    """Every tensor of a PyTorch state dict file as a C-contiguous numpy array, keyed by its name.

    Shapes are PyTorch's (a conv kernel is `(out, in, kh, kw)`); dtypes follow the storage
    (`torch.float32` -> `np.float32`). Raises `StateDictError` for a file that is not a flat
    `name -> tensor` mapping in one of the two layouts above.
    """
    size = os.path.getsize(path)
    if size > MAX_BYTES:
        raise StateDictError(f"{path}: {size:,} bytes, over the {MAX_BYTES:,}-byte limit for a weights file")
    with open(path, "rb") as file:
        head = file.read(4)
        file.seek(0)
        if head.startswith(b"PK"):
            result, storages = _read_zip(file)
        else:
            result, storages = _read_legacy(file)
    if not isinstance(result, dict):
        raise StateDictError(f"{path}: the pickle holds a {type(result).__name__}, not a state dict")
    arrays: dict[str, np.ndarray] = {}
    for name, value in result.items():
        if not isinstance(value, _TensorRef):
            raise StateDictError(f"{path}: entry {name!r} is a {type(value).__name__}, not a tensor")
        arrays[str(name)] = value.materialize()
    return arrays


def _read_zip(file: BinaryIO) -> tuple[Any, dict[str, _Storage]]:
    with zipfile.ZipFile(file) as archive:
        names = archive.namelist()
        pickles = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise StateDictError(f"zip file without exactly one data.pkl (found {pickles})")
        root = pickles[0][: -len("data.pkl")]
        byteorder = "little"
        if f"{root}byteorder" in names:
            byteorder = _read_entry(archive, f"{root}byteorder", 16).decode(errors="replace").strip()
            if byteorder not in ("little", "big"):
                raise StateDictError(f"unknown byte order {byteorder!r}")
        storages: dict[str, _Storage] = {}
        result = _Unpickler(io.BytesIO(_read_entry(archive, pickles[0], MAX_BYTES)), storages).load()
        for key, storage in storages.items():
            if f"{root}data/{key}" not in names:
                raise StateDictError(f"storage {key} is used but missing from the zip")
            raw = _read_entry(archive, f"{root}data/{key}", storage.numel * storage.dtype.itemsize)
            storage.data = _buffer(raw, storage, byteorder)
    return result, storages


def _read_entry(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    """One zip entry, refused before reading when its declared size is over `limit` (a zip bomb
    declares its real size, or stops at the size it declares)."""
    declared = archive.getinfo(name).file_size
    if declared > limit:
        raise StateDictError(f"zip entry {name}: {declared:,} bytes, over the {limit:,} expected")
    return archive.read(name)


def _read_legacy(file: BinaryIO) -> tuple[Any, dict[str, _Storage]]:
    try:
        magic = _plain_load(file)
    except StateDictError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure here means "not this format"
        raise StateDictError(f"neither a zip nor a legacy PyTorch file: {exc}") from exc
    if magic != _LEGACY_MAGIC:
        raise StateDictError("not a PyTorch file (wrong magic number)")
    protocol = _plain_load(file)
    if protocol != _LEGACY_PROTOCOL:
        raise StateDictError(f"unsupported legacy protocol version {protocol!r}")
    sys_info = _plain_load(file)
    if not isinstance(sys_info, dict):
        raise StateDictError(f"legacy system info is a {type(sys_info).__name__}, not a dict")
    byteorder = "little" if sys_info.get("little_endian", True) else "big"
    storages: dict[str, _Storage] = {}
    result = _Unpickler(file, storages).load()
    keys = _plain_load(file)
    if not isinstance(keys, list):
        raise StateDictError(f"legacy storage keys are a {type(keys).__name__}, not a list")
    for key in keys:
        storage = storages.get(str(key))
        if storage is None:
            raise StateDictError(f"storage {key} is in the file but no tensor uses it")
        (numel,) = struct.unpack("<q" if byteorder == "little" else ">q", file.read(8))
        if not 0 <= numel <= storage.numel:
            raise StateDictError(f"storage {key}: {numel} elements, but its tensors were declared with {storage.numel}")
        raw = file.read(numel * storage.dtype.itemsize)
        storage.numel = numel
        storage.data = _buffer(raw, storage, byteorder)
    return result, storages


def _buffer(raw: bytes, storage: _Storage, byteorder: str) -> np.ndarray:
    dtype = storage.dtype.newbyteorder("<" if byteorder == "little" else ">")
    if len(raw) != storage.numel * dtype.itemsize:
        raise StateDictError(
            f"storage {storage.key}: {len(raw)} bytes, expected {storage.numel} x {dtype.itemsize} (truncated file?)"
        )
    return np.frombuffer(raw, dtype=dtype).astype(storage.dtype.newbyteorder("="), copy=False)
