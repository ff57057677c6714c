"""A newcomer's first journeys through the Explore tabs in a real browser, on the shipped checkpoints.

(a) Samples of the default GAN, then GAN tools → Invert a drawing: a result, no "Error" (the shared model cache
    once held inference tensors that autograd refused).
(b) Latent space: a conditional model, then an unconditional one: no error toast, the image follows.
(c) Encode: the default VAE is not the 2-D one (its map keeps it), and the numbers table is rounded.
(d) A seed of -3 on ?lang=zh-CN: a Chinese sentence, none of Gradio's English ("Value -3 is less than minimum…").
(e) Invert with 1,000 steps, then Stop: a sentence says it stopped (en, zh-CN), the best reconstruction stays.

Desktop 1366×900 in English by default. With $GENIMG_SCREENSHOTS set, every journey also runs on a phone
(390×844) and in Chinese, and leaves a screenshot of each view in that folder.
"""

import os
import re

import pytest

from genimg.explore.catalog import discover
from genimg.ui.i18n import message
from tests.ui.test_browser import MISSING, browser, image_source, screenshot  # noqa: F401

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
VIEWS = {"desktop-en": (DESKTOP, "en-US")}
if os.environ.get("GENIMG_SCREENSHOTS"):
    VIEWS.update({"desktop-zh": (DESKTOP, "zh-CN"), "phone-en": (PHONE, "en-US"), "phone-zh": (PHONE, "zh-CN")})
TIMEOUT = 30_000  # ms for anything the server computes
SETTLE = 1_500  # ms for events still in flight after the visible change (a dropdown sends `input` twice)


@pytest.fixture(scope="module")
def shipped_url():
    """The page exactly as it ships (app.build_demo() on the checkpoints folder)."""
    import app

    if not any(entry.name == "mnist-dcgan" for entry in discover(*app.model_folders())):
        pytest.skip("the shipped checkpoints are not in this checkout")
    demo = app.build_demo()
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(params=list(VIEWS), ids=list(VIEWS))
def view(request, browser, shipped_url):  # noqa: F811 - `browser` is test_browser's fixture
    """(page, view name, language) for one viewport and browser language."""
    viewport, locale = VIEWS[request.param]
    context = browser.new_context(viewport=viewport, locale=locale)
    page = context.new_page()
    page.goto(shipped_url)
    yield page, request.param, "zh-CN" if locale == "zh-CN" else "en"
    context.close()


# Set by the share panel's load event once it has restored the address's view (genimg.ui.views.RESTORED_FLAG): a
# tab clicked before then is switched back to the address's tab (Samples when it names none).
VIEW_RESTORED = "() => window.genimgViewRestored === true"


def open_tab(page, tab_id: str, title_key: str, language: str) -> None:
    """Click a top-level tab by its id, once the page has restored its view; on a narrow screen the tab may sit in
    Gradio's overflow menu under its title."""
    button = page.locator(f"#tab-{tab_id}-button")
    page.locator("#tab-samples-button").wait_for(timeout=TIMEOUT)
    page.wait_for_function(VIEW_RESTORED, timeout=TIMEOUT)
    if button.count() and button.is_visible():
        button.click()
        return
    page.locator("#tabs .overflow-menu > button").click()
    page.locator("#tabs .overflow-dropdown button").filter(has_text=message(title_key, language)).click()


def pick_option(page, dropdown: str, name: str) -> None:
    page.locator(f"{dropdown} input").click()
    page.get_by_role("option", name=re.compile(re.escape(name))).first.click()


def draw_stroke(page, sketch: str) -> None:
    """A vertical stroke down the middle of a Sketchpad (a "1")."""
    canvas = page.locator(f"{sketch} canvas").last
    canvas.scroll_into_view_if_needed()
    canvas.wait_for(timeout=TIMEOUT)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for step in range(1, 21):
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * (0.2 + 0.03 * step))
    page.mouse.up()


def wait_until_shown(page, *selectors: str) -> None:
    """Wait until the image of every component in `selectors` has been fetched and decoded (a streamed output swaps
    its <img> for a new file at every update)."""
    page.wait_for_function("""selectors => selectors.every(selector => {
        const image = document.querySelector(selector + " img");
        return image !== null && image.complete && image.naturalWidth > 0;
    })""", arg=list(selectors), timeout=TIMEOUT)


def errors_on_page(page) -> list[str]:
    """Every error Gradio shows: the red "Error" badge of a component and error toasts (any language)."""
    badges = page.locator("[data-testid=status-tracker] .error").all_inner_texts()
    toasts = page.locator("[data-testid=toast-body].error, .toast-body.error").all_inner_texts()
    english = page.get_by_text("Error", exact=True).all_inner_texts()
    return [*badges, *toasts, *english]


def significant_digits(text: str) -> int | None:
    """How many significant digits a number as shown has ("-0.0123" → 3, "1.50" → 3); None if it is no number."""
    found = re.fullmatch(r"[-+−]?(\d*)\.?(\d*)(?:[eE][-+]?\d+)?", text.strip())
    if found is None or not (found.group(1) or found.group(2)):
        return None
    return len((found.group(1) + found.group(2)).lstrip("0"))  # zeros after the first other digit are shown digits


def test_significant_digits_counts_what_is_shown():
    assert [significant_digits(text) for text in ("-0.0123", "1.5", "0.12300000339746475", "100", "2.5e-05", "z1")] \
        == [3, 2, 17, 3, 2, None]


def test_the_samples_class_picker_shows_only_for_a_model_with_classes(view):
    """An unconditional model draws no "class per column": its picker is hidden; a conditional one shows it again."""
    page, name, language = view
    from playwright.sync_api import expect

    pick_option(page, "#samples-model", "mnist-dcgan")
    expect(page.locator("#samples-class")).to_be_hidden(timeout=TIMEOUT)
    pick_option(page, "#samples-model", "mnist-cdcgan")
    expect(page.locator("#samples-class")).to_be_visible(timeout=TIMEOUT)
    pick_option(page, "#samples-model", "mnist-vae-2d")
    expect(page.locator("#samples-class")).to_be_hidden(timeout=TIMEOUT)
    assert errors_on_page(page) == []


def test_invert_after_samples(view):
    """(a) The default GAN is in the shared cache from Samples; inverting a drawing with it must still work."""
    page, name, language = view
    grid = image_source(page, "#samples-grid")
    page.locator("#samples-random").click()  # a fresh grid through the page, not only the one built at start
    from playwright.sync_api import expect

    expect(page.locator("#samples-grid img").first).not_to_have_attribute("src", grid, timeout=TIMEOUT)
    open_tab(page, "gan", "gan.tab", language)
    expect(page.locator("#gan-model input")).to_have_value(re.compile("mnist-dcgan"))
    steps = page.locator("#gan-steps input[type=number]")
    steps.fill("40")  # a short run: the journey is about whether it runs at all
    steps.press("Enter")
    draw_stroke(page, "#gan-sketch")
    page.locator("#gan-run").click()
    expect(page.locator("#gan-reconstruction img").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#gan-status")).to_contain_text("‖z*‖", timeout=TIMEOUT)  # the final summary
    wait_until_shown(page, "#gan-target", "#gan-reconstruction")
    page.locator("#gan-reconstruction").scroll_into_view_if_needed()
    screenshot(page, f"journey-invert-{name}")
    assert errors_on_page(page) == []


def test_latent_conditional_then_unconditional(view):
    """(b) Switching from a conditional to an unconditional model hides the class picker without an error."""
    from playwright.sync_api import expect

    page, name, language = view
    open_tab(page, "latent", "latent.tab", language)
    before = image_source(page, "#latent-image")
    pick_option(page, "#latent-model", "mnist-cdcgan")
    expect(page.locator("#latent-class")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", before, timeout=TIMEOUT)
    conditional = image_source(page, "#latent-image")
    page.wait_for_timeout(SETTLE)
    pick_option(page, "#latent-model", "mnist-dcgan")
    expect(page.locator("#latent-class")).to_be_hidden(timeout=TIMEOUT)
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", conditional, timeout=TIMEOUT)
    page.wait_for_timeout(SETTLE)
    assert errors_on_page(page) == []
    # and the page goes on working: a slider still moves the image of the unconditional model
    unconditional = image_source(page, "#latent-image")
    slider = page.locator("#latent-z0 input[type=range]")
    slider.focus()
    for _ in range(20):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", unconditional, timeout=TIMEOUT)
    page.wait_for_timeout(SETTLE)
    wait_until_shown(page, "#latent-image")
    screenshot(page, f"journey-latent-{name}")
    assert errors_on_page(page) == []


def test_encode_defaults_to_the_best_vae_and_rounds(view):
    """(c) Encode starts on a VAE that reconstructs well, not the 2-D one (which keeps the latent map: see
    tests/ui/test_encode_tab.py), and its numbers table is rounded."""
    from playwright.sync_api import expect

    page, name, language = view
    open_tab(page, "encode", "encode.tab", language)
    expect(page.locator("#encode-model input")).to_be_visible(timeout=TIMEOUT)
    assert "mnist-vae-2d" not in page.locator("#encode-model input").input_value()
    draw_stroke(page, "#encode-sketch")
    page.locator("#encode-run").click()
    wait_until_shown(page, "#encode-prepared", "#encode-reconstruction")
    page.locator("#encode-numbers .label-wrap").first.click()
    cells = page.locator("#encode-table [role=gridcell]")
    expect(cells.first).to_be_visible(timeout=TIMEOUT)
    texts = [text.strip() for text in cells.all_inner_texts()]
    numbers = [text for text in texts if significant_digits(text) is not None]
    assert len(numbers) >= 3, texts  # μ, σ and KL of at least one dimension are shown
    assert [text for text in numbers if significant_digits(text) > 4] == []
    page.locator("#encode-table").scroll_into_view_if_needed()
    screenshot(page, f"journey-encode-{name}")
    assert errors_on_page(page) == []


ALL_VIEWS = {"desktop-en": (DESKTOP, "en-US"), "desktop-zh": (DESKTOP, "zh-CN"), "phone-en": (PHONE, "en-US"),
             "phone-zh": (PHONE, "zh-CN")}
# Gradio's own English, which must never reach a page: its validation messages.
GRADIO_ENGLISH = re.compile(r"less than minimum|greater than maximum|is not in the list of choices|Invalid file type"
                            r"|Value: ")


def open_page(browser, url: str, view: str, tab: str):  # noqa: F811 - `browser` is test_browser's fixture
    """A new page at `view` (ALL_VIEWS) showing top-level tab `tab`, with ?lang=zh-CN for Chinese; → (page, language,
    problems: the page's JavaScript errors as they happen). The address names the tab (?view=<tab>): the share
    panel's load event selects the address's tab, Samples when it names none, and would switch back a tab clicked
    before it ran."""
    from playwright.sync_api import expect

    viewport, locale = ALL_VIEWS[view]
    language = "zh-CN" if locale == "zh-CN" else "en"
    context = browser.new_context(viewport=viewport, locale=locale)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.goto(f"{url}?view={tab}" + ("&lang=zh-CN" if language == "zh-CN" else ""))
    page.wait_for_function(VIEW_RESTORED, timeout=TIMEOUT)  # the page's load events have run
    page.locator(f"#tab-{tab}-button").click()
    expect(page.locator(f"#tab-{tab}")).to_be_visible(timeout=TIMEOUT)
    return page, language, problems


def toast_texts(page) -> list[str]:
    """The sentences of the toasts shown (not their title: Gradio's toast titles itself with its type, "Error", in
    every language; the page's script is the place that translates it)."""
    return page.locator("[data-testid=toast-text]").all_inner_texts()


@pytest.mark.parametrize("name", ["desktop-zh", "phone-zh"])
def test_a_negative_seed_is_refused_in_chinese(browser, shipped_url, name):  # noqa: F811
    """(d) -3 as the GAN tab's seed on ?lang=zh-CN: the handler answers in Chinese, naming the value; none of
    Gradio's English validation text or its "Error" title shows."""
    from playwright.sync_api import expect

    page, language, problems = open_page(browser, shipped_url, name, "gan")
    page.locator("#gan-source label").filter(has_text=message("encode.source_seed", language)).click()
    seed = page.locator("#gan-seed input")
    seed.fill("-3")
    seed.press("Enter")
    page.locator("#gan-run").click()
    expect(page.locator("[data-testid=toast-text]").first).to_contain_text("不接受种子 -3", timeout=TIMEOUT)
    screenshot(page, f"journey-seed-refused-{name}")
    shown = "\n".join(toast_texts(page))
    assert GRADIO_ENGLISH.search(shown) is None, shown
    assert re.search(r"[A-Za-z]{3,}", shown) is None, shown  # the sentence holds no English word
    assert problems == []
    page.context.close()


@pytest.mark.parametrize("name", ["desktop-en", "phone-zh"])
def test_stop_says_the_inversion_stopped(browser, shipped_url, name):  # noqa: F811
    """(e) Invert a drawing with 1,000 steps, press Stop while it runs: the status says it stopped after N steps
    (in the page's language) and the best reconstruction so far stays shown; the page keeps working."""
    from playwright.sync_api import expect

    page, language, problems = open_page(browser, shipped_url, name, "gan")
    steps = page.locator("#gan-steps input[type=number]")
    steps.fill("1000")
    steps.press("Enter")
    draw_stroke(page, "#gan-sketch")
    page.locator("#gan-run").click()
    # a progress line ("step 50 of 1000 · …" / "第 50 / 1000 步 · …"), not the final one
    running = re.escape(message("gan.status", language, step=999_999, steps=1000, loss=0, mse=0, norm=0)
                        .split("·")[0].strip()).replace("999999", r"\d+")
    expect(page.locator("#gan-status")).to_contain_text(re.compile(running), timeout=TIMEOUT)
    # While the stream redraws the plot and pictures the button is never "stable" to Playwright, whose click then
    # waits (15 s on a busy machine, past the run's end); a person's click lands at once, as this event does.
    page.locator("#gan-stop").dispatch_event("click")
    stopped = message("gan.status_stopped", language, step=0, steps=1000, seconds=0, mse=0, first=0, norm=0)
    stopped_words = stopped.split("0")[0].replace("*", "").strip()  # "Stopped after" / "已停止：完成"
    expect(page.locator("#gan-status")).to_contain_text(stopped_words, timeout=TIMEOUT)
    status = page.locator("#gan-status").inner_text()
    done = re.search(r"(\d+) ?/ ?1000|(\d+) of 1000", status)
    assert done is not None and 0 < int(done.group(1) or done.group(2)) < 1000, status
    wait_until_shown(page, "#gan-reconstruction")
    page.locator("#gan-status").scroll_into_view_if_needed()
    screenshot(page, f"journey-stop-{name}")
    assert errors_on_page(page) == [] and problems == []
    page.locator("#gan-run").click()  # and it runs again after a stop
    expect(page.locator("#gan-status")).to_contain_text(re.compile(running), timeout=TIMEOUT)
    page.locator("#gan-stop").dispatch_event("click")
    expect(page.locator("#gan-status")).to_contain_text(stopped_words, timeout=TIMEOUT)
    page.context.close()


TOP_TABS = ("samples", "latent", "interpolate", "encode", "gan", "train", "evaluate", "playground", "learn")


@pytest.mark.parametrize("name", ["desktop-en", pytest.param("phone-en", marks=pytest.mark.slow)])
def test_every_tab_opens_without_a_page_error(browser, shipped_url, name):  # noqa: F811
    """(f) Every tab and sub-tab, desktop and phone: no JavaScript error in the page. (The console's "Cannot read
    properties of null (reading 'offsetWidth')" comes from a Gradio 6.31 LinePlot sent None after it drew: the Train
    tab's curves when a second run starts.)"""
    from playwright.sync_api import expect

    problems: list[str] = []
    for tab in TOP_TABS:  # each tab opened by its address, as the share panel's load event would switch it back
        page, _, tab_problems = open_page(browser, shipped_url, name, tab)
        # JavaScript errors only: a picture that failed to download (the busy test server) is not the page's code
        page.on("console", lambda entry, found=tab_problems: found.append(f"console: {entry.text}")
                if entry.type == "error" and not entry.text.startswith("Failed to load resource") else None)
        sub_tabs = page.locator(f"#tab-{tab} [role=tablist] button[role=tab]")
        for index in range(sub_tabs.count()):
            if sub_tabs.nth(index).is_visible():
                sub_tabs.nth(index).click()
        page.wait_for_function("() => document.querySelectorAll('.progress-text, .eta-bar').length === 0",
                               timeout=TIMEOUT)  # what the tab's events drew has arrived
        expect(page.locator(f"#tab-{tab}")).to_be_visible(timeout=TIMEOUT)
        problems += [f"{tab}: {problem}" for problem in tab_problems]
        page.context.close()
    assert problems == []


# Words that stay as they are on a Chinese page: names, model folder names (added from the page), symbols and units.
NAMES_KEPT = {"genimg", "gan", "vae", "vaes", "gans", "mnist", "elbo", "kl", "mse", "adam", "logit", "nats",
              "kingma", "welling", "radford", "dcgan", "cdcgan", "cvae", "mu", "sigma", "z", "x", "d", "g", "png", "id",
              "processing",  # (Gradio's own progress text while an event runs)
              "ode", "euler", "heun"}  # a flow's ODE and its solvers' names (Euler 法, Heun 法)


def english_words(text: str, kept: set[str]) -> list[str]:
    return sorted({word for word in re.findall(r"[A-Za-z][A-Za-z'’]+", text) if word.lower() not in kept})


@pytest.mark.parametrize("name", ["desktop-zh"])
def test_encode_and_gan_tabs_speak_chinese(browser, shipped_url, name):  # noqa: F811
    """(g) On ?lang=zh-CN, after using every part of Encode and GAN tools (encode a drawing with its numbers, the
    latent map, arithmetic, invert, ask D), the visible text of both tabs and of their plots holds no English word
    outside names, model folders and symbols (formulas hidden: their letters are maths)."""
    from playwright.sync_api import expect

    page, _, problems = open_page(browser, shipped_url, name, "encode")
    page.add_style_tag(content=".katex, .katex-display, .katex-mathml { display: none !important; }")
    kept = set(NAMES_KEPT)
    for option in page.evaluate("() => [...document.querySelectorAll('input')].map(i => i.value)"):
        kept |= {part.lower() for part in re.findall(r"[A-Za-z]+", option)}  # the chosen model's folder name
    draw_stroke(page, "#encode-sketch")
    draw_stroke(page, "#encode-sketch")
    page.locator("#encode-run").click()
    wait_until_shown(page, "#encode-prepared", "#encode-chart")
    page.locator("#encode-numbers .label-wrap").first.click()
    expect(page.locator("#encode-table [role=gridcell]").first).to_be_visible(timeout=TIMEOUT)
    texts = [page.locator("#tab-encode").inner_text()]
    page.locator("#tab-encode [role=tablist] button[role=tab]").nth(1).click()
    wait_until_shown(page, "#map-image")
    expect(page.locator("#map-note")).not_to_be_empty(timeout=TIMEOUT)
    texts.append(page.locator("#tab-encode").inner_text())
    if page.locator("#tab-encode [role=tablist] button[role=tab]").count() > 3:  # a flow ships: its round trip
        page.get_by_role("tab", name=message("encode.sub_ode", "zh-CN")).click()
        page.locator("#ode-run").click()
        expect(page.locator("#ode-note")).to_contain_text("往返误差", timeout=TIMEOUT)
        wait_until_shown(page, "#ode-path")
        texts.append(page.locator("#tab-encode").inner_text())
    page.get_by_role("tab", name=message("encode.sub_arithmetic", "zh-CN")).click()
    page.locator("#arith-run").click()
    wait_until_shown(page, "#arith-out-3")
    texts.append(page.locator("#tab-encode").inner_text())
    screenshot(page, f"journey-chinese-encode-{name}")

    page.locator("#tab-gan-button").click()
    page.locator("#gan-source label").first.click()  # a seed: the GAN's own sample
    page.locator("#gan-run").click()
    expect(page.locator("#gan-status strong")).to_be_visible(timeout=TIMEOUT)  # the final summary
    expect(page.locator("#gan-loss svg text").first).to_be_attached(timeout=TIMEOUT)
    texts.append(page.locator("#tab-gan").inner_text())
    texts += page.locator("#gan-loss svg text").all_text_contents()  # axis titles and ticks
    page.locator("#tab-gan [role=tablist] button[role=tab]").nth(1).click()
    page.locator("#gan-ask-run").click()
    expect(page.locator("#gan-verdict")).not_to_be_empty(timeout=TIMEOUT)
    texts.append(page.locator("#tab-gan").inner_text())
    screenshot(page, f"journey-chinese-gan-{name}")
    assert english_words("\n".join(texts), kept) == []
    assert problems == []
    page.context.close()


# The picture's drawn content (object-fit: contain inside its <img>), its block label and its buttons, page pixels.
PICTURE_BOXES = """selector => {
    const block = document.querySelector(selector), image = block.querySelector('img');
    const box = image.getBoundingClientRect();
    const scale = Math.min(box.width / image.naturalWidth, box.height / image.naturalHeight);
    const width = image.naturalWidth * scale, height = image.naturalHeight * scale;
    const content = {left: box.left + (box.width - width) / 2, top: box.top + (box.height - height) / 2,
                     right: box.left + (box.width + width) / 2, bottom: box.top + (box.height + height) / 2};
    const covers = [...block.querySelectorAll('[data-testid=block-label], .top-panel')]
        .filter(element => element.offsetParent !== null).map(element => element.getBoundingClientRect())
        .map(r => ({left: r.left, top: r.top, right: r.right, bottom: r.bottom}));
    return {content, covers, scale, natural: image.naturalWidth};
}"""


def covered(boxes: dict) -> list[dict]:
    """The label/button boxes that overlap the picture's drawn content by more than a pixel."""
    content = boxes["content"]
    return [cover for cover in boxes["covers"]
            if min(cover["right"], content["right"]) - max(cover["left"], content["left"]) > 1
            and min(cover["bottom"], content["bottom"]) - max(cover["top"], content["top"]) > 1]


@pytest.mark.parametrize("name", ["phone-en", "desktop-zh"])
def test_pictures_are_not_covered_by_labels_or_buttons(browser, shipped_url, name):  # noqa: F811
    """(h) Every picture Encode and GAN tools show (drawing prepared, reconstruction, μ/σ chart, map, inversion,
    D's view): Gradio's block label and download/fullscreen buttons sit beside it, none over what it draws."""
    page, _, problems = open_page(browser, shipped_url, name, "encode")
    draw_stroke(page, "#encode-sketch")
    draw_stroke(page, "#encode-sketch")
    page.locator("#encode-run").click()
    pictures = ["#encode-prepared", "#encode-reconstruction", "#encode-chart", "#encode-on-map"]
    wait_until_shown(page, *pictures)
    found = {selector: covered(page.evaluate(PICTURE_BOXES, selector)) for selector in pictures}
    screenshot(page, f"journey-pictures-encode-{name}")
    page.locator("#tab-gan-button").click()
    page.locator("#gan-source label").first.click()
    page.locator("#tab-gan [role=tablist] button[role=tab]").nth(1).click()
    page.locator("#gan-ask-run").click()
    wait_until_shown(page, "#gan-judged")
    found["#gan-judged"] = covered(page.evaluate(PICTURE_BOXES, "#gan-judged"))
    screenshot(page, f"journey-pictures-gan-{name}")
    assert {selector: boxes for selector, boxes in found.items() if boxes} == {}
    assert problems == []
    page.context.close()


def test_the_latent_map_fills_a_phone_and_the_code_chart_is_legible(browser, shipped_url):  # noqa: F811
    """(i) On a 390×844 phone: the latent map (and the map beside a drawing's code) spans ≥ 90 % of the screen's
    width, with Gradio's fullscreen button to zoom; the μ/σ chart is shown at (nearly) its own size, so its labels
    are not shrunk, and nothing is drawn over it."""
    from playwright.sync_api import expect

    page, _, problems = open_page(browser, shipped_url, "phone-en", "encode")
    draw_stroke(page, "#encode-sketch")
    draw_stroke(page, "#encode-sketch")
    page.locator("#encode-run").click()
    wait_until_shown(page, "#encode-chart", "#encode-on-map")
    width = page.viewport_size["width"]
    chart = page.evaluate(PICTURE_BOXES, "#encode-chart")
    assert chart["scale"] >= 0.9, chart  # not shrunk: 13 px labels stay ≥ 11.7 px
    assert covered(chart) == []
    on_map = page.evaluate(PICTURE_BOXES, "#encode-on-map")["content"]
    assert on_map["right"] - on_map["left"] >= 0.9 * width, on_map
    page.locator("#tab-encode [role=tablist] button[role=tab]").nth(1).click()
    wait_until_shown(page, "#map-image")
    latent_map = page.evaluate(PICTURE_BOXES, "#map-image")
    assert latent_map["content"]["right"] - latent_map["content"]["left"] >= 0.9 * width, latent_map
    assert covered(latent_map) == []
    expect(page.locator("#map-image button[aria-label=Fullscreen]")).to_be_visible()
    page.locator("#map-image").scroll_into_view_if_needed()
    screenshot(page, "journey-phone-map")
    assert problems == []
    page.context.close()


@pytest.mark.parametrize("name", ["desktop-en", "phone-zh"])
def test_a_shared_address_reopens_encode_and_gan_tools(browser, shipped_url, name):  # noqa: F811
    """(j) ?view=gan&model=…&seed=…&steps=… opens GAN tools with that GAN, the seed as the target and the steps;
    ?view=encode&model=… opens Encode with that VAE (genimg.ui.views; the share panel reads the address)."""
    from playwright.sync_api import expect

    viewport, locale = ALL_VIEWS[name]
    context = browser.new_context(viewport=viewport, locale=locale)
    page = context.new_page()
    language = "&lang=zh-CN" if locale == "zh-CN" else ""
    page.goto(f"{shipped_url}?view=gan&model=mnist-dcgan&seed=5&steps=300{language}")
    expect(page.locator("#tab-gan")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#gan-seed input")).to_have_value("5", timeout=TIMEOUT)
    expect(page.locator("#gan-steps input[type=number]")).to_have_value("300", timeout=TIMEOUT)
    expect(page.locator("#gan-source input").first).to_be_checked(timeout=TIMEOUT)  # "a seed"
    expect(page.locator("#gan-model input")).to_have_value(re.compile("mnist-dcgan"))
    screenshot(page, f"journey-shared-gan-{name}")
    page.goto(f"{shipped_url}?view=encode&model=mnist-cvae{language}")
    expect(page.locator("#tab-encode")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#encode-model input")).to_have_value(re.compile("mnist-cvae"), timeout=TIMEOUT)
    expect(page.locator("#encode-class")).to_be_visible(timeout=TIMEOUT)  # the conditional VAE's class picker
    context.close()
