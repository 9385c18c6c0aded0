"""Bad arguments: exit code 2, one clear line, and Spark never starts."""

import pytest

from fruits.cli import main
from fruits.sample import generate_sample


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    root = tmp_path_factory.mktemp("in")
    generate_sample(root, classes=2, per_class=2, seed=0)
    return root


@pytest.fixture()
def run(capsys):
    def invoke(*args):
        code = main(["run", *args])
        err = capsys.readouterr().err.strip()
        return code, err

    return invoke


def assert_usage_error(code, err, fragment):
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith("fruits: error: ")
    assert fragment in err


def test_missing_input(run, tmp_path):
    assert_usage_error(*run("--input", str(tmp_path / "nope"), "--output", str(tmp_path / "o")), "does not exist")


def test_empty_input(run, tmp_path):
    (tmp_path / "empty" / "Kiwi").mkdir(parents=True)
    assert_usage_error(*run("--input", str(tmp_path / "empty"), "--output", str(tmp_path / "o")), "contains no files")


def test_output_inside_input(run, images):
    assert_usage_error(*run("--input", str(images), "--output", str(images / "out")), "inside the input")


def test_output_inside_input_through_a_file_uri(run, images):
    assert_usage_error(*run("--input", f"file://{images}", "--output", str(images / "Training")), "inside the input")


def test_unknown_weights_name(run, images, tmp_path):
    assert_usage_error(*run("--input", str(images), "--output", str(tmp_path / "o"), "--weights", "imagenett"),
                       "unknown weights 'imagenett'")


def test_unreadable_weights_file(run, images, tmp_path):
    assert_usage_error(*run("--input", str(images), "--output", str(tmp_path / "o"), "--weights", str(tmp_path / "w.h5")),
                       "does not exist or is not readable")


@pytest.mark.parametrize("k", ["0", "-3", "2049"])
def test_pca_k_out_of_range(run, images, tmp_path, k):
    assert_usage_error(*run("--input", str(images), "--output", str(tmp_path / "o"), "--pca-k", k), "--pca-k must be between 1 and 2048")


@pytest.mark.parametrize("v", ["0", "-0.1", "1.01"])
def test_variance_target_outside_zero_one(run, images, tmp_path, v):
    assert_usage_error(*run("--input", str(images), "--output", str(tmp_path / "o"), "--pca-variance", v), "(0, 1]")


def test_imagenet_weights_absent_names_the_options(run, images, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv("FRUITS_RESNET50_WEIGHTS", raising=False)
    code, err = run("--input", str(images), "--output", str(tmp_path / "o"), "--weights", "imagenet")
    assert_usage_error(code, err, "ImageNet weights not found")
    for option in ("fruits weights download", "FRUITS_RESNET50_WEIGHTS", "--weights random"):
        assert option in err


def test_both_pca_options_rejected_by_the_parser(images, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--input", str(images), "--output", str(tmp_path / "o"), "--pca-k", "3", "--pca-variance", "0.5"])
    assert exit_info.value.code == 2


def test_bad_arguments_never_start_spark(images, tmp_path):
    """In a fresh interpreter, so a Spark started by another tier's tests cannot hide a new one."""
    import subprocess
    import sys

    probe = (
        "import sys; from fruits.cli import main; "
        f"code = main(['run', '--input', {str(images)!r}, '--output', {str(tmp_path / 'o')!r}, '--pca-k', '0']); "
        "from pyspark import SparkContext; "
        "print(code, SparkContext._gateway is None, SparkContext._active_spark_context is None)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert result.stdout.split() == ["2", "True", "True"], result.stdout + result.stderr


def test_sample_refuses_a_non_empty_folder(images, capsys):
    assert main(["sample", "--output", str(images)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_pca_k_is_bounded_by_the_chosen_model(run, images, tmp_path):
    assert_usage_error(*run("--input", str(images), "--output", str(tmp_path / "o"), "--model", "efficientnet-lite0",
                            "--pca-k", "1500"), "between 1 and 1280")


def test_a_state_dict_is_refused_for_resnet50(run, images, tmp_path):
    weights = tmp_path / "lite.pth"
    weights.write_bytes(b"x")
    assert_usage_error(*run("--input", str(images), "--output", str(tmp_path / "o"), "--weights", str(weights)),
                       "is for --model efficientnet-lite0")


def test_sample_textures_set_defaults_to_all_eight_classes(tmp_path, capsys):
    assert main(["sample", "--set", "textures", "--output", str(tmp_path / "t"), "--per-class", "2"]) == 0
    assert "16 images (8 Training, 8 Test, 8 textures classes)" in capsys.readouterr().out
    assert len(list((tmp_path / "t" / "Training").iterdir())) == 8


def test_sample_too_many_classes_is_a_usage_error(tmp_path, capsys):
    assert main(["sample", "--set", "textures", "--classes", "9", "--output", str(tmp_path / "t")]) == 2
    assert "between 1 and 8 for the textures set" in capsys.readouterr().err


def test_unknown_precision_is_refused_by_the_config(images, tmp_path):
    from fruits.config.job_config import JobConfig
    from fruits.errors import ConfigError

    with pytest.raises(ConfigError, match="--precision must be fp32 or int8, got 'bf16'"):
        JobConfig(input_uri=str(images), output_uri=str(tmp_path / "o"), precision="bf16").validate()
