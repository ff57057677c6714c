"""Named datasets decoded once into an in-memory uint8 tensor, and shuffled minibatches made on the training device."""

from __future__ import annotations

import codecs
import gzip
import math
import os
import pickle
import socket
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # PIL is imported where pictures are read
    from PIL import Image

DATASET_NAMES = ("mnist", "fashion-mnist", "cifar10", "shapes")
# Each named data set's own (image side, channels, classes); a folder: set is FOLDER_DEFAULT_IMAGE_SIZE colour.
DATASET_SHAPES = {"mnist": (28, 1, 10), "fashion-mnist": (28, 1, 10), "cifar10": (32, 3, 10), "shapes": (32, 3, 3)}
FOLDER_PREFIX = "folder:"

MNIST_CLASS_NAMES = [str(digit) for digit in range(10)]
FASHION_MNIST_CLASS_NAMES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
CIFAR10_CLASS_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
SHAPE_KINDS = ["circle", "square", "triangle"]

# The built-in procedural set: how many images each split holds, and its native size.
SHAPES_TRAIN_COUNT = 24_000
SHAPES_TEST_COUNT = 4_000
SHAPES_IMAGE_SIZE = 32
SHAPES_SIZE_RANGE = (0.15, 0.35)  # half the shape's width, as a fraction of the image side

# Image folders.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".gif")
FOLDER_DEFAULT_IMAGE_SIZE = 64
FOLDER_MAX_IMAGES = 50_000
FOLDER_MAX_PIXELS = 40_000_000  # pictures larger than this (width * height) are refused as possible decompression bombs

IMAGE_SIZE_RANGE = (4, 1024)
MAX_DATASET_BYTES = 16 * 1024**3  # refuse to build an in-memory set larger than this
_CONVERT_CHUNK_BYTES = 64 * 1024**2  # float working memory per chunk while resizing
_LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R BT.601, the same weights PIL uses for "L"
_CONNECT_TIMEOUT_S = 5.0

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_CIFAR_FOLDER = "cifar-10-batches-py"
_CIFAR_FILES = {
    "train": tuple(f"data_batch_{index}" for index in range(1, 6)),
    "test": ("test_batch",),
}
_CIFAR_ARCHIVE = "cifar-10-python.tar.gz"


class DatasetError(ValueError):
    """A dataset could not be found, read or used; the message says what to do about it."""


@dataclass
class ImageData:
    """A whole dataset held in memory.

    images: uint8 (N, C, H, W), contiguous, on CPU, values 0..255, C is 1 or 3, H == W.
    labels: int64 (N,) in [0, num_classes), or None for unlabeled data.
    class_names: one name per class; [] when unlabeled.
    name: "mnist", "fashion-mnist", "cifar10", "shapes" or "folder:/absolute/path".
    factors: the procedural "shapes" set only: per-image factor values, each a (N,) tensor
        ("kind" int64 = the label; "size", "x", "y", "hue" float32, see `make_shapes`).
    notes: human-readable remarks about loading (skipped files, caps) that a UI can show.
    """

    images: torch.Tensor
    labels: torch.Tensor | None
    class_names: list[str]
    name: str
    factors: dict[str, torch.Tensor] | None = None
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not isinstance(self.images, torch.Tensor) or self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DatasetError(
                f"ImageData.images must be a uint8 tensor of shape (N, C, H, W); got "
                f"{type(self.images).__name__} {getattr(self.images, 'dtype', '')} {tuple(getattr(self.images, 'shape', ()))}"
            )
        if self.images.shape[1] not in (1, 3):
            raise DatasetError(f"ImageData.images must have 1 or 3 channels; got {self.images.shape[1]}")
        count = self.images.shape[0]
        if self.labels is not None:
            if self.labels.dtype != torch.int64 or tuple(self.labels.shape) != (count,):
                raise DatasetError(
                    f"ImageData.labels must be int64 of shape ({count},); got {self.labels.dtype} {tuple(self.labels.shape)}"
                )
            if not self.class_names:
                raise DatasetError("ImageData has labels but no class_names")

    @property
    def num_classes(self) -> int:
        """The number of classes; 0 for unlabeled data."""
        return len(self.class_names)

    @property
    def channels(self) -> int:
        """1 (grayscale) or 3 (RGB)."""
        return int(self.images.shape[1])

    @property
    def image_size(self) -> int:
        """The side of the square images in pixels."""
        height, width = int(self.images.shape[2]), int(self.images.shape[3])
        if height != width:
            raise DatasetError(f"images of {self.name} are {height}x{width}; genimg needs square images (H == W)")
        return height

    def __len__(self) -> int:
        return int(self.images.shape[0])


# ----------------------------------------------------------------------------------------------
# Locations and validation


def resolve_data_root(data_root: str | os.PathLike | None = None) -> Path:
    """The folder that holds downloaded datasets, as an absolute path.

    The argument when given, else the GENIMG_DATA environment variable when set and non-empty,
    else ./data relative to the current working directory. The folder need not exist.
    """
    if data_root is None or str(data_root) == "":
        data_root = os.environ.get("GENIMG_DATA") or "data"
    return Path(os.path.abspath(os.path.expanduser(os.fspath(data_root))))


def _check_optional_int(value: object, what: str, low: int, high: int | None = None) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high is not None and value > high):
        accepted = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        raise DatasetError(f"{what}={value!r} is not valid; expected None or {accepted}")


def _check_memory(count: int, channels: int, image_size: int, what: str) -> None:
    needed = count * channels * image_size * image_size
    if needed > MAX_DATASET_BYTES:
        raise DatasetError(
            f"{what}: {count} images of {channels}x{image_size}x{image_size} would need "
            f"{needed / 1024**3:.1f} GiB in memory, more than the {MAX_DATASET_BYTES / 1024**3:.0f} GiB genimg allows; "
            f"use a smaller image_size or a limit"
        )


# ----------------------------------------------------------------------------------------------
# Conversions


def to_float(images: torch.Tensor, value_range: str) -> torch.Tensor:
    """uint8 images (any shape) -> float32 on the same device: "signed" -> [-1, 1] (what a tanh generator and its
    discriminator see), "unit" -> [0, 1] (pixels as every genimg model draws them)."""
    if images.dtype != torch.uint8:
        raise ValueError(f"to_float expects uint8 images; got {images.dtype}")
    if value_range == "signed":
        return images.to(torch.float32).div_(127.5).sub_(1.0)
    if value_range == "unit":
        return images.to(torch.float32).div_(255.0)
    raise ValueError(f"value_range={value_range!r} is not known; expected 'signed' ([-1, 1]) or 'unit' ([0, 1])")


def convert_images(
    images: torch.Tensor, *, image_size: int | None = None, channels: int | None = None
) -> torch.Tensor:
    """Resize and/or change the channel count of uint8 (N, C, H, W) images, once, in memory.

    Resizing is bilinear with antialiasing on float values, rounded back to uint8 0..255; the result
    is square (image_size x image_size). 3 -> 1 channels uses luminance weights (0.299, 0.587, 0.114);
    1 -> 3 repeats the gray channel. Work is done in chunks so the float copy stays small.
    Returns a new contiguous uint8 tensor (or the input itself when nothing changes).
    """
    _check_optional_int(image_size, "image_size", *IMAGE_SIZE_RANGE)
    if channels not in (None, 1, 3):
        raise DatasetError(f"channels={channels!r} is not valid; expected None, 1 (grayscale) or 3 (RGB)")
    if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] not in (1, 3):
        raise DatasetError(f"convert_images expects uint8 (N, 1 or 3, H, W); got {images.dtype} {tuple(images.shape)}")
    count, source_channels, height, width = (int(size) for size in images.shape)
    target_size = image_size if image_size is not None else height
    target_channels = channels if channels is not None else source_channels
    needs_resize = (height, width) != (target_size, target_size)
    if not needs_resize and target_channels == source_channels:
        return images
    _check_memory(count, target_channels, target_size, "converting images")
    output = torch.empty((count, target_channels, target_size, target_size), dtype=torch.uint8)
    largest = max(height * width, target_size * target_size) * max(source_channels, target_channels) * 4
    chunk = max(1, _CONVERT_CHUNK_BYTES // largest)
    weights = torch.tensor(_LUMINANCE_WEIGHTS, dtype=torch.float32).view(1, 3, 1, 1)
    for start in range(0, count, chunk):
        part = images[start : start + chunk].to(torch.float32)
        if source_channels == 3 and target_channels == 1:
            part = (part * weights).sum(dim=1, keepdim=True)  # reduce before resizing: less work
        if needs_resize:
            part = F.interpolate(part, size=(target_size, target_size), mode="bilinear", antialias=True, align_corners=False)
        part = part.round_().clamp_(0, 255).to(torch.uint8)
        if source_channels == 1 and target_channels == 3:
            part = part.expand(-1, 3, -1, -1)
        output[start : start + chunk] = part
    return output


# ----------------------------------------------------------------------------------------------
# IDX files (MNIST, Fashion-MNIST)

_IDX_TYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (plain or .gz) into a writable numpy array in native byte order.

    Validates the magic number (two zero bytes, a known type code, the number of dimensions)
    and that the payload size matches the dimensions in the header; raises DatasetError naming
    the file otherwise. MNIST images come back as uint8 (N, 28, 28), labels as uint8 (N,).
    """
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                content = stream.read()
        else:
            content = path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetError(f"cannot read IDX file {path}: {error}") from error
    if len(content) < 4:
        raise DatasetError(f"{path} is not an IDX file: only {len(content)} bytes")
    zero_a, zero_b, type_code, dimension_count = content[0], content[1], content[2], content[3]
    if zero_a != 0 or zero_b != 0 or type_code not in _IDX_TYPES or not 1 <= dimension_count <= 8:
        raise DatasetError(
            f"{path} is not an IDX file: bad magic number {content[:4].hex()} "
            f"(expected 0000 then a type code among {[f'{code:02x}' for code in _IDX_TYPES]} and 1..8 dimensions)"
        )
    header_size = 4 + 4 * dimension_count
    if len(content) < header_size:
        raise DatasetError(f"{path} is truncated: the header needs {header_size} bytes, the file has {len(content)}")
    shape = tuple(int(size) for size in np.frombuffer(content, dtype=">u4", count=dimension_count, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize
    actual = len(content) - header_size
    if actual != expected:
        raise DatasetError(
            f"{path} does not match its header: dimensions {shape} need {expected} bytes of data, "
            f"the file has {actual} (truncated or corrupt; download it again)"
        )
    array = np.frombuffer(content, dtype=dtype, offset=header_size).reshape(shape)
    return array.astype(dtype.newbyteorder("="), copy=True)


def mnist_available(data_root: str | os.PathLike | None = None) -> bool:
    """Whether MNIST's training files are already on disk under `data_root` (nothing is downloaded to check)."""
    folder = resolve_data_root(data_root) / "MNIST" / "raw"
    return all(_find_idx(folder, name) is not None for name in _MNIST_FILES["train"])


def _find_idx(folder: Path, file_name: str) -> Path | None:
    for candidate in (folder / file_name, folder / f"{file_name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_files_message(display_name: str, folder: Path, files: list[str], missing: list[str], extra: str) -> str:
    return (
        f"{display_name} files not found in {folder}. Place these files there: {', '.join(files)}{extra}. "
        f"Missing now: {', '.join(missing)}. With a working internet connection genimg downloads them "
        f"automatically (download=True); to use another data folder pass root= or set GENIMG_DATA."
    )


def _probe_connection(url: str) -> None:
    """Fail fast (a few seconds) when the download server cannot be reached at all."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    with socket.create_connection((parsed.hostname, port), timeout=_CONNECT_TIMEOUT_S):
        pass


def _download(dataset_class: type, root: Path, train: bool, url: str, missing_message: str) -> None:
    try:
        _probe_connection(url)
        dataset_class(str(root), train=train, download=True)
    except Exception as error:  # no internet, a server error, a full disk: all end in the same advice
        raise DatasetError(f"{missing_message} Downloading failed: {type(error).__name__}: {error}") from error


def _load_idx_dataset(
    name: str, root: Path, split: str, download: bool, limit: int | None
) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    if name == "mnist":
        class_name, folder_name, display_name, class_names = "MNIST", "MNIST", "MNIST", MNIST_CLASS_NAMES
    else:
        class_name, folder_name, display_name, class_names = (
            "FashionMNIST", "FashionMNIST", "Fashion-MNIST", FASHION_MNIST_CLASS_NAMES)
    folder = root / folder_name / "raw"
    all_files = [file for pair in _MNIST_FILES.values() for file in pair]
    wanted = _MNIST_FILES[split]

    def missing_files() -> list[str]:
        return [file for file in wanted if _find_idx(folder, file) is None]

    missing = missing_files()
    if missing:
        message = _missing_files_message(display_name, folder, all_files, missing, " (the .gz versions are accepted too)")
        if not download:
            raise DatasetError(message)
        import torchvision.datasets  # only to download: importing it costs about a second

        dataset_class = getattr(torchvision.datasets, class_name)
        _download(dataset_class, root, split == "train", dataset_class.mirrors[0], message)
        if missing_files():
            raise DatasetError(message)
    images = read_idx(_find_idx(folder, wanted[0]))
    labels = read_idx(_find_idx(folder, wanted[1]))
    if images.dtype != np.uint8 or images.ndim != 3 or labels.dtype != np.uint8 or labels.ndim != 1:
        raise DatasetError(
            f"{folder}: expected uint8 images (N, H, W) and uint8 labels (N,); got {images.dtype} {images.shape} "
            f"and {labels.dtype} {labels.shape}"
        )
    if images.shape[0] != labels.shape[0]:
        raise DatasetError(f"{folder}: {wanted[0]} holds {images.shape[0]} images but {wanted[1]} holds {labels.shape[0]} labels")
    if labels.size and int(labels.max()) >= len(class_names):
        raise DatasetError(f"{folder}/{wanted[1]}: label {int(labels.max())} is outside 0..{len(class_names) - 1}")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    image_tensor = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1).contiguous()
    return image_tensor, torch.from_numpy(labels.astype(np.int64)), list(class_names)


# ----------------------------------------------------------------------------------------------
# CIFAR-10


def _safe_pickle_globals() -> dict[tuple[str, str], object]:
    reconstruct = np.ndarray((0,)).__reduce__()[0]
    from_buffer = np.zeros(1).__reduce_ex__(5)[0]
    scalar = np.uint8(0).__reduce__()[0]
    allowed: dict[tuple[str, str], object] = {
        ("_codecs", "encode"): codecs.encode,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
    }
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.multiarray", "scalar")] = scalar
        allowed[(f"{core}.numeric", "_frombuffer")] = from_buffer
    return allowed


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain containers and numpy arrays only; any other class or function is refused.

    CIFAR-10 ships as pickles; a plain pickle.load would run whatever code a tampered file names.
    """

    _allowed = _safe_pickle_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}: only numpy arrays are accepted") from None


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, list[int]]:
    try:
        with path.open("rb") as stream:
            entry = _ArraysOnlyUnpickler(stream, encoding="latin1").load()
    except Exception as error:
        raise DatasetError(f"cannot read CIFAR-10 batch {path}: {type(error).__name__}: {error}") from error
    if not isinstance(entry, dict):
        raise DatasetError(f"{path} is not a CIFAR-10 batch: expected a dict, found {type(entry).__name__}")
    entry = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in entry.items()}
    data, labels = entry.get("data"), entry.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(
            f"{path} is not a CIFAR-10 batch: 'data' must be a uint8 array (N, 3072); got "
            f"{getattr(data, 'dtype', type(data).__name__)} {getattr(data, 'shape', '')}"
        )
    if not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != data.shape[0]:
        raise DatasetError(f"{path} is not a CIFAR-10 batch: 'labels' must list one label for each of its {data.shape[0]} images")
    return data, [int(label) for label in labels]


def _load_cifar10(root: Path, split: str, download: bool, limit: int | None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    folder = root / _CIFAR_FOLDER
    all_files = [file for files in _CIFAR_FILES.values() for file in files]
    wanted = _CIFAR_FILES[split]

    def missing_files() -> list[str]:
        return [file for file in wanted if not (folder / file).is_file()]

    missing = missing_files()
    if missing:
        message = _missing_files_message(
            "CIFAR-10", folder, all_files, missing,
            f" (or put {_CIFAR_ARCHIVE}, the Python version, in {root}; it is unpacked for you)",
        )
        import torchvision.datasets  # only to download or unpack: importing it costs about a second
        from torchvision.datasets.utils import check_integrity, extract_archive

        archive = root / _CIFAR_ARCHIVE
        if archive.is_file() and check_integrity(str(archive), torchvision.datasets.CIFAR10.tgz_md5):
            try:
                extract_archive(str(archive), str(root))
            except Exception as error:
                raise DatasetError(f"{message} Unpacking {archive} failed: {error}") from error
        elif download:
            _download(torchvision.datasets.CIFAR10, root, split == "train", torchvision.datasets.CIFAR10.url, message)
        else:
            raise DatasetError(message)
        if missing_files():
            raise DatasetError(message)

    data_parts, label_parts, count = [], [], 0
    for file in wanted:
        data, labels = _read_cifar_batch(folder / file)
        data_parts.append(data)
        label_parts.extend(labels)
        count += data.shape[0]
        if limit is not None and count >= limit:
            break
    data = np.concatenate(data_parts)
    labels = np.asarray(label_parts, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(CIFAR10_CLASS_NAMES)):
        raise DatasetError(f"{folder}: labels must be in 0..9; found {int(labels.min())}..{int(labels.max())}")
    if limit is not None:
        data, labels = data[:limit], labels[:limit]
    # Each row is already channel-major: 1024 red, 1024 green, 1024 blue values.
    images = torch.from_numpy(np.ascontiguousarray(data)).view(-1, 3, 32, 32).contiguous()
    return images, torch.from_numpy(labels), list(CIFAR10_CLASS_NAMES)


# ----------------------------------------------------------------------------------------------
# The built-in procedural "shapes" set


def _split_index(split: str) -> int:
    return {"train": 0, "test": 1}[split]


def _shape_signed_distance(kind: int, x: np.ndarray, y: np.ndarray, size: np.ndarray,
                           column: np.ndarray, row: np.ndarray) -> np.ndarray:
    """Signed distance (negative inside) from each pixel centre to one kind of shape, in image-side units.

    x, y, size: float32 (n, 1, 1) shape centre and half-width; column, row: (1, 1, S) and (1, S, 1)
    pixel centres in [0, 1]. Returns float32 (n, S, S).
    """
    dx = column - x
    dy = row - y
    if kind == 0:  # circle of radius `size`
        return np.sqrt(dx * dx + dy * dy) - size
    if kind == 1:  # axis-aligned square of half-side `size`
        qx = np.abs(dx) - size
        qy = np.abs(dy) - size
        outside = np.sqrt(np.maximum(qx, 0) ** 2 + np.maximum(qy, 0) ** 2)
        return outside + np.minimum(np.maximum(qx, qy), 0)
    # Upright equilateral triangle of half-side `size` (width 2*size, height sqrt(3)*size), centred on its
    # bounding box; the exact distance of an equilateral triangle measured from its centroid, y pointing up.
    k = np.float32(math.sqrt(3.0))
    centroid_offset = size / (2 * k)  # the centroid lies this far below the bounding-box centre
    px = np.abs(dx) - size
    py = (centroid_offset - dy) + size / k
    fold = (px + k * py) > 0
    px, py = np.where(fold, (px - k * py) / 2, px), np.where(fold, (-k * px - py) / 2, py)
    px = px - np.maximum(np.minimum(px, 0), -2 * size)
    return -np.sqrt(px * px + py * py) * np.sign(py)


def _hue_to_rgb(hue: np.ndarray) -> np.ndarray:
    """Hue (n,) in [0, 1) at full saturation and value -> RGB float32 (n, 3) in [0, 1]."""
    distance = np.abs(hue[:, None] * 6 - np.array([3.0, 2.0, 4.0], dtype=np.float32))
    red = np.clip(distance[:, 0:1] - 1, 0, 1)
    green_blue = np.clip(2 - distance[:, 1:3], 0, 1)
    return np.concatenate([red, green_blue], axis=1).astype(np.float32)


def make_shapes(count: int, *, image_size: int = SHAPES_IMAGE_SIZE, seed: int = 0, split: str = "train",
                limit: int | None = None) -> ImageData:
    """Render the procedural "shapes" set: one coloured shape on black per image, RGB uint8 (N, 3, S, S).

    Deterministic for (seed, split, count); `limit` renders only the first images of the same stream.
    Factors (each (N,)): kind int64 0 circle / 1 square / 2 triangle (= the label, balanced);
    size float32 in [0.15, 0.35], half the shape's width as a fraction of the image side
    (circle radius, square half-side, triangle half-side); x, y float32 in [0, 1], the centre of the
    shape's bounding box (x to the right, y downwards), chosen so the shape stays one pixel inside the image;
    hue float32 in [0, 1), colour at full saturation and value. Edges are anti-aliased by
    a one-pixel linear falloff of the signed distance.
    """
    _check_optional_int(image_size, "image_size", *IMAGE_SIZE_RANGE)
    _check_optional_int(count, "count", 1)
    _check_optional_int(limit, "limit", 1)
    if split not in ("train", "test"):
        raise DatasetError(f"split={split!r} is not valid; expected 'train' or 'test'")
    rendered = count if limit is None else min(count, limit)
    _check_memory(rendered, 3, image_size, "shapes")

    generator = np.random.default_rng([int(seed) % 2**63, _split_index(split)])
    kind = generator.permutation(np.arange(count) % len(SHAPE_KINDS)).astype(np.int64)
    size = generator.uniform(*SHAPES_SIZE_RANGE, size=count)
    margin = 1.0 / image_size
    low = size + margin
    x = low + (1 - 2 * low) * generator.random(count)
    y = low + (1 - 2 * low) * generator.random(count)
    hue = generator.random(count)
    kind, size, x, y, hue = kind[:rendered], size[:rendered].astype(np.float32), x[:rendered].astype(np.float32), \
        y[:rendered].astype(np.float32), hue[:rendered].astype(np.float32)

    # Rendered with numpy: its element-wise work runs on one thread, which keeps the time steady on a
    # small shared CPU where torch's two-thread barriers can wait on a busy core.
    images = np.empty((rendered, 3, image_size, image_size), dtype=np.uint8)
    centres = ((np.arange(image_size, dtype=np.float32) + 0.5) / image_size).astype(np.float32)
    column, row = centres.reshape(1, 1, -1), centres.reshape(1, -1, 1)
    colours = (_hue_to_rgb(hue) * 255).reshape(-1, 3, 1, 1)
    chunk = max(1, (16 * 1024**2) // (image_size * image_size * 4))
    for start in range(0, rendered, chunk):
        stop = min(start + chunk, rendered)
        distance = np.empty((stop - start, image_size, image_size), dtype=np.float32)
        for kind_index in range(len(SHAPE_KINDS)):
            members = np.flatnonzero(kind[start:stop] == kind_index)
            if len(members) == 0:
                continue
            picked = members + start
            distance[members] = _shape_signed_distance(
                kind_index, x[picked].reshape(-1, 1, 1), y[picked].reshape(-1, 1, 1),
                size[picked].reshape(-1, 1, 1), column, row,
            )
        coverage = np.clip(0.5 - distance * image_size, 0, 1)  # a one-pixel anti-aliased edge
        # coverage * colour + 0.5, then the truncating cast to uint8 rounds to the nearest value.
        images[start:stop] = coverage[:, None] * colours[start:stop] + np.float32(0.5)
    factors = {
        "kind": torch.from_numpy(kind),
        "size": torch.from_numpy(size),
        "x": torch.from_numpy(x),
        "y": torch.from_numpy(y),
        "hue": torch.from_numpy(hue),
    }
    images = torch.from_numpy(images)
    return ImageData(
        images=images, labels=factors["kind"].clone(), class_names=list(SHAPE_KINDS), name="shapes", factors=factors
    )


# ----------------------------------------------------------------------------------------------
# Image folders


class _PictureTooLarge(Exception):
    pass


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _list_pictures(folder: Path) -> list[Path]:
    """Every picture file below `folder` (recursively, hidden files and folders skipped), sorted."""
    found = []
    for directory, subdirectories, files in os.walk(folder):
        subdirectories[:] = sorted(name for name in subdirectories if not _is_hidden(name))
        for name in sorted(files):
            if not _is_hidden(name) and name.lower().endswith(IMAGE_EXTENSIONS):
                found.append(Path(directory) / name)
    return sorted(found, key=lambda path: path.relative_to(folder).parts)


def _picture_to_array(path: Path, image_size: int, channels: int) -> np.ndarray:
    """Decode one picture into uint8 (S, S, C): shorter side resized to S, centre-cropped.

    Transparent pixels are composited on black (like the background of the built-in set);
    16-bit pictures are scaled to 8 bits (value / 257); EXIF orientation is applied; animations
    use their first frame. Raises on anything unreadable, and _PictureTooLarge above FOLDER_MAX_PIXELS.
    """
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(path) as picture:
            width, height = picture.size
            if width * height > FOLDER_MAX_PIXELS:
                raise _PictureTooLarge(f"{width}x{height}")
            if picture.format == "JPEG":
                picture.draft(None, (image_size, image_size))  # decode at a reduced scale: much faster for photos
            picture.load()
            if picture.getexif().get(0x0112, 1) != 1:
                picture = ImageOps.exif_transpose(picture)
            picture = _to_eight_bit(picture)
    width, height = picture.size
    side = min(width, height)
    left, top = (width - side) / 2, (height - side) / 2
    picture = picture.resize(
        (image_size, image_size), Image.Resampling.LANCZOS, box=(left, top, left + side, top + side), reducing_gap=3.0
    )
    picture = picture.convert("L" if channels == 1 else "RGB")
    array = np.asarray(picture, dtype=np.uint8)
    return array[:, :, None] if array.ndim == 2 else array


def _to_eight_bit(picture: "Image.Image") -> "Image.Image":
    """Any PIL mode -> "L" or "RGB" with 8 bits a channel."""
    from PIL import Image

    mode = picture.mode
    if mode in ("L", "RGB"):
        return picture
    if mode == "1":
        return picture.convert("L")
    if mode.startswith("I"):  # "I;16", "I;16B", "I;16L", "I" (32-bit, from 16-bit PNGs in some Pillow versions)
        values = np.asarray(picture).astype(np.int64)
        values = ((np.clip(values, 0, 65535) * 255 + 32767) // 65535).astype(np.uint8)
        return Image.fromarray(values, mode="L")
    if mode == "F":
        values = np.asarray(picture, dtype=np.float32)
        scale = 255.0 if np.nanmax(values, initial=0) <= 1.0 else 1.0
        return Image.fromarray(np.clip(np.nan_to_num(values) * scale, 0, 255).round().astype(np.uint8), mode="L")
    if mode == "P" and "transparency" not in picture.info:
        return picture.convert("RGB")
    if mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        rgba = picture.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        return Image.alpha_composite(black, rgba).convert("RGB")
    return picture.convert("RGB")  # CMYK, YCbCr, LAB, HSV


def _example_names(paths: list[Path], folder: Path) -> str:
    names = ", ".join(str(path.relative_to(folder)) for path in paths[:3])
    return names + (", ..." if len(paths) > 3 else "")


def _load_folder(folder_text: str, image_size: int | None, channels: int | None, limit: int | None) -> ImageData:
    from PIL import Image

    folder = Path(os.path.abspath(os.path.expanduser(folder_text.strip())))
    accepted = ", ".join(IMAGE_EXTENSIONS)
    if not folder.is_dir():
        raise DatasetError(f"image folder {folder} does not exist or is not a folder; give folder:<path to a folder of {accepted} pictures>")
    image_size = image_size if image_size is not None else FOLDER_DEFAULT_IMAGE_SIZE
    channels = channels if channels is not None else 3
    notes: list[str] = []

    pictures = _list_pictures(folder)
    if not pictures:
        raise DatasetError(f"no pictures found in {folder} (searched subfolders too); accepted extensions: {accepted}")

    # Two or more subfolders with pictures in them: each subfolder is a class, like torchvision's ImageFolder.
    class_of: dict[str, int] = {}
    top_level = sorted({path.relative_to(folder).parts[0] for path in pictures if len(path.relative_to(folder).parts) > 1})
    if len(top_level) >= 2:
        class_of = {name: index for index, name in enumerate(top_level)}
        loose = [path for path in pictures if len(path.relative_to(folder).parts) == 1]
        if loose:
            notes.append(
                f"Left out {len(loose)} pictures lying directly in the folder, because its subfolders are used as "
                f"classes (e.g. {_example_names(loose, folder)})."
            )
            pictures = [path for path in pictures if len(path.relative_to(folder).parts) > 1]
    if len(pictures) > FOLDER_MAX_IMAGES:
        notes.append(f"Read only the first {FOLDER_MAX_IMAGES} of {len(pictures)} pictures (in sorted order).")
        pictures = pictures[:FOLDER_MAX_IMAGES]
    wanted = len(pictures) if limit is None else min(limit, len(pictures))
    _check_memory(wanted, channels, image_size, f"folder:{folder}")

    images = np.empty((wanted, channels, image_size, image_size), dtype=np.uint8)
    labels = np.empty((wanted,), dtype=np.int64)
    unreadable: list[Path] = []
    too_large: list[Path] = []
    done = 0

    def decode(path: Path) -> np.ndarray | Exception:
        try:
            return _picture_to_array(path, image_size, channels)
        except Image.DecompressionBombError as error:  # PIL's own guard, for pictures far over ours
            return _PictureTooLarge(str(error))
        except Exception as error:  # corrupt, truncated, not a picture, too large: skip and report
            return error

    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL releases the GIL while decoding and resizing
        position = 0
        while done < wanted and position < len(pictures):
            batch = pictures[position : position + min(512, max(64, 2 * (wanted - done)))]
            position += len(batch)
            for path, result in zip(batch, pool.map(decode, batch)):
                if done >= wanted:
                    break
                if isinstance(result, _PictureTooLarge):
                    too_large.append(path)
                elif isinstance(result, Exception):
                    unreadable.append(path)
                else:
                    images[done] = result.transpose(2, 0, 1)
                    if class_of:
                        labels[done] = class_of[path.relative_to(folder).parts[0]]
                    done += 1
    if unreadable:
        notes.append(f"Skipped {len(unreadable)} unreadable or corrupt files (e.g. {_example_names(unreadable, folder)}).")
    if too_large:
        notes.append(
            f"Skipped {len(too_large)} pictures larger than {FOLDER_MAX_PIXELS // 1_000_000} megapixels, a guard against "
            f"decompression bombs (e.g. {_example_names(too_large, folder)})."
        )
    if done == 0:
        raise DatasetError(f"none of the {len(pictures)} pictures in {folder} could be read. " + " ".join(notes))
    image_tensor = torch.from_numpy(images[:done])
    if class_of:
        label_tensor = torch.from_numpy(labels[:done].copy())
        present = sorted(set(label_tensor.tolist()))
        if len(present) < len(class_of):
            notes.append(f"Only {len(present)} of the {len(class_of)} class subfolders have readable pictures.")
        class_names = top_level
    else:
        label_tensor, class_names = None, []
    return ImageData(images=image_tensor.contiguous(), labels=label_tensor, class_names=class_names,
                     name=f"{FOLDER_PREFIX}{folder}", notes=notes)


# ----------------------------------------------------------------------------------------------
# The entry point


def load_dataset(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    split: str = "train",
    image_size: int | None = None,
    channels: int | None = None,
    download: bool = True,
    limit: int | None = None,
    seed: int = 0,
) -> ImageData:
    """Load a named dataset into memory as uint8 (N, C, H, W) images, decoded once.

    name: "mnist" (1x28x28, 60,000 train / 10,000 test), "fashion-mnist" (same sizes),
        "cifar10" (3x32x32, 50,000 / 10,000), "shapes" (built in, no download, 3x32x32, 24,000 / 4,000),
        or "folder:<path>" (your own pictures; 3x64x64 unless asked otherwise).
    root: where downloaded datasets live (see resolve_data_root); ignored by "shapes" and folders.
    split: "train" or "test". "shapes" draws a different random stream for each split; an image
        folder has no split and returns all its pictures for both.
    image_size, channels: when given and different from the data's, the images are converted once
        (see convert_images); "shapes" and folders are rendered at that size directly.
    download: allow torchvision to download missing files (only tried when they are missing).
    limit: keep only the first `limit` images (deterministic).
    seed: the random stream of "shapes" (other datasets ignore it).
    Raises DatasetError with a message that says how to fix the problem.
    """
    if not isinstance(name, str):
        raise DatasetError(f"dataset name must be a string; got {name!r}")
    if split not in ("train", "test"):
        raise DatasetError(f"split={split!r} is not valid; expected 'train' or 'test'")
    _check_optional_int(image_size, "image_size", *IMAGE_SIZE_RANGE)
    if channels not in (None, 1, 3):
        raise DatasetError(f"channels={channels!r} is not valid; expected None, 1 (grayscale) or 3 (RGB)")
    _check_optional_int(limit, "limit", 1)

    stripped = name.strip()
    if stripped.lower().startswith(FOLDER_PREFIX):
        folder_text = stripped[len(FOLDER_PREFIX):]
        if not folder_text.strip():
            raise DatasetError(f"dataset name {name!r} names no folder; write it as folder:<path>")
        return _load_folder(folder_text, image_size, channels, limit)

    key = stripped.lower()
    if key == "shapes":
        count = SHAPES_TRAIN_COUNT if split == "train" else SHAPES_TEST_COUNT
        data = make_shapes(count, image_size=image_size or SHAPES_IMAGE_SIZE, seed=seed, split=split, limit=limit)
        if channels is not None and channels != data.channels:
            data.images = convert_images(data.images, channels=channels)
        return data
    if key not in DATASET_NAMES:
        raise DatasetError(
            f"unknown dataset {name!r}; accepted names: {', '.join(DATASET_NAMES)}, or folder:<path> for a folder of pictures"
        )

    data_root = resolve_data_root(root)
    if key in ("mnist", "fashion-mnist"):
        images, labels, class_names = _load_idx_dataset(key, data_root, split, download, limit)
    else:
        images, labels, class_names = _load_cifar10(data_root, split, download, limit)
    images = convert_images(images, image_size=image_size, channels=channels)
    return ImageData(images=images.contiguous(), labels=labels, class_names=class_names, name=key)


# ----------------------------------------------------------------------------------------------
# Minibatches


# Dynamic binarisation (MNIST likelihood papers: Burda et al. 2016 and later): each pixel becomes 1 with probability
# equal to its grey level, drawn afresh every time a batch is drawn, so a model sees a new binary image each epoch.
# Seeds of the binarisation's own generator are derived from the run's seed with this offset, so that a run's data
# order and its binarisation are independent streams.
BINARISATION_SEED_OFFSET = 0x62696E  # "bin"


def binarise(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One Bernoulli draw per pixel: uint8 images (any shape, values 0..255) → uint8 of the same shape, 0 or 255.

    A pixel of grey level v becomes 255 with probability v / 255 (u < v / 255 for u ~ U[0, 1) from `generator`, a
    CPU torch.Generator), so the mean of many draws is the grey image. The draw happens on CPU and the result goes
    to the images' device, so a seed gives the same binary images on every device.
    """
    if images.dtype != torch.uint8:
        raise DatasetError(f"binarise expects uint8 images 0..255; got {images.dtype}")
    uniform = torch.rand(images.shape, generator=generator)  # (same shape) in [0, 1), CPU
    on = uniform.mul_(255.0) < images.cpu().to(torch.float32)  # u·255 < v  ⇔  u < v / 255
    return on.to(torch.uint8).mul_(255).to(images.device)


def binarised_copy(data: ImageData, seed: int = 0) -> ImageData:
    """The whole set binarised once with a seeded generator: a fixed stochastic binarisation (for test sets, so
    every evaluation of every model scores the same binary images). Labels, names and class names are kept."""
    generator = torch.Generator(device="cpu").manual_seed(seed + BINARISATION_SEED_OFFSET)
    return ImageData(images=binarise(data.images, generator), labels=data.labels, class_names=data.class_names,
                     name=data.name)


class BatchStream:
    """Endless shuffled minibatches from an ImageData, made on the training device.

    The images (uint8) and labels are moved to `device` once; each batch is a gather there.
    Batches never straddle epochs (drop-last): an epoch yields len(data) // batch_size batches and
    the leftover images wait for a later epoch's shuffle. The order comes from a CPU torch.Generator
    seeded with `seed`, so a seed means the same order on every device, and state_dict() /
    load_state_dict() resume it exactly.

    binarise: each batch is dynamically binarised (see `binarise`) with a second CPU generator seeded from `seed`,
    so every epoch sees fresh binary images, the same ones for the same seed; its state resumes too.

    part (rank, world_size): for distributed training (DistributedSampler's idea). batch_size stays the global
    batch and every rank walks the same seeded order; next() hands out only the rank-th of world_size equal
    consecutive blocks of each global batch, so the ranks' batches joined in rank order are exactly the batch
    of a single process. The position, epoch and state_dict() are the global ones, so a state saved by any
    number of ranks resumes with any other.
    """

    def __init__(self, data: ImageData, batch_size: int, device: torch.device | str = "cpu", seed: int = 0,
                 binarise: bool = False, part: tuple[int, int] = (0, 1)) -> None:
        count = len(data)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DatasetError(f"batch_size={batch_size!r} is not valid; expected a positive integer")
        if batch_size > count:
            raise DatasetError(
                f"batch_size={batch_size} is larger than the dataset {data.name}, which holds {count} images; "
                f"use a batch size of at most {count}"
            )
        rank, world_size = part
        if world_size < 1 or not 0 <= rank < world_size:
            raise DatasetError(f"part={part!r} is not valid; expected (rank, world_size) with 0 <= rank < world_size")
        if batch_size % world_size:
            raise DatasetError(f"batch_size={batch_size} cannot be split evenly across {world_size} processes; "
                               f"choose a multiple of {world_size}")
        self.part = (rank, world_size)
        self.device = torch.device(device)
        self.batch_size = batch_size
        self.num_images = count
        self.seed = seed
        self._images = data.images.to(self.device)
        self._labels = data.labels.to(self.device) if data.labels is not None else None
        self._generator = torch.Generator(device="cpu")
        self._generator.manual_seed(seed)
        self.binarise = bool(binarise)
        self._binarise_generator = torch.Generator(device="cpu").manual_seed(seed + BINARISATION_SEED_OFFSET)
        self.epoch = 0  # completed epochs; counted as soon as an epoch's last batch has been handed out
        self.position = 0  # index of the next image in the current epoch's permutation
        self._set_permutation(torch.randperm(count, generator=self._generator))

    def _set_permutation(self, permutation: torch.Tensor) -> None:
        self._permutation = permutation
        self._device_permutation = permutation.to(self.device)

    @property
    def steps_per_epoch(self) -> int:
        """Batches in one epoch: len(data) // batch_size."""
        return self.num_images // self.batch_size

    def next(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The next batch: uint8 (B, C, H, W) on the device, and int64 labels (B,) or None; B = batch_size, or
        batch_size // world_size with `part`."""
        if self.position + self.batch_size > self.num_images:  # only after loading a state saved with another batch size
            self._start_next_epoch()
        indices = self._device_permutation[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        if self.position + self.batch_size > self.num_images:  # the epoch is complete: count it and reshuffle now
            self._start_next_epoch()
        rank, world_size = self.part
        if world_size > 1 and not self.binarise:
            share = self.batch_size // world_size
            indices = indices[rank * share : (rank + 1) * share]
        images, labels = self._gather(indices)
        if self.binarise:
            # Drawn for the whole global batch, so every rank keeps the binarisation a single process would make.
            images = binarise(images, self._binarise_generator)
            if world_size > 1:
                share = self.batch_size // world_size
                images = images[rank * share : (rank + 1) * share]
                labels = labels[rank * share : (rank + 1) * share] if labels is not None else None
        return images, labels

    def _gather(self, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images (N, C, H, W) and labels (N,) or None at `indices` (N,), on the device."""
        if self.device.type == "cpu":
            # numpy's gather is single-threaded: a small batch copy then never waits on a second, busy core.
            index_array = indices.numpy()
            images = torch.from_numpy(np.take(self._images.numpy(), index_array, axis=0))
            labels = torch.from_numpy(np.take(self._labels.numpy(), index_array)) if self._labels is not None else None
        else:
            images = self._images.index_select(0, indices)
            labels = self._labels.index_select(0, indices) if self._labels is not None else None
        return images, labels

    def _start_next_epoch(self) -> None:
        self.epoch += 1
        self.position = 0
        self._set_permutation(torch.randperm(self.num_images, generator=self._generator))

    def __iter__(self) -> "BatchStream":
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        return self.next()

    def state_dict(self) -> dict:
        """Plain tensors and ints (safe for torch.load(weights_only=True)) that resume the exact order."""
        return {
            "generator_state": self._generator.get_state().clone(),
            "permutation": self._permutation.clone(),
            "position": int(self.position),
            "epoch": int(self.epoch),
            "batch_size": int(self.batch_size),
            "num_images": int(self.num_images),
            "binarise_generator_state": self._binarise_generator.get_state().clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue from a state_dict() of a stream over the same data."""
        try:
            generator_state = state["generator_state"]
            permutation = state["permutation"]
            position, epoch, num_images = int(state["position"]), int(state["epoch"]), int(state["num_images"])
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"not a BatchStream state: {error!r}; expected the dict from BatchStream.state_dict()") from error
        if num_images != self.num_images or tuple(permutation.shape) != (self.num_images,):
            raise DatasetError(
                f"the saved data order is for {num_images} images but this dataset holds {self.num_images}; "
                f"resume with the same dataset"
            )
        if not 0 <= position <= self.num_images or epoch < 0:
            raise DatasetError(f"saved position {position} / epoch {epoch} are out of range for {self.num_images} images")
        self._generator.set_state(generator_state.to(torch.uint8).cpu())
        self._set_permutation(permutation.to(torch.int64).cpu().clone())
        binarise_state = state.get("binarise_generator_state")
        if binarise_state is not None:  # absent from states saved before binarisation existed
            self._binarise_generator.set_state(binarise_state.to(torch.uint8).cpu())
        self.position = position
        self.epoch = epoch
