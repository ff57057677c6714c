"""The page: model discovery, the renderer's cache, the Explore handlers, and the app served end to end."""

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from genimg.cli import main
from genimg.explore.catalog import Renderer, discover
from genimg.ui.context import ExploreContext
from genimg.ui.explore import EVERY_CLASS, ExploreHandlers
from genimg.ui.i18n import table


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    for name, extra in [("tiny-gan", ["--model", "dcgan"]), ("tiny-cvae", ["--model", "vae", "--conditional"])]:
        assert main(["train", *extra, "--dataset", "shapes", "--image-size", "28", "--data-limit", "96", "--steps",
                     "2", "--batch-size", "32", "--width", "8", "--latent-dim", "4", "--out", str(folder / name),
                     "--quiet"]) == 0
    broken = folder / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    judge = folder / "a-judge"
    judge.mkdir()
    (judge / "config.json").write_text(json.dumps({"format_version": 1, "model": {"kind": "judge"}}))
    return folder


def test_discover_lists_generators_and_skips_the_rest(model_folder):
    entries = discover(model_folder, model_folder / "missing")
    assert [entry.name for entry in entries] == ["tiny-gan", "tiny-cvae"]  # GANs first, then VAEs
    cvae = entries[1]
    assert cvae.num_classes == 3 and cvae.class_names == ("circle", "square", "triangle")
    assert "VAE (conditional)" in cvae.label


def test_renderer_caches_and_is_deterministic(model_folder):
    renderer = Renderer("cpu", capacity=1)
    first = renderer.sample_grid(model_folder / "tiny-gan", seed=3, count=4, scale=2)
    assert first.dtype == np.uint8 and first.shape == (2 * 62, 2 * 62, 3)
    assert renderer.model(model_folder / "tiny-gan")[0] is renderer.model(model_folder / "tiny-gan")[0]
    renderer.model(model_folder / "tiny-cvae")  # capacity 1: the GAN is evicted, then reloaded identically
    assert np.array_equal(first, renderer.sample_grid(model_folder / "tiny-gan", seed=3, count=4, scale=2))
    with pytest.raises(ValueError, match="count"):
        renderer.sample_grid(model_folder / "tiny-gan", seed=3, count=100_000)


def test_explore_handlers(model_folder):
    handlers = ExploreHandlers(ExploreContext(Renderer("cpu"), discover(model_folder)))
    cvae, gan = (str(model_folder / "tiny-cvae"), str(model_folder / "tiny-gan"))
    update = handlers.class_choices(cvae)
    assert update["choices"][1:] == ["circle", "square", "triangle"] and update["choices"][0][1] == EVERY_CLASS
    assert handlers.class_choices(gan)["interactive"] is False
    squares = handlers.samples(cvae, 5, 6, "square")
    mixed = handlers.samples(cvae, 5, 6, EVERY_CLASS)
    assert squares.shape != mixed.shape or not np.array_equal(squares, mixed)
    assert np.array_equal(squares, handlers.samples(cvae, 5, 6, "square"))
    for bad_seed in (None, -1, 1.5):
        with pytest.raises(gr.Error, match="seed"):
            handlers.samples(gan, bad_seed, 4, EVERY_CLASS)
    for not_offered in ("no such model", str(model_folder / "broken"), "/etc"):
        with pytest.raises(gr.Error, match="Pick a model"):
            handlers.samples(not_offered, 0, 4, EVERY_CLASS)
    with pytest.raises(gr.Error, match="not a class"):
        handlers.samples(cvae, 0, 4, "hexagon")
    assert "tiny-gan" in handlers.card(gan) or "no model card" in handlers.card(gan)


def test_app_serves_samples_end_to_end(model_folder):
    from gradio_client import Client

    import app

    demo = app.build_demo([str(model_folder)])
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        client = Client(url, verbose=False)
        result = client.predict(str(model_folder / "tiny-cvae"), 7, 9, EVERY_CLASS, api_name="/samples")
        from PIL import Image

        image = np.asarray(Image.open(result if isinstance(result, str) else result["path"]))
        expected = Renderer("cpu").sample_grid(model_folder / "tiny-cvae", 7, 9, None, scale=4)
        assert np.array_equal(image[..., :3], expected)
        client.close()
    finally:
        demo.close()


def test_app_without_models_still_opens(tmp_path):
    import app

    demo = app.build_demo([str(tmp_path)])
    assert isinstance(demo, gr.Blocks)


def test_every_string_exists_in_both_languages():
    import app  # noqa: F401  (imports every tab, which registers its strings)

    english, chinese = table("en"), table("zh-CN")
    assert english.keys() == chinese.keys()
    assert all(chinese[key].strip() for key in chinese)


def test_broken_folders_are_reported_not_fatal(model_folder):
    problems = []
    entries = discover(model_folder, problems=problems)
    assert [entry.name for entry in entries] == ["tiny-gan", "tiny-cvae"]
    broken = [line for line in problems if line.startswith("broken:")]
    assert len(broken) == 1 and "config.json" in broken[0]
    real_judge = Path(__file__).resolve().parents[2] / "checkpoints" / "mnist-judge"
    if real_judge.is_dir():
        judged: list[str] = []
        assert discover(real_judge.parent, problems=judged) is not None
        assert not any(line.startswith("mnist-judge") for line in judged)
    import app

    assert isinstance(app.build_demo([str(model_folder)]), gr.Blocks)
