"""Tests for genimg.data: dataset files, the built-in shapes set, image folders, conversions and batches."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.data import datasets as data_module
from genimg.data.datasets import (
    CIFAR10_CLASS_NAMES,
    DATASET_NAMES,
    FASHION_MNIST_CLASS_NAMES,
    BatchStream,
    DatasetError,
    ImageData,
    convert_images,
    load_dataset,
    read_idx,
    resolve_data_root,
    to_float,
)

MNIST_FILE_NAMES = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]


# ----------------------------------------------------------------------------------------------
# Helpers that write files in the real formats


def write_idx(path: Path, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write a uint8 array as an IDX file (type code 0x08), optionally gzip-compressed."""
    assert array.dtype == np.uint8
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    content = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        path = path.with_name(path.name + ".gz")
        with gzip.open(path, "wb") as stream:
            stream.write(content)
    else:
        path.write_bytes(content)
    return path


def write_fake_mnist(root: Path, folder: str, *, train_count: int = 20, test_count: int = 8, compress: bool = False) -> dict:
    generator = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": generator.integers(0, 256, (train_count, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": (np.arange(train_count) % 10).astype(np.uint8),
        "t10k-images-idx3-ubyte": generator.integers(0, 256, (test_count, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": ((np.arange(test_count) * 3) % 10).astype(np.uint8),
    }
    for name, array in arrays.items():
        write_idx(root / folder / "raw" / name, array, compress=compress)
    return arrays


def write_fake_cifar(root: Path, per_batch: int = 4) -> dict:
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    generator = np.random.default_rng(2)
    batches = {}
    for name in [f"data_batch_{index}" for index in range(1, 6)] + ["test_batch"]:
        batch = {
            b"batch_label": name.encode(),
            b"data": generator.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": [int(label) for label in generator.integers(0, 10, per_batch)],
        }
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))
        batches[name] = batch
    meta = {b"label_names": [name.encode() for name in CIFAR10_CLASS_NAMES], b"num_cases_per_batch": per_batch}
    (folder / "batches.meta").write_bytes(pickle.dumps(meta))
    return batches


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height pixels but holds no pixel data."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


# ----------------------------------------------------------------------------------------------
# Data root


def test_resolve_data_root_prefers_argument_then_environment_then_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("GENIMG_DATA", raising=False)
    assert resolve_data_root() == tmp_path / "data"
    monkeypatch.setenv("GENIMG_DATA", "")
    assert resolve_data_root() == tmp_path / "data"
    monkeypatch.setenv("GENIMG_DATA", str(tmp_path / "from-env"))
    assert resolve_data_root() == tmp_path / "from-env"
    assert resolve_data_root("relative") == tmp_path / "relative"
    assert resolve_data_root(tmp_path / "given").is_absolute()


def test_load_dataset_uses_genimg_data_when_no_root(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, "MNIST")
    monkeypatch.setenv("GENIMG_DATA", str(tmp_path))
    assert len(load_dataset("mnist", download=False)) == 20


# ----------------------------------------------------------------------------------------------
# IDX files: MNIST and Fashion-MNIST


def test_mnist_from_idx_files(tmp_path):
    arrays = write_fake_mnist(tmp_path, "MNIST")
    train = load_dataset("mnist", root=tmp_path, download=False)
    assert train.images.shape == (20, 1, 28, 28) and train.images.dtype == torch.uint8
    assert train.images.is_contiguous() and train.images.device.type == "cpu"
    assert torch.equal(train.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert train.labels.dtype == torch.int64 and train.labels.tolist() == list(np.arange(20) % 10)
    assert train.class_names == [str(digit) for digit in range(10)] and train.num_classes == 10
    assert train.name == "mnist" and train.channels == 1 and train.image_size == 28 and train.factors is None
    test = load_dataset("MNIST", root=tmp_path, split="test", download=False)
    assert test.images.shape == (8, 1, 28, 28)
    assert torch.equal(test.labels, torch.from_numpy(arrays["t10k-labels-idx1-ubyte"].astype(np.int64)))
    assert len(load_dataset("mnist", root=tmp_path, download=False, limit=5)) == 5


def test_fashion_mnist_from_gzipped_idx_files(tmp_path):
    arrays = write_fake_mnist(tmp_path, "FashionMNIST", compress=True)
    assert not (tmp_path / "FashionMNIST" / "raw" / "train-images-idx3-ubyte").exists()
    data = load_dataset("fashion-mnist", root=tmp_path, download=False)
    assert data.images.shape == (20, 1, 28, 28)
    assert torch.equal(data.images[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert data.class_names == FASHION_MNIST_CLASS_NAMES and data.name == "fashion-mnist"


def test_read_idx_rejects_truncated_and_bad_magic(tmp_path):
    good = write_idx(tmp_path / "good", np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    assert read_idx(good).shape == (2, 3, 4)
    truncated = tmp_path / "truncated"
    truncated.write_bytes(good.read_bytes()[:-5])
    with pytest.raises(DatasetError, match="truncated"):
        read_idx(truncated)
    bad_magic = tmp_path / "bad-magic"
    bad_magic.write_bytes(b"\x12\x34" + good.read_bytes()[2:])
    with pytest.raises(DatasetError, match="bad-magic.*magic number"):
        read_idx(bad_magic)
    corrupt_gzip = tmp_path / "corrupt.gz"
    packed = bytearray(gzip.compress(good.read_bytes()))
    packed[12:18] = b"\xff" * 6
    corrupt_gzip.write_bytes(bytes(packed))
    with pytest.raises(DatasetError, match="corrupt.gz"):
        read_idx(corrupt_gzip)
    cut_gzip = tmp_path / "cut.gz"
    cut_gzip.write_bytes(gzip.compress(good.read_bytes())[:-10])
    with pytest.raises(DatasetError, match="cut.gz"):
        read_idx(cut_gzip)
    not_gzip = tmp_path / "broken.gz"
    not_gzip.write_bytes(b"not gzip at all")
    with pytest.raises(DatasetError, match="broken.gz"):
        read_idx(not_gzip)


def test_read_idx_converts_big_endian_types(tmp_path):
    values = np.array([[1, -2], [300, 40000]], dtype=">i4")
    path = tmp_path / "ints"
    path.write_bytes(bytes([0, 0, 0x0C, 2]) + struct.pack(">2I", 2, 2) + values.tobytes())
    result = read_idx(path)
    assert result.dtype == np.dtype("int32") and result.tolist() == values.tolist()


def test_missing_mnist_without_download_names_folder_and_files(tmp_path):
    with pytest.raises(DatasetError) as caught:
        load_dataset("mnist", root=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    for file_name in MNIST_FILE_NAMES:
        assert file_name in message
    assert ".gz" in message and "internet" in message


def test_failed_download_is_a_dataset_error(tmp_path, monkeypatch):
    def unreachable(url: str) -> None:
        raise OSError(f"cannot reach {url}")

    monkeypatch.setattr(data_module, "_probe_connection", unreachable)
    with pytest.raises(DatasetError, match="Downloading failed.*cannot reach") as caught:
        load_dataset("fashion-mnist", root=tmp_path, download=True)
    assert str(tmp_path / "FashionMNIST" / "raw") in str(caught.value)


def test_unknown_dataset_name_lists_accepted_names():
    with pytest.raises(DatasetError) as caught:
        load_dataset("imagenet")
    for name in DATASET_NAMES:
        assert name in str(caught.value)
    assert "folder:" in str(caught.value)


@pytest.mark.parametrize(
    "arguments",
    [{"split": "validation"}, {"image_size": 0}, {"image_size": True}, {"channels": 2}, {"limit": 0}],
)
def test_invalid_arguments_are_dataset_errors(arguments):
    with pytest.raises(DatasetError, match=str(list(arguments.values())[0])):
        load_dataset("shapes", **arguments)


# ----------------------------------------------------------------------------------------------
# CIFAR-10


def test_cifar10_from_batch_files(tmp_path):
    batches = write_fake_cifar(tmp_path)
    train = load_dataset("cifar10", root=tmp_path, download=False)
    assert train.images.shape == (20, 3, 32, 32) and train.images.dtype == torch.uint8
    first = batches["data_batch_1"][b"data"][0]
    assert torch.equal(train.images[0, 0].flatten(), torch.from_numpy(first[:1024]))  # rows are red, green, blue planes
    assert torch.equal(train.images[0, 2].flatten(), torch.from_numpy(first[2048:]))
    expected_labels = [label for index in range(1, 6) for label in batches[f"data_batch_{index}"][b"labels"]]
    assert train.labels.tolist() == expected_labels and train.labels.dtype == torch.int64
    assert train.class_names == CIFAR10_CLASS_NAMES
    test = load_dataset("cifar10", root=tmp_path, split="test", download=False, limit=3)
    assert test.images.shape == (3, 3, 32, 32)


def test_cifar10_refuses_pickles_that_run_code(tmp_path):
    write_fake_cifar(tmp_path)
    witness = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {witness}",))

    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(pickle.dumps({b"data": Payload(), b"labels": []}))
    with pytest.raises(DatasetError, match="refusing to load"):
        load_dataset("cifar10", root=tmp_path, split="test", download=False)
    assert not witness.exists()


def test_missing_cifar10_without_download_names_folder_and_files(tmp_path):
    with pytest.raises(DatasetError) as caught:
        load_dataset("cifar10", root=tmp_path, download=False)
    message = str(caught.value)
    assert str(tmp_path / "cifar-10-batches-py") in message
    for file_name in ["data_batch_1", "data_batch_5", "test_batch"]:
        assert file_name in message


# ----------------------------------------------------------------------------------------------
# The built-in shapes set


def test_shapes_is_deterministic_and_differs_across_splits_and_seeds():
    first = load_dataset("shapes", limit=300)
    again = load_dataset("shapes", limit=300)
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    test = load_dataset("shapes", split="test", limit=300)
    other_seed = load_dataset("shapes", seed=1, limit=300)
    assert not torch.equal(first.images, test.images)
    assert not torch.equal(first.images, other_seed.images)
    # A limit renders the first images of the same stream.
    assert torch.equal(load_dataset("shapes", limit=100).images, first.images[:100])


def test_shapes_default_sizes_images_and_factors():
    data = load_dataset("shapes")
    assert len(data) == 24_000 and len(load_dataset("shapes", split="test")) == 4_000
    assert data.images.shape == (24_000, 3, 32, 32) and data.images.dtype == torch.uint8
    assert data.class_names == ["circle", "square", "triangle"] and data.name == "shapes"
    assert set(data.factors) == {"kind", "size", "x", "y", "hue"}
    assert torch.equal(data.factors["kind"], data.labels) and data.labels.dtype == torch.int64
    counts = torch.bincount(data.labels, minlength=3)
    assert counts.min() >= 0.3 * len(data)
    size, x, y, hue = (data.factors[key] for key in ("size", "x", "y", "hue"))
    assert all(value.dtype == torch.float32 and value.shape == (24_000,) for value in (size, x, y, hue))
    assert 0.15 <= size.min() and size.max() <= 0.35
    assert (x - size >= 0).all() and (x + size <= 1).all() and (y - size >= 0).all() and (y + size <= 1).all()
    assert 0 <= hue.min() and hue.max() < 1
    # Black background in the corners, a bright shape at the centre of its bounding box.
    assert data.images[:, :, 0, 0].max() == 0
    assert data.images.max() == 255
    for index in range(50):
        column, row = int(x[index] * 32), int(y[index] * 32)
        assert data.images[index, :, row, column].max() >= 200, index


def test_shapes_area_and_colour_follow_the_factors():
    data = load_dataset("shapes", limit=200)
    coverage = data.images.float().amax(dim=1).sum(dim=(1, 2)) / 255  # shape area in pixels
    size_pixels = data.factors["size"] * 32
    expected = torch.where(
        data.labels == 0, torch.pi * size_pixels**2,
        torch.where(data.labels == 1, 4 * size_pixels**2, 3**0.5 * size_pixels**2),
    )
    assert torch.allclose(coverage, expected, rtol=0.08, atol=2)
    # Pure red hues (near 0) make red shapes.
    reddish = (data.factors["hue"] < 0.02) | (data.factors["hue"] > 0.98)
    if reddish.any():
        index = int(torch.nonzero(reddish)[0])
        assert data.images[index, 0].max() == 255


def test_shapes_rendered_at_other_sizes_and_channels():
    small = load_dataset("shapes", image_size=28, limit=10)
    assert small.images.shape == (10, 3, 28, 28)
    gray = load_dataset("shapes", channels=1, limit=10, image_size=16)
    assert gray.images.shape == (10, 1, 16, 16) and gray.labels.shape == (10,)


# ----------------------------------------------------------------------------------------------
# Image folders


def test_folder_of_mixed_pictures(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, :10] = (255, 0, 0)
    wide[:, 30:] = (255, 0, 0)
    wide[:, 10:30] = (0, 0, 255)
    Image.fromarray(wide).save(folder / "a_wide.png")
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[...] = (255, 255, 255, 0)  # fully transparent white
    rgba[:, 8:] = (255, 0, 0, 128)  # half transparent red
    Image.fromarray(rgba, mode="RGBA").save(folder / "b_rgba.png")
    deep = np.full((16, 16), 128 * 257, dtype=np.uint16)
    deep[:, 8:] = 65535
    Image.fromarray(deep).save(folder / "c_gray16.png")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(folder / "d_cmyk.JPG")  # red in CMYK, upper-case suffix
    Image.new("P", (16, 16), 0).save(folder / "e_palette.gif")
    (folder / "f_text.png").write_text("this is not a picture")
    (folder / "g_empty.jpg").write_bytes(b"")
    (folder / "h_bomb.png").write_bytes(png_header_only(10_000, 10_000))
    (folder / "i_huge_bomb.png").write_bytes(png_header_only(30_000, 30_000))
    (folder / ".hidden.png").write_bytes(b"")
    (folder / "notes.txt").write_text("ignored: not a picture extension")

    data = load_dataset(f"folder:{folder}", image_size=16)
    assert data.name == f"folder:{folder}"
    assert data.images.shape == (5, 3, 16, 16) and data.images.dtype == torch.uint8
    assert data.labels is None and data.class_names == [] and data.num_classes == 0
    wide_result = data.images[0].permute(1, 2, 0).int()
    assert (wide_result[:, 2:-2, 0] < 16).all() and (wide_result[:, 2:-2, 2] > 240).all()  # the centre crop is blue
    rgba_result = data.images[1].permute(1, 2, 0).int()
    assert rgba_result[:, :6].max() == 0  # transparent becomes black
    assert (rgba_result[:, 10:, 0] - 128).abs().max() <= 2 and rgba_result[:, 10:, 1:].max() == 0
    gray_result = data.images[2]
    assert (gray_result[:, :, :6] == 128).all() and (gray_result[:, :, 10:] == 255).all()
    assert (data.images[3, 0] > 200).all() and (data.images[3, 1:] < 60).all()  # CMYK red -> RGB red
    notes = " ".join(data.notes)
    assert "Skipped 2 unreadable" in notes and "f_text.png" in notes and "g_empty.jpg" in notes
    assert "Skipped 2 pictures larger than 40 megapixels" in notes and "h_bomb.png" in notes

    gray = load_dataset(f"folder:{folder}", image_size=8, channels=1, limit=2, split="test")
    assert gray.images.shape == (2, 1, 8, 8)


def test_folder_default_size_and_class_subfolders(tmp_path):
    for class_name, colour in (("cats", (200, 10, 10)), ("dogs", (10, 200, 10))):
        (tmp_path / class_name / "inner").mkdir(parents=True)
        Image.new("RGB", (70, 90), colour).save(tmp_path / class_name / "one.png")
        Image.new("RGB", (90, 70), colour).save(tmp_path / class_name / "inner" / "two.jpeg")
    (tmp_path / ".git").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / ".git" / "ignored.png")
    (tmp_path / "empty-class").mkdir()
    Image.new("RGB", (80, 80)).save(tmp_path / "loose.png")

    data = load_dataset(f"folder:{tmp_path}")
    assert data.images.shape == (4, 3, 64, 64)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 1, 1]
    assert data.images[2:, 1].float().mean() > 150  # the dogs are green
    assert any("loose.png" in note for note in data.notes)


def test_folder_without_pictures_is_a_dataset_error(tmp_path):
    (tmp_path / "readme.txt").write_text("no pictures here")
    with pytest.raises(DatasetError) as caught:
        load_dataset(f"folder:{tmp_path}")
    assert str(tmp_path) in str(caught.value) and ".png" in str(caught.value) and ".webp" in str(caught.value)
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(f"folder:{tmp_path / 'missing'}")
    (tmp_path / "broken.png").write_text("not a picture")
    with pytest.raises(DatasetError, match="could be read"):
        load_dataset(f"folder:{tmp_path}")


# ----------------------------------------------------------------------------------------------
# Conversions


def test_convert_images_resizes_and_changes_channels():
    gray = torch.full((5, 1, 28, 28), 100, dtype=torch.uint8)
    rgb = convert_images(gray, image_size=32, channels=3)
    assert rgb.shape == (5, 3, 32, 32) and rgb.dtype == torch.uint8 and rgb.is_contiguous()
    assert (rgb == 100).all()  # resizing a flat image keeps its value
    colour = torch.zeros((2, 3, 8, 8), dtype=torch.uint8)
    colour[:, 0] = 255
    luminance = convert_images(colour, channels=1)
    assert luminance.shape == (2, 1, 8, 8) and (luminance == round(0.299 * 255)).all()
    assert convert_images(colour) is colour
    stripes = torch.zeros((1, 1, 16, 16), dtype=torch.uint8)
    stripes[..., ::4] = 200  # one bright column in four: antialiased downsizing averages it to 50
    quarter = convert_images(stripes, image_size=4)
    assert quarter.shape == (1, 1, 4, 4) and (quarter[..., 1:3] == 50).all()
    with pytest.raises(DatasetError, match="channels=2"):
        convert_images(gray, channels=2)


def test_load_dataset_converts_mnist_once(tmp_path):
    write_fake_mnist(tmp_path, "MNIST")
    data = load_dataset("mnist", root=tmp_path, download=False, image_size=32, channels=3)
    assert data.images.shape == (20, 3, 32, 32) and data.image_size == 32 and data.channels == 3
    assert torch.equal(data.images[:, 0], data.images[:, 2])


def test_to_float_ranges():
    images = torch.tensor([0, 255, 128], dtype=torch.uint8)
    assert to_float(images, "signed").tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)
    assert to_float(images, "unit").tolist() == pytest.approx([0.0, 1.0, 128 / 255], abs=1e-6)
    assert to_float(images, "unit").dtype == torch.float32
    with pytest.raises(ValueError, match="'signed'"):
        to_float(images, "tanh")


# ----------------------------------------------------------------------------------------------
# Batches


def numbered_data(count: int = 12, labelled: bool = True) -> ImageData:
    """Images whose every pixel holds the image's index, so a batch shows which images it holds."""
    images = torch.arange(count, dtype=torch.uint8).view(count, 1, 1, 1).expand(count, 1, 2, 2).contiguous()
    labels = torch.arange(count, dtype=torch.int64) % 3 if labelled else None
    return ImageData(images=images, labels=labels, class_names=["a", "b", "c"] if labelled else [], name="numbered")


def batch_indices(batch: tuple) -> list[int]:
    return batch[0][:, 0, 0, 0].tolist()


def test_batch_stream_covers_every_image_once_per_epoch():
    stream = BatchStream(numbered_data(12), batch_size=4, seed=3)
    assert stream.steps_per_epoch == 3
    for epoch in range(3):
        assert stream.epoch == epoch
        seen = []
        for _ in range(3):
            images, labels = stream.next()
            assert images.shape == (4, 1, 2, 2) and images.dtype == torch.uint8 and images.device.type == "cpu"
            assert labels.dtype == torch.int64 and labels.tolist() == [index % 3 for index in batch_indices((images,))]
            seen += batch_indices((images,))
        assert sorted(seen) == list(range(12))
    stream.next()
    assert stream.epoch == 3 and stream.position == 4


def test_batch_stream_drops_the_last_partial_batch_and_handles_no_labels():
    stream = BatchStream(numbered_data(10, labelled=False), batch_size=4)
    assert stream.steps_per_epoch == 2
    first_epoch = [batch_indices(stream.next()) for _ in range(2)]
    assert len(set(sum(first_epoch, []))) == 8
    images, labels = stream.next()
    assert labels is None and stream.epoch == 1


def test_batch_stream_is_deterministic_for_a_seed():
    def order(seed: int) -> list[list[int]]:
        stream = BatchStream(numbered_data(12), batch_size=3, seed=seed)
        return [batch_indices(next(stream)) for _ in range(10)]

    assert order(5) == order(5)
    assert order(5) != order(6)


def test_batch_stream_state_dict_resumes_the_same_order():
    original = BatchStream(numbered_data(12), batch_size=5, seed=7)
    for _ in range(5):
        original.next()
    buffer = io.BytesIO()
    torch.save(original.state_dict(), buffer)
    buffer.seek(0)
    state = torch.load(buffer, weights_only=True)
    resumed = BatchStream(numbered_data(12), batch_size=5, seed=999)
    resumed.load_state_dict(state)
    assert (resumed.epoch, resumed.position) == (original.epoch, original.position)
    assert [batch_indices(resumed.next()) for _ in range(8)] == [batch_indices(original.next()) for _ in range(8)]
    with pytest.raises(DatasetError, match="12"):
        BatchStream(numbered_data(11), batch_size=5).load_state_dict(original.state_dict())


def test_batch_larger_than_data_is_a_dataset_error():
    with pytest.raises(DatasetError) as caught:
        BatchStream(numbered_data(12), batch_size=64)
    assert "64" in str(caught.value) and "12" in str(caught.value)
    with pytest.raises(DatasetError, match="batch_size=0"):
        BatchStream(numbered_data(12), batch_size=0)


# ----------------------------------------------------------------------------------------------
# Real MNIST (only where ../shared/data holds it)


def test_real_mnist(shared_data_root):
    train = load_dataset("mnist", root=shared_data_root, download=False)
    test = load_dataset("mnist", root=shared_data_root, split="test", download=False)
    assert train.images.shape == (60_000, 1, 28, 28) and test.images.shape == (10_000, 1, 28, 28)
    assert sorted(torch.unique(train.labels).tolist()) == list(range(10))
    assert train.labels[:5].tolist() == [5, 0, 4, 1, 9] and test.labels[:5].tolist() == [7, 2, 1, 0, 4]
    assert 30 < train.images.float().mean() < 36  # MNIST's mean pixel is about 33.3
