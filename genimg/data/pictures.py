"""Pictures from users (a sketch, an upload, an array) → clean float RGB → the tensor a model expects.

Two steps, so a page can show what happened in between:

    image = load_user_image(value)              # float32 (H, W, 3) in [0, 1]; ImageInputError if unusable
    x = to_model_input(image, channels=1, image_size=28)   # (1, C, S, S) float32 in [0, 1]

`load_user_image` accepts a Sketchpad/ImageEditor dict (its "composite"), a numpy array, a PIL image, or
the path of a file that Gradio's upload component saved. It refuses decompression bombs (more than
MAX_PIXELS pixels), files that are not pictures, empty sketches; it copes with 16-bit, CMYK, palette,
transparent and EXIF-rotated pictures, and shrinks huge ones early.

`to_model_input` prepares the picture like the data the model saw. For MNIST-like models (one channel,
28×28) it repeats how MNIST was made: light strokes on black (a dark digit on white paper is inverted),
the strokes' bounding box scaled so its longer side is 20 px, pasted in a 28×28 field so that the centre
of mass sits at pixel (14, 14). Other models get a centre-cropped square, resized.

Messages are English in `str(error)`; `error.key` and `error.values` let a page show them in another
language: tabs call `register(MESSAGES_EN, MESSAGES_ZH)` from genimg.ui.i18n (registering twice is
harmless) and then `message(error.key, language, **error.values)`. This module does not import Gradio.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

MAX_PIXELS = 40_000_000  # width × height above this is refused: it could be a decompression bomb
WORKING_SIDE = 1024  # pictures are shrunk to at most this side before any processing
DIGIT_BOX = 20  # MNIST: the digit's bounding box is scaled to fit 20 × 20 ...
DIGIT_FIELD = 28  # ... and centred by centre of mass in a 28 × 28 field
LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, as PIL's "L"
STYLES = ("auto", "digit", "square")

MESSAGES_EN = {
    "image.missing": "No picture was given: draw one or upload a picture first.",
    "image.empty_sketch": "Draw something first: the canvas is still empty.",
    "image.blank": "The picture looks blank: no strokes stand out from the background.",
    "image.transparent": "The picture is fully transparent: nothing to see.",
    "image.empty_file": "The uploaded file is empty (0 bytes).",
    "image.unreadable": "This file is not a picture that can be read ({reason}). Upload a PNG, JPEG, BMP, GIF or "
                        "WebP image.",
    "image.too_large": "This picture has {megapixels} megapixels; pictures above {limit} megapixels are refused "
                       "(a small file that decodes to so many pixels could be a decompression bomb). Shrink it "
                       "and try again.",
    "image.bad_array": "An image array of shape {shape} and type {dtype} cannot be used: expected (H, W), "
                       "(H, W, 1), (H, W, 2), (H, W, 3) or (H, W, 4) with numbers.",
    "image.not_finite": "The image holds values that are not numbers (NaN or infinity).",
    "image.bad_type": "A picture cannot be read from a value of type {kind}.",
}
MESSAGES_ZH = {
    "image.missing": "还没有图片：请先画一个或上传一张图片。",
    "image.empty_sketch": "请先画点什么：画布还是空的。",
    "image.blank": "这张图片看起来是空白的：没有从背景中突出的笔画。",
    "image.transparent": "这张图片完全透明：什么也看不到。",
    "image.empty_file": "上传的文件是空的（0 字节）。",
    "image.unreadable": "这个文件不是可读取的图片（{reason}）。请上传 PNG、JPEG、BMP、GIF 或 WebP 图片。",
    "image.too_large": "这张图片有 {megapixels} 百万像素；超过 {limit} 百万像素的图片会被拒绝"
                       "（磁盘上很小、解码后却极大的文件可能是“解压炸弹”）。请缩小后重试。",
    "image.bad_array": "形状为 {shape}、类型为 {dtype} 的图像数组无法使用：需要 (H, W)、(H, W, 1)、(H, W, 2)、"
                       "(H, W, 3) 或 (H, W, 4) 的数值数组。",
    "image.not_finite": "图像中含有非数值（NaN 或无穷大）。",
    "image.bad_type": "无法从类型为 {kind} 的值中读取图片。",
}


class ImageInputError(ValueError):
    """A picture from a user cannot be used. str(error) is English; `key` + `values` translate it."""

    def __init__(self, key: str, **values: Any) -> None:
        self.key = key
        self.values = values
        super().__init__(MESSAGES_EN[key].format(**values))


# ---------------------------------------------------------------------------------------------- loading


def load_user_image(value: Any) -> np.ndarray:
    """A user's picture as float32 (H, W, 3) in [0, 1]; raises ImageInputError when it cannot be used.

    value: a Sketchpad/ImageEditor dict ({"background", "layers", "composite"}: the composite is used and an
        all-one-colour composite counts as an empty sketch); a numpy array (uint8, uint16, other integers,
        float, bool; (H, W) or (H, W, 1 | 2 | 3 | 4), 2 = grey + alpha); a PIL image; or the path of an
        uploaded file (str or os.PathLike; the caller must only pass paths that its upload component handed over).
    Transparency is composited on the colour opposite to the picture's content (dark strokes on a
    transparent background land on white, light strokes on black), so neither vanishes. Sides above
    WORKING_SIDE are shrunk (area average) before anything else.
    """
    if value is None:
        raise ImageInputError("image.missing")
    if isinstance(value, dict):
        return _from_sketch(value)
    if isinstance(value, np.ndarray):
        return _from_array(value)
    if isinstance(value, Image.Image):
        return _from_picture(value)
    if isinstance(value, (str, os.PathLike)):
        return _from_path(value)
    raise ImageInputError("image.bad_type", kind=type(value).__name__)


def _from_sketch(value: dict) -> np.ndarray:
    composite = value.get("composite")
    if composite is None:  # nothing drawn yet (Gradio sends no composite for an untouched canvas)
        raise ImageInputError("image.empty_sketch")
    try:
        image = load_user_image(composite)
    except ImageInputError as error:
        if error.key in ("image.transparent", "image.missing"):
            raise ImageInputError("image.empty_sketch") from None
        raise
    if float(image.max() - image.min()) < 2.0 / 255.0:  # one colour everywhere: only the background
        raise ImageInputError("image.empty_sketch")
    return image


def _from_path(path: str | os.PathLike) -> np.ndarray:
    try:
        size = os.path.getsize(path)
    except OSError:
        raise ImageInputError("image.unreadable", reason="the file cannot be opened") from None
    if size == 0:
        raise ImageInputError("image.empty_file")
    with warnings.catch_warnings():
        # PIL warns above Image.MAX_IMAGE_PIXELS and raises above twice that; both become our refusal. (The
        # filter is process-wide, not per thread; _check_size below is the guard that does not depend on it.)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as picture:
                _check_size(*picture.size)
                if picture.format == "JPEG":
                    picture.draft(None, (WORKING_SIDE, WORKING_SIDE))  # decode at 1/2, 1/4 or 1/8 scale
                picture.load()
                return _from_picture(picture)
        except ImageInputError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            found = re.search(r"\((\d+) pixels\)", str(error))  # PIL: "Image size (N pixels) exceeds limit ..."
            raise _too_large(int(found.group(1)) if found else None) from None
        except UnidentifiedImageError:
            raise ImageInputError("image.unreadable", reason="not a known picture format") from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:  # truncated or corrupt data
            raise ImageInputError("image.unreadable", reason=_short(error)) from None


def _too_large(pixels: int | None) -> ImageInputError:
    megapixels = "?" if pixels is None else f"{pixels / 1e6:,.1f}"
    return ImageInputError("image.too_large", megapixels=megapixels, limit=MAX_PIXELS // 1_000_000)


def _short(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text if len(text) <= 80 else text[:77] + "..."


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise _too_large(width * height)
    if width == 0 or height == 0:
        raise ImageInputError("image.unreadable", reason=f"it is {width} × {height} pixels")


def _from_picture(picture: Image.Image) -> np.ndarray:
    """A PIL image of any mode → float32 (H, W, 3) in [0, 1]: EXIF orientation applied, shrunk, alpha composited."""
    _check_size(*picture.size)
    try:
        if picture.getexif().get(0x0112, 1) != 1:  # 0x0112 = Orientation; 1 = already upright
            picture = ImageOps.exif_transpose(picture)
    except Exception:  # a broken EXIF block must not make the picture unusable
        pass
    mode = picture.mode
    if mode == "P" and "transparency" in picture.info:
        picture, mode = picture.convert("RGBA"), "RGBA"
    if mode in ("1", "P", "CMYK", "YCbCr", "LAB", "HSV"):
        picture, mode = picture.convert("RGB"), "RGB"
    elif mode in ("LA", "PA", "RGBa", "La"):
        picture, mode = picture.convert("RGBA"), "RGBA"
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(picture)
        array = np.clip(array.astype(np.float32) / 65535.0, 0.0, 1.0)  # 16-bit grey ("I" holds it in some Pillows)
        return _from_array(array)
    return _from_array(np.asarray(picture))


def _from_array(array: np.ndarray) -> np.ndarray:
    """Any numeric (H, W) / (H, W, 1|2|3|4) array → float32 (H, W, 3) in [0, 1]; 2 channels = grey + alpha."""
    if array.ndim == 3 and array.shape[2] in (1, 2, 3, 4):
        pass
    elif array.ndim == 2:
        array = array[:, :, None]
    else:
        raise ImageInputError("image.bad_array", shape=tuple(array.shape), dtype=str(array.dtype))
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageInputError("image.bad_array", shape=tuple(array.shape), dtype=str(array.dtype))
    _check_size(array.shape[1], array.shape[0])
    values = _to_unit_float(array)
    values = _shrink(values)
    if values.shape[2] == 2:
        values = _composite(np.repeat(values[:, :, :1], 3, axis=2), values[:, :, 1:])
    elif values.shape[2] == 4:
        values = _composite(values[:, :, :3], values[:, :, 3:])
    if values.shape[2] == 1:
        values = np.repeat(values, 3, axis=2)
    return np.ascontiguousarray(values, dtype=np.float32)


def _to_unit_float(array: np.ndarray) -> np.ndarray:
    dtype = array.dtype
    if dtype == np.bool_:
        return array.astype(np.float32)
    if dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if dtype == np.uint16:
        return array.astype(np.float32) / 65535.0
    if np.issubdtype(dtype, np.integer):  # int32/int64 from some readers: 8-bit or 16-bit range by content
        top = 255.0 if int(array.max()) <= 255 else 65535.0
        return np.clip(array.astype(np.float32) / top, 0.0, 1.0)
    if np.issubdtype(dtype, np.floating):
        values = array.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageInputError("image.not_finite")
        if float(values.max()) > 1.0 + 1e-6:  # floats on a 0..255 scale
            values = values / 255.0
        return np.clip(values, 0.0, 1.0)
    raise ImageInputError("image.bad_array", shape=tuple(array.shape), dtype=str(dtype))


def _shrink(values: np.ndarray) -> np.ndarray:
    """Area-average (H, W, C) floats so that the longer side is at most WORKING_SIDE."""
    height, width = values.shape[:2]
    factor = int(np.ceil(max(height, width) / WORKING_SIDE))
    if factor <= 1:
        return values
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(values[:, :, index]), mode="F").reduce(factor))
                for index in range(values.shape[2])]
    return np.stack(channels, axis=2)


def _composite(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Colour (H, W, 3) over the background that contrasts with it (see load_user_image); alpha (H, W, 1)."""
    weight = float(alpha.sum())
    if weight < 1e-3:
        raise ImageInputError("image.transparent")
    if float(alpha.min()) >= 1.0 - 1e-6:
        return colour
    content = float(((colour @ LUMINANCE)[:, :, None] * alpha).sum() / weight)  # mean grey of what is drawn
    background = 1.0 if content < 0.5 else 0.0
    return colour * alpha + background * (1.0 - alpha)


# ---------------------------------------------------------------------------------------- preparation


def luminance(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) floats → (H, W) grey, BT.601 weights."""
    return image @ LUMINANCE


def needs_inversion(image: np.ndarray) -> bool:
    """True when the picture's border is mostly light: dark strokes on light paper, the opposite of MNIST."""
    grey = luminance(image) if image.ndim == 3 else image
    return bool(np.median(_border(grey)) > 0.5)


def _border(grey: np.ndarray) -> np.ndarray:
    height, width = grey.shape
    band = max(1, min(height, width) // 16)
    return np.concatenate([grey[:band].ravel(), grey[-band:].ravel(), grey[:, :band].ravel(), grey[:, -band:].ravel()])


def default_style(channels: int, image_size: int, dataset: str | None = None) -> str:
    """'digit' (MNIST's recipe) for one-channel 28×28 models of handwriting, else 'square'."""
    if channels == 1 and image_size == DIGIT_FIELD and dataset not in ("fashion-mnist",):
        return "digit"
    return "square"


def to_model_input(image: np.ndarray, channels: int, image_size: int, *, style: str = "auto",
                   invert: bool | None = None) -> torch.Tensor:
    """A loaded picture (H, W, 3) float in [0, 1] → (1, channels, image_size, image_size) float32 in [0, 1].

    style: "digit" = MNIST's recipe (strokes' bounding box → 20 px longer side, pasted so the centre of mass
        is at (14, 14) of a 28×28 field; needs image_size 28), "square" = centre-crop a square and resize,
        "auto" = default_style(channels, image_size).
    invert: flip light and dark; None decides by itself for one-channel models (needs_inversion: a light
        border means dark strokes on paper) and never inverts colour models.
    Raises ImageInputError("image.blank") in the digit style when no strokes stand out.
    """
    if style not in STYLES:
        raise ValueError(f"style = {style!r} is not accepted: expected one of {STYLES}")
    if channels not in (1, 3):
        raise ValueError(f"channels = {channels!r} is not accepted: expected 1 or 3")
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) floats from load_user_image; got shape {image.shape}")
    if style == "auto":
        style = default_style(channels, image_size)
    if invert is None:
        invert = channels == 1 and needs_inversion(image)
    if style == "digit":
        if image_size != DIGIT_FIELD:
            raise ValueError(f"the digit style makes {DIGIT_FIELD}×{DIGIT_FIELD} inputs; image_size = {image_size}")
        grey = luminance(image)
        field = _mnist_field(1.0 - grey if invert else grey)
        planes = field[None] if channels == 1 else np.repeat(field[None], 3, axis=0)
        return torch.from_numpy(np.ascontiguousarray(planes, dtype=np.float32))[None]
    picture = _square(image, image_size)  # (S, S, 3)
    if channels == 1:
        grey = luminance(picture)
        planes = (1.0 - grey if invert else grey)[None]
    else:
        planes = (1.0 - picture if invert else picture).transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(np.clip(planes, 0.0, 1.0), dtype=np.float32))[None]


def _resize(plane: np.ndarray, width: int, height: int, box: tuple[float, float, float, float] | None = None
            ) -> np.ndarray:
    """One float (H, W) plane resized with Lanczos (antialiased when shrinking), clipped to [0, 1]."""
    picture = Image.fromarray(np.ascontiguousarray(plane, dtype=np.float32), mode="F")
    resized = picture.resize((width, height), Image.Resampling.LANCZOS, box=box)
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _square(image: np.ndarray, size: int) -> np.ndarray:
    height, width = image.shape[:2]
    side = min(height, width)
    left, top = (width - side) / 2, (height - side) / 2
    box = (left, top, left + side, top + side)
    return np.stack([_resize(image[:, :, index], size, size, box) for index in range(3)], axis=2)


def _mnist_field(grey: np.ndarray) -> np.ndarray:
    """Light strokes on dark (H, W) → the 28×28 MNIST-style field (see to_model_input)."""
    floor = float(np.median(_border(grey)))  # background level (strokes may touch the border)
    top = float(grey.max())
    if top - floor < 0.05:
        raise ImageInputError("image.blank")
    ink = np.clip((grey - floor) / (top - floor), 0.0, 1.0)
    rows, columns = np.nonzero(ink > 0.25)
    top_row, bottom_row = rows.min(), rows.max() + 1
    left_column, right_column = columns.min(), columns.max() + 1
    crop = ink[top_row:bottom_row, left_column:right_column]
    height, width = crop.shape
    scale = DIGIT_BOX / max(height, width)
    new_height, new_width = max(1, round(height * scale)), max(1, round(width * scale))
    patch = _resize(crop, new_width, new_height)
    if patch.max() <= 0:
        raise ImageInputError("image.blank")
    patch = patch / patch.max()  # MNIST strokes reach full white
    mass = patch.sum()
    y_grid, x_grid = np.mgrid[0:new_height, 0:new_width]
    centre_y, centre_x = float((patch * y_grid).sum() / mass), float((patch * x_grid).sum() / mass)
    middle = DIGIT_FIELD / 2  # MNIST's mean centre of mass is (14.0, 14.0) in pixel indices
    top = int(np.clip(round(middle - centre_y), 0, DIGIT_FIELD - new_height))  # stay inside rather than cut
    left = int(np.clip(round(middle - centre_x), 0, DIGIT_FIELD - new_width))
    field = np.zeros((DIGIT_FIELD, DIGIT_FIELD), dtype=np.float32)
    field[top:top + new_height, left:left + new_width] = patch
    return field


def center_of_mass(plane: np.ndarray | torch.Tensor) -> tuple[float, float]:
    """(row, column) centre of mass of a non-negative (H, W) plane, in pixel indices."""
    plane = np.asarray(plane, dtype=np.float64)
    y_grid, x_grid = np.mgrid[0:plane.shape[0], 0:plane.shape[1]]
    mass = plane.sum()
    return float((plane * y_grid).sum() / mass), float((plane * x_grid).sum() / mass)
