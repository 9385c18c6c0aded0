"""What a person sees in the console: progress lines, the demo's weights banner, no library chatter."""

import logging
import os
import subprocess
import sys
import time

import pytest

from fruits.cli import main
from fruits.config.settings import Settings
from fruits.models.weights import KERAS_NOTOP_FILE, banner, demo_choice, display_width
from fruits.pipeline.progress import progress_line, report_progress
from fruits.quiet import JVM_STARTUP_NOTICE, jvm_startup_notice_hidden, native_info_lines_hidden

ABSL_NOTICE = "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
ONEDNN_INFO = "I0000 00:00:1796288742.391964   18985 port.cc:153] oneDNN custom operations are on.\n"


def test_first_progress_line_has_no_time_left_yet():
    line = progress_line(0, 40, 10.0)
    assert line == "0/40 images (0%), none finished yet"


def test_progress_line_gives_the_rate_and_the_time_left():
    assert progress_line(10, 40, 5.0) == "10/40 images (25%), 2.0 images/s, about 15 s left"
    assert progress_line(40, 40, 20.0) == "40/40 images (100%), 2.0 images/s"


def test_progress_reporter_never_logs_nan(caplog):
    caplog.set_level(logging.INFO, logger="fruits.pipeline.progress")
    with report_progress(lambda: 0, 40, every=0.02):
        time.sleep(0.1)
    lines = [r.getMessage() for r in caplog.records]
    assert lines and not any("nan" in line for line in lines), lines


@pytest.mark.parametrize("lines", [
    ["short", "a longer line"],
    ["ResNet50 weights are not at", "  s3a://a-bucket/" + "very-long-prefix/" * 8 + KERAS_NOTOP_FILE],
    ["Pe\u0301che and \u679c\u7269 (wide and combining characters)", "x"],
])
def test_banner_rows_are_all_as_wide_on_screen(lines):
    rows = banner(lines).splitlines()
    assert len({display_width(row) for row in rows}) == 1, rows
    assert all(row.startswith("*") and row.endswith("*") for row in rows)
    assert all(line in text for line, text in zip(lines, rows[1:-1], strict=True))


def test_banner_has_a_minimum_width():
    assert display_width(banner(["x"]).splitlines()[0]) == 78 + 6


def test_demo_uses_resnet50_when_its_imagenet_weights_are_on_disk(tmp_path, monkeypatch):
    monkeypatch.delenv("FRUITS_RESNET50_WEIGHTS", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / KERAS_NOTOP_FILE).write_bytes(b"weights")
    choice = demo_choice(Settings.from_env())
    assert (choice.flags, choice.notice) == (["--model", "resnet50", "--weights", "imagenet"], ())


def test_demo_fallback_prints_flags_and_an_aligned_box_naming_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("FRUITS_RESNET50_WEIGHTS", raising=False)
    home = tmp_path / ("a-long-folder-name-" * 6)
    monkeypatch.setenv("KERAS_HOME", str(home))
    assert main(["weights", "demo"]) == 0
    captured = capsys.readouterr()
    assert captured.out.split() == ["--model", "efficientnet-lite0", "--weights", "imagenet"]
    box = [row for row in captured.err.splitlines() if row]
    assert len({display_width(row) for row in box}) == 1, box
    assert any(str(home / "models" / KERAS_NOTOP_FILE) in row for row in box)


def test_tensorflow_info_lines_are_dropped_and_other_lines_kept(capfd, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    with native_info_lines_hidden():
        os.write(2, (ABSL_NOTICE + ONEDNN_INFO + "E0000 a real error\n").encode())
    assert capfd.readouterr().err == "E0000 a real error\n"


def test_verbose_level_keeps_tensorflow_info_lines(capfd):
    with native_info_lines_hidden(hide=False):
        os.write(2, ONEDNN_INFO.encode())
    assert capfd.readouterr().err == ONEDNN_INFO


def write_from_a_child(text: bytes) -> None:
    """A process started now, as the JVM is, inheriting fd 2 and writing `text` to it in pieces."""
    script = ("import os, sys, time\n"
              "data = sys.stdin.buffer.read()\n"
              "for i in range(0, len(data), 7):\n"
              "    os.write(2, data[i:i + 7]); time.sleep(0.001)\n")
    subprocess.run([sys.executable, "-c", script], input=text, check=True)


def test_jvm_notice_is_dropped_once_and_everything_else_passed_on(capfd):
    rest = b"26/12/03 WARN a real warning\n[Stage 0:>  (0 + 2) / 8]\r"
    with jvm_startup_notice_hidden() as forwarder:
        write_from_a_child(JVM_STARTUP_NOTICE + b"\n" + rest + JVM_STARTUP_NOTICE + b"\n")
    forwarder.join(10)
    assert not forwarder.is_alive(), "the forwarder did not end when the last writer closed the pipe"
    # Only the first notice is the JVM's own start-up line; a later one is somebody's output.
    assert capfd.readouterr().err == (rest + JVM_STARTUP_NOTICE + b"\n").decode()


def test_this_process_writes_to_the_real_stderr_after_the_jvm_started(capfd):
    with jvm_startup_notice_hidden() as forwarder:
        pass
    os.write(2, b"after\n")
    forwarder.join(10)
    assert capfd.readouterr().err == "after\n"


def test_verbose_leaves_the_jvm_notice_alone(capfd):
    with jvm_startup_notice_hidden(hidden=False) as forwarder:
        write_from_a_child(JVM_STARTUP_NOTICE + b"\n")
    assert forwarder is None
    assert capfd.readouterr().err == JVM_STARTUP_NOTICE.decode() + "\n"
