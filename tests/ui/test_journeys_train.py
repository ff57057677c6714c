"""A real browser on the Train tab (issue 12, finding 10): "2.5" steps is refused in the visitor's language (it used
to be rounded to 2 and a run started), with no "Error" from Gradio; a second run does not show the first run's replay.

Uses tests/ui/test_browser.py's browser, tiny-network Train page and helpers (and is skipped where it is).
Screenshots of the Train tab (desktop 1366×900 and phone 390×844, English and Chinese) go to $GENIMG_SCREENSHOTS.
"""

from __future__ import annotations

import math
import re
import warnings
from pathlib import Path

import pytest

from genimg.ui.i18n import message
from genimg.ui.train_tab import TOKEN_STORAGE_KEY
from tests.ui.test_browser import browser, press_stop, pytestmark, screenshot, train_page_url  # noqa: F401  (fixtures, skip mark)
from tests.ui.test_journeys_explore import (
    VIEW_RESTORED,
    errors_on_page,
    wait_until_shown,
)
from tests.ui.test_journeys_language import HAN, english_words

expect = pytest.importorskip("playwright.sync_api").expect

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 60_000
TOKEN_STORED = f"() => !!window.localStorage.getItem({TOKEN_STORAGE_KEY!r})"


def train_page(browser, url: str, locale: str):  # noqa: F811 - `browser` is test_browser's fixture
    """The Train tab open in a new page, its Settings unfolded, once the page has restored its view (its load events
    ran: a late one could switch tabs or reach the page after a field was typed in)."""
    page = browser.new_page(locale=locale, viewport=DESKTOP)
    page.goto(url)
    page.wait_for_function(VIEW_RESTORED, timeout=TIMEOUT)
    # The Train tab's own load event has run in every language: it stores the workspace token in the browser (a
    # new page's storage starts empty) and writes the device line in the visitor's language.
    page.wait_for_function(TOKEN_STORED, timeout=TIMEOUT)
    language = "zh-CN" if locale.startswith("zh") else "en"
    open_tab(page, message("train.tab", language))
    if language == "zh-CN":
        expect(page.locator("#train-device")).to_contain_text("训练在", timeout=TIMEOUT)
    page.locator("#tab-train").get_by_text(message("train.advanced", language), exact=True).first.click()
    expect(page.locator("#train-steps input")).to_be_visible(timeout=TIMEOUT)
    return page


def set_number(page, elem_id: str, value: str) -> None:
    """Type a number as a visitor does (the page sends it when the field loses focus) and check the field holds it.
    Once in CI (Playwright's Chromium 156, a fresh server on a busy machine) the first typing was not kept: the field
    showed its default for the next 5 s, which could not be reproduced here with the page's load events slowed or
    with the field watched for replacement. Typed again then, with a warning, so such a run says so."""
    field = page.locator(f"#{elem_id} input")
    for attempt in range(2):
        field.fill(value)
        field.press("Tab")
        try:
            expect(field).to_have_value(value)  # held after the field lost focus
            return
        except AssertionError:
            if attempt:
                raise
            warnings.warn(f"#{elem_id} did not keep {value!r} the first time; typed again", stacklevel=2)


@pytest.mark.parametrize("locale, words", [("en-US", "Steps must be a whole number"), ("zh-CN", "步数必须是")])
def test_a_fraction_of_a_step_is_refused_in_the_visitors_language(browser, train_page_url, locale, words):  # noqa: F811
    page = train_page(browser, train_page_url, locale)
    set_number(page, "train-steps", "2.5")
    expect(page.locator("#train-steps input")).to_have_value("2.5")  # nothing reset it before Start
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


# The largest step on a plot's x axis as drawn (its tick labels, "1,000" read as 1000); -1 without one.
LARGEST_STEP_DRAWN = """(id) => Math.max(-1, ...[...document.querySelectorAll(`#${id} g.role-axis`)]
    .filter((axis) => axis.getAttribute('aria-label')?.startsWith('X'))
    .flatMap((axis) => [...axis.querySelectorAll('g.role-axis-label text')])
    .map((text) => parseFloat(text.textContent.replace(/[,\u202f ]/g, ''))).filter((value) => !isNaN(value)))"""


def test_a_second_run_does_not_show_the_first_runs_replay(browser, train_page_url):  # noqa: F811
    """Also the curves: a second run's first update (before its second report) used to send the plots None, and
    Gradio 6.31's LinePlot, having drawn, threw "Cannot read properties of null (reading 'offsetWidth')" in the
    page. Now they are left as they are until the second run has curves, which then draw with their legend (an
    empty frame instead was measured to leave the plot with axes only, no lines or legend, for good)."""
    page = train_page(browser, train_page_url, "en-US")
    thrown: list[str] = []
    page.on("pageerror", lambda error: thrown.append(str(error)))
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="Shapes (built in, no download)").click()
    set_number(page, "train-steps", "30")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=TIMEOUT)
    expect(page.locator("#train-replay-image img").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#train-replay-caption")).to_contain_text("Step 30,")
    expect(page.locator("#train-losses g.role-legend-label text").first).to_be_attached(timeout=TIMEOUT)  # drew
    assert 0 < page.evaluate(LARGEST_STEP_DRAWN, "train-losses") <= 30
    screenshot(page, "train-first-run")

    set_number(page, "train-steps", "5000")  # the second run goes on while the replay is checked
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Training", timeout=TIMEOUT)
    expect(page.locator("#train-replay-image img")).to_have_count(0)
    expect(page.locator("#train-replay-caption")).not_to_contain_text("Step")
    expect(page.locator("#train-replay input[type=number]")).to_have_value("0")
    # The second run's curves are drawn: steps beyond the first run's 30 on the axis, and the legend of its lines.
    page.wait_for_function(f"() => ({LARGEST_STEP_DRAWN})('train-losses') > 60 && "
                           "document.querySelectorAll('#train-losses g.role-legend-label text').length === 4",
                           timeout=TIMEOUT)
    screenshot(page, "train-second-run")
    assert errors_on_page(page) == []
    assert thrown == []
    press_stop(page)
    expect(page.locator("#train-status")).to_contain_text("stopped by the user", timeout=TIMEOUT)
    page.close()


# ------------------------------------------------------------------------------------------- all of it in Chinese
# Words that stay as they are on a Chinese page: the product, model families and datasets, units, devices, the
# letters of formulas and the models' own names (the tiny test models are named after their kinds).
NAMES = {"genimg", "gan", "vae", "dcgan", "mnist", "fashion", "cifar", "shapes", "zip", "cpu", "gpu", "cuda", "mps",
         "apple", "mb", "min", "s", "ema", "kl", "elbo", "nats", "fp32", "bf16", "tf32", "fp16", "d", "g", "x", "z",
         "seed", "png", "safetensors", "json", "readme", "md", "log", "mu", "sigma", "bfloat", "float"}


def visible_words(page, selector: str) -> str:
    """The text a visitor reads in `selector`: its innerText, the placeholders of visible fields, and the text drawn
    in its plots (axis titles, ticks, legends). Not aria-labels: Gradio and Vega write their own there for screen
    readers in English (Gradio 6.31 has no Chinese for its "Fullscreen" button, Vega describes each axis)."""
    panel = page.locator(selector)
    texts = [panel.inner_text()]
    texts.append(panel.evaluate(
        "(root) => [...root.querySelectorAll('[placeholder]')].filter((element) => element.offsetParent !== null)"
        ".map((element) => element.getAttribute('placeholder')).join('\\n')"))
    texts.append(panel.evaluate("(root) => [...root.querySelectorAll('svg text')].map((t) => t.textContent)"
                                ".join('\\n')"))
    return "\n".join(texts)


def open_accordions(page, selector: str) -> None:
    """Open every visible closed accordion under `selector` (opening one can reveal another inside it)."""
    for _ in range(20):
        closed = page.locator(f"{selector} button.label-wrap:not(.open)")
        visible = next((closed.nth(index) for index in range(closed.count()) if closed.nth(index).is_visible()), None)
        if visible is None:
            return
        visible.click()
        page.wait_for_timeout(200)


def open_tab(page, name: str) -> None:
    """Select a tab by its name, again if the page was still settling and the first click was lost."""
    expect(page.locator("#samples-grid img").first).to_be_visible(timeout=TIMEOUT)  # the page's load events ran
    tab = page.get_by_role("tab", name=name, exact=True)
    for _ in range(8):  # selected, and still selected a moment later (a late load event can select another tab)
        if tab.get_attribute("aria-selected") != "true":
            tab.click()
        page.wait_for_timeout(1_500)
        if tab.get_attribute("aria-selected") == "true" and page.locator("#tab-train").is_visible():
            page.wait_for_timeout(1_500)
            if tab.get_attribute("aria-selected") == "true":
                return
    expect(tab).to_have_attribute("aria-selected", "true")


def choose(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option).click()


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_tiny_run_reads_in_chinese_from_start_to_end(browser, train_page_url, viewport):  # noqa: F811
    """?lang=zh-CN, the Train tab with every section open, a tiny run to its end: the device line, statuses, the
    progress line, curve names and axis titles, the replay caption, dataset and model names, the alarms: no
    English word outside names and units."""
    page = browser.new_page(locale="zh-CN", viewport=DESKTOP if viewport == "desktop" else PHONE)
    page.goto(train_page_url + "?lang=zh-CN")
    open_tab(page, message("train.tab", "zh-CN"))
    open_accordions(page, "#tab-train")
    expect(page.locator("#train-steps input")).to_be_visible(timeout=TIMEOUT)
    choose(page, "train-dataset", message("train.data.shapes", "zh-CN"))
    set_number(page, "train-steps", "40")
    page.locator("#train-start").click()
    expect(page.locator("#train-progress")).to_contain_text("步", timeout=TIMEOUT)
    mid_run = visible_words(page, "#tab-train")
    expect(page.locator("#train-status")).to_contain_text(message("train.msg.finished", "zh-CN"), timeout=TIMEOUT)
    expect(page.locator("#train-replay-caption")).to_contain_text("40", timeout=TIMEOUT)
    expect(page.locator("#train-losses svg text").first).to_be_attached(timeout=TIMEOUT)
    screenshot(page, f"train-zh-{viewport}")
    text = mid_run + "\n" + visible_words(page, "#tab-train")
    assert HAN.search(page.locator("#train-device").inner_text())  # the device line is filled in
    names = {part.lower() for part in re.findall(r"[A-Za-z0-9]+", train_page_url)}  # host names in links
    found = sorted(set(english_words(text, names | NAMES)))  # the whole page's scan, plus this tab's words
    assert found == [], "\n".join(found[:60])
    assert errors_on_page(page) == []
    page.close()


# ------------------------------------------------------------------------------------------------------ curves
def curve_count(page, elem_id: str) -> int:
    """How many lines the plot draws (Vega draws each series as one path in a line-mark group)."""
    return page.locator(f"#{elem_id} g.mark-line path").count()


def svg_texts(page, selector: str) -> list[str]:
    """The text of SVG elements (innerText does not apply to them)."""
    return page.locator(selector).evaluate_all("(elements) => elements.map((element) => element.textContent)")


def y_axis_labels(page, elem_id: str) -> list[float]:
    """The numbers on a plot's y axis, as drawn."""
    texts = page.locator(f"#{elem_id} g.role-axis[aria-label^=Y] g.role-axis-label text").evaluate_all(
        "(elements) => elements.map((element) => element.textContent)")
    return [float(text.replace("\u2212", "-").replace(",", "")) for text in texts]


def axis_titles(page, elem_id: str) -> str:
    return " ".join(svg_texts(page, f"#{elem_id} g.role-axis-title text"))


def test_curves_are_smoothed_over_their_faint_raw_lines_and_the_loss_axis_can_be_logarithmic(browser, train_page_url):  # noqa: F811
    page = train_page(browser, train_page_url, "en-US")
    choose(page, "train-dataset", "Shapes (built in, no download)")
    set_number(page, "train-steps", "60")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=TIMEOUT)
    expect(page.locator("#train-losses g.mark-line path")).to_have_count(4, timeout=TIMEOUT)  # 2 smoothed + 2 raw
    legend = svg_texts(page, "#train-losses g.role-legend-label text")
    assert sorted(legend) == ["discriminator loss", "discriminator loss · raw", "generator loss", "generator loss · raw"]
    assert "loss" in axis_titles(page, "train-losses").split()
    screenshot(page, "train-curves-smoothed")

    linear = y_axis_labels(page, "train-losses")
    page.locator("#train-log input").check()
    expect(page.locator("#train-losses")).to_contain_text("log₁₀ scale", timeout=TIMEOUT)  # its label says so
    # and the curves are redrawn as log₁₀ of the losses: the axis tops out near log₁₀ of the linear axis's top
    # (one tick of slack). Not a fixed range: the classroom preset's hinge losses can come near 0, whose log₁₀
    # is far below −1, and non-positive ones are left out.
    ceiling = math.log10(max(linear)) + 1
    page.wait_for_function("""([ceiling, linear]) => {
        const labels = [...document.querySelectorAll('#train-losses g.role-axis-label text')]
            .filter((text) => text.closest('.role-axis').getAttribute('aria-label')?.startsWith('Y'))
            .map((text) => parseFloat(text.textContent.replace('\u2212', '-')));
        return labels.length > 1 && Math.max(...labels) <= ceiling && labels.join() !== linear.join();
    }""", arg=[ceiling, linear], timeout=TIMEOUT)
    page.locator("#train-smoothing input[type=range]").focus()
    page.keyboard.press("Home")  # smoothing 0
    expect(page.locator("#train-smoothing input[type=number]")).to_have_value("0")
    expect(page.locator("#train-losses g.mark-line path")).to_have_count(2, timeout=TIMEOUT)  # raw curves only
    assert curve_count(page, "train-aux") == 2
    screenshot(page, "train-curves-log-raw")
    assert errors_on_page(page) == []
    page.close()


# ------------------------------------------------------------------------- the grid, download, open in Latent space
def picture_box(page, selector: str) -> dict:
    """Where the picture itself is drawn inside an <img> (object-fit: contain leaves bands around it)."""
    return page.locator(f"{selector} img").first.evaluate("""(image) => {
        const box = image.getBoundingClientRect();
        const scale = Math.min(box.width / image.naturalWidth, box.height / image.naturalHeight);
        const width = image.naturalWidth * scale, height = image.naturalHeight * scale;
        return {x: box.x + (box.width - width) / 2, y: box.y + (box.height - height) / 2, width, height};
    }""")


def overlapping(first: dict, second: dict) -> bool:
    return (first["x"] < second["x"] + second["width"] and second["x"] < first["x"] + first["width"]
            and first["y"] < second["y"] + second["height"] and second["y"] < first["y"] + first["height"])


def covering(page, selector: str) -> list[str]:
    """What of Gradio's chrome (its block label, its corner buttons) lies over the picture in `selector`."""
    picture = picture_box(page, selector)
    found = []
    for part in ("label[data-testid=block-label]", ".icon-button-wrapper", "button[aria-label]", "a[download]"):
        for index in range(page.locator(f"{selector} {part}").count()):
            element = page.locator(f"{selector} {part}").nth(index)
            box = element.bounding_box() if element.is_visible() else None
            if box and overlapping(picture, box):
                found.append(f"{part} {element.get_attribute('aria-label') or element.inner_text()!r} at {box}")
    return found


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_the_grids_buttons_and_labels_cover_no_sample_and_grid_and_curves_offer_fullscreen(browser, train_page_url,  # noqa: F811
                                                                                    viewport):
    page = train_page(browser, train_page_url, "en-US")
    page.set_viewport_size(DESKTOP if viewport == "desktop" else PHONE)
    choose(page, "train-dataset", "Shapes (built in, no download)")
    set_number(page, "train-steps", "20")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=TIMEOUT)
    wait_until_shown(page, "#train-samples", "#train-replay-image")
    for selector in ("#train-samples", "#train-replay-image"):
        page.locator(selector).scroll_into_view_if_needed()
        page.locator(selector).hover()  # Gradio shows its buttons on hover
        assert covering(page, selector) == [], selector
    screenshot(page, f"train-grid-{viewport}")
    # Presenter view: the grid and both plots offer Gradio's fullscreen button (whether headless Chromium then
    # grants the browser's fullscreen is up to it: not judged here)
    for selector in ("#train-samples", "#train-losses", "#train-aux"):
        page.locator(selector).hover()
        expect(page.locator(f"{selector} button[aria-label=Fullscreen]").first).to_be_visible(timeout=TIMEOUT)
    page.close()


def test_a_saved_model_downloads_as_a_zip_and_opens_in_latent_space(browser, train_page_url, tmp_path):  # noqa: F811
    import zipfile

    from genimg.models.loading import load_model

    page = train_page(browser, train_page_url, "en-US")
    choose(page, "train-dataset", "Shapes (built in, no download)")
    set_number(page, "train-steps", "30")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=TIMEOUT)
    page.locator("#train-save-name textarea, #train-save-name input").first.fill("zip demo")
    page.locator("#train-save").click()
    expect(page.locator("#train-save-status")).to_contain_text("Saved", timeout=TIMEOUT)
    open_accordions(page, "#tab-train")
    expect(page.locator("#train-yours input")).to_have_value("zip demo", timeout=TIMEOUT)

    page.locator("#train-download").click()
    link = page.locator("#train-download-file a").first
    expect(link).to_be_visible(timeout=TIMEOUT)
    with page.expect_download(timeout=TIMEOUT) as download:
        link.click()
    saved = tmp_path / "model.zip"
    download.value.save_as(saved)
    with zipfile.ZipFile(saved) as archive:
        assert {Path(name).name for name in archive.namelist()} >= {"config.json", "README.md"}
        assert any(name.endswith(".safetensors") for name in archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    load_model(tmp_path / "unpacked" / "zip-demo")  # genimg loads what the visitor downloaded
    screenshot(page, "train-download")

    before = page.locator("#latent-image img").first.get_attribute("src") if page.locator(
        "#latent-image img").count() else None
    page.locator("#train-open-latent").click()
    expect(page.get_by_role("tab", name="Latent space", exact=True)).to_have_attribute("aria-selected", "true",
                                                                                        timeout=TIMEOUT)
    expect(page.locator("#tab-latent")).to_be_visible()
    expect(page.locator("#latent-model input")).to_have_value(re.compile("zip demo"), timeout=TIMEOUT)
    image = page.locator("#latent-image img").first
    expect(image).to_be_visible(timeout=TIMEOUT)
    if before is not None:
        expect(image).not_to_have_attribute("src", before, timeout=TIMEOUT)  # drawn by the saved model
    wait_until_shown(page, "#latent-image")
    screenshot(page, "train-open-latent")
    assert errors_on_page(page) == []
    page.close()


# ------------------------------------------------------------------------------------------------ more settings
def test_more_settings_show_where_they_apply_and_refuse_absurd_values(browser, train_page_url):  # noqa: F811
    page = train_page(browser, train_page_url, "en-US")
    page.locator("#train-more").get_by_text("More settings", exact=True).click()
    expect(page.locator("#train-width input")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#train-spectral")).to_be_visible()  # DCGAN: spectral norm, no KL warm-up
    expect(page.locator("#train-kl-warmup")).to_be_hidden()
    page.locator("#train-model input").click()
    page.get_by_role("option", name="VAE", exact=True).click()
    expect(page.locator("#train-kl-warmup")).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#train-spectral")).to_be_hidden()
    set_number(page, "train-width", "-8")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Width (feature maps of the first layer; 0 = the recipe's) = -8"
                                                          " is not accepted", timeout=TIMEOUT)
    assert errors_on_page(page) == []
    expect(page.locator("#train-start")).to_be_enabled()
    screenshot(page, "train-more-settings")
    page.close()


@pytest.mark.parametrize("locale", ["en-US", "zh-CN"])
def test_a_flow_trains_in_the_page_and_opens_in_samples_with_its_ode_controls(browser, train_page_url, locale):  # noqa: F811
    """The conditional flow preset: only the settings a flow reads show, its curves are the flow-matching loss and the
    loss on each third of the path (in the visitor's language), and the saved model draws in the Samples tab."""
    language = "zh-CN" if locale.startswith("zh") else "en"
    page = train_page(browser, train_page_url, locale)
    choose(page, "train-model", message("train.preset.cflow", language) if language == "en" else "条件流匹配")
    expect(page.locator("#train-latent")).to_be_hidden(timeout=TIMEOUT)  # a flow's latent is its noise image
    expect(page.locator("#train-loss")).to_be_hidden()
    expect(page.locator("#train-lr-d")).to_be_hidden()
    choose(page, "train-dataset", message("train.data.shapes", language))
    set_number(page, "train-steps", "30")
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("训练完成" if language == "zh-CN" else "Run finished",  # ended
                                                          timeout=TIMEOUT)
    expect(page.locator("#train-losses g.mark-line path")).to_have_count(2, timeout=TIMEOUT)  # smoothed + raw
    expect(page.locator("#train-aux g.mark-line path")).to_have_count(6, timeout=TIMEOUT)  # three thirds, twice
    legend = " ".join(svg_texts(page, "#train-aux g.role-legend-label text"))
    assert ("靠近噪声处的损失" if language == "zh-CN" else "loss near the noise") in legend, legend
    expect(page.locator("#train-aux")).to_contain_text(message("train.aux_flow", language))  # not "D(x) / KL"
    screenshot(page, f"train-flow-{language}")
    page.locator("#train-save-name textarea, #train-save-name input").first.fill(f"flow demo {language}")
    page.locator("#train-save").click()
    expect(page.locator("#train-save-status")).to_contain_text("已保存" if language == "zh-CN" else "Saved",
                                                               timeout=TIMEOUT)
    page.get_by_role("tab", name=message("samples.tab", language), exact=True).click()
    page.locator("#samples-model input").click()
    page.get_by_role("option", name=re.compile(f"flow demo {language}")).first.click()
    expect(page.locator("#samples-flow").first).to_be_visible(timeout=TIMEOUT)
    wait_until_shown(page, "#samples-grid")
    assert errors_on_page(page) == []
    page.close()
