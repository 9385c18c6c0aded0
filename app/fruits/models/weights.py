"""Where the ResNet50 weights come from, decided once on the driver and recorded in the metrics.

`imagenet` means the Keras ImageNet file (no top) already on disk: named by FRUITS_RESNET50_WEIGHTS
or found in the Keras cache (KERAS_HOME or ~/.keras). The job never downloads it at run time and
never falls back to `random` on its own: `fruits weights download` (or the image build) fetches
it where the internet is reachable.

A weights file given by the user is untrusted input: a local `.pth` is read once here through the
restricted reader of `fruits.models.state_dict`, and a `.keras` file is opened in Keras safe mode
(no Lambda layer, no arbitrary code), so a crafted file is refused before Spark starts.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

from fruits.config.job_config import MODEL_DIMS
from fruits.config.settings import Settings
from fruits.config.uris import is_remote, local_path
from fruits.errors import ConfigError
from fruits.models.build import load_keras_file
from fruits.models.spec import WeightsSpec
from fruits.quiet import native_info_lines_hidden

KERAS_NOTOP_FILE = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
KERAS_NOTOP_URL = "https://storage.googleapis.com/tensorflow/keras-applications/resnet/" + KERAS_NOTOP_FILE
KERAS_NOTOP_MD5 = "4d473c1dd8becc155b73f8504c6f6626"


def keras_cache_file(settings: Settings) -> Path:
    """Where Keras keeps the ResNet50 no-top weights: $KERAS_HOME/models, else ~/.keras/models."""
    return settings.keras_cache / "models" / KERAS_NOTOP_FILE


def resolve_weights(weights: str, model: str = "resnet50", settings: Optional[Settings] = None) -> WeightsSpec:
    """Turn the --weights value into a WeightsSpec, or raise ConfigError naming the options."""
    settings = settings or Settings()
    if weights == "random":
        return WeightsSpec(kind="random")
    if weights == "imagenet" and model == "efficientnet-lite0":
        from fruits.models.efficientnet_lite0 import WEIGHTS_SHA256, WeightsNotFound, locate_weights

        try:
            return WeightsSpec(kind="imagenet", uri=str(locate_weights()), sha256=WEIGHTS_SHA256)
        except WeightsNotFound as exc:
            raise ConfigError(str(exc)) from exc
    if weights == "imagenet":
        named = settings.resnet50_weights
        candidates = [Path(named)] if named else [keras_cache_file(settings)]
        for path in candidates:
            if path.is_file():
                return WeightsSpec(kind="imagenet", uri=str(path.resolve()), sha256=sha256_file(path))
        raise ConfigError(
            f"ImageNet weights not found at {candidates[0]}; options: run 'fruits weights download' where the "
            f"internet is reachable, set {Settings.env_name('resnet50_weights')} or --weights to a {KERAS_NOTOP_FILE} file, "
            "or choose --weights random explicitly"
        )
    if is_remote(weights):
        return WeightsSpec(kind="file", uri=weights)
    path = local_path(weights)
    check_weights_file(path)
    return WeightsSpec(kind="file", uri=str(path.resolve()), sha256=sha256_file(path))


def check_weights_file(path: Path) -> None:
    """Refuse a local weights file that is not plain weights (ConfigError), without running it."""
    if path.suffix == ".pth":
        from fruits.models.state_dict import StateDictError, read_state_dict

        try:
            read_state_dict(path)
        except (StateDictError, OSError) as exc:
            raise ConfigError(f"weights file {path} refused: {exc}") from exc
    elif path.suffix == ".keras":
        try:
            with native_info_lines_hidden():
                load_keras_file(str(path))
        except Exception as exc:  # noqa: BLE001 - Keras raises many kinds; each means "not usable"
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"weights file {path} refused (Keras safe mode): {first}") from exc


@dataclass(frozen=True)
class DemoChoice:
    """The model and weights `make run` uses, and why, when it is not ResNet50 with ImageNet weights."""

    model: str
    weights: str
    notice: tuple[str, ...] = ()

    @property
    def flags(self) -> list[str]:
        return ["--model", self.model, "--weights", self.weights]


def demo_choice(settings: Settings) -> DemoChoice:
    """ResNet50 with ImageNet weights when they are on disk (or named by FRUITS_RESNET50_WEIGHTS);
    else EfficientNet-Lite0, whose ImageNet weights ship with a pip package; random weights only if
    even those are missing. The demo is the one place that may fall back on its own, loudly."""
    from fruits.models.efficientnet_lite0 import WeightsNotFound, locate_weights

    variable = Settings.env_name("resnet50_weights")
    if settings.resnet50_weights or keras_cache_file(settings).is_file():
        return DemoChoice("resnet50", "imagenet")
    missing = ("ResNet50 ImageNet weights are not on this machine; looked for", f"  {keras_cache_file(settings)}")
    to_get_them = ("'fruits weights download' (needs the internet) or", f"{variable}=FILE.")
    try:
        locate_weights()
    except WeightsNotFound:
        return DemoChoice("resnet50", "random", (
            *missing, "This DEMO uses RANDOM weights: the features and the picture are not meaningful.",
            f"To use ImageNet: {to_get_them[0]}", to_get_them[1]))
    return DemoChoice("efficientnet-lite0", "imagenet", (
        *missing, "This demo uses the pretrained EfficientNet-Lite0 instead (ImageNet weights",
        f"from its pip package, {MODEL_DIMS['efficientnet-lite0']} features). For ResNet50:", *to_get_them))


def banner(lines: Sequence[str], min_width: int = 78) -> str:
    """`lines` in a box of asterisks, every row equally wide on a terminal: a long path widens the
    box rather than breaking its right edge, and wide (CJK) characters count as two columns.

    >>> print(banner(["short", "a longer line"], min_width=0))
    *******************
    *  short          *
    *  a longer line  *
    *******************
    """
    width = max([min_width, *map(display_width, lines)])
    edge = "*" * (width + 6)
    rows = (f"*  {line}{' ' * (width - display_width(line))}  *" for line in lines)
    return "\n".join([edge, *rows, edge])


def display_width(text: str) -> int:
    """Terminal columns `text` takes: wide East Asian characters 2, combining marks 0, others 1.

    >>> display_width("Pe\u0301che"), display_width("\u679c\u7269")
    (5, 4)
    """
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def download_imagenet_weights(settings: Settings) -> Path:
    """Fetch the Keras ResNet50 no-top ImageNet weights into the Keras cache (needs the internet)."""
    from keras.utils import get_file

    target = keras_cache_file(settings)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = get_file(
        KERAS_NOTOP_FILE, KERAS_NOTOP_URL, cache_dir=str(target.parent.parent), cache_subdir="models",
        file_hash=KERAS_NOTOP_MD5,
    )
    return Path(path)


def sha256_file(path: Path) -> str:
    """The file's sha256, read a MiB at a time (weights and converted models run to 100 MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
