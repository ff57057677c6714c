"""A real browser on the Train tab (issue 12, finding 10): "2.5" steps is refused in the visitor's language (it used
to be rounded to 2 and a run started), with no "Error" from Gradio; a second run does not show the first run's replay.

Uses tests/ui/test_browser.py's browser, tiny-network Train page and helpers (and is skipped where it is).
Screenshots of the Train tab (desktop 1366×900 and phone 390×844, English and Chinese) go to $GENIMG_SCREENSHOTS.
"""

from __future__ import annotations

import pytest

from genimg.ui.i18n import message
from tests.ui.test_browser import browser, pytestmark, screenshot, train_page_url  # noqa: F401  (fixtures, skip mark)
from tests.ui.test_journeys_explore import errors_on_page

expect = pytest.importorskip("playwright.sync_api").expect

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 60_000


def train_page(browser, url: str, locale: str):  # noqa: F811 - `browser` is test_browser's fixture
    """The Train tab open in a new page, its Settings unfolded."""
    page = browser.new_page(locale=locale, viewport=DESKTOP)
    page.goto(url)
    language = "zh-CN" if locale.startswith("zh") else "en"
    page.get_by_role("tab", name=message("train.tab", language)).click()
    page.get_by_text(message("train.advanced", language), exact=True).first.click()
    expect(page.locator("#train-steps input")).to_be_visible(timeout=TIMEOUT)
    return page


def set_number(page, elem_id: str, value: str) -> None:
    field = page.locator(f"#{elem_id} input")
    field.fill(value)
    field.press("Tab")  # the page sends the value when the field loses focus


@pytest.mark.parametrize("locale, words", [("en-US", "Steps must be a whole number"), ("zh-CN", "步数必须是")])
def test_a_fraction_of_a_step_is_refused_in_the_visitors_language(browser, train_page_url, locale, words):  # noqa: F811
    page = train_page(browser, train_page_url, locale)
    set_number(page, "train-steps", "2.5")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text(words, timeout=TIMEOUT)
    expect(page.locator("#train-status")).to_contain_text("2.5")
    assert errors_on_page(page) == []
    expect(page.locator("#train-start")).to_be_enabled()  # nothing started: Start is offered again
    name = "en" if locale.startswith("en") else "zh"
    screenshot(page, f"train-refused-desktop-{name}")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(300)
    screenshot(page, f"train-refused-phone-{name}")
    page.close()


def test_a_second_run_does_not_show_the_first_runs_replay(browser, train_page_url):  # noqa: F811
    page = train_page(browser, train_page_url, "en-US")
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="Shapes (built in, no download)").click()
    set_number(page, "train-steps", "30")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=TIMEOUT)
    expect(page.locator("#train-replay-image img").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#train-replay-caption")).to_contain_text("Step 30,")
    screenshot(page, "train-first-run")

    set_number(page, "train-steps", "5000")  # the second run goes on while the replay is checked
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Training", timeout=TIMEOUT)
    expect(page.locator("#train-replay-image img")).to_have_count(0)
    expect(page.locator("#train-replay-caption")).not_to_contain_text("Step")
    expect(page.locator("#train-replay input[type=number]")).to_have_value("0")
    screenshot(page, "train-second-run")
    assert errors_on_page(page) == []
    page.locator("#train-stop").click()
    expect(page.locator("#train-status")).to_contain_text("stopped by the user", timeout=TIMEOUT)
    page.close()
