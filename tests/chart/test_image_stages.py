"""The final stage of images/Dockerfile takes only what runs from the builder: the build network's
CA files, the weights' source and the downloads' ARGs stay in the builder's layers."""

import re

import pytest

from chartkit import ROOT

pytestmark = pytest.mark.chart


def stages() -> list[str]:
    """The Dockerfile's text split at each FROM, each stage starting with its FROM line."""
    text = (ROOT / "images" / "Dockerfile").read_text()
    return ["FROM" + part for part in re.split(r"^FROM", text, flags=re.M)[1:]]


def test_the_image_is_built_in_stages_from_a_dated_base():
    text = (ROOT / "images" / "Dockerfile").read_text()
    assert [s.splitlines()[0] for s in stages()] == ["FROM ${BASE_IMAGE} AS runtime", "FROM runtime AS builder", "FROM runtime"]
    assert re.search(r"^ARG BASE_IMAGE=debian:[a-z]+-\d{8}-slim$", text, re.M), "the base image is a dated Debian tag"


def test_the_final_stage_copies_only_what_runs():
    final = stages()[-1]
    from_builder = re.findall(r"^COPY --from=builder (\S+) ", final, re.M)
    assert from_builder == ["/opt/venv/", "/opt/spark/", "/opt/keras/"]
    for build_only in ("images/ca", "images/weights", "requirements.lock", "PIP_CERT", "CURL_CA_BUNDLE", "SSL_CERT_FILE", "apt-get"):
        assert build_only not in final, build_only


def test_the_builder_keeps_the_downloads_trust_to_itself():
    runtime, builder, _ = stages()
    assert "COPY images/ca/" in builder and "ARG PIP_CERT=" in builder
    assert "images/ca" not in runtime and "PIP_CERT" not in runtime
