"""Pictures from users: every odd input is read or refused with a clear message, and MNIST-style preparation."""

import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from genimg.data.pictures import (
    DIGIT_BOX,
    MAX_PIXELS,
    MESSAGES_EN,
    MESSAGES_ZH,
    ImageInputError,
    center_of_mass,
    load_user_image,
    needs_inversion,
    to_model_input,
)


def stroke_picture(size: int = 280, ink: int = 255, paper: int = 0, offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """A thick "7" in grey level `ink` on `paper`, shifted by `offset` pixels (scaled to `size`)."""
    picture = Image.new("L", (size, size), paper)
    draw = ImageDraw.Draw(picture)
    scale = size / 280
    dx, dy = offset
    points = [(60 + dx, 50 + dy), (200 + dx, 50 + dy), (110 + dx, 230 + dy)]
    draw.line([(x * scale, y * scale) for x, y in points], fill=ink, width=max(1, round(18 * scale)))
    return picture


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares width × height pixels (the data never gets decoded)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
            + chunk(b"IEND", b""))


def test_messages_exist_in_both_languages():
    assert set(MESSAGES_EN) == set(MESSAGES_ZH)
    for key in MESSAGES_EN:
        assert set(_placeholders(MESSAGES_EN[key])) == set(_placeholders(MESSAGES_ZH[key])), key


def _placeholders(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def test_arrays_of_every_kind():
    base = np.asarray(stroke_picture(64))  # uint8 (64, 64)
    reference = load_user_image(base)
    assert reference.dtype == np.float32 and reference.shape == (64, 64, 3)
    assert reference.min() == 0.0 and reference.max() == 1.0
    variants = [base[:, :, None], np.repeat(base[:, :, None], 3, axis=2), base.astype(np.uint16) * 257,
                base.astype(np.float64) / 255, base.astype(np.float32), base.astype(np.int64), base > 127,
                np.dstack([np.repeat(base[:, :, None], 3, axis=2), np.full_like(base, 255)])]
    for variant in variants:
        image = load_user_image(variant)
        assert image.shape == (64, 64, 3)
        assert np.abs(image - reference).max() <= 1.0 / 255 + 1e-6 or variant.dtype == np.bool_


def test_bad_arrays_and_types_are_refused():
    for bad in (np.zeros((4, 4, 5)), np.zeros((2, 3, 4, 4)), np.zeros((0, 5)), np.array(["a", "b"])):
        with pytest.raises(ImageInputError) as caught:
            load_user_image(bad)
        assert caught.value.key == "image.bad_array"
    with pytest.raises(ImageInputError, match="not numbers") as caught:
        load_user_image(np.full((8, 8), np.nan))
    assert caught.value.key == "image.not_finite"
    with pytest.raises(ImageInputError) as caught:
        load_user_image(12)
    assert caught.value.key == "image.bad_type" and caught.value.values == {"kind": "int"}
    with pytest.raises(ImageInputError, match="draw one or upload"):
        load_user_image(None)


def test_sketch_dicts():
    canvas = np.zeros((280, 280), np.uint8)
    for empty in ({"background": canvas, "layers": [], "composite": None}, {"composite": canvas},
                  {"composite": np.full((280, 280, 3), 255, np.uint8)},
                  {"composite": np.zeros((280, 280, 4), np.uint8)}):  # fully transparent RGBA
        with pytest.raises(ImageInputError) as caught:
            load_user_image(empty)
        assert caught.value.key == "image.empty_sketch"
    drawn = np.asarray(stroke_picture())
    image = load_user_image({"background": canvas, "layers": [drawn], "composite": drawn})
    assert image.shape == (280, 280, 3) and image.max() == 1.0
    # Gradio's default RGBA sketch: white strokes on a transparent background land on black
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[drawn > 0] = (255, 255, 255, 255)
    assert np.array_equal(load_user_image({"composite": rgba}), image)


def test_transparency_lands_on_the_contrasting_colour():
    mask = np.asarray(stroke_picture(64)) > 0
    dark_strokes = np.zeros((64, 64, 4), np.uint8)
    dark_strokes[mask] = (0, 0, 0, 255)  # black ink on a transparent background → white paper
    image = load_user_image(dark_strokes)
    assert image[0, 0].tolist() == [1.0, 1.0, 1.0] and image[mask].max() == 0.0
    light_strokes = dark_strokes.copy()
    light_strokes[mask] = (255, 255, 255, 255)
    assert load_user_image(light_strokes)[0, 0].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ImageInputError) as caught:
        load_user_image(np.zeros((8, 8, 4), np.uint8))
    assert caught.value.key == "image.transparent"


def test_files_of_every_mode(tmp_path):
    grey = stroke_picture(96)
    reference = load_user_image(np.asarray(grey))
    sixteen = Image.fromarray(np.asarray(grey).astype(np.uint16) * 257)
    assert sixteen.mode.startswith("I;16")
    rgba = grey.convert("RGBA")
    cases = {"grey.png": grey, "sixteen.png": sixteen, "rgba.png": rgba, "palette.png": grey.convert("P"),
             "la.png": grey.convert("LA"), "one.png": grey.point(lambda v: 255 if v > 127 else 0).convert("1"),
             "cmyk.jpg": grey.convert("CMYK"), "rgb.webp": grey.convert("RGB"), "grey.bmp": grey,
             "grey.gif": grey}
    for name, picture in cases.items():
        path = tmp_path / name
        picture.save(path, **({"quality": 95} if name.endswith("jpg") else {}))
        image = load_user_image(str(path))
        assert image.shape == (96, 96, 3) and image.dtype == np.float32, name
        tolerance = 0.2 if name.endswith(("jpg", "webp")) else 1.0 / 255 + 1e-6
        assert np.abs(image - reference).mean() < tolerance / 4 and np.abs(image - reference).max() <= max(
            tolerance, 0.7 if name == "one.png" else 0), name
    assert load_user_image(tmp_path / "grey.png").shape == (96, 96, 3)  # os.PathLike works too


def test_exif_orientation_is_applied(tmp_path):
    wide = Image.new("L", (60, 20), 0)
    wide.paste(255, (0, 0, 10, 20))  # a white bar on the left
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = tmp_path / "rotated.jpg"
    wide.save(path, exif=exif, quality=95)
    image = load_user_image(str(path))
    assert image.shape == (60, 20, 3)  # upright: tall
    assert image[:10].mean() > 0.8 and image[-10:].mean() < 0.2  # the bar is now at the top


def test_huge_pictures_are_shrunk_early(tmp_path):
    big = stroke_picture(3000)
    path = tmp_path / "big.png"
    big.save(path)
    image = load_user_image(str(path))
    assert max(image.shape[:2]) <= 1024
    jpeg = tmp_path / "big.jpg"
    big.save(jpeg, quality=90)
    assert max(load_user_image(str(jpeg)).shape[:2]) <= 1024
    assert max(load_user_image(np.asarray(big)).shape[:2]) <= 1024


def test_decompression_bombs_and_non_pictures_are_refused(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(png_declaring(100_000, 100_000))  # 10 gigapixels declared in 80 bytes: PIL's own check
    with pytest.raises(ImageInputError, match="megapixels") as caught:
        load_user_image(str(bomb))
    assert caught.value.key == "image.too_large" and caught.value.values["megapixels"] == "10,000.0"
    mid = tmp_path / "mid.png"
    mid.write_bytes(png_declaring(8000, 6000))  # 48 MP: below PIL's limit, above ours
    with pytest.raises(ImageInputError) as caught:
        load_user_image(str(mid))
    assert caught.value.key == "image.too_large" and MAX_PIXELS < 48_000_000
    with pytest.raises(ImageInputError) as caught:
        load_user_image(np.zeros((8000, 6000), np.bool_))
    assert caught.value.key == "image.too_large"

    text = tmp_path / "notes.png"
    text.write_text("this is not a picture\n" * 10)
    with pytest.raises(ImageInputError) as caught:
        load_user_image(str(text))
    assert caught.value.key == "image.unreadable"
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ImageInputError) as caught:
        load_user_image(str(empty))
    assert caught.value.key == "image.empty_file"
    truncated = tmp_path / "truncated.png"
    stroke_picture(200).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:300])
    with pytest.raises(ImageInputError) as caught:
        load_user_image(str(truncated))
    assert caught.value.key == "image.unreadable"
    with pytest.raises(ImageInputError) as caught:
        load_user_image(str(tmp_path / "missing.png"))
    assert caught.value.key == "image.unreadable"


def test_mnist_style_preparation_centres_by_mass():
    for offset in [(0, 0), (-50, -40), (60, 30)]:
        picture = load_user_image(np.asarray(stroke_picture(280, offset=offset)))
        tensor = to_model_input(picture, channels=1, image_size=28)
        assert tensor.shape == (1, 1, 28, 28) and tensor.dtype == torch.float32
        assert 0.0 <= float(tensor.min()) and float(tensor.max()) == pytest.approx(1.0)
        plane = tensor[0, 0].numpy()
        row, column = center_of_mass(plane)
        assert abs(row - 14) <= 0.6 and abs(column - 14) <= 0.6
        rows, columns = np.nonzero(plane > 0.05)
        assert max(np.ptp(rows), np.ptp(columns)) + 1 in (DIGIT_BOX, DIGIT_BOX + 1, DIGIT_BOX + 2)  # Lanczos spill


def test_dark_ink_on_paper_is_inverted():
    light_on_dark = load_user_image(np.asarray(stroke_picture()))
    dark_on_light = load_user_image(np.asarray(stroke_picture(ink=20, paper=235)))  # a photo of paper: not pure
    assert needs_inversion(dark_on_light) and not needs_inversion(light_on_dark)
    expected = to_model_input(light_on_dark, 1, 28)
    got = to_model_input(dark_on_light, 1, 28)
    assert float((got - expected).abs().max()) < 0.05
    forced = to_model_input(light_on_dark, 1, 28, style="square", invert=True)
    assert float(forced[0, 0, 0, 0]) == pytest.approx(1.0)


def test_blank_pictures_are_refused_by_the_digit_recipe():
    with pytest.raises(ImageInputError) as caught:
        to_model_input(load_user_image(np.full((50, 50), 200, np.uint8)), 1, 28)
    assert caught.value.key == "image.blank"


def test_colour_and_other_sizes_crop_a_square():
    picture = np.zeros((40, 80, 3), np.float32)
    picture[:, 20:60] = (1.0, 0.0, 0.0)  # the centre square is red, the sides black
    tensor = to_model_input(picture, channels=3, image_size=32)
    assert tensor.shape == (1, 3, 32, 32)
    assert float(tensor[0, 0].mean()) > 0.95 and float(tensor[0, 1:].abs().max()) < 0.05
    grey = to_model_input(picture, channels=1, image_size=32)
    assert grey.shape == (1, 1, 32, 32) and float(grey.mean()) == pytest.approx(0.299, abs=0.02)
    with pytest.raises(ValueError, match="style"):
        to_model_input(picture, 1, 28, style="fancy")
    with pytest.raises(ValueError, match="28"):
        to_model_input(picture, 1, 32, style="digit")
