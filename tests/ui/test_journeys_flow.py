"""A flow model in every Explore tab of the page as it ships, in a real browser, in English and Chinese, on a desktop
and a phone: Samples in the steps asked for, the Latent tab's sliders (a quick preview, then the full picture), an
interpolation, and the Encode tab's round trip through the ODE (a seed's drawing and your own).

Skipped where checkpoints/ holds no flow (mnist-cflow) or no browser can be started.
"""

from __future__ import annotations

import os
import re
import warnings

import pytest

from genimg.explore.catalog import discover
from genimg.ui.i18n import message
from tests.ui.test_browser import MISSING, browser, screenshot  # noqa: F401  (fixture)
from tests.ui.test_journeys_explore import (
    TIMEOUT,
    draw_stroke,
    errors_on_page,
    open_page,
    pick_option,
    shipped_url,  # noqa: F401  (fixture)
    wait_until_shown,
)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
expect = pytest.importorskip("playwright.sync_api").expect
FLOW = "mnist-cflow"
# Both languages and both layouts by default; every pairing with $GENIMG_SCREENSHOTS set (as test_journeys_explore).
VIEWS = ["desktop-en", "phone-zh"]
if os.environ.get("GENIMG_SCREENSHOTS"):
    VIEWS += ["desktop-zh", "phone-en"]


@pytest.fixture(scope="module", autouse=True)
def a_flow_ships():
    import app

    if not any(entry.name == FLOW for entry in discover(*app.model_folders())):
        pytest.skip(f"checkpoints/{FLOW} is not in this checkout")


def source_of(page, selector: str) -> str | None:
    return page.locator(f"{selector} img").first.get_attribute("src")


def press(page, slider: str, key: str, times: int = 1) -> None:
    page.locator(f"{slider} input[type=range]").focus()
    for _ in range(times):
        page.keyboard.press(key)


def move_slider(page, slider: str, key: str, times: int) -> None:
    """Press `key` on a slider and check its value moved. Once, in a full suite run beside a training run on the same
    2 cores, the Latent tab's picture stayed the same for 30 s after five presses (not reproduced alone: 2 runs
    passed); whether the slider had taken the keys was not recorded. Probed since: right after a model pick (the
    picture just replaced), five presses in a row moved the slider one step (-1.13 to -1.12); 15 s later, or 300 ms
    apart, every press counted. So keys the slider did not take are pressed once more with a warning, and a picture
    that stays the same after a moved slider still fails."""
    field = page.locator(f"{slider} input[type=range]")
    start = field.input_value()
    for attempt in range(2):
        press(page, slider, key, times)
        try:
            expect(field).not_to_have_value(start, timeout=5_000)
            return
        except AssertionError:
            if attempt:
                raise
            warnings.warn(f"{slider} did not take {times} × {key} the first time; pressed again", stacklevel=2)


@pytest.mark.parametrize("name", VIEWS)
def test_samples_draw_a_flow_in_the_steps_asked_for(browser, shipped_url, name):  # noqa: F811
    page, language, problems = open_page(browser, shipped_url, name, "samples")
    pick_option(page, "#samples-model", FLOW)
    expect(page.locator("#samples-flow").first).to_be_visible(timeout=TIMEOUT)  # Gradio writes a group's id twice
    expect(page.locator("#samples-guidance")).to_be_visible(timeout=TIMEOUT)  # a conditional flow
    note = page.locator("#samples-flow-note")
    expect(note).to_contain_text(re.compile(r"(ODE steps|ODE 步数)：?:? ?20"), timeout=TIMEOUT)
    expect(page.locator("#samples-caption")).to_contain_text("流模型" if language == "zh-CN" else "flow model",
                                                             timeout=TIMEOUT)
    wait_until_shown(page, "#samples-grid")
    drawn = source_of(page, "#samples-grid")
    press(page, "#samples-steps", "Home")  # one Euler… no: one Heun step, a rough grid
    expect(note).to_contain_text(re.compile(r"(ODE steps|ODE 步数)：?:? ?1\b"), timeout=TIMEOUT)
    expect(page.locator("#samples-grid img").first).not_to_have_attribute("src", drawn, timeout=TIMEOUT)
    screenshot(page, f"flow-samples-{name}")
    assert errors_on_page(page) == [] and problems == []
    page.context.close()


@pytest.mark.parametrize("name", VIEWS)
def test_the_encode_tab_runs_a_flow_backwards_and_forwards(browser, shipped_url, name):  # noqa: F811
    page, language, problems = open_page(browser, shipped_url, name, "encode")
    page.get_by_role("tab", name=message("encode.sub_ode", language)).click()
    expect(page.locator("#ode-model")).to_be_visible(timeout=TIMEOUT)
    page.locator("#ode-model").scroll_into_view_if_needed()
    page.locator("#ode-run").click()
    note = page.locator("#ode-note")
    expect(note).to_contain_text("往返误差" if language == "zh-CN" else "Round trip error", timeout=TIMEOUT)
    text = note.inner_text()
    error = float(re.search(r"(?:Round trip error: |往返误差：平均每像素 )([0-9.]+)", text).group(1))
    assert error <= 0.02, text  # 50 Heun steps each way (the tab's default)
    assert ("种子自己的噪声与找到的噪声平均相差" if language == "zh-CN" else "The seed's own noise and the noise found") \
        in text, text  # how near the seed's noise it came, as a share of the noise's size
    wait_until_shown(page, "#ode-picture", "#ode-noise", "#ode-redrawn", "#ode-path")
    screenshot(page, f"flow-encode-seed-{name}")
    # now a drawing of one's own
    page.locator("#ode-source").get_by_text(message("encode.source_draw", language), exact=True).click()
    draw_stroke(page, "#ode-sketch")
    before = note.inner_text()
    page.locator("#ode-run").click()
    expect(note).not_to_have_text(before, timeout=TIMEOUT)
    expect(note).to_contain_text("往返误差" if language == "zh-CN" else "Round trip error", timeout=TIMEOUT)
    screenshot(page, f"flow-encode-drawing-{name}")
    assert errors_on_page(page) == [] and problems == []
    page.context.close()


@pytest.mark.parametrize("name", ["desktop-en", "phone-zh"])
def test_the_latent_and_interpolate_tabs_take_a_flow(browser, shipped_url, name):  # noqa: F811
    page, language, problems = open_page(browser, shipped_url, name, "latent")
    wait_until_shown(page, "#latent-image")
    before = source_of(page, "#latent-image")
    pick_option(page, "#latent-model", FLOW)
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", before, timeout=TIMEOUT)
    expect(page.locator("#latent-z0")).to_be_visible(timeout=TIMEOUT)
    # a flow's z is a noise image: its sliders move it along the principal directions, PC1 … PC10, and say so
    expect(page.locator("#latent-z0")).to_contain_text("PC1", timeout=TIMEOUT)
    expect(page.locator("#latent-z9")).to_contain_text("PC10")
    expect(page.locator("#latent-z10")).to_be_hidden()
    expect(page.locator("#latent-note")).to_contain_text(
        "PC1 到 PC10" if language == "zh-CN" else "principal directions PC1 to PC10", timeout=TIMEOUT)
    drawn = source_of(page, "#latent-image")
    move_slider(page, "#latent-z0", "ArrowRight", 5)
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", drawn, timeout=TIMEOUT)
    screenshot(page, f"flow-latent-{name}")
    assert errors_on_page(page) == [] and problems == []
    page.context.close()

    page, language, problems = open_page(browser, shipped_url, name, "interpolate")
    pick_option(page, "#interp-model", FLOW)
    expect(page.locator("#interp-summary")).to_contain_text("784", timeout=TIMEOUT)  # a flow's z: 1×28×28
    wait_until_shown(page, "#interp-lerp-strip", "#interp-slerp-strip")
    screenshot(page, f"flow-interpolate-{name}")
    assert errors_on_page(page) == [] and problems == []
    page.context.close()


@pytest.mark.parametrize("name", VIEWS)
def test_the_velocity_field_is_drawn_and_moves_with_time(browser, shipped_url, name):  # noqa: F811
    page, language, problems = open_page(browser, shipped_url, name, "encode")
    page.get_by_role("tab", name=message("encode.sub_ode", language)).click()
    pick_option(page, "#ode-model", FLOW)  # the conditional flow: its drawings are coloured by class
    page.locator("#field-run").scroll_into_view_if_needed()
    page.locator("#field-run").click()
    note = page.locator("#field-note")
    # 50 guided Heun steps (the sub-tab's default) leave room for 20 drawings in one request: two of each class
    expect(note).to_contain_text("20 张图" if language == "zh-CN" else "20 drawings", timeout=TIMEOUT)
    expect(note).to_contain_text("颜色：" if language == "zh-CN" else "Colours:")
    wait_until_shown(page, "#field-picture")
    last = source_of(page, "#field-picture")
    screenshot(page, f"flow-field-end-{name}")
    press(page, "#field-time", "Home")  # back to the noise: t = 0
    expect(page.locator("#field-time input[type=number]")).to_have_value("0")
    expect(page.locator("#field-picture img").first).not_to_have_attribute("src", last, timeout=TIMEOUT)
    first = source_of(page, "#field-picture")
    press(page, "#field-time", "ArrowRight", 5)  # halfway
    expect(page.locator("#field-picture img").first).not_to_have_attribute("src", first, timeout=TIMEOUT)
    screenshot(page, f"flow-field-middle-{name}")
    assert errors_on_page(page) == [] and problems == []
    page.context.close()
