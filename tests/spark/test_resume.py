"""A run killed in the middle of featurize is finished by `--resume`: finished waves are reused,
every image appears once, and the resumed attempt featurizes only what was left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import tablekit

pytestmark = pytest.mark.spark

FRUITS = str(Path(sys.executable).parent / "fruits")
WAVE_IMAGES = 8


def fruits_run(sample: Path, output: Path, *extra: str) -> subprocess.Popen:
    args = [FRUITS, "run", "--input", str(sample), "--output", str(output), "--model", "efficientnet-lite0", "--weights", "random",
            "--pca-k", "3", "--files-per-partition", "2", "--master", "local[2]", *extra]
    env = {**os.environ, "FRUITS_WAVE_IMAGES": str(WAVE_IMAGES)}
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True, env=env)


def finished_waves(output: Path) -> list[Path]:
    return sorted(p.parent for p in output.glob("runs/*/_raw/wave-*/_SUCCESS"))


def featurized_in(log: str) -> int:
    """Images the attempt featurized, from its log line `featurizing N images in W wave(s)`."""
    import re

    found = re.findall(r"featurizing (\d+) images in", log)
    assert found, log[-3000:]
    return int(found[-1])


def test_killed_run_is_resumed_from_its_finished_waves(small_sample, tmp_path):
    output = tmp_path / "out"
    first = fruits_run(small_sample, output)
    deadline = time.monotonic() + 600
    while len(finished_waves(output)) < 2 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    log, _ = first.communicate(timeout=60)
    done = finished_waves(output)
    assert len(done) >= 2, f"the run ended before two waves were written: {log[-3000:]}"
    assert tablekit.current_run_id(output) is None, "the run finished before it could be killed"
    run_id = done[0].parent.parent.name

    second = fruits_run(small_sample, output, "--resume", "auto")
    log, _ = second.communicate(timeout=900)
    assert second.returncode == 0, log[-3000:]
    assert tablekit.current_run_id(output) == run_id, "the resumed run is the killed one, now committed"
    metrics = json.loads((output / "runs" / run_id / "metrics.json").read_text())
    counts, resume = metrics["counts"], metrics["resume"]
    listed = counts["listed"]
    assert counts["consistent"] and counts["images"] > 2 * WAVE_IMAGES
    assert resume["resumed"] and resume["images_from_earlier_attempts"] > 0  # two waves, of a size set by a hash
    assert metrics["images_per_second"] > 0
    featurized_now = featurized_in(log)
    assert resume["images_from_earlier_attempts"] + featurized_now == counts["images"]
    assert featurized_now < counts["images"], "the resumed attempt featurized only what no finished wave held"
    table = tablekit.rows(output, "features", ["path"]).column("path").to_pylist()
    rejected = tablekit.rows(output, "rejected", ["path"]).column("path").to_pylist()
    assert len(table) == len(set(table)) == counts["accepted"], "every image appears once"
    assert not set(table) & set(rejected) and len(table) + len(rejected) == listed
    assert not (output / "runs" / run_id / "_raw").exists(), "working files are removed after the commit"


def test_resume_refuses_a_run_made_with_other_settings(small_sample, tmp_path):
    output = tmp_path / "out"
    first = fruits_run(small_sample, output)
    deadline = time.monotonic() + 600
    while not finished_waves(output) and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)
    first.communicate(timeout=60)
    run_id = finished_waves(output)[0].parent.parent.name
    other = fruits_run(small_sample, output, "--resume", run_id, "--seed", "7")
    log, _ = other.communicate(timeout=600)
    assert other.returncode == 2 and "other settings" in log, log[-3000:]
