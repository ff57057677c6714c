"""Browser journeys for Share per tab (issue 12, finding 9), on the shipped checkpoints: every tab that declares a
view (genimg.ui.views; today Samples, Latent space and Interpolate, and any tab that adds one) writes it into the
address while it is open, and that address opened in a fresh browser selects the same tab with the same settings
and the same picture. Written over the page's declared views, so a tab that declares one is covered without a
change here. Screenshots go to $GENIMG_SCREENSHOTS when it is set.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import gradio as gr
import pytest

from genimg.explore.catalog import discover
from genimg.ui.views import RESTORED_FLAG
from tests.ui.test_browser import MISSING, browser, screenshot  # noqa: F401

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

DESKTOP = {"width": 1366, "height": 900}
TIMEOUT = 60_000  # ms for anything the server computes (generous: the machine is shared)
# A hash of an image's pixels as the browser decoded them (the first frame of a GIF): equal pictures, equal hashes.
FINGERPRINT = """(selector) => {
  const image = document.querySelector(selector + " img");
  if (!image || !image.complete || !image.naturalWidth) return null;
  const canvas = document.createElement("canvas");
  canvas.width = image.naturalWidth; canvas.height = image.naturalHeight;
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let hash = 0;
  for (let index = 0; index < data.length; index += 1) hash = (hash * 31 + data[index]) >>> 0;
  return canvas.width + "x" + canvas.height + ":" + hash;
}"""


@pytest.fixture(scope="module")
def shipped():
    """(url, the page's ShareHandlers) for the page as it ships (app.build_demo())."""
    import app

    if not any(entry.name == "mnist-dcgan" for entry in discover(*app.model_folders())):
        pytest.skip("the shipped checkpoints are not in this checkout")
    demo = app.build_demo()
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url, demo.share_handlers
    demo.close()


def shared_views(handlers) -> list[str]:
    return [tab for tab, view in handlers.views.items() if view.keys]


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def until(page, condition, timeout_ms: int = TIMEOUT) -> None:
    """Wait until `condition()` is true or `timeout_ms` passed; the assertions after it say what is missing."""
    for _ in range(timeout_ms // 200):
        if condition():
            return
        page.wait_for_timeout(200)


def settle(page, trigger: str | None, timeout_ms: int = TIMEOUT) -> None:
    """Wait until the picture under `trigger` stops changing (4 equal readings, 0.5 s apart)."""
    if trigger is None:
        return
    readings: list = []
    for _ in range(timeout_ms // 500):
        readings = [*readings[-3:], page.evaluate(FINGERPRINT, trigger)]
        if len(readings) == 4 and readings[0] is not None and len(set(readings)) == 1:
            return
        page.wait_for_timeout(500)


def open_page(browser, url: str, locale: str):  # noqa: F811 - test_browser's fixture
    """A fresh browser (no storage) at `url`, once the page has restored the view its address names."""
    context = browser.new_context(viewport=DESKTOP, locale=locale)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_function(f"() => window.{RESTORED_FLAG} === true", timeout=TIMEOUT)
    return context, page, errors


def selected_tab(page) -> str | None:
    selected = page.locator("#tabs [role=tab][aria-selected=true]")
    if not selected.count():
        return None
    return (selected.first.get_attribute("id") or "").removeprefix("tab-").removesuffix("-button") or None


def number_input(component) -> str | None:
    """The browser selector of a Number or Slider's typed value, or None for other components."""
    if not component.elem_id:
        return None
    if isinstance(component, gr.Slider):
        return f"#{component.elem_id} input[type=number]"
    if isinstance(component, gr.Number):
        return f"#{component.elem_id} input"
    return None


def change_a_setting(page, view) -> dict[str, str]:
    """Move the view away from its default: a new value in its first number box (Enter sends it), and its first
    slider of a list of numbers nudged. → the address keys that must change, with their expected text ('' for a
    list of numbers: its first item must be the slider's value once the page has caught up)."""
    expected: dict[str, str] = {}
    for key in view.keys:
        if key.kind == "text" and isinstance(key.components, gr.Number) and number_input(key.components):
            box = page.locator(number_input(key.components))
            new = str(int(float(box.input_value() or 0)) + 7)
            box.fill(new)
            box.press("Enter")
            expected[key.name] = new
            break
    for key in view.keys:
        if key.kind == "numbers":
            component = next((item for item in key.inputs if item.elem_id), None)
            if component is not None:
                slider = page.locator(f"#{component.elem_id} input[type=range]")
                slider.focus()
                for _ in range(10):
                    page.keyboard.press("ArrowRight")
                expected[key.name] = f"#{component.elem_id} input[type=number]"
            break
    return expected


def caught_up(page, expected: dict[str, str], before: dict[str, str]) -> bool:
    """Whether the address holds the changed settings: typed values as typed, a slider list led by the slider's
    shown value (the address follows the picture, which follows the last slider step)."""
    now = query(page.url)
    for name, text in expected.items():
        if text.startswith("#"):
            shown = page.locator(text).input_value()
            first = (now.get(name) or "").split(",")[0]
            if now.get(name) == before.get(name) or not first or not shown or abs(float(first) - float(shown)) > 0.005:
                return False
        elif now.get(name) != text:
            return False
    return True


# Every shared tab in English takes about two minutes (two page loads per tab): it runs with the slow checks; the
# default run reopens one tab's address in Chinese.
@pytest.mark.parametrize("language", [pytest.param("en", marks=pytest.mark.slow), "zh-CN"])
def test_each_tabs_address_reopens_that_tabs_view(browser, shipped, language):  # noqa: F811
    url, handlers = shipped
    tabs = shared_views(handlers)
    assert {"samples", "latent", "interpolate"} <= set(tabs), tabs
    if language == "zh-CN":
        tabs = tabs[:1]  # the Chinese page: one tab is enough to show the address keeps the language
    locale = "zh-CN" if language == "zh-CN" else "en-US"
    problems: list[str] = []
    for tab in tabs:
        view = handlers.views[tab]
        context, page, errors = open_page(browser, url + ("?lang=zh-CN" if language == "zh-CN" else ""), locale)
        page.locator(f"#tab-{tab}-button").click()
        until(page, lambda page=page, tab=tab: query(page.url).get("view") == tab)
        before = query(page.url)
        expected = change_a_setting(page, view)
        until(page, lambda page=page, expected=expected, before=before: caught_up(page, expected, before))
        # a single trigger is the tab's picture, compared below; a tab whose settings each rewrite the address
        # (a tuple of triggers) draws nothing until asked
        single = None if isinstance(view.trigger, (list, tuple)) else view.trigger
        trigger = f"#{single.elem_id}" if single is not None and single.elem_id else None
        until(page, lambda page=page, trigger=trigger: trigger is None
              or page.evaluate(FINGERPRINT, trigger) is not None)
        # A picture still on its way (the address follows the controls, the picture their last render) must land
        # first: the picture has to stay the same over 4 readings half a second apart.
        settle(page, trigger)
        # the address and the picture read in one go, so neither can move in between
        shared, picture = page.evaluate(f"(selector) => [location.href, selector && ({FINGERPRINT})(selector)]",
                                        trigger)
        if not caught_up(page, expected, before):
            problems.append(f"{tab}: the address did not follow the changed setting: {shared}")
        if query(shared).get("lang", "en") != language and language != "en":
            problems.append(f"{tab}: the address lost the page's language: {shared}")
        screenshot(page, f"share-{tab}-{language}-before")
        context.close()

        context, page, errors = open_page(browser, shared, locale)
        until(page, lambda page=page, tab=tab: selected_tab(page) == tab)
        if selected_tab(page) != tab:
            problems.append(f"{tab}: the link opened the tab {selected_tab(page)!r}")
        # The page writes the open tab's view into its address once it is restored: the same settings, the same text.
        until(page, lambda page=page, shared=shared: query(page.url) == query(shared))
        if query(page.url) != query(shared):
            problems.append(f"{tab}: the reopened page holds {query(page.url)}, not {query(shared)}")
        for key in view.keys:
            selector = number_input(key.components) if key.kind == "text" else None
            if selector and key.name in query(shared):
                shown = page.locator(selector).input_value()
                if float(shown) != float(query(shared)[key.name]):
                    problems.append(f"{tab}: {key.name} shows {shown}, the link says {query(shared)[key.name]}")
        if picture is not None:
            until(page, lambda page=page, trigger=trigger, picture=picture:
                  page.evaluate(FINGERPRINT, trigger) == picture)
            if page.evaluate(FINGERPRINT, trigger) != picture:
                problems.append(f"{tab}: the reopened picture differs from the shared one")
        visible_errors = page.locator(".toast-body").filter(visible=True)
        if visible_errors.count():
            problems.append(f"{tab}: an error shows: {visible_errors.first.inner_text()!r}")
        problems.extend(f"{tab}: page error {error}" for error in errors)
        screenshot(page, f"share-{tab}-{language}-reopened")
        context.close()
    assert not problems, "; ".join(problems)


@pytest.mark.parametrize("address", [
    "?view=samples&model=mnist-cdcgan&seed=-3", "?view=samples&seed=" + "1" * 401,
    "?view=latent&model=nowhere&seed=1", "?view=interpolate&model=mnist-dcgan&mode=classes",
])
def test_an_unusable_address_opens_its_tab_without_an_error(browser, shipped, address):  # noqa: F811
    url, _ = shipped
    context, page, errors = open_page(browser, url + address, "en-US")
    tab = query(address)["view"]
    until(page, lambda: selected_tab(page) == tab)
    assert selected_tab(page) == tab
    assert not page.locator(".toast-body").filter(visible=True).count() and not errors
    context.close()


def test_a_lesson_bundle_reopens_the_tab_it_was_made_on(browser, shipped, tmp_path):  # noqa: F811
    """Export a lesson on Samples (Chinese page), load it in a fresh browser that is on Latent space: the Samples
    tab opens with the lesson's seed, its address follows, and the status line says what was restored."""
    url, _ = shipped
    context, page, errors = open_page(browser, url + "?lang=zh-CN", "zh-CN")
    box = page.locator("#samples-seed input")
    box.fill("11")
    box.press("Enter")
    until(page, lambda: query(page.url).get("seed") == "11")
    page.locator("#share .label-wrap").first.click()
    page.locator("#share-export").click()
    link = page.locator("#share-bundle a[href]").first
    link.wait_for(timeout=TIMEOUT)
    bundle = tmp_path / "lesson.zip"
    bundle.write_bytes(page.request.get(link.get_attribute("href")).body())
    exported = page.locator("#share-status").inner_text()
    context.close()
    assert "样本" in exported, exported

    context, page, errors = open_page(browser, url + "?lang=zh-CN", "zh-CN")
    page.locator("#tab-latent-button").click()
    until(page, lambda: selected_tab(page) == "latent")
    page.locator("#share .label-wrap").first.click()
    page.locator("#share-load input[type=file]").set_input_files(str(bundle))
    until(page, lambda: selected_tab(page) == "samples" and page.locator("#samples-seed input").input_value() == "11")
    until(page, lambda: query(page.url).get("view") == "samples" and query(page.url).get("seed") == "11")
    status = page.locator("#share-status").inner_text()
    screenshot(page, "share-lesson-loaded-zh")
    problems = []
    if selected_tab(page) != "samples":
        problems.append(f"the lesson opened {selected_tab(page)!r}")
    if page.locator("#samples-seed input").input_value() != "11":
        problems.append(f"the seed reads {page.locator('#samples-seed input').input_value()}")
    if query(page.url).get("seed") != "11":
        problems.append(f"the address did not follow: {page.url}")
    if "已载入" not in status:
        problems.append(f"the status line is not the Chinese 'loaded' sentence: {status!r}")
    problems.extend(f"page error {error}" for error in errors)
    context.close()
    assert not problems, "; ".join(problems)


def test_a_tab_clicked_while_the_page_opens_stays_open_and_gets_the_address(browser, shipped):  # noqa: F811
    """The page restores an address's view when it opens; a tab picked before that finished must not be switched
    back (an early address written by the Samples grid once made the page select Samples again)."""
    url, _ = shipped
    context = browser.new_context(viewport=DESKTOP, locale="en-US")
    page = context.new_page()
    page.goto(url)
    page.locator("#tab-learn-button").click()
    page.wait_for_function(f"() => window.{RESTORED_FLAG} === true", timeout=TIMEOUT)
    until(page, lambda: query(page.url).get("view") == "learn")
    tab, address = selected_tab(page), page.url
    context.close()
    assert tab == "learn" and query(address) == {"view": "learn"}, (tab, address)
