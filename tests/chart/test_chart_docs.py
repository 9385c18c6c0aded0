"""Every value is documented where it is declared, and the README's table is that documentation."""

import sys

import pytest

from chartkit import CHART, ROOT, need, versions

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")

sys.path.insert(0, str(ROOT / "hack"))
import values_table  # noqa: E402  (hack/ is not a package; it needs pyyaml, checked above)


def leaf_paths(values, prefix=()):
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaf_paths(value, prefix + (key,))
    else:
        yield ".".join(prefix)


def test_every_value_is_documented_or_under_a_documented_key():
    text = (CHART / "values.yaml").read_text()
    documented = {d.path for d in values_table.documented_keys(text)}
    missing = [
        leaf for leaf in leaf_paths(yaml.safe_load(text))
        if not any(leaf == d or leaf.startswith(d + ".") for d in documented)
    ]
    assert not missing, f"values without a `# --` comment: {missing}"


def test_readme_values_table_is_current():
    readme = (CHART / "README.md").read_text()
    expected = values_table.with_table(readme, values_table.table(CHART))
    assert readme == expected, "charts/fruits-pipeline/README.md values table is stale: run `make chart-docs`"


def test_minio_image_tag_is_the_pinned_minio_commit():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert versions()["MINIO_VERSION"].rsplit("-", 1)[-1] == values["minio"]["image"]["tag"]
