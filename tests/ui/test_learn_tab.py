"""The Learn tab teaches the three objectives genimg trains (GAN minimax, ELBO, flow matching) and compares them,
in English and Simplified Chinese, and lays them out as Markdown with KaTeX formulas."""

from __future__ import annotations

import os
import re

import gradio as gr
import pytest

from genimg.ui.glossary import variants_in
from genimg.ui.learn_tab import CHINESE, ENGLISH, build_learn_tab
from tests.ui.test_browser import MISSING, browser, page_url  # noqa: F401  (fixtures)

TEXTS = {"en": ENGLISH, "zh-CN": CHINESE}  # the raw Markdown (i18n.message would read LaTeX braces as fields)
LANGUAGES = tuple(TEXTS)
MODEL_COLUMNS = ("GAN", "VAE")
FLOW_COLUMN = {"en": "flow", "zh-CN": "流模型"}  # the name the Samples tab gives the family


def table_rows(text: str) -> list[list[str]]:
    """The cells of each row of the Markdown table in `text` (the |---| line left out)."""
    rows = [[cell.strip() for cell in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.strip().startswith("|")]
    return [row for row in rows if not all(set(cell) <= {"-", ":"} for cell in row)]


def test_both_languages_teach_the_same_sections():
    assert set(ENGLISH) == set(CHINESE)
    assert {"learn.gan", "learn.vae", "learn.flow", "learn.compare"} <= set(ENGLISH)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_flow_section_states_the_objective_and_how_it_draws(language):
    text = TEXTS[language]["learn.flow"]
    assert text.lstrip().startswith("### ")  # a title, as the GAN and VAE sections have
    # The straight path, the regressed velocity and the loss, as display LaTeX.
    assert r"x_t = (1-t)\,x_0 + t\,x_1" in text
    display = re.findall(r"\$\$(.+?)\$\$", text, flags=re.DOTALL)
    assert len(display) == 1, display
    assert r"v_\theta(x_t, t) - (x_1 - x_0)" in display[0] and r"\|^2" in display[0]
    # The ODE it integrates, and classifier-free guidance with its g.
    assert r"\tfrac{dx}{dt} = v_\theta(x, t)" in text
    assert r"v(x, t, \varnothing) + g\," in text
    assert "Lipman" in text and "Liu" in text and "2023" in text
    assert "Euler" in text and "Heun" in text
    assert text.count("$") % 2 == 0  # every inline formula is closed


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_comparison_has_a_column_per_family(language):
    rows = table_rows(TEXTS[language]["learn.compare"])
    header = rows[0]
    assert header[1:3] == list(MODEL_COLUMNS) and len(header) == 4, header
    assert header[3] == FLOW_COLUMN[language], header
    assert all(len(row) == 4 and all(row[1:]) for row in rows), rows
    # trained by, encoder, likelihood, sampling, typical samples
    assert len(rows) - 1 == 5, rows


def test_the_comparison_says_what_each_family_offers():
    rows = {row[0]: row[1:] for row in table_rows(ENGLISH["learn.compare"])[1:]}
    assert rows["trained by"][2] == "regressing a velocity"
    assert "ODE" in rows["gives an encoder"][2] and "backwards" in rows["gives an encoder"][2]
    assert rows["gives a likelihood"][0] == "no" and "nats" in rows["gives a likelihood"][1]
    assert "change of variables" in rows["gives a likelihood"][2]
    assert "ODE steps" in rows["sampling"][2] and rows["sampling"][0] == "one network pass"


def test_the_chinese_uses_the_glossary():
    for key, text in CHINESE.items():
        assert variants_in(text) == [], key


def test_the_tab_lays_out_every_section():
    with gr.Blocks() as demo:
        build_learn_tab()
    ids = {block.elem_id for block in demo.blocks.values() if isinstance(block, gr.Markdown)}
    assert ids == {"learn-gan", "learn-vae", "learn-flow", "learn-compare"}


# ------------------------------------------------------------------------------------------- in a real browser
VIEWPORTS = {"desktop": {"width": 1366, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.skipif(MISSING is not None, reason=MISSING or "")
@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_the_flow_lesson_renders(browser, page_url, language, viewport):  # noqa: F811 - test_browser's fixtures
    """The flow section's formulas are typeset (no raw $ left), the comparison is a four-column table, and the page
    does not scroll sideways; the Chinese section holds no English word outside the language scan's names."""
    from playwright.sync_api import expect

    from tests.ui.test_journeys_language import HIDE_FORMULAS, english_words

    page = browser.new_page(locale=language, viewport=VIEWPORTS[viewport])
    page.goto(f"{page_url}?view=learn&lang={language}")
    flow = page.locator("#learn-flow")
    expect(flow.locator(".katex-display")).to_have_count(1, timeout=60_000)
    assert flow.locator(".katex").count() >= 8  # the path, the ODE, guidance… written inline
    compare = page.locator("#learn-compare table")
    expect(compare.locator("th")).to_have_count(4)
    assert compare.locator("tbody tr").count() == 5
    shots = os.environ.get("GENIMG_SCREENSHOTS")
    if shots:
        page.screenshot(path=f"{shots}/learn-{viewport}-{language}.png", full_page=True)
    typeset = flow.inner_text()
    assert not re.search(r"[\u4e00-\u9fff] [\u4e00-\u9fff]", typeset), typeset  # no stray space between Chinese words
    page.evaluate(HIDE_FORMULAS)
    text = flow.inner_text()
    assert "$" not in text, text
    if language != "en":
        assert english_words(text, set()) == []  # the whole-page Chinese scan's rule, on this section
    for section in ("gan", "vae", "flow"):  # side by side where they fit, stacked on a phone: never squeezed
        width = page.locator(f"#learn-{section}").bounding_box()["width"]
        assert width >= min(300, VIEWPORTS[viewport]["width"] - 60), (section, width)
    overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page scrolls {overflow} px sideways"
    page.close()
