"""Lesson bundles: a zip a teacher exports from the page and anyone loads back to get the exact same views.

A bundle holds `lesson.json` and, when the page had one, `interpolation.gif`. Format 2 (written today):
{"genimg_lesson": 2, "tab": the tab that opens, "views": {tab id: the tab's address query as {key: text}},
"note", "created"} — one query per tab, the same text the page's address holds (genimg.ui.views), so a bundle
and a link restore a view the same way. Format 1 (read only): the model's folder name, the Latent-space tab's
state and the Interpolate tab's state; it is read into format 2's views and opens the Latent-space tab.
Models are named by folder name only and resolved against the models the page offers; nothing in a bundle
names a path. Reading is defensive: sizes are capped before anything is decompressed, nesting before parsing,
only the two known members are read, and every field is type-checked.
"""

from __future__ import annotations

import io
import json
import math
import re
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

LESSON_VERSION = 2
READABLE_VERSIONS = (1, 2)
MAX_BUNDLE_BYTES = 8 * 2**20
MAX_JSON_BYTES = 256 * 2**10
MAX_GIF_BYTES = 8 * 2**20
MAX_NOTE_CHARS = 2000
MAX_DEPTH = 8  # a lesson nests 4 levels; json.loads recurses once a level and a 100,000-deep file exhausts it
MAX_VIEWS, MAX_VIEW_KEYS, MAX_VALUE_CHARS = 16, 40, 2000
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")  # tab ids and query keys
JSON_NAME, GIF_NAME = "lesson.json", "interpolation.gif"


class LessonError(ValueError):
    """A bundle that cannot be used; `key` and `values` let the page say why in the user's language."""

    def __init__(self, key: str, english: str, **values: Any) -> None:
        super().__init__(english.format(**values))
        self.key, self.values = key, values


@dataclass
class Lesson:
    """`views`: tab id → that tab's address query ({key: text}); `tab`: the tab the lesson opens (one of `views`)."""

    views: dict[str, dict[str, str]]
    tab: str
    note: str = ""
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    def to_json(self) -> str:
        text = json.dumps({"genimg_lesson": LESSON_VERSION, "tab": self.tab, "views": self.views,
                           "note": self.note, "created": self.created},
                          indent=2, ensure_ascii=False, allow_nan=False)
        # A client can send text that is not valid Unicode (a lone surrogate such as "\ud800"), which UTF-8 cannot
        # hold: such a character becomes "?" rather than failing the export.
        return text.encode("utf-8", "replace").decode("utf-8")


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
    """Validate lesson.json's content (format 1 or 2) and build a Lesson."""
    if _too_deep(text):
        raise LessonError("lesson.too_deep", "lesson.json nests more than {limit} levels deep; a lesson nests 4.",
                          limit=MAX_DEPTH)
    try:
        values = json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise LessonError("lesson.bad_json", "lesson.json is not valid JSON.") from None
    if not isinstance(values, dict) or "genimg_lesson" not in values:
        raise LessonError("lesson.not_lesson", "This file is not a genimg lesson (no 'genimg_lesson' field).")
    version = values["genimg_lesson"]
    if not isinstance(version, int) or isinstance(version, bool) or version not in READABLE_VERSIONS:
        raise LessonError("lesson.version", "This lesson was made by a newer genimg (format {version}); this one "
                          "reads format {supported}.", version=version, supported=LESSON_VERSION)
    if version == 1:
        views, tab = _views_of_version_1(values)
    else:
        views, tab = _checked_views(values.get("views")), values.get("tab")
        if not isinstance(tab, str) or tab not in views:
            raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="tab")
    note = values.get("note", "")
    if not isinstance(note, str):
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="note")
    created = values.get("created", "")
    return Lesson(views=views, tab=tab, note=note[:MAX_NOTE_CHARS], created=str(created)[:40])


def _too_deep(text: bytes | str) -> bool:
    """Whether brackets outside strings nest deeper than MAX_DEPTH (checked before json.loads recurses)."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    depth, inside, escaped = 0, False, False
    for byte in data:
        if inside:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                inside = False
        elif byte == 0x22:
            inside = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > MAX_DEPTH:
                return True
        elif byte in (0x5D, 0x7D):
            depth -= 1
    return False


def _checked_views(views: Any) -> dict[str, dict[str, str]]:
    """Format 2's views: at most MAX_VIEWS tabs, each at most MAX_VIEW_KEYS keys of text up to MAX_VALUE_CHARS."""
    if not isinstance(views, dict) or not views or len(views) > MAX_VIEWS:
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="views")
    for tab, query in views.items():
        if not NAME_PATTERN.match(tab) or not isinstance(query, dict) or len(query) > MAX_VIEW_KEYS or not all(
                isinstance(key, str) and NAME_PATTERN.match(key) and isinstance(value, str)
                and len(value) <= MAX_VALUE_CHARS for key, value in query.items()):
            raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field=f"views.{tab[:32]}")
    return views


# Format 1's state keys → the address keys the Latent-space and Interpolate tabs use.
_LATENT_KEYS = {"seed": "seed", "sliders": "z", "direction": "dir", "strength": "strength", "truncation": "psi",
                "label": "class", "compare": "compare"}
_INTERPOLATION_KEYS = ("mode", "seed_a", "seed_b", "class_a", "class_b", "frames")


def _views_of_version_1(values: dict[str, Any]) -> tuple[dict[str, dict[str, str]], str]:
    """Format 1 (model, latent state, interpolation state) → format 2's views, opening the Latent-space tab."""
    model, latent = values.get("model"), values.get("latent")
    if not isinstance(model, str) or not model or len(model) > 200 or any(c in model for c in "/\\") or ".." in model:
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="model")
    if not isinstance(latent, dict) or not _plain(latent):
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="latent")
    interpolation = values.get("interpolation")
    if interpolation is not None and (not isinstance(interpolation, dict) or not _plain(interpolation)):
        raise LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="interpolation")
    query = {"model": model}
    for old, new in _LATENT_KEYS.items():
        text = _text(latent.get(old))
        if text:
            query[new] = text
    views = {"latent": query}
    if interpolation:
        other = interpolation.get("model")
        views["interpolate"] = {"model": other if isinstance(other, str) and other else model}
        for key in _INTERPOLATION_KEYS:
            text = _text(interpolation.get(key))
            if text:
                views["interpolate"][key] = text
    return views, "latent"


def _text(value: Any) -> str:
    """A format-1 value as address text, as the page writes it; "" for none. What the page never wrote (a dict, a
    list of text) is kept as JSON, which the tab's restore refuses by name."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, list) and all(isinstance(item, (int, float)) and not isinstance(item, bool) for item in value):
        return ",".join(f"{float(item):.2f}" for item in value)
    if isinstance(value, (int, str)):
        return str(value)[:MAX_VALUE_CHARS]
    return json.dumps(value)[:MAX_VALUE_CHARS]


def _plain(value: Any, depth: int = 0) -> bool:
    """JSON made only of short strings, finite numbers, booleans, None, and small lists and dicts."""
    if depth > 4:
        return False
    if value is None or isinstance(value, bool):
        return True
    if isinstance(value, int):
        return True  # math.isfinite would overflow on a 400-digit int; every int is finite
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return len(value) <= 500
    if isinstance(value, list):
        return len(value) <= 1100 and all(_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return len(value) <= 50 and all(isinstance(key, str) and _plain(item, depth + 1) for key, item in value.items())
    return False
