"""The driver's fp32 model for int8, built in the background while the input is listed."""

from __future__ import annotations

import pytest

from fruits.models.quantize import Fp32Prebuild
from fruits.models.spec import ModelSpec, WeightsSpec

pytest.importorskip("tensorflow")


def test_the_prebuilt_model_is_exported_for_the_converter_and_the_export_is_removed_after():
    prebuild = Fp32Prebuild(ModelSpec(weights=WeightsSpec(kind="random"), model="efficientnet-lite0"))
    fp32 = prebuild.take()
    assert fp32.model.output_shape[-1] == 1280
    assert (fp32.saved_model / "saved_model.pb").is_file()
    prebuild.close()
    assert not fp32.saved_model.exists()


def test_a_failed_build_is_raised_to_the_stage_that_takes_the_model(tmp_path):
    missing = tmp_path / "weights.h5"
    prebuild = Fp32Prebuild(ModelSpec(weights=WeightsSpec(kind="file", uri=str(missing))))
    with pytest.raises(FileNotFoundError, match="weights.h5"):
        prebuild.take()
    prebuild.close()
