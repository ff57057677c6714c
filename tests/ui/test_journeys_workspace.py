"""A real browser keeps its workspace: after training a run and saving it as "mine", a reload, a second tab in the
same browser and a server restart on the same workspaces folder all bring back the run (Resume finds it) and the
saved model (in every Explore model list and "Your models"), and the workspace token never shows in the page.

Uses tests/ui/test_browser.py's browser and helpers (and is skipped where it is). Screenshots of the Train tab after
a reload (desktop and phone, English and Chinese) go to $GENIMG_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import json
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.ui.test_browser import browser, open_tab, pytestmark, screenshot  # noqa: F401  (fixture, skip mark)

expect = pytest.importorskip("playwright.sync_api").expect

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
SAVED = "mine"
# Every Explore model list that offers a DCGAN (the Encode tab's first two offer VAEs only), and the Train tab's own.
# (tab, sub-tab or None, the list's elem_id)
EXPLORE_LISTS = [("Samples", None, "#samples-model"), ("Latent space", None, "#latent-model"),
                 ("Interpolate", None, "#interp-model"), ("GAN tools", None, "#gan-model"),
                 ("Encode", "Latent arithmetic", "#arith-model")]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """The page with a tiny-network Train tab, on a fixed port (a browser's storage belongs to host and port)
    and a fixed workspaces folder, so it can be stopped and a new process's worth of objects started in its place."""

    models: str
    root: Path
    port: int = field(default_factory=free_port)
    demo: Any = None
    trainer: Any = None
    issue_burst: int | None = None  # new workspaces an address may open at once (None: the installation's default)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> None:
        import app
        from genimg.explore.catalog import Renderer, discover
        from genimg.store.workspace import Workspaces
        from genimg.ui.context import ExploreContext
        from genimg.ui.train_tab import Limits, TrainHandlers

        # A new object, as a new server process would make.
        workspaces = Workspaces(self.root, issue_burst=self.issue_burst, issue_per_hour=1 if self.issue_burst else None)
        context = ExploreContext(Renderer("cpu"), discover(self.models), workspaces=workspaces)
        self.trainer = TrainHandlers(context, workspaces, limits=Limits(5000, 300.0, 1, 1), width=8)
        self.demo = app.build_demo([self.models], trainer=self.trainer)
        app.launch(self.demo, server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True, quiet=True)

    def stop(self) -> None:
        self.demo.close()
        self.trainer.pool.shutdown()


def workspace_names(root: Path) -> list[str]:
    """The workspace folders on disk (each named by a workspace id, the first part of a browser's token)."""
    return sorted(path.name for path in root.iterdir() if path.is_dir()) if root.is_dir() else []


def open_any_tab(page, name: str) -> None:
    """Open a tab, through the "More tabs" menu where the tab bar is too narrow to show it (a phone)."""
    bar = page.locator("#tabs .tab-wrapper").first
    expect(bar).to_be_visible(timeout=30_000)
    page.wait_for_timeout(500)  # the bar settles which tabs fit once the page has laid out
    tab = bar.get_by_role("tab", name=name)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    bar.locator("button[aria-label='More tabs']").click()
    bar.locator(".overflow-dropdown button", has_text=name).first.click()


def wait_for_status(page, text: str, timeout: int = 60_000) -> None:
    expect(page.locator("#train-status")).to_contain_text(text, timeout=timeout)


def open_accordion(page, label: str, inside: str) -> None:
    """Open the accordion titled `label` unless the element `inside` it already shows."""
    if not page.locator(inside).first.is_visible():
        page.locator("button.label-wrap", has_text=label).first.click()
    expect(page.locator(inside).first).to_be_visible(timeout=10_000)


def set_steps(page, steps: int) -> None:
    """Type the step count and wait until the field keeps it (a late update from the page's load can reset it)."""
    open_accordion(page, "Settings", "#train-steps input")
    field = page.locator("#train-steps input")
    for _ in range(10):
        field.fill(str(steps))
        field.press("Tab")
        page.wait_for_timeout(500)
        if field.input_value() == str(steps):
            return


def options(page, selector: str) -> list[str]:
    """The labels a dropdown offers (opened, read, closed again; the chosen one's ✓ mark left out), or [] if
    its list did not open within a few seconds."""
    field = page.locator(f"{selector} input")
    field.click()
    listed = page.get_by_role("option")
    try:
        expect(listed.first).to_be_visible(timeout=3_000)
        labels = listed.all_inner_texts()
    except AssertionError:
        labels = []
    field.evaluate("element => element.blur()")  # closes the list, so the next click opens it again
    return [label.replace("✓", "").strip() for label in labels]


def expect_offered(page, selector: str, pattern: str, timeout_s: float = 20.0) -> None:
    """Wait until the dropdown offers a label matching `pattern` (the page load's update may still be coming)."""
    seen: list[str] = []
    for _ in range(int(timeout_s / 0.5)):
        seen = options(page, selector)
        if any(re.match(pattern, label) for label in seen):
            return
        page.wait_for_timeout(500)
    raise AssertionError(f"{selector} offers {seen}, none matching {pattern!r}")


def assert_workspace_is_back(page) -> None:
    """The saved model is offered by every Explore list and "Your models"; Resume finds the run and trains on."""
    for tab, sub_tab, selector in EXPLORE_LISTS:
        open_tab(page, tab)
        if sub_tab:
            open_tab(page, sub_tab)
        expect_offered(page, selector, rf"★\s*{SAVED}\b")
    open_tab(page, "Train")
    open_accordion(page, "Your models", "#train-yours")
    expect(page.locator("#train-usage")).to_contain_text("1 saved model", timeout=10_000)
    expect_offered(page, "#train-yours", rf"{SAVED}$")
    set_steps(page, 10)
    page.locator("#train-resume").click()
    wait_for_status(page, "finished", timeout=240_000)
    assert "Not resumed" not in page.locator("#train-status").inner_text()


@pytest.fixture(scope="module")
def journey(browser, tiny_models, tmp_path_factory):  # noqa: F811  (the fixture imported above)
    """A browser that trained a tiny run and saved it as "mine"; yields (browser context, its page, the server)."""
    server = Server(str(tiny_models["gan"].parent), tmp_path_factory.mktemp("workspaces"))
    server.start()
    context = browser.new_context(locale="en-US", viewport=DESKTOP)
    page = context.new_page()
    page.goto(server.url)
    open_tab(page, "Train")
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="Shapes (built in, no download)").click()
    set_steps(page, 30)
    page.locator("#train-start").click()
    wait_for_status(page, "finished")
    page.locator("#train-save-name textarea, #train-save-name input").first.fill(SAVED)
    page.locator("#train-save").click()
    expect(page.locator("#train-save-status")).to_contain_text("Saved", timeout=30_000)
    try:
        yield context, page, server
    finally:
        context.close()
        server.stop()


def test_a_reload_and_a_second_tab_bring_back_the_run_and_the_saved_model(journey):
    context, page, server = journey
    page.goto(server.url)  # a reload (of the plain address: the tabs write their view into the URL)
    assert_workspace_is_back(page)
    second = context.new_page()  # a second tab in the same browser
    second.goto(server.url)
    open_tab(second, "Train")
    open_accordion(second, "Your models", "#train-yours")
    expect(second.locator("#train-usage")).to_contain_text("1 saved model", timeout=30_000)
    second.close()
    assert len(workspace_names(server.root)) == 1  # no workspace was made for the reload or the second tab


def test_a_server_restart_brings_back_the_run_and_the_saved_model(journey):
    _, page, server = journey
    server.stop()
    server.start()  # same folder, same port, new objects: what a restarted process sees
    page.goto(server.url)
    assert_workspace_is_back(page)
    assert len(workspace_names(server.root)) == 1


def token_sent_by(page, action) -> str:
    """The workspace token the page sends with a Save as (read off the request, whatever the page keeps it in)."""
    bodies = []
    page.on("request", lambda request: bodies.append(request.post_data or "") if "queue/join" in request.url else None)
    action()
    expect(page.locator("#train-save-status")).to_contain_text("saved", ignore_case=True, timeout=30_000)
    for body in bodies:
        data = json.loads(body).get("data") or []
        if len(data) >= 2 and data[0] == "probe/":  # Save as's inputs: name, token, run
            return data[1]
    raise AssertionError(f"no Save as request among {len(bodies)} sent")


def test_the_workspace_token_is_never_shown(journey):
    context, page, server = journey
    page.goto(server.url)
    open_tab(page, "Train")
    # A name Save as refuses ("/" could name a path), so the probe adds nothing to the workspace.
    page.locator("#train-save-name textarea, #train-save-name input").first.fill("probe/")
    token = token_sent_by(page, lambda: page.locator("#train-save").click())
    secret_part = server.trainer.workspaces.get(token).folder.name  # a token the server accepts; its folder's name
    assert len(secret_part) >= 22 and secret_part in token
    seen = []
    for tab in ["Samples", "Latent space", "Interpolate", "Encode", "GAN tools", "Train", "Learn"]:
        open_tab(page, tab)
        page.wait_for_timeout(300)
        seen.append(page.locator("body").inner_text())
    history = context.new_page()  # Gradio's run history page lists every call's inputs when it is on
    history.goto(server.url + "gradio_api/runs")
    history.wait_for_timeout(2000)
    seen.append(history.locator("body").inner_text())
    history.close()
    assert [index for index, text in enumerate(seen) if secret_part in text] == []  # which page showed it


@pytest.mark.parametrize("locale, viewport, name", [("en-US", DESKTOP, "desktop-en"), ("en-US", PHONE, "phone-en"),
                                                    ("zh-CN", DESKTOP, "desktop-zh"), ("zh-CN", PHONE, "phone-zh")])
def test_the_train_tab_after_a_reload_in_each_language_and_size(journey, browser, locale, viewport, name):  # noqa: F811
    """The same browser's storage in a page of another language and size: its models are listed there too."""
    context, _, server = journey
    other = browser.new_context(locale=locale, viewport=viewport, storage_state=context.storage_state())
    page = other.new_page()
    page.goto(server.url)
    open_any_tab(page, "训练" if locale == "zh-CN" else "Train")
    open_accordion(page, "你的模型" if locale == "zh-CN" else "Your models", "#train-yours")
    expect(page.locator("#train-usage")).to_contain_text("1", timeout=30_000)
    expect(page.locator("#train-status")).to_contain_text("继续" if locale == "zh-CN" else "Resume")  # the last run
    screenshot(page, f"workspace-train-{name}")
    expect_offered(page, "#train-yours", rf"{SAVED}$")
    other.close()


def test_start_waits_for_the_pages_workspace_and_says_why_when_there_is_none(browser, tiny_models, tmp_path):  # noqa: F811
    """Start and Resume need the workspace token the page's load event stores: they are disabled until then (a press
    before it was answered "this page has no valid workspace; reload the page"). A browser refused a workspace (its
    address opened too many lately) keeps them disabled, and the status says why, in its language: an English desktop
    page is served, then a Chinese phone page from the same address is refused (one server for both)."""
    server = Server(str(tiny_models["gan"].parent), tmp_path / "workspaces", issue_burst=1)
    server.start()
    try:
        served = browser.new_context(locale="en-US", viewport=DESKTOP)
        page = served.new_page()
        page.goto(server.url)
        open_any_tab(page, "Train")
        expect(page.locator("#train-start")).to_be_enabled(timeout=30_000)
        expect(page.locator("#train-resume")).to_be_enabled()
        refused = browser.new_context(locale="zh-CN", viewport=PHONE)  # the same address, no token: over the limit
        other = refused.new_page()
        other.goto(server.url)
        open_any_tab(other, "训练")
        expect(other.locator("#train-status")).to_contain_text("此页面没有工作区", timeout=30_000)
        expect(other.locator("#train-start")).to_be_disabled()
        expect(other.locator("#train-resume")).to_be_disabled()
        screenshot(other, "workspace-refused-phone-zh")
        expect(page.locator("#train-start")).to_be_enabled()  # the first page keeps its workspace
        served.close()
        refused.close()
    finally:
        server.stop()
