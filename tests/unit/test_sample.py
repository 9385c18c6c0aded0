import hashlib

import numpy as np
import pytest
from PIL import Image

from fruits.sample import CLASSES, generate_sample


def digest(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.jpg"))}


def test_same_seed_gives_identical_files_and_another_seed_does_not(tmp_path):
    generate_sample(tmp_path / "a", classes=3, per_class=4, seed=1)
    generate_sample(tmp_path / "b", classes=3, per_class=4, seed=1)
    generate_sample(tmp_path / "c", classes=3, per_class=4, seed=2)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_layout_is_fruits360_with_training_and_test_splits(tmp_path):
    counts = generate_sample(tmp_path, classes=8, per_class=8, seed=0)
    assert counts == {"Training": 48, "Test": 16}
    for split in ("Training", "Test"):
        assert sorted(p.name for p in (tmp_path / split).iterdir()) == sorted(c.name for c in CLASSES[:8])
    image = Image.open(next((tmp_path / "Training" / "Pêche").glob("*.jpg")))
    assert (image.format, image.size, image.mode) == ("JPEG", (100, 100), "RGB")


def test_default_classes_differ_in_colour(tmp_path):
    generate_sample(tmp_path, classes=10, per_class=2, seed=0)
    means = []
    for fruit in CLASSES[:10]:
        pixels = np.asarray(Image.open(tmp_path / "Training" / fruit.name / "0_100.jpg"), dtype=float).reshape(-1, 3)
        fruit_pixels = pixels[pixels.sum(axis=1) < 700]  # not the white background
        means.append(fruit_pixels.mean(axis=0))
    distances = [np.linalg.norm(a - b) for i, a in enumerate(means) for b in means[i + 1:]]
    assert min(distances) > 15


@pytest.mark.parametrize("kwargs", [{"classes": 0}, {"classes": len(CLASSES) + 1}, {"per_class": 1}])
def test_impossible_sizes_are_refused(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate_sample(tmp_path, **kwargs)


def test_texture_classes_share_their_colours_so_only_the_surface_tells_them_apart(tmp_path):
    from fruits.sample import PALETTE, TEXTURE_CLASSES

    generate_sample(tmp_path, classes=len(TEXTURE_CLASSES), per_class=12, seed=0, kind="textures")
    nearest_palette_colours = {}
    for fruit in TEXTURE_CLASSES:
        seen = set()
        for picture in (tmp_path / "Training" / fruit.name).glob("*.jpg"):
            pixels = np.asarray(Image.open(picture), dtype=float).reshape(-1, 3)
            body = np.median(pixels[pixels.sum(axis=1) < 600], axis=0)
            seen.add(int(np.argmin([np.linalg.norm(body - np.array(c)) for c in PALETTE])))
        nearest_palette_colours[fruit.name] = seen
    # Every class shows at least three of the five shared colours: colour cannot name the class.
    assert all(len(seen) >= 3 for seen in nearest_palette_colours.values()), nearest_palette_colours


def test_unknown_set_and_too_many_texture_classes_are_refused(tmp_path):
    from fruits.sample import TEXTURE_CLASSES

    with pytest.raises(ValueError, match="--set must be one of shapes, textures"):
        generate_sample(tmp_path, kind="colours")
    with pytest.raises(ValueError, match="between 1 and 8 for the textures set"):
        generate_sample(tmp_path, classes=len(TEXTURE_CLASSES) + 1, kind="textures")
