"""The Train tab: a run streams its loss curves, samples and health alarms live; Stop, Resume, Save as.

Each run trains in a worker process of its own (genimg/training/worker.py), so the page's Explore tabs stay
responsive and a failing run cannot take the page down. Runs are bounded: a fair queue with a fixed number
of training slots (a waiting user sees their place; one job per workspace and per client address, a capped
length), a cap on steps and minutes per
run, and a disk quota per user. Runs and saved models live in the user's workspace
(genimg/store/workspace.py); a user only ever sees and stops their own. What the page remembers of a run
is a RunView (genimg/training/runview.py) built from the engine's typed events; this module only turns it
into components.

Closing the tab mid-run stops the run at its next step and saves a checkpoint in the workspace;
reopening the page in the same browser offers Resume from it, and the saved models are listed again.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import threading
import time
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from genimg.config import GAN_LOSSES, ConfigError, ModelConfig, TrainConfig
from genimg.data.datasets import DATASET_NAMES, mnist_available
from genimg.models import registry
from genimg.models.loading import on_zerogpu, resolve_device
from genimg.recipes import PRESETS, dataset_shape, training_precision
from genimg.store import limits as disk_limits
from genimg.store.checkpoint import (
    MAX_CARD_BYTES,
    CheckpointError,
    read_config,
    read_model_file,
)
from genimg.store.export import export_model
from genimg.store.workspace import (
    NAME_PATTERN,
    TooManyWorkspaces,
    Workspace,
    WorkspaceError,
    WorkspaceRefusal,
    Workspaces,
    latest_checkpoint,
)
from genimg.training.engine import CheckpointSaved, Progress
from genimg.training.runview import ReplayGrid, RunView, Status, ema_smooth
from genimg.training.worker import (
    Job,
    QueueRefused,
    Ticket,
    TrainingQueue,
    Worker,
    WorkerError,
    WorkerFailed,
    WorkerPool,
    stream_reader,
)
from genimg.ui.compare_runs import (
    ALL_QUANTITIES,
    SETTINGS_SHOWN,
    RunRefused,
    RunSummary,
    comparable_runs,
    quantity_frame,
    resolve_run,
    run_started,
    save_curves,
    summarize,
)
from genimg.ui.context import ExploreContext, client_address, proxy_hops
from genimg.ui.i18n import message, register, request_language, t

# The words of the installation's limits (disk full, queue full, one job per visitor); registering the same text
# again elsewhere is fine.
register(disk_limits.ENGLISH, disk_limits.CHINESE)
register(
    {"train.tab": "Train",
     "train.intro": "Train a GAN, a VAE or a flow from scratch and watch it learn: the loss curves, a grid of samples from "
                    "fixed latent vectors, and alarms in plain words when training goes wrong. **Save as** puts the "
                    "model in every Explore tab (marked ★).",
     "train.model": "Model", "train.dataset": "Dataset", "train.upload": "Your images (a .zip of pictures; "
                    "sub-folders become classes)",
     "train.latent": "Latent size", "train.steps": "Steps", "train.batch": "Batch size",
     "train.lr_g": "Learning rate (generator / VAE)", "train.lr_d": "Learning rate (discriminator)",
     "train.beta": "β (weight of the VAE's KL term)", "train.loss": "GAN loss", "train.advanced": "Settings",
     "train.start": "Start", "train.stop": "Stop", "train.resume": "Resume",
     "train.save_name": "Name", "train.save": "Save as", "train.samples": "Samples (fixed latents)",
     "train.losses": "Losses", "train.aux": "Discriminator outputs / KL", "train.alarms": "Health",
     "train.aux_gan": "Discriminator outputs", "train.aux_vae": "KL", "train.aux_flow": "Loss on each third of the path",
     "train.replay": "Replay: training time", "train.replay_image": "Samples at that step",
     "train.open_step": "Open this step in Explore", "train.yours": "Your models",
     "train.delete": "Delete", "train.status": "Status", "train.save_placeholder": "my-digits",
     "train.smoothing": "Smoothing (the faint curve is the raw one)", "train.log_scale": "Log scale (losses)",
     "train.losses_log": "Losses, log₁₀ scale (1 = 10, 0 = 1, −1 = 0.1)",
     "train.samples_heading": "**Samples** from fixed latent vectors", "train.replay_heading": "**Samples at that step**",
     "train.download": "Download as .zip", "train.download_file": "Your model (config.json, weights, card)",
     "train.open_latent": "Open in Latent space",
     "train.more": "More settings", "train.width": "Width (feature maps of the first layer; 0 = the recipe's)",
     "train.ema": "EMA of the weights (e.g. 0.999; 0 = off)", "train.spectral": "Spectral norm in the discriminator",
     "train.kl_warmup": "KL warm-up (steps to ramp β up from 0)", "train.seed": "Seed (0 = a random one)"},
    {"train.tab": "训练",
     "train.intro": "从零训练一个 GAN、VAE 或流模型并看着它学习：损失曲线、固定隐向量的样本网格，以及训练出问题时的通俗警报。"
                    "**另存为** 会把模型放进所有探索页（标 ★）。",
     "train.model": "模型", "train.dataset": "数据集", "train.upload": "你的图片（图片 .zip；子文件夹即类别）",
     "train.latent": "隐空间维度", "train.steps": "步数", "train.batch": "批大小",
     "train.lr_g": "学习率（生成器 / VAE）", "train.lr_d": "学习率（判别器）",
     "train.beta": "β（VAE 中 KL 项的权重）", "train.loss": "GAN 损失", "train.advanced": "设置",
     "train.start": "开始", "train.stop": "停止", "train.resume": "继续",
     "train.save_name": "名称", "train.save": "另存为", "train.samples": "样本（固定隐向量）",
     "train.losses": "损失", "train.aux": "判别器输出 / KL", "train.alarms": "健康状况",
     "train.aux_gan": "判别器输出", "train.aux_vae": "KL", "train.aux_flow": "路径每三分之一段上的损失",
     "train.replay": "回放：训练时间", "train.replay_image": "该步的样本",
     "train.open_step": "在探索页打开这一步", "train.yours": "你的模型",
     "train.delete": "删除", "train.status": "状态", "train.save_placeholder": "我的数字",
     "train.smoothing": "平滑（浅色曲线为原始值）", "train.log_scale": "对数刻度（损失）",
     "train.losses_log": "损失，log₁₀ 刻度（1 = 10，0 = 1，−1 = 0.1）",
     "train.samples_heading": "**样本**：来自固定的隐向量", "train.replay_heading": "**该步的样本**",
     "train.download": "下载 .zip", "train.download_file": "你的模型（配置、权重、模型卡）",
     "train.open_latent": "在隐空间页打开",
     "train.more": "更多设置", "train.width": "宽度（第一层的特征图数；0 = 采用配方的值）",
     "train.ema": "权重的 EMA（例如 0.999；0 = 关闭）", "train.spectral": "判别器使用谱归一化",
     "train.kl_warmup": "KL 预热（β 从 0 升起所用的步数）", "train.seed": "种子（0 = 随机选一个）"},
)

_MESSAGES = {
    "cancelled_start": ("Cancelled while waiting in the queue; nothing was started.", "已在排队时取消，没有开始训练。"),
    "cancelled_resume": ("Cancelled while waiting in the queue; nothing was resumed.", "已在排队时取消，没有继续训练。"),
    "not_started": ("**Not started:** {error}", "**未开始：** {error}"),
    "not_resumed": ("**Not resumed:** {error}", "**未继续：** {error}"),
    "already": ("**A run is already going in this tab.** Stop it first.", "**此页面已有训练在进行。** 请先停止它。"),
    "starting": ("Starting {title}: loading the data and building the model…", "正在启动 {title}：加载数据并构建模型…"),
    "started": ("Training {title}: {parameters} parameters, {images} images, on {device} ({precision}).",
                "正在训练 {title}：{parameters} 个参数，{images} 张图片，设备 {device}（{precision}）。"),
    "training": ("Training {title} · {speed} images/s · {elapsed} elapsed", "正在训练 {title} · 每秒 {speed} 张图片 · 已用 {elapsed}"),
    "finished": ("finished", "完成"), "by_user": ("stopped by the user", "已被用户停止"),
    "time_limit": ("stopped at the time limit", "已达到时间上限而停止"),
    "ended": (("**Run {why}** at step {step} after {elapsed}; its checkpoint is saved. Name it and press **Save as** "
               "to explore it, or **Resume** to train on."),
              "**训练{why}**：第 {step} 步，用时 {elapsed}；检查点已保存。起个名字并点 **另存为** 即可探索它，或点 **继续** 接着训练。"),
    "diverged": ("**Stopped: training diverged** ({loss} became {value}) at step {step}.",
                 "**已停止：训练发散**（{loss} 变成了 {value}），第 {step} 步。"),
    "kept": ("The last good checkpoint (step {step}) is kept.", "保留了最后一个正常的检查点（第 {step} 步）。"),
    "nothing_kept": ("Nothing was saved before it.", "在此之前没有保存任何内容。"),
    "failed": ("**Training failed:** {error}", "**训练失败：** {error}"),
    "unexpected": ("**The training process ended unexpectedly.**", "**训练进程意外结束。**"),
    "waiting": ("Waiting in the training queue: you are number {position} in line. **Stop** leaves the queue.",
                "正在训练队列中等待：你排在第 {position} 位。点 **停止** 即可离开队列。"),
    # A run the worker stopped because the disk was full: the limits' own sentences, with the step reached.
    "disk_full": (disk_limits.ENGLISH["limits.disk_full"] + " (Step {step}, after {elapsed}.)",
                  disk_limits.CHINESE["limits.disk_full"] + "（第 {step} 步，用时 {elapsed}。）"),
    "budget_full": (disk_limits.ENGLISH["limits.budget_full"] + " (Step {step}, after {elapsed}.)",
                    disk_limits.CHINESE["limits.budget_full"] + "（第 {step} 步，用时 {elapsed}。）"),
    "leaves_queue": ("Cancelled: your run leaves the queue without starting.", "已取消：你的训练离开队列，不会开始。"),
    "nothing": ("Nothing is training in this tab.", "此页面没有正在进行的训练。"),
    "stopping": ("Stopping: the run saves a checkpoint at its next step…", "正在停止：训练会在下一步保存检查点…"),
    "no_replay": ("Nothing to replay yet: start a run.", "还没有可回放的内容：先开始训练。"),
    "not_saved": ("**Not saved:** {error}", "**未保存：** {error}"),
    "saved": ("Saved **{name}** (step {step}). It is now in every Explore tab's model list, marked ★.",
              "已保存 **{name}**（第 {step} 步）。它已出现在所有探索页的模型列表中，标 ★。"),
    "not_opened": ("**Not opened:** {error}", "**未打开：** {error}"),
    "opened": ("Step {step} is now in every Explore tab's model list as **★ {name}**.",
               "第 {step} 步已作为 **★ {name}** 出现在所有探索页的模型列表中。"),
    "not_deleted": ("**Not deleted:** {error}", "**未删除：** {error}"),
    "last_run": (("Your last run ({run}) is kept at step {step}: **Resume** trains it on, **Save as** keeps it "
                  "as a model."), "你上次的训练（{run}）保存在第 {step} 步：点 **继续** 接着训练，点 **另存为** 把它存为模型。"),
    "usage": ("{count} saved model(s); your workspace uses {used} MB of {quota} MB.",
              "已保存 {count} 个模型；你的工作区已用 {used} MB，共 {quota} MB。"),
    "too_many_workspaces": (
        ("**No workspace for this page:** too many new workspaces were opened from your address lately; reload in "
         "about {minutes} min (a browser that opened the page before keeps its own). The other tabs work as usual."),
        ("**此页面没有工作区：** 你的网络地址最近打开的新工作区太多；请约 {minutes} 分钟后重新加载（之前打开过本页的浏览器会保留自己的"
         "工作区）。其他标签页照常可用。")),
    "deleted": ("Deleted **{name}**.", "已删除 **{name}**。"),
    "field_whole": ("{field} must be a whole number from {low} to {high}; {value} is not one.",
                    "{field}必须是 {low} 到 {high} 之间的整数，{value} 不是整数。"),
    "field_range": ("{field} = {value} is not accepted: choose {low} to {high}.",
                    "{field} = {value} 不可用：请选择 {low} 到 {high} 之间的值。"),
    "field_number": ("{field}: {value} is not a number; choose {low} to {high}.",
                     "{field}：{value} 不是数字；请选择 {low} 到 {high} 之间的值。"),
    "duration_long": ("{minutes} min {seconds:02d} s", "{minutes} 分 {seconds:02d} 秒"),
    "duration_short": ("{seconds} s", "{seconds} 秒"),
    "progress": ("step {step} of {total} ({percent}%)", "第 {step} 步，共 {total} 步（{percent}%）"),
    "eta": (" · about {duration} left", " · 约剩 {duration}"),
    "replay_caption": ("Step {step}, {elapsed} into training ({position} of {count} grids kept).",
                       "第 {step} 步，训练开始后 {elapsed}（保留的 {count} 个网格中的第 {position} 个）。"),
    "title": ("{model} on {dataset}", "{model} · {dataset}"),
    "device": (("Training runs on **{where}** in a process of its own. Each run is capped at {steps} steps and "
                "{minutes} minutes; {slots} run(s) at a time, others wait in a queue. Your models are kept for "
                "{hours} h (up to {quota} MB)."),
               ("训练在 **{where}** 上的独立进程中运行。每次训练最多 {steps} 步、{minutes} 分钟；同时最多 {slots} 个训练，其余排队等候。"
                "你的模型保留 {hours} 小时（最多 {quota} MB）。")),
    "device_cuda": ("CUDA GPU ({name}), bf16 mixed precision", "CUDA GPU（{name}），bf16 混合精度"),
    "device_mps": ("Apple GPU (MPS)", "Apple GPU（MPS）"),
    "device_cpu_one": ("CPU (1 thread)", "CPU（1 个线程）"),
    "device_cpu_many": ("CPU ({threads} threads)", "CPU（{threads} 个线程）"),
    # A ZeroGPU Space lends its GPU to short drawing calls only; a run of minutes trains on the CPU.
    "device_zerogpu": ("CPU ({threads} thread(s); on this ZeroGPU Space the GPU is lent to drawing pictures only)",
                       "CPU（{threads} 个线程；在这个 ZeroGPU Space 上，GPU 只借给生成图片使用）"),
    "axis_step": ("step", "步数"), "axis_loss": ("loss", "损失"), "axis_aux": ("value", "数值"),
    "axis_series": ("curve", "曲线"),
    "raw_series": ("{name} · raw", "{name} · 原始"),
    "all_clear": ("✓ No health alarms: the losses, gradients and samples look normal for this stage.",
                  "✓ 没有健康警报：在这一阶段，损失、梯度和样本看起来都正常。"),
    "alarm": ("**⚠ {title}.** {explanation} *Try:* {advice}", "**⚠ {title}。** {explanation} *可以尝试：*{advice}"),
    "choose_model": ("choose one of your models first (Save as puts one in the list)",
                     "请先选择你的一个模型（点 另存为 即可把模型放进列表）"),
    "not_exported": ("Not downloaded: {error}", "未能下载：{error}"),
    "not_in_latent": ("Not opened: {error}", "未能打开：{error}"),
    "latent_refuses": ("the Latent space tab does not offer {name}", "隐空间页不提供 {name}"),
    "name_reserved": (("the name {name} is reserved: a name ending in '{suffix}' marks a model still being copied, "
                      "which the lists skip and the next save clears; choose another name"),
                      "名称 {name} 是保留名称：以“{suffix}”结尾的名称表示尚未复制完的模型，列表会跳过它，下次保存会把它清除；请换一个名称"),
    "name_invalid": (("the name {name} is not accepted: use 1–40 letters, digits, spaces, '-', '_' or '.', starting "
                     "with a letter or digit"),
                     "名称 {name} 不可用：请用 1–40 个字母、数字、空格、“-”、“_”或“.”，并以字母或数字开头"),
}
register({f"train.msg.{key}": english for key, (english, _) in _MESSAGES.items()},
         {f"train.msg.{key}": chinese for key, (_, chinese) in _MESSAGES.items()})


def say(key: str, language: str, **values: Any) -> str:
    """A Train-tab message in the visitor's language (details from the library stay in English)."""
    return message(f"train.msg.{key}", language, **values)


def refusal_words(error: BaseException, language: str) -> str:
    """What a refusal says to the visitor: a setting or a name in their language, a workspace refusal by its message
    key (WorkspaceError.key), anything else in the library's English details."""
    if isinstance(error, (FieldError, NameRefused)):
        return error.words(language)
    key = getattr(error, "key", "")
    if key:
        return message(key, language, **getattr(error, "values", {}))
    return str(error)


UPLOAD = "upload"
# Each dataset's name on the page, in English and Chinese (the dataset's own name kept where it is a name).
DATASET_NAMES_SHOWN = {"mnist": ("MNIST digits", "MNIST 手写数字"), "fashion-mnist": ("Fashion-MNIST", "Fashion-MNIST 服饰"),
                       "cifar10": ("CIFAR-10", "CIFAR-10 彩色照片"),
                       "shapes": ("Shapes (built in, no download)", "Shapes 几何图形（内置，无需下载）"),
                       UPLOAD: ("Your images (.zip)", "你的图片（.zip）")}
# The Chinese name of each model preset (genimg/recipes.py labels them in English); a preset added later without
# one shows its English label.
PRESET_NAMES_CHINESE = {"dcgan": "DCGAN", "cdcgan": "条件 DCGAN", "vae": "VAE", "cvae": "条件 VAE",
                        "seed-gan": "原始文章的 GAN", "seed-vae": "原始文章的 VAE", "flow": "流匹配",
                        "cflow": "条件流匹配"}
GAN_LOSS_NAMES = {"nonsaturating": ("non-saturating", "非饱和"), "hinge": ("hinge", "铰链（hinge）")}
register({**{f"train.data.{key}": english for key, (english, _) in DATASET_NAMES_SHOWN.items()},
          **{f"train.preset.{key}": preset.label for key, preset in PRESETS.items()},
          **{f"train.gan_loss.{key}": english for key, (english, _) in GAN_LOSS_NAMES.items()}},
         {**{f"train.data.{key}": chinese for key, (_, chinese) in DATASET_NAMES_SHOWN.items()},
          **{f"train.preset.{key}": PRESET_NAMES_CHINESE.get(key, preset.label) for key, preset in PRESETS.items()},
          **{f"train.gan_loss.{key}": chinese for key, (_, chinese) in GAN_LOSS_NAMES.items()}})
DATASET_CHOICES = [(t(f"train.data.{key}"), key) for key in DATASET_NAMES_SHOWN]
# (label, key) → what it builds (genimg/recipes.py); each preset's recipe fills the settings when it is chosen.
MODEL_CHOICES = [(t(f"train.preset.{key}"), key) for key in PRESETS]
# (image size, channels, classes) of each dataset; an upload is resized to 32×32 colour, classes from folders.
DATASET_SHAPES = {name: dataset_shape(name) for name in DATASET_NAMES} | {UPLOAD: (32, 3, 0)}
MAX_LATENT = 512
MAX_BATCH = 512
MAX_LEARNING_RATE = 0.01
MAX_BETA = 100.0
UPDATE_INTERVAL_S = 0.5  # the page is updated at most this often (Stop and tab-close are noticed sooner)


@dataclass(frozen=True)
class Limits:
    """What one run may use; the defaults come from the environment (see README)."""

    max_steps: int
    max_seconds: float
    slots: int
    threads: int | None

    @classmethod
    def from_environment(cls, on_gpu: bool) -> Limits:
        minutes = float(os.environ.get("GENIMG_MAX_RUN_MINUTES", "60" if on_gpu else "15"))
        threads = os.environ.get("GENIMG_TRAIN_THREADS")
        return cls(max_steps=int(os.environ.get("GENIMG_MAX_STEPS", "200000" if on_gpu else "50000")),
                   max_seconds=60.0 * minutes, slots=int(os.environ.get("GENIMG_TRAIN_SLOTS", "1")),
                   threads=int(threads) if threads else (None if on_gpu else max(1, os.cpu_count() or 1)))


class FieldError(ConfigError):
    """A page field refused: str() words it in English for the library's callers; `words(language)` words it
    for the visitor, naming the field by its label on the page (`field` is its i18n key, e.g. "train.steps")."""

    def __init__(self, english: str, *, field: str | None, problem: str, shown: str, low: float,
                 high: float) -> None:
        super().__init__(english)
        self.field, self.problem, self.shown, self.low, self.high = field, problem, shown, low, high

    def words(self, language: str) -> str:
        if self.field is None:
            return str(self)
        return say(f"field_{self.problem}", language, field=message(self.field, language), value=self.shown,
                   low=f"{self.low:g}", high=f"{self.high:,g}")


def _number(value: Any, name: str, low: float, high: float, *, integer: bool = False,
            field: str | None = None) -> float:
    """A page field as a number within [low, high], or a FieldError in plain words (`field`: the i18n key of
    the field's label, so the visitor reads its name in their language).

    Whole-number fields take the float the page sends as it is (their gr.Number has no precision, which
    would round 2.5 to 2 before any handler sees it) and refuse a fraction here."""
    shown = repr(value) if len(repr(value)) <= 24 else repr(value)[:20] + "…"  # 10**308 has 309 digits
    shown = shown[:-2] if shown.endswith(".0") and isinstance(value, float) else shown  # 64.0 from the page

    def refuse(english: str, problem: str) -> FieldError:
        return FieldError(english, field=field, problem=problem, shown=shown, low=low, high=high)

    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        raise refuse(f"{name} = {shown} is not accepted: choose {low:g} to {high:,g}", "range") from None
    except (TypeError, ValueError):
        raise refuse(f"{name}: {shown} is not a number; choose {low:g} to {high:,g}", "number") from None
    if not math.isfinite(number) or not low <= number <= high:
        raise refuse(f"{name} = {shown} is not accepted: choose {low:g} to {high:,g}", "range")
    if integer:
        if number != int(number):
            raise refuse(f"{name} = {shown} is not accepted: a whole number from {low:g} to {high:,g}", "whole")
        return int(number)
    return number


# Endings the workspace gives its own unfinished folders (copy_checkpoint copies a model into "<name>.partial"
# and renames it when done; Workspace.model_folders skips them): a model named so would be hidden from every
# list, and a later save of "<name>" would delete it as an unfinished copy.
RESERVED_NAME_SUFFIXES = (".partial",)


class NameRefused(WorkspaceError):
    """A Save as name refused: str() in English, `words(language)` in the visitor's language."""

    def __init__(self, problem: str, name: str, suffix: str = "") -> None:
        self.problem, self.name, self.suffix = problem, name, suffix
        super().__init__(self.words("en"))

    def words(self, language: str) -> str:
        return say(f"name_{self.problem}", language, name=repr(self.name), suffix=self.suffix)


def check_model_name(name: Any) -> str:
    """The name a model is saved under (trimmed), or NameRefused: the workspace's safe names (NAME_PATTERN), none
    ending in a reserved suffix (case-insensitive: some file systems do not tell 'x.PARTIAL' from 'x.partial')."""
    text = name.strip() if isinstance(name, str) else ""
    shown = text if len(text) <= 60 else text[:57] + "…"
    if not NAME_PATTERN.fullmatch(text):
        raise NameRefused("invalid", shown)
    for suffix in RESERVED_NAME_SUFFIXES:
        if text.lower().endswith(suffix):
            raise NameRefused("reserved", shown, suffix)
    return text


@dataclass(frozen=True)
class MoreSettings:
    """The CLI's further settings (genimg/recipes.py: --width, --ema, --spectral-norm, --kl-warmup, --seed) as the
    page sends them, unchecked. Width 0 or None: the recipe's; EMA None: the recipe's; seed 0 or None: a random
    one (Gradio sends an emptied number field as 0, so 0 is the page's "not chosen")."""

    width: Any = None
    ema: Any = None
    spectral_norm: Any = False
    kl_warmup: Any = 0
    seed: Any = None


MAX_WIDTH = 512
MAX_EMA = 0.9999  # an average that keeps 1 − 1e-4 of itself per step; 1 would never move
MAX_SEED = 2**31 - 1


def _given(value: Any) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def build_config(model_key: str, dataset: str, latent_dim: Any, steps: Any, batch_size: Any, lr_generator: Any,
                 lr_discriminator: Any, beta: Any, gan_loss: str, limits: Limits, *, width: int | None = None,
                 data_root: str | None = None, checkpoints: int = 20,
                 more: MoreSettings | None = None) -> TrainConfig:
    """The TrainConfig for the page's settings, refusing absurd values with a message naming the field. `width`:
    the width when the page leaves it empty (tests build tiny networks), else the recipe's; `more`: the "More
    settings" fields (spectral norm applies to GANs, the KL warm-up to VAEs; each is ignored for the other)."""
    more = more or MoreSettings()
    if model_key not in PRESETS:
        raise ConfigError(f"model {model_key!r} is not offered; choose one of {sorted(PRESETS)}")
    if dataset not in DATASET_SHAPES:
        raise ConfigError(f"dataset {dataset!r} is not offered; choose one of {sorted(DATASET_SHAPES)}")
    preset = PRESETS[model_key]
    recipe, kind = preset.recipe, preset.model_kind
    image_size, channels, classes = DATASET_SHAPES[dataset]
    image_size = kind.fit_image_size(image_size)  # e.g. the seed article's GAN draws 28 px data at 32 px
    if preset.conditional and dataset == UPLOAD:
        classes = 0  # decided by the worker from the zip's sub-folders
    is_gan = kind.family == "gan"
    if _given(more.width) and more.width != 0:
        width = _number(more.width, "width", 1, MAX_WIDTH, integer=True, field="train.width")
    ema = _number(more.ema, "EMA", 0, MAX_EMA, field="train.ema") if _given(more.ema) else recipe.ema_decay
    warmup = _number(more.kl_warmup, "KL warm-up", 0, limits.max_steps, integer=True, field="train.kl_warmup") \
        if _given(more.kl_warmup) and kind.family == "vae" else 0
    seed = _number(more.seed, "seed", 0, MAX_SEED, integer=True, field="train.seed") if _given(more.seed) else 0
    seed = seed or 1 + int(time.time()) % 100_000
    model = ModelConfig(kind=preset.kind, image_size=image_size, channels=channels,
                        spectral_norm=is_gan and more.spectral_norm is True,
                        latent_dim=kind.fixed_latent_dim(image_size, channels) or _number(
                            latent_dim, "latent size", 2 if kind.family == "gan" else 1, MAX_LATENT, integer=True,
                            field="train.latent"),
                        num_classes=classes if preset.conditional else 0, width=width or recipe.width)
    total = _number(steps, "steps", 1, limits.max_steps, integer=True, field="train.steps")
    return TrainConfig(
        model=model, dataset=dataset, data_root=data_root, steps=total,
        batch_size=_number(batch_size, "batch size", 1, MAX_BATCH, integer=True, field="train.batch"),
        lr_generator=_number(lr_generator, "learning rate (generator)", 1e-7, MAX_LEARNING_RATE, field="train.lr_g"),
        lr_discriminator=_number(lr_discriminator, "learning rate (discriminator)", 1e-7, MAX_LEARNING_RATE,
                                  field="train.lr_d"),
        adam_beta1=recipe.adam_beta1, gan_loss=gan_loss if gan_loss in GAN_LOSSES else recipe.gan_loss,
        precision=training_precision(kind),
        beta=_number(beta, "β", 0, MAX_BETA, field="train.beta"), ema_decay=ema, seed=seed, kl_warmup_steps=warmup,
        log_every=5, sample_every=10 * total + 1, sample_every_seconds=1.5,
        checkpoint_every=max(25, math.ceil(total / checkpoints)), max_seconds=limits.max_seconds)


# ------------------------------------------------------------------------------------------ run state
@dataclass
class ActiveRun:
    worker: Worker
    run: Path


@dataclass
class RunOutputs:
    """What each update of a run sets on the page, one field per component, in the order of the events'
    outputs (API clients read them by position: `bench page-digits` reads the alarms). The tab fills one
    with its components and `_outputs` one with their new values; both are read through `fields`, so the
    list of components and the tuple of values cannot drift apart."""

    status: Any
    progress: Any
    losses: Any
    aux: Any
    samples: Any
    alarms: Any
    replay: Any
    replay_image: Any
    caption: Any
    start: Any
    stop: Any
    resume: Any
    view: Any

    def as_tuple(self) -> tuple:
        return tuple(getattr(self, item.name) for item in fields(self))


# An update that changes nothing: lets Gradio notice Stop or a closed tab while a run is quiet.
NOTHING_NEW = RunOutputs(*(gr.skip() for _ in fields(RunOutputs))).as_tuple()


def settled(outputs: tuple) -> tuple:
    """A run's last update once more, leaving alone what the visitor may change after it: the replay (its slider,
    picture and caption), the plots (smoothing, log scale) and the samples. Gradio sends a generator's last yielded
    values again when it ends, which can reach the page after the visitor has moved on (CI saw the replay slider, put
    back to the first grid, jump to the last again); API clients still get the run's status as the result."""
    last = RunOutputs(*outputs)
    for name in ("losses", "aux", "samples", "replay", "replay_image", "caption"):
        setattr(last, name, gr.skip())
    return last.as_tuple()


def _duration(seconds: float, language: str = "en") -> str:
    """'1 min 05 s' / '1 分 05 秒', or '42 s' / '42 秒' under a minute."""
    seconds = max(0, round(seconds))
    if seconds >= 60:
        return say("duration_long", language, minutes=seconds // 60, seconds=seconds % 60)
    return say("duration_short", language, seconds=seconds)


def progress_html(step: int, total: int, eta: float | None, language: str = "en") -> str:
    fraction = 0.0 if not total else min(1.0, step / total)
    eta_text = say("eta", language, duration=_duration(eta, language)) if eta is not None else ""
    line = say("progress", language, step=f"{step:,}", total=f"{total:,}", percent=f"{100 * fraction:.0f}")
    return (f'<div class="genimg-progress"><div style="width:{100 * fraction:.1f}%"></div></div>'
            f"<small>{line}{eta_text}</small>")


# The health alarms (genimg/training/health.py words them in English) in Chinese, by alarm key:
# (title, explanation, advice).
ALARMS_CHINESE = {
    "mode_collapse": ("模式崩溃", ("样本变得越来越相似：不同的隐向量给出几乎相同的图片，说明生成器找到了几张能骗过判别器的图片，"
                      "不再覆盖整个数据。"), "降低学习率（例如 1e-4）、改用铰链（hinge）损失，或在回放中从更早的一步继续。"),
    "discriminator_wins": ("判别器占了上风", ("D(x) 一直接近 1、D(G(z)) 接近 0：判别器每次都能分辨真实图片与生成图片，"
                           "生成器几乎学不到东西。"), "降低判别器的学习率或提高生成器的学习率；铰链（hinge）损失也有帮助。"),
    "vanishing_gradients": ("生成器梯度消失", "生成器的梯度缩小到早期大小的极小一部分，权重几乎不再变化，样本不再改进。",
                            "保留非饱和损失、降低判别器的学习率，或换一个种子重新开始。"),
    "posterior_collapse": ("后验崩溃", "KL 项接近零，只有少数隐维度在用：解码器忽略了隐向量，样本和编码几乎不含输入的信息。",
                           "降低 β、延长 KL 预热，或减小隐空间维度。"),
    "divergence": ("训练发散", "某个损失变成了 NaN 或无穷大；训练已停止，保留了最后一个正常的检查点。",
                   "把学习率降低（例如降到十分之一）后继续，或重新开始。"),
}


def alarms_text(monitor: Any, language: str) -> str:
    """The raised health alarms as Markdown in the visitor's language, or a one-line all-clear."""
    if monitor is None:
        return ""
    alarms = monitor.alarms
    if not alarms:
        return say("all_clear", language)
    lines = []
    for alarm in alarms:
        title, explanation, advice = (ALARMS_CHINESE.get(alarm.key) if language == "zh-CN" else None) or (
            alarm.title, alarm.explanation, alarm.advice)
        lines.append(say("alarm", language, title=title, explanation=explanation, advice=advice))
    return "\n\n".join(lines)


def status_text(status: Status, language: str) -> str:
    """A run's status in the visitor's language: steps and counts with thousands separators, seconds as
    minutes and seconds, the speed in whole images per second."""
    if not status.key:
        return ""
    values: dict[str, Any] = {}
    for name, value in status.values.items():
        if name == "why":
            values[name] = say(value, language)
        elif name == "elapsed":
            values[name] = _duration(value, language)
        elif name == "speed":
            values[name] = f"{value:,.0f}"
        elif isinstance(value, int) and not isinstance(value, bool):
            values[name] = f"{value:,}"
        else:
            values[name] = value
    text = say(status.key, language, **values)
    if status.key == "diverged":
        kept = status.values.get("kept")
        text += " " + (say("kept", language, step=f"{kept:,}") if kept else say("nothing_kept", language))
    return text


# Each curve's name in the legend, (English, Chinese), by the loss the engine reports.
LOSS_SERIES = {"gan": {"generator": ("generator loss", "生成器损失"), "discriminator": ("discriminator loss", "判别器损失")},
               "vae": {"neg_elbo": ("−ELBO (nats)", "−ELBO（nats）"),
                       "reconstruction": ("reconstruction (nats)", "重建（nats）")},
               "flow": {"loss": ("flow-matching loss", "流匹配损失")}}
AUX_SERIES = {"gan": {"d_real": ("D(x), real", "D(x)，真实"), "d_fake": ("D(G(z)), generated", "D(G(z))，生成")},
              "vae": {"kl": ("KL (nats)", "KL（nats）")},
              # the loss on each third of the path from noise (t = 0) to picture (t = 1): genimg.training.engine
              "flow": {"loss_near_noise": ("loss near the noise (t < ⅓)", "靠近噪声处的损失（时间 < ⅓）"),
                       "loss_middle": ("loss mid-path (⅓ ≤ t < ⅔)", "路径中段的损失（⅓ ≤ 时间 < ⅔）"),
                       "loss_near_picture": ("loss near the picture (t ≥ ⅔)", "靠近图像处的损失（时间 ≥ ⅔）")}}


AUX_LABELS = ("train.aux_gan", "train.aux_vae", "train.aux_flow")


def series_name(names: tuple[str, str], language: str) -> str:
    return names[1] if language == "zh-CN" else names[0]


# Each quantity's chart in "Compare two runs" is titled as the Train tab's curves name it.
register({f"train.compare_q.{key}": english for table in (LOSS_SERIES, AUX_SERIES) for names in table.values()
          for key, (english, _) in names.items()},
         {f"train.compare_q.{key}": chinese for table in (LOSS_SERIES, AUX_SERIES) for names in table.values()
          for key, (_, chinese) in names.items()})


DEFAULT_SMOOTHING = 0.6  # TensorBoard's default: the trend shows through a GAN's noisy losses, turns still show
MAX_SMOOTHING = 0.99
# Each curve's colour, (smoothed, raw): the raw curve is drawn in a faint tint of its smoothed curve's colour.
CURVE_COLOURS = (("#2563eb", "#bfdbfe"), ("#ea580c", "#fed7aa"), ("#16a34a", "#bbf7d0"))
MAX_CURVE_SESSIONS = 10_000  # tabs whose curve settings are remembered (the oldest are forgotten beyond it)


@dataclass(frozen=True)
class CurveSettings:
    """How a tab draws its curves: `smoothing`, the weight of the moving average (0: raw curves only; above 0
    the raw curve stays, faint, under the smoothed one), and `log_scale`, log₁₀ of the losses (the plot has
    no log axis, so the values are plotted as their logarithm, non-positive ones left out, and the axis says
    so). The log scale applies to the loss plot only: D(x) and D(G(z)) are probabilities."""

    smoothing: float = DEFAULT_SMOOTHING
    log_scale: bool = False


def _raw_name(name: str, language: str) -> str:
    return say("raw_series", language, name=name)


def plots(view: RunView, curves: CurveSettings | None = None,
          language: str | None = None) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The two plots' data in long format (step, value, series), in `language` (the view's by default). None
    until there are two reports (one point alone gives an axis of one value, ticks like 1.000000); plot_update
    then leaves the plot as it is."""
    curves = curves or CurveSettings()
    language = language or view.language
    if len(view.rows) < 2:
        return None, None
    frames = []
    for plot, names in (("loss", LOSS_SERIES[view.family]), ("aux", AUX_SERIES[view.family])):
        data: list[tuple[int, float, str]] = []
        for key, label in names.items():
            steps = [point.step for point in view.rows if key in point.values]
            values = [float(point.values[key]) for point in view.rows if key in point.values]
            name = series_name(label, language)
            drawn = [(steps, values, name)]
            if curves.smoothing > 0:
                drawn = [(steps, values, _raw_name(name, language)),
                         (steps, ema_smooth(values, curves.smoothing), name)]
            for series_steps, series_values, series in drawn:
                for step, value in zip(series_steps, series_values, strict=True):
                    if plot == "loss" and curves.log_scale:
                        if not (value > 0 and math.isfinite(value)):
                            continue  # no logarithm: a hinge loss can be 0 or negative
                        value = math.log10(value)
                    data.append((step, value, series))
        frame = pd.DataFrame(data, columns=["step", "value", "series"])
        # Fixed dtypes, also when empty: the plot reads its axis types (numbers, not categories) from them.
        frames.append(frame.astype({"step": "int64", "value": "float64", "series": "str"}))
    return frames[0], frames[1]


def plot_update(frame: pd.DataFrame | None, plot: str, language: str, family: str = "gan",
                curves: CurveSettings | None = None) -> Any:
    """What a curve plot is sent: its data with the axis and legend titles in the visitor's language (a LinePlot
    titles them with its column names otherwise) and each curve's colour (the raw one a faint tint of it). `plot`:
    "loss" or "aux".

    Before there is anything to draw (`frame` None) the plot is left as it is (gr.skip(): a second run's plots
    show the first run's curves until its own second report replaces them). Measured with Gradio 6.31 in the
    browser (tests/ui/test_journeys_train.py): a LinePlot that has drawn and is sent None throws "Cannot read
    properties of null (reading 'offsetWidth')" in the page; one sent an empty frame (typed columns) draws its
    axes but never again its lines, legend or y title, whether it had drawn before or not.

    Only the data and the label change with the curve settings. Gradio 6.31's LinePlot redraws the chart from
    scratch when a title, the colours or the legend list change (a list is a new object at every update, so it
    always counts as changed), with the data it held before that update: a one-off update that changed both
    (the smoothing, the log scale) showed the new axis title over the old curves. So the colours always name
    the raw curves too, the legend lists every curve, and the log scale is said in the plot's label."""
    if frame is None:
        return gr.skip()
    curves = curves or CurveSettings()
    names = [series_name(label, language) for label in (LOSS_SERIES if plot == "loss" else AUX_SERIES)[family].values()]
    colours: dict[str, str] = {}
    for name, (strong, faint) in zip(names, CURVE_COLOURS, strict=False):
        colours[name], colours[_raw_name(name, language)] = strong, faint
    extra = {}
    if plot == "loss":
        extra["label"] = message("train.losses_log" if curves.log_scale else "train.losses", language)
    elif f"train.aux_{family}" in AUX_LABELS:  # what the second plot shows depends on the family
        extra["label"] = message(f"train.aux_{family}", language)
    return gr.update(value=frame, x_title=say("axis_step", language), y_title=say(f"axis_{plot}", language),
                     color_title=say("axis_series", language), color_map=colours, **extra)


class TrainHandlers:
    """The tab's handlers; shared by all sessions, with per-session state passed in by Gradio."""

    def __init__(self, context: ExploreContext, workspaces: Workspaces, pool: WorkerPool | None = None,
                 limits: Limits | None = None, width: int | None = None, data_root: str | None = None,
                 checkpoints: int = 20) -> None:
        self.context = context
        self.workspaces = workspaces
        self.device = resolve_device("auto")
        self.limits = limits or Limits.from_environment(self.device.type == "cuda")
        self.pool = pool or WorkerPool(self.limits.threads)
        self.width = width  # tests build tiny networks
        self.data_root = data_root
        self.checkpoints = checkpoints  # saved steps per run (each one a replay step openable in Explore)
        self.active: dict[str, ActiveRun] = {}
        self.curves: dict[str, CurveSettings] = {}
        # Downloads: one folder per workspace, under the system's temporary folder (Gradio serves files from it)
        self.exports = Path(tempfile.gettempdir()) / "genimg-exports"  # each tab's curve settings, read at every update of its run
        # The fair line for training (genimg/training/worker.py): `slots` runs at a time, one job per workspace and
        # per client address, a capped length; each session's place in it, for its Stop button.
        self.queue = TrainingQueue(slots=self.limits.slots, run_seconds=self.limits.max_seconds)
        self.tickets: dict[str, Ticket] = {}
        self.waiting: set[str] = set()     # sessions whose Start or Resume waits in Gradio's queue
        self.cancelled: set[str] = set()   # ... and those of them whose user pressed Stop meanwhile
        self.lock = threading.Lock()
        proxy_hops()  # a malformed GENIMG_PROXY_HOPS stops the server at start, not every new visitor's page load

    # -- descriptions
    def device_text(self, language: str = "en") -> str:
        """Where runs train and what bounds them, in the visitor's language (filled in on every page load)."""
        if self.device.type == "cuda":
            import torch

            where = say("device_cuda", language, name=torch.cuda.get_device_name(self.device))
        elif self.device.type == "mps":
            where = say("device_mps", language)
        else:
            threads = self.limits.threads or 1
            where = say("device_zerogpu" if on_zerogpu() else "device_cpu_many" if threads > 1 else "device_cpu_one",
                        language, threads=threads)
        return say("device", language, where=where, steps=f"{self.limits.max_steps:,}",
                   minutes=f"{self.limits.max_seconds / 60:g}", slots=self.limits.slots,
                   hours=f"{self.workspaces.ttl_seconds / 3600:g}", quota=f"{self.workspaces.quota_bytes / 2**20:.0f}")

    # -- workspace
    def workspace(self, token: str | None) -> Workspace:
        return self.workspaces.get(token)

    def on_load(self, token: str | None, request: gr.Request | None = None) -> tuple:
        """On every page load: keep the browser's token if this server signed it (its runs and saved models are
        listed again, and its last run is offered to Resume), else issue a new one (the only place tokens are
        issued, a few per client address per hour). Outputs: the token to store, the Train status, the
        device line, Start and Resume (enabled once the page has a workspace), then model_updates."""
        language = request_language(request)
        status = ""
        try:
            workspace: Workspace | None = self.workspaces.get(token)
        except WorkspaceError:
            try:
                workspace = self.workspaces.issue(client_address(request))
            except TooManyWorkspaces as error:
                workspace = None
                status = say("too_many_workspaces", language, minutes=max(1, math.ceil(error.retry_seconds / 60)))
        if workspace is not None:
            if workspace.take_eviction_notice():  # once: its work was removed to make room for newer work
                status = message("limits.evicted", language, budget=f"{self.workspaces.budget_bytes / 2**20:.0f}")
            else:
                status = self._last_run_text(workspace, language)
            threading.Thread(target=self.workspaces.clean, kwargs={"keep": {workspace.id}}, daemon=True).start()
        self.pool.warm()  # start a worker now, so Start does not wait for torch to import
        # A refused browser keeps what it holds (gr.skip): a later load, once the limit allows, issues its token.
        ready = gr.update(interactive=workspace is not None)
        return (workspace.token if workspace is not None else gr.skip(), status, self.device_text(language), ready,
                ready, *self.model_updates(workspace, language))

    @staticmethod
    def _last_run_text(workspace: Workspace, language: str) -> str:
        """What Resume would continue after a reload (the workspace's newest resumable run), or ""."""
        run = next(iter(workspace.run_folders()), None)
        if run is None:
            return ""
        try:
            config = read_config(run)
        except CheckpointError:  # a run that has not reached its first checkpoint, or a damaged one
            return ""
        step = config.get("step")
        if not config.get("training_state") or not isinstance(step, int):
            return ""
        return say("last_run", language, run=run.name, step=f"{step:,}")

    def model_updates(self, workspace: Workspace | None, language: str = "en") -> list:
        """New choices for every Explore model dropdown and the 'Your models' list, and the usage line."""
        extra = self.context.user_entries(workspace)
        names = [entry.name for entry in extra]
        usage = ""
        if workspace is not None:
            usage = say("usage", language, count=len(names), used=f"{workspace.used_bytes() / 2**20:.1f}",
                        quota=f"{self.workspaces.quota_bytes / 2**20:.0f}")
        return [*self.context.dropdown_updates(extra), gr.update(choices=names, value=names[0] if names else None),
                usage]

    # -- training
    def start(self, model_key: str, dataset: str, upload: Any, latent_dim: Any, steps: Any, batch_size: Any,
              lr_generator: Any, lr_discriminator: Any, beta: Any, gan_loss: str, token: str | None,
              view: RunView | None, request: gr.Request | None = None, *, more: MoreSettings | None = None):
        """Stream a new run (a generator: Gradio sends each yielded update to the page); `more`: the "More
        settings" (start_with_more_settings passes the page's)."""
        language = request_language(request)
        view = RunView(language=language)
        if self._was_cancelled(request):
            yield self._message(view, Status("cancelled_start"))
            return
        try:
            workspace = self.workspace(token)
            config = build_config(model_key, dataset, latent_dim, steps, batch_size, lr_generator,
                                  lr_discriminator, beta, gan_loss, self.limits, width=self.width,
                                  data_root=self.data_root, checkpoints=self.checkpoints,
                                  more=more)
            upload_path = None
            if dataset == UPLOAD:
                upload_path = _upload_path(upload)
            self.workspaces.check_quota(workspace, keep=self._busy_runs())
        except (ConfigError, WorkspaceError) as error:
            yield self._message(view, Status("not_started", {"error": refusal_words(error, language)}))
            return
        try:  # a place in the line before anything is written: a refused Start leaves no run folder behind
            ticket = self._enter_queue(workspace, request)
        except QueueRefused as error:
            yield self._message(view, Status("not_started", {"error": _refusal(error, language)}))
            return
        try:
            run = workspace.new_run()
        except BaseException:
            ticket.release()
            raise
        config = config.replace(out=str(run))
        job = Job(config=config, upload=upload_path, snapshots=str(run / "steps"), threads=self.limits.threads,
                  classes_from_data=PRESETS[model_key].conditional and dataset == UPLOAD,
                  **self.workspaces.job_limits())
        view = RunView(run=str(run), family=PRESETS[model_key].model_kind.family, language=language,
                       title=run_title(model_key, dataset, language))
        view.begin_session(config)
        yield from self._stream(view, job, request, ticket)

    def start_with_more_settings(self, model_key: str, dataset: str, upload: Any, latent_dim: Any, steps: Any,
                                 batch_size: Any, lr_generator: Any, lr_discriminator: Any, beta: Any, gan_loss: str,
                                 token: str | None, view: RunView | None, width: Any = 0, ema: Any = None,
                                 spectral_norm: Any = False, kl_warmup: Any = 0, seed: Any = 0,
                                 request: gr.Request | None = None):
        """Start as the page's Start button does: the ten settings, the token, then the "More settings" fields
        (last, so API clients that send only the first ten settings and the token keep working)."""
        yield from self.start(model_key, dataset, upload, latent_dim, steps, batch_size, lr_generator,
                              lr_discriminator, beta, gan_loss, token, view, request,
                              more=MoreSettings(width, ema, spectral_norm, kl_warmup, seed))

    def resume(self, steps: Any, token: str | None, view: RunView | None, request: gr.Request | None = None):
        """Continue this tab's last run (or, after a reload, the workspace's newest) for `steps` more steps."""
        language = request_language(request)
        view = view if isinstance(view, RunView) else RunView()
        view.language = language
        if self._was_cancelled(request):
            yield self._message(view, Status("cancelled_resume"))
            return
        try:
            workspace = self.workspace(token)
            more = _number(steps, "steps", 1, self.limits.max_steps, integer=True, field="train.steps")
            run = Path(view.run) if view.run else next(iter(workspace.run_folders()), None)
            if run is None or not workspace.owns(run) or latest_checkpoint(run) is None:
                raise WorkspaceRefusal("workspace.nothing_to_resume")
            config_dict = read_config(run)
            if not config_dict.get("training_state"):
                raise WorkspaceRefusal("workspace.no_training_state")
            self.workspaces.check_quota(workspace, keep=(run, *self._busy_runs()))
            step = int(config_dict.get("step", 0))
            saved = TrainConfig.from_dict(config_dict["training"])
            # A saved config keeps no server path (data_root may be dropped): the page's own data folder then.
            config = saved.replace(
                steps=step + more, max_seconds=self.limits.max_seconds, out=str(run),
                data_root=saved.data_root or self.data_root,
                checkpoint_every=max(25, math.ceil(more / self.checkpoints)), sample_every=10 * (step + more) + 1)
        except (ConfigError, WorkspaceError, CheckpointError, KeyError, TypeError) as error:
            yield self._message(view, Status("not_resumed", {"error": refusal_words(error, language)}))
            return
        if view.run != str(run):
            view = RunView(run=str(run), title=_resumed_title(config_dict, language), language=language)
        view.begin_session(config, family=registry.get(config.model.kind).family,
                           elapsed_before=float(config_dict.get("elapsed_seconds") or 0.0))
        if config.dataset == UPLOAD:
            yield self._message(view, Status("not_resumed", {
                "error": "runs on uploaded pictures cannot be resumed after the upload is gone; save the model, "
                         "or start a new run"}))
            return
        try:
            ticket = self._enter_queue(workspace, request)
        except QueueRefused as error:
            yield self._message(view, Status("not_resumed", {"error": _refusal(error, language)}))
            return
        job = Job(config=config, resume=str(run), snapshots=str(run / "steps"), threads=self.limits.threads,
                  **self.workspaces.job_limits())
        yield from self._stream(view, job, request, ticket)

    def _enter_queue(self, workspace: Workspace, request: gr.Request | None) -> Ticket:
        """This workspace's place in the training line, from the visitor's client address (behind GENIMG_PROXY_HOPS
        proxies, the address the outermost one saw); the place is given up if the page stops reading the run's
        updates. Raises QueueRefused (a job already waiting or running for this workspace or address, a full line)."""
        return self.queue.enter(workspace.id, client_address(request), reading=stream_reader(request))

    def _waiting_outputs(self, view: RunView, position: int) -> tuple:
        """While the job waits in line: its place, and Stop available to leave the line."""
        view.status = Status("waiting", {"position": position})
        waiting = RunOutputs(*(gr.skip() for _ in fields(RunOutputs)))
        waiting.status = status_text(view.status, view.language)
        waiting.start, waiting.stop, waiting.resume = (gr.update(interactive=False), gr.update(interactive=True),
                                                       gr.update(interactive=False))
        waiting.view = view
        return waiting.as_tuple()

    def _stream(self, view: RunView, job: Job, request: gr.Request | None, ticket: Ticket):
        """Wait for `ticket`'s turn (showing the place in line), then run `job` in a worker and stream its
        updates; the ticket's place or slot is given back however this ends (a closed tab included)."""
        session = _session(request)
        view.quota_mb, view.budget_mb = self.workspaces.quota_bytes / 2**20, self.workspaces.budget_bytes / 2**20
        with self.lock:
            self.tickets[session] = ticket
        try:
            last = None
            for outputs in self._stream_in_turn(view, job, session, ticket):
                last = outputs if outputs is not NOTHING_NEW else last
                yield outputs
            if last is not None:
                yield settled(last)
        finally:
            ticket.release()
            with self.lock:
                if self.tickets.get(session) is ticket:
                    del self.tickets[session]

    def _stream_in_turn(self, view: RunView, job: Job, session: str, ticket: Ticket):
        shown = None
        for position in ticket.wait():  # every half second: the page is sent its place when it changes
            yield self._waiting_outputs(view, position) if position != shown else NOTHING_NEW
            shown = position
        if not ticket.may_run or ticket.stopped or ticket.abandoned:  # Stop pressed, or the page went away
            yield self._message(view, Status("cancelled_resume") if job.resume else Status("cancelled_start"))
            return
        with self.lock:
            if session in self.active and self.active[session].worker.alive():
                view.status = Status("already")
                yield self._outputs(view, running=True)
                return
        try:
            worker = self.pool.take()
            ticket.attach(worker)  # a Stop pressed before the worker existed reaches it now
            worker.submit(job)
        except WorkerError as error:
            yield self._message(view, Status("not_started", {"error": str(error)}))
            return
        active = ActiveRun(worker, Path(view.run))
        with self.lock:
            self.active[session] = active
        view.status = Status("starting", {"title": view.title})
        yield self._outputs(view, running=True, curves=self._curves(session))
        last_update = 0.0
        stopping_shown = False
        try:
            for event in worker.events():
                if event is not None:
                    view.apply(event)
                    if isinstance(event, CheckpointSaved):  # the curves up to this save, for comparing runs later
                        self._keep_curves(view)
                if ticket.stopped and not view.ended:  # Stop pressed: say so at once, and until the run has ended
                    view.status = Status("stopping")
                    if not stopping_shown:
                        stopping_shown, last_update = True, time.monotonic()
                        yield self._outputs(view, running=True, curves=self._curves(session))
                        continue
                if event is None:
                    yield NOTHING_NEW  # lets Gradio notice Stop or a closed tab
                    continue
                # Reports come up to ten times a second; the page is updated at most every UPDATE_INTERVAL_S.
                if isinstance(event, Progress) and time.monotonic() - last_update < UPDATE_INTERVAL_S:
                    continue
                last_update = time.monotonic()
                yield self._outputs(view, running=not view.ended, curves=self._curves(session))
                if view.ended:
                    break
        except WorkerError as error:  # a line from the worker the page cannot read: say so, and stop the run
            view.apply(WorkerFailed(str(error)))
            yield self._outputs(view, running=False, curves=self._curves(session))
        finally:
            self._keep_curves(view)
            with self.lock:
                if self.active.get(session) is active:
                    del self.active[session]
            # A closed tab or Stop: the worker saves at its next step and exits on its own.
            worker.stop()
            worker.close()
            if self.pool.prewarm:  # the next Start should not wait for torch to import either
                threading.Thread(target=self.pool.warm, daemon=True).start()
        if not view.ended:  # an ending was already shown by the loop; a second copy would reset the replay slider
            view.ended = True
            yield self._message(view, Status("unexpected"))

    def _curves(self, session: str) -> CurveSettings:
        with self.lock:
            return self.curves.get(session, CurveSettings())

    def redraw(self, smoothing: Any, log_scale: Any, view: RunView | None,
               request: gr.Request | None = None) -> tuple:
        """The smoothing slider or the log-scale box moved: redraw both plots from the tab's run, and keep the
        settings for the rest of its updates (a run streaming now reads them at its next update)."""
        language = request_language(request)
        try:
            weight = _number(smoothing, "smoothing", 0, MAX_SMOOTHING, field="train.smoothing")
        except FieldError as error:
            raise gr.Error(error.words(language)) from None
        curves = CurveSettings(float(weight), log_scale is True)
        with self.lock:
            self.curves.pop(_session(request), None)  # re-inserted last: the newest are kept
            self.curves[_session(request)] = curves
            while len(self.curves) > MAX_CURVE_SESSIONS:
                del self.curves[next(iter(self.curves))]
        view = view if isinstance(view, RunView) else RunView(language=language)
        losses, aux = plots(view, curves)  # in the run's language, as its updates were: only the data changes
        return (plot_update(losses, "loss", view.language, view.family, curves),
                plot_update(aux, "aux", view.language, view.family, curves))

    def queued(self, request: gr.Request | None = None) -> tuple:
        """Start or Resume was pressed (runs at once, unqueued): Stop becomes available to cancel the wait."""
        with self.lock:
            self.waiting.add(_session(request))
        return gr.update(interactive=False), gr.update(interactive=True), gr.update(interactive=False)

    def _was_cancelled(self, request: gr.Request | None) -> bool:
        session = _session(request)
        with self.lock:
            self.waiting.discard(session)
            if session in self.cancelled:
                self.cancelled.discard(session)
                return True
        return False

    def stop(self, request: gr.Request | None = None) -> str:
        """Ask this tab's run (and only this tab's) to save and stop, or cancel its place in the queue: at any
        moment, waiting in line, while its worker starts or loads data, during a step. Answers in a sentence (the
        API's /stop); the page shows what happens in the run's own stream instead (see `stop_from_page`)."""
        return say(self._stop(request), request_language(request))

    def stop_from_page(self, request: gr.Request | None = None) -> Any:
        """The page's Stop button. A run that streams (or waits in line) shows "Stopping…" and then its end in its
        own updates, in order; writing the status from here as well raced them (this answer could reach the page
        after the run's last update and leave "Stopping…" over "stopped by the user"). Only when nothing streams
        for this tab is the status written here."""
        key = self._stop(request)
        return say(key, request_language(request)) if key == "nothing" else gr.skip()

    def _stop(self, request: gr.Request | None) -> str:
        session = _session(request)
        with self.lock:
            ticket = self.tickets.get(session)
            active = self.active.get(session)
            if ticket is None and active is None and session in self.waiting:
                self.cancelled.add(session)
                return "leaves_queue"
        if ticket is not None:
            waiting = ticket.position > 0
            ticket.stop()
            return "leaves_queue" if waiting else "stopping"
        if active is None:
            return "nothing"
        active.worker.stop()
        return "stopping"

    # -- outputs
    def _message(self, view: RunView, status: Status) -> tuple:
        view.status = status
        return self._outputs(view, running=False)

    def _outputs(self, view: RunView, running: bool, curves: CurveSettings | None = None) -> tuple:
        losses, aux = plots(view, curves)
        grids = view.grids
        # While a run goes, the page is updated ~2 times a second but a grid comes every 1.5 s: an unchanged
        # picture is not sent again (each one sent costs the server a PNG encoding the run would feel).
        fresh = view.newest_grid_unshown() or not running
        latest = (grids[-1].image if grids else None) if fresh else gr.skip()
        alarms = alarms_text(view.monitor, view.language)
        bar = progress_html(view.step, view.total, view.eta() if running else None, view.language) if view.total else ""
        count = len(grids)
        if running and not grids:  # a new run before its first grid: the previous run's pictures go
            latest = None
            replay = gr.update(maximum=1, value=0, interactive=False)
            replay_image, caption = None, ""
        elif running:  # the replay only grows: whatever step the user is looking at stays on screen
            replay = gr.update(maximum=max(1, count - 1), interactive=count > 1) if fresh else gr.skip()
            replay_image, caption = gr.skip(), gr.skip()
        else:  # a run ended (or never started): the replay shows its last grid
            replay = gr.update(maximum=max(1, count - 1), value=max(0, count - 1), interactive=count > 1)
            replay_image, caption = latest, _replay_caption(grids, count - 1, view.language) if grids else ""
        return RunOutputs(status=status_text(view.status, view.language), progress=bar,
                          losses=plot_update(losses, "loss", view.language, view.family, curves),
                          aux=plot_update(aux, "aux", view.language, view.family, curves),
                          samples=latest, alarms=alarms, replay=replay, replay_image=replay_image, caption=caption,
                          start=gr.update(interactive=not running), stop=gr.update(interactive=running),
                          resume=gr.update(interactive=not running), view=view).as_tuple()

    # -- replay and saving
    def replay(self, index: Any, view: RunView | None, request: gr.Request | None = None) -> tuple:
        if view is None or not view.grids:
            return None, say("no_replay", request_language(request))
        position = view.grid_position(int(float(index or 0)))
        return view.grids[position].image, _replay_caption(view.grids, position, request_language(request))

    def save_as(self, name: str, token: str | None, view: RunView | None,
                request: gr.Request | None = None) -> tuple:
        language = request_language(request)
        try:
            name = check_model_name(name)
            workspace = self.workspace(token)
            run = Path(view.run) if view is not None and view.run else next(iter(workspace.run_folders()), None)
            if run is None or not workspace.owns(run) or latest_checkpoint(run) is None:
                raise WorkspaceRefusal("workspace.nothing_to_save")
            self.workspaces.check_quota(workspace, keep=(run, *self._busy_runs()))
            saved = workspace.save_model(run, name, card=_card(run, title=name))
        except (WorkspaceError, CheckpointError, OSError) as error:
            return (say("not_saved", language, error=refusal_words(error, language)), *self.model_updates(self._maybe(token), language))
        step = read_config(saved).get("step")
        return (say("saved", language, name=saved.name, step=f"{step:,}"), *self.model_updates(workspace, language))

    def open_step(self, index: Any, token: str | None, view: RunView | None,
                  request: gr.Request | None = None) -> tuple:
        """Save the checkpoint nearest before the replayed step as a model, and list it in Explore."""
        language = request_language(request)
        try:
            workspace = self.workspace(token)
            if view is None or not view.grids or not view.run:
                raise WorkspaceRefusal("workspace.nothing_to_open")
            wanted = view.grids[view.grid_position(int(float(index or 0)))].step
            run = Path(view.run)
            steps = sorted((run / "steps").glob("step-*")) if workspace.owns(run) else []
            chosen = [path for path in steps if int(path.name.split("-")[1]) <= wanted]
            if not chosen:
                raise WorkspaceRefusal("workspace.no_step_checkpoint", step=f"{wanted:,}")
            snapshot = chosen[-1]
            step = int(snapshot.name.split("-")[1])
            name = step_model_name(run, step)
            existing = workspace.model_path(name)
            if existing.exists() and f"(run {run.name})" not in _card_text(existing):
                name = step_model_name(run, step, distinct=True)  # another run, started the same minute
            if not workspace.model_path(name).exists():
                self.workspaces.check_quota(workspace, keep=(run, *self._busy_runs()))
                workspace.save_model(snapshot, name, card=_card(run, step, title=name))
        except (WorkspaceError, CheckpointError, OSError, ValueError) as error:
            return (say("not_opened", language, error=refusal_words(error, language)), *self.model_updates(self._maybe(token), language))
        return (say("opened", language, step=f"{step:,}", name=name), *self.model_updates(workspace, language))

    def _saved_model(self, name: Any, token: str | None, language: str) -> tuple[Workspace, Path]:
        """The workspace and folder of one of the visitor's saved models, or a WorkspaceError (refusal_words words
        it for the visitor)."""
        if not isinstance(name, str) or not name.strip():
            raise WorkspaceError(say("choose_model", language))
        workspace = self.workspace(token)
        folder = workspace.model_path(check_model_name(name))
        if not folder.is_dir() or not (folder / "config.json").is_file():
            raise WorkspaceRefusal("workspace.no_such_model", name=repr(name))
        return workspace, folder

    def download(self, name: Any, token: str | None, request: gr.Request | None = None) -> str:
        """A saved model as a zip (config.json, weights, card) for the page's file box; exports older than an hour
        are removed from the visitor's export folder first."""
        language = request_language(request)
        try:
            workspace, folder = self._saved_model(name, token, language)
            return str(export_model(folder, self.exports / workspace.id, name=folder.name))
        except (WorkspaceError, CheckpointError, OSError) as error:
            raise gr.Error(say("not_exported", language, error=refusal_words(error, language))) from None

    def open_in_latent(self, name: Any, token: str | None, request: gr.Request | None = None) -> tuple:
        """Select the Latent space tab with this saved model chosen in its model list. → (tabs, latent dropdown)"""
        language = request_language(request)
        try:
            workspace, folder = self._saved_model(name, token, language)
            found = next(((filters, first) for dropdown, filters, first in self.context.dropdowns
                          if getattr(dropdown, "elem_id", None) == LATENT_DROPDOWN), None)
            choices = [*found[1], *self.context.choices(extra=self.context.user_entries(workspace), **found[0])] \
                if found is not None else []
            if str(folder) not in [value for _, value in choices]:
                raise WorkspaceError(say("latent_refuses", language, name=repr(folder.name)))
        except (WorkspaceError, CheckpointError, OSError) as error:
            raise gr.Error(say("not_in_latent", language, error=refusal_words(error, language))) from None
        return gr.Tabs(selected=LATENT_TAB), gr.update(choices=choices, value=str(folder))

    def delete(self, name: str, token: str | None, request: gr.Request | None = None) -> tuple:
        language = request_language(request)
        try:
            workspace = self.workspace(token)
            workspace.delete_model(name)
        except (WorkspaceError, OSError) as error:
            return (say("not_deleted", language, error=refusal_words(error, language)), *self.model_updates(self._maybe(token), language))
        return (say("deleted", language, name=name), *self.model_updates(workspace, language))

    # -- comparing two runs
    def _keep_curves(self, view: RunView) -> None:
        """Store the run's curves in its folder (genimg/ui/compare_runs.py), best effort: a full disk or a run folder
        removed meanwhile costs the comparison its curves, never the run."""
        if not view.run or not view.rows:
            return
        try:
            save_curves(Path(view.run), view.family, view.rows)
        except OSError:
            pass

    def compare_open(self, token: str | None, view: RunView | None, smoothing: Any,
                     request: gr.Request | None = None) -> tuple:
        """"Compare two runs" was opened: both lists offer the workspace's runs (newest first, the tab's own marked),
        the first set to the tab's run (else the newest), the second to the newest other one, and those two are
        compared at once. → (first list, second list, *comparison outputs)"""
        language = request_language(request)
        workspace = self._maybe(token)
        current = Path(view.run).name if isinstance(view, RunView) and view.run else None
        choices = []
        for run in comparable_runs(workspace):
            try:
                label = _run_choice_label(read_config(run), run.name, language)
            except CheckpointError:  # a damaged checkpoint: not offered
                continue
            choices.append((say("compare_this_tab", language, label=label) if run.name == current else label, run.name))
        names = [name for _, name in choices]
        first = current if current in names else (names[0] if names else None)
        second = next((name for name in names if name != first), None)
        lists = (gr.update(choices=choices, value=first), gr.update(choices=choices, value=second))
        if second is None:
            return (*lists, *_empty_comparison(say("compare_one" if names else "compare_none", language)))
        assert workspace is not None and first is not None
        return (*lists, *self._comparison(workspace, first, second, smoothing, language))

    def compare(self, first: Any, second: Any, token: str | None, smoothing: Any,
                request: gr.Request | None = None) -> tuple:
        """Compare the two chosen runs: a note, one chart per quantity, each run's latest grid and its caption. A
        value that is not one of the visitor's own runs (a forged name, a path, another workspace's run) is refused
        with a sentence in their language."""
        language = request_language(request)
        try:
            workspace = self.workspace(token)
        except WorkspaceError:
            raise gr.Error(say("compare_refused", language, error=say("compare_no_workspace", language))) from None
        try:
            for value in (first, second):
                resolve_run(workspace, value)
        except RunRefused as error:
            raise gr.Error(say("compare_refused", language, error=error.words(language))) from None
        return self._comparison(workspace, first, second, smoothing, language)

    def _comparison(self, workspace: Workspace, first: str, second: str, smoothing: Any, language: str) -> tuple:
        """The comparison's outputs for two run names of `workspace`: (note, *one plot per quantity, first grid, its
        caption, second grid, its caption, each plot's colours for `recolour`)."""
        if first == second:
            return _empty_comparison(say("compare_same", language))
        try:
            weight = float(_number(smoothing, "smoothing", 0, MAX_SMOOTHING, field="train.smoothing"))
        except FieldError:
            weight = DEFAULT_SMOOTHING
        try:
            summaries = [summarize(resolve_run(workspace, name), _family_of) for name in (first, second)]
        except RunRefused as error:
            raise gr.Error(say("compare_refused", language, error=error.words(language))) from None
        except CheckpointError:  # removed or damaged meanwhile
            raise gr.Error(say("compare_refused", language, error=RunRefused("empty", repr(first)).words(
                language))) from None
        named = [(_series_label(number, summary, language), summary) for number, summary in enumerate(summaries, 1)]
        notes = []
        families = [summary.family for summary in summaries]
        if families[0] != families[1]:
            notes.append(say("compare_families", language, first=_family_name(families[0], language),
                             second=_family_name(families[1], language)))
        notes += [say("compare_no_curves", language, number=number)
                  for number, summary in enumerate(summaries, 1) if not summary.points]
        plots_out, colours = [], []
        # Each run keeps its colour in every chart (also where it is drawn alone); sent by `recolour` once the data is
        # in place (see there).
        run_colours = {name: strong for (name, _), (strong, _) in zip(named, CURVE_COLOURS, strict=False)}
        for key in ALL_QUANTITIES:
            reporting = [(name, summary) for name, summary in named if any(key in point.values for point in summary.points)]
            frame = quantity_frame(key, reporting, weight)
            if frame.empty:  # an empty frame would leave the plot unable to draw lines again: it is hidden instead
                plots_out.append(gr.update(visible=CHART_HIDDEN))
                colours.append(None)
                continue
            label = _quantity_name(key, language)
            if len(reporting) == 1:
                other = next(summary for _, summary in named if summary is not reporting[0][1])
                if other.family != reporting[0][1].family:  # said in the chart's own title
                    label += " — " + say("compare_only", language, number=summaries.index(reporting[0][1]) + 1,
                                         family=_family_name(other.family, language))
            plot = "loss" if key in LOSS_SERIES.get(reporting[0][1].family or "", {}) else "aux"
            plots_out.append(gr.update(visible=True, value=frame, label=label, x_title=say("axis_step", language),
                                       y_title=say(f"axis_{plot}", language), color_title=say("axis_series", language)))
            colours.append(run_colours)
        if weight > 0 and any(summary.points for summary in summaries):
            notes.append(say("compare_smoothed", language, smoothing=f"{weight:g}"))
        grids = []
        for number, summary in enumerate(summaries, 1):
            grids += [summary.grid, _comparison_caption(number, summary, language)]
        return ("\n\n".join(notes), *plots_out, *grids, colours)

    @staticmethod
    def recolour(colours: Any) -> tuple:
        """After a comparison is drawn: each shown chart's colours by run (`colours`: one {series: colour} per chart,
        None for a hidden one). A second step because Gradio 6.31's LinePlot keeps the series it first drew: new data
        with other series names updates the lines but not the colour scale (measured: a second comparison showed the
        first one's legend and no lines), and a change of colours redraws the chart from scratch with the data it
        holds, which must by then be the new comparison's."""
        maps = colours if isinstance(colours, list) and len(colours) == len(ALL_QUANTITIES) else []
        return tuple(gr.update(color_map=chosen) if isinstance(chosen, dict) and chosen else gr.skip()
                     for chosen in (maps or [None] * len(ALL_QUANTITIES)))

    def _busy_runs(self) -> tuple[Path, ...]:
        """Runs training now (in any tab): making room never deletes them."""
        with self.lock:
            return tuple(active.run for active in self.active.values())

    def _maybe(self, token: str | None) -> Workspace | None:
        try:
            return self.workspaces.get(token)
        except WorkspaceError:
            return None


def run_title(model_key: str, dataset: str, language: str) -> str:
    """'DCGAN on Shapes (built in, no download)' / 'DCGAN · Shapes 几何图形（…）': what a run trains, for its status."""
    model = message(f"train.preset.{model_key}", language) if model_key in PRESETS else model_key
    data = message(f"train.data.{dataset}", language) if dataset in DATASET_NAMES_SHOWN else dataset
    return say("title", language, model=model, dataset=data)


def _resumed_title(config: dict, language: str) -> str:
    """A resumed run's title from its saved config (the preset with its kind and conditioning, the dataset)."""
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    conditional = bool(model.get("num_classes"))
    key = next((key for key, preset in PRESETS.items()
                if preset.kind == model.get("kind") and preset.conditional == conditional), str(model.get("kind")))
    return run_title(key, str(config.get("dataset")), language)


def _preset_key(kind: Any, conditional: bool) -> str | None:
    """The Train tab's preset that builds `kind` (conditional or not), or None."""
    return next((key for key, preset in PRESETS.items() if preset.kind == kind and preset.conditional == conditional),
                None)


def _family_of(kind: str) -> str | None:
    """A model kind's family ("gan", "vae", …), or None for a kind genimg does not know."""
    try:
        return registry.get(kind).family
    except (KeyError, ValueError, TypeError):
        return None


def _family_name(family: str | None, language: str = "en") -> str:
    """GAN, VAE: the same in every language; a flow in the visitor's words."""
    if family == "flow":
        return message("samples.family.flow", language)
    return (family or "?").upper()


def _quantity_name(key: str, language: str) -> str:
    """A quantity's name as the Train tab's curves call it ("generator loss", "KL (nats)")."""
    for table in (LOSS_SERIES, AUX_SERIES):
        for names in table.values():
            if key in names:
                return series_name(names[key], language)
    return key


def _when(started: time.struct_time | None, language: str) -> str:
    if started is None:
        return "?"
    month = f"{started.tm_mon}月" if language == "zh-CN" else MONTHS[started.tm_mon - 1]
    return say("compare_when", language, day=started.tm_mday, month=month, time=_clock(started))


def _clock(started: time.struct_time) -> str:
    """When a run started, to the second: two runs of one class often start within the same minute."""
    return f"{started.tm_hour:02d}:{started.tm_min:02d}:{started.tm_sec:02d}"


def _run_choice_label(config: dict, name: str, language: str) -> str:
    """How a run is listed: "DCGAN on Shapes · 2 Dec 06:40:12 · step 120" (what it trains, when, how far)."""
    step = config.get("step")
    return say("compare_choice", language, title=_short_title(config, language), when=_when(run_started(name), language),
               step=f"{step:,}" if isinstance(step, int) and not isinstance(step, bool) else "?")


def _series_label(number: int, summary: RunSummary, language: str) -> str:
    """A run's name in the charts' legends: "1 · DCGAN 06:40" (its place in the comparison keeps two runs of the same
    model and minute apart)."""
    key = _preset_key(summary.kind, summary.conditional)
    model = message(f"train.preset.{key}", language) if key else summary.kind
    started = run_started(summary.name)
    # to the minute: the number already keeps the two apart, and a phone's chart has room for a short legend only
    return say("compare_series", language, number=number, model=model,
               time=f"{started.tm_hour:02d}:{started.tm_min:02d}" if started else "")


def _comparison_caption(number: int, summary: RunSummary, language: str) -> str:
    """Under a run's grid: what it trains, its step, speed and training time at its last save."""
    config = {"model": {"kind": summary.kind, "num_classes": int(summary.conditional)}, "dataset": summary.dataset}
    caption = say("compare_caption", language, number=number, title=_short_title(config, language),
                  step=f"{summary.step:,}",
                  speed=f"{summary.images_per_second:,.0f}" if summary.images_per_second is not None else "?",
                  elapsed=_duration(summary.elapsed_seconds, language) if summary.elapsed_seconds is not None else "?")
    if summary.family in ("gan", "vae", "flow"):
        settings = {name: f"{summary.settings[name]:g}" if name in summary.settings else "?" for name in SETTINGS_SHOWN}
        caption += "  \n" + say(f"compare_settings_{summary.family}", language, **settings)
    return caption if summary.grid is not None else f"{caption}  \n{say('compare_no_grid', language)}"


def _short_title(config: dict, language: str) -> str:
    """A run's title without the dataset's note in brackets ("DCGAN on Shapes", "DCGAN · Shapes 几何图形"): lists and
    captions hold several of them side by side."""
    return re.sub(r"\s*[（(][^（）()]*[)）]\s*$", "", _resumed_title(config, language))


# How a compare chart is hidden: kept in the page, not removed from it. Gradio 6.31's LinePlot, once it has drawn,
# throws "Cannot read properties of null (reading 'offsetWidth')" in the page when it is removed (visible=False): its
# resize observer still reads the element it drew in (measured: three errors, one per VAE chart, each time a GAN and a
# VAE gave way to two GANs).
CHART_HIDDEN = "hidden"


def _empty_comparison(note: str) -> tuple:
    """A comparison that shows only `note`: every chart hidden, no grids."""
    return (note, *(gr.update(visible=CHART_HIDDEN) for _ in ALL_QUANTITIES), None, "", None, "",
            [None] * len(ALL_QUANTITIES))


def _refusal(error: QueueRefused, language: str) -> str:
    """Why the training line refused a job, in the visitor's language (genimg/store/limits.py's sentences)."""
    return message(error.key, language, minutes=error.minutes)


def _session(request: gr.Request | None) -> str:
    return str(getattr(request, "session_hash", None) or "direct-call")


def _upload_path(upload: Any) -> str:
    path = upload if isinstance(upload, str) else getattr(upload, "name", None) or (
        upload.get("path") if isinstance(upload, dict) else None)
    if not path or not Path(path).is_file():
        raise ConfigError("choose a .zip of your pictures first (the upload box under the dataset)")
    return str(path)


def _replay_caption(grids: list[ReplayGrid], position: int, language: str = "en") -> str:
    grid = grids[position]
    return say("replay_caption", language, step=f"{grid.step:,}", elapsed=_duration(grid.elapsed_seconds, language),
               position=position + 1, count=len(grids))


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def step_model_name(run: Path, step: int, *, distinct: bool = False) -> str:
    """A readable name for a run's saved step, listed in every Explore dropdown as
    "★ <name> · <family> · <dataset>": the model, the step and when the run started, e.g.
    "DCGAN step 50 - 2 Dec 02.15". It is also the model's folder name, so it keeps to the workspace's
    safe names (letters, digits, spaces, '-', '_', '.'; at most 40 characters): the time when there is no
    room for it is dropped, the model's name shortened last. `distinct` adds the run's random suffix, for
    two runs of the same model started in the same minute."""
    try:  # only for a name; read_config refuses a config too large, too deep or not a checkpoint's
        model = read_config(run).get("model") or {}
        kind, conditional = model.get("kind"), bool(model.get("num_classes"))
    except (CheckpointError, OSError, AttributeError):
        kind, conditional = None, False
    title = next((preset.label for preset in PRESETS.values()
                  if preset.kind == kind and preset.conditional == conditional), str(kind or "model"))
    title = re.sub(r"[^A-Za-z0-9 _.-]+", " ", title).strip() or "model"
    parts = run.name.split("-")  # run-YYYYMMDD-HHMMSS-xxxx (Workspace.new_run)
    try:
        started = time.strptime(f"{parts[1]}{parts[2]}", "%Y%m%d%H%M%S")
    except (IndexError, ValueError):
        started = time.localtime(run.stat().st_mtime) if run.exists() else None
    when = f"{started.tm_mday} {MONTHS[started.tm_mon - 1]} {started.tm_hour:02d}.{started.tm_min:02d}" if started else ""
    tail = f" {parts[-1]}" if distinct and len(parts) > 1 and re.fullmatch(r"[A-Za-z0-9]+", parts[-1]) else ""
    core = f" step {step}{tail}"
    name = f"{title}{core} - {when}" if when else f"{title}{core}"
    if len(name) > 40:
        name = f"{title}{core}"
    if len(name) > 40:
        name = f"{title[:40 - len(core)].rstrip()}{core}"
    return name


def _card_text(folder: Path) -> str:
    """A saved model's card, read as Explore reads cards (genimg/explore/catalog.py): no symbolic link followed,
    a regular file of at most MAX_CARD_BYTES; "" when there is none or it is refused."""
    try:
        return read_model_file(folder / "README.md", max_bytes=MAX_CARD_BYTES, what="model card").decode(
            "utf-8", "replace")
    except (CheckpointError, OSError):  # FileNotFoundError included: no card
        return ""


def _card(run: Path, step: int | None = None, title: str | None = None) -> str:
    config = read_config(run)
    training = config.get("training") or {}
    model = config.get("model") or {}
    metrics = config.get("metrics") or {}
    losses = ", ".join(f"{name[6:]} {value:.3g}" for name, value in metrics.items()
                       if name.startswith("train_") and isinstance(value, (int, float)))
    return (f"# {title or run.name}\n\nTrained in genimg's Train tab (run {run.name}): {model.get('kind')} (latent {model.get('latent_dim')}, "
            f"width {model.get('width')}, {model.get('num_classes') or 'no'} classes) on {config.get('dataset')}, "
            f"batch {training.get('batch_size')}, learning rates {training.get('lr_generator')} / "
            f"{training.get('lr_discriminator')}, step {step if step is not None else config.get('step')}.\n\n"
            f"Last training losses: {losses or 'n/a'}. Not evaluated: run `python -m genimg eval` on the folder "
            "for its quality figures.\n")


TOKEN_STORAGE_KEY = "genimg-workspace"
LATENT_TAB = "latent"               # the Latent space tab's id in the page's gr.Tabs (app.py)
LATENT_DROPDOWN = "latent-model"    # the elem_id of its model dropdown
LATENT_PICK_EVENT = "latent_pick_model"  # the api_name of its "a model was picked" event


def _parent_tabs() -> gr.Tabs | None:
    """The gr.Tabs this tab is being built in, if any (the page's: the Train tab is one gr.Tab of it)."""
    from gradio.context import Context

    parent = getattr(Context.block, "parent", None)
    return parent if isinstance(parent, gr.Tabs) else None


def _latent_pick_events() -> list[Any]:
    """The Latent tab's own events for a newly picked model (its `latent_pick_model` event and those chained after
    it), found in the page being built; [] when the page has no Latent tab (yet). Opening a model there from here
    runs them, so its image, sliders and strips follow the model as if the visitor had picked it."""
    from gradio.context import Context

    root = Context.root_block
    functions = getattr(root, "fns", {}) if root is not None else {}
    first = next((key for key, function in functions.items() if function.api_name == LATENT_PICK_EVENT), None)
    if first is None:
        return []
    chain, current = [functions[first]], first
    while True:
        following = next((key for key, function in functions.items() if function.trigger_after == current), None)
        if following is None:
            return chain
        chain.append(functions[following])
        current = following


# The compared grids fill their box (they come at their own size, cheaper to encode; the browser enlarges them), and a
# band at the top of the box holds Gradio's fullscreen and download buttons, which otherwise cover the first samples.
COMPARE_CSS = ("#train-compare-grids .image-container { padding-top: 2.6rem; }\n"
               "#train-compare-grids img { width: 100%; height: 100%; object-fit: contain; }")


def workspace_token(workspaces: Workspaces) -> gr.BrowserState:
    """The component that keeps a browser's workspace token in its local storage. Create it at the top of the
    page, outside any tab: a component in a tab the visitor has not opened yet is not mounted when the page
    loads, so the load event would see it empty and the stored token would be replaced. Its encryption key
    comes from the installation's secret (Gradio's default is random per process, which makes a restarted
    server unable to read what browsers stored). The token is never shown: BrowserState has no view."""
    return gr.BrowserState("", storage_key=TOKEN_STORAGE_KEY, secret=workspaces.browser_key())


def preset_values_script() -> str:
    """The browser-side answer to a pick in the model menu: the preset's latent size, steps, batch size, learning
    rates, GAN loss and EMA decay, in the order of the event's outputs (an unknown key keeps the DCGAN preset's)."""
    values = {key: [chosen.recipe.latent_dim, chosen.recipe.steps, chosen.recipe.batch_size,
                    chosen.recipe.learning_rate, chosen.recipe.lr_discriminator, chosen.recipe.gan_loss,
                    chosen.recipe.ema_decay] for key, chosen in PRESETS.items()}
    return f"(key) => {{ const presets = {json.dumps(values)}; return presets[key] || presets.dcgan; }}"


def build_train_tab(context: ExploreContext, handlers: TrainHandlers,
                    token: gr.BrowserState | None = None, tabs: gr.Tabs | None = None) -> dict[str, Any]:
    """Lay out the tab inside the current gr.Blocks and wire its events; returns the components app.py
    needs (the workspace token, and what a page load must refresh). `token`: the page's workspace_token
    (made here when the tab is served alone, e.g. by `bench page-digits` through the API). `tabs`: the page's
    gr.Tabs, for "Open in Latent space" (by default the gr.Tabs the tab is built in; the button is left out
    when there is none, or no Latent space tab built before this one)."""
    tabs = tabs if tabs is not None else _parent_tabs()
    private = {"api_visibility": "private"}
    token = token if token is not None else workspace_token(handlers.workspaces)
    view = gr.State(RunView())
    gr.Markdown(t("train.intro"))
    device = gr.Markdown(handlers.device_text(), elem_id="train-device")  # in the visitor's language on load
    default_dataset = "mnist" if mnist_available(handlers.data_root) else "shapes"
    preset = PRESETS["dcgan"]
    recipe = preset.recipe
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(MODEL_CHOICES, value="dcgan", label=t("train.model"), elem_id="train-model")
            dataset = gr.Dropdown(DATASET_CHOICES, value=default_dataset, label=t("train.dataset"),
                                  elem_id="train-dataset")
            upload = gr.File(label=t("train.upload"), file_types=[".zip"], type="filepath", visible=False,
                             elem_id="train-upload")
            with gr.Accordion(t("train.advanced"), open=False):
                latent = gr.Number(recipe.latent_dim, label=t("train.latent"), elem_id="train-latent")
                steps = gr.Number(recipe.steps, label=t("train.steps"), elem_id="train-steps")
                batch = gr.Number(recipe.batch_size, label=t("train.batch"), elem_id="train-batch")
                lr_g = gr.Number(recipe.learning_rate, label=t("train.lr_g"), elem_id="train-lr-g")
                lr_d = gr.Number(recipe.lr_discriminator, label=t("train.lr_d"), elem_id="train-lr-d")
                beta = gr.Number(1.0, label=t("train.beta"), elem_id="train-beta")
                loss = gr.Radio([(t(f"train.gan_loss.{key}"), key) for key in GAN_LOSS_NAMES], value=recipe.gan_loss,
                                label=t("train.loss"), elem_id="train-loss")
            with gr.Accordion(t("train.more"), open=False, elem_id="train-more"):
                # Width 0 keeps the recipe's; seed 0 draws a random one (the labels say so).
                width = gr.Number(0, label=t("train.width"), elem_id="train-width")
                ema = gr.Number(recipe.ema_decay, label=t("train.ema"), elem_id="train-ema")
                spectral = gr.Checkbox(False, label=t("train.spectral"), elem_id="train-spectral")
                warmup = gr.Number(0, label=t("train.kl_warmup"), elem_id="train-kl-warmup", visible=False)
                seed = gr.Number(0, label=t("train.seed"), elem_id="train-seed")
            with gr.Row():
                # Start and Resume wait for the page's load event, which stores the workspace token they need (a
                # press before it was refused with "reload the page"); on_load enables them.
                start = gr.Button(t("train.start"), variant="primary", interactive=False, elem_id="train-start")
                stop = gr.Button(t("train.stop"), variant="stop", interactive=False, elem_id="train-stop")
                resume = gr.Button(t("train.resume"), interactive=False, elem_id="train-resume")
            status = gr.Markdown(elem_id="train-status")
            progress = gr.HTML(elem_id="train-progress")
            with gr.Row():
                save_name = gr.Textbox(label=t("train.save_name"), placeholder=t("train.save_placeholder"), scale=2,
                                       elem_id="train-save-name")
                save = gr.Button(t("train.save"), scale=1, elem_id="train-save")
            save_status = gr.Markdown(elem_id="train-save-status")
        with gr.Column(scale=2):
            # The label is a heading above the picture, not Gradio's block label over its top-left corner (which
            # covered the first sample); the buttons are fullscreen (a projector view) and download.
            gr.Markdown(t("train.samples_heading"), elem_id="train-samples-heading")
            samples = gr.Image(label=t("train.samples"), show_label=False, type="numpy", format="png",
                               interactive=False, elem_id="train-samples", elem_classes=["crisp"], height=420,
                               buttons=["fullscreen", "download"])
            alarms = gr.Markdown(label=t("train.alarms"), elem_id="train-alarms")
            with gr.Row():
                # Fullscreen: the curves at projector size (presenter view); export: the chart as a PNG
                loss_plot = gr.LinePlot(x="step", y="value", color="series", label=t("train.losses"),
                                        elem_id="train-losses", buttons=["fullscreen", "export"])
                aux_plot = gr.LinePlot(x="step", y="value", color="series", label=t("train.aux"),
                                       elem_id="train-aux", buttons=["fullscreen", "export"])
            with gr.Row():
                smoothing = gr.Slider(0, MAX_SMOOTHING, value=DEFAULT_SMOOTHING, step=0.01, label=t("train.smoothing"),
                                      elem_id="train-smoothing")
                log_scale = gr.Checkbox(False, label=t("train.log_scale"), elem_id="train-log")
    with gr.Accordion(t("train.replay"), open=True), gr.Row():
        with gr.Column(scale=1):
            replay = gr.Slider(0, 1, value=0, step=1, label=t("train.replay"), interactive=False,
                               elem_id="train-replay")
            caption = gr.Markdown(elem_id="train-replay-caption")
            open_step = gr.Button(t("train.open_step"), elem_id="train-open-step")
        with gr.Column(scale=2):
            gr.Markdown(t("train.replay_heading"), elem_id="train-replay-heading")
            replay_image = gr.Image(label=t("train.replay_image"), show_label=False, type="numpy", format="png",
                                    interactive=False, elem_id="train-replay-image", elem_classes=["crisp"],
                                    height=360, buttons=["fullscreen", "download"])
    with gr.Accordion(t("train.yours"), open=False):
        with gr.Row():
            yours = gr.Dropdown([], label=t("train.yours"), elem_id="train-yours", scale=2)
            delete = gr.Button(t("train.delete"), variant="stop", scale=1, elem_id="train-delete")
        latent_dropdown = next((dropdown for dropdown, _, _ in context.dropdowns
                                if getattr(dropdown, "elem_id", None) == LATENT_DROPDOWN), None)
        latent_events = _latent_pick_events()
        can_open = tabs is not None and latent_dropdown is not None and bool(latent_events) and any(
            getattr(child, "id", None) == LATENT_TAB for child in tabs.children)
        with gr.Row():
            download = gr.Button(t("train.download"), elem_id="train-download")
            open_latent = gr.Button(t("train.open_latent"), elem_id="train-open-latent", visible=can_open)
        download_file = gr.File(label=t("train.download_file"), interactive=False, elem_id="train-download-file")
        usage = gr.Markdown(elem_id="train-usage")
    # Two of the visitor's runs side by side, read from their workspace (so they survive a reload): each run's latest
    # grid with its caption (the two columns stack on a phone: each keeps at least 300 px), then one chart per quantity.
    with gr.Accordion(t("train.compare"), open=False, elem_id="train-compare") as compare_accordion:
        gr.HTML("", head=f"<style>{COMPARE_CSS}</style>", container=False, padding=False, elem_id="train-compare-styles")
        gr.Markdown(t("train.compare_intro"))
        with gr.Row():
            # Any value reaches the handler, which answers a forged one in the visitor's language.
            compare_first = gr.Dropdown([], label=t("train.compare_first"), allow_custom_value=True, scale=2,
                                        min_width=240, elem_id="train-compare-first")
            compare_second = gr.Dropdown([], label=t("train.compare_second"), allow_custom_value=True, scale=2,
                                         min_width=240, elem_id="train-compare-second")
            compare_button = gr.Button(t("train.compare_button"), variant="primary", scale=1, min_width=120,
                                       elem_id="train-compare-run")
        compare_note = gr.Markdown(elem_id="train-compare-note")
        compare_grids = []
        with gr.Row(elem_id="train-compare-grids"):
            for number, label in ((1, "train.compare_grid_first"), (2, "train.compare_grid_second")):
                with gr.Column(min_width=300):
                    grid = gr.Image(label=t(label), show_label=False, type="numpy", format="png", interactive=False,
                                    height=300, elem_classes=["crisp"], elem_id=f"train-compare-grid-{number}",
                                    buttons=["fullscreen", "download"])
                    compare_grids += [grid, gr.Markdown(elem_id=f"train-compare-caption-{number}")]
        with gr.Row(elem_id="train-compare-charts"):
            compare_plots = [gr.LinePlot(x="step", y="value", color="series", label=t(f"train.compare_q.{key}"),
                                         visible=False, min_width=480, elem_id=f"train-compare-{key}",
                                         buttons=["fullscreen", "export"]) for key in ALL_QUANTITIES]

    explore_dropdowns = context.taken_dropdowns()
    model_outputs = [*explore_dropdowns, yours, usage]
    run_outputs = list(RunOutputs(status=status, progress=progress, losses=loss_plot, aux=aux_plot, samples=samples,
                                  alarms=alarms, replay=replay, replay_image=replay_image, caption=caption,
                                  start=start, stop=stop, resume=resume, view=view).as_tuple())
    settings = [model, dataset, upload, latent, steps, batch, lr_g, lr_d, beta, loss]

    def preset_visibility(key: str) -> tuple:
        kind = PRESETS.get(key, preset).model_kind
        is_gan, is_vae = kind.family == "gan", kind.family == "vae"
        # a flow's latent is its noise image: no size to choose
        return (gr.update(visible=is_gan), gr.update(visible=is_vae), gr.update(visible=is_gan),
                gr.update(visible=is_vae), gr.update(visible=kind.latent_size is None), gr.update(visible=is_gan))

    # A preset's numbers are set in the browser, at once: from the server they arrived a round trip later (seconds
    # on a busy Space) and overwrote a step count typed meanwhile. Only which fields show goes to the server.
    model.input(None, model, [latent, steps, batch, lr_g, lr_d, loss, ema], js=preset_values_script(), **private)
    model.input(preset_visibility, model, [loss, beta, spectral, warmup, latent, lr_d], **private)
    dataset.change(lambda name: gr.update(visible=name == UPLOAD), dataset, upload, **private)
    # Start and Resume wait in the handlers' own fair line (TrainHandlers.queue), which shows a waiting user their
    # place and refuses a second job per visitor; Gradio's queue lets every job of that line reach it (at most
    # `slots` running and the line's length waiting), so it never holds visitors back in its own first-come order.
    concurrency = {"concurrency_limit": handlers.limits.slots + handlers.queue.length, "concurrency_id": "training"}
    buttons = [start, stop, resume]
    start.click(handlers.queued, None, buttons, queue=False, **private).then(
        handlers.start_with_more_settings, [*settings, token, view, width, ema, spectral, warmup, seed], run_outputs,
        api_name="train",
        show_progress="minimal", **concurrency)
    resume.click(handlers.queued, None, buttons, queue=False, **private).then(
        handlers.resume, [steps, token, view], run_outputs, api_name="resume", show_progress="minimal",
        **concurrency)
    # The page's Stop writes the status only when no run streams (the run's own updates say "Stopping…" and its
    # end, in order); API clients get a sentence from /stop.
    stop.click(handlers.stop_from_page, None, status, queue=False, **private)
    gr.api(handlers.stop, api_name="stop", queue=False)
    # One event for both controls: a redraw waiting behind another runs last with both controls' latest values (two
    # events could finish out of order and leave the plot drawn with the older setting).
    gr.on([smoothing.input, log_scale.input], handlers.redraw, [smoothing, log_scale, view], [loss_plot, aux_plot],
          trigger_mode="always_last", show_progress="hidden", **private)
    replay.input(handlers.replay, [replay, view], [replay_image, caption], trigger_mode="always_last",
                 show_progress="hidden", **private)
    save.click(handlers.save_as, [save_name, token, view], [save_status, *model_outputs], api_name="save")
    open_step.click(handlers.open_step, [replay, token, view], [save_status, *model_outputs], api_name="open_step")
    delete.click(handlers.delete, [yours, token], [save_status, *model_outputs], api_name="delete_model")
    download.click(handlers.download, [yours, token], download_file, api_name="download_model")
    compare_colours = gr.State([])
    compare_outputs = [compare_note, *compare_plots, *compare_grids, compare_colours]
    compare_accordion.expand(handlers.compare_open, [token, view, smoothing], [compare_first, compare_second,
                                                                             *compare_outputs],
                             show_progress="hidden", **private).success(
        handlers.recolour, compare_colours, compare_plots, show_progress="hidden", **private)
    compare_button.click(handlers.compare, [compare_first, compare_second, token, smoothing], compare_outputs,
                         api_name="compare_runs").success(
        handlers.recolour, compare_colours, compare_plots, show_progress="hidden", **private)
    if can_open:
        event = open_latent.click(handlers.open_in_latent, [yours, token], [tabs, latent_dropdown], **private)
        for function in latent_events:  # then the Latent tab draws the model as when it is picked there
            event = event.success(function.fn, function.inputs, function.outputs, show_progress="hidden", **private)
    return {"token": token, "on_load": handlers.on_load,
            "load_outputs": [token, status, device, start, resume, *model_outputs]}


