"""The CLI states no default of its own: `fruits run` with no options is JobConfig's defaults."""

import inspect

import pytest

from fruits.cli import build_parser
from fruits.cli.commands import job_config as job_config_of
from fruits.config.job_config import MODEL_DIMS, JobConfig, SampleConfig
from fruits.config.settings import Settings
from fruits.sample import generate_sample


def job_config(args) -> JobConfig:
    """The run's configuration as the CLI makes it, in an environment that sets nothing."""
    return job_config_of(args, Settings())


def test_run_without_options_is_jobconfig_defaults():
    args = build_parser().parse_args(["run", "--input", "in", "--output", "out"])
    assert job_config(args) == JobConfig(input_uri="in", output_uri="out")


def test_pca_k_alone_drops_the_default_variance_target():
    args = build_parser().parse_args(["run", "--input", "in", "--output", "out", "--pca-k", "5"])
    assert (job_config(args).pca_k, job_config(args).pca_variance) == (5, None)


@pytest.mark.parametrize("model", list(MODEL_DIMS))
def test_every_model_is_a_choice(model):
    args = build_parser().parse_args(["run", "--input", "in", "--output", "out", "--model", model])
    assert job_config(args).model == model


def test_pca_k_help_names_each_models_feature_count(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for model, dim in MODEL_DIMS.items():
        assert f"1-{dim} for {model}" in help_text


def test_verbose_reaches_the_job_config():
    args = build_parser().parse_args(["run", "--input", "in", "--output", "out", "--verbose"])
    assert job_config(args).verbose is True


def test_sample_defaults_are_the_generators():
    args = build_parser().parse_args(["sample", "--output", "x"])
    defaults = {name: p.default for name, p in inspect.signature(generate_sample).parameters.items()}
    assert (args.kind, args.per_class, args.seed) == (SampleConfig.kind, SampleConfig.per_class, SampleConfig.seed)
    assert (defaults["kind"], defaults["per_class"], defaults["seed"]) == (args.kind, args.per_class, args.seed)


def test_sample_still_takes_its_older_out_flag():
    assert build_parser().parse_args(["sample", "--out", "x"]).output == build_parser().parse_args(["sample", "--output", "x"]).output


@pytest.mark.parametrize("command", [["run", "--input", "in", "--output", "out"], ["pack", "--input", "in", "--output", "p"],
                                     ["report", "out"], ["evaluate", "out"]])
def test_conf_passes_spark_settings_through_in_order(command):
    args = build_parser().parse_args([*command, "--conf", "spark.executor.memory=4g", "--conf", "spark.x=a=b"])
    assert args.conf == [("spark.executor.memory", "4g"), ("spark.x", "a=b")]


def test_conf_reaches_the_job_config():
    args = build_parser().parse_args(["run", "--input", "in", "--output", "out", "--conf", "spark.sql.shuffle.partitions=8"])
    assert job_config(args).spark_conf == (("spark.sql.shuffle.partitions", "8"),)


def test_conf_without_a_value_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["run", "--input", "in", "--output", "out", "--conf", "spark.executor.memory"])
    assert exit_.value.code == 2 and "expected key=value" in capsys.readouterr().err
