"""The Playground tab's handlers: Play streams frames and stops on Pause (and on Step, Reset, a newer Play, its time cap,
a NaN loss); Step is exactly one update; Reset starts over; bad values and drawings are refused in both languages."""

from __future__ import annotations

import math
import re

import gradio as gr
import numpy as np
import pytest
import torch

from genimg.playground.distributions import PLOT_LIMIT, get_distribution
from genimg.playground.models import MODE_COLLAPSE_PRESET, GanSettings, make_trainer
from genimg.playground.session import Playground
from genimg.ui import playground_tab as tab
from genimg.ui.i18n import message

pytestmark = pytest.mark.usefixtures("one_thread")
HAN = re.compile(r"[\u4e00-\u9fff]")


def request(language: str) -> gr.Request:
    return gr.Request(headers={"accept-language": language}, query_params={})


def controls(**changes) -> list:
    """The controls' values in the order handlers receive them: the page's defaults, with `changes`."""
    values = dict(distribution="moons", family="gan", sketch=None, rate_g=1e-3, rate_d=1e-3, gan_width=64, d_steps=1,
                  fix=False, vae_rate=2e-3, vae_width=32, beta=1.0, latent_dim=2, flow_rate=2e-3, flow_width=32, seed=0,
                  speed=3)
    values.update(changes)
    return [values[name] for name in tab.Controls.__dataclass_fields__]


def sketch_with_ink(rows: slice, columns: slice, size: int = tab.SKETCH_SIZE) -> dict:
    pad = np.full((size, size), 255, np.uint8)
    pad[rows, columns] = 60
    return {"background": None, "layers": [], "composite": pad}


def frame_sources(view: str) -> list[str]:
    return re.findall(r'src="(data:image/png;base64,[^"]+)"', view)


class Playing:
    """Play consumed on another thread, as Gradio's worker consumes it while Pause, Step or Reset arrive."""

    def __init__(self, session, language: str = "en", **changes) -> None:
        import threading

        self.outputs: list = []
        self.frames = tab.play(session, *controls(**changes), request=request(language))
        self.thread = threading.Thread(target=lambda: self.outputs.extend(self.frames))
        self.thread.start()

    def wait_for(self, count: int) -> None:
        """Until `count` outputs (the first is the status alone, then one per frame) or the loop ended."""
        import threading

        while len(self.outputs) < count and self.thread.is_alive():
            threading.Event().wait(0.002)

    def ended(self) -> bool:
        self.thread.join(timeout=30)
        return not self.thread.is_alive()


def test_play_streams_frames_until_pause():
    session = tab.new_session()
    playing = Playing(session, speed=3)
    playing.wait_for(4)
    status, loss = tab.pause(session, request=request("en"))
    assert playing.ended() and not session.playing
    *frames, last = playing.outputs[1:]
    assert playing.outputs[0][:2] == ("", message("playground.status.playing", "en", models="GAN", update=0, speed=3))
    assert len(frames) >= 3
    assert session.update_count == 3 * len(frames)  # `speed` updates per frame, whole batches only
    assert [frame[1] for frame in frames] == [message("playground.status.playing", "en", models="GAN",
                                                      update=3 * index, speed=3) for index in range(1, len(frames) + 1)]
    sources = [source for output in frames for source in frame_sources(output[2])]
    assert len(sources) == len(frames) == len(set(sources))  # a new picture every frame
    assert status == message("playground.status.paused", "en", update=session.update_count)
    assert loss.count("<polyline") == 2  # the GAN's two curves, up to the last update
    # After a stop the loop's last yield only clears its progress line: Gradio sends a finished generator's last
    # values again, possibly after Pause's answer, and they must not undo it.
    assert last[1] == "" and all(isinstance(value, type(gr.skip())) for value in (last[0], *last[2:]))


def test_play_after_pause_goes_on_from_where_it_stopped():
    session = tab.new_session()
    first = Playing(session, speed=2)
    first.wait_for(3)
    tab.pause(session)
    assert first.ended()
    stopped_at = session.update_count
    second = Playing(session, speed=2)
    second.wait_for(3)
    tab.pause(session)
    assert second.ended() and session.update_count == stopped_at + 2 * (len(second.outputs) - 2)


def test_a_second_play_of_the_same_visitor_replaces_the_first():
    session = tab.new_session()
    first = tab.play(session, *controls(speed=1))
    next(first), next(first)
    second = tab.play(session, *controls(speed=1))
    next(second)
    with pytest.raises(StopIteration):  # the older loop ends without another frame: never two loops per visitor
        next(first)
    next(second)
    assert session.playing and session.update_count == 2
    second.close()
    assert not session.playing and session.idle.is_set()  # a closed tab ends the loop (Gradio closes the generator)


def test_play_stops_itself_after_its_time_cap_with_a_sentence():
    session = tab.new_session()
    outputs = list(tab.play(session, *controls(), request=request("zh-CN"), max_seconds=0.0))
    assert outputs[-1][0] == message("playground.status.capped", "zh-CN", minutes="0", update=0)
    assert HAN.search(outputs[-1][0]) and not session.playing


def test_play_stops_when_a_loss_is_no_longer_a_number(monkeypatch):
    session = tab.new_session()
    original = Playground.step

    def diverging(self):
        losses = original(self)
        self.trainers["gan"].loss_history["generator"][-1] = math.nan
        return losses

    monkeypatch.setattr(Playground, "step", diverging)
    outputs = list(tab.play(session, *controls(speed=1), request=request("en")))
    assert outputs[-1][0] == message("playground.status.diverged", "en", family="GAN", update=1)


def test_step_is_exactly_one_update_of_each_model_shown():
    session = tab.new_session()
    status, view, loss, _ = tab.step(session, *controls(family="all"), request=request("en"))
    assert {family: trainer.update_count for family, trainer in session.trainers.items()} == \
        {"gan": 1, "vae": 1, "flow": 1}
    assert status == message("playground.status.stepped", "en", update=1) and len(frame_sources(view)) == 3
    # the same weights as the library's GAN stepped once by hand
    reference = make_trainer("gan", get_distribution("moons"), GanSettings(), seed=0)
    reference.step()
    assert torch.equal(session.trainers["gan"].samples(50), reference.samples(50))
    tab.step(session, *controls(family="all"))
    assert session.update_count == 2


def test_step_while_playing_stops_the_play_first_and_has_the_last_word():
    session = tab.new_session()
    playing = Playing(session, speed=4)
    playing.wait_for(3)
    status, *_ = tab.step(session, *controls(speed=4))
    assert playing.ended()  # Step returned only after the loop's last frame
    assert session.update_count == 4 * (len(playing.outputs) - 2) + 1  # the frames, then the stop's own yield
    assert status == message("playground.status.stepped", "en", update=session.update_count)


def test_reset_starts_over_and_the_first_frame_is_the_pages_own():
    session = tab.new_session()
    tab.step(session, *controls())
    tab.step(session, *controls())
    status, view, _, _ = tab.reset(session, *controls(), request=request("en"))
    assert session.update_count == 0 and status.startswith("Reset")
    assert frame_sources(view) == frame_sources(tab.initial_frame())  # what the page shows before any event


def test_a_changed_setting_builds_new_models_and_an_unchanged_one_keeps_them():
    session = tab.new_session()
    tab.step(session, *controls())
    tab.show(session, *controls())
    assert session.update_count == 1
    tab.show(session, *controls(rate_g=2e-3))
    assert session.update_count == 0 and session.trainers["gan"].settings.generator_learning_rate == 2e-3
    tab.show(session, *controls(rate_g=2e-3, fix=True, family="all", latent_dim="1"))
    assert session.trainers["gan"].settings.pack_size == tab.FIX_PACK_SIZE
    assert session.trainers["vae"].settings.latent_dim == 1


def test_speed_changes_a_running_play_at_its_next_frame():
    session = tab.new_session()
    frames = tab.play(session, *controls(speed=1))
    next(frames), next(frames)
    tab.set_speed(session, 5)
    next(frames)
    assert session.update_count == 6
    frames.close()
    with pytest.raises(gr.Error):
        tab.set_speed(session, 10_000)


BAD = [("rate_g", 5.0), ("rate_d", math.nan), ("vae_rate", -1.0), ("flow_rate", math.inf), ("gan_width", 100_000),
       ("vae_width", 3.5), ("d_steps", 0), ("beta", 1e9), ("latent_dim", 3), ("seed", -3), ("speed", 10_000),
       ("distribution", "galaxy"), ("family", "diffusion"), ("rate_g", "0.001"), ("gan_width", True)]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
@pytest.mark.parametrize("name, value", BAD, ids=[f"{name}={value}" for name, value in BAD])
def test_bad_values_are_refused_with_a_sentence_naming_them(name, value, language):
    session = tab.new_session()
    for handler in (tab.show, tab.step, tab.reset):
        with pytest.raises(gr.Error) as refused:
            handler(session, *controls(**{name: value}), request=request(language))
        text = str(refused.value.message)
        assert message(tab.CONTROL_LABELS[name], language) in text and text != "Error"
        assert bool(HAN.search(text)) == (language == "zh-CN")
    with pytest.raises(gr.Error):
        next(tab.play(session, *controls(**{name: value}), request=request(language)))
    assert session.trainers == {}  # nothing was built from a refused value


def test_a_drawn_distribution_samples_near_the_ink():
    session = tab.new_session()
    # ink in the top-left quarter of the pad: x and y in about [-2.5, -0.1] and [0.1, 2.5]
    sketch = sketch_with_ink(slice(30, 120), slice(30, 120))
    tab.reset(session, *controls(distribution="drawn", sketch=sketch))
    points = session.playground.real_points
    assert session.setup.distribution == "drawn" and 1 <= len(session.setup.points) <= 500
    assert (points[:, 0] < 0).float().mean() > 0.95 and (points[:, 1] > 0).float().mean() > 0.95
    assert points.abs().max() <= PLOT_LIMIT + 0.5
    tab.step(session, *controls(distribution="drawn", sketch=sketch))
    assert session.update_count == 1


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_empty_or_enormous_drawing_is_refused_in_the_visitors_language(language):
    session = tab.new_session()
    cases = {"playground.bad.draw_empty": [None, sketch_with_ink(slice(0, 0), slice(0, 0))],
             "playground.bad.draw_large": [sketch_with_ink(slice(0, 5), slice(0, 5), size=2000)],
             "playground.bad.draw_unreadable": [{"composite": "not a picture"}]}
    for key, sketches in cases.items():
        for sketch in sketches:
            with pytest.raises(gr.Error) as refused:
                tab.reset(session, *controls(distribution="drawn", sketch=sketch), request=request(language))
            expected = message(key, language, width=2000, height=2000, limit=tab.MAX_SKETCH_SIDE)
            assert refused.value.message == expected


def test_picking_your_own_with_an_empty_pad_asks_for_a_drawing_instead_of_refusing():
    session = tab.new_session()
    status, view, _, _ = tab.show_unless_undrawn(session, *controls(distribution="drawn"), request=request("zh-CN"))
    assert status == message("playground.status.draw", "zh-CN") and session.trainers == {}


def test_an_enormous_drawing_becomes_at_most_the_librarys_number_of_points():
    points = tab.drawn_points(sketch_with_ink(slice(0, 280), slice(0, 280)), "en")
    assert len(points) == 500 and len(set(points)) == 500


def test_the_mode_collapse_preset_is_the_librarys():
    values = tab.collapse_preset(request=request("zh-CN"))
    assert values[:7] == ("gaussians8", "gan", MODE_COLLAPSE_PRESET.generator_learning_rate,
                          MODE_COLLAPSE_PRESET.discriminator_learning_rate, MODE_COLLAPSE_PRESET.width,
                          MODE_COLLAPSE_PRESET.discriminator_steps, False)
    assert HAN.search(values[7])
    session = tab.new_session()
    tab.reset(session, *controls(distribution="gaussians8", rate_g=values[2], rate_d=values[3], fix=True))
    assert session.trainers["gan"].settings == GanSettings(generator_learning_rate=values[2],
                                                           discriminator_learning_rate=values[3],
                                                           pack_size=tab.FIX_PACK_SIZE)


def test_captions_and_legends_speak_the_visitors_language():
    session = tab.new_session()
    _, view, loss, legend = tab.step(session, *controls(family="vae"), request=request("zh-CN"))
    assert len(frame_sources(view)) == 2  # the data plane and the latent plane
    for text in (re.sub(r'src="[^"]+"', "", view), re.sub(r"<svg.*?</svg>", "", loss), legend):
        assert HAN.search(text)
        assert not re.search(r"\b(?!VAE\b|KL\b)[A-Za-z]{2,}\b", re.sub(r"<[^>]+>", " ", text)), text


@pytest.mark.parametrize("handler", [tab.play, tab.step, tab.reset, tab.show_unless_undrawn])
def test_gradio_hands_the_page_handlers_the_visitors_request(handler):
    """Gradio looks for a gr.Request among named positional parameters only; after *values it passed none and the
    Chinese page got English sentences."""
    import inspect

    from gradio.helpers import special_args

    wrapped = tab.for_page(handler)
    chinese = request("zh-CN")
    inputs, *_ = special_args(wrapped, [tab.new_session(), *controls()], chinese)
    assert inputs[-1] is chinese and len(inputs) == 2 + tab.CONTROL_COUNT
    assert inspect.isgeneratorfunction(wrapped) == inspect.isgeneratorfunction(handler)
    answer = wrapped(*inputs)
    status = next(answer)[1] if inspect.isgeneratorfunction(handler) else answer[0]  # Play: its progress line
    assert HAN.search(status), status


def test_the_page_handlers_refuse_in_the_visitors_language_through_gradio():
    from gradio.helpers import special_args

    wrapped = tab.for_page(tab.step)
    inputs, *_ = special_args(wrapped, [tab.new_session(), *controls(seed=-3)], request("zh-CN"))
    with pytest.raises(gr.Error) as refused:
        wrapped(*inputs)
    assert HAN.search(refused.value.message)


def test_pause_names_the_update_the_models_stopped_at_even_mid_batch():
    """Pause arrives while the loop runs a batch of 50 updates: it waits for the batch and the loop's end."""
    session = tab.new_session()
    playing = Playing(session, speed=50)
    while session.update_count < 60 and playing.thread.is_alive():  # inside the second batch or later
        playing.wait_for(len(playing.outputs) + 1)
    status, _ = tab.pause(session)
    assert playing.ended()
    assert status == message("playground.status.paused", "en", update=session.update_count)
    assert session.update_count % 50 == 0  # whole batches only


def test_the_learn_tab_links_to_the_playground_in_both_languages():
    import app
    from genimg.ui.learn_tab import CHINESE, ENGLISH

    assert "playground" in app.TAB_TITLES  # ?view=playground opens the tab (genimg.ui.share)
    assert re.search(r"\[Playground\]\(\?view=playground\)", ENGLISH["learn.gan"])
    assert re.search(r"\[游乐场\]\(\?view=playground&lang=zh-CN\)", CHINESE["learn.gan"])


def test_the_legend_names_the_latent_plane_only_where_it_is_drawn():
    assert tab.legend_text("vae", "en") == message("playground.legend.vae", "en")
    side_by_side = tab.legend_text("all", "zh-CN")
    assert message("playground.legend.vae_side", "zh-CN") in side_by_side
    assert message("playground.legend.vae", "zh-CN") not in side_by_side
