"""fruits-pipeline: Fruits-360 images -> ResNet50 features -> StandardScaler + PCA -> data lake.

The version is written once, in pyproject.toml; this reads it from the installed distribution's
metadata, so `fruits --version`, metrics.json and the package can never disagree.
"""

from importlib.metadata import PackageNotFoundError, version

DISTRIBUTION = "fruits-pipeline"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree on sys.path without `pip install -e .`
    __version__ = "0+unknown"
