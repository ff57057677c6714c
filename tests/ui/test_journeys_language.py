"""The whole page in Chinese, in a real browser, on the shipped checkpoints: every tab, every folded section opened.

A Chinese-speaking student opens `?lang=zh-CN` (or a browser set to zh-CN) and reads each of the 9 tabs with its
accordions and sub-tabs opened. The visible text must hold no English word outside a short list of names (genimg,
GAN, VAE, MNIST, model folder names, units, symbols), must write "latent" one way only (genimg/ui/glossary.py:
隐空间/隐向量/隐维度, never 潜在), and no tab may show a bare "Error". The English page, scanned the same way, must
hold no Chinese (a key registered with the languages swapped). Screenshots of each tab (desktop, phone) go to
$GENIMG_SCREENSHOTS when it is set.
"""

from __future__ import annotations

import re

import pytest

from genimg.explore.catalog import discover
from genimg.ui.glossary import variants_in
from tests.ui.test_browser import MISSING, browser, screenshot  # noqa: F401  (fixture)

pytestmark = pytest.mark.skipif(MISSING is not None, reason=MISSING or "")

expect = pytest.importorskip("playwright.sync_api").expect

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TABS = ("samples", "latent", "interpolate", "encode", "gan", "train", "evaluate", "playground", "learn")
# Names and symbols that stay as they are in a Chinese page: the product, model families and datasets, file formats,
# units, devices, and the letters of formulas. Model folder names are added from the catalog.
NAMES = {
    "genimg", "gan", "gans", "vae", "vaes", "dcgan", "cdcgan", "cgan", "cvae", "mnist", "fashion", "emnist", "shapes",
    "gif", "png", "zip", "json", "safetensors", "readme", "md", "url", "api", "mcp", "cpu", "gpu", "cuda", "zerogpu",
    "mb", "gb", "kb", "px", "id", "ema", "kl", "mse", "fd", "fid", "adam", "relu", "tanh", "elbo", "pc", "nats",
    "logit", "rgb", "slerp", "lerp", "pca", "sgd", "lr", "nan", "inf", "softmax", "sigmoid", "batchnorm", "torchrun",
    "pytorch", "torch", "gradio", "python", "hugging", "face", "ganspace", "stylegan", "github", "http", "https",
    "lang", "zh", "cn", "en", "min", "max",  # min(…), max(…) in plain-text formulas
    # authors cited by the lessons
    "goodfellow", "kingma", "welling", "jensen", "shannon", "radford", "karras", "härkönen", "lipman", "liu",
    # a flow's ODE and its solvers, named after their authors as Chinese textbooks do (Euler 法, Heun 法)
    "ode", "euler", "heun",
}
HIDE_FORMULAS = """() => { const style = document.createElement('style'); style.id = 'scan-hide-formulas';
  style.textContent = '.katex, .katex-display, .katex-mathml, code, pre { display: none !important; }';
  document.head.appendChild(style); }"""
# An English term glossed in parentheses right after its Chinese word, as textbooks do: 独热（one-hot）.
GLOSS = re.compile(r"[（(][A-Za-z][A-Za-z '’-]{0,30}[)）]")
LATIN_WORD = re.compile(r"[A-Za-z]{2,}(?:['’][A-Za-z]+)*")
HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def shipped():
    """(page URL, lower-case model folder names) for the page exactly as it ships (app.build_demo())."""
    import app

    entries = discover(*app.model_folders())
    if not entries:
        pytest.skip("the shipped checkpoints are not in this checkout")
    demo = app.build_demo()
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    names = set()
    for entry in entries:
        names.add(entry.name.lower())
        names.update(part.lower() for part in re.split(r"[-_.]", entry.name) if part)
    yield url, names
    demo.close()


def open_everything(page, panel) -> None:
    """Open every closed accordion inside a tab panel, then visit each sub-tab so its text is rendered."""
    for _ in range(3):  # opening one accordion can reveal another inside it
        closed = panel.locator("button.label-wrap:not(.open)")
        if not closed.count():
            break
        for index in range(closed.count()):
            button = closed.nth(index)
            if button.is_visible():
                button.click()
        page.wait_for_timeout(300)


def tab_text(page, tab: str) -> str:
    """The visible text of one tab with its accordions opened and every sub-tab visited, plus labels that only show
    as attributes (aria-label, title, placeholder) and the text inside plots."""
    page.locator("#tabs .tab-wrapper").first.get_by_role("tab").nth(TABS.index(tab)).click()
    panel = page.locator(f"#tab-{tab}")
    expect(panel).to_be_visible(timeout=60_000)
    page.wait_for_timeout(1_500)  # the tab's load events fill in captions and plots
    open_everything(page, panel)
    # Formulas are typeset by KaTeX, whose hidden MathML copy reads as words ("logp", "arg"), and commands to type
    # (`python -m genimg sample --seed 0`) are code: both left out.
    page.evaluate(HIDE_FORMULAS)
    texts = [panel.inner_text()]
    sub_tabs = panel.get_by_role("tab")
    for index in range(sub_tabs.count()):
        if sub_tabs.nth(index).is_visible():
            sub_tabs.nth(index).click()
            page.wait_for_timeout(500)
            open_everything(page, panel)
            texts.append(panel.inner_text())
    texts.append(panel.evaluate(
        "(root) => [...root.querySelectorAll('[aria-label],[title],[placeholder]')]"
        ".filter((element) => element.offsetParent !== null)"
        ".map((element) => [element.getAttribute('aria-label'), element.getAttribute('title'),"
        " element.getAttribute('placeholder')].filter(Boolean).join(' ')).join('\\n')"))
    texts.append(panel.evaluate("(root) => [...root.querySelectorAll('svg text')].map((t) => t.textContent).join(' ')"))
    page.evaluate("() => document.getElementById('scan-hide-formulas').remove()")
    return "\n".join(texts)


def english_words(text: str, names: set[str]) -> list[str]:
    """Latin-script words of two or more letters that are not names, with the line each came from."""
    found = []
    for line in text.splitlines():
        for word in LATIN_WORD.findall(GLOSS.sub(" ", line) if HAN.search(line) else line):
            if word.lower().strip("'’") not in NAMES | names:
                found.append(f"{word!r} in {line.strip()[:90]!r}")
    return found


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_every_tab_speaks_chinese(browser, shipped, viewport):  # noqa: F811 - test_browser's fixture
    url, names = shipped
    size = DESKTOP if viewport == "desktop" else PHONE
    page = browser.new_page(locale="zh-CN", viewport=size)
    page.goto(url + "?lang=zh-CN")
    expect(page.locator("#samples-grid img").first).to_be_visible(timeout=60_000)
    problems: dict[str, list[str]] = {}
    for tab in TABS:
        text = tab_text(page, tab)
        screenshot(page, f"language-{viewport}-zh-{tab}")
        words = english_words(text, names)
        latent_words = [variant for variant, _ in variants_in(text)]
        bare_errors = [line for line in text.splitlines() if line.strip() in {"Error", "错误"}]
        if words or latent_words or bare_errors:
            problems[tab] = words[:15] + [f"forbidden term {word!r}" for word in latent_words] + bare_errors
    page.close()
    assert not problems, "\n".join(f"{tab}: {found}" for tab, found in problems.items())


def test_the_english_page_holds_no_chinese(browser, shipped):  # noqa: F811 - test_browser's fixture
    url, _ = shipped
    page = browser.new_page(locale="en-US", viewport=DESKTOP)
    page.goto(url)
    expect(page.locator("#samples-grid img").first).to_be_visible(timeout=60_000)
    found = {}
    for tab in TABS:
        text = tab_text(page, tab)
        lines = [line.strip()[:90] for line in text.splitlines() if HAN.search(line)]
        if lines:
            found[tab] = lines[:5]
    page.close()
    assert not found, found
