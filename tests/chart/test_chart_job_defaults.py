"""The chart's job defaults are the job's own: a `helm install` with only input and output set runs
the job as `fruits run --input ... --output ...` would."""

import pytest

from chartkit import CHART, need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

# Chart value -> JobConfig field; 0 or "" in the chart stands for None (not given) in the job.
FIELDS = {
    "weights": "weights", "model": "model", "precision": "precision", "pcaK": "pca_k",
    "pcaVariance": "pca_variance", "batchSize": "batch_size", "limit": "limit",
    "filesPerPartition": "files_per_partition", "keepRuns": "keep_runs", "incremental": "incremental",
    "pack": "pack",
}
# Chosen apart on purpose: a restarted driver must wait out the lock of the attempt that died, and
# then finish its run (`--resume auto`) rather than featurize everything again.
# `runOnce` picks the objects, not an argument; `deadlineSeconds` is `--deadline`, off (0) as in the CLI.
CHART_ONLY = {"input", "output", "lockWaitSeconds", "resume", "extraArgs", "runOnce", "deadlineSeconds"}


def test_every_job_value_is_a_job_setting():
    job = yaml.safe_load((CHART / "values.yaml").read_text())["job"]
    assert set(job) == set(FIELDS) | CHART_ONLY


def test_chart_job_defaults_are_the_job_config_defaults():
    from fruits.config.job_config import JobConfig

    job = yaml.safe_load((CHART / "values.yaml").read_text())["job"]
    defaults = JobConfig(input_uri="in", output_uri="out")
    chart = {field: (None if job[key] in (0, "") and not isinstance(job[key], bool) else job[key])
             for key, field in FIELDS.items()}
    assert chart == {field: getattr(defaults, field) for field in FIELDS.values()}


def test_default_arguments_parse_to_the_cli_defaults(template):
    from fruits.cli import build_parser

    # An S3 output needs a catalog the job reaches; which one changes no argument.
    proc = template(None, "--set", "job.input=s3a://raw/in", "--set", "job.output=s3a://lake/out", "--set", "catalog.kind=glue",
                    "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, proc.stderr
    args = yaml.safe_load(proc.stdout)["spec"]["arguments"]
    parser = build_parser()
    given = vars(parser.parse_args(args))
    bare = vars(parser.parse_args(["run", "--input", "s3a://raw/in", "--output", "s3a://lake/out"]))
    # The CLI turns "no --pca-k, no --pca-variance" into a 0.90 variance target; the chart says so.
    assert bare["pca_variance"] is None and given["pca_variance"] == 0.9
    differ = {k for k in given if given[k] != bare[k]} - {"pca_variance", "lock_wait", "resume"}
    assert not differ, {k: (given[k], bare[k]) for k in differ}


def test_incremental_becomes_a_flag(template):
    proc = template("values-kind.yaml", "--set", "job.incremental=true", "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "--incremental" in yaml.safe_load(proc.stdout)["spec"]["arguments"]


@pytest.mark.parametrize("value, expected", [
    (None, ["--resume", "auto"]),
    ("20261203T090000Z-3f2a1c", ["--resume", "20261203T090000Z-3f2a1c"]),
    ("", []),
])
def test_resume_becomes_an_argument_unless_empty(template, value, expected):
    from fruits.cli import build_parser

    extra = [] if value is None else ["--set", f"job.resume={value}"]
    proc = template("values-kind.yaml", *extra, "--show-only", "templates/spark/sparkapplication.yaml")
    assert proc.returncode == 0, proc.stderr
    args = yaml.safe_load(proc.stdout)["spec"]["arguments"]
    at = args.index("--resume") if "--resume" in args else len(args)
    assert args[at:at + 2] == expected
    assert build_parser().parse_args(args).resume == (expected[1] if expected else None)
