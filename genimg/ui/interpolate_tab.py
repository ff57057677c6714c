"""Interpolate tab: walk between two seeds, two classes or two encoded drawings, with lerp and slerp side by side."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch

from genimg.data.pictures import MESSAGES_EN as IMAGE_MESSAGES_EN
from genimg.data.pictures import MESSAGES_ZH as IMAGE_MESSAGES_ZH
from genimg.data.pictures import ImageInputError
from genimg.explore.catalog import ModelEntry
from genimg.explore.interpolate import (
    GIF_LEVELS,
    MAX_FRAMES,
    METHODS,
    MIN_FRAMES,
    GifFolder,
    Interpolation,
    InterpolationError,
    check_frames,
    encode_drawing,
    frame_strip,
    gif_bytes,
    gif_scale,
    interpolate,
    supports_class_mixing,
)
from genimg.models.latent import parse_seed, seeded_latents
from genimg.store.checkpoint import CheckpointError
from genimg.ui.context import ExploreContext
from genimg.ui.explore import dependent_dropdown
from genimg.ui.fields import LenientNumber, LenientSlider
from genimg.ui.guard import in_words
from genimg.ui.i18n import LATEX, message, register, request_language, t
from genimg.ui.latent_tab import (
    FRAMED,
    failure,
    page_styles,
)

MODES = ("seeds", "classes", "drawings")
DEFAULT_FRAMES = 32

ENGLISH = {
    "interp.intro": (
        "Pick two points of a model's latent space and watch the images in between. The **same two endpoints** "
        "are joined twice: by a straight line (**lerp**, left) and by an arc over the sphere where Gaussian "
        "samples live (**slerp**, right). The plot shows how far from the origin each path goes."),
    "interp.model": "Model",
    "interp.mode": "Endpoints",
    "interp.mode.info": "Two classes: conditional models only. Two drawings: VAEs only (their encoder turns a "
                        "drawing into z).",
    "interp.mode.seeds": "Two seeds",
    "interp.mode.classes": "Two classes (same z)",
    "interp.mode.drawings": "Two drawings (VAE encoder)",
    "interp.seed_a": "Seed A",
    "interp.seed_b": "Seed B",
    "interp.random": "🎲 Random seeds",
    "interp.class_a": "Class A",
    "interp.class_b": "Class B",
    "interp.drawing_a": "Drawing A",
    "interp.drawing_b": "Drawing B",
    "interp.drawing_hint": "Draw or upload a picture in each box (white on black, like MNIST), then press "
                           "**Interpolate**.",
    "interp.frames": "Frames",
    "interp.run": "Interpolate",
    "interp.lerp_gif": "lerp: straight line (GIF, loops forward and back)",
    "interp.slerp_gif": "slerp: great circle (GIF, loops forward and back)",
    "interp.lerp_strip": "lerp frames, left to right, top to bottom",
    "interp.slerp_strip": "slerp frames, left to right, top to bottom",
    "interp.norm_plot": "Norm of the moving vector along each path",
    "interp.no_models": "**No trained models were found.** Train one with `python -m genimg train ... --out "
                        "checkpoints/NAME` and reload the page.",
    "interp.explain": (
        "### Why two paths?\n"
        "**lerp** follows the straight line $z_t=(1-t)z_0+tz_1$. **slerp** follows the great circle "
        "$z_t=\\frac{\\sin((1-t)\\theta)}{\\sin\\theta}z_0+\\frac{\\sin(t\\theta)}{\\sin\\theta}z_1$, where $\\theta$ "
        "is the angle between $z_0$ and $z_1$ (genimg also blends the two lengths linearly).\n\n"
        "A sample of a $D$-dimensional standard normal almost always lies near the sphere of radius $\\sqrt{D}$: "
        "its squared length is a sum of $D$ squares, about $D$. Two such samples are nearly perpendicular, so the "
        "lerp midpoint $\\frac{z_0+z_1}{2}$ has length about $\\sqrt{D/2}$, only 71% of $\\sqrt{D}$. The generator "
        "was trained on samples and rarely saw codes that short, so the middle frames of lerp often look faded or "
        "blurred. slerp stays near the sphere all the way, so every frame looks like a typical sample: in the plot, "
        "the lerp curve sags and the slerp curve stays near the $\\sqrt{D}$ line.\n\n"
        "**Drawings** are encoded to the VAE encoder's mean; such codes are usually shorter than $\\sqrt{D}$, and the "
        "two paths differ less. In a **class walk** z stays fixed and the one-hot class vector moves: lerp mixes the "
        "classes half and half at the midpoint (length $1/\\sqrt2$), slerp uses weights $\\cos\\frac{\\pi t}{2}$ and "
        "$\\sin\\frac{\\pi t}{2}$ (length 1). The network only ever saw pure classes, so every frame in between is "
        "its own invention."),
    "interp.reference.z": "√D: typical length of z",
    "interp.reference.class": "1: length of a one-hot class",
    "interp.summary.z": (
        "Length of z at the midpoint: **lerp {lerp:.2f}**, **slerp {slerp:.2f}**; at the ends {start:.2f} and "
        "{end:.2f}; √D = {reference:.2f} (D = {dim}). The straight line sags to {ratio:.0%} of the ends' length."),
    "interp.summary.class": (
        "Length of the class vector at the midpoint: **lerp {lerp:.2f}** (half of each class), **slerp {slerp:.2f}**; "
        "a one-hot class has length 1. z is the same in every frame."),
    "interp.error.model": "Pick a model from the list first.",
    "interp.error.load": "This model could not be loaded: {detail}",
    "interp.error.seed": "{which} must be a whole number from 0 to 9,223,372,036,854,775,807.",
    "interp.error.frames": "Frames must be a whole number from {low} to {high}.",
    "interp.error.mode": "Choose how to pick the endpoints: two seeds, two classes or two drawings.",
    "interp.error.class": "{which} is not a class of this model: choose one from the list.",
    "interp.error.needs_classes": "{model} is not a conditional model: it has no classes to walk between. "
                                  "Pick a conditional model or use two seeds.",
    "interp.error.no_mixing": "{model} cannot mix classes, so a class walk is not available for it.",
    "interp.error.needs_vae": "{model} is a GAN: it has no encoder to turn a drawing into z. Pick a VAE.",
    "interp.error.drawing": "{which}: {detail}",
    "interp.error.failed": "The interpolation failed: {detail}",
    "interp.error.title": "Error",
    "interp.error.unexpected": "The interpolation could not be drawn ({detail}). Try again, or pick another model.",
    "interp.axis.frame": "frame",
    "interp.axis.norm": "length of the moving vector",
    "interp.axis.method": "path",
}

CHINESE = {
    "interp.intro": (
        "在模型的隐空间中选两个点，看看它们之间的图像。**同样的两个端点**被连接两次：一次走直线（**lerp**，左），"
        "一次沿高斯样本所在的球面走弧线（**slerp**，右）。下方曲线显示每条路径离原点有多远。"),
    "interp.model": "模型",
    "interp.mode": "端点",
    "interp.mode.info": "两个类别：仅限条件模型。两幅手绘：仅限 VAE（由编码器把手绘变成 z）。",
    "interp.mode.seeds": "两个种子",
    "interp.mode.classes": "两个类别（同一个 z）",
    "interp.mode.drawings": "两幅手绘（VAE 编码器）",
    "interp.seed_a": "种子 A",
    "interp.seed_b": "种子 B",
    "interp.random": "🎲 随机种子",
    "interp.class_a": "类别 A",
    "interp.class_b": "类别 B",
    "interp.drawing_a": "手绘 A",
    "interp.drawing_b": "手绘 B",
    "interp.drawing_hint": "在每个框里画一幅图或上传一张图片（像 MNIST 一样黑底白字），然后点击**插值**。",
    "interp.frames": "帧数",
    "interp.run": "插值",
    "interp.lerp_gif": "lerp：直线（GIF，来回循环）",
    "interp.slerp_gif": "slerp：大圆弧（GIF，来回循环）",
    "interp.lerp_strip": "lerp 各帧，从左到右、从上到下",
    "interp.slerp_strip": "slerp 各帧，从左到右、从上到下",
    "interp.norm_plot": "沿每条路径移动的向量的范数",
    "interp.no_models": "**没有找到训练好的模型。** 用 `python -m genimg train ... --out checkpoints/NAME` "
                        "训练一个，然后刷新页面。",
    "interp.explain": (
        "### 为什么有两条路径？\n"
        "**lerp** 沿直线 $z_t=(1-t)z_0+tz_1$ 前进。**slerp** 沿大圆弧 "
        "$z_t=\\frac{\\sin((1-t)\\theta)}{\\sin\\theta}z_0+\\frac{\\sin(t\\theta)}{\\sin\\theta}z_1$ 前进，其中 $\\theta$ "
        "是 $z_0$ 与 $z_1$ 之间的夹角（genimg 还会把两端的长度线性过渡）。\n\n"
        "$D$ 维标准正态分布的样本几乎总是落在半径为 $\\sqrt{D}$ 的球面附近：它的长度平方是 $D$ 个平方之和，约等于 $D$。"
        "两个这样的样本几乎互相垂直，所以 lerp 的中点 $\\frac{z_0+z_1}{2}$ 的长度约为 $\\sqrt{D/2}$，只有 $\\sqrt{D}$ 的 71%。"
        "生成器是用这类样本训练的，很少见到这么短的编码，所以 lerp 中间的几帧常常显得暗淡或模糊。"
        "slerp 一路都贴近球面，每一帧都像一个典型样本：在曲线图中，lerp 的曲线中间下凹，slerp 的曲线始终贴近 $\\sqrt{D}$ 参考线。\n\n"
        "**手绘**会被编码为 VAE 编码器输出的均值；这类编码通常比 $\\sqrt{D}$ 短，两条路径的差别也更小。"
        "在**类别插值**中 z 保持不变，移动的是独热类别向量：lerp 在中点把两个类别各取一半（长度 $1/\\sqrt2$），"
        "slerp 的权重是 $\\cos\\frac{\\pi t}{2}$ 和 $\\sin\\frac{\\pi t}{2}$（长度为 1）。网络只见过纯粹的类别，"
        "所以中间的每一帧都是它自己的“发明”。"),
    "interp.reference.z": "√D：z 的典型长度",
    "interp.reference.class": "1：独热类别向量的长度",
    "interp.summary.z": (
        "中点处 z 的长度：**lerp {lerp:.2f}**，**slerp {slerp:.2f}**；两端分别为 {start:.2f} 和 {end:.2f}；"
        "√D = {reference:.2f}（D = {dim}）。直线路径在中点下降到两端长度的 {ratio:.0%}。"),
    "interp.summary.class": (
        "中点处类别向量的长度：**lerp {lerp:.2f}**（两个类别各占一半），**slerp {slerp:.2f}**；"
        "独热类别向量的长度为 1。每一帧的 z 都相同。"),
    "interp.error.model": "请先从列表中选择一个模型。",
    "interp.error.load": "无法加载这个模型：{detail}",
    "interp.error.seed": "{which} 必须是 0 到 9,223,372,036,854,775,807 之间的整数。",
    "interp.error.frames": "帧数必须是 {low} 到 {high} 之间的整数。",
    "interp.error.mode": "请选择端点的取法：两个种子、两个类别或两幅手绘。",
    "interp.error.class": "{which} 不是这个模型的类别：请从列表中选择。",
    "interp.error.needs_classes": "{model} 不是条件模型，没有可以插值的类别。请选择一个条件模型，或者使用两个种子。",
    "interp.error.no_mixing": "{model} 无法混合类别，因此不能进行类别插值。",
    "interp.error.needs_vae": "{model} 是 GAN：它没有编码器，不能把手绘变成 z。请选择一个 VAE。",
    "interp.error.drawing": "{which}：{detail}",
    "interp.error.failed": "插值失败：{detail}",
    "interp.error.title": "出错了",
    "interp.error.unexpected": "无法画出这段插值（{detail}）。请再试一次，或者换一个模型。",
    "interp.axis.frame": "帧",
    "interp.axis.norm": "移动向量的长度",
    "interp.axis.method": "路径",
}

register(ENGLISH, CHINESE)
register(IMAGE_MESSAGES_EN, IMAGE_MESSAGES_ZH)  # the drawing errors, shared with the other drawing tabs


@dataclass
class InterpolationView:
    """Everything one request produces, before anything is written to disk."""

    interpolation: Interpolation
    gifs: dict[str, bytes]  # method → GIF bytes
    strips: dict[str, np.ndarray]  # method → uint8 frame grid
    norms: pd.DataFrame  # long format: frame, norm, method (plus the reference line as a "method")
    summary: str


def plot_colours() -> dict[str, str]:
    """Fixed colours for the norm plot, the reference line grey, in every language."""
    colours = {"lerp": "#2563eb", "slerp": "#ea580c"}
    for language in ("en", "zh-CN"):
        for key in ("interp.reference.z", "interp.reference.class"):
            colours[message(key, language)] = "#9ca3af"
    return colours


class InterpolateHandlers:
    """The tab's callbacks, testable without a browser."""

    def __init__(self, context: ExploreContext, gifs: GifFolder | None = None) -> None:
        self.context = context
        self.gifs = gifs if gifs is not None else GifFolder()

    # ------------------------------------------------------------------ validation
    def entry(self, model: str | None, language: str = "en") -> ModelEntry:
        entry = self.context.entry(model) if isinstance(model, str) else None
        if entry is None:
            raise failure("interp.error.model", language, "interp.error.title")
        return entry

    @staticmethod
    def seed(value: Any, which: str, language: str = "en") -> int:
        """A seed from a gr.Number (int or float) or a state dict (also a numeric string) → int in [0, 2**63)."""
        parsed = parse_seed(value)
        if parsed is None:
            raise failure("interp.error.seed", language, "interp.error.title", which=which)
        return parsed

    @staticmethod
    def frames(value: Any, language: str = "en") -> int:
        try:
            return check_frames(value)
        except InterpolationError:
            raise failure("interp.error.frames", language, "interp.error.title", low=MIN_FRAMES,
                          high=MAX_FRAMES) from None

    @staticmethod
    def class_index(value: Any, entry: ModelEntry, which: str, language: str = "en") -> int:
        """A class dropdown value (an index, or a class name) → an index of `entry`'s classes."""
        if isinstance(value, str) and value in entry.class_names:
            return entry.class_names.index(value)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < entry.num_classes:
            raise failure("interp.error.class", language, "interp.error.title", which=which)
        return value

    # ------------------------------------------------------------------ the work
    @in_words("interp.error.unexpected", "interp.error.title")
    def compute(self, model: str | None, mode: str | None, seed_a: Any = 0, seed_b: Any = 1, class_a: Any = 0,
                class_b: Any = 1, frames: Any = DEFAULT_FRAMES, drawing_a: Any = None, drawing_b: Any = None,
                language: str = "en") -> InterpolationView:
        """Validate UI values, walk with both methods, and build GIFs, strips, the norm table and a summary.

        Raises gr.Error (in `language`) for anything a user could get wrong.
        """
        entry = self.entry(model, language)
        if mode not in MODES:
            raise failure("interp.error.mode", language, "interp.error.title")
        count = self.frames(frames, language)
        start_seed = self.seed(seed_a, message("interp.seed_a", language), language)
        try:
            network, config = self.context.renderer.model(entry.path)
        except (CheckpointError, OSError, ValueError) as error:
            raise failure("interp.error.load", language, "interp.error.title", detail=str(error)) from None

        first = second = None  # class indices at the two ends, for conditional models
        if entry.num_classes:
            if mode == "seeds" and class_a is None:
                class_a = 0
            first = second = self.class_index(class_a, entry, message("interp.class_a", language), language)
        if mode == "seeds":  # the class (if any) stays class A
            end_seed = self.seed(seed_b, message("interp.seed_b", language), language)
            z0 = seeded_latents(start_seed, 1, config.latent_dim)[0]
            z1 = seeded_latents(end_seed, 1, config.latent_dim)[0]
        elif mode == "classes":
            if not entry.num_classes:
                raise failure("interp.error.needs_classes", language, "interp.error.title", model=entry.name)
            if not supports_class_mixing(network):
                raise failure("interp.error.no_mixing", language, "interp.error.title", model=entry.name)
            second = self.class_index(class_b, entry, message("interp.class_b", language), language)
            z0 = z1 = seeded_latents(start_seed, 1, config.latent_dim)[0]
        else:  # drawings
            if not entry.capabilities.encoder:
                raise failure("interp.error.needs_vae", language, "interp.error.title", model=entry.name)
            if entry.num_classes:
                second = self.class_index(class_b, entry, message("interp.class_b", language), language)
                if first != second and not supports_class_mixing(network):
                    raise failure("interp.error.no_mixing", language, "interp.error.title", model=entry.name)
            z0 = self._encode(network, config, drawing_a, first, message("interp.drawing_a", language), language)
            z1 = self._encode(network, config, drawing_b, second, message("interp.drawing_b", language), language)

        try:
            walk = interpolate(network, z0, z1, count, METHODS, first, second)
        except InterpolationError as error:
            raise failure("interp.error.failed", language, "interp.error.title", detail=str(error)) from None
        scale = gif_scale(config.image_size)
        gifs = {method: gif_bytes(walk.frames[method], scale=scale, levels=GIF_LEVELS) for method in METHODS}
        strip_scale = 2 if config.image_size <= 32 else 1
        strips = {method: frame_strip(walk.frames[method], scale=strip_scale) for method in METHODS}
        return InterpolationView(walk, gifs, strips, self.norm_table(walk, language), self.summary(walk, language))

    def _encode(self, network: Any, config: Any, drawing: Any, label: int | None, which: str,
                language: str) -> torch.Tensor:
        try:
            return encode_drawing(network, drawing, config.channels, config.image_size, label)
        except ImageInputError as error:  # empty canvas, not an image, ...
            detail = message(error.key, language, **error.values)
            raise failure("interp.error.drawing", language, "interp.error.title", which=which,
                          detail=detail) from None
        except ValueError as error:  # InterpolationError, or a picture the model input cannot take
            raise failure("interp.error.failed", language, "interp.error.title", detail=str(error)) from None

    @staticmethod
    def norm_table(walk: Interpolation, language: str = "en") -> pd.DataFrame:
        """Long format for gr.LinePlot: one row per (frame, method), plus the reference line."""
        count = walk.count
        frames = np.arange(count)
        reference = message("interp.reference.class" if walk.moving == "class" else "interp.reference.z", language)
        parts = [pd.DataFrame({"frame": frames, "norm": walk.norms[method], "method": method})
                 for method in walk.norms]
        parts.append(pd.DataFrame({"frame": frames, "norm": np.full(count, walk.reference_norm),
                                   "method": reference}))
        return pd.concat(parts, ignore_index=True)

    @staticmethod
    def summary(walk: Interpolation, language: str = "en") -> str:
        middle = (walk.count - 1) / 2

        def at_middle(method: str) -> float:  # the norm at t = 0.5, between two frames when N is even
            norms = walk.norms[method]
            return float((norms[int(np.floor(middle))] + norms[int(np.ceil(middle))]) / 2)

        lerp_mid, slerp_mid = at_middle("lerp"), at_middle("slerp")
        if walk.moving == "class":
            return message("interp.summary.class", language, lerp=lerp_mid, slerp=slerp_mid)
        start, end = float(walk.norms["lerp"][0]), float(walk.norms["lerp"][-1])
        ends = (start + end) / 2
        return message("interp.summary.z", language, lerp=lerp_mid, slerp=slerp_mid, start=start, end=end,
                       reference=walk.reference_norm, dim=walk.latent_dim, ratio=lerp_mid / ends if ends else 1.0)

    # ------------------------------------------------------------------ page callbacks
    @in_words("interp.error.unexpected", "interp.error.title")
    def run(self, model: str | None, mode: str | None, seed_a: Any, seed_b: Any, class_a: Any, class_b: Any,
            drawing_a: Any, drawing_b: Any, frames: Any, request: gr.Request = None) -> tuple:
        """→ (lerp GIF path, slerp GIF path, lerp strip, slerp strip, norm plot update, summary markdown).

        The plot's update carries its axis and legend titles in the visitor's language: titles given as t(...)
        when the plot is built reach its screen-reader description untranslated (Gradio 6.31)."""
        language = request_language(request)
        view = self.compute(model, mode, seed_a, seed_b, class_a, class_b, frames, drawing_a, drawing_b, language)
        plot = gr.update(value=view.norms, x_title=message("interp.axis.frame", language),
                         y_title=message("interp.axis.norm", language),
                         color_title=message("interp.axis.method", language))
        return (self.gifs.save(view.gifs["lerp"]), self.gifs.save(view.gifs["slerp"]), view.strips["lerp"],
                view.strips["slerp"], plot, view.summary)

    def refresh(self, model: str | None, mode: str | None, seed_a: Any, seed_b: Any, class_a: Any, class_b: Any,
                drawing_a: Any, drawing_b: Any, frames: Any, request: gr.Request = None) -> tuple:
        """Like `run`, for automatic re-runs: in drawings mode it waits for the Interpolate button."""
        if mode == "drawings":
            return tuple(gr.skip() for _ in range(6))
        return self.run(model, mode, seed_a, seed_b, class_a, class_b, drawing_a, drawing_b, frames, request)

    @in_words("interp.error.unexpected", "interp.error.title")
    def run_from_state(self, state: dict, request: gr.Request | None = None) -> tuple:
        """`run` for a JSON state {"model", "mode": "seeds"|"classes", "seed_a", "seed_b", "class_a", "class_b",
        "frames"} (missing keys take the page's defaults), e.g. from a lesson bundle or a URL."""
        if not isinstance(state, dict):
            raise failure("interp.error.mode", request_language(request), "interp.error.title")
        values = {**self.default_state(state.get("model")), **state}
        return self.run(values["model"], values["mode"], values["seed_a"], values["seed_b"], values["class_a"],
                        values["class_b"], None, None, values["frames"], request)

    def on_load(self, request: gr.Request = None) -> tuple:
        """The opening view in the visitor's language (the build-time view is English): for demo.load."""
        return self.run_from_state(self.default_state(), request)

    def default_state(self, model: str | None = None) -> dict:
        """The state the page opens with, for `model` (default: the first model offered)."""
        entry = self.context.entry(model) if isinstance(model, str) else None
        if entry is None and self.context.entries:
            entry = self.context.entries[0]
        classes = entry.num_classes if entry is not None else 0
        return {"model": str(entry.path) if entry is not None else None, "mode": "seeds", "seed_a": 0, "seed_b": 1,
                "class_a": 0 if classes else None, "class_b": (1 if classes > 1 else 0) if classes else None,
                "frames": DEFAULT_FRAMES}

    @staticmethod
    def state(model: str | None, mode: str | None, seed_a: Any, seed_b: Any, class_a: Any, class_b: Any,
              frames: Any) -> dict:
        """The JSON state of the page's controls (drawings are not part of it)."""
        return {"model": model, "mode": mode, "seed_a": seed_a, "seed_b": seed_b, "class_a": class_a,
                "class_b": class_b, "frames": frames}

    def modes(self, entry: ModelEntry | None) -> list[str]:
        """The endpoint modes `entry` offers: classes for conditional models, drawings for VAEs."""
        if entry is None:
            return ["seeds"]
        offered = ["seeds"]
        if entry.num_classes:
            offered.append("classes")
        if entry.capabilities.encoder:  # a drawing is put into latent space by the encoder
            offered.append("drawings")
        return offered

    @in_words("interp.error.unexpected", "interp.error.title")
    def controls(self, model: str | None, mode: str | None, class_a: Any = None, class_b: Any = None,
                 request: gr.Request = None) -> tuple:
        """After a model or mode change → updates for (mode, seed B, class A, class B, the drawings column)."""
        language = request_language(request)
        entry = self.context.entry(model) if isinstance(model, str) else None
        offered = self.modes(entry)
        mode = mode if mode in offered else "seeds"
        names = {"seeds": "interp.mode.seeds", "classes": "interp.mode.classes", "drawings": "interp.mode.drawings"}
        mode_update = gr.update(choices=[(message(names[name], language), name) for name in offered], value=mode)
        classes = entry.num_classes if entry is not None else 0
        choices = [(name, index) for index, name in enumerate(entry.class_names)] if classes else []

        def keep(value: Any, fallback: int) -> int | None:
            if not classes:
                return None
            return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < classes \
                else fallback

        class_a_update = gr.update(choices=choices, value=keep(class_a, 0), visible=bool(classes))
        class_b_update = gr.update(choices=choices, value=keep(class_b, 1 if classes > 1 else 0),
                                   visible=bool(classes) and mode != "seeds")
        return (mode_update, gr.update(visible=mode == "seeds"), class_a_update, class_b_update,
                gr.update(visible=mode == "drawings"))

    @staticmethod
    def random_seeds() -> tuple[int, int]:
        first = random.randrange(0, 1_000_000)
        return first, random.randrange(0, 1_000_000)

    def first_view(self) -> tuple:
        """The outputs the page opens with; empty ones if the first model cannot be shown."""
        state = self.default_state()
        try:
            return self.run_from_state(state)
        except gr.Error:  # a broken checkpoint must not keep the page from opening; picking it shows the error
            return (None, None, None, None, None, "")


def _sketchpad(label_key: str, elem_id: str) -> gr.Sketchpad:
    """A canvas that draws white on black at once, MNIST-style; uploads are accepted too."""
    return gr.Sketchpad(type="numpy", image_mode="L", canvas_size=(280, 280), layers=False, transforms=(),
                        sources=("upload", "clipboard"), label=t(label_key), elem_id=elem_id,
                        value={"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": None},
                        brush=gr.Brush(default_size=18, colors=["#ffffff"], color_mode="fixed"))


def build_interpolate_tab(context: ExploreContext) -> InterpolateHandlers:
    """Lay out the tab inside the current gr.Blocks (or gr.Tab) and wire its events.

    The returned handlers carry `components` (name → component), `inputs` and `outputs` so the page can
    wire more events, e.g. `demo.load(lambda: handlers.run_from_state(state), None, handlers.outputs)`.
    """
    handlers = InterpolateHandlers(context)
    gr.Markdown(t("interp.intro"))
    choices = context.choices()
    if not choices:
        gr.Markdown(t("interp.no_models"))
        handlers.components, handlers.inputs, handlers.outputs = {}, [], []
        return handlers
    state = handlers.default_state()
    entry = context.entry(state["model"])
    names = {"seeds": "interp.mode.seeds", "classes": "interp.mode.classes", "drawings": "interp.mode.drawings"}
    # The components start with every choice any offered model allows, so that an API call is valid for any
    # model; the page narrows them to the first model's choices when it loads (demo.load(controls), in app.py).
    offered = [name for name in MODES if any(name in handlers.modes(each) for each in context.entries)]
    widest = max(context.entries, key=lambda each: each.num_classes)
    class_choices = [(name, index) for index, name in enumerate(widest.class_names)]
    first = handlers.first_view()

    # The two animations beside the controls (desktop) or above them (phone), pinned by CSS (#interp-view in
    # app.py) so a change of seed or frame count can be watched; the strips, the plot and the summary follow below.
    with gr.Row(equal_height=False, elem_id="interp-layout"):
        with gr.Column(scale=2, min_width=280, elem_id="interp-view"), gr.Row():
            lerp_gif = gr.Image(first[0], label=t("interp.lerp_gif"), type="filepath", format="gif",
                                interactive=False, buttons=["download", "fullscreen"], min_width=120,
                                elem_id="interp-lerp", elem_classes=FRAMED)
            slerp_gif = gr.Image(first[1], label=t("interp.slerp_gif"), type="filepath", format="gif",
                                 interactive=False, buttons=["download", "fullscreen"], min_width=120,
                                 elem_id="interp-slerp", elem_classes=FRAMED)
        with gr.Column(scale=1, min_width=280):
            model = gr.Dropdown(choices, value=state["model"], label=t("interp.model"), elem_id="interp-model")
            context.register(model)
            mode = gr.Radio([(t(names[name]), name) for name in offered], value="seeds",
                            label=t("interp.mode"), info=t("interp.mode.info"), elem_id="interp-mode")
            with gr.Row():
                seed_a = LenientNumber(value=state["seed_a"], precision=0, label=t("interp.seed_a"),
                                   elem_id="interp-seed-a")
                seed_b = LenientNumber(value=state["seed_b"], precision=0, label=t("interp.seed_b"),
                                   elem_id="interp-seed-b")
            randomize = gr.Button(t("interp.random"), elem_id="interp-random")
            with gr.Row():
                class_a = dependent_dropdown(class_choices, value=state["class_a"], label=t("interp.class_a"),
                                      visible=bool(entry.num_classes), elem_id="interp-class-a")
                class_b = dependent_dropdown(class_choices, value=state["class_b"], label=t("interp.class_b"),
                                      visible=False, elem_id="interp-class-b")
            with gr.Column(visible=False) as drawings:  # stacked: side by side they shrink to half size
                gr.Markdown(t("interp.drawing_hint"))
                drawing_a = _sketchpad("interp.drawing_a", "interp-drawing-a")
                drawing_b = _sketchpad("interp.drawing_b", "interp-drawing-b")
            frames = LenientSlider(MIN_FRAMES, MAX_FRAMES, value=DEFAULT_FRAMES, step=1, label=t("interp.frames"),
                               elem_id="interp-frames")
            run = gr.Button(t("interp.run"), variant="primary", elem_id="interp-run")
    with gr.Row():
        lerp_strip = gr.Image(first[2], label=t("interp.lerp_strip"), type="numpy", format="png",
                              interactive=False, buttons=["download"], elem_id="interp-lerp-strip", elem_classes=FRAMED)
        slerp_strip = gr.Image(first[3], label=t("interp.slerp_strip"), type="numpy", format="png",
                               interactive=False, buttons=["download"], elem_id="interp-slerp-strip", elem_classes=FRAMED)
    plot = gr.LinePlot(first[4], x="frame", y="norm", color="method", label=t("interp.norm_plot"),
                       color_map=plot_colours(), y_lim=[0, None], elem_id="interp-norms")  # titles: see run
    summary = gr.Markdown(first[5], elem_id="interp-summary")
    gr.Markdown(t("interp.explain"), latex_delimiters=LATEX, elem_id="interp-explain")
    page_styles()

    inputs = [model, mode, seed_a, seed_b, class_a, class_b, drawing_a, drawing_b, frames]
    outputs = [lerp_gif, slerp_gif, lerp_strip, slerp_strip, plot, summary]
    control_outputs = [mode, seed_b, class_a, class_b, drawings]
    quiet = {"api_visibility": "private"}
    model.change(handlers.controls, [model, mode, class_a, class_b], control_outputs, **quiet).then(
        handlers.refresh, inputs, outputs, **quiet)
    mode.input(handlers.controls, [model, mode, class_a, class_b], control_outputs, **quiet).then(
        handlers.refresh, inputs, outputs, **quiet)
    run.click(handlers.run, inputs, outputs, api_name="interpolate")
    for number in (seed_a, seed_b):
        number.submit(handlers.refresh, inputs, outputs, **quiet)
    for dropdown in (class_a, class_b):
        dropdown.input(handlers.refresh, inputs, outputs, **quiet)
    frames.input(handlers.refresh, inputs, outputs, trigger_mode="always_last", show_progress="hidden", **quiet)
    randomize.click(handlers.random_seeds, None, [seed_a, seed_b], **quiet).then(
        handlers.refresh, inputs, outputs, **quiet)

    handlers.components = {"model": model, "mode": mode, "seed_a": seed_a, "seed_b": seed_b, "class_a": class_a,
                           "class_b": class_b, "drawing_a": drawing_a, "drawing_b": drawing_b, "frames": frames,
                           "lerp_gif": lerp_gif, "slerp_gif": slerp_gif, "lerp_strip": lerp_strip,
                           "slerp_strip": slerp_strip, "norms": plot, "summary": summary}
    handlers.inputs, handlers.outputs = inputs, outputs
    handlers.control_inputs, handlers.control_outputs = [model, mode, class_a, class_b], control_outputs
    return handlers
