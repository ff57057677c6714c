"""Lesson bundles: a zip a teacher exports from the page and anyone loads back to get the exact same view.

A bundle holds `lesson.json` (format version, the model's folder name, the Latent-space tab's state, the
Interpolate tab's state, a note) and `interpolation.gif`. Models are named by folder name only and
resolved against the models the page offers; nothing in a bundle names a path. Reading is defensive:
sizes are capped before anything is decompressed, only the two known members are read, and every
field is type-checked.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

LESSON_VERSION = 1
MAX_BUNDLE_BYTES = 8 * 2**20
MAX_JSON_BYTES = 256 * 2**10
MAX_GIF_BYTES = 8 * 2**20
MAX_NOTE_CHARS = 2000
JSON_NAME, GIF_NAME = "lesson.json", "interpolation.gif"


class LessonError(ValueError):
    """A bundle that cannot be used; `key` and `values` let the page say why in the user's language."""

    def __init__(self, key: str, english: str, **values: Any) -> None:
        super().__init__(english.format(**values))
        self.key, self.values = key, values


@dataclass
class Lesson:
    model: str
    latent: dict[str, Any]
    interpolation: dict[str, Any] | None = None
    note: str = ""
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        return json.dumps({"genimg_lesson": LESSON_VERSION, "model": self.model, "latent": self.latent,
                           "interpolation": self.interpolation, "note": self.note, "created": self.created},
                          indent=2, ensure_ascii=False, allow_nan=False)


def bundle_bytes(lesson: Lesson, gif: bytes | None = None) -> bytes:
    """The zip a user downloads: lesson.json and, when given, interpolation.gif."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(JSON_NAME, lesson.to_json())
        if gif:
            archive.writestr(GIF_NAME, gif)
    return buffer.getvalue()


def read_bundle(data: bytes) -> tuple[Lesson, bytes | None]:
    """Parse an uploaded bundle (a zip, or lesson.json alone) → (Lesson, GIF bytes or None)."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise LessonError("lesson.too_big", "The file is larger than {limit} MB; a lesson bundle is much smaller.",
                          limit=MAX_BUNDLE_BYTES // 2**20)
    gif = None
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = {info.filename: info for info in archive.infolist()}
                if JSON_NAME not in members:
                    raise LessonError("lesson.no_json", "The zip holds no lesson.json, so it is not a genimg lesson.")
                if members[JSON_NAME].file_size > MAX_JSON_BYTES:
                    raise LessonError("lesson.too_big", "lesson.json is larger than {limit} MB.", limit=1)
                text = _read_capped(archive, members[JSON_NAME], MAX_JSON_BYTES)
                if GIF_NAME in members and members[GIF_NAME].file_size <= MAX_GIF_BYTES:
                    gif = _read_capped(archive, members[GIF_NAME], MAX_GIF_BYTES)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, RuntimeError, NotImplementedError, EOFError, OSError):
            raise LessonError("lesson.bad_zip", "The zip file is damaged or uses a format genimg cannot read.") from None
    else:
        if len(data) > MAX_JSON_BYTES:
            raise LessonError("lesson.too_big", "lesson.json is larger than {limit} MB.", limit=1)
        text = data
    return parse_lesson(text), gif


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """Read one member, stopping past `limit` bytes whatever its header claims (a zip bomb lies)."""
    with archive.open(info) as member:
        content = member.read(limit + 1)
    if len(content) > limit:
        raise LessonError("lesson.too_big", "A file in the zip unpacks to more than {limit} MB.", limit=limit // 2**20)
    return content


def parse_lesson(text: bytes | str) -> Lesson:
    """Validate lesson.json's content and build a Lesson."""
    try:
        values = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise LessonError("lesson.bad_json", "lesson.json is not valid JSON.") from None
    if not isinstance(values, dict) or "genimg_lesson" not in values:
        raise LessonError("lesson.not_lesson", "This file is not a genimg lesson (no 'genimg_lesson' field).")
    version = values["genimg_lesson"]
    if not isinstance(version, int) or isinstance(version, bool) or version > LESSON_VERSION or version < 1:
        raise LessonError("lesson.version", "This lesson was made by a newer genimg (format {version}); this one "
                          "reads format {supported}.", version=version, supported=LESSON_VERSION)
    model, latent = values.get("model"), values.get("latent")
    if not isinstance(model, str) or not model or len(model) > 200 or any(c in model for c in "/\\") or ".." in model:
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="model")
    if not isinstance(latent, dict) or not _plain(latent):
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="latent")
    interpolation = values.get("interpolation")
    if interpolation is not None and (not isinstance(interpolation, dict) or not _plain(interpolation)):
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="interpolation")
    note = values.get("note", "")
    if not isinstance(note, str):
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="note")
    created = values.get("created", "")
    return Lesson(model=model, latent=latent, interpolation=interpolation, note=note[:MAX_NOTE_CHARS],
                  created=str(created)[:40])


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON made only of short strings, finite numbers, booleans, None, and small lists and dicts."""
    if depth > 4:
        return False
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, (int, float)):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= 500
    if isinstance(value, list):
        return len(value) <= 1100 and all(_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return len(value) <= 50 and all(isinstance(key, str) and _plain(item, depth + 1) for key, item in value.items())
    return False
