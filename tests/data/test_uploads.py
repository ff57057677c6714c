"""Tests for genimg.data.uploads: uploaded ZIPs of pictures read in memory, and hostile archives refused or skipped."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.data import uploads
from genimg.data.datasets import load_dataset
from genimg.data.uploads import UploadError, load_zip


def png_bytes(picture: Image.Image, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    picture.save(buffer, format=format)
    return buffer.getvalue()


def solid_png(colour: tuple[int, int, int], size: tuple[int, int] = (12, 12)) -> bytes:
    return png_bytes(Image.new("RGB", size, colour))


def write_zip(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, payload in members.items():
            archive.writestr(name, payload)
    return path


def patch_directory_entry(path: Path, name: str, offset: int, value: int, size_format: str = "<L") -> None:
    """Overwrite one field of `name`'s central directory entry (offsets as in the ZIP format's APPNOTE)."""
    content = bytearray(path.read_bytes())
    position = content.find(b"PK\x01\x02")
    while position >= 0:
        name_length = struct.unpack_from("<H", content, position + 28)[0]
        if content[position + 46 : position + 46 + name_length] == name.encode():
            struct.pack_into(size_format, content, position + offset, value)
            path.write_bytes(bytes(content))
            return
        position = content.find(b"PK\x01\x02", position + 4)
    raise AssertionError(f"{name} not in the archive's directory")


def png_declaring(width: int, height: int, pixel_data: bytes = b"") -> bytes:
    """A 1-bit grayscale PNG header declaring width x height pixels, with the given compressed rows."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixel_data) + chunk(b"IEND", b"")


def all_files(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*")}


# ----------------------------------------------------------------------------------------------
# Good archives


def test_flat_zip_of_pngs(tmp_path):
    colours = {"b.png": (0, 255, 0), "a.png": (255, 0, 0), "c.png": (0, 0, 255), "d.jpg": (255, 255, 255)}
    path = write_zip(tmp_path / "flat.zip", {name: png_bytes(Image.new("RGB", (20, 10), colour),
                                                              "JPEG" if name.endswith(".jpg") else "PNG")
                                             for name, colour in colours.items()})
    data = load_zip(path, image_size=8, channels=3)
    assert data.images.shape == (4, 3, 8, 8) and data.images.dtype == torch.uint8 and data.images.is_contiguous()
    assert data.labels is None and data.class_names == [] and data.name == "upload:flat.zip" and data.notes == []
    assert data.images[0, 0].min() == 255 and data.images[0, 1:].max() == 0  # sorted: a.png (red) first
    assert data.images[1, 1].min() == 255  # then b.png (green)
    gray = load_zip(str(path), image_size=4, channels=1)
    assert gray.images.shape == (4, 1, 4, 4)


def test_image_folder_layout_gives_classes(tmp_path):
    members = {
        "pets/cats/one.png": solid_png((200, 10, 10)),
        "pets/cats/two.png": solid_png((210, 10, 10)),
        "pets/dogs/three.png": solid_png((10, 200, 10)),
        "pets/loose.png": solid_png((0, 0, 0)),
        "pets/readme.txt": b"not a picture",
        "__MACOSX/pets/cats/._one.png": b"resource fork",
        "pets/.DS_Store": b"finder",
    }
    data = load_zip(write_zip(tmp_path / "pets.zip", members), image_size=8, channels=3)
    assert data.class_names == ["cats", "dogs"] and data.num_classes == 2
    assert data.labels.dtype == torch.int64 and data.labels.tolist() == [0, 0, 1]
    assert data.images[2, 1].float().mean() > 150  # the dog is green
    assert any("loose.png" in note and "Left out 1" in note for note in data.notes)


def test_more_folders_than_the_class_cap_read_unlabeled(tmp_path, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_CLASSES", 2)
    members = {f"{folder}/x.png": solid_png((50, 50, 50)) for folder in ("a", "b", "c")}
    data = load_zip(write_zip(tmp_path / "albums.zip", members), image_size=4, channels=3)
    assert data.labels is None and data.class_names == [] and len(data) == 3
    assert any("3 folders" in note for note in data.notes)


def test_modes_converted_exactly_like_a_folder_dataset(tmp_path):
    folder = tmp_path / "pictures"
    folder.mkdir()
    rgba = np.zeros((16, 16, 4), dtype=np.uint8)
    rgba[:, 8:] = (255, 0, 0, 128)  # left half fully transparent, right half half-transparent red
    Image.fromarray(rgba, mode="RGBA").save(folder / "a_rgba.png")
    Image.new("P", (16, 16), 0).save(folder / "b_palette.gif")
    deep = np.full((16, 16), 128 * 257, dtype=np.uint16)
    Image.fromarray(deep).save(folder / "c_gray16.png")
    Image.new("L", (16, 16), 77).save(folder / "d_gray.png")
    Image.new("CMYK", (16, 16), (0, 255, 255, 0)).save(folder / "e_cmyk.jpg")
    Image.new("1", (16, 16), 1).save(folder / "f_bilevel.bmp")
    path = write_zip(tmp_path / "modes.zip", {item.name: item.read_bytes() for item in sorted(folder.iterdir())})

    for channels in (1, 3):
        uploaded = load_zip(path, image_size=8, channels=channels)
        from_folder = load_dataset(f"folder:{folder}", image_size=8, channels=channels)
        assert torch.equal(uploaded.images, from_folder.images)
    rgb = load_zip(path, image_size=8, channels=3).images
    assert rgb[0, :, :, :3].max() == 0 and (rgb[0, 0, :, 5:].int() - 128).abs().max() <= 2  # transparent -> black
    assert (rgb[2] == 128).all() and (rgb[3] == 77).all() and (rgb[5] == 255).all()
    assert (rgb[4, 0] > 200).all() and (rgb[4, 1:] < 60).all()  # CMYK red -> RGB red


# ----------------------------------------------------------------------------------------------
# Files that are not usable archives


def test_missing_or_empty_path_and_bad_arguments(tmp_path):
    for path in (None, "", "  "):
        with pytest.raises(UploadError, match="no file was uploaded"):
            load_zip(path, image_size=8, channels=3)
    with pytest.raises(UploadError, match="missing.zip was not found"):
        load_zip(tmp_path / "missing.zip", image_size=8, channels=3)
    good = write_zip(tmp_path / "good.zip", {"a.png": solid_png((1, 2, 3))})
    with pytest.raises(UploadError, match="channels=2"):
        load_zip(good, image_size=8, channels=2)
    with pytest.raises(UploadError, match="image_size=2"):
        load_zip(good, image_size=2, channels=3)
    with pytest.raises(UploadError, match="max_images=0"):
        load_zip(good, image_size=8, channels=3, max_images=0)


@pytest.mark.parametrize("content", [b"", b"hello, this is a text file\n" * 20, b"\x89PNG\r\n\x1a\n" + bytes(100)])
def test_not_a_zip_is_refused(tmp_path, content):
    path = tmp_path / "renamed.zip"
    path.write_bytes(content)
    with pytest.raises(UploadError) as caught:
        load_zip(path, image_size=8, channels=3)
    assert "renamed.zip is not a readable ZIP archive" in str(caught.value) and ".png" in str(caught.value)


def test_empty_zip_and_zip_without_pictures(tmp_path):
    with pytest.raises(UploadError) as caught:
        load_zip(write_zip(tmp_path / "empty.zip", {}), image_size=8, channels=3)
    message = str(caught.value)
    assert "no pictures found in empty.zip" in message and ".png" in message and ".webp" in message
    others = write_zip(tmp_path / "documents.zip", {"notes.txt": b"text", "data.csv": b"1,2", "cat.tiff": b"II*"})
    with pytest.raises(UploadError) as caught:
        load_zip(others, image_size=8, channels=3)
    assert "documents.zip" in str(caught.value) and "3 other files" in str(caught.value) and ".jpg" in str(caught.value)


def test_archive_over_the_size_limit_is_refused(tmp_path):
    path = write_zip(tmp_path / "big.zip", {"a.png": solid_png((1, 2, 3), (64, 64))})
    with pytest.raises(UploadError, match=r"big.zip is .* over the 100 bytes limit"):
        load_zip(path, image_size=8, channels=3, max_archive_bytes=100)


def test_an_archive_over_the_installations_upload_cap_is_refused_by_default(tmp_path, monkeypatch):
    """A 21 MB upload is refused before it is opened: the default cap is the page's (GENIMG_UPLOAD_MB, 20)."""
    monkeypatch.delenv("GENIMG_UPLOAD_MB", raising=False)
    pictures = {f"{index:03d}.bmp": png_bytes(Image.effect_noise((768, 768), 64).convert("RGB"), "BMP")
                for index in range(13)}  # 13 noisy 1.7 MB pictures, stored: about 21 MB
    path = write_zip(tmp_path / "class.zip", pictures, compression=zipfile.ZIP_STORED)
    assert 20 * 2**20 < path.stat().st_size < 22 * 2**20
    with pytest.raises(UploadError, match=r"class.zip is 2\d\.\d MiB, over the 20.0 MiB limit"):
        load_zip(path, image_size=8, channels=3)
    monkeypatch.setenv("GENIMG_UPLOAD_MB", "25")  # an installation that accepts more reads it
    assert len(load_zip(path, image_size=8, channels=3)) == 13


def test_too_many_entries_are_refused(tmp_path, monkeypatch):
    members = {f"{index:02d}.png": b"" for index in range(11)}
    path = write_zip(tmp_path / "many.zip", members)
    assert uploads._count_directory_entries(path, path.stat().st_size, 100) == 11
    monkeypatch.setattr(uploads, "MAX_ARCHIVE_MEMBERS", 10)
    with pytest.raises(UploadError, match="many.zip holds more than 10 entries"):
        load_zip(path, image_size=8, channels=3)


def test_encrypted_pictures_are_refused(tmp_path):
    path = write_zip(tmp_path / "secret.zip", {"a.png": solid_png((1, 2, 3))})
    patch_directory_entry(path, "a.png", 8, 0x1, "<H")  # general purpose flags: bit 0 = encrypted
    with pytest.raises(UploadError, match=r"secret.zip holds password-protected pictures \(e.g. a.png\)"):
        load_zip(path, image_size=8, channels=3)


# ----------------------------------------------------------------------------------------------
# Zip bombs


def test_total_uncompressed_size_over_the_limit_is_refused(tmp_path):
    path = write_zip(tmp_path / "zeros.zip", {"zeros.bmp": bytes(5 * 2**20), "a.png": solid_png((1, 2, 3))})
    assert path.stat().st_size < 100_000
    with pytest.raises(UploadError) as caught:
        load_zip(path, image_size=8, channels=3, max_total_uncompressed=2**20)
    message = str(caught.value)
    assert "zeros.zip looks like a zip bomb" in message and "5.0 MiB" in message and "1.0 MiB limit" in message


def test_absurd_compression_ratio_is_refused(tmp_path):
    path = write_zip(tmp_path / "ratio.zip", {"zeros.bmp": bytes(5 * 2**20)}, compression=zipfile.ZIP_BZIP2)
    with pytest.raises(UploadError) as caught:
        load_zip(path, image_size=8, channels=3)
    assert "ratio.zip looks like a zip bomb: zeros.bmp declares 5.0 MiB" in str(caught.value)
    assert "1,100 to 1" in str(caught.value)


def test_member_whose_header_understates_its_size_is_refused(tmp_path):
    path = write_zip(tmp_path / "liar.zip", {"a.png": solid_png((1, 2, 3)), "big.png": bytes(300_000)})
    patch_directory_entry(path, "big.png", 24, 1_000)  # the uncompressed size zipfile trusts
    with pytest.raises(UploadError) as caught:
        load_zip(path, image_size=8, channels=3)
    assert "liar.zip looks like a zip bomb: big.png unpacks to more than the 1000 bytes its header declares" in str(
        caught.value
    )


def test_members_over_the_member_limit_are_skipped(tmp_path):
    path = write_zip(tmp_path / "mixed.zip", {"a.png": solid_png((1, 2, 3)), "large.bmp": bytes(50_000)})
    data = load_zip(path, image_size=8, channels=3, max_member_bytes=10_000)
    assert len(data) == 1
    assert any("Skipped 1 files larger than 9.8 KiB" in note and "large.bmp" in note for note in data.notes)


def test_decompression_bomb_pictures_are_skipped(tmp_path):
    compressor = zlib.compressobj(9)
    rows = bytes(2_501 * 1_000)  # 1,000 rows of 20,000 one-bit pixels, each with its filter byte
    pixel_data = b"".join(compressor.compress(rows) for _ in range(20)) + compressor.flush()
    huge = png_declaring(20_000, 20_000, pixel_data)  # 400 megapixels in a few tens of kilobytes
    over_our_limit = png_declaring(8_000, 6_000)  # 48 megapixels: under PIL's own guard, over genimg's
    assert len(huge) < 100_000
    path = write_zip(tmp_path / "bombs.zip", {"a.png": solid_png((1, 2, 3)), "huge.png": huge, "wide.png": over_our_limit})
    data = load_zip(path, image_size=8, channels=3)
    assert len(data) == 1
    notes = " ".join(data.notes)
    assert "Skipped 2 pictures larger than 40 megapixels" in notes and "huge.png" in notes and "wide.png" in notes
    with pytest.raises(UploadError) as caught:
        load_zip(write_zip(tmp_path / "only.zip", {"huge.png": huge}), image_size=8, channels=3)
    assert "none of the 1 pictures in only.zip could be used" in str(caught.value) and "megapixels" in str(caught.value)


# ----------------------------------------------------------------------------------------------
# Hostile names and damaged pictures


def test_escaping_names_and_links_are_never_used(tmp_path, monkeypatch):
    work = tmp_path / "work" / "deeper"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    escape = solid_png((255, 255, 255))
    path = tmp_path / "work" / "hostile.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("good.png", solid_png((0, 0, 0)))
        for name in ("../../escape.png", "/tmp/escape-absolute.png", "C:/escape.png", "..\\..\\escape-back.png",
                     "ok/../../escape.png"):
            archive.writestr(name, escape)
        link = zipfile.ZipInfo("link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    before = all_files(tmp_path)

    data = load_zip(path, image_size=8, channels=3)
    assert len(data) == 1 and data.images.max() == 0  # only good.png, which is black; the escapes are white
    notes = " ".join(data.notes)
    assert "Skipped 5 entries whose names point outside the archive" in notes and "Skipped 1 symbolic links" in notes
    assert all_files(tmp_path) == before
    assert not (tmp_path / "escape.png").exists() and not (tmp_path / "work" / "escape.png").exists()
    assert not Path("/tmp/escape-absolute.png").exists()


def test_corrupt_pictures_among_good_ones_are_skipped_and_counted(tmp_path):
    good = solid_png((9, 9, 9))
    members = {"a.png": good, "b_text.png": b"just text", "c_truncated.png": good[: len(good) // 2],
               "d_bad_crc.png": good, "e.png": good, "f_empty.jpg": b""}
    path = write_zip(tmp_path / "damaged.zip", members)
    patch_directory_entry(path, "d_bad_crc.png", 16, 12345)  # a CRC that does not match the data
    data = load_zip(path, image_size=8, channels=1)
    assert data.images.shape == (2, 1, 8, 8) and (data.images == 9).all()
    notes = " ".join(data.notes)
    assert "Skipped 4 unreadable or corrupt files" in notes and "b_text.png" in notes
    only_broken = write_zip(tmp_path / "broken.zip", {"x.png": b"not a picture"})
    with pytest.raises(UploadError, match=r"none of the 1 pictures in broken.zip could be used. Skipped 1 unreadable"):
        load_zip(only_broken, image_size=8, channels=3)


def test_max_images_caps_in_sorted_order(tmp_path):
    members = {f"{index}.png": solid_png((index * 30, 0, 0)) for index in reversed(range(7))}
    data = load_zip(write_zip(tmp_path / "seven.zip", members), image_size=4, channels=3, max_images=3)
    assert data.images.shape == (3, 3, 4, 4)
    assert [int(value) for value in data.images[:, 0, 0, 0]] == [0, 30, 60]
    assert any("Used the first 3 of 7 pictures" in note for note in data.notes)
