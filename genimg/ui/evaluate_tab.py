"""Evaluate tab: how good is a model, in numbers a class can read — pick any model (shipped or your own), press
Evaluate, watch the progress bar, and see the judge's Fréchet distance against its floor, the judge's confidence,
the class shares as a bar chart (mode collapse at a glance), precision and recall, the samples nearest to a
training image side by side (does it copy?), and for a conditional model whether its images can teach a recogniser.

Every number comes from genimg.eval (the same functions as `python -m genimg eval`); a result is kept per model and
settings (genimg.eval.evaluation_cache), so a second visitor, or the same one after a reload, gets it at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd

from genimg.data.datasets import DatasetError
from genimg.eval.evaluation_cache import (
    EvaluationError,
    EvaluationOptions,
    cached_evaluation,
    evaluation_from_json,
    evaluation_to_json,
)
from genimg.eval.fidelity import FidelityOptions, NearestPair
from genimg.eval.metrics import Evaluation
from genimg.explore.catalog import ModelEntry
from genimg.store.checkpoint import CheckpointError, write_file_atomic
from genimg.ui.context import ExploreContext, client_address
from genimg.ui.guard import in_words
from genimg.ui.i18n import LATEX, message, register, request_language, t

QUICK_SAMPLES, CARD_SAMPLES = 2_000, 10_000
MEASURES = ("precision_recall", "memorisation", "cas")
PAIR_SCALE = 4        # a 28-pixel pair drawn 112 pixels high: every pixel visible on a projector
MAX_CACHE_FILES = 200  # results kept; the oldest go first (each is tens of kilobytes)

ENGLISH = {
    "eval.tab": "Evaluate",
    "eval.intro": (
        "### How good is this model?\n"
        "A **judge** — a classifier trained on the real images — looks at 10,000 samples and at the real test "
        "images. The **Fréchet distance (FD)** compares the two clouds of the judge's features: 0 would be "
        "indistinguishable. Even real training images are not at 0 from the test images: that **floor** is the "
        "best any model can do, so read FD as *times the floor*. **Precision**: how many samples look like real "
        "images; **recall**: how much of the real variety the samples cover. **Memorisation**: does the model copy "
        "its training images? **Classification accuracy score**: train a recogniser on generated images only and "
        "test it on real ones (conditional models)."
    ),
    "eval.model": "Model",
    "eval.samples": "Samples",
    "eval.samples.quick": "2,000 (quick)",
    "eval.samples.card": "10,000 (as in the model cards)",
    "eval.measures": "Also measure",
    "eval.measure.precision_recall": "Precision and recall (a few seconds)",
    "eval.measure.memorisation": "Memorisation: nearest training images (under a minute)",
    "eval.measure.cas": "Classification accuracy score (conditional models, about two minutes)",
    "eval.again": "Measure again (ignore the saved result)",
    "eval.run": "Evaluate",
    "eval.results": "Results",
    "eval.shares": "Class shares among samples",
    "eval.share": "share of samples",
    "eval.class": "class",
    "eval.pairs": "Samples nearest to a training image (sample | training image)",
    "eval.pair_caption": "distance {distance:.2f}",
    "eval.pick_model": "Pick a model from the list first.",
    "eval.not_evaluable": "This model cannot be evaluated here: {reason}",
    "eval.no_data": "The {dataset} images this evaluation compares with are not on this server ({reason}).",
    "eval.broken": "This model's folder could not be read: {reason}",
    "eval.failed": "The evaluation stopped ({detail}). Try again, or pick another model.",
    "eval.title": "Evaluation",
    "eval.from_cache": "*Saved result of an earlier evaluation with these settings (tick **Measure again** to "
                       "measure anew).*",
    "eval.took": "*Measured in {seconds} s on this server.*",
    "eval.heading": "**{model}** — {count} samples",
    "eval.row.fd": "Judge's FD, samples vs test images (lower is better)",
    "eval.row.floor": "Floor: FD of real training images vs test images",
    "eval.row.ratio": "FD ÷ floor (1 = as close as real images)",
    "eval.row.confidence": "Judge's mean confidence on samples",
    "eval.row.classes": "Classes present (≥ 1% of samples)",
    "eval.row.min_share": "Smallest class share",
    "eval.row.blank": "Blank tiles in the first {tiles} samples",
    "eval.row.blank_share": "Blank share of all samples",
    "eval.row.conditional": "Samples judged as the class asked for",
    "eval.row.precision": "Precision: samples that look like real images",
    "eval.row.recall": "Recall: real variety the samples cover",
    "eval.row.memorised": "Samples closer to a training image than 95% of test images are",
    "eval.row.memorised_baseline": "… expected for a model that does not copy",
    "eval.row.cas": "Recogniser trained on samples: accuracy on real test images",
    "eval.row.cas_real": "… the same recogniser trained on as many real images",
    "eval.row.cas_ratio": "… samples ÷ real (1 = as useful as real data)",
    "eval.row.neg_elbo": "Test −ELBO, nats per image",
    "eval.row.iwae": "Importance-weighted NLL bound, nats (k = {k})",
    "eval.row.neg_elbo_binarised": "Binarised test set: −ELBO, nats per image",
    "eval.row.iwae_binarised": "Binarised test set: importance-weighted NLL bound, nats (k = {k})",
    "eval.row.judge_accuracy": "Judge's accuracy on real test images",
    "eval.measure": "Measure",
    "eval.value": "Value",
    "eval.memorisation_read": "The pairs below are the samples closest to any training image, closest first: "
                              "if they were copies, the two pictures would match.",
    "eval.stage.loading": "Reading the test and training images",
    "eval.stage.judging": "Drawing samples and judging them",
    "eval.stage.precision_recall": "Precision and recall",
    "eval.stage.memorisation": "Searching the training images nearest to samples",
    "eval.stage.cas": "Training recognisers on generated and on real images",
    "eval.stage.likelihood": "Measuring the likelihood of test images",
    "eval.stage.steps": "Judging samples drawn in more and more ODE steps",
    "eval.stage.done": "Done",
    "eval.busy": "Another evaluation is running on this server; yours starts when it ends.",
    "eval.one_at_a_time": "You already have an evaluation waiting or running on this server; this one was not "
                          "started. Wait for it to finish, then try again.",
    "eval.card_heading": "## Measured in this page",
    "eval.card_when": "*The Evaluate tab, {count} samples, {date} UTC:*",
    "eval.class_name.circle": "circle",
    "eval.class_name.square": "square",
    "eval.class_name.triangle": "triangle",
}
CHINESE = {
    "eval.tab": "评估",
    "eval.intro": (
        "### 这个模型有多好？\n"
        "**评判分类器**（在真实图像上训练的分类器）观察 10,000 个样本和真实测试图像。**弗雷歇距离（FD）**比较两团"
        "评判分类器特征：0 表示无法区分。即使是真实训练图像，与测试图像的 FD 也不为 0：这个**下限**是任何模型能达到的最好"
        "结果，所以 FD 要读成*下限的多少倍*。**精确率**：多少样本看起来像真实图像；**召回率**：样本覆盖了多少真实图像的"
        "多样性。**记忆**：模型是否复制了训练图像？**分类准确率分数**：只用生成的图像训练一个识别器，再在真实图像上测试"
        "（条件模型）。"
    ),
    "eval.model": "模型",
    "eval.samples": "样本数",
    "eval.samples.quick": "2,000（快速）",
    "eval.samples.card": "10,000（与模型卡相同）",
    "eval.measures": "另外测量",
    "eval.measure.precision_recall": "精确率和召回率（几秒钟）",
    "eval.measure.memorisation": "记忆：最近的训练图像（不到一分钟）",
    "eval.measure.cas": "分类准确率分数（条件模型，约两分钟）",
    "eval.again": "重新测量（不用保存的结果）",
    "eval.run": "评估",
    "eval.results": "结果",
    "eval.shares": "样本中各类别的比例",
    "eval.share": "样本比例",
    "eval.class": "类别",
    "eval.pairs": "最接近某张训练图像的样本（样本 | 训练图像）",
    "eval.pair_caption": "距离 {distance:.2f}",
    "eval.pick_model": "请先从列表中选择一个模型。",
    "eval.not_evaluable": "这个模型无法在这里评估：{reason}",
    "eval.no_data": "这次评估要对比的 {dataset} 图像不在这台服务器上（{reason}）。",
    "eval.broken": "无法读取这个模型的文件夹：{reason}",
    "eval.failed": "评估中途停止了（{detail}）。请再试一次，或者换一个模型。",
    "eval.title": "评估",
    "eval.from_cache": "*这是之前用同样设置评估时保存的结果（勾选**重新测量**可以重新测量）。*",
    "eval.took": "*在这台服务器上用时 {seconds} 秒。*",
    "eval.heading": "**{model}** — {count} 个样本",
    "eval.row.fd": "评判分类器的 FD，样本对测试图像（越低越好）",
    "eval.row.floor": "下限：真实训练图像对测试图像的 FD",
    "eval.row.ratio": "FD ÷ 下限（1 = 与真实图像一样接近）",
    "eval.row.confidence": "评判分类器对样本的平均置信度",
    "eval.row.classes": "出现的类别（占样本 ≥ 1%）",
    "eval.row.min_share": "最小的类别比例",
    "eval.row.blank": "前 {tiles} 个样本中的空白图块",
    "eval.row.blank_share": "全部样本中空白图块的占比",
    "eval.row.conditional": "被判为所要求类别的样本",
    "eval.row.precision": "精确率：看起来像真实图像的样本",
    "eval.row.recall": "召回率：样本覆盖的真实多样性",
    "eval.row.memorised": "比 95% 的测试图像更接近某张训练图像的样本",
    "eval.row.memorised_baseline": "… 不复制训练图像的模型预期的比例",
    "eval.row.cas": "用样本训练的识别器：在真实测试图像上的准确率",
    "eval.row.cas_real": "… 用同样数量的真实图像训练的同一识别器",
    "eval.row.cas_ratio": "… 样本 ÷ 真实（1 = 与真实数据一样有用）",
    "eval.row.neg_elbo": "测试集 −ELBO，每张图像的奈特数",
    "eval.row.iwae": "重要性加权 NLL 上界，奈特（k = {k}）",
    "eval.row.neg_elbo_binarised": "二值化测试集：−ELBO，每张图像的奈特数",
    "eval.row.iwae_binarised": "二值化测试集：重要性加权 NLL 上界，奈特（k = {k}）",
    "eval.row.judge_accuracy": "评判分类器在真实测试图像上的准确率",
    "eval.measure": "测量项",
    "eval.value": "数值",
    "eval.memorisation_read": "下面是与训练图像最接近的样本，从最接近的开始：如果它们是复制品，两张图会一模一样。",
    "eval.stage.loading": "读取测试图像和训练图像",
    "eval.stage.judging": "生成样本并交给评判分类器",
    "eval.stage.precision_recall": "精确率和召回率",
    "eval.stage.memorisation": "为样本寻找最近的训练图像",
    "eval.stage.cas": "分别用生成图像和真实图像训练识别器",
    "eval.stage.likelihood": "测量测试图像的似然",
    "eval.stage.steps": "评判用越来越多的 ODE 步数生成的样本",
    "eval.stage.done": "完成",
    "eval.busy": "服务器上正在进行另一次评估；它结束后就轮到你的。",
    "eval.one_at_a_time": "你在这台服务器上已有一次评估正在等待或进行，所以这次没有开始。请等它结束后再试。",
    "eval.card_heading": "## 在本页面测得",
    "eval.card_when": "*评估标签页，{count} 个样本，{date}（UTC）：*",
    "eval.class_name.circle": "圆形",
    "eval.class_name.square": "正方形",
    "eval.class_name.triangle": "三角形",
}
register(ENGLISH, CHINESE)

# (row key, metric key, how it is written): rows appear when their metric was measured.
ROWS = (
    ("eval.row.fd", "classifier_fd", "{:.2f}"),
    ("eval.row.floor", "classifier_fd_floor", "{:.2f}"),
    ("eval.row.ratio", "classifier_fd_ratio", "{:.1f}×"),
    ("eval.row.confidence", "mean_confidence", "{:.3f}"),
    ("eval.row.classes", "classes_covered", "{:.0f}"),
    ("eval.row.min_share", "min_class_share", "{:.1%}"),
    ("eval.row.blank", "blank_tiles", "{:.0f}"),
    ("eval.row.blank_share", "blank_share", "{:.1%}"),
    ("eval.row.conditional", "conditional_accuracy", "{:.1%}"),
    ("eval.row.precision", "precision", "{:.3f}"),
    ("eval.row.recall", "recall", "{:.3f}"),
    ("eval.row.memorised", "memorisation_share", "{:.1%}"),
    ("eval.row.memorised_baseline", "memorisation_baseline", "{:.1%}"),
    ("eval.row.cas", "cas_accuracy", "{:.1%}"),
    ("eval.row.cas_real", "cas_real_accuracy", "{:.1%}"),
    ("eval.row.cas_ratio", "cas_ratio", "{:.2f}"),
    ("eval.row.neg_elbo", "test_neg_elbo", "{:.2f}"),
    ("eval.row.iwae", "test_iwae_nll", "{:.2f}"),
    ("eval.row.neg_elbo_binarised", "test_neg_elbo_binarised", "{:.2f}"),
    ("eval.row.iwae_binarised", "test_iwae_nll_binarised", "{:.2f}"),
    ("eval.row.judge_accuracy", "judge_test_accuracy", "{:.2%}"),
)


def results_table(evaluation: Evaluation, language: str) -> str:
    """The measured numbers as a Markdown table in the visitor's language (rows for what was measured only)."""
    lines = [f"| {message('eval.measure', language)} | {message('eval.value', language)} |", "|---|---:|"]
    for row_key, metric, form in ROWS:
        value = evaluation.metrics.get(metric)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        label = message(row_key, language, k=int(evaluation.metrics.get("iwae_samples", 0)),
                        tiles=int(evaluation.metrics.get("blank_tile_samples", 0)))
        lines.append(f"| {label} | {form.format(value)} |")
    return "\n".join(lines)


def class_label(name: str, language: str) -> str:
    """A class's name in the visitor's language: the shapes' names are words; digits stay digits."""
    try:
        return message(f"eval.class_name.{name}", language)
    except KeyError:
        return str(name)


def shares_frame(evaluation: Evaluation, language: str = "en") -> pd.DataFrame:
    """Class shares among samples for a bar chart: columns "class" and "share", one row per class, in class order."""
    names = evaluation.class_names or [str(index) for index in range(len(evaluation.class_shares))]
    return pd.DataFrame({"class": [class_label(str(name), language) for name in names],
                         "share": [float(share) for share in evaluation.class_shares]})


def shares_update(evaluation: Evaluation, language: str) -> dict:
    """The bar chart's update: the shares, with axis titles in the visitor's language (none measured: empty)."""
    frame = shares_frame(evaluation, language) if evaluation.class_shares else pd.DataFrame({"class": [], "share": []})
    # From 0, so a class at 26% does not look like nothing next to one at 43%; bars in class order, not by name.
    top = max([*evaluation.class_shares, 0.0])
    return gr.update(value=frame, x_title=message("eval.class", language), y_title=message("eval.share", language),
                     y_lim=[0, min(1.0, top * 1.1) if top > 0 else 1.0], sort=list(frame["class"]))


def pair_picture(pair: NearestPair, scale: int = PAIR_SCALE) -> np.ndarray:
    """A sample and its nearest training image side by side, enlarged without blur, as uint8 (H, W, 3)."""
    def as_rgb(image: Any) -> np.ndarray:
        array = np.asarray(image.numpy() if hasattr(image, "numpy") else image, dtype=np.uint8)  # (C, S, S)
        array = np.repeat(array, 3, axis=0) if array.shape[0] == 1 else array[:3]
        return array.transpose(1, 2, 0)

    sample, training = as_rgb(pair.sample), as_rgb(pair.training)
    gap = np.full((sample.shape[0], max(1, sample.shape[1] // 14), 3), 128, dtype=np.uint8)  # a grey line
    joined = np.concatenate([sample, gap, training], axis=1)
    return joined.repeat(scale, axis=0).repeat(scale, axis=1)


def _prune(folder: Path, keep: int = MAX_CACHE_FILES) -> None:
    """Keep the newest `keep` results in the cache folder (a crowd of models cannot fill the disk)."""
    try:
        files = sorted(folder.glob("*.json"), key=lambda path: path.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in files[keep:]:
        old.unlink(missing_ok=True)


def weights_digest(folder: Path) -> str | None:
    """SHA-256 of a model folder's weight files (what makes it this model), or None when it has none."""
    digest = hashlib.sha256()
    files = sorted(Path(folder).glob("weights-*.safetensors"))
    if not files:
        return None
    for path in files:
        with open(path, "rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class EvaluateHandlers:
    """The tab's callbacks, testable without a browser."""

    def __init__(self, context: ExploreContext, cache_dir: str | os.PathLike | None = None,
                 data_root: str | None = None, sizes: dict[str, int] | None = None) -> None:
        """sizes: FidelityOptions sizes and "quick"/"card" sample counts to use instead of the defaults (tests
        evaluate with a few hundred images)."""
        self.context = context
        self.data_root = data_root
        self.sizes = dict(sizes or {})
        if cache_dir is None:
            workspaces = getattr(context, "workspaces", None)
            root = workspaces.root if workspaces is not None else Path("workspaces").resolve()
            cache_dir = Path(root) / ".evaluations"  # inside the disk budget's folder: counted in its total
        self.cache_dir = Path(cache_dir)
        self.lock = threading.Lock()  # one evaluation running at a time per server
        self.guard = threading.Lock()  # protects in_flight
        self.in_flight: set[str] = set()  # visitors' addresses with an evaluation waiting or running
        self._digests: dict[tuple[str, int, int], str | None] = {}
        if context is not None:
            context.measured = self.card_section

    # -- what the model's card shows afterwards
    def _digest(self, folder: Path) -> str | None:
        """weights_digest, remembered per folder and weight file time and size (a card is drawn at every pick)."""
        files = sorted(Path(folder).glob("weights-*.safetensors"))
        try:
            stamp = (str(folder), *(files[-1].stat().st_mtime_ns, files[-1].stat().st_size)) if files else None
        except OSError:
            return None
        if stamp is None:
            return None
        if stamp not in self._digests:
            if len(self._digests) > 256:
                self._digests.clear()
            self._digests[stamp] = weights_digest(folder)
        return self._digests[stamp]

    def _latest_path(self, folder: Path) -> Path | None:
        digest = self._digest(folder)
        return self.cache_dir / "latest" / f"{digest}.json" if digest else None

    def _keep_latest(self, folder: Path, result: Evaluation, count: int) -> None:
        path = self._latest_path(folder)
        if path is None or (result.from_cache and path.is_file()):  # a kept result keeps the date it was measured
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        stored = {"samples": count, "measured_at": time.time(), "evaluation": evaluation_to_json(result)}
        write_file_atomic(path, json.dumps(stored).encode())
        _prune(path.parent)

    def card_section(self, entry: ModelEntry, language: str) -> str:
        """The newest evaluation of this model in this page, as Markdown for its card ("" when there is none)."""
        path = self._latest_path(entry.path)
        if path is None or not path.is_file():
            return ""
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
            result = evaluation_from_json(stored["evaluation"])
            when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(float(stored["measured_at"])))
            count = int(stored["samples"])
        except (OSError, ValueError, KeyError, TypeError):
            return ""
        return "\n\n".join([message("eval.card_heading", language),
                              message("eval.card_when", language, count=f"{count:,}", date=when),
                              results_table(result, language)])

    def measures(self, path: str | None, request: gr.Request | None = None) -> dict:
        """The measures offered for a model, labelled in the visitor's language (a handler's labels are not
        translated by the browser): CAS only for a conditional model."""
        language = request_language(request)
        entry = self.context.entry(path)
        conditional = bool(entry is not None and entry.num_classes)
        choices = [(message("eval.measure." + name, language), name) for name in MEASURES
                   if name != "cas" or conditional]
        return gr.update(choices=choices)

    @in_words("eval.failed", "eval.title")
    def evaluate(self, path: str | None, samples: Any, measures: Any, again: Any,
                 request: gr.Request | None = None, progress: gr.Progress = gr.Progress()) -> tuple:
        """→ (results Markdown, class-share bar chart, nearest pairs [(picture, caption)], note)."""
        language = request_language(request)
        entry = self.context.entry(path)
        if entry is None:
            raise gr.Error(message("eval.pick_model", language), title=message("eval.title", language))
        card = samples == CARD_SAMPLES or str(samples) == str(CARD_SAMPLES)  # anything else: the quick count
        count = self.sizes.get("card", CARD_SAMPLES) if card else self.sizes.get("quick", QUICK_SAMPLES)
        chosen = set(measures) if isinstance(measures, (list, tuple)) else set()
        fidelity = FidelityOptions(precision_recall="precision_recall" in chosen,
                                   memorisation="memorisation" in chosen,
                                   cas="cas" in chosen and bool(entry.num_classes),
                                   **{name: value for name, value in self.sizes.items()
                                      if name not in ("quick", "card")})
        options = EvaluationOptions(sample_count=count, fidelity=fidelity)

        def report(fraction: float, stage: str) -> None:
            key = f"eval.stage.{stage}"
            try:
                words = message(key, language)
            except KeyError:
                words = stage
            progress(max(0.0, min(1.0, float(fraction))), desc=words)

        self.cache_dir.mkdir(parents=True, exist_ok=True)
        # A fair share: one evaluation per visitor waiting or running (a second one is refused, not queued behind
        # the first), and one running on the server at a time; the others wait here, told so by the progress bar.
        address = client_address(request)
        with self.guard:
            if address in self.in_flight:
                raise gr.Error(message("eval.one_at_a_time", language), title=message("eval.title", language))
            self.in_flight.add(address)
        try:
            while not self.lock.acquire(timeout=0.5):
                progress(0.0, desc=message("eval.busy", language))
            try:
                result = cached_evaluation(entry.path, options, self.cache_dir, data_root=self.data_root,
                                           progress=report, recompute=again is True)
            except EvaluationError as problem:
                raise gr.Error(message("eval.not_evaluable", language, reason=str(problem)),
                               title=message("eval.title", language)) from None
            except DatasetError as problem:
                raise gr.Error(message("eval.no_data", language, dataset=entry.dataset, reason=str(problem)),
                               title=message("eval.title", language)) from None
            except CheckpointError as problem:
                raise gr.Error(message("eval.broken", language, reason=str(problem)),
                               title=message("eval.title", language)) from None
            finally:
                self.lock.release()
        finally:
            with self.guard:
                self.in_flight.discard(address)
        _prune(self.cache_dir)
        self._keep_latest(entry.path, result, count)
        heading = message("eval.heading", language, model=entry.label, count=f"{count:,}")
        note = message("eval.from_cache", language) if result.from_cache else message(
            "eval.took", language, seconds=f"{result.seconds:,.0f}")
        text = "\n\n".join([heading, results_table(result, language), note])
        chart = shares_update(result, language)
        pairs = [(pair_picture(pair), message("eval.pair_caption", language, distance=pair.distance))
                 for pair in result.nearest_pairs]
        pairs_note = message("eval.memorisation_read", language) if pairs else ""
        return text, chart, gr.update(value=pairs, visible=bool(pairs)), pairs_note


def model_picker(context: ExploreContext) -> gr.Dropdown:
    """The tab's model list, made (not yet drawn) and registered before the Train tab is built: the Train tab adds a
    saved model to every list registered by then (its load and save events update them all)."""
    choices = context.choices()
    model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label=t("eval.model"),
                        elem_id="eval-model", render=False)
    context.register(model)
    return model


def build_evaluate_tab(context: ExploreContext, handlers: EvaluateHandlers | None = None,
                       data_root: str | None = None, model: gr.Dropdown | None = None) -> EvaluateHandlers:
    """Lay out the tab inside the current gr.Blocks and wire its events (handlers: the tests' own, else new; model:
    the list from `model_picker`, else one made here)."""
    if handlers is None:
        handlers = EvaluateHandlers(context, data_root=data_root)
    handlers.context = context
    context.measured = handlers.card_section  # the model's card shows what was measured here
    private = {"api_visibility": "private"}
    gr.Markdown(t("eval.intro"), latex_delimiters=LATEX, elem_id="eval-intro")
    model = model if model is not None else model_picker(context)
    first = model.value
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            model.render()
            samples = gr.Radio([(t("eval.samples.quick"), QUICK_SAMPLES), (t("eval.samples.card"), CARD_SAMPLES)],
                               value=QUICK_SAMPLES, label=t("eval.samples"), elem_id="eval-samples")
            entry = context.entry(first)
            offered = [name for name in MEASURES if name != "cas" or (entry is not None and entry.num_classes)]
            measures = gr.CheckboxGroup([(t("eval.measure." + name), name) for name in offered],
                                        value=["precision_recall"], label=t("eval.measures"), elem_id="eval-measures")
            again = gr.Checkbox(False, label=t("eval.again"), elem_id="eval-again")
            run = gr.Button(t("eval.run"), variant="primary", elem_id="eval-run")
        with gr.Column(scale=2, min_width=300):
            results = gr.Markdown(elem_id="eval-results")
            shares = gr.BarPlot(x="class", y="share", x_title=t("eval.class"), y_title=t("eval.share"),
                                label=t("eval.shares"), elem_id="eval-shares", sort="x")
    pairs_note = gr.Markdown(elem_id="eval-pairs-note")
    pairs = gr.Gallery(label=t("eval.pairs"), columns=4, height="auto", object_fit="contain", preview=False,
                       elem_id="eval-pairs", elem_classes=["crisp"], visible=False)  # shown with pairs to show
    model.change(handlers.measures, model, measures, show_progress="hidden", **private)
    # The handler shares the server fairly (one evaluation per visitor, one running at a time, the others told to
    # wait): Gradio's own queue would let one visitor line up evaluation after evaluation ahead of everyone.
    run.click(handlers.evaluate, [model, samples, measures, again], [results, shares, pairs, pairs_note],
              api_name="evaluate", concurrency_limit=None)
    return handlers


__all__ = ["EvaluateHandlers", "build_evaluate_tab", "pair_picture", "model_picker", "results_table", "shares_frame",
           "shares_update"]
