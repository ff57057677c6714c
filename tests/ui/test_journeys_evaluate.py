"""A real browser on the Evaluate tab (issue 14): a teacher evaluates a shipped model and sees the numbers, the class
shares and the samples nearest to training images, in Chinese on a phone; a student trains a conditional model in
the page, saves it, and evaluates it with the classification accuracy score, in English on a desktop.

The page ships every model in checkpoints/; its Train tab builds tiny networks and its Evaluate tab measures with a
few hundred images (the same code as the full evaluation, smaller sizes). Uses the built-in shapes data and the
shipped shapes judge: no download. Screenshots go to $GENIMG_SCREENSHOTS.
"""

from __future__ import annotations

import re

import pytest

from genimg.config import SHIPPED_DIR
from tests.ui.test_browser import browser, pytestmark, screenshot  # noqa: F401  (fixtures, skip mark)
from tests.ui.test_journeys_explore import VIEW_RESTORED, errors_on_page
from tests.ui.test_journeys_language import NAMES, english_words

expect = pytest.importorskip("playwright.sync_api").expect

DESKTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
TIMEOUT = 60_000
EVALUATION_TIMEOUT = 240_000  # a busy 2-core machine: judging a few hundred samples and training recognisers
SMALL = {"quick": 300, "card": 400, "memorisation_samples": 200, "memorisation_references": 200, "pairs": 4,
         "cas_images": 300}

if not (SHIPPED_DIR / "shapes-judge").is_dir() or not (SHIPPED_DIR / "shapes-dcgan").is_dir():
    pytestmark = pytest.mark.skip(reason="needs the shipped shapes models and judge in checkpoints/")


@pytest.fixture(scope="module")
def evaluate_url(tmp_path_factory):
    import app
    from genimg.explore.catalog import Renderer, discover
    from genimg.store.workspace import Workspaces
    from genimg.ui.context import ExploreContext
    from genimg.ui.evaluate_tab import EvaluateHandlers
    from genimg.ui.train_tab import Limits, TrainHandlers

    workspaces = Workspaces(tmp_path_factory.mktemp("workspaces"))
    context = ExploreContext(Renderer("cpu"), discover(str(SHIPPED_DIR)), workspaces=workspaces)
    trainer = TrainHandlers(context, workspaces, limits=Limits(5000, 300.0, 1, 1), width=8)
    evaluator = EvaluateHandlers(context, cache_dir=tmp_path_factory.mktemp("evaluations"), sizes=SMALL)
    demo = app.build_demo([str(SHIPPED_DIR)], trainer=trainer, evaluator=evaluator)
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()
    trainer.pool.shutdown()


def open_page(browser, url: str, locale: str, viewport: dict):  # noqa: F811
    page = browser.new_page(locale=locale, viewport=viewport)
    page.goto(url + ("?lang=zh-CN" if locale.startswith("zh") else ""))
    page.wait_for_function(VIEW_RESTORED, timeout=TIMEOUT)
    return page


def show_tab(page, tab: str) -> None:
    """Click a top-level tab by its position in the bar (its title depends on the language)."""
    from tests.ui.test_journeys_language import TABS

    page.locator("#tabs .tab-wrapper").first.get_by_role("tab").nth(TABS.index(tab)).click()
    expect(page.locator(f"#tab-{tab}")).to_be_visible(timeout=TIMEOUT)


def pick_model(page, name: re.Pattern) -> None:
    page.locator("#eval-model input").click()
    page.get_by_role("option", name=name).first.click()
    expect(page.locator("#eval-model input")).to_have_value(name, timeout=TIMEOUT)


def tick(page, measure_label: str) -> None:
    box = page.locator("#eval-measures label", has_text=measure_label).locator("input")
    if not box.is_checked():
        box.check()


def test_a_shipped_model_in_chinese_on_a_phone_shows_numbers_shares_and_nearest_pairs(browser, evaluate_url):  # noqa: F811
    page = open_page(browser, evaluate_url, "zh-CN", PHONE)
    show_tab(page, "evaluate")
    pick_model(page, re.compile("shapes-dcgan"))
    tick(page, "记忆")
    page.locator("#eval-run").click()
    results = page.locator("#eval-results")
    expect(results).to_contain_text("FD ÷ 下限", timeout=EVALUATION_TIMEOUT)
    expect(results).to_contain_text("精确率")
    expect(results).to_contain_text("比 95% 的测试图像更接近某张训练图像的样本")
    expect(page.locator("#eval-shares svg, #eval-shares canvas").first).to_be_visible(timeout=TIMEOUT)
    expect(page.locator("#eval-pairs img")).to_have_count(SMALL["pairs"], timeout=TIMEOUT)
    expect(page.locator("#eval-pairs-note")).to_contain_text("复制品")
    screenshot(page, "evaluate-phone-zh")
    assert errors_on_page(page) == []
    words = english_words(page.locator("#tab-evaluate").inner_text(), NAMES | {"dcgan", "shapes", "nn", "sn"})
    assert words == [], words
    # The page fits the phone: nothing wider than the screen.
    assert page.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"] + 1
    # Afterwards the model's card (Samples, "About this model") shows what was measured.
    show_tab(page, "samples")
    page.locator("#samples-model input").click()
    page.get_by_role("option", name=re.compile("shapes-dcgan")).first.click()
    page.locator("#tab-samples button.label-wrap", has_text="关于这个模型").first.click()
    expect(page.locator("#tab-samples")).to_contain_text("在本页面测得", timeout=TIMEOUT)
    expect(page.locator("#tab-samples")).to_contain_text("FD ÷ 下限")
    page.close()


def test_a_conditional_model_trained_in_the_page_gets_its_classification_accuracy_score(browser, evaluate_url):  # noqa: F811
    page = open_page(browser, evaluate_url, "en-US", DESKTOP)
    show_tab(page, "train")
    page.locator("#train-model input").click()
    page.get_by_role("option", name="Conditional DCGAN").click()
    page.locator("#train-dataset input").click()
    page.get_by_role("option", name="Shapes (built in, no download)").click()
    page.locator("#tab-train").get_by_text("Settings", exact=True).first.click()
    steps = page.locator("#train-steps input")
    for _ in range(10):  # typed until the field keeps it (see tests/ui/test_journeys_workspace.py: set_steps)
        steps.fill("20")
        steps.press("Tab")
        page.wait_for_timeout(500)
        if steps.input_value() == "20":
            break
    page.locator("#train-start").click()
    expect(page.locator("#train-status")).to_contain_text("Run finished", timeout=EVALUATION_TIMEOUT)
    page.locator("#train-save-name textarea, #train-save-name input").first.fill("my shapes")
    page.locator("#train-save").click()
    expect(page.locator("#train-save-status")).to_contain_text("Saved", timeout=TIMEOUT)

    show_tab(page, "evaluate")
    pick_model(page, re.compile("my shapes"))
    expect(page.locator("#eval-measures")).to_contain_text("Classification accuracy score", timeout=TIMEOUT)
    tick(page, "Classification accuracy score")
    page.locator("#eval-run").click()
    results = page.locator("#eval-results")
    expect(results).to_contain_text("Recogniser trained on samples", timeout=EVALUATION_TIMEOUT)
    expect(results).to_contain_text("the same recogniser trained on as many real images")
    expect(results).to_contain_text("Samples judged as the class asked for")
    expect(page.locator("#eval-shares svg, #eval-shares canvas").first).to_be_visible(timeout=TIMEOUT)
    screenshot(page, "evaluate-desktop-en-own-model")
    assert errors_on_page(page) == []

    # Asked again with the same settings (after a reload): the kept result comes at once and says so.
    page.reload()
    page.wait_for_function(VIEW_RESTORED, timeout=TIMEOUT)
    show_tab(page, "evaluate")
    pick_model(page, re.compile("my shapes"))
    tick(page, "Classification accuracy score")  # the same settings as before: precision and recall, and CAS
    page.locator("#eval-run").click()
    expect(page.locator("#eval-results")).to_contain_text("Saved result of an earlier evaluation", timeout=TIMEOUT)
    page.close()


@pytest.fixture(scope="module")
def mnist_evaluate_url(tmp_path_factory, shared_data_root):
    """The page over the shipped models with MNIST beside it (the development machines' ../shared/data)."""
    import app
    from genimg.explore.catalog import Renderer, discover
    from genimg.store.workspace import Workspaces
    from genimg.ui.context import ExploreContext
    from genimg.ui.evaluate_tab import EvaluateHandlers
    from genimg.ui.train_tab import Limits, TrainHandlers

    if not (SHIPPED_DIR / "mnist-cflow").is_dir() or not (SHIPPED_DIR / "mnist-judge").is_dir():
        pytest.skip("needs the shipped mnist-cflow and mnist judge in checkpoints/")
    workspaces = Workspaces(tmp_path_factory.mktemp("workspaces"))
    context = ExploreContext(Renderer("cpu"), discover(str(SHIPPED_DIR)), workspaces=workspaces)
    trainer = TrainHandlers(context, workspaces, limits=Limits(5000, 300.0, 1, 1), width=8,
                            data_root=str(shared_data_root))
    evaluator = EvaluateHandlers(context, cache_dir=tmp_path_factory.mktemp("evaluations"), sizes=SMALL,
                                 data_root=str(shared_data_root))
    demo = app.build_demo([str(SHIPPED_DIR)], trainer=trainer, evaluator=evaluator)
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    yield url
    demo.close()
    trainer.pool.shutdown()


@pytest.mark.slow  # about 1.5 minutes per language on 2 CPU cores: a flow draws each sample in 80 network calls
@pytest.mark.parametrize("locale, viewport", [("en-US", DESKTOP), ("zh-CN", PHONE)])
def test_a_flow_is_evaluated_like_the_other_families(browser, mnist_evaluate_url, locale, viewport):  # noqa: F811
    """The conditional flow: its ODE draws the samples; the numbers, the requested-class row and the shares come."""
    page = open_page(browser, mnist_evaluate_url, locale, viewport)
    show_tab(page, "evaluate")
    pick_model(page, re.compile("mnist-cflow"))
    page.locator("#eval-run").click()
    results = page.locator("#eval-results")
    chinese = locale.startswith("zh")
    expect(results).to_contain_text("FD ÷ 下限" if chinese else "FD ÷ floor", timeout=EVALUATION_TIMEOUT)
    expect(results).to_contain_text("被判为所要求类别的样本" if chinese else "Samples judged as the class asked for")
    expect(page.locator("#eval-shares svg, #eval-shares canvas").first).to_be_visible(timeout=TIMEOUT)
    screenshot(page, f"evaluate-flow-{'phone-zh' if chinese else 'desktop-en'}")
    assert errors_on_page(page) == []
    if chinese:
        words = english_words(page.locator("#tab-evaluate").inner_text(), NAMES | {"mnist", "cflow"})
        assert words == [], words
    page.close()
