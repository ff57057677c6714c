"""Browser journeys for the presentation layout (issue 12, findings 4 and 7), on the shipped checkpoints.

(a) Latent space at desktop (1366×900) and phone (390×844) size: while a slider is in the viewport, the image is
    too, and moving the slider changes it — the picture can be watched while dragging.
    Interpolate likewise keeps both animations in view beside (desktop) or above (phone) its controls.
(b) Phone (390×844), English and Chinese: every top-level tab is reachable from the tab bar (at most 2 hidden
    behind Gradio's overflow menu).

Screenshots go to $GENIMG_SCREENSHOTS when it is set.
"""

import pytest

from tests.ui.test_browser import MISSING, browser, image_source, screenshot  # noqa: F401
from tests.ui.test_journeys_explore import (  # noqa: F401
    DESKTOP,
    PHONE,
    TIMEOUT,
    shipped_url,
)
from tests.ui.test_journeys_presenter import settle, show_tab

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

TAB_IDS = ("samples", "latent", "interpolate", "encode", "gan", "train", "evaluate", "playground", "learn")
MOST_HIDDEN = 2  # the bar for a phone: at most 2 tabs behind an overflow menu


def new_view(browser, url: str, viewport: dict, locale: str):  # noqa: F811 - `browser` is test_browser's fixture
    context = browser.new_context(viewport=viewport, locale=locale)
    page = context.new_page()
    page.goto(url)
    page.locator("#tab-samples-button").wait_for(timeout=TIMEOUT)
    settle(page)
    return context, page


def in_viewport(page, selector: str) -> bool:
    """Whether the whole bounding box of `selector` lies inside the viewport."""
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return (box is not None and box["width"] > 0 and box["height"] > 0 and box["y"] >= 0 and box["x"] >= 0
            and box["y"] + box["height"] <= size["height"] and box["x"] + box["width"] <= size["width"])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_latent_image_stays_in_view_while_a_slider_moves(browser, shipped_url, viewport):  # noqa: F811
    from playwright.sync_api import expect

    context, page = new_view(browser, shipped_url, viewport, "en-US")
    show_tab(page, "latent", "latent.tab", "en")
    before = image_source(page, "#latent-image")
    # the first slider, then the last one (the farthest down the page): the image stays in view with each
    last = page.locator("[id^=latent-z]:visible").last.get_attribute("id")
    for slider_id in ("latent-z0", last):
        page.locator(f"#{slider_id} input[type=range]").scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # let a sticky element settle after the scroll
        assert in_viewport(page, f"#{slider_id} input[type=range]"), slider_id
        assert in_viewport(page, "#latent-image img"), (slider_id, page.locator("#latent-image").bounding_box())
    slider = page.locator("#latent-z0 input[type=range]")
    slider.scroll_into_view_if_needed()
    slider.focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", before, timeout=TIMEOUT)
    assert in_viewport(page, "#latent-image img") and in_viewport(page, "#latent-z0 input[type=range]")
    screenshot(page, f"layout-latent-{'phone' if viewport is PHONE else 'desktop'}")
    context.close()


@pytest.mark.parametrize(("viewport", "locale"), [(DESKTOP, "en-US"), (PHONE, "zh-CN")], ids=["desktop", "phone-zh"])
def test_the_interpolation_stays_in_view_beside_its_controls(browser, shipped_url, viewport, locale):  # noqa: F811
    """Interpolate: with the frame count slider and the Run button in the viewport, both animations are too."""
    from playwright.sync_api import expect

    context, page = new_view(browser, shipped_url, viewport, locale)
    show_tab(page, "interpolate", "interp.tab", "zh-CN" if locale == "zh-CN" else "en")
    expect(page.locator("#interp-lerp img").first).to_be_visible(timeout=TIMEOUT)
    for control in ("#interp-frames input[type=range]", "#interp-run"):
        page.locator(control).scroll_into_view_if_needed()
        page.wait_for_timeout(300)
        assert in_viewport(page, control), control
        for animation in ("#interp-lerp img", "#interp-slerp img"):
            assert in_viewport(page, animation), (control, animation, page.locator(animation).bounding_box())
    screenshot(page, f"layout-interpolate-{'phone' if viewport is PHONE else 'desktop'}-{locale}")
    context.close()


def reachable_tabs(page) -> list[str]:
    """The top-level tabs whose button shows in the tab bar (scrolled into view if the bar scrolls)."""
    reachable = []
    for tab_id in TAB_IDS:
        button = page.locator(f"#tab-{tab_id}-button")
        if not button.count() or not button.is_visible():
            continue
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        width = page.viewport_size["width"]
        if box and box["width"] > 0 and box["x"] >= 0 and box["x"] + box["width"] <= width:
            reachable.append(tab_id)
    return reachable


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_every_tab_is_reachable_on_a_phone(browser, shipped_url, locale):  # noqa: F811
    context, page = new_view(browser, shipped_url, PHONE, locale)
    page.wait_for_timeout(500)  # Gradio measures the tab bar after the first paint
    reachable = reachable_tabs(page)
    hidden = [tab_id for tab_id in TAB_IDS if tab_id not in reachable]
    screenshot(page, f"layout-tabs-phone-{locale}")
    assert len(hidden) <= MOST_HIDDEN, f"hidden on a phone: {hidden}"
    # and a reachable tab opens when tapped: the last one reachable
    page.locator(f"#tab-{reachable[-1]}-button").click()
    assert page.locator(f"#tab-{reachable[-1]}-button").get_attribute("aria-selected") == "true"
    context.close()
