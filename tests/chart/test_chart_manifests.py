"""manifests/ is generated from the chart: regenerating it must change nothing."""

import difflib
import os

import pytest

from chartkit import MANIFESTS, ROOT, run

pytestmark = pytest.mark.chart


def test_manifests_match_the_chart(helm, chart_deps, tmp_path):
    run([str(ROOT / "hack" / "gen-manifests.sh"), str(tmp_path)], env={**os.environ, "HELM": helm})
    fresh = {p.name: p.read_text() for p in tmp_path.glob("*.yaml")}
    committed = {p.name: p.read_text() for p in MANIFESTS.glob("*.yaml")}
    assert sorted(fresh) == sorted(committed), "run `make manifests`: the set of files differs"
    for name in fresh:
        diff = "".join(
            difflib.unified_diff(committed[name].splitlines(True), fresh[name].splitlines(True),
                                 f"manifests/{name}", f"regenerated/{name}", n=2)
        )
        assert not diff, f"manifests/{name} is stale; run `make manifests`:\n{diff[:3000]}"
