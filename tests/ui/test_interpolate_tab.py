"""The Interpolate tab: handlers (seeds, classes, drawings), GIFs and norms it serves, refusals in the user's language,
layout. The library under it is tested in tests/explore/test_interpolate.py."""

from pathlib import Path
from typing import ClassVar

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from genimg.explore.catalog import Renderer, discover
from genimg.explore.interpolate import GifFolder, gif_scale
from genimg.ui.context import ExploreContext
from genimg.ui.i18n import message, table
from genimg.ui.interpolate_tab import InterpolateHandlers, build_interpolate_tab
from tests.helpers import decode_gif


@pytest.fixture(scope="module")
def context(tiny_models) -> ExploreContext:
    return ExploreContext(Renderer("cpu"), discover(tiny_models["gan"].parent))


@pytest.fixture()
def handlers(context, tmp_path) -> InterpolateHandlers:
    return InterpolateHandlers(context, GifFolder(tmp_path / "gifs", keep=5))


class ChineseVisitor:
    """A request from a browser on ?lang=zh-CN, as request_language reads it."""

    query_params: ClassVar[dict[str, str]] = {"lang": "zh-CN"}
    headers: ClassVar[dict[str, str]] = {}


def path_of(context: ExploreContext, name: str) -> str:
    return next(str(entry.path) for entry in context.entries if entry.name == name)


def test_run_returns_gifs_strips_and_norms(handlers, context):
    lerp_path, slerp_path, lerp_strip, slerp_strip, plot, summary = handlers.run(
        path_of(context, "gan"), "seeds", 0, 1, None, None, None, None, 12)
    for path in (lerp_path, slerp_path):
        assert Path(path).parent == handlers.gifs.folder and Path(path).suffix == ".gif"
        frames = decode_gif(Path(path).read_bytes())
        assert len(frames) == 2 * 12 - 2 and frames[0].shape == (28 * gif_scale(28), 28 * gif_scale(28))
    assert lerp_strip.dtype == np.uint8 and lerp_strip.shape == slerp_strip.shape
    norms = plot["value"]
    assert plot["x_title"] == "frame" and plot["y_title"] == "length of the moving vector"  # titles per visitor
    assert set(norms.columns) == {"frame", "norm", "method"} and len(norms) == 3 * 12
    assert {"lerp", "slerp"} <= set(norms["method"])
    lerp, slerp = (norms[norms["method"] == method]["norm"].to_numpy() for method in ("lerp", "slerp"))
    assert lerp[5] < slerp[5] and "√D" in summary
    cgan = handlers.run(path_of(context, "cgan"), "classes", 4, None, 1, 8, None, None, 5)
    assert len(decode_gif(Path(cgan[0]).read_bytes())) == 8
    for _ in range(4):  # only the newest `keep` GIFs stay
        handlers.run(path_of(context, "vae"), "seeds", 2, 3, None, None, None, None, 2)
    assert len(list(handlers.gifs.folder.glob("*.gif"))) == 5


def test_run_from_state_matches_run(handlers, context):
    state = {"model": path_of(context, "cgan"), "mode": "classes", "seed_a": 3, "seed_b": 9, "class_a": 0,
             "class_b": 5, "frames": 6}
    from_state = handlers.run_from_state(state)
    direct = handlers.run(state["model"], "classes", 3, 9, 0, 5, None, None, 6)
    assert np.array_equal(from_state[2], direct[2]) and np.array_equal(from_state[3], direct[3])
    assert Path(from_state[0]).read_bytes() == Path(direct[0]).read_bytes()
    assert handlers.run_from_state({"model": path_of(context, "vae")})[4]["value"]["frame"].max() == 31
    assert handlers.default_state()["frames"] == 32


def test_bad_inputs_raise_gr_error_in_the_users_language(handlers, context, tmp_path):
    gan, cvae, vae = path_of(context, "gan"), path_of(context, "cvae"), path_of(context, "vae")
    snippets = {"model": "Pick a model", "mode": "Choose how", "seed": "whole number from 0", "frames": "Frames must",
                "needs_classes": "not a conditional", "needs_vae": "no encoder", "class": "not a class"}
    bad_calls = [
        ("model", (None, "seeds", 0, 1, None, None, None, None, 8)),
        ("model", (str(tmp_path), "seeds", 0, 1, None, None, None, None, 8)),
        ("model", ("../../etc/passwd", "seeds", 0, 1, None, None, None, None, 8)),
        ("mode", (gan, "sideways", 0, 1, None, None, None, None, 8)),
        ("seed", (gan, "seeds", -1, 1, None, None, None, None, 8)),
        ("seed", (gan, "seeds", 0, 1.5, None, None, None, None, 8)),
        ("seed", (gan, "seeds", None, 1, None, None, None, None, 8)),
        ("seed", (gan, "seeds", 2**63, 1, None, None, None, None, 8)),
        ("seed", (gan, "seeds", "abc", 1, None, None, None, None, 8)),
        ("frames", (gan, "seeds", 0, 1, None, None, None, None, 1)),
        ("frames", (gan, "seeds", 0, 1, None, None, None, None, 65)),
        ("frames", (gan, "seeds", 0, 1, None, None, None, None, 7.5)),
        ("frames", (gan, "seeds", 0, 1, None, None, None, None, None)),
        ("needs_classes", (gan, "classes", 0, 1, 0, 1, None, None, 8)),
        ("needs_vae", (gan, "drawings", 0, 1, None, None, None, None, 8)),
        ("class", (cvae, "classes", 0, 1, 0, 10, None, None, 8)),
        ("class", (cvae, "classes", 0, 1, "seven", 1, None, None, 8)),
    ]
    for kind, arguments in bad_calls:
        with pytest.raises(gr.Error, match=snippets[kind]):
            handlers.run(*arguments)
    assert all(snippets[kind] in message(f"interp.error.{kind}", "en", which="X", model="M", low=2, high=64)
               for kind in snippets)


    with pytest.raises(gr.Error, match="帧数"):
        handlers.run(gan, "seeds", 0, 1, None, None, None, None, 100, ChineseVisitor())
    with pytest.raises(gr.Error, match="请先"):
        handlers.run_from_state({"model": "nope"}, ChineseVisitor())
    assert handlers.run(vae, "seeds", 0, 1, None, None, None, None, 2)  # the handlers still work


def test_drawings_are_encoded_to_the_endpoints(handlers, context, tmp_path):
    cvae, vae = path_of(context, "cvae"), path_of(context, "vae")
    stroke = np.zeros((280, 280), np.uint8)
    stroke[60:220, 130:150] = 255
    ring = np.zeros((280, 280), np.uint8)
    ring[60:220, 60:220] = 255
    ring[90:190, 90:190] = 0
    first = {"background": stroke, "layers": [], "composite": stroke}
    second = {"background": ring, "layers": [], "composite": ring}
    result = handlers.run(vae, "drawings", 0, 1, None, None, first, second, 6)
    assert len(decode_gif(Path(result[0]).read_bytes())) == 10
    assert handlers.run(cvae, "drawings", 0, 1, 1, 0, first, second, 4)[2].dtype == np.uint8
    empty = {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": None}
    picture = tmp_path / "digit.png"
    Image.fromarray(stroke).save(picture)
    for bad in (empty, None, "not an image at all", str(picture), picture, {"composite": str(picture)}, 42):
        with pytest.raises(gr.Error, match="Drawing B"):  # a path is refused, never opened
            handlers.run(vae, "drawings", 0, 1, None, None, first, bad, 6)


    with pytest.raises(gr.Error, match="画布"):
        handlers.run(vae, "drawings", 0, 1, None, None, empty, second, 6, ChineseVisitor())
    with pytest.raises(gr.Error, match="Drawing A"):  # an all-black picture has no strokes
        handlers.run(vae, "drawings", 0, 1, None, None, np.zeros((28, 28), np.uint8), second, 6)
    # the page's automatic re-runs wait for the button in drawings mode
    assert all(isinstance(update, dict) for update in handlers.refresh(vae, "drawings", 0, 1, None, None,
                                                                        None, None, 6))


def test_controls_offer_only_the_modes_a_model_supports(handlers, context):
    def offered(name, mode="seeds"):
        update = handlers.controls(path_of(context, name), mode)
        return [value for _, value in update[0]["choices"]], update

    assert offered("gan")[0] == ["seeds"]
    assert offered("cgan")[0] == ["seeds", "classes"]
    assert offered("vae")[0] == ["seeds", "drawings"]
    assert offered("cvae")[0] == ["seeds", "classes", "drawings"]
    _modes, update = offered("gan", "classes")
    assert update[0]["value"] == "seeds" and update[2]["visible"] is False
    _, update = offered("cvae", "drawings")
    assert update[4]["visible"] is True and update[1]["visible"] is False and update[3]["visible"] is True


def test_every_string_exists_in_both_languages():
    english, chinese = table("en"), table("zh-CN")
    keys = [key for key in english if key.startswith("interp.")]
    assert len(keys) > 30 and all(key in chinese and chinese[key].strip() for key in keys)
    assert {key for key in chinese if key.startswith("interp.")} == set(keys)
    for key in keys:  # the same placeholders in both languages
        assert sorted(part.split("}")[0] for part in english[key].split("{")[1:]) == \
               sorted(part.split("}")[0] for part in chinese[key].split("{")[1:]), key


def test_tab_builds_inside_blocks(context):
    with gr.Blocks() as demo:
        handlers = build_interpolate_tab(context)
    assert isinstance(demo, gr.Blocks) and len(handlers.outputs) == 6
    assert handlers.components["frames"].maximum == 64
    with gr.Blocks():
        empty = build_interpolate_tab(ExploreContext(Renderer("cpu"), []))
    assert empty.outputs == []


def test_seeds_from_a_state_and_the_opening_view_in_chinese(handlers, context):
    assert handlers.seed("12", "Seed A") == 12 and handlers.seed(7.0, "Seed A") == 7
    for bad in (float("nan"), float("inf"), "1e400", True, [3]):
        with pytest.raises(gr.Error):
            handlers.seed(bad, "Seed A")


    outputs = handlers.on_load(ChineseVisitor())
    assert "中点" in outputs[5] and any("典型" in label for label in outputs[4]["value"]["method"])
    assert outputs[4]["x_title"] == "帧"


def test_the_tab_serves_animated_gifs_end_to_end(context):
    from gradio_client import Client

    with gr.Blocks() as demo:
        build_interpolate_tab(context)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        result = client.predict(path_of(context, "cgan"), "classes", 3, 4, 2, 7, None, None, 5,
                                api_name="/interpolate")
        client.close()
        for value in result[:2]:
            gif = Image.open(value if isinstance(value, str) else value["path"])
            assert gif.format == "GIF" and gif.n_frames == 8 and gif.size == (28 * gif_scale(28),) * 2
        assert "lerp" in result[5]
    finally:
        demo.close()


def test_the_page_components_leave_every_check_to_the_handlers(context, handlers):
    """Gradio's own checks answer in English ("Value -3 is less than minimum value 0.", "Value 100 is greater than
    maximum value 64."); the seeds and the frame count pass what is typed through and the handlers answer."""
    with gr.Blocks():
        built = build_interpolate_tab(context)
    parts = built.components
    assert parts["seed_a"].preprocess(-3.0) == -3.0 and parts["seed_b"].preprocess(-3.0) == -3.0
    assert parts["frames"].preprocess(100.0) == 100.0
    assert parts["class_a"].preprocess(99) == 99  # a stale class from the model before is the handler's to judge
    gan = path_of(context, "gan")
    for arguments, match in (((gan, "seeds", -3.0, 1), "种子 A 必须是"),
                             ((gan, "seeds", 0, -3.0), "种子 B 必须是")):
        with pytest.raises(gr.Error, match=match) as refused:
            handlers.run(*arguments, None, None, None, None, 8, ChineseVisitor())
        assert refused.value.title == "出错了"
    with pytest.raises(gr.Error, match="帧数必须是 2 到 64"):
        handlers.run(gan, "seeds", 0, 1, None, None, None, None, 100.0, ChineseVisitor())


def test_an_unexpected_failure_is_a_sentence_in_the_users_language(context, handlers, monkeypatch):
    import genimg.ui.interpolate_tab as tab

    def broken(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tab, "interpolate", broken)
    gan = path_of(context, "gan")
    with pytest.raises(gr.Error, match="无法画出这段插值（out of memory）") as refused:
        handlers.run(gan, "seeds", 0, 1, None, None, None, None, 8, ChineseVisitor())
    assert refused.value.title == "出错了"
    with pytest.raises(gr.Error, match="could not be drawn"):
        handlers.run_from_state({"model": gan})


def test_the_plot_axes_are_translated_per_visitor(handlers, context):
    """Titles come with every update in the visitor's language (given as t(...) when the plot is built, they reached
    its screen-reader description as raw translation keys), so the built plot carries none."""
    with gr.Blocks():
        built = build_interpolate_tab(context)
    plot = built.components["norms"]
    assert (plot.x_title, plot.y_title, plot.color_title) == (None, None, None)
    english = handlers.run(path_of(context, "gan"), "seeds", 0, 1, None, None, None, None, 4)[4]
    chinese = handlers.run(path_of(context, "gan"), "seeds", 0, 1, None, None, None, None, 4, ChineseVisitor())[4]
    for key, field in (("interp.axis.frame", "x_title"), ("interp.axis.norm", "y_title"),
                       ("interp.axis.method", "color_title")):
        assert english[field] == table("en")[key] and chinese[field] == table("zh-CN")[key] != english[field]
