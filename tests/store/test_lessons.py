"""genimg.store.lessons: a lesson bundle reads back exactly, and every kind of unusable file is refused with a
key the page can translate. (tests/ui/test_share.py covers the share panel, a zip bomb and the common refusals.)"""

import io
import json
import math
import zipfile

import pytest

from genimg.store.lessons import (
    GIF_NAME,
    JSON_NAME,
    LESSON_VERSION,
    MAX_BUNDLE_BYTES,
    MAX_GIF_BYTES,
    MAX_JSON_BYTES,
    MAX_NOTE_CHARS,
    Lesson,
    LessonError,
    bundle_bytes,
    parse_lesson,
    read_bundle,
)

LATENT = {"model": "mnist-dcgan", "seed": 3, "sliders": [0.5, -1.25, 0.0], "truncation": 0.7, "label": None,
          "compare": "mnist-vae", "mirror": True}
INTERPOLATION = {"mode": "classes", "seed_a": 1, "seed_b": 2, "class_a": 4, "class_b": 9, "frames": 16}


def lesson_text(**fields) -> bytes:
    """lesson.json's bytes: a valid lesson, with `fields` changed (None removes one)."""
    values = {"genimg_lesson": LESSON_VERSION, "model": "mnist-dcgan", "latent": {"seed": 1}}
    values.update(fields)
    return json.dumps({key: value for key, value in values.items() if value is not None}).encode()


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def refusal(data: bytes) -> LessonError:
    with pytest.raises(LessonError) as error:
        read_bundle(data)
    return error.value


# ------------------------------------------------------------------------------------------------ round trip
def test_a_bundle_reads_back_every_field():
    lesson = Lesson(model="mnist-cdcgan", latent=LATENT, interpolation=INTERPOLATION,
                    note="watch the 4 turn into a 9 — 看", created="2024-05-01T10:00:00+00:00")
    data = bundle_bytes(lesson, b"GIF89a frames")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == sorted([JSON_NAME, GIF_NAME])
    parsed, gif = read_bundle(data)
    assert parsed == lesson and gif == b"GIF89a frames"
    assert json.loads(lesson.to_json())["genimg_lesson"] == LESSON_VERSION


def test_a_bundle_without_a_gif_and_lesson_json_alone():
    lesson = Lesson(model="shapes-vae", latent={"seed": 0})
    data = bundle_bytes(lesson)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [JSON_NAME]
    parsed, gif = read_bundle(data)
    assert gif is None and parsed.interpolation is None and parsed.note == "" and parsed.created == lesson.created
    assert read_bundle(lesson.to_json().encode()) == (parsed, None)
    assert parse_lesson(lesson.to_json()) == parsed  # str as well as bytes


def test_a_new_lesson_is_stamped_with_its_creation_time():
    created = Lesson(model="m", latent={}).created
    assert created.endswith("+00:00") and len(created) == len("2024-05-01T10:00:00+00:00")


def test_other_members_of_the_zip_are_ignored():
    data = zip_of({JSON_NAME: lesson_text(), "../../outside.txt": b"never read", "notes/a.txt": b"x"})
    parsed, gif = read_bundle(data)
    assert parsed.model == "mnist-dcgan" and gif is None


def test_a_lesson_that_cannot_be_written_back_is_not_written():
    with pytest.raises(ValueError):  # JSON has no NaN: refuse to write what could not be read back
        Lesson(model="m", latent={"seed": math.nan}).to_json()


# ------------------------------------------------------------------------------------------------ sizes
def test_too_large_files_are_refused_before_reading():
    assert refusal(b"x" * (MAX_BUNDLE_BYTES + 1)).key == "lesson.too_big"
    assert refusal(b" " * (MAX_JSON_BYTES + 1)).key == "lesson.too_big"  # lesson.json alone
    error = refusal(b"x" * (MAX_BUNDLE_BYTES + 1))
    assert error.values == {"limit": MAX_BUNDLE_BYTES // 2**20} and str(MAX_BUNDLE_BYTES // 2**20) in str(error)


def test_an_oversized_gif_is_left_out_not_fatal():
    data = zip_of({JSON_NAME: lesson_text(), GIF_NAME: bytes(MAX_GIF_BYTES + 1)})  # zeros: a small zip
    assert len(data) < MAX_BUNDLE_BYTES
    parsed, gif = read_bundle(data)
    assert parsed.model == "mnist-dcgan" and gif is None


def test_a_zip_without_lesson_json_is_refused():
    assert refusal(zip_of({"lesson.txt": lesson_text()})).key == "lesson.no_json"
    assert refusal(zip_of({"sub/lesson.json": lesson_text()})).key == "lesson.no_json"


def test_a_truncated_zip_is_refused():
    data = zip_of({JSON_NAME: lesson_text()})
    assert refusal(data[: len(data) // 2]).key == "lesson.bad_zip"


# ------------------------------------------------------------------------------------------------ fields
@pytest.mark.parametrize("text", [b"", b"\xff\xfe not utf-8", b"{", b"[1, 2"])
def test_text_that_is_not_json_is_refused(text):
    assert refusal(text).key == "lesson.bad_json"


@pytest.mark.parametrize("text", [b"[]", b"3", b'"lesson"', b"null", b'{"model": "m", "latent": {}}'])
def test_json_that_is_not_a_lesson_is_refused(text):
    assert refusal(text).key == "lesson.not_lesson"


@pytest.mark.parametrize("version", [0, -1, LESSON_VERSION + 1, True, "1", 1.0, None])
def test_unknown_format_versions_are_refused(version):
    error = refusal(json.dumps({"genimg_lesson": version, "model": "m", "latent": {}}).encode())
    assert error.key == "lesson.version" and error.values == {"version": version, "supported": LESSON_VERSION}


@pytest.mark.parametrize(("field", "value"), [
    ("model", ""), ("model", "a/b"), ("model", "a\\b"), ("model", ".."), ("model", "x..y"), ("model", "m" * 201),
    ("model", 3), ("model", ["m"]),
    ("latent", [1, 2]), ("latent", "seed=3"), ("latent", {"seed": "s" * 501}), ("latent", {"z": [0.0] * 1101}),
    ("latent", {f"key{index}": index for index in range(51)}), ("latent", {"a": {"b": {"c": {"d": {"e": [1]}}}}}),
    ("interpolation", [1]), ("interpolation", "slerp"), ("interpolation", {"frames": [[[[[[1]]]]]]}),
    ("note", 3), ("note", ["a"]),
])
def test_bad_fields_are_refused_naming_the_field(field, value):
    error = refusal(lesson_text(**{field: value}))
    assert error.key == "lesson.bad_field" and error.values == {"field": field} and field in str(error)


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN"])
def test_non_finite_numbers_are_refused(number):
    text = b'{"genimg_lesson": 1, "model": "m", "latent": {"z": [0.5, ' + number.encode() + b"]}}"
    assert refusal(text).key == "lesson.bad_field"


def test_missing_model_or_latent_is_refused():
    assert refusal(json.dumps({"genimg_lesson": 1, "latent": {}}).encode()).values == {"field": "model"}
    assert refusal(json.dumps({"genimg_lesson": 1, "model": "m"}).encode()).values == {"field": "latent"}


def test_limits_that_are_reached_but_not_passed_are_accepted():
    latent = {"seed": "s" * 500, "z": [0.0] * 1100, **{f"k{index}": index for index in range(47)},
              "deep": {"b": {"c": {"d": 1}}}}
    parsed, _ = read_bundle(lesson_text(model="m" * 200, latent=latent, interpolation=None))
    assert parsed.model == "m" * 200 and parsed.latent == latent


def test_long_notes_and_creation_times_are_cut():
    parsed, _ = read_bundle(lesson_text(note="n" * (MAX_NOTE_CHARS + 500), created="c" * 100))
    assert parsed.note == "n" * MAX_NOTE_CHARS and parsed.created == "c" * 40
    assert read_bundle(lesson_text(created=12345))[0].created == "12345"


def test_lesson_errors_carry_english_and_a_translation_key():
    error = LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="note")
    assert str(error) == "The lesson's note is not valid." and error.key == "lesson.bad_field"
    assert error.values == {"field": "note"} and isinstance(error, ValueError)
