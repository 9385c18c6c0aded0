"""A hostile input folder, run as a user would run it: `fruits run` under LC_ALL=POSIX, as a non-root
user (nobody, when the tests run as root), each Python worker under an address-space limit; with
--limit, and --incremental twice (the first is a whole run). Every entry that is not a folder appears exactly once, in
features or in rejected with a reason, and the run exits 0 (in local mode a killed worker fails
the job)."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from PIL import Image

import tablekit
from fruits.storage.local import local_path_bytes, local_uri
from helpers import png_bomb

pytestmark = pytest.mark.spark

# Address space per Python worker: a worker with EfficientNet-Lite0 peaks near 1.8 GB of it
# (0.85 GB resident); decoding the 88 MP PNG whole took 2.2 GB more.
WORKER_ADDRESS_SPACE_KB = 3 * 1024 * 1024
NOBODY = 65534


def jpeg(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (100, 100), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


def build_hostile_folder(root: Path, outside: Path) -> dict[bytes, str | None]:
    """Writes the folder; returns each entry's path (bytes) -> expected reason fragment (None: accepted)."""
    expected: dict[bytes, str | None] = {}

    def put(relative: bytes, content: bytes, reason: str | None) -> bytes:
        path = os.fsencode(root) + b"/" + relative
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
        expected[path] = reason
        return path

    for i in range(4):
        put(f"Training/Kiwi/{i}.jpg".encode(), jpeg((40 * i, 200, 30)), None)
        put(f"Training/Pêche/{i}.jpg".encode(), jpeg((230, 150, 40 * i)), None)
    put("Training/Kiwi/we[ir]d*?{x,y}\\back.jpg".encode(), jpeg((10, 20, 30)), None)
    put(b"Training/Kiwi/new\nline.jpg", jpeg((30, 20, 10)), None)
    put(b"Training/Kiwi/\xff\xfe-not-utf8.jpg", jpeg((1, 2, 3)), "not valid UTF-8")
    secret = put(b"Training/Kiwi/secret.jpg", jpeg((9, 9, 9)), "permission denied")
    os.chmod(secret, 0)
    huge = put(b"Training/Kiwi/disk-image.bin", b"", "not an image file (.bin)")
    os.truncate(huge, 3 << 30)  # 3 GiB, sparse: never read
    big = put(b"Training/Kiwi/big.jpg", b"", "file too large")
    os.truncate(big, 100 << 20)
    put(b"Training/Kiwi/bomb.png", png_bomb(), "image too large (9400x9400")
    deep = b"/".join(f"d{i}".encode() for i in range(25))
    put(b"Training/" + deep + b"/Kiwi/deep.jpg", jpeg((50, 60, 70)), None)
    loop = os.fsencode(root) + b"/Training/Kiwi/loop"
    os.symlink(b"../..", loop)
    expected[loop] = "symbolic link"
    outside.write_bytes(jpeg((0, 0, 0)))
    link = os.fsencode(root) + "/Training/Pêche/outside.jpg".encode()
    os.symlink(os.fsencode(outside), link)
    expected[link] = "symbolic link"
    return expected


def as_nobody(*command: str) -> list[str]:
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *command]


def runs_as_nobody(python: str) -> bool:
    """Whether nobody can start `python` from a shell, as Spark starts its workers."""
    return subprocess.run(as_nobody("/bin/sh", "-c", f"exec {python} -c pass"), capture_output=True).returncode == 0


def interpreter_for_the_run() -> tuple[list[str], dict[str, str]]:
    """How to start Python for the run, and the environment it needs. As root, the run is made as
    nobody; when nobody cannot execute this interpreter (a pyenv under /root), the system Python
    of the same version runs the same packages through PYTHONPATH."""
    if os.geteuid() != 0:
        return [sys.executable], {}
    if runs_as_nobody(sys.executable):
        return as_nobody(sys.executable), {}
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/local/bin:/usr/bin:/bin")
    site = [p for p in sys.path if p.endswith("site-packages") and p.startswith(sys.prefix)]
    app = str(Path(__file__).resolve().parents[2] / "app")
    if not system or not runs_as_nobody(system):
        pytest.fail(f"no {version} that user nobody can run: install one (Debian: python3) or run the tests as a non-root user")
    return as_nobody(system), {"PYTHONPATH": os.pathsep.join([app, *site])}


def fruits(input_dir: Path, output: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    python, extra_env = interpreter_for_the_run()
    wrapper = home / "python-limited"
    wrapper.write_text(f"#!/bin/bash\nulimit -v {WORKER_ADDRESS_SPACE_KB}\nexec {python[-1]} \"$@\"\n")
    wrapper.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "LC_ALL": "POSIX", "LANG": "POSIX", "PYSPARK_PYTHON": str(wrapper),
           "TMPDIR": str(home), "FRUITS_DRIVER_MEMORY": "1g", **extra_env}
    for key in ("JAVA_HOME", "FRUITS_CACHE", "FRUITS_JARS_DIR"):
        if key in os.environ:
            env[key] = os.environ[key]
    command = [*python, "-m", "fruits.cli", "run", "--input", str(input_dir), "--output", str(output),
               "--model", "efficientnet-lite0", "--weights", "random", "--pca-k", "2", "--batch-size", "8",
               "--files-per-partition", "4", *extra]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=900, cwd=home)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="fruits-hostile-"))
    base.chmod(0o755)
    root, home = base / "in", base / "home"
    home.mkdir()
    expected = build_hostile_folder(root, base / "outside.jpg")
    if os.geteuid() == 0:
        for path in (home, base):
            os.chown(path, NOBODY, NOBODY)
    yield root, home, expected
    shutil.rmtree(base, ignore_errors=True)


def check_every_entry_once(result: subprocess.CompletedProcess, output: Path, expected: dict[bytes, str | None], subset=None):
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stderr[-4000:]}"
    features = tablekit.rows(output, "features", ["path", "label"]).to_pylist()
    rejected = tablekit.rows(output, "rejected", ["path", "reason"]).to_pylist()
    seen = [local_path_bytes(r["path"]) for r in features] + [local_path_bytes(r["path"]) for r in rejected]
    assert len(seen) == len(set(seen)), "a file appears twice"
    wanted = set(expected) if subset is None else subset
    assert set(seen) == wanted, f"missing {wanted - set(seen)}, extra {set(seen) - wanted}"
    reasons = {local_path_bytes(r["path"]): r["reason"] for r in rejected}
    for path in seen:
        want = expected[path]
        if want is None:
            assert path not in reasons, f"{path!r} was rejected: {reasons.get(path)}"
        else:
            assert want in (reasons.get(path) or ""), f"{path!r}: expected a reason with {want!r}, got {reasons.get(path)!r}"
    labels = {r["label"] for r in features}
    assert {"Kiwi", "Pêche"} <= labels, labels
    metrics = tablekit.metrics(output)
    assert metrics["counts"]["consistent"] and metrics["counts"]["listed"] == len(wanted)
    return metrics


def test_hostile_folder_with_limit_reads_no_path_as_a_glob(hostile):
    root, home, expected = hostile
    output = home / "out-limit"
    first = sorted(expected, key=lambda p: local_uri(p))[:14]
    check_every_entry_once(fruits(root, output, home, "--limit", "14"), output, expected, subset=set(first))


def test_hostile_folder_every_entry_once_under_posix_as_non_root_then_every_row_reused(hostile):
    root, home, expected = hostile
    output = home / "out-pêche"  # a non-ASCII output path too: the JVM writes there under POSIX
    # On an empty output an incremental run is a whole run; the second one reuses every row.
    check_every_entry_once(fruits(root, output, home, "--incremental"), output, expected)
    metrics = check_every_entry_once(fruits(root, output, home, "--incremental"), output, expected)
    assert metrics["incremental"]["new"] == 0 and metrics["model_calls"] == 0, metrics["incremental"]
