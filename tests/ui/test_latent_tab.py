"""The Latent space tab: principal directions, sliders, truncation, side by side, state, bad input, layout."""

import json
import math
import re
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from genimg.explore.catalog import Renderer, discover
from genimg.explore.directions import DirectionCache
from genimg.models.latent import seeded_latents
from genimg.ui import i18n
from genimg.ui.context import ExploreContext
from genimg.ui.latent_tab import (
    ENGLISH,
    NO_COMPARE,
    SLIDER_COUNT,
    LatentHandlers,
    build_latent_tab,
    display_scale,
    slider_label,
)


@pytest.fixture(scope="module")
def context(tiny_models, wide_model) -> ExploreContext:
    entries = discover(tiny_models["gan"].parent, wide_model.parent)
    assert {entry.name for entry in entries} == {"gan", "cgan", "vae", "vae2d", "cvae", "wide-gan"}
    return ExploreContext(Renderer("cpu"), entries)


@pytest.fixture(scope="module")
def handlers(context) -> LatentHandlers:
    return LatentHandlers(context, DirectionCache(samples=1024))  # fewer samples: quicker tests, same code


def path(context, name: str) -> str:
    return next(str(entry.path) for entry in context.entries if entry.name == name)


def entry(context, name: str):
    return context.entry(path(context, name))


def render(handlers, model, seed=0, label=None, direction=0, strength=0.0, truncation=1.0, compare=NO_COMPARE,
           sliders=None, language="en"):
    """The handler the sliders call, with the sliders at the seed's values unless given."""
    if sliders is None:
        sliders = handlers.seed_sliders(handlers.context.entry(model), seed)
    return handlers.render(model, seed, label, direction, strength, truncation, compare, sliders, language)


# ---------------------------------------------------------------------------------------------- directions
def test_moving_along_a_direction_changes_the_image(handlers, context):
    for name in ("gan", "vae"):
        model = path(context, name)
        still, _ = render(handlers, model, seed=4)
        moved, _ = render(handlers, model, seed=4, direction=0, strength=3.0)
        assert still.shape == moved.shape and not np.array_equal(still, moved)
        # the step is z' = z + α·v: the same image as moving the sliders there by hand (2-D z: all dims shown)
    model = path(context, "vae2d")
    vector = handlers.directions(model).vectors[1]
    start = handlers.seed_sliders(entry(context, "vae2d"), 4)
    by_direction, _ = render(handlers, model, seed=4, direction=1, strength=0.5, sliders=start)
    by_hand, _ = render(handlers, model, seed=4, sliders=(torch.tensor(start) + 0.5 * vector).tolist())
    assert np.array_equal(by_direction, by_hand)


def test_direction_choices_show_explained_variance(handlers, context):
    choices = handlers.direction_choices(path(context, "wide-gan"))
    assert len(choices) == 10 and choices[0][1] == 0 and choices[0][0].startswith("PC1 · ")
    assert choices[0][0].endswith("%")
    assert len(handlers.direction_choices(path(context, "vae2d"))) == 2


# ---------------------------------------------------------------------------------------------- sliders
@pytest.mark.parametrize(("name", "shown"), [("vae2d", 2), ("gan", 8), ("wide-gan", 16)])
def test_slider_count_and_visibility(handlers, context, name, shown):
    updates = handlers.pick_model(path(context, name), 7, None, 1.0, NO_COMPARE)
    sliders, (direction, strength, label, image, compare_image) = updates[:SLIDER_COUNT], updates[SLIDER_COUNT:]
    assert [update["visible"] for update in sliders] == [True] * shown + [False] * (SLIDER_COUNT - shown)
    assert [update["label"] for update in sliders[:shown]] == [slider_label(index) for index in range(shown)]
    expected = seeded_latents(7, 1, entry(context, name).latent_dim)[0, :shown]
    values = torch.tensor([update["value"] for update in sliders[:shown]])
    assert torch.allclose(values, expected.clamp(-3, 3), atol=0.005 + 1e-6)
    assert len(direction["choices"]) == min(10, entry(context, name).latent_dim) and direction["value"] == 0
    assert strength["value"] == 0.0 and label["visible"] is False
    assert image.dtype == np.uint8 and image.shape == (280, 280)
    assert compare_image["visible"] is False
    note = handlers.notes(path(context, name), NO_COMPARE)
    if shown == 16:
        assert "first 16 of 100 dimensions" in note and "other 84" in note
        assert "100" in handlers.notes(path(context, name), NO_COMPARE, "zh-CN")
    else:
        assert f"All {shown} dimensions" in note


def test_sliders_set_z_and_the_rest_keeps_the_seed(handlers, context):
    """Dimensions past the 16th keep the seed's values; the shown ones are exactly the slider values."""
    model_path = path(context, "wide-gan")
    sliders = [0.5] * SLIDER_COUNT
    image, _ = render(handlers, model_path, seed=11, sliders=sliders)
    network, _ = context.renderer.model(model_path)
    z = seeded_latents(11, 1, 100)
    z[0, :16] = 0.5
    with torch.inference_mode():
        expected = (network.generate(z)[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(image[::10, ::10], expected)
    changed = list(sliders)
    changed[3] = -2.0
    assert not np.array_equal(image, render(handlers, model_path, seed=11, sliders=changed)[0])


def test_reseed_resets_the_sliders(handlers, context):
    model_path = path(context, "gan")
    result = handlers.reseed(model_path, 21, None, 0, 0.0, 1.0, NO_COMPARE)
    positions, (image, compare_image) = result[:SLIDER_COUNT], result[SLIDER_COUNT:]
    assert positions[:8] == handlers.seed_sliders(entry(context, "gan"), 21) and positions[8:] == [0.0] * 8
    assert np.array_equal(image, render(handlers, model_path, seed=21)[0])
    assert compare_image["visible"] is False
    assert 0 <= handlers.random_seed() < 1_000_000


def test_display_scale():
    assert display_scale(28) == 10 and display_scale(32) == 8 and display_scale(64) == 4 and display_scale(512) == 1


# ---------------------------------------------------------------------------------------------- truncation
def test_truncation_zero_gives_one_image_for_every_seed(handlers, context):
    for name in ("gan", "wide-gan", "vae"):
        images = [render(handlers, path(context, name), seed=seed, truncation=0.0)[0] for seed in (0, 1, 99)]
        assert all(np.array_equal(images[0], other) for other in images[1:])
        assert not np.array_equal(render(handlers, path(context, name), seed=0)[0],
                                  render(handlers, path(context, name), seed=1)[0])


# ---------------------------------------------------------------------------------------------- classes
def test_conditional_models_get_a_class_picker(handlers, context):
    cgan = path(context, "cgan")
    updates = handlers.pick_model(cgan, 0, None, 1.0, NO_COMPARE)
    label = updates[SLIDER_COUNT + 2]
    assert label["visible"] is True and label["value"] == 0 and len(label["choices"]) == 10
    assert label["choices"][3] == ("3", 3)
    zero, _ = render(handlers, cgan, seed=2, label=0)
    seven, _ = render(handlers, cgan, seed=2, label=7)
    assert not np.array_equal(zero, seven)
    # an unconditional model compared with a conditional one: the picker lists the compared model's classes
    compared = handlers.pick_compare(path(context, "gan"), 0, None, 0, 0.0, 1.0, path(context, "cvae"), [0.0] * 8)
    assert compared[0]["visible"] is True and len(compared[0]["choices"]) == 10
    assert compared[2]["visible"] is True


def applied(component, update: dict):
    """The component as Gradio keeps it for a session once a handler's update has been applied (blocks.py rebuilds
    it from its constructor arguments and the update)."""
    changes = {key: value for key, value in update.items() if key not in ("value", "__type__")}
    return type(component)(**{**component.constructor_args, **changes, "render": False})


def test_a_class_left_over_from_a_conditional_model_is_not_refused(handlers, context):
    """Conditional → unconditional: events already on their way still carry class 0 (a dropdown sends `input`
    twice for one pick). Gradio once refused them, "Value: 0 is not in the list of choices: []"; the handlers
    ignore a class for an unconditional model."""
    cgan, gan = path(context, "cgan"), path(context, "gan")
    handlers.pick_model(cgan, 0, None, 1.0, NO_COMPARE)
    updates = handlers.pick_model(gan, 0, 0, 1.0, NO_COMPARE)  # the second `input`, class 0 still on the page
    label_update = updates[SLIDER_COUNT + 2]
    assert label_update["choices"] == [] and label_update["value"] is None and label_update["visible"] is False
    assert np.array_equal(render(handlers, gan, seed=4, label=0)[0], render(handlers, gan, seed=4, label=None)[0])
    with gr.Blocks():
        built = build_latent_tab(context)
    label = applied(built.components["label"], label_update)
    assert label.choices == [] and label.preprocess(0) == 0  # reaches the handler, which ignores it
    # the directions too: a 2-D model has PC1 and PC2, a slider event of the model before may still send PC9
    two = handlers.pick_model(path(context, "vae2d"), 0, None, 1.0, NO_COMPARE)[SLIDER_COUNT]
    direction = applied(built.components["direction"], two)
    assert len(direction.choices) == 2 and direction.preprocess(8) == 8
    with pytest.raises(gr.Error, match="not a direction of this model"):
        render(handlers, path(context, "vae2d"), direction=8, strength=1.0)


# ---------------------------------------------------------------------------------------------- side by side
def test_compare_renders_the_same_z(handlers, context):
    gan, vae = path(context, "gan"), path(context, "vae")
    sliders = [0.3, -1.2, 2.0, 0.0, 1.0, -0.5, 0.25, 0.75]
    image, second = render(handlers, gan, seed=5, direction=2, strength=1.5, truncation=0.8, compare=vae,
                           sliders=sliders)
    assert second is not None and second.shape == (280, 280)
    # the compared image is the VAE decoding exactly the GAN page's z' = ψ·z + α·v
    z = 0.8 * torch.tensor([sliders]) + 1.5 * handlers.directions(gan).vectors[2]
    network, _ = context.renderer.model(vae)
    with torch.inference_mode():
        expected = (network.generate(z)[0, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    assert np.array_equal(second[::10, ::10], expected)
    assert np.array_equal(image, render(handlers, gan, seed=5, direction=2, strength=1.5, truncation=0.8,
                                        sliders=sliders)[0])
    assert "renders exactly the same z" in handlers.notes(gan, vae)


def test_compare_with_another_latent_size_uses_the_seeds_own_z(handlers, context):
    gan, vae2d = path(context, "gan"), path(context, "vae2d")
    _, second = render(handlers, gan, seed=9, truncation=0.5, compare=vae2d, sliders=[1.0] * 8)
    own, _ = render(handlers, vae2d, seed=9, truncation=0.5,
                    sliders=seeded_latents(9, 1, 2)[0].tolist())  # unrounded: exactly the seed's z
    assert np.array_equal(second, own)
    note = handlers.notes(gan, vae2d)
    assert "z has 2 dimensions" in note and "has 8" in note
    assert "vae2d" in handlers.notes(gan, vae2d, "zh-CN")


# ---------------------------------------------------------------------------------------------- state
def test_state_round_trip_gives_the_same_images(handlers, context):
    cases = [
        {"model": path(context, "cgan"), "seed": 13, "label": 4, "direction": 1, "strength": -2.5,
         "truncation": 0.7, "compare": path(context, "vae"),
         "sliders": [0.1 * index for index in range(SLIDER_COUNT)]},
        {"model": path(context, "wide-gan"), "seed": 2**40, "label": None, "direction": 9, "strength": 4.0,
         "truncation": 1.0, "compare": NO_COMPARE,
         "sliders": handlers.seed_sliders(entry(context, "wide-gan"), 2**40)},
    ]
    for values in cases:
        state = handlers.state(**values)
        assert json.loads(json.dumps(state)) == state
        assert set(state) == {"model", "seed", "sliders", "direction", "strength", "truncation", "label", "compare"}
        assert len(state["sliders"]) == min(16, entry(context, Path(state["model"]).name).latent_dim)
        expected = handlers.render(**values)
        restored = handlers.render_from_state(json.loads(json.dumps(state)))
        for got, want in zip(restored, expected):
            assert (got is None and want is None) or np.array_equal(got, want)
    minimal = handlers.render_from_state({"model": path(context, "gan"), "seed": 3})
    assert np.array_equal(minimal[0], render(handlers, path(context, "gan"), seed=3)[0]) and minimal[1] is None


def test_apply_state_matches_the_state_outputs(handlers, context):
    with gr.Blocks():
        built = build_latent_tab(context)
    state = handlers.state(path(context, "cgan"), 13, 4, 1, -2.5, 0.7, path(context, "vae"), [0.5] * 8)
    updates = built.apply_state(state)
    assert len(updates) == len(built.components["state_outputs"]) == 4 + SLIDER_COUNT + 6
    assert updates[0]["value"] == state["model"] and updates[1]["value"] == 13 and updates[2]["value"] == 0.7
    assert [update["value"] for update in updates[4:12]] == [0.5] * 8
    image, second, strips = updates[-3], updates[-2], updates[-1]
    expected = built.render_from_state(state)
    assert np.array_equal(image, expected[0]) and np.array_equal(second["value"], expected[1])
    # a restored view (a shared link, a lesson) brings its own strips, not those of the page's default seed
    assert built.components["state_outputs"][-1] is built.components["strips"]
    assert np.array_equal(strips, built.strips(state["model"], 13, 4, 0.7, state["compare"], [0.5] * 8))
    # (the sliders set all 8 values of this z, so the page's default is the seed's own z)
    default = built.strips(state["model"], 0, 4, 0.7, state["compare"], built.seed_sliders(entry(context, "cgan"), 0))
    assert not np.array_equal(strips, default)
    assert len(built.components["state_inputs"]) == 7 + SLIDER_COUNT


# ---------------------------------------------------------------------------------------------- bad input
def test_bad_input_raises_clear_errors(handlers, context, tiny_models, tmp_path):
    gan = path(context, "gan")
    good = {"model": gan, "seed": 0, "label": None, "direction": 0, "strength": 0.0, "truncation": 1.0,
            "compare": NO_COMPARE, "sliders": [0.0] * 8}

    def refused(match, language="en", **changes):
        with pytest.raises(gr.Error, match=match):
            handlers.render(**{**good, **changes}, language=language)

    for model in (None, "no such model", str(tmp_path), "../" + gan, 3):
        refused("Pick a model", model=model)
    refused("Pick the model to compare", compare="/etc")
    for seed in (None, -1, 1.5, math.nan, math.inf, 2**63, True, "abc", [1]):
        refused("seed", seed=seed)
    refused("z₁ must be a finite number", sliders=[math.nan] + [0.0] * 7)
    refused("z₈ must be a finite number", sliders=[0.0] * 7 + [math.inf])
    refused("must be a finite number", sliders=[0.0] * 7 + ["1"])
    refused("Strength", strength=math.nan)
    refused("Truncation", truncation=-math.inf)
    refused("8 sliders; got 9 values", sliders=[0.0] * 9)
    assert handlers.state(**{**good, "label": 3})["label"] is None  # an unconditional model ignores a stale class
    refused("not a class", model=path(context, "cgan"), label=10)
    refused("not a class", model=path(context, "cgan"), label="seven")
    refused("not a direction", direction=8)  # z has 8 dimensions: PC1 to PC8
    refused("not a direction", direction=-1)
    refused("种子必须是", language="zh-CN", seed=-5)
    refused("请先从列表中选择一个模型", language="zh-CN", model="x")
    # huge but finite values are clamped to the sliders' ranges
    state = handlers.state(**{**good, "sliders": [1e9, -1e9] + [0.0] * 6, "strength": 1e300, "truncation": 7})
    assert state["sliders"][:2] == [3.0, -3.0] and state["strength"] == 5.0 and state["truncation"] == 1.0
    for bad_state in (None, [], {"model": gan}, {"model": gan, "seed": 0, "path": "/etc/passwd"}):
        with pytest.raises(gr.Error, match="saved state"):
            handlers.render_from_state(bad_state)
    with pytest.raises(gr.Error, match="seed"):
        handlers.pick_model(gan, -3, None, 1.0, NO_COMPARE)
    assert handlers.notes("not listed", NO_COMPARE) == ""


def test_a_broken_checkpoint_is_a_clear_error(tmp_path, tiny_models):
    import shutil

    folder = tmp_path / "models"
    shutil.copytree(tiny_models["gan"], folder / "broken-gan")
    weights = next((folder / "broken-gan").glob("weights-*.safetensors"))
    weights.write_bytes(b"not safetensors")
    context = ExploreContext(Renderer("cpu"), discover(folder))
    handlers = LatentHandlers(context)
    with pytest.raises(gr.Error, match="could not be loaded"):
        render(handlers, str(folder / "broken-gan"), sliders=[0.0] * 8)
    with gr.Blocks():  # the page still opens
        build_latent_tab(context)


# ---------------------------------------------------------------------------------------------- strings, layout
def test_every_string_exists_in_both_languages():
    english, chinese = i18n.table("en"), i18n.table("zh-CN")
    source = (Path(__file__).parents[2] / "genimg" / "ui" / "latent_tab.py").read_text(encoding="utf-8")
    used = set(re.findall(r'"(latent\.[a-z_.]+)"', source))
    assert used and used <= set(ENGLISH)
    for key in ENGLISH:
        assert english[key] and chinese[key], key
        assert english[key] != chinese[key] or key in {"latent.random"}, key
        assert set(re.findall(r"{(\w+)", english[key])) == set(re.findall(r"{(\w+)", chinese[key])), key


def test_the_tab_builds(context, tmp_path):
    with gr.Blocks() as demo:
        built = build_latent_tab(context)
    assert len(built.components["sliders"]) == SLIDER_COUNT
    first = context.entries[0]
    shown = [slider.visible for slider in built.components["sliders"]]
    assert shown == [index < min(16, first.latent_dim) for index in range(SLIDER_COUNT)]
    assert built.components["image"].value is not None
    assert any(getattr(dependency, "api_name", None) == "latent_render" for dependency in demo.fns.values())
    with gr.Blocks():
        empty = build_latent_tab(ExploreContext(Renderer("cpu"), discover(tmp_path)))
    assert empty.components == {}


@pytest.mark.parametrize("label,direction", [
    ("x" * 10_000, 0), (-1, 0), (10**400, 0), ({"a": 1}, 0), (11, 0), (float("nan"), 0),
    (3, "PC1; DROP"), (3, -5), (3, 10**400), (3, ["0"]), (3, float("inf")),
])
def test_hostile_picker_values_get_a_sentence_not_a_crash(handlers, context, label, direction):
    """The class and direction pickers accept any value the page sends (their choices follow the model, see
    ui.explore.dependent_dropdown), so the handler is the only check: a forged value is refused in words, in the
    visitor's language, shortened, and the next honest request still works."""
    cgan = path(context, "cgan")
    for language, words in (("en", "class|direction"), ("zh-CN", "类别|方向")):
        with pytest.raises(gr.Error, match=words) as refused:
            render(handlers, cgan, seed=1, label=label, direction=direction, strength=1.0, language=language)
        assert len(str(refused.value)) < 300
    image, _ = render(handlers, cgan, seed=1, label=3, direction=0, strength=1.0)
    assert isinstance(image, np.ndarray)


# ---------------------------------------------------------------------------------------------- our messages only
def test_the_page_components_leave_every_check_to_the_handlers(context):
    """Gradio's own checks (an English "Value -3 is less than minimum value 0.", titled "Error") run before any
    handler: the seed box and the sliders pass what is typed through, and the handler answers in Chinese."""
    with gr.Blocks():
        handlers = build_latent_tab(context)
    parts = handlers.components
    assert parts["seed"].preprocess(-3.0) == -3.0 and parts["seed"].preprocess(1e300) == 1e300
    for slider, beyond in ((parts["truncation"], 7.0), (parts["strength"], -50.0), (parts["sliders"][0], 9.0)):
        assert slider.preprocess(beyond) == beyond
        assert slider.get_block_name() == "slider"  # the browser shows them as plain sliders
    assert parts["seed"].get_block_name() == "number"
    model = path(context, "gan")
    with pytest.raises(gr.Error, match="种子必须是") as refused:
        handlers.reseed(model, -3.0, None, 0, 0.0, 1.0, NO_COMPARE, "zh-CN")
    assert refused.value.title == "出错了"  # not Gradio's English "Error" above the sentence


def test_a_value_beyond_a_slider_is_drawn_at_its_end_and_said(handlers, context):
    model = path(context, "gan")
    with pytest.warns(UserWarning, match="截断 ψ 的范围是 0 到 1：7 按 1 处理"):
        clamped = render(handlers, model, truncation=7.0, language="zh-CN")
    assert np.array_equal(clamped[0], render(handlers, model, truncation=1.0)[0])


def test_an_unexpected_failure_is_a_sentence_in_the_users_language(handlers, context, monkeypatch):
    """Whatever breaks inside a handler (here the network itself), the page shows our sentence, not "Error"."""
    model = path(context, "gan")
    network, _ = handlers.renderer.model(entry(context, "gan").path)

    def broken(*args, **kwargs):
        raise RuntimeError("mat1 and mat2 shapes cannot be multiplied")

    monkeypatch.setattr(network, "generate", broken)
    for call in (lambda: render(handlers, model, language="zh-CN"),
                 lambda: handlers.reseed(model, 4, None, 0, 0.0, 1.0, NO_COMPARE, "zh-CN"),
                 lambda: handlers.pick_model(model, 4, None, 1.0, NO_COMPARE, "zh-CN")):
        with pytest.raises(gr.Error, match="无法画出这幅图像（mat1 and mat2") as refused:
            call()
        assert refused.value.title == "出错了"
    with pytest.raises(gr.Error, match="The image could not be drawn"):
        render(handlers, model)


def test_direction_names_are_in_the_users_language(handlers, context):
    model = path(context, "gan")
    english = [name for name, _ in handlers.direction_choices(model, "en")]
    chinese = [name for name, _ in handlers.direction_choices(model, "zh-CN")]
    assert english[0].startswith("PC1 · ") and chinese[0].startswith("主成分1 · ")
    assert not any("PC" in name for name in chinese)


def test_the_pictures_keep_gradios_label_and_buttons_above_them(context):
    """The Latent image is framed (LATENT_CSS: a band at the top of its box holds the label and buttons), and the
    page's <head> gets the rule from the tab itself; tests/ui/test_journeys_presenter.py measures it in a browser."""
    from genimg.ui.latent_tab import FRAMED, LATENT_CSS

    with gr.Blocks():
        handlers = build_latent_tab(context)
    for name in ("image", "compare_image"):
        assert FRAMED in handlers.components[name].elem_classes
    assert f".{FRAMED} .image-container" in LATENT_CSS and "padding-top" in LATENT_CSS
    styles = handlers.components["styles"]
    assert LATENT_CSS in styles.head


def test_direction_strips_follow_the_current_latent_and_are_kept(handlers, context):
    from genimg.explore.directions import STRIP_STEPS

    cgan = path(context, "cgan")
    cgan_entry = entry(context, "cgan")

    def strips(seed, label=3, truncation=1.0, sliders=None):
        values = handlers.seed_sliders(cgan_entry, seed) if sliders is None else sliders
        return handlers.strips(cgan, seed, label, truncation, NO_COMPARE, values)

    first = strips(5)
    count = len(handlers.directions(cgan))
    side = 28 * max(1, 56 // 28) + 2 * max(1, 56 // 28)  # a cell and its gap, upscaled
    assert first.dtype == np.uint8 and first.shape[0] >= count * side and first.shape[1] >= len(STRIP_STEPS) * side
    assert strips(5) is first  # kept: the same seed, class, sliders and ψ cost nothing
    for changed in (strips(6), strips(5, label=4), strips(5, truncation=0.5),
                    strips(5, sliders=[2.0] + handlers.seed_sliders(cgan_entry, 5)[1:])):
        assert changed.shape == first.shape and not np.array_equal(changed, first)
    with pytest.raises(gr.Error, match="种子必须是"):
        handlers.strips(cgan, -3, 3, 1.0, NO_COMPARE, [0.0] * 8, "zh-CN")


def test_presenter_view_is_a_page_class_with_both_buttons(context):
    """The presenter view is the browser's own state: the buttons only toggle the <body> class genimg-presenter
    (no server round trip), and LATENT_CSS lays the tab out for it; the browser journey measures the result."""
    from genimg.ui.latent_tab import (
        ENTER_PRESENTER_JS,
        EXIT_PRESENTER_JS,
        LATENT_CSS,
        PRESENTER,
    )

    with gr.Blocks() as demo:
        handlers = build_latent_tab(context)
    enter, leave = handlers.components["enter_presenter"], handlers.components["exit_presenter"]
    scripts = {dependency.get("js") for dependency in demo.config["dependencies"]
               if enter._id in [target[0] for target in dependency["targets"]]
               or leave._id in [target[0] for target in dependency["targets"]]}
    assert scripts == {ENTER_PRESENTER_JS, EXIT_PRESENTER_JS}
    assert 'classList.add("genimg-presenter")' in ENTER_PRESENTER_JS and "Escape" in ENTER_PRESENTER_JS
    assert 'classList.remove("genimg-presenter")' in EXIT_PRESENTER_JS
    for rule in (f"{PRESENTER} #latent-layout", f"{PRESENTER} #latent-view .image-container",
                 f"{PRESENTER} #latent-controls", f"{PRESENTER} #latent-exit-presenter"):
        assert rule in LATENT_CSS, rule
