"""Flow models in the Explore tabs: the Samples tab's ODE controls, the Encode tab's round trip through the ODE, and
latent arithmetic on drawings; every refusal in the visitor's language."""

from __future__ import annotations

import threading

import gradio as gr
import numpy as np
import pytest
import torch

from genimg.explore.catalog import Renderer, discover
from genimg.models.flow import Sampling
from genimg.ui.context import ExploreContext
from genimg.ui.encode_tab import SEED_FOUND, EncodeHandlers, build_encode_tab
from genimg.ui.explore import EVERY_CLASS, ExploreHandlers
from genimg.ui.views import LanguageRequest

pytestmark = pytest.mark.usefixtures("one_thread")
CHINESE = LanguageRequest("zh-CN")


@pytest.fixture(scope="module")
def flows(tmp_path_factory, tiny_models):
    """Tiny flows trained a few steps on blobs (one conditional), beside the tiny GAN and VAE: their context."""
    from genimg.training.engine import train
    from tests.helpers import blob_data, tiny_config

    folder = tmp_path_factory.mktemp("tiny-flows")
    for name, classes in (("flow", 0), ("cflow", 10)):
        config = tiny_config("flow", num_classes=classes, steps=3, out=str(folder / name))
        config = config.replace(model=config.model.__class__(**{**config.model.to_dict(), "latent_dim": 784}))
        for _ in train(config, data=blob_data(64, 28, 1, num_classes=10)):
            pass
    entries = [*discover(folder), *discover(tiny_models["gan"].parent)]
    return ExploreContext(Renderer("cpu"), entries)


def path_of(context, name):
    return next(str(entry.path) for entry in context.entries if entry.name == name)


def test_the_samples_tab_draws_a_flow_with_the_steps_solver_and_guidance_asked_for(flows):
    handlers = ExploreHandlers(flows)
    path = path_of(flows, "cflow")
    default = handlers.samples(path, 3, 6, EVERY_CLASS)
    assert np.array_equal(default, handlers.samples(path, 3, 6, EVERY_CLASS, 20, "heun", 1.5))  # the defaults
    for other in ((1, "euler", 1.5), (20, "euler", 1.5), (20, "heun", 0.0), (20, "heun", 2.0)):
        assert not np.array_equal(default, handlers.samples(path, 3, 6, EVERY_CLASS, *other)), other
    # an unconditional flow ignores guidance (there is no class to guide towards)
    plain = path_of(flows, "flow")
    assert np.array_equal(handlers.samples(plain, 3, 4, EVERY_CLASS, 5, "euler", 0.0),
                          handlers.samples(plain, 3, 4, EVERY_CLASS, 5, "euler", 7.0))


@pytest.mark.parametrize("steps,solver,guidance,english,chinese", [
    (0, "heun", 2, "whole number from 1 to 100", "1 到 100 之间的整数"),
    (2.5, "heun", 2, "whole number from 1 to 100", "1 到 100 之间的整数"),
    ("many", "heun", 2, "whole number from 1 to 100", "1 到 100 之间的整数"),
    (10**9, "heun", 2, "whole number from 1 to 100", "1 到 100 之间的整数"),
    (5, "rk4", 2, "'rk4' is not a solver", "'rk4' 不是本页提供的求解器"),
    (5, ["heun"], 2, "is not a solver", "不是本页提供的求解器"),
    (5, "euler", float("nan"), "number from 0 to 10", "0 到 10 之间的数字"),
    (5, "euler", 1e30, "number from 0 to 10", "0 到 10 之间的数字"),
    (5, "euler", -1, "number from 0 to 10", "0 到 10 之间的数字"),
    (True, "heun", 2, "whole number from 1 to 100", "1 到 100 之间的整数"),
    (5, "heun", True, "number from 0 to 10", "0 到 10 之间的数字"),
    (5, "x" * 10_000, 2, "is not a solver", "不是本页提供的求解器"),
])
def test_absurd_flow_settings_are_refused_in_the_visitors_language(flows, steps, solver, guidance, english, chinese):
    handlers = ExploreHandlers(flows)
    path = path_of(flows, "cflow")
    with pytest.raises(gr.Error, match=english):
        handlers.samples(path, 0, 4, EVERY_CLASS, steps, solver, guidance)
    with pytest.raises(gr.Error, match=chinese):
        handlers.samples(path, 0, 4, EVERY_CLASS, steps, solver, guidance, request=CHINESE)


def test_flow_settings_sent_with_a_gan_are_ignored(flows):
    handlers = ExploreHandlers(flows)
    gan = path_of(flows, "gan")
    assert np.array_equal(handlers.samples(gan, 1, 4, EVERY_CLASS), handlers.samples(gan, 1, 4, EVERY_CLASS, 0, "x", -5))


def test_the_flow_controls_show_for_flows_only_with_guidance_for_a_conditional_one(flows):
    handlers = ExploreHandlers(flows)
    for name, group, guidance in (("gan", False, False), ("flow", True, False), ("cflow", True, True)):
        group_update, guidance_update, note = handlers.flow_shown(path_of(flows, name), 20, "heun", 2)
        assert (group_update["visible"], guidance_update["visible"]) == (group, guidance), name
        assert ("ODE steps: **20**" in note) == group
    *_, note = handlers.flow_shown(path_of(flows, "cflow"), 10, "euler", 2, request=CHINESE)
    assert "ODE 步数：**10**" in note and "每张图 20 次网络调用（引导使其加倍）" in note  # Euler: a call a step, ×2


def test_one_visitors_step_count_does_not_change_what_another_visitor_draws(flows):
    """Visitor A asks for 1 Euler step and is held in the middle of drawing; meanwhile visitor B draws with the
    flow's own settings on the same shared model: B's grid is the one drawn alone, and the model keeps its settings."""
    handlers = ExploreHandlers(flows)
    path = path_of(flows, "flow")
    alone = handlers.samples(path, 5, 4, EVERY_CLASS)
    model, _ = flows.renderer.model(path)
    velocity = model.velocity
    inside, done = threading.Event(), threading.Event()

    class Held(torch.nn.Module):  # visitor A's first network call waits until B has drawn
        def forward(self, x, t, classes=None):
            if threading.current_thread().name == "visitor-a" and not inside.is_set():
                inside.set()
                done.wait(30)
            return velocity(x, t, classes)

    model.velocity = Held()
    try:
        thread = threading.Thread(target=lambda: handlers.samples(path, 5, 4, EVERY_CLASS, 1, "euler"),
                                  name="visitor-a")
        thread.start()
        assert inside.wait(30)
        during = handlers.samples(path, 5, 4, EVERY_CLASS)
        done.set()
        thread.join(30)
    finally:
        model.velocity = velocity
    assert np.array_equal(during, alone) and model.sampling == Sampling()


def test_a_drawing_too_big_for_one_request_is_refused_with_what_would_fit(flows):
    handlers = ExploreHandlers(flows)
    path = path_of(flows, "cflow")
    handlers.samples(path, 0, 12, EVERY_CLASS, 100, "heun", 2.0)  # 12 × 400 calls: within the budget
    with pytest.raises(gr.Error, match="at this setting choose at most 12 images"):
        handlers.samples(path, 0, 64, EVERY_CLASS, 100, "heun", 2.0)
    with pytest.raises(gr.Error, match="在这个设置下最多选 12 张"):
        handlers.samples(path, 0, 64, EVERY_CLASS, 100, "heun", 2.0, request=CHINESE)
    handlers.samples(path_of(flows, "flow"), 0, 25, EVERY_CLASS, 100, "heun", 2.0)  # unguided: 200 calls, 25 fit


def test_the_ode_round_trip_finds_the_seeds_own_noise_and_redraws_the_picture(flows):
    handlers = EncodeHandlers(flows)
    assert [label for label, _ in handlers.flow_choices()] == [entry.label for entry in flows.entries
                                                             if entry.capabilities.ode]
    path = path_of(flows, "cflow")
    picture, noise, redrawn, path_strip, note = handlers.ode_round_trip(path, "3", "seed", 7, None, None, 50, "heun",
                                                                        2.0)
    assert picture.shape == noise.shape == redrawn.shape == (224, 224)
    assert np.abs(picture.astype(int) - redrawn.astype(int)).mean() < 0.02 * 255
    assert path_strip.shape[1] > 7 * path_strip.shape[0]  # 8 frames in a row
    error = float(note.split("**Round trip error: ")[1].split("**")[0])
    share = float(note.split("on average, ")[1].split("%")[0]) / 100
    assert error <= 0.02 and share < SEED_FOUND and "the ODE found the latent" in note, note
    # one Euler step each way leaves a larger error: the solver's steps are what make the inverse exact
    coarse = handlers.ode_round_trip(path, "3", "seed", 7, None, None, 1, "euler", 2.0)[-1]
    assert float(coarse.split("**Round trip error: ")[1].split("**")[0]) > error
    chinese = handlers.ode_round_trip(path, "3", "seed", 7, None, None, 5, "heun", 2.0, request=CHINESE)[-1]
    assert "往返误差" in chinese and "种子自己的噪声" in chinese


def test_the_velocity_field_carries_the_seeds_drawings_and_redraws_frames_without_the_network(flows):
    from genimg.explore.velocity import FRAME_STEP, FRAMES, VelocityField

    handlers = EncodeHandlers(flows)
    path = path_of(flows, "cflow")
    field, picture, note = handlers.velocity_field(path, 7, 20, "heun", 1.5, 1.0)
    assert isinstance(field, VelocityField) and picture.shape == (560, 560, 3)
    assert field.count == 40 and field.labels[:12] == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]  # the Samples tab's classes
    assert field.positions.shape == field.arrows.shape == (FRAMES, 40, 2)
    # the first frame is the seed's own noise, and the last frame its drawing as the Samples tab draws it
    from genimg.models.latent import seeded_latents

    model, _ = flows.renderer.model(path)
    noise = seeded_latents(7, 40, 784)
    assert torch.allclose(field.pictures[0].flatten(), ((noise[0] + 1) / 2).clamp(0, 1), atol=1e-6)
    with torch.no_grad():  # 10 stretches of 2 Heun steps are the 20 steps the Samples tab takes
        drawn = model.integrate(noise[:1].view(1, 1, 28, 28), torch.eye(10)[:1], 0.0, 1.0,
                                Sampling(steps=20, solver="heun", guidance=1.5))
    assert torch.allclose(field.pictures[-1], ((drawn[0] + 1) / 2).clamp(0, 1), atol=1e-4)
    # each arrow is the velocity over one frame: a frame's position plus its arrow is near the next frame's position
    # (the paths are straight where the flow has learned them; a tiny flow is far from straight, so only the
    # direction is checked, on average)
    step = field.positions[1:] - field.positions[:-1]
    cosine = (step * field.arrows[:-1]).sum(-1) / (np.linalg.norm(step, axis=-1) * np.linalg.norm(field.arrows[:-1],
                                                                                                  axis=-1) + 1e-9)
    assert float(cosine.mean()) > 0.5, cosine.mean()
    assert FRAME_STEP == pytest.approx(0.1)
    assert "**40 drawings**" in note and "Colours:" in note and "#1f77b4" in note
    # another time redraws from the kept field, and differs from the last frame
    earlier = handlers.field_frame(field, 0.3)
    assert earlier.shape == picture.shape and np.abs(earlier.astype(int) - picture.astype(int)).mean() > 1
    # more steps: fewer drawings, so one request stays within the page's budget; a conditional flow keeps whole rows
    many = handlers.velocity_field(path, 7, 100, "heun", 1.5, 0.5)[0]
    assert many.count == 10


@pytest.mark.parametrize("time_value", [-0.5, 1.5, float("nan"), "x", True])
def test_the_velocity_field_refuses_absurd_times_in_the_visitors_language(flows, time_value):
    handlers = EncodeHandlers(flows)
    with pytest.raises(gr.Error, match="时间 t"):
        handlers.velocity_field(path_of(flows, "flow"), 1, 5, "euler", 1.0, time_value, request=CHINESE)
    with pytest.raises(gr.Error, match="Time t"):
        handlers.field_frame(handlers.velocity_field(path_of(flows, "flow"), 1, 5, "euler", 1.0, 1)[0], time_value)
    with pytest.raises(gr.Error, match="请先点击"):
        handlers.field_frame(None, 0.5, request=CHINESE)
    with pytest.raises(gr.Error, match="Pick a flow model"):
        handlers.velocity_field(path_of(flows, "gan"), 1, 5, "euler", 1.0, 0.5)


def test_the_ode_round_trip_takes_a_drawing_and_refuses_what_is_not_a_flow(flows):
    handlers = EncodeHandlers(flows)
    sketch = {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": np.zeros((280, 280), np.uint8)}
    sketch["composite"][60:220, 120:160] = 255
    picture, *_, note = handlers.ode_round_trip(path_of(flows, "flow"), None, "draw", None, sketch, None, 10,
                                                "euler", 1.0)
    assert picture.max() == 255 and "Round trip error" in note
    with pytest.raises(gr.Error, match="Pick a flow model"):
        handlers.ode_round_trip(path_of(flows, "gan"), None, "seed", 1, None, None)
    with pytest.raises(gr.Error, match="请先从列表中选择一个流模型"):
        handlers.ode_round_trip("/etc", None, "seed", 1, None, None, request=CHINESE)


def test_latent_arithmetic_takes_drawings_on_a_flow_through_its_ode(flows):
    handlers = EncodeHandlers(flows)
    sketch = {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": np.zeros((280, 280), np.uint8)}
    sketch["composite"][100:180, 100:180] = 255
    path = path_of(flows, "flow")
    *pictures, note = handlers.arithmetic(path, None, "draw", None, sketch, None, "seed", 2, None, None,
                                          "seed", 3, None, None)
    assert len(pictures) == 4 and all(picture.shape == (224, 224) for picture in pictures)
    # A is the drawing's latent found by the ODE run backwards, drawn again: the drawing comes back
    prepared = handlers.ode_round_trip(path, None, "draw", None, sketch, None)[0].astype(int)  # as the flow sees it
    assert prepared.max() == 255 and np.abs(pictures[0].astype(int) - prepared).mean() < 0.05 * 255
    assert "‖z‖/√D" in note


def test_the_encode_tab_offers_the_round_trip_only_when_a_flow_is_there(flows, tiny_models):
    with gr.Blocks() as page:
        build_encode_tab(flows)
    ids = {getattr(block, "elem_id", None) for block in page.blocks.values()}
    assert {"ode-model", "ode-run", "ode-steps", "ode-guidance", "ode-path"} <= ids
    without = ExploreContext(Renderer("cpu"), discover(tiny_models["gan"].parent))
    with gr.Blocks() as page:
        build_encode_tab(without)
    assert "ode-model" not in {getattr(block, "elem_id", None) for block in page.blocks.values()}


def test_the_latent_tab_previews_a_flow_while_dragging_and_draws_it_in_full_when_the_drag_ends(flows):
    from genimg.explore.directions import DirectionCache
    from genimg.ui.latent_tab import LatentHandlers, shown_dims

    handlers = LatentHandlers(flows, DirectionCache(samples=64))
    flow, gan = path_of(flows, "cflow"), path_of(flows, "gan")
    sliders = [0.3] * shown_dims(784)
    preview, _ = handlers.render(flow, 4, 2, None, 0.0, 1.0, None, sliders, preview=True)
    full, _ = handlers.finish(flow, 4, 2, None, 0.0, 1.0, None, sliders)
    assert not np.array_equal(preview, full)  # ten Euler steps, then the flow's own twenty Heun steps
    assert np.array_equal(full, handlers.render(flow, 4, 2, None, 0.0, 1.0, None, sliders)[0])
    # a GAN's preview is its picture: nothing more to draw when the drag ends
    skipped = handlers.finish(gan, 4, None, None, 0.0, 1.0, None, [0.1] * 8)
    assert all(isinstance(update, dict) and update.get("__type__") == "update" and len(update) == 1
               for update in skipped), skipped


def test_a_flows_latent_sliders_are_its_coordinates_along_the_principal_directions(flows):
    """A flow's z is a noise image: its sliders are named PC1, PC2, … (in Chinese too), start at the seed's
    coordinates along those directions, and moving one by δ draws what the direction picker draws at strength δ. A
    GAN keeps one slider per coordinate of z."""
    from genimg.explore.directions import DirectionCache
    from genimg.explore.latent import axis_coordinates
    from genimg.models.latent import seeded_latents
    from genimg.ui.latent_tab import LatentHandlers, slider_label

    handlers = LatentHandlers(flows, DirectionCache(samples=64))
    flow, gan = path_of(flows, "flow"), path_of(flows, "gan")
    entry = flows.entry(flow)
    count = handlers.slider_count(entry)
    assert count == 10  # one per principal direction the page lists
    layout = handlers.pick_model(flow, 5, None, 1.0, "")
    sliders = layout[:16]
    assert [update["label"] for update in sliders[:count]] == [f"PC{index}" for index in range(1, count + 1)]
    assert all(update["visible"] for update in sliders[:count]) and not any(u["visible"] for u in sliders[count:])
    chinese = handlers.pick_model(flow, 5, None, 1.0, "", language="zh-CN")[:16]
    assert chinese[0]["label"] == "PC1"  # a label beside a phone's slider: the same short name in every language
    vectors = handlers.directions(flow).vectors[:count]
    exact = axis_coordinates(seeded_latents(5, 1, 784), vectors)
    start = [update["value"] for update in sliders[:count]]
    assert start == [round(value, 2) for value in exact.clamp(-3, 3).tolist()]
    assert max(abs(value) for value in start) > 0.05  # the seed's own place, not zeros
    # slider PC3 moved by 1.5 = the direction picker's PC3 at strength 1.5 (same picture up to float rounding)
    moved = list(start)
    moved[2] += 1.5
    by_slider, _ = handlers.render(flow, 5, None, None, 0.0, 1.0, None, moved)
    by_direction, _ = handlers.render(flow, 5, None, 2, 1.5, 1.0, None, start)
    unmoved, _ = handlers.render(flow, 5, None, None, 0.0, 1.0, None, start)
    difference = np.abs(by_slider.astype(int) - by_direction.astype(int))
    assert difference.max() <= 2 and np.abs(by_slider.astype(int) - unmoved.astype(int)).max() > 10
    assert "principal directions PC1 to PC10" in handlers.notes(flow, "")
    assert "PC1 到 PC10 是它沿主方向（主成分1 到 主成分10）" in handlers.notes(flow, "", language="zh-CN")
    # a GAN: one slider per coordinate, z₁ …
    gan_entry = flows.entry(gan)
    assert handlers.slider_count(gan_entry) == min(16, gan_entry.latent_dim)
    assert handlers.pick_model(gan, 5, None, 1.0, "")[0]["label"] == slider_label(0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU: the flow's inputs must follow it there")
def test_the_round_trip_and_arithmetic_run_where_the_model_lives(flows):
    context = ExploreContext(Renderer("cuda"), flows.entries)
    handlers = EncodeHandlers(context)
    path = path_of(context, "cflow")
    *_, note = handlers.ode_round_trip(path, "3", "seed", 7, None, None, 10, "heun", 2.0)
    assert "Round trip error" in note
    sketch = {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": np.zeros((280, 280), np.uint8)}
    sketch["composite"][100:180, 100:180] = 255
    assert handlers.ode_round_trip(path, "3", "draw", None, sketch, None)[-1]
    assert len(handlers.arithmetic(path_of(context, "flow"), None, "draw", None, sketch, None, "seed", 2, None,
                                   None, "seed", 3, None, None)) == 5


def test_the_chinese_caption_puts_a_space_before_a_latin_family_name_only(flows):
    handlers = ExploreHandlers(flows)
    flow = handlers.caption(path_of(flows, "cflow"), 16, EVERY_CLASS, request=CHINESE)
    gan = handlers.caption(path_of(flows, "gan"), 16, EVERY_CLASS, request=CHINESE)
    assert "由条件流模型（cflow）" in flow, flow
    assert "由 GAN（" in gan or "由条件 GAN（" in gan, gan
