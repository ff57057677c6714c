"""genimg.store.lessons: a lesson bundle reads back exactly, format-1 bundles still read (as views), and every kind
of unusable file is refused with a key the page can translate. (tests/ui/test_share.py covers the share panel.)"""

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

VIEWS = {"latent": {"model": "mnist-dcgan", "seed": "3", "z": "0.50,-1.25,0.00", "psi": "0.7", "compare": "mnist-vae"},
         "interpolate": {"model": "mnist-cdcgan", "mode": "classes", "seed_a": "1", "class_a": "4", "frames": "16"},
         "samples": {"model": "mnist-cdcgan", "seed": "12", "class": "7"}}
LATENT = {"model": "mnist-dcgan", "seed": 3, "sliders": [0.5, -1.25, 0.0], "truncation": 0.7, "label": None,
          "compare": "mnist-vae", "mirror": True}
INTERPOLATION = {"mode": "classes", "seed_a": 1, "seed_b": 2, "class_a": 4, "class_b": 9, "frames": 16}


def lesson_text(**fields) -> bytes:
    """A format-1 lesson.json's bytes: a valid lesson, with `fields` changed (None removes one)."""
    values = {"genimg_lesson": 1, "model": "mnist-dcgan", "latent": {"seed": 1}}
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
    lesson = Lesson(views=VIEWS, tab="samples", note="watch the 4 turn into a 9 — 看",
                    created="2024-05-01T10:00:00+00:00")
    data = bundle_bytes(lesson, b"GIF89a frames")
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == sorted([JSON_NAME, GIF_NAME])
    parsed, gif = read_bundle(data)
    assert parsed == lesson and gif == b"GIF89a frames"
    assert json.loads(lesson.to_json())["genimg_lesson"] == LESSON_VERSION


def test_text_that_is_not_valid_unicode_is_written_with_a_mark_not_a_crash():
    """A client can send a lone surrogate ("\\ud800"), which UTF-8 cannot hold; the export used to fail with a
    UnicodeEncodeError (a bare "Error" in the page)."""
    lesson = Lesson(views={"samples": {"model": "mnist-cdcgan", "seed": "1\ud800"}}, tab="samples",
                    note="a\x00\ud800b", created="2024-05-01T10:00:00+00:00")
    parsed, _ = read_bundle(bundle_bytes(lesson))
    assert parsed.note == "a\x00?b" and parsed.views["samples"]["seed"] == "1?"


def test_a_bundle_without_a_gif_and_lesson_json_alone():
    lesson = Lesson(views={"learn": {}}, tab="learn")
    data = bundle_bytes(lesson)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [JSON_NAME]
    parsed, gif = read_bundle(data)
    assert gif is None and parsed.views == {"learn": {}} and parsed.note == "" and parsed.created == lesson.created
    assert read_bundle(lesson.to_json().encode()) == (parsed, None)
    assert parse_lesson(lesson.to_json()) == parsed  # str as well as bytes


def test_a_new_lesson_is_stamped_with_its_creation_time():
    created = Lesson(views={"learn": {}}, tab="learn").created
    assert created.endswith("+00:00") and len(created) == len("2024-05-01T10:00:00+00:00")


def test_other_members_of_the_zip_are_ignored():
    data = zip_of({JSON_NAME: lesson_text(), "../../outside.txt": b"never read", "notes/a.txt": b"x"})
    parsed, gif = read_bundle(data)
    assert parsed.views["latent"]["model"] == "mnist-dcgan" and gif is None


def test_a_lesson_that_cannot_be_written_back_is_not_written():
    with pytest.raises(ValueError):  # JSON has no NaN: refuse to write what could not be read back
        Lesson(views={"latent": {"seed": math.nan}}, tab="latent").to_json()


def test_a_format_1_lesson_reads_as_the_latent_and_interpolate_views():
    parsed, _ = read_bundle(lesson_text(model="mnist-cdcgan", latent={**LATENT, "direction": 2, "label": 4},
                                        interpolation=INTERPOLATION, note="old"))
    assert parsed.tab == "latent" and parsed.note == "old"
    assert parsed.views["latent"] == {"model": "mnist-cdcgan", "seed": "3", "z": "0.50,-1.25,0.00", "dir": "2",
                                      "psi": "0.7", "class": "4", "compare": "mnist-vae"}
    assert parsed.views["interpolate"] == {"model": "mnist-cdcgan", "mode": "classes", "seed_a": "1", "seed_b": "2",
                                           "class_a": "4", "class_b": "9", "frames": "16"}
    assert "interpolate" not in read_bundle(lesson_text())[0].views


# ------------------------------------------------------------------------------------------------ attacks
def test_json_nested_100000_deep_is_refused_not_a_crash():
    deep = b"[" * 100_000 + b"]" * 100_000
    assert refusal(deep).key == "lesson.too_deep"
    wrapped = b'{"genimg_lesson": 2, "tab": "latent", "views": {"latent": ' + b"{\"a\": " * 20_000 + b"1" \
        + b"}" * 20_000 + b"}}"
    assert refusal(wrapped).key == "lesson.too_deep"
    # brackets inside text are not nesting
    parsed, _ = read_bundle(json.dumps({"genimg_lesson": 2, "tab": "latent",
                                        "views": {"latent": {"z": "[" * 1000}}}).encode())
    assert parsed.views["latent"]["z"] == "[" * 1000


def test_a_401_digit_seed_reads_as_text_for_the_tab_to_refuse():
    parsed, _ = read_bundle(lesson_text(latent={"seed": int("1" * 401)}))
    assert parsed.views["latent"]["seed"] == "1" * 401


@pytest.mark.parametrize("views", [
    {}, [], {"Latent": {}}, {"latent": []}, {"latent": {"Seed": "1"}}, {"latent": {"seed": 1}},
    {"latent": {"seed": "9" * 2001}}, {f"tab{index}": {} for index in range(17)},
    {"latent": {f"k{index}": "1" for index in range(41)}}, {"../x": {}},
])
def test_bad_views_are_refused(views):
    error = refusal(json.dumps({"genimg_lesson": 2, "tab": "latent", "views": views}).encode())
    assert error.key == "lesson.bad_field" and error.values["field"].startswith("views")


@pytest.mark.parametrize("tab", [None, "samples", 3, ""])
def test_the_open_tab_must_be_one_of_the_views(tab):
    error = refusal(json.dumps({"genimg_lesson": 2, "tab": tab, "views": {"latent": {}}}).encode())
    assert error.values == {"field": "tab"}


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
    assert parsed.views["latent"]["model"] == "mnist-dcgan" and gif is None


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
    assert parsed.views["latent"] == {"model": "m" * 200, "seed": "s" * 500}


def test_long_notes_and_creation_times_are_cut():
    parsed, _ = read_bundle(lesson_text(note="n" * (MAX_NOTE_CHARS + 500), created="c" * 100))
    assert parsed.note == "n" * MAX_NOTE_CHARS and parsed.created == "c" * 40
    assert read_bundle(lesson_text(created=12345))[0].created == "12345"


def test_lesson_errors_carry_english_and_a_translation_key():
    error = LessonError("lesson.bad_field", "The lesson's {field} is not valid.", field="note")
    assert str(error) == "The lesson's note is not valid." and error.key == "lesson.bad_field"
    assert error.values == {"field": "note"} and isinstance(error, ValueError)
