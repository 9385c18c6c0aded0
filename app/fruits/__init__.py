"""fruits-pipeline: Fruits-360 images -> ResNet50 features -> StandardScaler + PCA -> data lake.

The version is written once, in pyproject.toml; this reads it from the installed distribution's
metadata, so `fruits --version`, metrics.json and the package can never disagree.

pycurl (the S3 reads, `fruits.storage.s3_get`) is loaded first of all: TensorFlow puts its own, older
libcurl in the process's global symbol scope, and a pycurl loaded after it binds to that one and
refuses to load. Loaded first, each keeps its own. Every process of the job imports this package
before TensorFlow (the model code imports TensorFlow inside functions).
"""

from importlib.metadata import PackageNotFoundError, version
from typing import Optional

PYCURL_ERROR: Optional[ImportError] = None
try:
    import pycurl  # noqa: F401
except ImportError as exc:  # TensorFlow came first in this process: S3 reads say so when asked
    PYCURL_ERROR = exc

DISTRIBUTION = "fruits-pipeline"

try:
    __version__ = version(DISTRIBUTION)
except PackageNotFoundError:  # a source tree on sys.path without `pip install -e .`
    __version__ = "0+unknown"
