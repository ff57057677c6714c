"""A real browser compares two runs in the Train tab (issue 12): train two tiny runs in the page, open "Compare two
runs", see both runs' latest grids side by side with their captions and both runs' curves on one chart per quantity
(a GAN and a VAE: each chart shows the run that reports it and says so); reload the page and compare again (the runs
live in the workspace); the grids stack on a phone; the comparison reads in Chinese; a forged run name typed into a list
gets a sentence, not Gradio's bare "Error".

Uses tests/ui/test_browser.py's browser and tiny-network Train page (and is skipped where they are). Screenshots
(desktop 1366×900 and phone 390×844, English and ?lang=zh-CN) go to $GENIMG_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import re

import pytest

from genimg.ui.i18n import message
from tests.ui.test_browser import browser, pytestmark, screenshot, train_page_url  # noqa: F401  (fixtures, skip mark)
from tests.ui.test_journeys_explore import VIEW_RESTORED, errors_on_page, toast_texts
from tests.ui.test_journeys_language import english_words
from tests.ui.test_journeys_train import (
    NAMES,
    choose,
    covering,
    open_tab,
    set_number,
    visible_words,
)

expect = pytest.importorskip("playwright.sync_api").expect

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 90_000  # ms: two workers' worth of training on a busy 2-core machine
GAN_CHARTS = ("generator", "discriminator", "d_real", "d_fake")
# The series names of each compare chart's legend, as Vega draws them.
LEGEND = "(key) => [...document.querySelectorAll(`#train-compare-${key} g.role-legend-label text`)].map(t => t.textContent)"


def open_train(page, url: str, language: str) -> None:
    page.goto(url)
    page.wait_for_function(VIEW_RESTORED, timeout=TIMEOUT)
    open_tab(page, message("train.tab", language))


def train_run(page, learning_rate: str) -> None:
    """Start a 40-step run of the chosen model with this generator learning rate and wait for its end."""
    page.locator("#tab-train").get_by_text(message("train.advanced", "en"), exact=True).first.click()
    expect(page.locator("#train-steps input")).to_be_visible(timeout=TIMEOUT)
    set_number(page, "train-steps", "40")
    set_number(page, "train-lr-g", learning_rate)
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Training", timeout=TIMEOUT)
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=TIMEOUT)
    page.locator("#tab-train").get_by_text(message("train.advanced", "en"), exact=True).first.click()  # fold it again


def open_compare(page, language: str) -> None:
    """Open "Compare two runs" (closing it first if it is open: opening it fills the lists and compares)."""
    accordion = page.locator("#train-compare button.label-wrap").first
    if "open" in (accordion.get_attribute("class") or ""):
        accordion.click()
    accordion.click()
    expect(page.locator("#train-compare-first")).to_be_visible(timeout=TIMEOUT)
    expect(accordion).to_contain_text(message("train.compare", language))


def expect_two_runs_compared(page) -> tuple[list[str], list[str]]:
    """Both grids drawn with a caption each, each GAN chart with two lines and a legend naming both runs; returns the
    captions and one chart's legend."""
    for number in (1, 2):
        expect(page.locator(f"#train-compare-grid-{number} img").first).to_be_visible(timeout=TIMEOUT)
        expect(page.locator(f"#train-compare-caption-{number}")).to_contain_text("40", timeout=TIMEOUT)
    for key in GAN_CHARTS:
        page.wait_for_function(f"() => ({LEGEND})('{key}').length === 2", timeout=TIMEOUT)
        expect(page.locator(f"#train-compare-{key} g.mark-line path")).to_have_count(2, timeout=TIMEOUT)
    for key in ("neg_elbo", "reconstruction", "kl"):  # no VAE among the two: its charts are not shown
        expect(page.locator(f"#train-compare-{key}")).to_be_hidden()
    captions = [page.locator(f"#train-compare-caption-{number}").inner_text() for number in (1, 2)]
    return captions, page.evaluate(LEGEND, "generator")


def grid_boxes(page) -> tuple[dict, dict]:
    """Both grids' pictures' boxes in page coordinates (not the viewport's, which move as the page scrolls)."""
    boxes = page.evaluate("""() => [1, 2].map((number) => {
        const box = document.querySelector(`#train-compare-grid-${number} img`).getBoundingClientRect();
        return {x: box.x + window.scrollX, y: box.y + window.scrollY, width: box.width, height: box.height};
    })""")
    return boxes[0], boxes[1]


def grids_covered(page) -> list[str]:
    """What of Gradio's chrome (block label, fullscreen and download buttons, shown on hover) covers either grid."""
    found = []
    for number in (1, 2):
        selector = f"#train-compare-grid-{number}"
        page.locator(selector).scroll_into_view_if_needed()
        page.locator(selector).hover()
        found += covering(page, selector)
    return found


def expect_a_gan_and_a_vae_compared(page, language: str) -> None:
    """The tab's VAE run first, the newest GAN second: every chart shows its one run and says so."""
    for key in GAN_CHARTS:
        page.wait_for_function(f"() => ({LEGEND})('{key}').length === 1", timeout=TIMEOUT)
        expect(page.locator(f"#train-compare-{key}")).to_contain_text(
            message("train.msg.compare_only", language, number=2, family="VAE"))
    for key in ("neg_elbo", "reconstruction", "kl"):
        expect(page.locator(f"#train-compare-{key}")).to_contain_text(
            message("train.msg.compare_only", language, number=1, family="GAN"), timeout=TIMEOUT)
        assert [name[:5] for name in page.evaluate(LEGEND, key)] == ["1 · V"]
    expect(page.locator("#train-compare-note")).to_contain_text(
        message("train.msg.compare_families", language, first="VAE", second="GAN"))
    for number in (1, 2):
        expect(page.locator(f"#train-compare-grid-{number} img").first).to_be_visible(timeout=TIMEOUT)


def pick_the_two_gans(page) -> None:
    """First list: the newer GAN (the second run listed, after the VAE); second list: the older; then Compare."""
    for elem_id, index in (("train-compare-first", 1), ("train-compare-second", 2)):
        page.locator(f"#{elem_id} input").click()
        page.get_by_role("option").nth(index).click()
    page.locator("#train-compare-run").click()


def test_runs_are_compared_side_by_side_again_after_a_reload_on_a_phone_and_in_chinese(browser, train_page_url):  # noqa: F811
    """Three tiny runs (a DCGAN at two learning rates, then a VAE), compared in every way a class would."""
    context = browser.new_context(locale="en-US", viewport=DESKTOP)  # one browser: one workspace for every page
    page = context.new_page()
    thrown: list[str] = []
    page.on("pageerror", lambda error: thrown.append(str(error)))
    open_train(page, train_page_url, "en")
    choose(page, "train-dataset", "Shapes (built in, no download)")
    train_run(page, "0.0002")
    train_run(page, "0.001")
    page.locator("#train-model input").click()
    page.get_by_role("option", name="VAE", exact=True).click()
    train_run(page, "0.001")

    open_compare(page, "en")
    first = page.locator("#train-compare-first input")
    second = page.locator("#train-compare-second input")
    expect(first).to_have_value(re.compile(r"^VAE on Shapes · .* · step 40 · in this tab$"), timeout=TIMEOUT)
    expect(second).to_have_value(re.compile(r"^DCGAN on Shapes · .* · step 40$"))
    expect_a_gan_and_a_vae_compared(page, "en")
    screenshot(page, "compare-gan-vae-desktop-en")

    pick_the_two_gans(page)
    captions, legend = expect_two_runs_compared(page)
    for number, caption in enumerate(captions, 1):
        assert re.search(rf"{number} · DCGAN on Shapes: step 40 · [\d,]+ images/s · \d+ s of training", caption)
    assert sorted(name[:9] for name in legend) == ["1 · DCGAN", "2 · DCGAN"]
    # the newer run first; the captions tell the two apart by their settings
    assert "learning rates 0.001 (G)" in captions[0] and "learning rates 0.0002 (G)" in captions[1]
    left, right = grid_boxes(page)
    assert abs(left["y"] - right["y"]) < 2 and right["x"] >= left["x"] + left["width"]  # side by side
    assert grids_covered(page) == []
    screenshot(page, "compare-desktop-en")

    # A forged run typed into a list: a sentence, never Gradio's bare "Error"
    first.fill("../../etc/passwd")
    first.press("Enter")
    page.locator("#train-compare-run").click()
    expect(page.locator("[data-testid=toast-text]").first).to_contain_text("is not one of your runs", timeout=TIMEOUT)
    assert any(text.startswith("Not compared: '../../etc/passwd'") for text in toast_texts(page)), toast_texts(page)

    # Reload: the runs are still the workspace's; the tab holds no run now, so the newest (the VAE) comes first
    open_train(page, train_page_url, "en")
    open_compare(page, "en")
    expect(first).to_have_value(re.compile(r"^VAE on Shapes · .* · step 40$"), timeout=TIMEOUT)
    expect_a_gan_and_a_vae_compared(page, "en")
    pick_the_two_gans(page)
    assert expect_two_runs_compared(page) == (captions, legend)  # the same runs, named and described as before

    page.set_viewport_size(PHONE)
    page.wait_for_timeout(500)  # the columns reflow
    upper, lower = grid_boxes(page)
    assert lower["y"] >= upper["y"] + upper["height"] - 1 and lower["width"] > 0.6 * PHONE["width"]  # stacked
    assert grids_covered(page) == []
    screenshot(page, "compare-phone-en")
    assert errors_on_page(page) == []

    state = context.storage_state()  # the same browser's storage (its workspace) in a Chinese browser
    context.close()
    names = {part.lower() for part in re.findall(r"[A-Za-z0-9]+", train_page_url)}
    for viewport, name in ((DESKTOP, "desktop"), (PHONE, "phone")):
        context = browser.new_context(locale="zh-CN", viewport=viewport, storage_state=state)
        page = context.new_page()
        page.on("pageerror", lambda error: thrown.append(str(error)))
        open_train(page, train_page_url + "?lang=zh-CN", "zh-CN")
        open_compare(page, "zh-CN")
        expect(page.locator("#train-compare-first input")).to_have_value(
            re.compile(r"^VAE · Shapes 几何图形 · .* · 第 40 步$"), timeout=TIMEOUT)
        expect_a_gan_and_a_vae_compared(page, "zh-CN")
        words = visible_words(page, "#train-compare")
        pick_the_two_gans(page)
        captions, _ = expect_two_runs_compared(page)
        assert all("每秒" in caption and "训练用时" in caption and "学习率" in caption for caption in captions)
        expect(page.locator("#train-compare-generator")).to_contain_text("生成器损失")
        screenshot(page, f"compare-{name}-zh")
        found = sorted(set(english_words(words + "\n" + visible_words(page, "#train-compare"), names | NAMES)))
        assert found == [], found
        assert errors_on_page(page) == []
        context.close()
    assert thrown == []
