"""The Evaluate tab's handlers (issue 14): numbers in the visitor's language, the class-share chart, nearest pairs,
CAS for a conditional model only, a result kept per model and settings, and hostile input refused in words.

Uses the shipped shapes models and judge (built-in data, no download), evaluated with a few hundred images."""

from __future__ import annotations

import math
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
import torch

from genimg.config import SHIPPED_DIR
from genimg.eval.fidelity import NearestPair
from genimg.eval.metrics import Evaluation
from genimg.explore.catalog import Renderer, discover
from genimg.store.workspace import Workspaces
from genimg.ui.context import ExploreContext
from genimg.ui.evaluate_tab import CARD_SAMPLES, QUICK_SAMPLES, EvaluateHandlers, pair_picture, results_table

SMALL = {"quick": 300, "card": 400, "memorisation_samples": 200, "memorisation_references": 200, "pairs": 4,
         "cas_images": 300}

pytestmark = pytest.mark.skipif(not (SHIPPED_DIR / "shapes-judge").is_dir() or not (SHIPPED_DIR / "shapes-dcgan").is_dir(),
                                reason="needs the shipped shapes models and judge in checkpoints/")


def request(language: str = "en") -> SimpleNamespace:
    header = "zh-CN,zh;q=0.9" if language == "zh-CN" else "en-US,en;q=0.9"
    return SimpleNamespace(headers={"accept-language": header}, query_params={}, session_hash="s")


@pytest.fixture(scope="module")
def handlers(tmp_path_factory) -> EvaluateHandlers:
    context = ExploreContext(Renderer("cpu"), discover(str(SHIPPED_DIR)),
                             workspaces=Workspaces(tmp_path_factory.mktemp("workspaces")))
    return EvaluateHandlers(context, cache_dir=tmp_path_factory.mktemp("evaluations"), sizes=SMALL)


def path_of(handlers: EvaluateHandlers, name: str) -> str:
    return next(str(entry.path) for entry in handlers.context.entries if entry.path.name == name)


def test_a_shipped_model_is_measured_shown_in_both_languages_and_kept(handlers):
    path = path_of(handlers, "shapes-dcgan")
    text, chart, pairs, note = handlers.evaluate(path, QUICK_SAMPLES, ["precision_recall", "memorisation"], False,
                                                 request())
    assert "300 samples" in text
    for row in ("Judge's FD", "FD ÷ floor", "Precision", "Recall", "closer to a training image"):
        assert row in text, row
    assert "Measured in" in text and "Recogniser trained on samples" not in text  # no CAS for an unconditional model
    frame = chart["value"]
    assert list(frame.columns) == ["class", "share"] and math.isclose(frame["share"].sum(), 1.0, abs_tol=1e-6)
    assert chart["x_title"] == "class"
    assert chart["y_lim"][0] == 0 and chart["sort"] == list(frame["class"])  # from 0, in class order
    assert pairs["visible"] is True
    pairs = pairs["value"]
    assert len(pairs) == SMALL["pairs"] and all(caption.startswith("distance ") for _, caption in pairs)
    distances = [float(caption.split()[-1]) for _, caption in pairs]
    assert distances == sorted(distances)  # closest first
    assert note.startswith("The pairs below")

    again, *_ = handlers.evaluate(path, QUICK_SAMPLES, ["memorisation", "precision_recall"], False, request("zh-CN"))
    assert "保存的结果" in again and "评判分类器的 FD" in again  # the kept result, in Chinese
    assert again.split("|")[4:8] == text.split("|")[4:8] or "300" in again
    # "Measure again" measures (shown with the judge's numbers only, the quickest evaluation)
    handlers.evaluate(path, QUICK_SAMPLES, [], False, request())  # measured, or kept from another test
    assert "Saved result" in handlers.evaluate(path, QUICK_SAMPLES, [], False, request())[0]
    assert "Measured in" in handlers.evaluate(path, QUICK_SAMPLES, [], True, request())[0]


@pytest.fixture(scope="module")
def conditional_shapes(tmp_path_factory) -> Path:
    """A tiny class-conditional DCGAN trained a few steps on the built-in shapes (3 classes, 3×32×32)."""
    from genimg.data.datasets import load_dataset
    from genimg.training.engine import train
    from tests.helpers import tiny_config

    folder = tmp_path_factory.mktemp("conditional") / "shapes-cgan"
    config = tiny_config("dcgan", image_size=32, channels=3, num_classes=3, steps=3, out=str(folder), dataset="shapes")
    for _ in train(config, data=load_dataset("shapes", limit=64)):
        pass
    return folder


def test_a_conditional_model_gets_its_classification_accuracy_score(handlers, conditional_shapes):
    context = ExploreContext(Renderer("cpu"), discover(str(SHIPPED_DIR), str(conditional_shapes.parent)),
                             workspaces=handlers.context.workspaces)
    own = EvaluateHandlers(context, cache_dir=handlers.cache_dir, sizes=SMALL)
    path = str(conditional_shapes)
    assert [value for _, value in own.measures(path)["choices"]] == ["precision_recall", "memorisation", "cas"]
    text, chart, _, _ = own.evaluate(path, QUICK_SAMPLES, ["cas"], False, request())
    assert "Recogniser trained on samples" in text and "as many real images" in text
    assert "Samples judged as the class asked for" in text
    assert len(chart["value"]) == 3  # one bar per shape class


def test_hostile_input_gets_a_sentence(handlers, tmp_path):
    with pytest.raises(gr.Error, match="Pick a model"):
        handlers.evaluate("/etc/passwd", QUICK_SAMPLES, [], False, request())
    with pytest.raises(gr.Error, match="请先从列表中选择一个模型"):
        handlers.evaluate(None, QUICK_SAMPLES, [], False, request("zh-CN"))
    # Absurd sizes and measures are read as the quick evaluation with nothing extra (no CAS for an unconditional
    # model even when asked for).
    text, _, pairs, _ = handlers.evaluate(path_of(handlers, "shapes-dcgan"), 10**30, {"cas": 1}, "yes", request())
    assert "300 samples" in text and pairs["value"] == [] and pairs["visible"] is False and "Recogniser" not in text
    assert handlers.measures(path_of(handlers, "shapes-dcgan"))["choices"][-1] == (
        "Memorisation: nearest training images (under a minute)", "memorisation")
    assert handlers.measures(path_of(handlers, "shapes-dcgan"), request("zh-CN"))["choices"][0][0] == "精确率和召回率（几秒钟）"


def test_the_card_sample_count_is_the_card_setting(handlers):
    text, *_ = handlers.evaluate(path_of(handlers, "shapes-dcgan"), CARD_SAMPLES, [], False, request())
    assert "400 samples" in text


def test_a_model_without_a_judge_is_refused_in_words(tmp_path):
    context = ExploreContext(Renderer("cpu"), discover(str(SHIPPED_DIR)), workspaces=Workspaces(tmp_path / "ws"))
    handlers = EvaluateHandlers(context, cache_dir=tmp_path / "cache", sizes=SMALL)
    # The same model with its judge missing: the tab says which judge and how to train one.
    no_judge = tmp_path / "judges"
    no_judge.mkdir()
    from genimg.eval import evaluation_cache

    original = evaluation_cache.default_judge_dir
    evaluation_cache.default_judge_dir = lambda dataset: no_judge / f"{dataset}-judge"
    try:
        with pytest.raises(gr.Error, match="无法在这里评估.*train-judge"):
            handlers.evaluate(path_of(handlers, "shapes-dcgan"), QUICK_SAMPLES, [], False, request("zh-CN"))
    finally:
        evaluation_cache.default_judge_dir = original


def test_results_table_shows_what_was_measured_only():
    evaluation = Evaluation(metrics={"classifier_fd": 12.0, "classifier_fd_floor": 4.0, "classifier_fd_ratio": 3.0,
                                     "precision": float("nan"), "test_iwae_nll": 88.5, "iwae_samples": 1000})
    english = results_table(evaluation, "en")
    assert "| Judge's FD, samples vs test images (lower is better) | 12.00 |" in english
    assert "3.0×" in english and "Precision" not in english
    assert "(k = 1000) | 88.50 |" in english
    assert "重要性加权 NLL 上界" in results_table(evaluation, "zh-CN")


def test_a_pair_is_the_sample_then_its_training_image_enlarged():
    sample = torch.zeros(1, 4, 4, dtype=torch.uint8)
    training = torch.full((1, 4, 4), 255, dtype=torch.uint8)
    picture = pair_picture(NearestPair(sample, training, 3.5, 0, 0), scale=2)
    assert picture.shape == (8, 18, 3) and picture.dtype == np.uint8  # (4 + a 1-pixel line + 4) × 2
    assert (picture[:, :8] == 0).all()  # the sample, left
    assert (picture[:, 8:10] == 128).all()  # the grey line between them
    assert (picture[:, 10:] == 255).all()  # the training image, right


def test_the_models_card_shows_what_the_page_measured(handlers):
    from genimg.ui.explore import ExploreHandlers

    cards = ExploreHandlers(handlers.context)
    path = path_of(handlers, "shapes-dcgan")
    never = path_of(handlers, "shapes-vae")
    handlers.evaluate(path, QUICK_SAMPLES, [], False, request())
    english = cards.card(path, request())
    assert "## Measured in this page" in english
    assert "The Evaluate tab, 300 samples" in english or "The Evaluate tab, 400 samples" in english  # the newest
    assert "| Judge's FD, samples vs test images (lower is better) |" in english
    assert "## 在本页面测得" in cards.card(path, request("zh-CN"))
    assert "Measured in this page" not in cards.card(never, request())  # nothing measured: the card as shipped


def test_one_visitor_cannot_line_up_evaluations_and_others_wait_their_turn(handlers, monkeypatch):
    """A visitor with an evaluation running gets a sentence for a second one; another visitor waits for the running
    one to end, then runs."""
    import threading
    import time

    from genimg.ui import evaluate_tab

    started, release = threading.Event(), threading.Event()
    order: list[str] = []

    def slow(model_dir, options, cache_dir, **keywords):
        order.append("start")
        started.set()
        release.wait(30)
        order.append("end")
        return Evaluation(metrics={"classifier_fd": 1.0}, seconds=1.0)

    monkeypatch.setattr(evaluate_tab, "cached_evaluation", slow)

    def visitor(address: str, language: str = "en") -> SimpleNamespace:
        visit = request(language)
        visit.client = SimpleNamespace(host=address)
        return visit

    path = path_of(handlers, "shapes-dcgan")
    answers: list = []
    first = threading.Thread(target=lambda: answers.append(handlers.evaluate(path, QUICK_SAMPLES, [], True,
                                                                             visitor("192.0.2.1"))))
    first.start()
    assert started.wait(30)
    with pytest.raises(gr.Error, match="already have an evaluation"):
        handlers.evaluate(path, QUICK_SAMPLES, [], True, visitor("192.0.2.1"))
    with pytest.raises(gr.Error, match="已有一次评估"):
        handlers.evaluate(path, QUICK_SAMPLES, [], True, visitor("192.0.2.1", "zh-CN"))
    second = threading.Thread(target=lambda: answers.append(handlers.evaluate(path, QUICK_SAMPLES, [], True,
                                                                              visitor("192.0.2.2"))))
    second.start()
    time.sleep(1.0)
    assert order == ["start"]  # the other visitor waits for the running evaluation
    release.set()
    first.join(30)
    second.join(30)
    assert order == ["start", "end", "start", "end"] and len(answers) == 2
    assert handlers.in_flight == set()
