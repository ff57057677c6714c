"""genimg/ui/page_script.py in a real browser: Gradio's untranslated tooltips (slider reset, a slider's number box,
image fullscreen) read in Chinese on a Chinese page, and stay English on an English one."""

from __future__ import annotations

import re

import pytest

from genimg.ui.page_script import GRADIO_WORDS_ZH, head
from tests.ui.test_browser import MISSING, browser  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

expect = pytest.importorskip("playwright.sync_api").expect


@pytest.fixture(scope="module")
def url(tiny_models):
    import app

    demo = app.build_demo([str(next(iter(tiny_models.values())).parent)])
    _, address, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield address
    demo.close()


def test_the_head_is_one_script_holding_every_word():
    text = head()
    assert text.count("<script>") == 1 and "__WORDS__" not in text and "__TEMPLATES__" not in text
    assert all(chinese in text for chinese in GRADIO_WORDS_ZH.values())


def test_gradio_tooltips_read_in_chinese(browser, url):  # noqa: F811
    page = browser.new_page(locale="zh-CN", viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.locator("#tabs").get_by_role("tab", name="隐空间").click()
    reset = page.locator("#tab-latent button.reset-button, #tab-latent [aria-label='恢复默认值']").first
    expect(reset).to_be_attached(timeout=60_000)
    labels = page.locator("#tab-latent").evaluate(
        "(root) => [...root.querySelectorAll('[aria-label],[title]')].map((element) =>"
        " (element.getAttribute('aria-label') || '') + ' ' + (element.getAttribute('title') || '')).join('\\n')")
    assert "Reset to default value" not in labels and "number input for" not in labels, labels[:500]
    assert "恢复默认值" in labels
    page.close()


def test_an_english_page_keeps_gradio_words(browser, url):  # noqa: F811
    page = browser.new_page(locale="en-US", viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.locator("#tabs").get_by_role("tab", name="Latent space").click()
    expect(page.locator("#tab-latent [aria-label='Reset to default value']").first).to_be_attached(timeout=60_000)
    page.close()


def test_an_error_toast_is_headed_in_chinese(browser, url):  # noqa: F811
    """Gradio writes the toast's heading ("Error") itself, whatever title the gr.Error carries."""
    page = browser.new_page(locale="zh-CN", viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.locator("#tabs").get_by_role("tab", name="隐空间").click()
    seed = page.locator("#latent-seed input")
    expect(seed).to_be_visible(timeout=60_000)
    seed.fill("-3")
    seed.press("Enter")
    toast = page.locator(".toast-body").first
    expect(toast).to_be_visible(timeout=60_000)
    expect(toast).to_contain_text("出错了")
    assert "Error" not in toast.inner_text()
    page.close()


@pytest.mark.parametrize("locale, label", [("en-US", "Precision and recall"), ("zh-CN", "精确率和召回率")])
def test_a_checkbox_tooltip_says_what_its_label_says(browser, url, locale, label):  # noqa: F811
    """Gradio gives each box of a CheckboxGroup the choice's internal value as its tooltip ("precision_recall")."""
    page = browser.new_page(locale=locale, viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.locator("#tab-evaluate-button").click()
    box = page.locator("#eval-measures input[type=checkbox]").first
    expect(box).to_be_attached(timeout=60_000)
    expect(box).to_have_attribute("title", re.compile("^" + re.escape(label)), timeout=30_000)
    titles = page.locator("#eval-measures").evaluate(
        "(root) => [...root.querySelectorAll('input[type=checkbox]')].map((box) => box.getAttribute('title'))")
    assert not any("_" in title or title in ("memorisation", "cas") for title in titles), titles
    page.close()


def test_a_slider_moved_with_the_keyboard_ends_its_move_as_a_drag_does(browser, url):  # noqa: F811
    """Gradio sends `release` on pointerup only: the Latent tab's strips (drawn when a move ends) followed a drag but
    never the arrow keys."""
    page = browser.new_page(locale="en-US", viewport={"width": 1366, "height": 900})
    page.goto(url)
    page.locator("#tab-latent-button").click()
    strips = page.locator("#latent-strips img")
    expect(strips).to_be_visible(timeout=60_000)
    before = strips.get_attribute("src")
    slider = page.locator("#latent-z0 input[type=range]")
    slider.focus()
    for _ in range(3):
        page.keyboard.press("ArrowRight")
    expect(strips).not_to_have_attribute("src", before, timeout=30_000)
    page.close()
