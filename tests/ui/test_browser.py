"""A real browser (headless Chromium via Playwright): move a slider, draw a digit, interpolate, read Chinese.

Needs Debian's chromium (`apt-get install chromium`) and Playwright's Python package
(`pip install -r tests/requirements.txt`); skipped, saying which is missing, where they are not installed.
Screenshots go to $GENIMG_SCREENSHOTS when it is set.
"""

import os
import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # pragma: no cover - depends on the machine
    sync_playwright = None

MISSING = ("Playwright is not installed (pip install -r tests/requirements.txt)" if sync_playwright is None else
           "Debian's chromium is not installed (apt-get install chromium)" if not Path(CHROMIUM).exists() else None)
if MISSING and os.environ.get("GENIMG_REQUIRE_BROWSER"):
    raise RuntimeError(f"GENIMG_REQUIRE_BROWSER is set but {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def page_url(tiny_models):
    import app

    demo = app.build_demo([str(next(iter(tiny_models.values())).parent)])
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
        yield browser
        browser.close()


def screenshot(page, name: str) -> None:
    folder = os.environ.get("GENIMG_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def image_source(page, selector: str) -> str:
    locator = page.locator(f"{selector} img").first
    expect(locator).to_be_visible(timeout=30_000)
    return locator.get_attribute("src") or ""


def new_page(browser, url: str, locale: str = "en-US", height: int = 1000):
    page = browser.new_page(locale=locale, viewport={"width": 1300, "height": height})
    page.goto(url)
    return page


def open_tab(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def workspace_ready(page) -> None:
    """Wait for the page's load events: the view restored, and the Train tab's workspace token stored in the browser
    (a Start pressed before that is answered "this page has no valid workspace; reload the page", as a second page
    opened on a busy server was once in CI)."""
    from genimg.ui.train_tab import TOKEN_STORAGE_KEY

    page.wait_for_function("() => window.genimgViewRestored === true", timeout=60_000)
    page.wait_for_function(f"() => !!window.localStorage.getItem({TOKEN_STORAGE_KEY!r})", timeout=60_000)


def press_stop(page) -> None:
    """Click the Train tab's Stop once it is enabled. In two full-suite runs on 2 busy cores (not alone: 6 of 6 passed)
    a click on Stop timed out at "scrolling into view" while a run streamed its updates (each one re-sends the
    buttons' state); if a real click does not land in 10 s, say so (a pytest warning, in CI's log) and deliver the
    click to the button itself, so the journey goes on to check what Stop does."""
    import warnings

    stop = page.locator("#train-stop")
    expect(stop).to_be_enabled(timeout=30_000)
    try:
        stop.click(timeout=10_000)
    except Exception as error:  # playwright's TimeoutError
        warnings.warn(f"a click on Stop did not land in 10 s ({str(error).splitlines()[0]}); clicked it directly",
                      stacklevel=2)
        stop.dispatch_event("click")


def test_slider_moves_the_image(browser, page_url):
    page = new_page(browser, page_url, "en-US", 1000)
    open_tab(page, "Latent space")
    before = image_source(page, "#latent-image")
    slider = page.locator("#latent-z0 input[type=range]")
    slider.focus()
    for _ in range(40):
        page.keyboard.press("ArrowRight")
    expect(page.locator("#latent-image img").first).not_to_have_attribute("src", before, timeout=30_000)
    screenshot(page, "latent-slider")
    page.close()


def test_drawing_is_encoded_and_reconstructed(browser, page_url):
    page = new_page(browser, page_url, "en-US", 1100)
    open_tab(page, "Encode")
    canvas = page.locator("#encode-sketch canvas").last
    expect(canvas).to_be_visible(timeout=30_000)
    box = canvas.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.2)
    page.mouse.down()
    for step in range(1, 21):  # a vertical stroke: a "1"
        page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * (0.2 + 0.03 * step))
    page.mouse.up()
    page.locator("#encode-run").click()
    expect(page.locator("#encode-reconstruction img").first).to_be_visible(timeout=30_000)
    screenshot(page, "encode-drawing")
    page.close()


def test_interpolation_gives_a_gif(browser, page_url):
    page = new_page(browser, page_url, "en-US", 1100)
    open_tab(page, "Interpolate")
    page.locator("#interp-run").click()
    expect(page.locator("#interp-slerp img").first).to_have_attribute("src", __import__("re").compile(r"\.gif"),
                                                                     timeout=30_000)
    screenshot(page, "interpolate")
    page.close()


def test_the_page_speaks_chinese(browser, page_url):
    page = new_page(browser, page_url, "zh-CN", 1000)
    expect(page.get_by_role("tab", name="样本")).to_be_visible(timeout=30_000)
    expect(page.get_by_role("tab", name="插值")).to_be_visible()
    open_tab(page, "学习")
    expect(page.locator("#learn-gan")).to_contain_text("生成器")
    screenshot(page, "chinese")
    page.close()


def test_a_link_opens_the_same_view_and_the_url_follows_the_sliders(browser, page_url):
    page = new_page(browser, page_url + "?view=latent&model=gan&seed=9&z=0.50,-0.25&psi=0.7", "en-US", 1000)
    expect(page.locator("#latent-seed input")).to_have_value("9", timeout=30_000)
    expect(page.locator("#latent-z0 input[type=number]")).to_have_value("0.5")
    slider = page.locator("#latent-z0 input[type=range]")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    page.wait_for_function("() => window.location.search.includes('z=0.60')", timeout=30_000)
    assert "model=gan" in page.url and "seed=9" in page.url and "psi=0.7" in page.url
    screenshot(page, "url-state")
    page.close()


@pytest.fixture(scope="module")
def train_page_url(tiny_models, tmp_path_factory):
    """A page whose Train tab builds tiny networks, so a run shows progress within seconds on any machine."""
    import app
    from genimg.explore.catalog import Renderer, discover
    from genimg.store.workspace import Workspaces
    from genimg.ui.context import ExploreContext
    from genimg.ui.train_tab import Limits, TrainHandlers

    workspaces = Workspaces(tmp_path_factory.mktemp("workspaces"))
    folder = str(next(iter(tiny_models.values())).parent)
    context = ExploreContext(Renderer("cpu"), discover(folder), workspaces=workspaces)
    trainer = TrainHandlers(context, workspaces, limits=Limits(5000, 300.0, 1, 1), width=8)
    trainer.queue.per_address = 2  # every page of this browser comes from 127.0.0.1
    demo = app.build_demo([folder], trainer=trainer)
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()
    trainer.pool.shutdown()


def test_train_watch_stop_save_and_explore(browser, train_page_url):
    """A newcomer's path: Start, see the samples and the curves change, Stop, Save as, find it in Explore."""
    page = new_page(browser, train_page_url, "en-US", 1400)
    workspace_ready(page)
    open_tab(page, "Train")
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="Shapes (built in, no download)").click()
    page.locator("#train-start").click()
    first = image_source(page, "#train-samples")
    expect(page.locator("#train-samples img").first).not_to_have_attribute("src", first, timeout=60_000)
    expect(page.locator("#train-losses canvas, #train-losses svg").first).to_be_visible(timeout=30_000)
    expect(page.locator("#train-status")).to_contain_text("images/s", timeout=30_000)
    screenshot(page, "train-running")

    # A second user meanwhile: waits in the queue (and sees it), can leave it, and cannot touch the first run.
    other = new_page(browser, train_page_url, "en-US", 1000)
    workspace_ready(other)
    open_tab(other, "Train")
    other.locator("#train-dataset input").click()
    other.get_by_role("option", name="Shapes (built in, no download)").click()
    other.locator("#train-start").click()
    expect(other.locator("#train-status")).to_contain_text("queue", timeout=30_000)
    screenshot(other, "train-queued")
    press_stop(other)
    expect(other.locator("#train-status")).to_contain_text("Cancelled", timeout=30_000)
    expect(page.locator("#train-status")).to_contain_text("images/s")  # the first run goes on

    press_stop(page)
    expect(page.locator("#train-status")).to_contain_text("stopped by the user", timeout=60_000)
    # Replay: back to the first grid of the run. The run's last update puts the replay on its last grid; wait for
    # that before moving it (a Home pressed earlier finds the slider already at 0 and is then overwritten).
    replay = page.locator("#train-replay input[type=range]")
    expect(replay).to_be_enabled(timeout=30_000)
    expect(page.locator("#train-replay input[type=number]")).not_to_have_value("0", timeout=30_000)
    replay.focus()
    page.keyboard.press("Home")
    # "Step 1, " with its space: the last grid's caption may read "Step 1,234, ..."
    expect(page.locator("#train-replay-caption")).to_contain_text(
        __import__("re").compile(r"Step 1, "), timeout=30_000)
    page.wait_for_timeout(1000)
    expect(page.locator("#train-replay input[type=number]")).to_have_value("0")  # and it stays there
    page.locator("#train-save-name textarea, #train-save-name input").first.fill("class demo")
    page.locator("#train-save").click()
    expect(page.locator("#train-save-status")).to_contain_text("Saved", timeout=30_000)
    screenshot(page, "train-saved")

    open_tab(page, "Samples")
    page.locator("#samples-model input").click()
    page.get_by_role("option", name=__import__("re").compile("★ class demo")).click()
    expect(page.locator("#samples-model input")).to_have_value(__import__("re").compile("class demo"))
    expect(page.locator("#samples-grid img").first).to_be_visible(timeout=30_000)
    screenshot(page, "train-explore")
    expect(other.locator("#train-status")).to_contain_text("Cancelled while waiting", timeout=30_000)
    other.close()
    page.close()
