"""Share per tab without a browser: every tab's view in the address and in lesson bundles (export, load back, old
bundles, hostile files), and the export folder's clean-up. Browser journeys: tests/ui/test_journeys_share.py."""

import json
import shutil
import uuid
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from genimg.explore.catalog import Renderer, discover
from genimg.store.lessons import Lesson, bundle_bytes
from genimg.ui.context import ExploreContext
from genimg.ui.explore import build_explore_tab
from genimg.ui.interpolate_tab import build_interpolate_tab
from genimg.ui.latent_tab import build_latent_tab
from genimg.ui.learn_tab import build_learn_tab
from genimg.ui.share import ShareHandlers, interpolate_view, latent_view, lesson_json
from genimg.ui.views import TabView


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


class Request:
    """What the handlers read from Gradio's request: the address's query."""

    def __init__(self, **query: str) -> None:
        self.query_params = query
        self.headers: dict[str, str] = {}


@pytest.fixture(scope="module")
def page(tiny_models, tmp_path_factory):
    context = ExploreContext(Renderer("cpu"), discover(tiny_models["gan"].parent))
    with gr.Blocks():
        samples = build_explore_tab(context)
        latent = build_latent_tab(context)
        interpolate = build_interpolate_tab(context)
        build_learn_tab()
    views = [samples.view, latent_view(latent), interpolate_view(interpolate), TabView("learn", "learn.tab")]
    share = ShareHandlers(context, views, interpolate, folder=tmp_path_factory.mktemp("lessons"))
    return share


def initial_values(share: ShareHandlers) -> list:
    return [component.value for component in share.inputs]


def with_values(share: ShareHandlers, tab: str, **changes) -> list:
    """Every view's input values as the page opens, with some of `tab`'s keys changed (key → value)."""
    values = initial_values(share)
    view = share.views[tab]
    position = share.inputs.index(view.inputs[0])
    for key in view.keys:
        if key.name in changes:
            values[position] = changes[key.name]
        position += len(key.inputs)
    return values


def selected(update) -> str | None:
    """The tab a gr.Tabs update selects (None: the update selects none)."""
    return getattr(update, "selected", None)


def restored(share: ShareHandlers, updates: list, tab: str) -> list:
    """The updates `from_url`/`load` returned for one tab's outputs (after tabs, the open tab and the held model
    pickers), the model pickers' held updates put back in their places."""
    outputs = list(updates[3:3 + len(share.outputs)])
    for place, update in zip(share.late, share.apply_late(updates[2]), strict=True):
        outputs[place] = update
    return [outputs[place] for place in share.positions[tab]]


def test_every_view_has_an_address_and_a_restore(page, tiny_models):
    cgan = str(tiny_models["cgan"])
    updates = page.from_url(Request(view="samples", model="cgan", seed="12", count="5", **{"class": "3"}))
    assert selected(updates[0]) == "samples" and updates[1] == "samples"
    model, seed, count, chosen_class, grid, _, caption = restored(page, updates, "samples")
    assert model["value"] == cgan and seed["value"] == 12 and count["value"] == 5 and chosen_class["value"] == "3"
    expected = page.views["samples"].restore.__self__.samples(cgan, 12, 5, "3")
    assert np.array_equal(grid, expected) and "3" in caption
    # the other tabs' outputs are left alone
    assert all(update == gr.update() for update in restored(page, updates, "latent"))

    updates = page.from_url(Request(view="latent", model="gan", seed="9", z="0.50,-0.25", psi="0.7"))
    latent = restored(page, updates, "latent")
    assert selected(updates[0]) == "latent" and latent[0]["value"] == str(tiny_models["gan"])
    assert latent[1]["value"] == 9 and latent[2]["value"] == 0.7

    updates = page.from_url(Request(view="interpolate", model="cgan", mode="classes", class_a="2", class_b="7",
                                    frames="8"))
    interpolation = restored(page, updates, "interpolate")
    assert selected(updates[0]) == "interpolate" and interpolation[3]["value"] == 8
    assert interpolation[4]["value"] == "classes" and interpolation[5]["value"] == 2 and interpolation[6]["value"] == 7

    updates = page.from_url(Request(view="learn", lang="zh-CN"))
    assert selected(updates[0]) == "learn"


@pytest.mark.parametrize("query", [
    {"view": "samples", "model": "gan", "seed": "-3"}, {"view": "samples", "model": "gan", "seed": "1" * 401},
    {"view": "samples", "model": "../gan"}, {"view": "samples", "model": "gan", "count": "65"},
    {"view": "samples", "model": "cgan", "class": "eleven"}, {"view": "latent", "model": "gan", "z": "nan,1"},
    {"view": "latent", "model": "gan", "psi": "2"}, {"view": "latent", "model": "gan", "seed": "x"},
    {"view": "interpolate", "model": "gan", "mode": "classes"}, {"view": "interpolate", "model": "gan", "frames": "1"},
    {"view": "samples", "model": "gan", "seed": "9" * 100_000},
])
def test_an_unusable_address_opens_the_tab_with_its_default_view_and_no_error(page, query):
    updates = page.from_url(Request(**query))
    assert selected(updates[0]) == query["view"]
    assert updates[2] == [gr.update()] * len(page.late) and all(update == gr.update() for update in updates[3:])


@pytest.mark.parametrize("query", [{}, {"view": "nowhere"}, {"view": "__proto__", "model": "gan"}])
def test_an_address_without_a_known_view_changes_nothing(page, query):
    updates = page.from_url(Request(**query))
    assert updates[2] == [gr.update()] * len(page.late) and all(update == gr.update() for update in updates[3:])


def test_export_keeps_every_view_and_load_opens_its_tab(page, tiny_models):
    cgan = str(tiny_models["cgan"])
    values = with_values(page, "samples", model=cgan, seed=21, count=6, **{"class": "4"})
    path, status = page.export("samples", "look at the 4s", *values, request=Request(lang="zh-CN"))
    saved = lesson_json(path)
    assert saved["genimg_lesson"] == 2 and saved["tab"] == "samples"
    assert saved["views"]["samples"] == {"model": "cgan", "seed": "21", "count": "6", "class": "4"}
    assert set(saved["views"]) == {"samples", "latent", "interpolate"} and "/" not in json.dumps(saved["views"])
    with zipfile.ZipFile(path) as archive:
        assert archive.read("interpolation.gif")[:6] == b"GIF89a"
    assert "样本" in status

    updates = page.load(as_upload(path), Request(lang="zh-CN"))
    assert selected(updates[0]) == "samples" and updates[1] == "samples"
    samples = restored(page, updates, "samples")
    assert samples[0]["value"] == cgan and samples[1]["value"] == 21 and samples[3]["value"] == "4"
    assert restored(page, updates, "latent")[0]["value"] == str(next(iter(page.context.entries)).path)
    assert "look at the 4s" in updates[-1] and "样本" in updates[-1]


def test_a_format_1_bundle_opens_the_latent_tab(page, tiny_models):
    old = {"genimg_lesson": 1, "model": "gan", "latent": {"seed": 5, "sliders": [0.5, -0.5], "truncation": 0.8},
           "interpolation": {"mode": "seeds", "seed_a": 3, "seed_b": 4, "frames": 8}, "note": "old"}
    updates = page.load(as_upload(json.dumps(old).encode(), "lesson.json"))
    assert selected(updates[0]) == "latent"
    latent = restored(page, updates, "latent")
    assert latent[0]["value"] == str(tiny_models["gan"]) and latent[1]["value"] == 5 and latent[2]["value"] == 0.8
    assert latent[4]["value"] == 0.5 and latent[5]["value"] == -0.5
    interpolation = restored(page, updates, "interpolate")
    assert interpolation[1]["value"] == 3 and interpolation[2]["value"] == 4 and interpolation[3]["value"] == 8


@pytest.mark.parametrize(("data", "english", "chinese"), [
    (b"[" * 100_000 + b"]" * 100_000, "nests more than", "嵌套超过"),
    (json.dumps({"genimg_lesson": 1, "model": "gan", "latent": {"seed": int("1" * 401)}}).encode(),
     "Latent space view has a setting", "“隐空间”页的视图"),
    (Lesson(views={"samples": {"model": "gan", "seed": "1" * 401}}, tab="samples").to_json().encode(),
     "Samples view has a setting", "“样本”页的视图"),
    (Lesson(views={"samples": {"model": "not-here"}}, tab="samples").to_json().encode(), "not-here", "not-here"),
    (b"\x89PNG not a lesson", "not valid JSON", "不是有效的 JSON"),
])
def test_load_refuses_what_it_cannot_use_in_the_visitors_language(page, data, english, chinese):
    for language, words in (("en", english), ("zh-CN", chinese)):
        with pytest.raises(gr.Error) as error:
            page.load(as_upload(data, "lesson.json"), Request(lang=language))
        assert words in error.value.message
    with pytest.raises(gr.Error, match="could not be read"):
        page.load("/etc/passwd")  # only Gradio's own upload files are read


def test_old_exports_are_removed_from_their_own_folders(tiny_models, tmp_path):
    page = ShareHandlers(ExploreContext(Renderer("cpu"), discover(tiny_models["gan"].parent)),
                         [TabView("learn", "learn.tab")], folder=tmp_path, keep=3)
    paths = [page.export("learn", f"lesson {index}")[0] for index in range(5)]
    left = sorted(tmp_path.glob("*/lesson-*.zip"))
    assert len(left) == 3 and {str(path) for path in left} == set(paths[-3:])
    assert len([folder for folder in tmp_path.iterdir() if folder.is_dir()]) == 3


def test_the_panel_says_which_tabs_it_covers(page):
    assert page.covers(Request()) == "Kept with their settings: Samples, Latent space, Interpolate. " \
                                     "Opened as they are: Learn."
    assert page.covers(Request(lang="zh-CN")) == "连同设置一起保存：样本、隐空间、插值。只打开页面：学习。"


def test_a_lesson_written_by_export_reads_back_as_written(page):
    lesson = Lesson(views={"learn": {}}, tab="learn", note="n")
    assert lesson_json(page._write(bundle_bytes(lesson), "learn"))["views"] == {"learn": {}}
