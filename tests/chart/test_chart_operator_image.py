"""The operator's spark-submit is the application's Spark: on EKS as on kind, the operator image is
ours (images/operator.Dockerfile, built on the app image), never the stock one (Spark 4.0)."""

import pytest

from chartkit import need, versions

pytestmark = pytest.mark.chart
yaml = need("yaml", "pyyaml")


def operator_images(result) -> set[str]:
    return {c["image"] for d in result.of_kind("Deployment") if "spark-operator" in d["metadata"]["name"]
            for c in d["spec"]["template"]["spec"]["containers"]}


@pytest.mark.parametrize("values_file", ["values-kind.yaml", "values-eks.yaml"])
def test_operator_image_is_built_on_the_app_image(rendered, values_file):
    result = rendered[values_file]
    tag = versions()["SPARK_OPERATOR_VERSION"].lstrip("v")
    images = operator_images(result)
    assert len(images) == 1, images  # controller and webhook alike
    (image,) = images
    assert image.rsplit("/", 1)[-1] == f"fruits-spark-operator:{tag}", image
    assert "kubeflow" not in image


def test_eks_operator_image_comes_from_the_app_images_registry(rendered):
    result = rendered["values-eks.yaml"]
    (image,) = operator_images(result)
    app_registry = result.app_spec()["image"].rsplit("/", 1)[0]
    assert image.rsplit("/", 1)[0] == app_registry
