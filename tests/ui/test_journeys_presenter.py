"""Browser journeys for the Latent space and Interpolate tabs as a teacher uses them (issue 12), on the shipped
checkpoints, at desktop (1366×900) and phone (390×844) size, in English and on ?lang=zh-CN:

(a) A number typed beyond what a control accepts (seed -3) is answered by genimg in the visitor's language, never by
    Gradio's English "Value -3 is less than minimum value 0.".
(c) Gradio's block labels and image buttons (download, fullscreen) sit above the pictures, covering neither the Latent
    image nor the first interpolation frames (the strips' top-left corner).
(d) Direction strips (GANSpace): beside the direction picker and its strength slider, a picture with a row of images
    along each principal direction around the current z, redrawn when the seed changes.
(e) Presenter view, for a projector: the Latent image fills the screen's height (≥ 80 %) with every control still in
    a column beside it, and a slider moved there changes the image; Escape or the button leaves it. On a phone the
    image fills the screen's width, pinned above the controls.
(b) On ?lang=zh-CN both tabs read in Chinese: their visible text and the plot's labels hold no English word outside a
    short list of names (formulas typeset by KaTeX are not words).

Screenshots go to $GENIMG_SCREENSHOTS when it is set.
"""

import re

import pytest

from tests.ui.test_browser import MISSING, browser, screenshot  # noqa: F401
from tests.ui.test_journeys_explore import (  # noqa: F401
    DESKTOP,
    PHONE,
    TIMEOUT,
    open_tab,
    shipped_url,
)

try:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
except ImportError:  # pragma: no cover - the journeys are skipped without Playwright
    PlaywrightTimeout = TimeoutError

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

HAN = re.compile(r"[\u4e00-\u9fff]")


def new_view(browser, url: str, viewport: dict, language: str):  # noqa: F811 - `browser` is test_browser's fixture
    """A page in `language` ("en" or "zh-CN"): the browser's locale picks the labels, ?lang= the handlers' replies."""
    context = browser.new_context(viewport=viewport, locale="zh-CN" if language == "zh-CN" else "en-US")
    page = context.new_page()
    page.goto(url + ("?lang=zh-CN" if language == "zh-CN" else ""))
    page.locator("#tab-samples-button").wait_for(timeout=TIMEOUT)
    settle(page)
    return context, page


def settle(page) -> None:
    """Wait until the page has done what it does as it opens: its last opening step (genimg.ui.share) restores the
    view the address names and then sets window.<RESTORED_FLAG>; a tab clicked before that may be switched back."""
    from genimg.ui.views import RESTORED_FLAG

    page.wait_for_function(f"() => window.{RESTORED_FLAG} === true", timeout=2 * TIMEOUT)


def show_tab(page, tab_id: str, title_key: str, language: str) -> None:
    """Open a top-level tab and wait until its panel shows. The page's load events restore the tab named in the
    address (none: Samples) and may arrive after an early click, so the click is repeated until the panel stays."""
    panel = page.locator(f"#tab-{tab_id}")
    for _ in range(10):
        open_tab(page, tab_id, title_key, language)
        try:
            panel.wait_for(state="visible", timeout=3_000)
        except PlaywrightTimeout:  # not shown yet: click again
            continue
        page.wait_for_timeout(500)
        if panel.is_visible():
            return
    raise AssertionError(f"the {tab_id} tab did not open")


def tab_text(page, tab_id: str, title_key: str) -> str:
    """The visible text of a tab (VISIBLE_TEXT), read while the tab is open (read again if a late load event of the
    page switched tabs meanwhile)."""
    for _ in range(5):
        show_tab(page, tab_id, title_key, "zh-CN")
        text = page.locator(f"#tab-{tab_id}").evaluate(VISIBLE_TEXT)
        if page.locator(f"#tab-{tab_id}").is_visible():
            return text
    raise AssertionError(f"the {tab_id} tab did not stay open")


def toasts(page) -> str:
    """The messages of every toast the page shows (not their titles: Gradio writes the word for the toast's kind,
    "Error", itself; genimg/ui/page_script.py translates Gradio's own words)."""
    return "\n".join(page.locator("[data-testid=toast-text]").all_inner_texts())


LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


@pytest.mark.parametrize(("viewport", "language"), [(DESKTOP, "zh-CN"), (PHONE, "zh-CN"), (DESKTOP, "en")],
                         ids=["desktop-zh", "phone-zh", "desktop-en"])
def test_a_negative_seed_is_answered_in_the_visitors_language(browser, shipped_url, viewport, language):  # noqa: F811
    from playwright.sync_api import expect

    context, page = new_view(browser, shipped_url, viewport, language)
    show_tab(page, "latent", "latent.tab", language)
    seed = page.locator("#latent-seed input")
    seed.fill("-3")
    seed.press("Enter")
    toast = page.locator("[data-testid=toast-body], .toast-body").first
    expected = "种子必须是" if language == "zh-CN" else "The seed must be a whole number"
    expect(toast).to_contain_text(expected, timeout=TIMEOUT)
    shown = toasts(page)
    assert "Value -3" not in shown and "minimum value" not in shown, shown
    if language == "zh-CN":
        assert HAN.search(shown) and not LATIN_WORD.search(shown), shown
    screenshot(page, f"presenter-seed-latent-{'phone' if viewport is PHONE else 'desktop'}-{language}")
    # Interpolate: the same for seed A, and for a frame count typed beyond the slider's 64
    page.locator("[data-testid=toast-body] button, .toast-close").first.click()
    show_tab(page, "interpolate", "interp.tab", language)
    seed_a = page.locator("#interp-seed-a input")
    seed_a.fill("-3")
    seed_a.press("Enter")
    expect(page.locator("[data-testid=toast-body], .toast-body").first).to_contain_text(
        "种子 A 必须是" if language == "zh-CN" else "Seed A must be a whole number", timeout=TIMEOUT)
    seed_a.fill("0")
    frames = page.locator("#interp-frames input[type=number]")
    frames.fill("100")
    frames.press("Enter")
    expect(page.locator("[data-testid=toast-body], .toast-body").filter(
        has_text="帧数必须是" if language == "zh-CN" else "Frames must be")).to_be_visible(timeout=TIMEOUT)
    shown = toasts(page)
    assert "Value " not in shown and "maximum value" not in shown, shown
    if language == "zh-CN":
        assert not LATIN_WORD.search(shown), shown
    screenshot(page, f"presenter-seed-interpolate-{'phone' if viewport is PHONE else 'desktop'}-{language}")
    context.close()


# Names that stay as they are on a Chinese page: the product, model families, data sets, formula and method names,
# file formats. Model folder names (mnist-dcgan, …) are added from the catalog.
# "pc": a flow's sliders are named PC1, PC2, … in every language (a phone's slider label has room for ~3 characters;
# the Chinese text gives 主成分 beside it), as "pca" names the method
NAMES = {"genimg", "gan", "vae", "dcgan", "cdcgan", "cvae", "mnist", "shapes", "ganspace", "pca", "pc", "lerp", "slerp",
         "gif", "png", "sin", "cos"}

VISIBLE_TEXT = """(root) => {
    // visible text outside typeset formulas (KaTeX writes each formula twice, as MathML and as letters)
    const parts = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        const parent = node.parentElement;
        if (!parent || parent.closest(".katex") || !node.nodeValue.trim()) continue;
        if (parent.closest("svg") === null && !parent.checkVisibility()) continue;
        parts.push(node.nodeValue.trim());
    }
    return parts.join("\\n");
}"""


def model_names() -> set[str]:
    import app
    from genimg.explore.catalog import discover

    names = set()
    for entry in discover(*app.model_folders()):
        names.add(entry.name.lower())
        names.update(part.lower() for part in re.split(r"[-_.]", entry.name) if part)
    return names


def english_words(text: str, allowed: set[str]) -> list[str]:
    return sorted({word for word in LATIN_WORD.findall(text) if word.lower() not in allowed})


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_both_tabs_read_in_chinese(browser, shipped_url, viewport):  # noqa: F811
    from playwright.sync_api import expect

    allowed = NAMES | model_names()
    context, page = new_view(browser, shipped_url, viewport, "zh-CN")
    show_tab(page, "latent", "latent.tab", "zh-CN")
    # the direction names are sent in the visitor's language when the page loads
    expect(page.locator("#latent-direction input")).to_have_value(re.compile("主成分1"), timeout=TIMEOUT)
    latent = tab_text(page, "latent", "latent.tab")
    screenshot(page, f"presenter-chinese-latent-{'phone' if viewport is PHONE else 'desktop'}")
    show_tab(page, "interpolate", "interp.tab", "zh-CN")
    expect(page.locator("#interp-norms svg text").filter(has_text="帧").first).to_be_attached(timeout=2 * TIMEOUT)
    expect(page.locator("#interp-summary")).to_contain_text("中点", timeout=2 * TIMEOUT)
    interpolate = tab_text(page, "interpolate", "interp.tab")
    screenshot(page, f"presenter-chinese-interpolate-{'phone' if viewport is PHONE else 'desktop'}")
    context.close()
    assert HAN.search(latent) and HAN.search(interpolate)
    assert english_words(latent, allowed) == [], latent
    assert english_words(interpolate, allowed) == [], interpolate


COVERED = """(selector) => {
    // Rectangles of Gradio's label and buttons that overlap the drawn picture of each <img> under `selector`.
    const root = document.querySelector(selector);
    if (!root) return ["missing " + selector];
    const img = root.querySelector("img");
    if (!img || !img.naturalWidth) return ["no picture in " + selector];
    const box = img.getBoundingClientRect();
    // object-fit: contain draws the picture centred inside the element's box
    const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    const fit = getComputedStyle(img).objectFit;
    const width = fit === "contain" ? img.naturalWidth * scale : box.width;
    const height = fit === "contain" ? img.naturalHeight * scale : box.height;
    const picture = {left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2};
    picture.right = picture.left + width; picture.bottom = picture.top + height;
    const found = [];
    for (const element of root.querySelectorAll("label[data-testid=block-label], .icon-button-wrapper button, .icon-button-wrapper a")) {
        const r = element.getBoundingClientRect();
        if (!r.width || !r.height || !element.checkVisibility()) continue;
        const overlapX = Math.min(r.right, picture.right) - Math.max(r.left, picture.left);
        const overlapY = Math.min(r.bottom, picture.bottom) - Math.max(r.top, picture.top);
        if (overlapX > 0.5 && overlapY > 0.5) {
            found.push(`${selector}: ${element.tagName.toLowerCase()} '${(element.getAttribute("aria-label") || element.textContent).trim()}' covers ${overlapX.toFixed(0)}×${overlapY.toFixed(0)} px of the picture`);
        }
    }
    return found;
}
"""


@pytest.mark.parametrize(("viewport", "language"), [(DESKTOP, "en"), (PHONE, "zh-CN")], ids=["desktop-en", "phone-zh"])
def test_labels_and_buttons_leave_the_pictures_uncovered(browser, shipped_url, viewport, language):  # noqa: F811
    from playwright.sync_api import expect

    context, page = new_view(browser, shipped_url, viewport, language)
    show_tab(page, "latent", "latent.tab", language)
    expect(page.locator("#latent-image img").first).to_be_visible(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('#latent-image img')?.naturalWidth > 0", timeout=TIMEOUT)
    covered = page.evaluate(COVERED, "#latent-image")
    screenshot(page, f"presenter-uncovered-latent-{'phone' if viewport is PHONE else 'desktop'}-{language}")
    show_tab(page, "interpolate", "interp.tab", language)
    pictures = ("#interp-lerp", "#interp-slerp", "#interp-lerp-strip", "#interp-slerp-strip")
    page.wait_for_function("""selectors => selectors.every(selector =>
        document.querySelector(selector + " img")?.naturalWidth > 0)""", arg=list(pictures), timeout=TIMEOUT)
    for picture in pictures:
        page.locator(picture).scroll_into_view_if_needed()
        covered += page.evaluate(COVERED, picture)
    screenshot(page, f"presenter-uncovered-interpolate-{'phone' if viewport is PHONE else 'desktop'}-{language}")
    context.close()
    assert covered == []


@pytest.mark.parametrize(("viewport", "language"), [(DESKTOP, "en"), (PHONE, "zh-CN")], ids=["desktop-en", "phone-zh"])
def test_direction_strips_sit_by_the_direction_slider_and_follow_the_seed(browser, shipped_url, viewport,  # noqa: F811
                                                                          language):
    from playwright.sync_api import expect

    context, page = new_view(browser, shipped_url, viewport, language)
    show_tab(page, "latent", "latent.tab", language)
    strips = page.locator("#latent-strips img").first
    expect(strips).to_be_visible(timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('#latent-strips img')?.naturalWidth > 0", timeout=TIMEOUT)
    # a row per direction, a column per step: taller than wide for 10 directions × 7 steps
    natural = strips.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert natural[1] > natural[0] > 0, natural
    # next to the strength slider: directly below it in the same column
    slider = page.locator("#latent-strength").bounding_box()
    box = page.locator("#latent-strips").bounding_box()
    assert 0 <= box["y"] - (slider["y"] + slider["height"]) < 40 and abs(box["x"] - slider["x"]) < 40, (slider, box)
    before = strips.get_attribute("src")
    seed = page.locator("#latent-seed input")
    seed.fill("7")
    seed.press("Enter")
    expect(page.locator("#latent-strips img").first).not_to_have_attribute("src", before, timeout=TIMEOUT)
    page.locator("#latent-strips").scroll_into_view_if_needed()
    page.wait_for_function("() => document.querySelector('#latent-strips img')?.naturalWidth > 0", timeout=TIMEOUT)
    screenshot(page, f"presenter-strips-{'phone' if viewport is PHONE else 'desktop'}-{language}")
    assert page.evaluate(COVERED, "#latent-strips") == []
    context.close()


def picture_box(page) -> dict:
    return page.locator("#latent-image img").first.bounding_box()


def in_viewport(page, box: dict) -> bool:
    size = page.viewport_size
    return (box is not None and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] + 0.5
            and box["y"] + box["height"] <= size["height"] + 0.5)


@pytest.mark.parametrize(("viewport", "language"), [(DESKTOP, "en"), (DESKTOP, "zh-CN"), (PHONE, "zh-CN")],
                         ids=["desktop-en", "desktop-zh", "phone-zh"])
def test_presenter_view_fills_the_screen_and_the_sliders_still_work(browser, shipped_url, viewport,  # noqa: F811
                                                                     language):
    from playwright.sync_api import expect

    context, page = new_view(browser, shipped_url, viewport, language)
    show_tab(page, "latent", "latent.tab", language)
    expect(page.locator("#latent-image img").first).to_be_visible(timeout=TIMEOUT)
    size = page.viewport_size
    assert picture_box(page)["height"] < 0.8 * size["height"]  # the ordinary page
    page.locator("#latent-enter-presenter").click()
    phone = viewport is PHONE
    if phone:  # a portrait screen: the square picture as wide as the screen
        page.wait_for_function("() => document.querySelector('#latent-image img').getBoundingClientRect().width"
                               " >= 0.9 * window.innerWidth", timeout=TIMEOUT)
    else:
        page.wait_for_function("() => document.querySelector('#latent-image img').getBoundingClientRect().height"
                               " >= 0.8 * window.innerHeight", timeout=TIMEOUT)
    assert in_viewport(page, picture_box(page)), picture_box(page)
    # the controls are all still there, the last slider too, and the picture stays whole while one is reached
    for slider_id in ("latent-strength", "latent-z0", page.locator("[id^=latent-z]:visible").last.get_attribute("id")):
        handle = page.locator(f"#{slider_id} input[type=range]")
        handle.scroll_into_view_if_needed()
        expect(handle).to_be_in_viewport(timeout=TIMEOUT)
        assert in_viewport(page, handle.bounding_box()) and in_viewport(page, picture_box(page)), slider_id
    before = page.locator("#latent-image img").first.get_attribute("src")
    slider = page.locator("#latent-z0 input[type=range]")
    slider.scroll_into_view_if_needed()
    slider.focus()
    for _ in range(30):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", before, timeout=TIMEOUT)
    page.wait_for_function("() => document.querySelector('#latent-image img')?.naturalWidth > 0", timeout=TIMEOUT)
    screenshot(page, f"presenter-view-{'phone' if phone else 'desktop'}-{language}")
    assert in_viewport(page, picture_box(page))
    # and back to the page: the button (always on screen), or Escape on a desktop
    if phone:
        page.locator("#latent-exit-presenter").click()
    else:
        page.keyboard.press("Escape")
    page.wait_for_function("() => !document.body.classList.contains('genimg-presenter')", timeout=TIMEOUT)
    expect(page.locator("#latent-enter-presenter")).to_be_visible(timeout=TIMEOUT)
    assert picture_box(page)["height"] < 0.8 * size["height"]
    context.close()
