"""Playground tab: a GAN, a VAE and a flow learn a 2-D distribution live (GAN Lab's idea, for all three families).

Each visitor has a `PlaygroundSession` in gr.State: the trainers (genimg.playground), a lock around them and the flags
that Play's loop reads. Play is a streaming generator (k updates → one frame → yield, at most ~20 frames a second)
that stops when Pause (or Step, Reset) raises the session's flag, when another Play of the same visitor replaces it,
after MAX_PLAY_SECONDS, or when a loss becomes NaN. Frames travel as inline PNG data in a gr.HTML (no file written and
fetched per frame); the page text, not the picture, says what each colour means, in the visitor's language.
"""

from __future__ import annotations

import base64
import html
import inspect
import io
import math
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gradio as gr
import numpy as np
import torch

from genimg.playground import views
from genimg.playground.distributions import DISTRIBUTION_NAMES, MAX_DRAWN_POINTS, PLOT_LIMIT, get_distribution
from genimg.playground.models import (
    MODE_COLLAPSE_FIX,
    MODE_COLLAPSE_PRESET,
    FlowSettings,
    GanSettings,
    Trainer,
    VaeSettings,
)
from genimg.playground.render import render_view
from genimg.playground.session import Playground
from genimg.ui.i18n import message, register, request_language, t

FAMILY_CHOICES = ("gan", "vae", "flow", "all")
FAMILIES_OF = {"gan": ("gan",), "vae": ("vae",), "flow": ("flow",), "all": ("gan", "vae", "flow")}
MAX_PLAY_SECONDS = 180.0  # a play stops by itself after 3 minutes: the CPU is shared with every other visitor
PLAY_SLOTS = 3  # plays running at once, server-wide; a fourth visitor's Play waits in Gradio's queue
STOP_WAIT_SECONDS = 3.0  # how long Pause / Step / Reset wait for a running loop to end before going on anyway
MIN_FRAME_SECONDS = 0.05  # at most 20 frames a second: more would only cost the shared CPU
LOSS_EVERY_SECONDS = 1.0  # the loss plot is redrawn about once a second while playing
SAMPLES_ALONE = 500  # generated points in a lone model's picture
SAMPLES_SIDE_BY_SIDE = 300  # and in each of three side by side (three frames must still fit in a tenth of a second)
SIZE_ALONE = 420  # pixels: a lone picture fills its column on a desktop
SIZE_SIDE_BY_SIDE = 320  # three share a desktop column (~280 px each) or stack on a phone (~360 px): half the pixels
MARKED_POINTS = 5  # the VAE's chosen points, whose posteriors are drawn in the latent plane
LOSS_POINTS = 300  # the loss plot shows at most this many points per curve (averaged over windows)
SKETCH_SIZE = 280
MAX_SKETCH_SIDE = 1024  # a drawing larger than this (an upload, a forged value) is refused
INK_THRESHOLD = 200  # a pixel darker than this on the white pad is ink
SPEED_LIMITS = (1, 50)
WIDTH_LIMITS = (8, 256)
RATE_LIMITS = (1e-5, 0.1)
BETA_LIMITS = (0.0, 10.0)
STEPS_LIMITS = (1, 5)
SEED_LIMIT = 2**31 - 1
FIX_PACK_SIZE = MODE_COLLAPSE_FIX.pack_size
LOSS_COLOURS = ("#1f77b4", "#e6550d", "#2ca02c")

ENGLISH = {
    "playground.tab": "Playground",
    "playground.intro": "Watch a GAN, a VAE and a flow learn a distribution you can see: a plane of 2-D points. "
                        "Press **Play** to train live, **Step** for exactly one update, **Reset** to start again. "
                        "Changing a distribution or a setting starts the model afresh.",
    "playground.distribution": "Distribution",
    "playground.dist.moons": "Two moons",
    "playground.dist.rings": "Two rings",
    "playground.dist.gaussians8": "8 Gaussians on a ring",
    "playground.dist.gaussians25": "25 Gaussians on a grid",
    "playground.dist.spiral": "Spiral",
    "playground.dist.checkerboard": "Checkerboard",
    "playground.dist.drawn": "Your own (draw it below)",
    "playground.family": "Model",
    "playground.family.gan": "GAN",
    "playground.family.vae": "VAE",
    "playground.family.flow": "Flow",
    "playground.family.all": "All three side by side",
    "playground.sketch": "Draw your distribution (the square is the plane)",
    "playground.use_drawing": "Use my drawing",
    "playground.play": "▶ Play",
    "playground.pause": "⏸ Pause",
    "playground.step": "⏭ Step",
    "playground.reset": "Reset",
    "playground.speed": "Speed: updates per frame",
    "playground.seed": "Seed",
    "playground.collapse": "Mode collapse preset",
    "playground.gan_settings": "GAN settings",
    "playground.vae_settings": "VAE settings",
    "playground.flow_settings": "Flow settings",
    "playground.rate_g": "Generator learning rate",
    "playground.rate_d": "Discriminator learning rate",
    "playground.rate": "Learning rate",
    "playground.width": "Width (units per hidden layer)",
    "playground.d_steps": "Discriminator steps per generator step",
    "playground.fix": f"Fix mode collapse: the discriminator judges packs of {FIX_PACK_SIZE} points (PacGAN)",
    "playground.beta": "β (weight of the KL term)",
    "playground.latent_dim": "Latent dimensions",
    "playground.view": "Views",
    "playground.loss": "Loss",
    "playground.legend.points": "**Blue dots**: real points. **Orange dots**: generated points.",
    "playground.legend.gan": "**GAN**: the background is the discriminator's verdict (blue: real, orange: generated); "
                             "grey arrows show where the generator's loss pushes its points; the grey mesh is the "
                             "generator's image of a grid of noise (its manifold).",
    "playground.legend.vae": "**VAE**: the grey mesh is the decoder's image of a grid in the latent space; the "
                             "coloured dots are chosen points, and in the second picture (the latent plane, with the "
                             "prior's 1σ and 2σ circles) their posteriors, in the same colours.",
    "playground.legend.vae_side": "**VAE**: the grey mesh is the decoder's image of a grid in the latent space; the "
                                  "coloured dots are chosen points (pick the VAE alone to see their posteriors in the "
                                  "latent plane).",
    "playground.legend.flow": "**Flow**: grey arrows are the velocity field halfway (t = 0.5); grey lines are "
                              "particles' trajectories from noise (grey dots) to data.",
    "playground.legend.loss": "Loss curves, one picture per model: {curves}.",
    "playground.curve.discriminator": "discriminator",
    "playground.curve.generator": "generator",
    "playground.curve.loss": "loss",
    "playground.curve.reconstruction": "reconstruction",
    "playground.curve.kl": "KL",
    "playground.caption.plane": "{family}: the data plane",
    "playground.caption.latent": "VAE: the latent plane",
    "playground.status.initial": "Press Play to train live, or Step for one update.",
    "playground.status.draw": "Brush your distribution on the pad, then press Use my drawing.",
    "playground.status.ready": "Ready: {models} at update {update}. Press Play or Step.",
    "playground.status.playing": "Playing: {models} at update {update}, {speed} updates per frame.",
    "playground.status.paused": "Paused at update {update}.",
    "playground.status.stepped": "One update: now at update {update}.",
    "playground.status.reset": "Reset: {models} at update 0.",
    "playground.status.capped": "Stopped after {minutes} minutes of play at update {update}, to share the server. "
                                "Press Play to go on.",
    "playground.status.diverged": "The {family} diverged at update {update} (a loss is no longer a number). Lower its "
                                  "learning rate and press Reset.",
    "playground.status.collapse": "Mode collapse preset: a GAN on the 8-Gaussians ring. Press Play and watch the "
                                  "orange points gather on a few of the 8 modes; then tick the fix and press Reset "
                                  "and Play again.",
    "playground.bad.number": "{name} = {value} is not accepted: a number from {low} to {high}.",
    "playground.bad.whole": "{name} = {value} is not accepted: a whole number from {low} to {high}.",
    "playground.bad.choice": "{name} = {value} is not accepted: choose one from the list.",
    "playground.bad.draw_empty": "Your drawing is empty: brush a few strokes on the plane first, then press "
                                 "Use my drawing (or Play).",
    "playground.bad.draw_large": "A drawing of {width} × {height} pixels is not accepted: at most {limit} × {limit}.",
    "playground.bad.draw_unreadable": "This drawing could not be read as points on the plane: draw on the pad "
                                      "above and try again.",
    "playground.bad.busy": "The model is busy with another update: try again in a moment.",
}

CHINESE = {
    "playground.tab": "游乐场",
    "playground.intro": "看 GAN、VAE 和流模型学习一个看得见的分布：平面上的二维点。按**播放**实时训练，按**单步**只做一次更新，"
                        "按**重置**从头开始。更换分布或任何设置都会让模型重新开始。",
    "playground.distribution": "分布",
    "playground.dist.moons": "双月",
    "playground.dist.rings": "两个圆环",
    "playground.dist.gaussians8": "环上的 8 个高斯分布",
    "playground.dist.gaussians25": "网格上的 25 个高斯分布",
    "playground.dist.spiral": "螺旋",
    "playground.dist.checkerboard": "棋盘格",
    "playground.dist.drawn": "你自己的（在下面画出来）",
    "playground.family": "模型",
    "playground.family.gan": "GAN",
    "playground.family.vae": "VAE",
    "playground.family.flow": "流模型",
    "playground.family.all": "三种并排",
    "playground.sketch": "画出你的分布（方框就是平面）",
    "playground.use_drawing": "使用我的手绘",
    "playground.play": "▶ 播放",
    "playground.pause": "⏸ 暂停",
    "playground.step": "⏭ 单步",
    "playground.reset": "重置",
    "playground.speed": "速度：每帧的更新次数",
    "playground.seed": "种子",
    "playground.collapse": "模式崩溃预设",
    "playground.gan_settings": "GAN 设置",
    "playground.vae_settings": "VAE 设置",
    "playground.flow_settings": "流模型设置",
    "playground.rate_g": "生成器学习率",
    "playground.rate_d": "判别器学习率",
    "playground.rate": "学习率",
    "playground.width": "宽度（每个隐藏层的单元数）",
    "playground.d_steps": "每步生成器更新对应的判别器更新次数",
    "playground.fix": f"修复模式崩溃：判别器每次判断 {FIX_PACK_SIZE} 个点组成的一包（PacGAN）",
    "playground.beta": "β（KL 项的权重）",
    "playground.latent_dim": "隐维度",
    "playground.view": "视图",
    "playground.loss": "损失",
    "playground.legend.points": "**蓝点**：真实的点。**橙点**：生成的点。",
    "playground.legend.gan": "**GAN**：背景是判别器的判断（蓝：真实，橙：生成）；灰色箭头表示生成器的损失把它的点推向哪里；"
                             "灰色网格是生成器对一格噪声的映射（它的流形）。",
    "playground.legend.vae": "**VAE**：灰色网格是解码器对隐空间中一格点的映射；彩色点是选定的点，第二幅图（隐空间平面，"
                             "画有先验的 1σ 与 2σ 圆）用同样的颜色画出它们的后验。",
    "playground.legend.vae_side": "**VAE**：灰色网格是解码器对隐空间中一格点的映射；彩色点是选定的点（只选 VAE 时，可在隐空间平面上"
                                  "看到它们的后验）。",
    "playground.legend.flow": "**流模型**：灰色箭头是中途（t = 0.5）的速度场；灰线是粒子从噪声（灰点）到数据的轨迹。",
    "playground.legend.loss": "损失曲线，每个模型一幅：{curves}。",
    "playground.curve.discriminator": "判别器",
    "playground.curve.generator": "生成器",
    "playground.curve.loss": "损失",
    "playground.curve.reconstruction": "重建",
    "playground.curve.kl": "KL",
    "playground.caption.plane": "{family}：数据平面",
    "playground.caption.latent": "VAE：隐空间平面",
    "playground.status.initial": "按播放实时训练，或按单步做一次更新。",
    "playground.status.draw": "在画板上画出你的分布，再按“使用我的手绘”。",
    "playground.status.ready": "准备就绪：{models}，第 {update} 次更新。按播放或单步。",
    "playground.status.playing": "播放中：{models}，第 {update} 次更新，每帧 {speed} 次更新。",
    "playground.status.paused": "已暂停，第 {update} 次更新。",
    "playground.status.stepped": "做了一次更新：现在是第 {update} 次更新。",
    "playground.status.reset": "已重置：{models}，第 0 次更新。",
    "playground.status.capped": "播放 {minutes} 分钟后在第 {update} 次更新处停下，好让别人也能使用服务器。按播放继续。",
    "playground.status.diverged": "{family} 在第 {update} 次更新时发散了（损失不再是一个数）。请调低它的学习率并按重置。",
    "playground.status.collapse": "模式崩溃预设：8 个高斯分布组成的环上的 GAN。按播放，看橙点聚到 8 个模式中的少数几个上；"
                                  "然后勾选修复，按重置，再按播放。",
    "playground.bad.number": "不接受{name} = {value}：请填 {low} 到 {high} 之间的数。",
    "playground.bad.whole": "不接受{name} = {value}：请填 {low} 到 {high} 之间的整数。",
    "playground.bad.choice": "不接受{name} = {value}：请从列表中选择。",
    "playground.bad.draw_empty": "你的手绘是空的：先在平面上画几笔，再按“使用我的手绘”（或播放）。",
    "playground.bad.draw_large": "不接受 {width} × {height} 像素的手绘：最大 {limit} × {limit}。",
    "playground.bad.draw_unreadable": "无法把这幅手绘读成平面上的点：请在上面的画板上重新画。",
    "playground.bad.busy": "模型正在做另一次更新：请稍后再试。",
}

register(ENGLISH, CHINESE)

# The name of each validated control in the messages, by the key of its label.
CONTROL_LABELS = {"rate_g": "playground.rate_g", "rate_d": "playground.rate_d", "gan_width": "playground.width",
                  "d_steps": "playground.d_steps", "vae_rate": "playground.rate", "vae_width": "playground.width",
                  "beta": "playground.beta", "latent_dim": "playground.latent_dim", "flow_rate": "playground.rate",
                  "flow_width": "playground.width", "seed": "playground.seed", "speed": "playground.speed",
                  "distribution": "playground.distribution", "family": "playground.family"}


# ------------------------------------------------------------------------------------------------------ the controls
@dataclass(frozen=True)
class Controls:
    """The page's controls in the order every handler receives them (see `control_components`)."""

    distribution: Any
    family: Any
    sketch: Any
    rate_g: Any
    rate_d: Any
    gan_width: Any
    d_steps: Any
    fix: Any
    vae_rate: Any
    vae_width: Any
    beta: Any
    latent_dim: Any
    flow_rate: Any
    flow_width: Any
    seed: Any
    speed: Any


CONTROL_COUNT = len(Controls.__dataclass_fields__)


@dataclass(frozen=True)
class Setup:
    """What the models are built from; a change in any part means new models (speed is not part of it)."""

    distribution: str
    family: str
    points: tuple[tuple[float, float], ...] | None
    gan: GanSettings
    vae: VaeSettings
    flow: FlowSettings
    seed: int


def _refuse(language: str, key: str, name: str, value: Any, low: Any = None, high: Any = None) -> gr.Error:
    shown = html.escape(f"{value!r:.40}" if not isinstance(value, (int, float)) or isinstance(value, bool) else f"{value:g}")
    return gr.Error(message(key, language, name=message(CONTROL_LABELS[name], language), value=shown, low=low, high=high))


def _number(language: str, name: str, value: Any, limits: tuple[float, float]) -> float:
    low, high = limits
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise _refuse(language, "playground.bad.number", name, value, f"{low:g}", f"{high:g}")
    return float(value)


def _whole(language: str, name: str, value: Any, limits: tuple[int, int]) -> int:
    low, high = limits
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        value = int(value)  # a gr.Number or slider may send 64.0
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _refuse(language, "playground.bad.whole", name, value, low, high)
    return value


def drawn_points(sketch: Any, language: str) -> tuple[tuple[float, float], ...]:
    """The inked pixels of the pad as up to MAX_DRAWN_POINTS points in plot coordinates, evenly chosen along the ink.

    The pad (H, W) spans [-PLOT_LIMIT, PLOT_LIMIT]² with row 0 at the top; ink is darker than INK_THRESHOLD.
    """
    composite = sketch.get("composite") if isinstance(sketch, dict) else sketch
    if composite is None:
        raise gr.Error(message("playground.bad.draw_empty", language))
    try:
        pixels = np.asarray(composite)
    except (TypeError, ValueError):
        raise gr.Error(message("playground.bad.draw_unreadable", language)) from None
    if pixels.ndim == 3:  # RGB(A): its darkness
        pixels = pixels[..., :3].mean(axis=2) if pixels.shape[2] >= 3 else pixels[..., 0]
    if pixels.ndim != 2 or pixels.size == 0 or not np.issubdtype(pixels.dtype, np.number):
        raise gr.Error(message("playground.bad.draw_unreadable", language))
    height, width = pixels.shape
    if height > MAX_SKETCH_SIDE or width > MAX_SKETCH_SIDE:
        raise gr.Error(message("playground.bad.draw_large", language, width=width, height=height, limit=MAX_SKETCH_SIDE))
    rows, columns = np.nonzero(np.nan_to_num(pixels.astype(np.float64), nan=255.0) < INK_THRESHOLD)
    if len(rows) == 0:
        raise gr.Error(message("playground.bad.draw_empty", language))
    chosen = np.linspace(0, len(rows) - 1, min(len(rows), MAX_DRAWN_POINTS)).round().astype(int)
    x = (columns[chosen] + 0.5) / width * 2 * PLOT_LIMIT - PLOT_LIMIT
    y = PLOT_LIMIT - (rows[chosen] + 0.5) / height * 2 * PLOT_LIMIT
    return tuple((round(float(a), 4), round(float(b), 4)) for a, b in zip(x, y))


def read_setup(values: Sequence[Any], language: str) -> tuple[Setup, int]:
    """(Setup, updates per frame) from the controls' values (Controls order), or gr.Error naming the bad value."""
    if len(values) != CONTROL_COUNT:
        raise gr.Error(message("guard.refused", language))
    controls = Controls(*values)
    if controls.distribution not in DISTRIBUTION_NAMES:
        raise _refuse(language, "playground.bad.choice", "distribution", controls.distribution)
    if controls.family not in FAMILY_CHOICES:
        raise _refuse(language, "playground.bad.choice", "family", controls.family)
    if not isinstance(controls.fix, bool):
        raise gr.Error(message("guard.refused", language))
    gan = GanSettings(width=_whole(language, "gan_width", controls.gan_width, WIDTH_LIMITS),
                      generator_learning_rate=_number(language, "rate_g", controls.rate_g, RATE_LIMITS),
                      discriminator_learning_rate=_number(language, "rate_d", controls.rate_d, RATE_LIMITS),
                      discriminator_steps=_whole(language, "d_steps", controls.d_steps, STEPS_LIMITS),
                      pack_size=FIX_PACK_SIZE if controls.fix else 1)
    latent_dim = controls.latent_dim
    if isinstance(latent_dim, str) and latent_dim.strip() in ("1", "2"):
        latent_dim = int(latent_dim)
    vae = VaeSettings(latent_dim=_whole(language, "latent_dim", latent_dim, (1, 2)),
                      width=_whole(language, "vae_width", controls.vae_width, WIDTH_LIMITS),
                      learning_rate=_number(language, "vae_rate", controls.vae_rate, RATE_LIMITS),
                      beta=_number(language, "beta", controls.beta, BETA_LIMITS))
    flow = FlowSettings(width=_whole(language, "flow_width", controls.flow_width, WIDTH_LIMITS),
                        learning_rate=_number(language, "flow_rate", controls.flow_rate, RATE_LIMITS))
    seed = _whole(language, "seed", controls.seed, (0, SEED_LIMIT))
    speed = _whole(language, "speed", controls.speed, SPEED_LIMITS)
    points = drawn_points(controls.sketch, language) if controls.distribution == "drawn" else None
    return Setup(controls.distribution, controls.family, points, gan, vae, flow, seed), speed


# ------------------------------------------------------------------------------------------------------- the session
def _set_event() -> threading.Event:
    event = threading.Event()
    event.set()
    return event


@dataclass(eq=False)
class PlaygroundSession:
    """One visitor's playground: the models (genimg.playground's Playground) and what Play's loop reads. Built per
    visitor by gr.State(value=<this class>)."""

    setup: Setup | None = None
    playground: Playground | None = None
    marked: torch.Tensor | None = None  # (MARKED_POINTS, 2) the VAE's chosen points
    speed: int = 5
    play_id: int = 0  # raised by every Play: an older loop that sees a newer id ends
    playing: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
    stop: threading.Event = field(default_factory=threading.Event)
    idle: threading.Event = field(default_factory=_set_event)  # set while no loop runs

    def __deepcopy__(self, memo: dict) -> PlaygroundSession:
        # Gradio deep-copies a State's value for each visitor; the class is the value, so each copy is a fresh
        # session already (a lock and live networks cannot be copied, and need not be).
        return self

    def build(self, setup: Setup) -> None:
        """New models for `setup` (the caller holds the lock)."""
        distribution = get_distribution(setup.distribution, list(setup.points) if setup.points else None)
        families = FAMILIES_OF[setup.family]
        settings = {"gan": setup.gan, "vae": setup.vae, "flow": setup.flow}
        self.playground = Playground(distribution, setup.seed, {family: settings[family] for family in families},
                                     families)
        self.marked = distribution.sample(MARKED_POINTS, torch.Generator().manual_seed(setup.seed + 1))
        self.setup = setup

    @property
    def trainers(self) -> dict[str, Trainer]:
        """The models shown, by family, in the order GAN, VAE, flow (none before the first build)."""
        return self.playground.trainers if self.playground is not None else {}

    @property
    def update_count(self) -> int:
        return min((trainer.update_count for trainer in self.trainers.values()), default=0)


def new_session() -> PlaygroundSession:
    """A visitor's empty playground (its models are built by the first event that needs them)."""
    return PlaygroundSession()


# ------------------------------------------------------------------------------------------------------- the pictures
def png_data(image) -> str:
    """A PIL picture as a data: address. PNG at its default level: for the GAN's heat map as fast as the fastest
    level here and 15% smaller (~80 KB a frame)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure(image, caption: str) -> str:
    """One picture; its caption only where several are shown (a lone picture's legend is the text below it)."""
    text = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure class="playground-figure"><img src="{png_data(image)}" width="{image.width}" '
            f'height="{image.height}" alt="{html.escape(caption)}">{text}</figure>')


def family_name(family: str, language: str) -> str:
    return message(f"playground.family.{family}", language)


def frame_html(session: PlaygroundSession, language: str) -> str:
    """Every model's data plane (and the VAE's latent plane when it is shown alone) as one block of figures."""
    figures = []
    several = len(session.trainers) > 1 or "vae" in session.trainers
    for family, trainer in session.trainers.items():
        layers = views.main_view(trainer, session.playground.real_points,
                                 SAMPLES_SIDE_BY_SIDE if len(session.trainers) > 1 else SAMPLES_ALONE)
        if family == "vae":
            layers["marked"] = session.marked
        caption = message("playground.caption.plane", language, family=family_name(family, language)) if several else ""
        size = SIZE_SIDE_BY_SIDE if len(session.trainers) > 1 else SIZE_ALONE
        figures.append(_figure(render_view(size=size, **layers), caption))
        if family == "vae" and len(session.trainers) == 1:
            ellipses = views.posterior_ellipses(trainer, session.marked)
            figures.append(_figure(render_view(ellipses=ellipses, prior_circles=True),
                                   message("playground.caption.latent", language)))
    return f'<div class="playground-figures">{"".join(figures)}</div>'


def _averaged(values: list[float], count: int) -> list[float]:
    """`values` averaged over `count` equal windows (all of them when there are fewer)."""
    if len(values) <= count:
        return values
    array = np.asarray(values, dtype=np.float64)
    edges = np.linspace(0, len(array), count + 1).astype(int)
    return [float(array[start:end].mean()) for start, end in zip(edges[:-1], edges[1:])]


def loss_svg(trainer: Trainer) -> str:
    """A trainer's loss curves as a small SVG (no words: its legend is in the page text), one colour per curve."""
    width, height, margin = 320, 120, 4
    series = {name: [value for value in _averaged(values, LOSS_POINTS) if math.isfinite(value)]
              for name, values in trainer.loss_history.items()}
    every = [value for values in series.values() for value in values]
    lines = []
    if every:
        low, high = min(every), max(every)
        span = high - low or 1.0
        for colour, values in zip(LOSS_COLOURS, series.values()):
            if len(values) < 2:
                continue
            step = (width - 2 * margin) / (len(values) - 1)
            points = " ".join(f"{margin + index * step:.1f},{height - margin - (value - low) / span * (height - 2 * margin):.1f}"
                              for index, value in enumerate(values))
            lines.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{points}"/>')
        lines.append(f'<text x="{width - margin}" y="12" text-anchor="end" font-size="10" fill="#555">{high:.3g}</text>')
        lines.append(f'<text x="{width - margin}" y="{height - 6}" text-anchor="end" font-size="10" fill="#555">'
                     f"{low:.3g}</text>")
    return (f'<svg viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="none" role="img" '
            f'style="max-width:{width}px;height:auto;background:#fafafa;border:1px solid #e5e7eb">{"".join(lines)}</svg>')


def loss_html(session: PlaygroundSession, language: str) -> str:
    """Each model's loss curves with a caption that names the curves in their colours."""
    blocks = []
    for family, trainer in session.trainers.items():
        names = [message(f"playground.curve.{name}", language) for name in trainer.loss_history] or \
                [message("playground.curve.loss", language)]
        key = ", ".join(f'<span style="color:{colour}">■ {html.escape(name)}</span>'
                        for colour, name in zip(LOSS_COLOURS, names))
        blocks.append(f'<figure class="playground-loss"><figcaption>{html.escape(family_name(family, language))}: '
                      f"{key}</figcaption>{loss_svg(trainer)}</figure>")
    return f'<div class="playground-figures">{"".join(blocks)}</div>'


def legend_text(family: str, language: str) -> str:
    """What the pictures of `family` (or of all three) show, as Markdown in `language`."""
    # Side by side the VAE shows its data plane only; its latent plane (the posteriors) is drawn when it is alone.
    keys = ["vae_side" if name == "vae" and family == "all" else name for name in FAMILIES_OF[family]]
    return "\n\n".join(message(f"playground.legend.{key}", language) for key in keys)


def models_text(session: PlaygroundSession, language: str) -> str:
    return "、".join(family_name(f, language) for f in session.trainers) if language == "zh-CN" else \
        ", ".join(family_name(f, language) for f in session.trainers)


# ------------------------------------------------------------------------------------------------------- the handlers
def _language(request: gr.Request | None) -> str:
    return request_language(request)


def _prepare(session: PlaygroundSession, values: Sequence[Any], language: str, force: bool = False) -> None:
    """Read the controls; build new models when the setup changed (or `force`). The caller holds the lock."""
    if not isinstance(session, PlaygroundSession):
        raise gr.Error(message("guard.refused", language))
    setup, speed = read_setup(values, language)
    if force or setup != session.setup:
        session.build(setup)
    session.speed = speed


def _pause_running_play(session: PlaygroundSession) -> None:
    """Raise the flag a running loop reads and wait for the loop to end: Gradio has then sent its last frame, so the
    status written next (paused, one update, reset) is the one the page keeps, not a late "playing" frame."""
    session.stop.set()
    session.idle.wait(STOP_WAIT_SECONDS)


def _diverged(session: PlaygroundSession) -> str | None:
    """The first family whose last losses are not finite numbers, or None."""
    for family, trainer in session.trainers.items():
        if any(values and not math.isfinite(values[-1]) for values in trainer.loss_history.values()):
            return family
    return None


def show(session: PlaygroundSession, *values: Any, request: gr.Request | None = None) -> tuple[str, str, str, str]:
    """A control changed (or the tab opened): models for the new setup, unchanged if it is the same; a frame.
    → (status, view HTML, loss HTML, legend)."""
    language = _language(request)
    with session.lock:
        _prepare(session, values, language)
        status = message("playground.status.ready", language, models=models_text(session, language),
                         update=session.update_count)
        return status, frame_html(session, language), loss_html(session, language), \
            legend_text(session.setup.family, language)


def reset(session: PlaygroundSession, *values: Any, request: gr.Request | None = None) -> tuple[str, str, str, str]:
    """Stop any play; fresh models from the controls; a frame at update 0."""
    language = _language(request)
    _pause_running_play(session)
    with session.lock:
        _prepare(session, values, language, force=True)
        return (message("playground.status.reset", language, models=models_text(session, language)),
                frame_html(session, language), loss_html(session, language), legend_text(session.setup.family, language))


def step(session: PlaygroundSession, *values: Any, request: gr.Request | None = None) -> tuple[str, str, str, str]:
    """Stop any play; exactly one update of every model shown; then one frame."""
    language = _language(request)
    _pause_running_play(session)
    with session.lock:
        _prepare(session, values, language)
        session.playground.step()
        family = _diverged(session)
        status = (message("playground.status.diverged", language, family=family_name(family, language),
                          update=session.update_count) if family else
                  message("playground.status.stepped", language, update=session.update_count))
        return status, frame_html(session, language), loss_html(session, language), \
            legend_text(session.setup.family, language)


def pause(session: PlaygroundSession, request: gr.Request | None = None) -> tuple[str, str]:
    """Stop a running play (it ends after the batch of updates it may be running): the status names the update the
    models stopped at. → (status, loss HTML)."""
    language = _language(request)
    if not isinstance(session, PlaygroundSession):
        raise gr.Error(message("guard.refused", language))
    _pause_running_play(session)
    with session.lock:  # a loop checks the flag under this lock before each batch: none starts after it was raised
        return message("playground.status.paused", language, update=session.update_count), loss_html(session, language)


def play(session: PlaygroundSession, *values: Any, request: gr.Request | None = None,
         max_seconds: float = MAX_PLAY_SECONDS) -> Iterator[tuple[Any, Any, Any, Any, Any]]:
    """Train live: `speed` updates of every model, one frame, yield; until Pause / Step / Reset, a newer Play of the
    same visitor, `max_seconds`, or a NaN loss. Yields (status, progress, view HTML, loss HTML, legend), gr.skip()
    where nothing changed.

    While playing, the count goes to the progress line, not the status: when a generator ends, Gradio sends its last
    yielded values once more, after the handler that stopped it may have written its own status. So the last yield
    after a stop only clears the progress line and skips everything else, and nothing the stopper wrote is undone.
    """
    language = _language(request)
    with session.lock:
        _prepare(session, values, language)
        session.play_id += 1
        play_id = session.play_id
        session.stop.clear()
        session.idle.clear()
        session.playing = True
        legend = legend_text(session.setup.family, language)
        first = message("playground.status.playing", language, models=models_text(session, language),
                        update=session.update_count, speed=session.speed)
    skip = gr.skip
    started = last_loss = time.monotonic()
    try:
        yield "", first, skip(), skip(), legend
        while True:
            frame_started = time.monotonic()
            with session.lock:
                # Checked under the lock, so a Pause that took the lock after raising the flag saw the last batch.
                if session.play_id != play_id:
                    return  # a newer Play of this visitor shows its own progress
                if session.stop.is_set():
                    final = (skip(), "", skip(), skip(), skip())  # Pause / Step / Reset write the status
                elif frame_started - started > max_seconds:
                    final = (message("playground.status.capped", language, minutes=f"{max_seconds / 60:g}",
                                     update=session.update_count), "", skip(), loss_html(session, language), skip())
                else:
                    final = None
                    for _ in range(session.speed):
                        session.playground.step()
                    diverged = _diverged(session)
                    view = frame_html(session, language)
                    loss = skip()
                    if diverged or frame_started - last_loss >= LOSS_EVERY_SECONDS:
                        loss, last_loss = loss_html(session, language), frame_started
                    if diverged:
                        final = (message("playground.status.diverged", language,
                                         family=family_name(diverged, language), update=session.update_count),
                                 "", view, loss, skip())
                    progress = message("playground.status.playing", language, models=models_text(session, language),
                                       update=session.update_count, speed=session.speed)
            if final is not None:  # yielded outside the lock: a consumer that never resumes must not hold it
                yield final
                return
            yield skip(), progress, view, loss, skip()
            time.sleep(max(0.0, MIN_FRAME_SECONDS - (time.monotonic() - frame_started)))
    finally:
        if session.play_id == play_id:
            session.playing = False
            session.idle.set()


def show_unless_undrawn(session: PlaygroundSession, *values: Any,
                        request: gr.Request | None = None) -> tuple[Any, Any, Any, Any]:
    """A control changed: as `show`, except that a drawn distribution with nothing drawn yet only asks for a drawing
    (picking "your own" opens an empty pad; that is no mistake to refuse)."""
    language = _language(request)
    if values and values[0] == "drawn" and len(values) == CONTROL_COUNT:
        try:
            drawn_points(Controls(*values).sketch, language)
        except gr.Error:
            return message("playground.status.draw", language), gr.skip(), gr.skip(), gr.skip()
    return show(session, *values, request=request)


def set_speed(session: PlaygroundSession, speed: Any, request: gr.Request | None = None) -> None:
    """The speed slider moved: a running play takes the new number of updates per frame at its next frame."""
    language = _language(request)
    if not isinstance(session, PlaygroundSession):
        raise gr.Error(message("guard.refused", language))
    session.speed = _whole(language, "speed", speed, SPEED_LIMITS)


def collapse_preset(request: gr.Request | None = None) -> tuple[Any, ...]:
    """The controls for mode collapse: a GAN on the 8-Gaussians ring with the settings that collapse (the library's
    MODE_COLLAPSE_PRESET), the fix off. → updates for (distribution, family, rate_g, rate_d, gan_width, d_steps, fix,
    the sentence that says what to watch)."""
    language = _language(request)
    preset = MODE_COLLAPSE_PRESET
    return ("gaussians8", "gan", preset.generator_learning_rate, preset.discriminator_learning_rate, preset.width,
            preset.discriminator_steps, preset.pack_size > 1, message("playground.status.collapse", language))


def initial_frame() -> str:
    """The frame the default controls give before any update (computed once, when the page is built)."""
    session = PlaygroundSession()
    session.build(Setup("moons", "gan", None, GanSettings(width=GanSettings().width), VaeSettings(), FlowSettings(), 0))
    return frame_html(session, "en")  # a lone GAN picture: no caption, no words


def for_page(handler: Any) -> Any:
    """`handler(session, *controls, request=...)` with the explicit parameters Gradio needs to pass the request: it
    looks for a gr.Request only among named positional parameters, never after *values (the page then spoke English
    on a Chinese page). A generator stays a generator, so Gradio still streams it."""
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
                  for name in ("session", *Controls.__dataclass_fields__)]
    parameters.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gr.Request))
    if inspect.isgeneratorfunction(handler):
        def wrapped(*arguments: Any) -> Iterator[Any]:
            yield from handler(*arguments[:-1], request=arguments[-1])
    else:
        def wrapped(*arguments: Any) -> Any:
            return handler(*arguments[:-1], request=arguments[-1])
    wrapped.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    wrapped.__annotations__ = {"request": gr.Request}
    wrapped.__name__ = wrapped.__qualname__ = handler.__name__
    wrapped.__doc__ = handler.__doc__
    return wrapped


# --------------------------------------------------------------------------------------------------------- the layout
CSS = """
#playground-view .playground-figures, #playground-loss .playground-figures {
  display: flex; flex-wrap: wrap; gap: 8px; justify-content: flex-start; }
#playground-view .playground-figure { margin: 0; flex: 1 1 300px; max-width: 420px; min-width: 0; }
#playground-view .playground-figure img { width: 100%; height: auto; display: block; border: 1px solid #e5e7eb; }
#playground-view figcaption, #playground-loss figcaption { font-size: 0.9em; margin-top: 2px; }
#playground-loss .playground-loss { margin: 0; flex: 1 1 260px; max-width: 340px; min-width: 0; }
"""


@dataclass
class PlaygroundTab:
    """The tab's components, for app.py and tests."""

    session: gr.State
    controls: list[gr.components.Component]
    outputs: list[gr.components.Component]
    play_event: Any


def build_playground_tab() -> PlaygroundTab:
    """Lay out the tab inside the current gr.Blocks / gr.Tab and wire its events."""
    private = {"api_visibility": "private"}
    gr.HTML(f"<style>{CSS}</style>", elem_id="playground-style", visible="hidden")  # styles only: takes no room
    gr.Markdown(t("playground.intro"))
    session = gr.State(new_session)  # a function, called for each visitor (a dataclass class would be serialised)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=300):
            # The buttons sit above the pictures: on a phone the settings column comes after all of them.
            with gr.Row():
                play_button = gr.Button(t("playground.play"), variant="primary", elem_id="playground-play", min_width=80)
                pause_button = gr.Button(t("playground.pause"), elem_id="playground-pause", min_width=80)
                step_button = gr.Button(t("playground.step"), elem_id="playground-step", min_width=80)
                reset_button = gr.Button(t("playground.reset"), elem_id="playground-reset", min_width=80)
            status = gr.Markdown(t("playground.status.initial"), elem_id="playground-status")
            progress = gr.Markdown("", elem_id="playground-progress")
            # The first frame (an untrained GAN on two moons, seed 0: what the default controls build) is drawn once
            # for every visitor; it has no words in it, so it suits both languages.
            view = gr.HTML(initial_frame(), elem_id="playground-view")
            gr.Markdown(t("playground.legend.points"), elem_id="playground-legend-points")
            legend = gr.Markdown(t("playground.legend.gan"), elem_id="playground-legend")
            loss = gr.HTML("", elem_id="playground-loss")
        with gr.Column(scale=1, min_width=300):
            speed = gr.Slider(*SPEED_LIMITS, value=5, step=1, label=t("playground.speed"), elem_id="playground-speed")
            distribution = gr.Dropdown([(t(f"playground.dist.{name}"), name) for name in DISTRIBUTION_NAMES],
                                       value="moons", label=t("playground.distribution"),
                                       elem_id="playground-distribution")
            family = gr.Radio([(t(f"playground.family.{name}"), name) for name in FAMILY_CHOICES], value="gan",
                              label=t("playground.family"), elem_id="playground-family")
            collapse = gr.Button(t("playground.collapse"), elem_id="playground-collapse", size="sm")
            with gr.Group(visible=False, elem_id="playground-drawing") as drawing:
                sketch = gr.Sketchpad(type="numpy", image_mode="L", canvas_size=(SKETCH_SIZE, SKETCH_SIZE),
                                      layers=False, transforms=(), label=t("playground.sketch"),
                                      elem_id="playground-sketch",
                                      value={"background": np.full((SKETCH_SIZE, SKETCH_SIZE), 255, np.uint8),
                                             "layers": [], "composite": None},
                                      brush=gr.Brush(default_size=10, colors=["#1f77b4"], color_mode="fixed"))
                use_drawing = gr.Button(t("playground.use_drawing"), elem_id="playground-use-drawing")
            with gr.Accordion(t("playground.gan_settings"), open=True, elem_id="playground-gan-settings"):
                rate_g = gr.Number(GanSettings().generator_learning_rate, label=t("playground.rate_g"),
                                   elem_id="playground-rate-g")
                rate_d = gr.Number(GanSettings().discriminator_learning_rate, label=t("playground.rate_d"),
                                   elem_id="playground-rate-d")
                gan_width = gr.Slider(*WIDTH_LIMITS, value=GanSettings().width, step=8, label=t("playground.width"),
                                      elem_id="playground-gan-width")
                d_steps = gr.Slider(*STEPS_LIMITS, value=1, step=1, label=t("playground.d_steps"),
                                    elem_id="playground-d-steps")
                fix = gr.Checkbox(False, label=t("playground.fix"), elem_id="playground-fix")
            with gr.Accordion(t("playground.vae_settings"), open=False, elem_id="playground-vae-settings"):
                vae_rate = gr.Number(VaeSettings().learning_rate, label=t("playground.rate"), elem_id="playground-vae-rate")
                vae_width = gr.Slider(*WIDTH_LIMITS, value=VaeSettings().width, step=8, label=t("playground.width"),
                                      elem_id="playground-vae-width")
                beta = gr.Number(VaeSettings().beta, label=t("playground.beta"), elem_id="playground-beta")
                latent_dim = gr.Radio([("1", 1), ("2", 2)], value=2, label=t("playground.latent_dim"),
                                      elem_id="playground-latent-dim")
            with gr.Accordion(t("playground.flow_settings"), open=False, elem_id="playground-flow-settings"):
                flow_rate = gr.Number(FlowSettings().learning_rate, label=t("playground.rate"),
                                      elem_id="playground-flow-rate")
                flow_width = gr.Slider(*WIDTH_LIMITS, value=FlowSettings().width, step=8, label=t("playground.width"),
                                       elem_id="playground-flow-width")
            seed = gr.Number(0, precision=0, label=t("playground.seed"), elem_id="playground-seed")

    controls = [distribution, family, sketch, rate_g, rate_d, gan_width, d_steps, fix, vae_rate, vae_width, beta,
                latent_dim, flow_rate, flow_width, seed, speed]
    assert len(controls) == CONTROL_COUNT
    inputs = [session, *controls]
    outputs = [status, view, loss, legend]
    quick = {"show_progress": "hidden", "concurrency_limit": 4, "concurrency_id": "playground-quick", **private}
    play_event = play_button.click(for_page(play), inputs, [status, progress, view, loss, legend], show_progress="hidden", concurrency_limit=PLAY_SLOTS,
                                   concurrency_id="playground-play", **private)
    pause_button.click(pause, session, [status, loss], show_progress="hidden", concurrency_limit=None, **private)
    step_button.click(for_page(step), inputs, outputs, **quick)
    reset_button.click(for_page(reset), inputs, outputs, **quick)
    use_drawing.click(for_page(reset), inputs, outputs, **quick)
    distribution.change(lambda name: gr.update(visible=name == "drawn"), distribution, drawing, show_progress="hidden",
                        **private)
    for control in (distribution, family, rate_g, rate_d, gan_width, d_steps, fix, vae_rate, vae_width, beta,
                    latent_dim, flow_rate, flow_width, seed):
        # A drawn distribution waits for "Use my drawing" (the pad may still be empty when it is picked).
        control.change(for_page(show_unless_undrawn), inputs, outputs, trigger_mode="always_last", **quick)
    speed.change(set_speed, [session, speed], None, show_progress="hidden", concurrency_limit=None, **private)
    # Its sentence goes to the progress line: the controls' change events that follow rewrite the status.
    collapse.click(collapse_preset, None, [distribution, family, rate_g, rate_d, gan_width, d_steps, fix, progress],
                   show_progress="hidden", **private)
    return PlaygroundTab(session, controls, outputs, play_event)
