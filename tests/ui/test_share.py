"""Lesson bundles (export, load back, hostile files) and the view in the URL."""

import io
import json
import shutil
import uuid
import zipfile
from pathlib import Path

import gradio as gr
import pytest

from genimg.explore.catalog import Renderer, discover
from genimg.store.lessons import Lesson, LessonError, bundle_bytes, read_bundle
from genimg.ui.context import ExploreContext
from genimg.ui.interpolate_tab import InterpolateHandlers
from genimg.ui.latent_tab import LatentHandlers
from genimg.ui.share import ShareHandlers, lesson_json


def as_upload(path_or_bytes, name="lesson.zip") -> str:
    """Place a file where Gradio keeps uploads (the only place the share panel reads from)."""
    folder = Path(gr.utils.get_upload_folder()) / uuid.uuid4().hex
    folder.mkdir(parents=True)
    target = folder / name
    if isinstance(path_or_bytes, bytes):
        target.write_bytes(path_or_bytes)
    else:
        shutil.copy(path_or_bytes, target)
    return str(target)


@pytest.fixture(scope="module")
def share(tiny_models, tmp_path_factory):
    context = ExploreContext(Renderer("cpu"), discover(tiny_models["gan"].parent))
    latent, interpolate = LatentHandlers(context), InterpolateHandlers(context)
    # the handlers' components are created by their build functions; the share panel needs their order only
    with gr.Blocks():
        from genimg.ui.interpolate_tab import build_interpolate_tab
        from genimg.ui.latent_tab import build_latent_tab

        latent = build_latent_tab(context)
        interpolate = build_interpolate_tab(context)
    return ShareHandlers(context, latent, interpolate, folder=tmp_path_factory.mktemp("lessons"))


def latent_values(share, model, seed=5):
    state = share.latent.state(model, seed, None, 0, 1.5, 0.8, None, [], language="en")
    sliders = state["sliders"]
    return [state["model"], state["seed"], None, 0, 1.5, 0.8, None, *sliders]


def test_bundle_round_trip_and_hostile_files():
    lesson = Lesson(model="mnist-dcgan", latent={"seed": 3, "sliders": [0.1, 0.2]}, note="look at the 7s")
    parsed, gif = read_bundle(bundle_bytes(lesson, b"GIF89a..."))
    assert parsed.model == "mnist-dcgan" and parsed.latent == lesson.latent and gif == b"GIF89a..."
    assert read_bundle(lesson.to_json().encode())[0].note == "look at the 7s"

    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("lesson.json", " " * (20 * 2**20))  # 20 MB of spaces, about 20 KB zipped
    with pytest.raises(LessonError) as error:
        read_bundle(bomb.getvalue())
    assert error.value.key == "lesson.too_big"

    for bad, key in [(b"not json", "lesson.bad_json"), (b'{"a": 1}', "lesson.not_lesson"),
                     (b'{"genimg_lesson": 99, "model": "m", "latent": {}}', "lesson.version"),
                     (b'{"genimg_lesson": 1, "model": "../../etc", "latent": {}}', "lesson.bad_field"),
                     (b'{"genimg_lesson": 1, "model": "m", "latent": {"seed": NaN}}', "lesson.bad_field"),
                     (b"PK\x03\x04garbage", "lesson.bad_zip")]:
        with pytest.raises(LessonError) as error:
            read_bundle(bad)
        assert error.value.key == key, bad


def test_export_and_load_back(share, tiny_models):
    gan = str(tiny_models["gan"])
    path, status = share.export("a note", *latent_values(share, gan), gan, "seeds", 3, 4, None, None, 8)
    saved = lesson_json(path)
    assert saved["model"] == "gan" and saved["latent"]["seed"] == 5 and saved["latent"]["model"] == "gan"
    assert saved["interpolation"]["seed_b"] == 4 and "/" not in json.dumps(saved["latent"]["model"])
    with zipfile.ZipFile(path) as archive:
        assert archive.read("interpolation.gif")[:6] == b"GIF89a"
    assert "seed 5" in status

    updates = share.load(as_upload(path))
    outputs = share.latent.components["state_outputs"]
    assert len(updates) == len(outputs) + 7 + len(share.interpolate.outputs) + 1
    assert updates[0]["value"] == gan and updates[1]["value"] == 5
    assert "a note" in updates[-1]


def test_load_refuses_what_it_cannot_use(share):
    foreign = Lesson(model="not-here", latent={"seed": 1}).to_json().encode()
    with pytest.raises(gr.Error, match="not-here"):
        share.load(as_upload(foreign, "lesson.json"))
    with pytest.raises(gr.Error, match="not valid JSON"):
        share.load(as_upload(b"\x89PNG not a lesson", "lesson.json"))
    with pytest.raises(gr.Error, match="could not be read"):
        share.load("/etc/passwd")  # only Gradio's own upload files are read


def test_url_state(share, tiny_models):
    state = share.state_from_query({"model": "gan", "seed": "9", "z": "0.5,-0.25", "psi": "0.7"}, "en")
    assert state["model"] == str(tiny_models["gan"]) and state["seed"] == 9
    assert state["sliders"] == [0.5, -0.25] and state["truncation"] == 0.7
    assert share.state_from_query({"model": "../gan"}, "en") is None
    assert share.state_from_query({"model": "gan", "seed": "x"}, "en") is None
