import pytest

from fruits.inputs.entry_rules import non_image_reason, parse_image_path


@pytest.mark.parametrize(
    "path, label, split",
    [
        ("file:/data/fruits/Training/Apple Red 2/r_12_100.jpg", "Apple Red 2", "Training"),
        ("s3a://lake/fruits-360/Test/Pitahaya Red/3_100.jpg", "Pitahaya Red", "Test"),
        ("file:/data/Training/Pêche/0_100.jpg", "Pêche", "Training"),
        ("file:/data/Kiwi/1.JPG", "Kiwi", None),
        ("file:/data/Validation/Kiwi/1.jpg", "Kiwi", None),
        ("s3a://bucket/Lemon/x%20y.jpg", "Lemon", None),
    ],
)
def test_label_is_parent_folder_and_split_is_training_or_test_grandparent(path, label, split):
    parsed = parse_image_path(path)
    assert (parsed.label, parsed.split) == (label, split)


@pytest.mark.parametrize("name, is_image", [("a.jpg", True), ("a.JPEG", True), ("a.png", True), ("a.txt", False),
                                             ("README", False), ("a.jpg.part", False)])
def test_only_image_extensions_count_as_images(name, is_image):
    assert parse_image_path(f"file:/d/Kiwi/{name}").is_image is is_image


def test_non_image_reason_names_the_extension():
    assert "(.txt)" in non_image_reason(".txt")
    assert "no extension" in non_image_reason("")
