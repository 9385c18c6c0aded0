"""The contract of fruits.storage.files.Files, checked the same way on a local folder (tests/unit)
and on MinIO (tests/s3): each check takes a `Files` and a fresh, empty root URI of its own."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from fruits.storage.files import Files

ODD_NAME = "Pêche 1.txt"


def check_round_trip(files: Files, root: str, tmp_path: Path) -> None:
    """Bytes and text written, read back, uploaded and downloaded, under an odd name too."""
    files.write_text(f"{root}/a/{ODD_NAME}", "fraise\n")
    assert files.read_text(f"{root}/a/{ODD_NAME}") == "fraise\n"
    assert files.exists(f"{root}/a/{ODD_NAME}") and files.exists(f"{root}/a") and not files.exists(f"{root}/b")
    assert files.names(f"{root}/a") == [ODD_NAME]
    local = tmp_path / "up" / "model file.bin"
    local.parent.mkdir()
    local.write_bytes(bytes(range(256)) * 64)
    files.upload(local, f"{root}/models/{ODD_NAME}")
    files.download(f"{root}/models/{ODD_NAME}", tmp_path / "down" / "copy.bin")
    assert (tmp_path / "down" / "copy.bin").read_bytes() == local.read_bytes()
    with pytest.raises(FileNotFoundError):
        files.read_text(f"{root}/a/none.txt")


def check_replace(files: Files, root: str) -> None:
    """A reader sees the old or the new content whole, never a mix, while a writer replaces it; no temporary is left."""
    uri = f"{root}/_PACK"
    size = 1 << 20
    files.replace(uri, b"a" * size, tag="t0")
    seen: set[tuple[int, bytes]] = set()
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            data = files.read_bytes(uri)
            seen.add((len(data), bytes(set(data))))

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for n in range(10):
            files.replace(uri, (b"b" if n % 2 == 0 else b"a") * size, tag=f"t{n}")
    finally:
        done.set()
        reader.join()
    assert seen and seen <= {(size, b"a"), (size, b"b")}, f"a reader saw a mix: {seen}"
    assert files.read_bytes(uri) == b"a" * size
    assert files.names(root) == ["_PACK"], "no temporary left beside it"


def check_delete(files: Files, root: str) -> None:
    """A folder goes with everything in it; a neighbour whose name starts the same, and a missing path, are fine."""
    for name in ("runs/r1/metrics.json", "runs/r1/model/part-0", f"runs/r1/{ODD_NAME}", "runs/r10/keep.json", "runs/r1.json"):
        files.write_text(f"{root}/{name}", "x")
    files.delete(f"{root}/runs/r1")
    assert files.names(f"{root}/runs") == ["r1.json", "r10"]
    assert not files.exists(f"{root}/runs/r1") and files.read_text(f"{root}/runs/r10/keep.json") == "x"
    files.delete(f"{root}/runs/r1.json")
    files.delete(f"{root}/runs/never-there")
    assert files.names(f"{root}/runs") == ["r10"]


def check_listing(files: Files, root: str) -> None:
    """names and folders directly in a folder, sorted; [] for a missing folder; files counted, hidden ones too."""
    for name in ("runs/b/m", "runs/a/m", "runs/_LOCK", "runs/.hidden/x", f"runs/{ODD_NAME}"):
        files.write_text(f"{root}/{name}", "x")
    assert files.names(f"{root}/runs") == sorted([".hidden", "_LOCK", "a", "b", ODD_NAME])
    assert files.folders(f"{root}/runs") == [".hidden", "a", "b"]
    assert files.names(f"{root}/missing") == [] and files.folders(f"{root}/missing") == []
    assert files.count_files(f"{root}/runs") == 5
    with pytest.raises(FileNotFoundError):
        files.count_files(f"{root}/missing")


def check_move_and_copy(files: Files, root: str) -> None:
    """move makes the target's folder and leaves nothing behind; copy_into names each copy by `name`."""
    files.write_text(f"{root}/run/features/{ODD_NAME}", "features")
    files.move(f"{root}/run/features/{ODD_NAME}", f"{root}/tables/data/r1/{ODD_NAME}")
    assert files.read_text(f"{root}/tables/data/r1/{ODD_NAME}") == "features"
    assert not files.exists(f"{root}/run/features/{ODD_NAME}")
    sources = [f"{root}/in/{n}" for n in ("1.jpg", ODD_NAME)]
    for uri in sources:
        files.write_text(uri, uri)
    files.copy_into(sources, f"{root}/copies", lambda uri: "copy of " + uri.rsplit("/", 1)[-1])
    assert files.names(f"{root}/copies") == ["copy of 1.jpg", f"copy of {ODD_NAME}"]
    assert files.read_text(f"{root}/copies/copy of {ODD_NAME}") == sources[1]
    assert files.names(f"{root}/in") == ["1.jpg", ODD_NAME], "copies leave their sources"


CHECKS = [check_replace, check_delete, check_listing, check_move_and_copy]
