"""The Encode and GAN tabs: VAE codes, the latent map and its clicks, the manifold, arithmetic, GAN inversion,
the discriminator's score, refusals in the user's language, and both tabs built inside gr.Blocks. The library
under them (genimg.explore.encode) is tested in tests/explore/test_encode.py."""

import string
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image, ImageDraw

from genimg.data.pictures import MESSAGES_EN
from genimg.explore.catalog import Renderer, discover
from genimg.explore.encode import (
    LatentMapCache,
    decode,
    encode_image,
)
from genimg.explore.invert import MAX_INVERSION_STEPS as MAX_STEPS
from genimg.models.latent import seeded_latents
from genimg.ui import encode_tab, gan_tab
from genimg.ui.context import ExploreContext
from genimg.ui.encode_tab import EncodeHandlers, build_encode_tab
from genimg.ui.gan_tab import GanHandlers, build_gan_tab
from genimg.ui.i18n import table

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def context(tiny_models):
    return ExploreContext(Renderer("cpu"), discover(next(iter(tiny_models.values())).parent))


@pytest.fixture(scope="module")
def maps():
    return LatentMapCache(download=False, sample_count=300)


def path_of(context, name):
    return next(str(entry.path) for entry in context.entries if entry.name == name)


def drawing(size=280):
    picture = Image.new("L", (size, size), 0)
    ImageDraw.Draw(picture).line([(70, 60), (200, 60), (120, 230)], fill=255, width=18)
    return {"background": np.zeros((size, size), np.uint8), "layers": [], "composite": np.asarray(picture)}


def chinese():
    return SimpleNamespace(headers={"accept-language": "zh-CN,zh;q=0.9"}, query_params={})


def placeholders(text):
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_string_exists_in_both_languages():
    english, chinese_table = table("en"), table("zh-CN")
    for module_table in (encode_tab.EN, gan_tab.EN, MESSAGES_EN):
        for key in module_table:
            assert key in english and key in chinese_table, key
            assert placeholders(english[key]) == placeholders(chinese_table[key]), key
            assert english[key] != chinese_table[key] or key in ("encode.model", "gan.model", "encode.operand_a",
                                                                   "encode.operand_c", "encode.result",
                                                                   "gan.reconstruction"), key
    assert "\\mathrm{KL}" in english["encode.intro"] and "z=\\mu+\\sigma\\odot\\epsilon" in english["encode.intro"]
    assert "\\min_G\\max_D" in english["gan.intro"] and "\\arg\\min_z" in english["gan.invert_intro"]


def test_both_tabs_build_inside_blocks(context):
    with gr.Blocks() as demo:
        with gr.Tab("Encode"):
            encode_handlers = build_encode_tab(context)
        with gr.Tab("GAN"):
            gan_handlers = build_gan_tab(context)
    assert isinstance(encode_handlers, EncodeHandlers) and isinstance(gan_handlers, GanHandlers)
    names = {dependency.api_name for dependency in demo.fns.values()}
    assert {"encode", "latent_map", "arithmetic", "invert", "ask_discriminator"} <= names
    with gr.Blocks():  # and with no models at all
        build_encode_tab(ExploreContext(Renderer("cpu"), []))
        build_gan_tab(ExploreContext(Renderer("cpu"), []))


def test_the_encode_handler_shows_code_and_reconstruction(context, maps):
    handlers = EncodeHandlers(context, maps)
    prepared, reconstruction, chart, marked, numbers, note = handlers.encode(
        path_of(context, "vae"), None, None, "draw", drawing(), None)
    assert prepared.shape == reconstruction.shape == (224, 224)
    assert chart.ndim == 3 and marked.ndim == 3 and len(numbers) == 8 and list(numbers.columns)[0] == "dimension"
    assert "KL" in note and "inverted" not in note
    cvae = path_of(context, "cvae")
    as_three = handlers.encode(cvae, "3", "3", "draw", drawing(), None)
    as_five = handlers.encode(cvae, "3", "5", "draw", drawing(), None)
    assert np.array_equal(as_three[2], as_five[2]) and not np.array_equal(as_three[1], as_five[1])  # same code
    paper = {"composite": 255 - drawing()["composite"]}  # dark ink on white paper
    assert "inverted" in handlers.encode(path_of(context, "vae"), None, None, "draw", paper, None)[5]


def test_the_numbers_table_has_three_significant_digits(context, maps):
    handlers = EncodeHandlers(context, maps)
    path = path_of(context, "vae")
    numbers = handlers.encode(path, None, None, "draw", drawing(), None)[4]
    entry = context.entry(path)
    model, config = context.renderer.model(path)
    tensor, _ = encode_tab.prepare(encode_tab.read_picture("draw", drawing(), None, "en"), entry, config, "en")
    encoding = encode_image(model, tensor, None)
    for column, exact in zip(list(numbers.columns)[1:], (encoding.mean, encoding.sigma, encoding.kl_per_dimension)):
        shown = numbers[column]
        assert shown.dtype == np.float64  # float32 0.123 is sent to the page as 0.12300000339746475
        assert all(float(f"{value:.3g}") == value for value in shown)
        assert np.allclose(shown, exact.double().numpy(), rtol=5e-3, atol=0)
    assert encode_tab.significant(np.array([0.123456, -0.000123456, 1234.5, 0.0], np.float32)) == \
        [0.123, -0.000123, 1230.0, 0.0]
    assert [repr(value) for value in encode_tab.significant(np.float32([0.1, 2 / 3]))] == ["0.1", "0.667"]


def test_encode_starts_on_the_best_vae_and_the_map_on_the_2d_one(context):
    """The tiny VAEs have no test −ELBO on their cards: the larger latent space (8 against 2) is the default to
    encode with; the latent map keeps the 2-D VAE, whose map is its latent space itself."""
    handlers = EncodeHandlers(context)
    assert handlers.vae_choices()[0][1] == path_of(context, "vae")
    assert handlers.map_choices()[0][1] == path_of(context, "vae2d")
    assert sorted(handlers.vae_choices()) == sorted(handlers.map_choices()) == \
        sorted(context.choices(needs="encoder"))
    with gr.Blocks() as demo:
        build_encode_tab(context, LatentMapCache(download=False, sample_count=100))
    defaults = {block.elem_id: block.value for block in demo.blocks.values()
                if getattr(block, "elem_id", None) in ("encode-model", "map-model")}
    assert defaults == {"encode-model": path_of(context, "vae"), "map-model": path_of(context, "vae2d")}


def test_latent_map_and_clicks_decode_the_point(context, maps):
    path = path_of(context, "vae2d")
    model, config = context.renderer.model(path)
    latent_map = maps.get(model, "blobs", 28, 1)  # no test split for "blobs": the model's own samples
    handlers = EncodeHandlers(context, maps)
    picture, grid, note, _, _ = handlers.show_map(path, None)
    assert picture.shape == latent_map.image.shape and "re-encoded" in note
    assert grid.shape == (20 * 28, 20 * 28)  # 20 × 20 digits of 28 px
    view = latent_map.view
    centre = gr.SelectData(None, {"index": [view.left + view.size // 2, view.top + view.size // 2], "value": None})
    marked, decoded, text = handlers.pick(path, None, centre)
    z = latent_map.latent_at_pixel(view.left + view.size // 2 + 0.5, view.top + view.size // 2 + 0.5)
    assert float(z.abs().max()) < 2 * view.radius / view.size  # within a pixel of (0, 0)
    expected = decode(model, z)
    assert np.array_equal(decoded, encode_tab.to_picture(expected, encode_tab.SCALE))
    assert "+0.0" in text or "-0.0" in text
    assert not np.array_equal(marked, latent_map.image)  # the marker is drawn on a copy
    corner = gr.SelectData(None, {"index": [2, 2], "value": None})
    with pytest.raises(gr.Error, match="outside"):
        handlers.pick(path, None, corner)


def test_warm_up_builds_every_vae_map(context):
    cache = LatentMapCache(download=False, sample_count=100)
    EncodeHandlers(context, cache).warm_up()
    for name in ("vae", "vae2d", "cvae"):
        model, _ = context.renderer.model(path_of(context, name))
        assert len(cache.get(model, "blobs", 28, 1).codes) == 100


def test_arithmetic_equals_decoding_the_sum(context, maps):
    handlers = EncodeHandlers(context, maps)
    for name, class_name in (("gan", None), ("vae", None), ("cgan", "4")):
        path = path_of(context, name)
        model, config = context.renderer.model(path)
        a, b, c, result, note = handlers.arithmetic(path, class_name, "seed", 1, None, None, "seed", 2, None, None,
                                                    "seed", 3, None, None)
        z_a, z_b, z_c = (seeded_latents(seed, 1, config.latent_dim)[0] for seed in (1, 2, 3))
        label = None if class_name is None else int(class_name)
        expected = decode(model, z_a - z_b + z_c, label)
        assert np.array_equal(result, encode_tab.to_picture(expected, encode_tab.SCALE))
        assert np.array_equal(a, encode_tab.to_picture(decode(model, z_a, label), encode_tab.SCALE))
        assert "‖z‖/√D" in note
    # a drawing as an operand: its encoder mean
    path = path_of(context, "vae")
    drawn = handlers.arithmetic(path, None, "draw", 0, drawing(), None, "seed", 0, None, None, "seed", 0, None, None)
    assert np.array_equal(drawn[0], drawn[3])  # A − B + C with B = C is A
    with pytest.raises(gr.Error, match="Only a VAE"):
        handlers.arithmetic(path_of(context, "gan"), None, "draw", 0, drawing(), None, "seed", 0, None, None,
                            "seed", 0, None, None)


def test_the_invert_handler_streams_to_done(context):
    handlers = GanHandlers(context, LatentMapCache(download=False))
    updates = list(handlers.invert(path_of(context, "cgan"), "2", "draw", 0, drawing(), None, 40, 2, 0.001))
    assert len(updates) >= 2
    target_picture, reconstruction, curve, status = updates[-1]
    assert target_picture.shape == reconstruction.shape == (224, 224)
    assert list(curve.columns) == ["step", "mse"] and curve["step"].max() == 40 and "Done" in status
    assert curve["mse"].iloc[-1] <= curve["mse"].iloc[0]


def test_discriminator_score_is_finite(context):
    handlers = GanHandlers(context, LatentMapCache(download=False))
    for name, class_name in (("gan", None), ("cgan", "7")):
        for source in ("seed", "draw"):
            judged, verdict = handlers.ask(path_of(context, name), class_name, source, 9, drawing(), None)
            assert judged.shape == (224, 224) and "σ(ℓ)" in verdict and "nan" not in verdict.lower()


def test_bad_inputs_raise_gr_error_in_the_users_language(context, maps, tmp_path, monkeypatch):
    uploads = tmp_path / "gradio-uploads"
    uploads.mkdir()
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(uploads))
    encode, gan = EncodeHandlers(context, maps), GanHandlers(context, maps)
    vae, cvae, gan_path = path_of(context, "vae"), path_of(context, "cvae"), path_of(context, "gan")
    empty = {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": None}

    def refuses(match, function, *arguments, **keywords):
        with pytest.raises(gr.Error, match=match):
            function(*arguments, **keywords)

    refuses("Draw something first", encode.encode, vae, None, None, "draw", empty, None)
    refuses("请先画点什么", encode.encode, vae, None, None, "draw", empty, None, chinese())
    refuses("from the list", encode.encode, "/etc", None, None, "draw", drawing(), None)
    refuses("from the list", encode.encode, str(uploads), None, None, "draw", drawing(), None)
    refuses("Pick a model", encode.arithmetic, "/etc", None, "seed", 1, None, None, "seed", 2, None, None, "seed", 3,
            None, None)
    refuses("needs a VAE", encode.encode, gan_path, None, None, "draw", drawing(), None)
    refuses("needs a GAN", gan.ask, vae, None, "draw", 0, drawing(), None)
    refuses("Pick a class", encode.encode, cvae, "eleven", None, "draw", drawing(), None)
    refuses("请为", encode.encode, cvae, None, None, "draw", drawing(), None, chinese())
    refuses("seed", gan.ask, gan_path, None, "seed", -1, None, None)
    refuses("seed", gan.ask, gan_path, None, "seed", 1.5, None, None)
    refuses("Choose where", encode.encode, vae, None, None, "webcam", drawing(), None)

    text = uploads / "notes.png"
    text.write_text("not a picture")
    refuses("not a picture", encode.encode, vae, None, None, "upload", None, str(text))
    refuses("不是可读取的图片", gan.ask, gan_path, None, "upload", 0, None, str(text), chinese())
    zero = uploads / "zero.png"
    zero.write_bytes(b"")
    refuses("empty", encode.encode, vae, None, None, "upload", None, str(zero))
    from tests.data.test_pictures import png_declaring

    bomb = uploads / "bomb.png"
    bomb.write_bytes(png_declaring(50_000, 50_000))
    refuses("megapixels", encode.encode, vae, None, None, "upload", None, str(bomb))
    refuses("百万像素", encode.encode, vae, None, None, "upload", None, str(bomb), chinese())
    blank = uploads / "blank.png"
    Image.new("L", (64, 64), 255).save(blank)
    refuses("blank", encode.encode, vae, None, None, "upload", None, str(blank))
    refuses("draw one or upload", encode.encode, vae, None, None, "upload", None, None)

    outside = tmp_path / "elsewhere.png"  # a real picture, but not one that the page's upload handed over
    Image.fromarray(drawing()["composite"]).save(outside)
    refuses("uploaded on this page", encode.encode, vae, None, None, "upload", None, str(outside))
    refuses("uploaded on this page", encode.encode, vae, None, None, "upload", None, str(uploads / ".." / outside.name))

    good = uploads / "digit.png"
    for mode in ("RGBA", "CMYK", "I;16"):  # odd but fine pictures go through
        picture = Image.fromarray(255 - drawing()["composite"])
        picture = picture.convert(mode) if mode != "I;16" else Image.fromarray(
            (255 - drawing()["composite"]).astype(np.uint16) * 257)
        target = good.with_suffix(".jpg" if mode == "CMYK" else ".png")
        picture.save(target)
        assert "inverted" in encode.encode(vae, None, None, "upload", None, str(target))[5]


def request_from(session: str, language: str = "en"):
    """What the handlers read of a gr.Request: the session (whose inversion Stop means) and the language."""
    return SimpleNamespace(session_hash=session, headers={"accept-language": language}, query_params={})


def built(context):
    """Both tabs built in one page → {elem_id: component}."""
    with gr.Blocks() as demo:
        build_encode_tab(context, LatentMapCache(download=False, sample_count=100))
        build_gan_tab(context, LatentMapCache(download=False))
    return {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None)}


def test_gradio_checks_no_bound_the_handlers_answer_in_the_users_language(context, maps):
    """Gradio's own checks answer in English before any handler runs ("Value -3 is less than minimum value 0.",
    "Value 5000 is greater than maximum value 1000."): the components pass what the page sends, the handlers refuse
    it naming the value, in the user's language."""
    components = built(context)
    for name in ("gan-seed", "arith-seed-a", "arith-seed-b", "arith-seed-c"):
        assert components[name].preprocess(-3) == -3 and components[name].preprocess(2.5) == 2.5, name
    for name, typed in (("gan-steps", 5000), ("gan-restarts", -2), ("gan-prior", 0.5)):
        assert components[name].preprocess(typed) == typed, name  # no gr.Error from Gradio
    assert components["gan-steps"].get_block_name() == "slider"  # still drawn as Gradio's slider
    for name in ("encode-upload", "gan-upload"):
        assert components[name].file_types is None  # the page's own refusal of a non-picture, not Gradio's

    gan, encode = GanHandlers(context, maps), EncodeHandlers(context, maps)
    gan_path, chinese_request = path_of(context, "gan"), request_from("s", "zh-CN")
    with pytest.raises(gr.Error, match="不接受种子 -3"):
        gan.ask(gan_path, None, "seed", -3.0, None, None, chinese_request)
    with pytest.raises(gr.Error, match="Seed 2.5 is not accepted"):
        next(gan.invert(gan_path, None, "seed", 2.5, None, None, 40, 2, 0.001))
    with pytest.raises(gr.Error, match="Adam 步数：不接受 5000"):
        next(gan.invert(gan_path, None, "draw", 0, drawing(), None, 5000, 2, 0.001, chinese_request))
    with pytest.raises(gr.Error, match="Parallel starts: -2 is not accepted; enter a whole number from 1 to 16"):
        next(gan.invert(gan_path, None, "draw", 0, drawing(), None, 40, -2, 0.001))
    with pytest.raises(gr.Error, match="Prior weight λ: nan is not accepted"):
        next(gan.invert(gan_path, None, "draw", 0, drawing(), None, 40, 2, float("nan")))
    with pytest.raises(gr.Error, match="不接受种子 -1"):
        encode.arithmetic(gan_path, None, "seed", 1, None, None, "seed", -1, None, None, "seed", 3, None, None,
                          chinese_request)


def test_an_unforeseen_failure_is_a_sentence_in_the_users_language(context, maps, monkeypatch):
    """No bare "Error": whatever breaks inside a handler reaches the page as a sentence (Gradio shows only "Error"
    for an exception that is not a gr.Error)."""
    def broken(*arguments, **keywords):
        raise RuntimeError("the model's weights are corrupt")

    monkeypatch.setattr(encode_tab, "encode_image", broken)
    monkeypatch.setattr(gan_tab, "invert_generator", broken)
    monkeypatch.setattr(gan_tab, "verdict", broken)
    encode, gan = EncodeHandlers(context, maps), GanHandlers(context, maps)
    with pytest.raises(gr.Error, match="这一步没有成功（the model's weights are corrupt）"):
        encode.encode(path_of(context, "vae"), None, None, "draw", drawing(), None, request_from("s", "zh-CN"))
    with pytest.raises(gr.Error, match="This did not work"):
        list(gan.invert(path_of(context, "gan"), None, "draw", 0, drawing(), None, 40, 2, 0.001))
    with pytest.raises(gr.Error, match="这一步没有成功"):
        gan.ask(path_of(context, "gan"), None, "draw", 0, drawing(), None, request=request_from("s", "zh-CN"))
    with pytest.raises(gr.Error, match="Pick a class"):  # the handlers' own refusals pass unchanged
        encode.encode(path_of(context, "cvae"), "eleven", None, "draw", drawing(), None)


def test_stop_ends_the_inversion_saying_so_and_keeps_the_best_so_far(context, maps):
    """Stop (from the same browser session) ends a long inversion at its next report: one last update shows the
    best reconstruction so far and says it stopped, in the user's language; another session's Stop does not."""
    gan = GanHandlers(context, maps)
    path = path_of(context, "gan")
    mine, other = request_from("mine", "zh-CN"), request_from("other")
    run = gan.invert(path, None, "draw", 0, drawing(), None, MAX_STEPS, 2, 0.001, mine)
    updates = [next(run), next(run)]
    gan.stop(other)
    updates.append(next(run))
    assert "已停止" not in updates[-1][3]  # not stopped by someone else's button
    gan.stop(mine)
    updates += list(run)
    assert len(updates) == 4  # exactly one update after Stop, then the stream ends
    target_picture, reconstruction, curve, status = updates[-1]
    steps_done = int(curve["step"].iloc[-1])
    assert 0 < steps_done < MAX_STEPS
    assert status.startswith("**已停止**") and f"{steps_done} / {MAX_STEPS}" in status
    assert reconstruction.shape == target_picture.shape == (224, 224)  # the best reconstruction stays in view
    assert f"{curve['mse'].iloc[-1]:.4f}" in status  # and the status gives its error
    english = gan.invert(path, None, "draw", 0, drawing(), None, MAX_STEPS, 2, 0.001, request_from("e"))
    next(english)
    gan.stop(request_from("e"))
    assert "Stopped** after" in list(english)[-1][3]
    gan.stop(mine)  # after the run: nothing to stop, no error


def test_the_pad_appearing_does_not_undo_a_chosen_seed():
    """The Sketchpad sends `input` with no drawing when its tab first opens: the source radio must stay as chosen;
    a pad holding a stroke means "draw"."""
    empty = {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": None}
    for value in (None, empty, {**empty, "composite": np.zeros((280, 280), np.uint8)}):
        assert encode_tab.draw_when_inked(value) == gr.update()
    assert encode_tab.draw_when_inked(drawing()) == "draw"


def test_shared_views_reopen_both_tabs(context):
    """?view=encode&model=…&map=… and ?view=gan&model=…&class=…&seed=…&steps=… (genimg.ui.views): each tab's view
    names its settings by folder name and restores them; an address naming anything the tab does not offer gives
    None (the tab's default view, no error)."""
    with gr.Blocks():
        encode = build_encode_tab(context, LatentMapCache(download=False, sample_count=100))
        gan = build_gan_tab(context, LatentMapCache(download=False))
    assert encode.view.tab == "encode" and gan.view.tab == "gan"
    vae, vae2d, cgan = path_of(context, "vae"), path_of(context, "vae2d"), path_of(context, "cgan")
    assert encode.view.query(vae, vae2d) == {"model": "vae", "map": "vae2d"}
    assert gan.view.query(cgan, "3", 17, 200) == {"model": "cgan", "class": "3", "seed": "17"}
    restored = encode.view.restore({"model": "cvae", "map": "vae2d"}, "en")
    assert restored[0]["value"] == path_of(context, "cvae") and restored[1]["visible"] is True
    assert restored[3]["value"] == vae2d
    restored = gan.view.restore({"model": "cgan", "class": "3", "seed": "17", "steps": "400"}, "zh-CN")
    assert [update.get("value") for update in restored] == [cgan, "3", "seed", 17, 400]
    assert gan.view.restore({"model": "gan"}, "en")[2] == gr.update()  # no seed: the source stays as it is
    for query in ({"model": "vae"}, {"model": "cgan", "class": "eleven"}, {"model": "cgan", "seed": "-3"},
                  {"model": "gan", "steps": "5000"}, {"model": "../etc"}):
        assert gan.view.restore(query, "en") is None, query
    for query in ({"model": "gan"}, {"model": "vae", "map": "cgan"}, {}):
        assert encode.view.restore(query, "en") is None, query
