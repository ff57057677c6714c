"""A user's uploaded ZIP of pictures read in memory into a training set, guarded against hostile archives."""

from __future__ import annotations

import copy
import io
import os
import re
import stat
import struct
import zipfile
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch

from genimg.data.datasets import (
    FOLDER_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    IMAGE_SIZE_RANGE,
    DatasetError,
    ImageData,
    _check_memory,
    _is_hidden,
    _picture_to_array,
    _PictureTooLarge,
)
from genimg.store.limits import upload_limit_bytes

UPLOAD_PREFIX = "upload:"
MAX_ARCHIVE_MEMBERS = 100_000  # entries in the archive's directory, pictures or not
MAX_CLASSES = 100  # more class folders than this are more likely dates or albums than classes: read unlabeled
# Deflate, the method nearly every zip tool uses, cannot pack more than about 1032 bytes into one; a member
# claiming more is a lying header or another method chosen to make a bomb. Flat BMPs stay below it.
MAX_COMPRESSION_RATIO = 1_100
_RATIO_CHECK_FLOOR = 64 * 1024  # members that unpack to less than this cannot hurt, whatever their ratio
_DECODE_BATCH_BYTES = 128 * 1024**2  # compressed picture bytes held at once while decoding
_SHOWN_NAME_LENGTH = 80
_CLASS_NAME_LENGTH = 64

# Archive directory records (the ZIP format's APPNOTE), read to count entries before zipfile builds an
# object for each one: a 200 MiB archive of empty entries would otherwise cost gigabytes.
_END_RECORD = struct.Struct("<4s4H2LH")  # signature, disks, entries on disk, entries, directory size, offset, comment
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_DIRECTORY_ENTRY_SIZE = 46  # the fixed part of one directory entry; name, extra field and comment follow it
_AES_COMPRESSION = 99  # WinZip AES encryption shows up as this compression method
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


class UploadError(ValueError):
    """An uploaded archive cannot be used; the message says what is wrong and what would be accepted."""


class _HeaderLies(Exception):
    pass


def _size_text(byte_count: int) -> str:
    for unit, scale in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if byte_count >= scale:
            return f"{byte_count / scale:.1f} {unit}"
    return f"{byte_count} bytes"


def _shown(name: str) -> str:
    """An archive name made safe to show: printable characters only, shortened."""
    printable = "".join(character if character.isprintable() else "?" for character in name)
    return printable if len(printable) <= _SHOWN_NAME_LENGTH else printable[: _SHOWN_NAME_LENGTH - 3] + "..."


def _examples(names: list[str]) -> str:
    return ", ".join(_shown(name) for name in names[:3]) + (", ..." if len(names) > 3 else "")


def _check_argument(value: object, what: str, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (high is not None and value > high):
        accepted = f"an integer from {low} to {high}" if high is not None else f"an integer >= {low}"
        raise UploadError(f"{what}={value!r} is not valid; expected {accepted}")


def _name_parts(name: str) -> tuple[str, ...] | None:
    """The folder and file components of an archive name; None when the name reaches outside the archive.

    Absolute names, drive letters and '..' components are how an archive tries to make an unpacking
    tool write elsewhere; genimg never writes members anywhere, and does not read these at all.
    """
    normal = name.replace("\\", "/")  # some Windows tools store backslashes
    if normal.startswith("/") or _DRIVE_LETTER.match(normal) or "\x00" in normal:
        return None
    parts = tuple(part for part in normal.split("/") if part not in ("", "."))
    if not parts or ".." in parts:
        return None
    return parts


def _count_directory_entries(path: Path, archive_bytes: int, ceiling: int) -> int | None:
    """How many entries the archive's central directory holds, counting no further than ceiling + 1.

    None when the directory cannot be found; zipfile then decides whether the file is a zip at all.
    """
    with path.open("rb") as file:
        tail_length = min(archive_bytes, _END_RECORD.size + 65_535)  # the end record, then a comment of up to 64 KiB
        file.seek(archive_bytes - tail_length)
        tail = file.read(tail_length)
        found = tail.rfind(b"PK\x05\x06")
        if found < 0 or found + _END_RECORD.size > len(tail):
            return None
        fields = _END_RECORD.unpack_from(tail, found)
        directory_size = fields[5]
        directory_end = archive_bytes - tail_length + found
        if 0xFFFF in fields[1:5] or 0xFFFFFFFF in fields[5:7]:  # a ZIP64 archive keeps the true values in another record
            locator_at = directory_end - _ZIP64_LOCATOR.size
            end_at = locator_at - _ZIP64_END_RECORD.size
            if end_at >= 0:
                file.seek(end_at)
                record = file.read(_ZIP64_END_RECORD.size + _ZIP64_LOCATOR.size)
                if record[:4] == b"PK\x06\x06" and record[_ZIP64_END_RECORD.size:][:4] == b"PK\x06\x07":
                    directory_size = _ZIP64_END_RECORD.unpack_from(record)[8]
                    directory_end = end_at
        position = directory_end - directory_size
        if position < 0:
            return None
        file.seek(position)
        count = 0
        while count <= ceiling and position + _DIRECTORY_ENTRY_SIZE <= directory_end:
            entry = file.read(_DIRECTORY_ENTRY_SIZE)
            if len(entry) < _DIRECTORY_ENTRY_SIZE or entry[:4] != b"PK\x01\x02":
                break
            name_length, extra_length, comment_length = struct.unpack_from("<3H", entry, 28)
            skipped = name_length + extra_length + comment_length
            file.seek(skipped, os.SEEK_CUR)
            position += _DIRECTORY_ENTRY_SIZE + skipped
            count += 1
        return count


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, decompressed in memory with a cap of one byte past the size its header declares.

    Raises _HeaderLies when the data goes on past the declared size (a header written to slip a bomb
    past size checks), zipfile/zlib errors for damaged data, and ValueError when the data is shorter
    than declared or fails its CRC.
    """
    declared = info.file_size
    probe = copy.copy(info)
    probe.file_size = declared + 1  # let the reader run one byte past the claim, so a lie shows
    del probe.CRC  # checked below on exactly the declared bytes instead of by zipfile on declared + 1
    with archive.open(probe) as stream:
        payload = stream.read(declared)
        if stream.read(1):
            raise _HeaderLies(info.filename)
    if len(payload) != declared:
        raise ValueError(f"{len(payload)} bytes where {declared} were declared: truncated")
    if zlib.crc32(payload) != info.CRC:
        raise ValueError("CRC mismatch: damaged")
    return payload


def _decode(payload: bytes, image_size: int, channels: int) -> np.ndarray | Exception:
    """uint8 (S, S, C) like a folder: dataset's pictures, or the exception that stopped decoding."""
    from PIL import Image

    try:
        return _picture_to_array(io.BytesIO(payload), image_size, channels)
    except Image.DecompressionBombError as error:  # PIL's own guard, for pictures far over ours
        return _PictureTooLarge(str(error))
    except Exception as error:  # noqa: BLE001 - decoders raise all kinds of errors on crafted input: skip and report
        return error


def load_zip(
    path: str | os.PathLike | None,
    *,
    image_size: int,
    channels: int,
    max_images: int = 20_000,
    max_archive_bytes: int | None = None,
    max_total_uncompressed: int = 1 * 2**30,
    max_member_bytes: int = 32 * 2**20,
) -> ImageData:
    """Read an uploaded ZIP of pictures into memory as a training set, exactly like a folder: dataset.

    Returns ImageData named "upload:<file name>": images uint8 (N, channels, image_size, image_size),
    values 0..255, N <= max_images, taken in sorted name order; each picture's shorter side is resized to
    image_size and centre-cropped, transparency composited on black, 16-bit scaled to 8 bits, CMYK and
    palettes converted. Pictures in two or more top-level folders (cats/x.png, dogs/y.png, also inside one
    common root folder) are labelled by folder: labels int64 (N,) in [0, num_classes) and class_names
    sorted; otherwise, or with more than MAX_CLASSES folders, labels is None. `notes` says what was skipped.
    max_archive_bytes defaults to the installation's upload cap (GENIMG_UPLOAD_MB, genimg/store/limits.py), the
    same the page's upload route enforces, so an archive placed on the server some other way is held to it too.

    Nothing is ever written to disk: members are decompressed into memory only, and member names are
    never used as paths. Entries whose names reach outside the archive (absolute, drive letters, '..'),
    symbolic links, and members over max_member_bytes are skipped and counted in `notes`; hidden files
    and __MACOSX folders are ignored; damaged pictures, and pictures over FOLDER_MAX_PIXELS, are skipped
    and counted. Accepted extensions: genimg.data.IMAGE_EXTENSIONS.

    Raises UploadError, naming the file and the limit, for: no path; a missing file; a file that is not
    a zip; an archive over max_archive_bytes or with more than MAX_ARCHIVE_MEMBERS entries; encrypted
    pictures; pictures declaring more than max_total_uncompressed bytes in all, or compressed more than
    MAX_COMPRESSION_RATIO to one; a member that unpacks to more than its header declares; no usable
    picture; a set too large for memory.
    """
    if path is None or not str(os.fspath(path)).strip():
        raise UploadError(f"no file was uploaded; upload a .zip of pictures ({', '.join(IMAGE_EXTENSIONS)})")
    _check_argument(image_size, "image_size", *IMAGE_SIZE_RANGE)
    if channels not in (1, 3):
        raise UploadError(f"channels={channels!r} is not valid; expected 1 (grayscale) or 3 (RGB)")
    _check_argument(max_images, "max_images", 1)
    if max_archive_bytes is None:
        max_archive_bytes = upload_limit_bytes()
    _check_argument(max_archive_bytes, "max_archive_bytes", 1)
    _check_argument(max_total_uncompressed, "max_total_uncompressed", 1)
    _check_argument(max_member_bytes, "max_member_bytes", 1)

    archive_path = Path(os.fspath(path))
    file_name = _shown(archive_path.name)
    accepted = ", ".join(IMAGE_EXTENSIONS)
    if not archive_path.is_file():
        raise UploadError(f"the upload {file_name} was not found or is not a file; upload a .zip of pictures ({accepted})")
    archive_bytes = archive_path.stat().st_size
    if archive_bytes > max_archive_bytes:
        raise UploadError(
            f"{file_name} is {_size_text(archive_bytes)}, over the {_size_text(max_archive_bytes)} limit for an upload; "
            f"upload fewer or smaller pictures"
        )
    not_a_zip = f"{file_name} is not a readable ZIP archive; upload a .zip file of pictures ({accepted})"
    counted = _count_directory_entries(archive_path, archive_bytes, MAX_ARCHIVE_MEMBERS)
    if counted is not None and counted > MAX_ARCHIVE_MEMBERS:
        raise UploadError(
            f"{file_name} holds more than {MAX_ARCHIVE_MEMBERS:,} entries, the limit for an upload; upload fewer files"
        )
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error) as error:
        raise UploadError(f"{not_a_zip} ({error})") from error
    with archive:
        return _load_archive(archive, file_name, image_size=image_size, channels=channels, max_images=max_images,
                             max_total_uncompressed=max_total_uncompressed, max_member_bytes=max_member_bytes)


def _load_archive(archive: zipfile.ZipFile, file_name: str, *, image_size: int, channels: int, max_images: int,
                  max_total_uncompressed: int, max_member_bytes: int) -> ImageData:
    """load_zip's work once the archive's directory is open; see load_zip."""
    accepted = ", ".join(IMAGE_EXTENSIONS)
    entries = archive.infolist()
    if len(entries) > MAX_ARCHIVE_MEMBERS:
        raise UploadError(
            f"{file_name} holds {len(entries):,} entries, more than the {MAX_ARCHIVE_MEMBERS:,} allowed for an upload; "
            f"upload fewer files"
        )
    notes: list[str] = []
    escaping: list[str] = []
    links: list[str] = []
    oversized: list[str] = []
    others: list[str] = []
    encrypted: list[str] = []
    candidates: list[tuple[tuple[str, ...], zipfile.ZipInfo]] = []
    for info in entries:
        if info.is_dir():
            continue
        parts = _name_parts(info.filename)
        if parts is None:
            escaping.append(info.filename)
            continue
        if any(_is_hidden(part) or part == "__MACOSX" for part in parts):
            continue  # macOS resource forks, .DS_Store and the like: never pictures of the set
        if stat.S_ISLNK(info.external_attr >> 16):
            links.append(info.filename)
            continue
        if not parts[-1].lower().endswith(IMAGE_EXTENSIONS):
            others.append(info.filename)
            continue
        if info.flag_bits & 0x1 or info.compress_type == _AES_COMPRESSION:
            encrypted.append(info.filename)
            continue
        if info.file_size >= _RATIO_CHECK_FLOOR and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
            raise UploadError(
                f"{file_name} looks like a zip bomb: {_shown(info.filename)} declares {_size_text(info.file_size)} packed into "
                f"{_size_text(info.compress_size)}, more than {MAX_COMPRESSION_RATIO:,} to 1; upload the pictures zipped normally"
            )
        if info.file_size > max_member_bytes:
            oversized.append(info.filename)
            continue
        candidates.append((parts, info))

    if encrypted:
        raise UploadError(
            f"{file_name} holds password-protected pictures (e.g. {_examples(encrypted)}), which genimg cannot read; "
            f"zip the pictures again without a password"
        )
    if escaping:
        notes.append(
            f"Skipped {len(escaping)} entries whose names point outside the archive (e.g. {_examples(escaping)}); "
            f"nothing is ever unpacked to disk."
        )
    if links:
        notes.append(f"Skipped {len(links)} symbolic links (e.g. {_examples(links)}).")
    if oversized:
        notes.append(
            f"Skipped {len(oversized)} files larger than {_size_text(max_member_bytes)} each (e.g. {_examples(oversized)})."
        )
    if not candidates:
        found = f"; it holds {len(others)} other files (e.g. {_examples(others)})" if others else ""
        raise UploadError(
            f"no pictures found in {file_name}{found}. Accepted extensions: {accepted}. " + " ".join(notes)
        )

    # Zipping a folder puts everything under its name: look inside that one common root folder.
    while all(len(parts) > 1 for parts, _ in candidates) and len({parts[0] for parts, _ in candidates}) == 1:
        candidates = [(parts[1:], info) for parts, info in candidates]
    candidates.sort(key=lambda candidate: candidate[0])

    # Two or more top-level folders with pictures in them: each folder is a class, as in folder: datasets.
    class_names: list[str] = []
    class_of: dict[str, int] = {}
    top_level = sorted({parts[0] for parts, _ in candidates if len(parts) > 1})
    if len(top_level) > MAX_CLASSES:
        notes.append(
            f"Read the pictures unlabeled: they sit in {len(top_level)} folders, more than the {MAX_CLASSES} classes "
            f"genimg uses folders for."
        )
    elif len(top_level) >= 2:
        class_of = {name: index for index, name in enumerate(top_level)}
        class_names = [_shown(name)[:_CLASS_NAME_LENGTH] for name in top_level]
        loose = [info.filename for parts, info in candidates if len(parts) == 1]
        if loose:
            notes.append(
                f"Left out {len(loose)} pictures lying outside the class folders (e.g. {_examples(loose)}), because "
                f"the folders are used as classes."
            )
            candidates = [(parts, info) for parts, info in candidates if len(parts) > 1]

    wanted = min(max_images, len(candidates))
    declared_total = sum(info.file_size for _, info in candidates[:wanted])
    if declared_total > max_total_uncompressed:
        raise UploadError(
            f"{file_name} looks like a zip bomb or is too large: its first {wanted} pictures declare "
            f"{_size_text(declared_total)} unpacked, over the {_size_text(max_total_uncompressed)} limit; "
            f"upload fewer or smaller pictures"
        )
    try:
        _check_memory(wanted, channels, image_size, f"upload:{file_name}")
    except DatasetError as error:
        raise UploadError(str(error)) from error

    images = np.empty((wanted, channels, image_size, image_size), dtype=np.uint8)
    labels = np.empty((wanted,), dtype=np.int64)
    unreadable: list[str] = []
    too_large: list[str] = []
    done = 0
    position = 0
    unpacked = 0  # bytes decompressed so far, never more than max_total_uncompressed
    out_of_budget = False
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:  # PIL releases the GIL while decoding and resizing
        while done < wanted and position < len(candidates) and not out_of_budget:
            # Members are read one at a time here (zipfile shares one file handle); pictures decode in parallel.
            batch: list[tuple[tuple[str, ...], zipfile.ZipInfo, bytes]] = []
            batch_bytes = 0
            batch_limit = min(256, max(workers, 2 * (wanted - done)))  # decoded arrays of a batch are held together
            while position < len(candidates) and len(batch) < batch_limit and batch_bytes < _DECODE_BATCH_BYTES:
                parts, info = candidates[position]
                if unpacked + info.file_size > max_total_uncompressed:
                    out_of_budget = True  # only reachable after skipping damaged pictures and reading on
                    break
                position += 1
                unpacked += info.file_size
                try:
                    payload = _read_member(archive, info)
                except _HeaderLies:
                    raise UploadError(
                        f"{file_name} looks like a zip bomb: {_shown(info.filename)} unpacks to more than the "
                        f"{_size_text(info.file_size)} its header declares; upload the pictures zipped normally"
                    ) from None
                except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, ValueError, zlib.error):
                    unreadable.append(info.filename)  # damaged or an unsupported method; bz2 and lzma raise OSError/ValueError
                    continue
                batch.append((parts, info, payload))
                batch_bytes += info.compress_size
            decoded = pool.map(lambda item: _decode(item[2], image_size, channels), batch)
            for (parts, info, _), result in zip(batch, decoded, strict=True):
                if done >= wanted:
                    break
                if isinstance(result, _PictureTooLarge):
                    too_large.append(info.filename)
                elif isinstance(result, Exception):
                    unreadable.append(info.filename)
                else:
                    images[done] = result.transpose(2, 0, 1)
                    if class_of:
                        labels[done] = class_of[parts[0]]
                    done += 1
    if done == wanted < len(candidates):
        notes.append(f"Used the first {wanted} of {len(candidates)} pictures (in sorted name order; max_images={max_images}).")
    if unreadable:
        notes.append(f"Skipped {len(unreadable)} unreadable or corrupt files (e.g. {_examples(unreadable)}).")
    if too_large:
        notes.append(
            f"Skipped {len(too_large)} pictures larger than {FOLDER_MAX_PIXELS // 1_000_000} megapixels, a guard against "
            f"decompression bombs (e.g. {_examples(too_large)})."
        )
    if out_of_budget and done < wanted:
        notes.append(
            f"Stopped reading after {_size_text(unpacked)} of unpacked pictures, the {_size_text(max_total_uncompressed)} limit."
        )
    if done == 0:
        raise UploadError(f"none of the {len(candidates)} pictures in {file_name} could be used. " + " ".join(notes))

    image_tensor = torch.from_numpy(images[:done]).contiguous()
    label_tensor = None
    if class_of:
        label_tensor = torch.from_numpy(labels[:done].copy())
        present = len(set(label_tensor.tolist()))
        if present < len(class_of):
            notes.append(f"Only {present} of the {len(class_of)} class folders have readable pictures.")
    return ImageData(images=image_tensor, labels=label_tensor, class_names=class_names,
                     name=f"{UPLOAD_PREFIX}{file_name}", notes=notes)
