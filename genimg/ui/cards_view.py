"""Model cards on the page in the visitor's language: written from the model folder's config.json, not its README.

A model folder's README.md is the English card genimg.eval.cards writes from config.json (kind, latent size, data
set, steps, time, device, evaluation numbers) plus notes people wrote between two markers. A Chinese visitor gets the
same card from the same data through the templates below; only what has no structured source — the notes, and the
exact eval command — is taken from the README as written. The notes come from the README's Chinese block when people
translated them (the shipped cards), else in English with a line saying so (a model a user trained). English
visitors get the README itself, which was written from that data, without its Chinese block.
"""

from __future__ import annotations

import re
from typing import Any

from genimg.eval.cards import (
    NOTES_END,
    NOTES_START,
    NOTES_ZH_END,
    NOTES_ZH_START,
    notes_between,
    train_command,
    without_chinese_notes,
)
from genimg.explore.catalog import ModelEntry
from genimg.store.checkpoint import CheckpointError, read_config
from genimg.ui.i18n import message, register

# Evaluation numbers in the order the English card lists them (genimg.eval.metrics.Evaluation.table).
METRICS = ("judge_test_accuracy", "classifier_fd_floor", "classifier_fd", "mean_confidence", "min_class_share",
           "classes_covered", "blank_tiles", "blank_share", "conditional_accuracy", "classifier_fd_ratio", "test_neg_elbo", "test_reconstruction",
           "test_kl", "test_iwae_nll", "test_neg_elbo_binarised", "test_reconstruction_binarised", "test_kl_binarised",
           "test_iwae_nll_binarised", "active_dimensions", "precision", "recall", "memorisation_share",
           "memorisation_baseline", "cas_accuracy", "cas_real_accuracy", "cas_ratio", "sampling_steps", "network_calls",
           "sampling_guidance")

ENGLISH = {
    "card.description": "A {kind}{conditional}{latent}, for {size} images, trained on **{dataset}**{dataset_size} for "
                        "{steps} steps in {duration} on {device}.",
    "card.conditional": ", class-conditional",
    "card.latent": " with a {dimensions}-dimensional latent",
    "card.dataset_size": " ({count} training images)",
    "card.duration": "{minutes} min {seconds} s",
    "card.duration_seconds": "{seconds} s",
    "card.unknown_time": "unknown time",
    "card.sample_command": "`{command}` draws the grid of samples from seed 0.",
    "card.evaluation": "Evaluation",
    "card.evaluation_command": "`{command}` measured:",
    "card.metric": "Measure",
    "card.value": "Value",
    "card.class_shares": "class shares among samples",
    "card.reproduce": "Reproduce",
    "card.cpu_note": "On a CPU, add `--threads 1` to run two trainings side by side. Shipped folders keep weights "
                     "only; `python -m genimg export` strips a run's optimiser state.",
    "card.notes": "Notes",
    "card.notes_english": "*Written by people, in English only:*",
    "card.unreadable": "*The card of {model} could not be read from its folder; this is its README as written.*",
    "card.metric.judge_test_accuracy": "judge's accuracy on the test set",
    "card.metric.classifier_fd_floor": "classifier FD floor, train vs test",
    "card.metric.classifier_fd": "classifier FD, samples vs test (lower is better)",
    "card.metric.mean_confidence": "judge's mean top-class confidence on samples",
    "card.metric.min_class_share": "smallest class share among samples",
    "card.metric.classes_covered": "classes present among samples (≥ 1%)",
    "card.metric.blank_tiles": "blank tiles among the first {tiles} samples (nothing drawn)",
    "card.metric.blank_share": "share of all samples that are blank",
    "card.metric.conditional_accuracy": "samples judged as the requested class",
    "card.metric.classifier_fd_ratio": "classifier FD ÷ floor (judge-independent scale)",
    "card.metric.test_neg_elbo": "test negative ELBO, nats per image",
    "card.metric.test_reconstruction": "of which reconstruction −log p(x|z)",
    "card.metric.test_kl": "of which KL(q(z|x) ‖ p(z))",
    "card.metric.test_iwae_nll": "importance-weighted NLL bound, nats (first {images} test images, k = {samples})",
    "card.metric.active_dimensions": "active latent dimensions (Cov_x E[z|x] > 0.01)",
    "card.metric.test_neg_elbo_binarised": "binarised test set: negative ELBO, nats per image",
    "card.metric.test_reconstruction_binarised": "of which reconstruction −log p(x|z)",
    "card.metric.test_kl_binarised": "of which KL(q(z|x) ‖ p(z))",
    "card.metric.test_iwae_nll_binarised": ("binarised test set: importance-weighted NLL bound, nats (first {images} "
                                            "test images, k = {samples})"),
    "card.metric.precision": "precision: samples inside the test images' manifold (k = 3)",
    "card.metric.recall": "recall: test images inside the samples' manifold",
    "card.metric.memorisation_share": "samples closer to a training image than 95% of test images are",
    "card.metric.memorisation_baseline": "expected for a model that does not copy",
    "card.metric.cas_accuracy": "classification accuracy score: recogniser trained on samples, tested on real",
    "card.metric.cas_real_accuracy": "the same recogniser trained on as many real images",
    "card.metric.cas_ratio": "generated ÷ real (1 = as useful as real data)",
    "card.metric.sampling_steps": "ODE steps each sample was drawn in",
    "card.metric.network_calls": "network calls per sample (NFE; guidance doubles them)",
    "card.metric.sampling_guidance": "classifier-free guidance (1 = none)",
    "card.steps_row": "at {steps} ODE steps",
    "card.steps_value": "confidence {confidence}{accuracy}, {milliseconds} ms per image",
    "card.steps_accuracy": ", requested class {accuracy}",
    "card.kind.DCGAN": "DCGAN",
    "card.kind.convolutional VAE": "convolutional VAE",
    "card.kind.rectified flow": "rectified flow",
    "card.dataset.mnist": "mnist",
    "card.dataset.fashion-mnist": "fashion-mnist",
    "card.dataset.shapes": "shapes",
}
CHINESE = {
    "card.description": "一个 {kind}{conditional}{latent}，生成 {size} 的图像，在 **{dataset}**{dataset_size}上训练了 {steps} 步，"
                        "在 {device} 上用时 {duration}。",
    "card.conditional": "（按类别条件生成）",
    "card.latent": "，隐维度为 {dimensions}",
    "card.dataset_size": "（{count} 张训练图像）",
    "card.duration": "{minutes} 分 {seconds} 秒",
    "card.duration_seconds": "{seconds} 秒",
    "card.unknown_time": "未知时长",
    "card.sample_command": "`{command}` 会画出种子 0 的样本网格。",
    "card.evaluation": "评估",
    "card.evaluation_command": "`{command}` 测得：",
    "card.metric": "指标",
    "card.value": "数值",
    "card.class_shares": "样本中各类别的占比",
    "card.reproduce": "复现",
    "card.cpu_note": "在 CPU 上，加上 `--threads 1` 可以同时并排运行两个训练。随附的模型文件夹只保存权重；"
                     "`python -m genimg export` 会去掉训练中的优化器状态。",
    "card.notes": "说明",
    "card.notes_english": "*以下说明由人撰写，只有英文：*",
    "card.unreadable": "*无法从 {model} 的文件夹读取模型卡的数据；下面是它的英文 README 原文。*",
    "card.metric.judge_test_accuracy": "评判分类器在测试集上的准确率",
    "card.metric.classifier_fd_floor": "分类器 FD 下限（训练集对测试集）",
    "card.metric.classifier_fd": "分类器 FD（样本对测试集，越低越好）",
    "card.metric.mean_confidence": "评判分类器对样本的平均最高类别置信度",
    "card.metric.min_class_share": "样本中最少类别的占比",
    "card.metric.classes_covered": "样本中出现的类别数（≥ 1%）",
    "card.metric.blank_tiles": "前 {tiles} 个样本中的空白图块数（什么也没画）",
    "card.metric.blank_share": "全部样本中空白图块的占比",
    "card.metric.conditional_accuracy": "被判为所要求类别的样本比例",
    "card.metric.classifier_fd_ratio": "分类器 FD ÷ 下限（与评判分类器无关的尺度）",
    "card.metric.test_neg_elbo": "测试集负 ELBO（每张图像的奈特数）",
    "card.metric.test_reconstruction": "其中重建项 −log p(x|z)",
    "card.metric.test_kl": "其中 KL(q(z|x) ‖ p(z))",
    "card.metric.test_iwae_nll": "重要性加权 NLL 上界，奈特（前 {images} 张测试图像，k = {samples}）",
    "card.metric.active_dimensions": "活跃的隐维度（Cov_x E[z|x] > 0.01）",
    "card.metric.test_neg_elbo_binarised": "二值化测试集：负 ELBO（每张图像的奈特数）",
    "card.metric.test_reconstruction_binarised": "其中重建项 −log p(x|z)",
    "card.metric.test_kl_binarised": "其中 KL(q(z|x) ‖ p(z))",
    "card.metric.test_iwae_nll_binarised": "二值化测试集：重要性加权 NLL 上界，奈特（前 {images} 张测试图像，k = {samples}）",
    "card.metric.precision": "精确率：落在测试图像流形内的样本（k = 3）",
    "card.metric.recall": "召回率：落在样本流形内的测试图像",
    "card.metric.memorisation_share": "比 95% 的测试图像更接近某张训练图像的样本",
    "card.metric.memorisation_baseline": "不复制训练图像的模型预期的比例",
    "card.metric.cas_accuracy": "分类准确率分数：用样本训练、在真实图像上测试的识别器",
    "card.metric.cas_real_accuracy": "用同样数量的真实图像训练的同一识别器",
    "card.metric.cas_ratio": "生成 ÷ 真实（1 = 与真实数据一样有用）",
    "card.metric.sampling_steps": "每个样本生成时走的 ODE 步数",
    "card.metric.network_calls": "每个样本的网络调用次数（NFE；引导使其加倍）",
    "card.metric.sampling_guidance": "无分类器引导强度（1 = 不引导）",
    "card.steps_row": "{steps} 步 ODE 时",
    "card.steps_value": "置信度 {confidence}{accuracy}，每张图 {milliseconds} 毫秒",
    "card.steps_accuracy": "，请求类别的准确率 {accuracy}",
    "card.kind.DCGAN": "DCGAN",
    "card.kind.convolutional VAE": "卷积 VAE",
    "card.kind.rectified flow": "整流流模型",
    "card.dataset.mnist": "MNIST 手写数字",
    "card.dataset.fashion-mnist": "Fashion-MNIST 服饰图像",
    "card.dataset.shapes": "几何形状",
}
register(ENGLISH, CHINESE)


def card_for_page(entry: ModelEntry, language: str) -> str:
    """The card shown under "About this model": the README for English (without its Chinese notes), the translated
    card otherwise (the README with a line saying so when config.json cannot be read). Image lines are left out: the
    page does not serve the model folder."""
    if language == "en":
        text = without_chinese_notes(entry.card)
    else:
        try:
            text = translated_card(entry, read_config(entry.path), language)
        except (CheckpointError, KeyError, TypeError, ValueError, OverflowError):
            text = message("card.unreadable", language, model=entry.name) + "\n\n" + entry.card
    return "\n".join(line for line in text.splitlines() if not line.startswith("!["))


def translated_card(entry: ModelEntry, config: dict[str, Any], language: str) -> str:
    """The card of `entry` in `language` from its config.json (as genimg.store.checkpoint.read_config returns it)."""
    model = config["model"]
    title = _kind_title(entry)
    kind = message(f"card.kind.{title}", language) if f"card.kind.{title}" in ENGLISH else title
    dataset = str(config.get("dataset") or entry.dataset)
    dataset_name = message(f"card.dataset.{dataset}", language) if f"card.dataset.{dataset}" in ENGLISH else dataset
    size = f"{int(model['channels'])}×{int(model['image_size'])}×{int(model['image_size'])}"
    dataset_size = config.get("dataset_size")
    lines = [f"# {entry.name}", "", message(
        "card.description", language, kind=kind,
        conditional=message("card.conditional", language) if model.get("num_classes") else "",
        latent=message("card.latent", language, dimensions=int(model["latent_dim"])) if "latent_dim" in model else "",
        size=size, dataset=dataset_name,
        dataset_size=message("card.dataset_size", language, count=f"{int(dataset_size):,}") if dataset_size else "",
        steps=f"{int(config['step']):,}", duration=_duration(config.get("elapsed_seconds"), language),
        device=str(config.get("device", "cpu"))), ""]
    if (entry.path / "samples.png").exists():
        command = f"python -m genimg sample --checkpoint checkpoints/{entry.name} --seed 0 --out grid.png"
        lines += [message("card.sample_command", language, command=command), ""]
    metrics = config.get("metrics") or {}
    rows = _metric_rows(metrics, entry, language)
    if rows:
        lines += [f"## {message('card.evaluation', language)}", ""]
        eval_command = re.search(r"`(python -m genimg eval [^`]*)`", entry.card)  # not in config.json
        if eval_command:
            lines += [message("card.evaluation_command", language, command=eval_command.group(1)), ""]
        lines += [f"| {message('card.metric', language)} | {message('card.value', language)} |", "|---|---|",
                  *(f"| {_cell(label)} | {_cell(value)} |" for label, value in rows), ""]
    if config.get("training"):
        lines += [f"## {message('card.reproduce', language)}", "", "```bash",
                  train_command(config["training"], int(config["step"]), f"runs/{entry.name}"), "```", "",
                  message("card.cpu_note", language), ""]
    translated_notes = _notes(entry.card, NOTES_ZH_START, NOTES_ZH_END) if language == "zh-CN" else ""
    notes = _notes(entry.card, NOTES_START, NOTES_END)
    if translated_notes:
        lines += [f"## {message('card.notes', language)}", "", translated_notes, ""]
    elif notes:
        lines += [f"## {message('card.notes', language)}", "", message("card.notes_english", language), "", notes, ""]
    return "\n".join(lines)


def _kind_title(entry: ModelEntry) -> str:
    try:
        return entry.model_kind.title
    except Exception:  # noqa: BLE001 - a kind this installation lacks: the card names it as written
        return entry.kind


def _metric_rows(metrics: dict[str, Any], entry: ModelEntry, language: str) -> list[tuple[str, str]]:
    """(label, value) for each evaluation number config.json holds, and the class shares when it has them."""
    rows = []
    for name in METRICS:
        value = metrics.get(name)
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        label = message(f"card.metric.{name}", language, images=f"{int(metrics.get('iwae_images', 0) or 0):,}",
                        samples=metrics.get("iwae_samples", 0), tiles=int(metrics.get("blank_tile_samples", 0) or 0))
        rows.append((label, _number(value)))
    shares = metrics.get("class_shares")
    if isinstance(shares, list) and shares and all(isinstance(share, (int, float)) for share in shares):
        names = list(entry.class_names) if len(entry.class_names) == len(shares) else [str(i) for i in range(len(shares))]
        rows.append((message("card.class_shares", language),
                     " ".join(f"{name}:{share:.1%}" for name, share in zip(names, shares, strict=True))))
    curve = metrics.get("steps_curve")
    for row in curve if isinstance(curve, list) else []:
        try:
            accuracy = (message("card.steps_accuracy", language, accuracy=f"{float(row['conditional_accuracy']):.1%}")
                        if "conditional_accuracy" in row else "")
            rows.append((message("card.steps_row", language, steps=int(row["steps"])),
                         message("card.steps_value", language, confidence=f"{float(row['mean_confidence']):.3f}",
                                 accuracy=accuracy, milliseconds=f"{1000 * float(row['seconds_per_image']):.1f}")))
        except (KeyError, TypeError, ValueError):
            continue  # a hand-edited row: the card shows the others
    return rows


def _cell(text: str) -> str:
    """Text for a Markdown table cell: a bar (as in p(x|z)) would end the cell."""
    return text.replace("|", "\\|")


def _number(value: float) -> str:
    """As the English card writes it (genimg.eval.metrics): whole numbers plain, below 1 with 4 decimals, else 2."""
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1:
        return f"{int(value)}"
    if abs(value) < 1:
        return f"{value:.4f}"
    return f"{value:.2f}"


def _duration(seconds: Any, language: str) -> str:
    if not isinstance(seconds, (int, float)) or not seconds or seconds < 0:
        return message("card.unknown_time", language)
    minutes, rest = divmod(round(seconds), 60)
    if minutes:
        return message("card.duration", language, minutes=minutes, seconds=rest)
    return message("card.duration_seconds", language, seconds=rest)


def _notes(card: str, start: str, end: str) -> str:
    """The people-written notes between the card's markers `start` and `end` ("" when there are none or they say
    nothing yet)."""
    notes = notes_between(card, start, end) or ""
    return "" if notes == "Nothing to add yet." else notes


__all__ = ["card_for_page", "translated_card"]
