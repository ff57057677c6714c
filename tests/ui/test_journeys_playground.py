"""The Playground tab in a real browser, on the page as it ships: play, pause, step, a distribution switch, a drawn
distribution and the family switch to all three side by side; nothing wider than a phone's screen, and on a Chinese
page no English word (names such as GAN, VAE, KL aside).

Desktop 1366×900 in English and a phone 390×844 in Chinese by default (both languages, both layouts); all four
pairings with $GENIMG_SCREENSHOTS set, which also receives a screenshot of each stage.
"""

from __future__ import annotations

import os
import re

import pytest

from genimg.ui.i18n import message
from tests.ui.test_browser import MISSING, browser, screenshot  # noqa: F401  (fixture)
from tests.ui.test_journeys_explore import (
    TIMEOUT,
    errors_on_page,
    open_page,
    pick_option,
    shipped_url,  # noqa: F401  (fixture)
)
from tests.ui.test_journeys_language import english_words

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
expect = pytest.importorskip("playwright.sync_api").expect
VIEWS = ["desktop-en", "phone-zh"]
if os.environ.get("GENIMG_SCREENSHOTS"):
    VIEWS += ["desktop-zh", "phone-en"]

# Counts the different pictures the view has shown since it was installed (Gradio replaces the HTML at every frame).
COUNT_FRAMES = """() => {
  window.playgroundFrames = 0;
  let last = null;
  const view = document.querySelector('#playground-view');
  new MutationObserver(() => {
    const image = view.querySelector('img');
    const source = image ? image.getAttribute('src') : null;
    if (source && source !== last) { last = source; window.playgroundFrames += 1; }
  }).observe(view, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def status_pattern(key: str, language: str) -> re.Pattern:
    """A status sentence of `key` in `language`: the update number captured, any models and speed."""
    template = re.escape(message(key, language, update="UPDATE", models="MODELS", speed="SPEED"))
    return re.compile(template.replace("UPDATE", r"(\d[\d,]*)").replace("MODELS", ".+").replace("SPEED", r"\d+"))


def shown_update(page, key: str, language: str) -> int:
    """The update number in the status sentence `key` (Gradio may show a timer such as "5.2s" beside it)."""
    found = status_pattern(key, language).search(page.locator("#playground-status").inner_text())
    assert found is not None, page.locator("#playground-status").inner_text()
    return int(found.group(1).replace(",", ""))


def view_sources(page) -> list[str]:
    return page.locator("#playground-view img").evaluate_all("(images) => images.map((image) => image.src)")


def fits_the_screen(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1 && [...document"
                         ".querySelectorAll('#playground-view img')].every((image) => image.getBoundingClientRect()"
                         ".right <= window.innerWidth + 1)")


def draw_blob(page) -> None:
    """Two short strokes near the pad's top left corner."""
    canvas = page.locator("#playground-sketch canvas").last
    canvas.scroll_into_view_if_needed()
    canvas.wait_for(timeout=TIMEOUT)
    box = canvas.bounding_box()
    for row in (0.25, 0.3):
        page.mouse.move(box["x"] + box["width"] * 0.2, box["y"] + box["height"] * row)
        page.mouse.down()
        for step in range(1, 11):
            page.mouse.move(box["x"] + box["width"] * (0.2 + 0.02 * step), box["y"] + box["height"] * row)
        page.mouse.up()


@pytest.mark.parametrize("name", VIEWS)
def test_play_pause_step_switch_and_draw(browser, shipped_url, name):  # noqa: F811
    page, language, problems = open_page(browser, shipped_url, name, "playground")
    status = page.locator("#playground-status")
    expect(page.locator("#playground-view img").first).to_be_visible(timeout=TIMEOUT)
    page.evaluate(COUNT_FRAMES)

    # Play: pictures keep arriving while the status says it plays
    page.locator("#playground-play").click()
    progress = page.locator("#playground-progress")
    expect(progress).to_contain_text(status_pattern("playground.status.playing", language), timeout=TIMEOUT)
    page.wait_for_function("() => window.playgroundFrames >= 10", timeout=TIMEOUT)
    screenshot(page, f"playground-playing-{name}")

    # Pause: the loop ends and says where; Step then adds exactly one update
    page.locator("#playground-pause").click()
    expect(status).to_contain_text(status_pattern("playground.status.paused", language), timeout=TIMEOUT)
    paused_at = shown_update(page, "playground.status.paused", language)
    assert paused_at >= 10
    expect(progress).to_have_text("", timeout=TIMEOUT)  # the playing line is cleared, not left counting
    before = view_sources(page)
    page.locator("#playground-step").click()
    expect(status).to_have_text(message("playground.status.stepped", language, update=paused_at + 1), timeout=TIMEOUT)
    assert view_sources(page) != before

    # another distribution: new models, at update 0
    before = view_sources(page)
    pick_option(page, "#playground-distribution", message("playground.dist.gaussians8", language))
    expect(status).to_contain_text(status_pattern("playground.status.ready", language), timeout=TIMEOUT)
    assert shown_update(page, "playground.status.ready", language) == 0
    page.wait_for_function("(before) => { const now = [...document.querySelectorAll('#playground-view img')]"
                           ".map((image) => image.src); return now.join() !== before.join(); }", arg=before,
                           timeout=TIMEOUT)

    # all three side by side: three pictures with captions in the page's language, none wider than the screen
    page.locator("#playground-family label").filter(has_text=message("playground.family.all", language)).click()
    expect(page.locator("#playground-view img")).to_have_count(3, timeout=TIMEOUT)
    expect(page.locator("#playground-view figcaption").nth(2)).to_have_text(
        message("playground.caption.plane", language, family=message("playground.family.flow", language)))
    page.locator("#playground-step").click()
    expect(status).to_have_text(message("playground.status.stepped", language, update=1), timeout=TIMEOUT)
    expect(page.locator("#playground-loss svg")).to_have_count(3, timeout=TIMEOUT)
    page.locator("#playground-view").scroll_into_view_if_needed()
    screenshot(page, f"playground-all-three-{name}")
    assert fits_the_screen(page)

    # your own distribution: draw it, use it, step it
    pick_option(page, "#playground-distribution", message("playground.dist.drawn", language))
    expect(status).to_have_text(message("playground.status.draw", language), timeout=TIMEOUT)
    draw_blob(page)
    page.locator("#playground-use-drawing").click()
    expect(status).to_contain_text(status_pattern("playground.status.reset", language), timeout=TIMEOUT)
    page.locator("#playground-step").click()
    expect(status).to_have_text(message("playground.status.stepped", language, update=1), timeout=TIMEOUT)
    page.locator("#playground-sketch").scroll_into_view_if_needed()
    screenshot(page, f"playground-drawn-{name}")
    assert fits_the_screen(page)

    if language == "zh-CN":
        page.add_style_tag(content=".katex, .katex-display, .katex-mathml { display: none !important; }")
        text = page.locator("#tab-playground").inner_text()
        assert english_words(text, set()) == [], english_words(text, set())
    assert errors_on_page(page) == [] and problems == []
    page.context.close()


@pytest.mark.parametrize("name", ["phone-zh"])
def test_the_collapse_preset_then_a_bad_rate_refused_in_the_pages_language(browser, shipped_url, name):  # noqa: F811
    from genimg.playground.models import MODE_COLLAPSE_PRESET

    page, language, problems = open_page(browser, shipped_url, name, "playground")
    page.locator("#playground-collapse").click()
    expect(page.locator("#playground-progress")).to_have_text(message("playground.status.collapse", language),
                                                              timeout=TIMEOUT)
    expect(page.locator("#playground-distribution input")).to_have_value(
        message("playground.dist.gaussians8", language), timeout=TIMEOUT)
    expect(page.locator("#playground-rate-g input")).to_have_value(f"{MODE_COLLAPSE_PRESET.generator_learning_rate:g}")
    expect(page.locator("#playground-status")).to_contain_text(status_pattern("playground.status.ready", language),
                                                               timeout=TIMEOUT)  # the preset's models are built
    rate = page.locator("#playground-rate-g input")
    rate.fill("5")
    rate.press("Enter")
    expected = message("playground.bad.number", language, name=message("playground.rate_g", language), value="5",
                       low="1e-05", high="0.1")
    expect(page.locator("[data-testid=toast-text]").first).to_have_text(expected, timeout=TIMEOUT)
    screenshot(page, f"playground-refused-{name}")
    assert problems == []
    page.context.close()
