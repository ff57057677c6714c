"""genimg.ui.views: the shareable-view protocol (query text, limits, checks on declarations)."""

from __future__ import annotations

import pytest

from genimg.ui.views import (
    TabView,
    UrlKey,
    finite_number,
    model_path,
    query_of,
    whole_number,
)


class Component:
    """Stands in for a Gradio component: views only keep references to them."""


def test_query_writes_each_key_as_the_browser_does():
    model, seed, sliders, strength, label = Component(), Component(), [Component(), Component()], Component(), Component()
    view = TabView("latent", "latent.tab", keys=(UrlKey("model", model, kind="path"), UrlKey("seed", seed),
                                                   UrlKey("z", sliders, kind="numbers"),
                                                   UrlKey("strength", strength, omit="0"), UrlKey("class", label)))
    assert view.inputs == [model, seed, *sliders, strength, label]
    query = view.query("/models/shipped/mnist-dcgan", 7.0, 0.125, -1, 0.0, None)
    assert query == {"model": "mnist-dcgan", "seed": "7", "z": "0.12,-1.00"}
    assert view.query("C:\\models\\mnist-vae", 3, 0, 0, 2.5, "4") == {
        "model": "mnist-vae", "seed": "3", "z": "0.00,0.00", "strength": "2.5", "class": "4"}
    with pytest.raises(ValueError, match="takes 6 values"):
        view.query(1, 2)


def test_script_names_the_tab_and_keeps_the_language():
    view = TabView("samples", "samples.tab", keys=(UrlKey("seed", Component(), omit="0"),))
    script = view.script()
    assert '"samples"' in script and '["seed", "text", 1, "0"]' in script
    assert "replaceState" in script and 'get("lang")' in script


@pytest.mark.parametrize("declaration", [
    lambda: UrlKey("view", Component()), lambda: UrlKey("lang", Component()), lambda: UrlKey("Seed", Component()),
    lambda: UrlKey("seed", Component(), kind="json"), lambda: UrlKey("seed", [Component(), Component()]),
    lambda: TabView("Latent Space", "latent.tab"),
    lambda: TabView("x", "x", keys=(UrlKey("seed", Component()), UrlKey("seed", Component()))),
])
def test_bad_declarations_are_refused(declaration):
    with pytest.raises(ValueError):
        declaration()


def test_own_keys_keeps_only_the_views_keys_and_refuses_overlong_ones():
    view = TabView("samples", "samples.tab", keys=(UrlKey("seed", Component()), UrlKey("model", Component())))
    query = {"seed": "1", "model": "m" * 2000, "view": "samples", "other": "x" * 3000, "lang": "zh-CN"}
    assert view.own_keys(query) == {"seed": "1", "model": "m" * 2000}
    with pytest.raises(ValueError, match="'model'"):
        view.own_keys({**query, "model": "m" * 2001})
    with pytest.raises(ValueError, match="'seed'"):
        view.own_keys({**query, "seed": 1})


@pytest.mark.parametrize("text, expected", [
    ("7", 7), (" 7 ", 7), ("7.0", 7), ("+3", 3), (7, 7), (7.0, 7), ("0", 0), ("100", 100),
    ("-3", None), ("101", None), ("7.5", None), ("1e3", None), ("", None), ("seven", None), (None, None),
    (True, None), (float("nan"), None), ("1" * 401, None), ("٣", None),
])
def test_whole_number_accepts_plain_digits_within_limits(text, expected):
    assert whole_number(text, 0, 100) == expected


def test_whole_number_refuses_a_number_too_long_for_int():
    # Python's int() raises ValueError past 4,300 digits; the length is checked before it is called.
    assert whole_number("9" * 100_000, 0, 2**63 - 1) is None


@pytest.mark.parametrize("text, expected", [
    ("0.5", 0.5), ("-2", -2.0), (2, 2.0), ("nan", None), ("inf", None), ("3", None), ("x", None), ("1" * 40, None),
    (10**400, None), (None, None),
])
def test_finite_number_accepts_finite_numbers_within_limits(text, expected):
    assert finite_number(text, -2.5, 2.5) == expected


def test_model_path_resolves_folder_names_of_offered_models_only(tiny_models):
    from genimg.explore.catalog import discover

    class Context:
        entries = discover(str(next(iter(tiny_models.values())).parent))

    name = Context.entries[0].name
    assert model_path(Context, name) == str(Context.entries[0].path)
    assert model_path(Context, "../" + name) is None and model_path(Context, None) is None


def test_query_of_reads_the_request_or_nothing():
    class Request:
        def __init__(self) -> None:
            self.query_params = {"view": "samples", "seed": "3"}

    assert query_of(Request()) == {"view": "samples", "seed": "3"}
    assert query_of(None) == {}
