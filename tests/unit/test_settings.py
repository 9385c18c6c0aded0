"""FRUITS_* variables: read in one place, checked, and documented with the same names and defaults."""

import re

import pytest

from fruits.cli import main
from fruits.config.settings import Settings, Variable
from fruits.config.settings import __file__ as settings_file
from fruits.errors import ConfigError

REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "configuration.md"
TABLE_HEADING = "## Variables the job reads"


def documented_variables() -> dict[str, str]:
    """`| `NAME` | default | meaning |` rows of the doc's first table: name -> default cell."""
    section = DOC.read_text(encoding="utf-8").split(TABLE_HEADING, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {re.match(r"\| `([A-Z0-9_]+)`", row).group(1): row.split("|")[2].strip() for row in rows}


def expected_cell(variable: Variable) -> str:
    return "unset" if variable.default is None else f"`{variable.default_text}`"


def test_docs_table_lists_every_variable_with_its_default():
    expected = {v.name: expected_cell(v) for v in Settings.variables()}
    documented = documented_variables()
    rows = "\n".join(f"| `{v.name}` | {expected_cell(v)} | {v.doc} |" for v in Settings.variables())
    assert documented == expected, f"{DOC} is out of date with fruits.config.settings; its table should hold:\n{rows}"


def test_no_module_reads_a_fruits_variable_itself():
    reads = re.compile(r"""(environ(\.get)?|getenv)\s*[\(\[]\s*["']FRUITS_""")
    package = REPO / "app" / "fruits"
    offenders = [f"{path.relative_to(REPO)}:{number}: {line.strip()}"
                 for path in sorted(package.rglob("*.py")) if str(path) != settings_file
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if reads.search(line)]
    assert not offenders, "read FRUITS_* through fruits.config.settings.Settings:\n" + "\n".join(offenders)


def test_unset_and_empty_variables_take_the_defaults():
    assert Settings.from_env({}) == Settings()
    assert Settings.from_env({v.name: "" for v in Settings.variables()}) == Settings()


def test_values_are_parsed_to_their_types():
    settings = Settings.from_env({
        "FRUITS_SPARK_UI": "yes", "FRUITS_S3_PATH_STYLE": "False", "FRUITS_LOCK_LEASE_SECONDS": "30",
        "FRUITS_MAX_PIXELS": "1000", "FRUITS_SPARK_LOG_LEVEL": "info", "FRUITS_DRIVER_MEMORY": "8g",
    })
    assert settings.spark_ui is True and settings.s3_path_style is False
    assert settings.lock_lease_seconds == 30.0 and settings.max_pixels == 1000
    assert settings.spark_log_level == "INFO" and settings.driver_memory == "8g"


@pytest.mark.parametrize(("name", "value", "message"), [
    ("FRUITS_MAX_PIXELS", "abc", "FRUITS_MAX_PIXELS must be a positive integer, got 'abc'"),
    ("FRUITS_MAX_FILE_BYTES", "0", "FRUITS_MAX_FILE_BYTES must be a positive integer, got '0'"),
    ("FRUITS_PROGRESS_SECONDS", "-1", "FRUITS_PROGRESS_SECONDS must be a positive number of seconds, got '-1'"),
    ("FRUITS_LOCK_LEASE_SECONDS", "nan", "FRUITS_LOCK_LEASE_SECONDS must be a positive number of seconds, got 'nan'"),
    ("FRUITS_SPARK_UI", "maybe", "FRUITS_SPARK_UI must be true or false, got 'maybe'"),
    ("FRUITS_SPARK_LOG_LEVEL", "LOUD", "FRUITS_SPARK_LOG_LEVEL must be one of"),
    ("FRUITS_DRIVER_MEMORY", "lots", "FRUITS_DRIVER_MEMORY must be a JVM memory size"),
])
def test_a_bad_value_names_the_variable(name, value, message):
    with pytest.raises(ConfigError) as error:
        Settings.from_env({name: value})
    assert str(error.value).startswith(message)


def test_a_bad_value_stops_fruits_run_with_a_usage_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FRUITS_S3_PATH_STYLE", "perhaps")
    code = main(["run", "--input", str(tmp_path), "--output", str(tmp_path / "out")])
    assert code == 2
    assert capsys.readouterr().err.strip() == "fruits: error: FRUITS_S3_PATH_STYLE must be true or false, got 'perhaps'"
