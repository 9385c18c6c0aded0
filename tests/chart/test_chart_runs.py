"""Which objects run the job (the one-off application, the schedule) and how long a run may take."""

import pytest

from chartkit import describe, need

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

APP = "templates/spark/sparkapplication.yaml"


def kinds(proc) -> list[str]:
    assert proc.returncode == 0, describe(proc)
    return [o["kind"] for o in yaml.safe_load_all(proc.stdout) if o and "SparkApplication" in o["kind"]]


def test_eks_renders_the_schedule_alone(rendered):
    """A `helm upgrade` changes no one-off SparkApplication, so it never starts a run beside the night's."""
    result = rendered["values-eks.yaml"]
    assert not result.of_kind("SparkApplication")
    assert result.one("ScheduledSparkApplication")


@pytest.mark.parametrize("extra, expected", [
    ([], ["SparkApplication"]),  # no schedule: the one-off run
    (["--set", "schedule.enabled=true"], ["ScheduledSparkApplication"]),  # auto: the schedule alone
    (["--set", "schedule.enabled=true,job.runOnce=true"], ["ScheduledSparkApplication", "SparkApplication"]),
    (["--set", "job.runOnce=false"], []),
])
def test_run_once_switch(template, extra, expected):
    assert sorted(kinds(template("values-kind.yaml", *extra))) == expected


def test_run_once_takes_auto_or_a_boolean(template):
    proc = template("values-kind.yaml", "--set", "job.runOnce=sometimes")
    assert proc.returncode != 0 and "/job/runOnce" in proc.stderr, describe(proc)


def test_eks_runs_have_a_deadline_the_cli_takes(rendered):
    from fruits.cli import build_parser

    arguments = rendered["values-eks.yaml"].app_spec()["arguments"]
    assert arguments[arguments.index("--deadline") + 1] == "21600"
    assert build_parser().parse_args(arguments).deadline == 21600


def test_no_deadline_unless_set(rendered):
    assert "--deadline" not in rendered["values-kind.yaml"].app_spec()["arguments"]
