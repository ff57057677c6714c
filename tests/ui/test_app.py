"""The page: the Explore handlers, the app served end to end, and every translation key the code uses.

(Model discovery and the renderer's cache are tested in tests/explore/test_catalog.py.)
"""

import ast
import json
import string
from pathlib import Path

import gradio as gr
import numpy as np
import pytest

from genimg.cli import main
from genimg.explore.catalog import Renderer, discover
from genimg.ui.context import ExploreContext
from genimg.ui.explore import EVERY_CLASS, ExploreHandlers, landing_count
from genimg.ui.i18n import message, table


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


def test_explore_handlers(model_folder):
    handlers = ExploreHandlers(ExploreContext(Renderer("cpu"), discover(model_folder)))
    cvae, gan = (str(model_folder / "tiny-cvae"), str(model_folder / "tiny-gan"))
    update = handlers.class_choices(cvae)
    assert update["choices"][1:] == ["circle", "square", "triangle"] and update["choices"][0][1] == EVERY_CLASS
    assert update["visible"] is True
    assert handlers.class_choices(gan)["interactive"] is False
    assert handlers.class_choices(gan)["visible"] is False  # an unconditional model draws no "class per column"
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


def test_the_landing_caption_says_what_the_grid_shows(model_folder):
    """One line per model, count and class, in the visitor's language; whole rows on the landing grid."""
    from types import SimpleNamespace

    entries = discover(model_folder)
    handlers = ExploreHandlers(ExploreContext(Renderer("cpu"), entries))
    cvae, gan = (str(model_folder / "tiny-cvae"), str(model_folder / "tiny-gan"))
    chinese = SimpleNamespace(query_params={}, headers={"accept-language": "zh-CN,zh;q=0.9"})
    plain = handlers.caption(gan, 64, EVERY_CLASS)
    assert "64 shapes" in plain and "a GAN (tiny-gan)" in plain and "per column" not in plain
    assert "conditional VAE (tiny-cvae)" in handlers.caption(cvae, 60, EVERY_CLASS)
    assert "one class per column" in handlers.caption(cvae, 60, EVERY_CLASS)
    assert "class square" in handlers.caption(cvae, 60, "square")
    assert "隐空间" in handlers.caption(cvae, 60, EVERY_CLASS, chinese)
    assert "条件 VAE" in handlers.caption(cvae, 60, EVERY_CLASS, chinese)
    assert handlers.caption("no such model", 60, EVERY_CLASS) == ""
    for entry in entries:  # whole rows of the grid: a conditional model's rows hold one column per class
        count = landing_count(entry)
        columns = 8 if not entry.num_classes else entry.num_classes * max(1, 8 // entry.num_classes)
        assert count <= 64 and count % columns == 0 and count + columns > 64


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


def test_the_page_opens_despite_broken_folders(model_folder):
    """The model folder also holds a broken checkpoint and a judge (what discover skips: tests/explore)."""
    import app

    assert isinstance(app.build_demo([str(model_folder)]), gr.Blocks)


# Every picker whose choices follow the chosen model, and a value an event may still carry from the model before.
FOLLOWERS = {"samples-class": "square", "latent-class": 2, "latent-direction": 3, "encode-class": "square",
             "encode-decode-as": "square", "map-class": "square", "arith-class": "square", "gan-class": "square"}


def test_pickers_that_follow_the_model_leave_a_stale_value_to_the_handlers(model_folder):
    """When an unconditional model is picked, its class pickers are emptied; a value still on its way from the
    conditional one must reach the handler (which ignores it or explains in the user's language), not be refused by
    Gradio with "Value: 2 is not in the list of choices: []" before any handler runs."""
    import app

    demo = app.build_demo([str(model_folder)])
    found = {block.elem_id: block for block in demo.blocks.values() if getattr(block, "elem_id", None) in FOLLOWERS}
    assert sorted(found) == sorted(FOLLOWERS)
    for elem_id, stale in FOLLOWERS.items():
        block = found[elem_id]  # as Gradio rebuilds it for a session after an update that empties it
        emptied = type(block)(**{**block.constructor_args, "choices": [], "render": False})
        assert emptied.preprocess(stale) == stale, elem_id
    handlers = ExploreHandlers(ExploreContext(Renderer("cpu"), discover(model_folder)))
    gan = str(model_folder / "tiny-gan")
    assert np.array_equal(handlers.samples(gan, 3, 4, "square"), handlers.samples(gan, 3, 4, EVERY_CLASS))


# ---------------------------------------------------------------------------------------------- translations
KEY_PARAMETERS = ("key", "label_key")
PROJECT = Path(__file__).resolve().parents[2]


def key_takers(trees: list[ast.Module]) -> dict[str, tuple[str, str]]:
    """Every callable that takes a translation key first → (prefix added to the key, "t" or "message").

    t (a label the browser translates) and message (a handler's text, .format()ed) take keys; so does each
    function whose first parameter is `key` or `label_key` and hands it to one of them, as it is or behind an
    f-string prefix (say("saved") → "train.msg.saved"), and each exception whose __init__ takes a key first
    (the page shows it with message(error.key, ...)).
    """
    takers = {"t": ("", "t"), "message": ("", "message")}
    changed = True
    while changed:
        changed = False
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and node.name not in takers:
                    init = next((item for item in node.body
                                 if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
                    if init is not None and [argument.arg for argument in init.args.args[1:2]] == ["key"]:
                        takers[node.name] = ("", "message")
                        changed = True
                if not isinstance(node, ast.FunctionDef) or node.name in takers:
                    continue
                parameters = [argument.arg for argument in node.args.args if argument.arg != "self"]
                if not parameters or parameters[0] not in KEY_PARAMETERS:
                    continue
                for call in ast.walk(node):
                    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.args
                            and call.func.id in takers):
                        continue
                    prefix, root = takers[call.func.id]
                    first = call.args[0]
                    if isinstance(first, ast.Name) and first.id == parameters[0]:
                        takers[node.name] = (prefix, root)
                    elif (isinstance(first, ast.JoinedStr) and len(first.values) == 2
                          and isinstance(first.values[0], ast.Constant)
                          and isinstance(first.values[1], ast.FormattedValue)
                          and isinstance(first.values[1].value, ast.Name)
                          and first.values[1].value.id == parameters[0]):
                        takers[node.name] = (prefix + first.values[0].value, root)
                    else:
                        continue
                    changed = True
                    break
    return takers


def keys_in_the_code() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """Every literal key passed to a key taker in app.py and genimg/ → where it is used ("path:line", "t" or
    "message"), and the key takers found."""
    paths = [PROJECT / "app.py", *sorted((PROJECT / "genimg").rglob("*.py"))]
    trees = {path.relative_to(PROJECT): ast.parse(path.read_text(encoding="utf-8")) for path in paths}
    takers = key_takers(list(trees.values()))
    used: dict[str, tuple[str, str]] = {}
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in takers:
                continue
            prefix, root = takers[name]
            for argument in node.args[:1] + [item.value for item in node.keywords if item.arg in KEY_PARAMETERS]:
                if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                    key = prefix + argument.value
                    if used.get(key, ("", ""))[1] != "message":  # a key .format()ed anywhere is checked as such
                        used[key] = (f"{path}:{node.lineno}", root)
    return used, takers


class AnyValue:
    """A value for any placeholder, whatever its format ({steps:,}, {loss:.3f}, ...)."""

    def __format__(self, spec: str) -> str:
        return "X"


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_key_the_code_uses_is_translated():
    """A key missing from the tables only fails when its label is built or its message shown (a handler's error
    path, perhaps never taken in a test); a Chinese message with other placeholders fails only in Chinese.
    Both languages having the same keys is checked by i18n.register itself."""
    import app  # noqa: F401  (imports every tab, which registers its strings)

    english, chinese = table("en"), table("zh-CN")
    used, takers = keys_in_the_code()
    # the scan sees every way keys are passed today (if one stopped being recognised, keys would go unchecked)
    assert {"t", "message", "say", "LessonError", "ImageInputError"} <= set(takers)
    assert {key.split(".")[0] for key in used} == {key.split(".")[0] for key in english}
    missing = {key: where for key, (where, _) in used.items() if key not in english}
    assert missing == {}, f"keys used but never registered: {missing}"
    for key, (where, root) in used.items():
        assert chinese[key].strip(), f"{key} ({where}) has no Chinese text"
        if root == "message":  # formatted with the handler's values: the same placeholders in both languages
            assert placeholders(chinese[key]) == placeholders(english[key]), f"{key} ({where})"
            values = {name: AnyValue() for name in placeholders(english[key])}
            assert message(key, "en", **values) and message(key, "zh-CN", **values)
