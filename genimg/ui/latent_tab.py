"""Latent space tab: one slider per coordinate of z (for a flow, per principal direction of its noise image),
principal directions, truncation, and two models side by side.

Everything a request does is cheap: the model is cached by the renderer, the directions by a DirectionCache
(read from the model's folder where they were saved for its weights, else computed once per model, when it is
picked), and one image is a single forward pass under inference_mode.
"""

from __future__ import annotations

import contextlib
import math
import numbers
import random
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import gradio as gr
import numpy as np
import torch

from genimg.data.imaging import upscale
from genimg.explore.catalog import ModelEntry
from genimg.explore.directions import (
    DEFAULT_COUNT,
    STRIP_STEPS,
    DirectionCache,
    Directions,
    direction_strips,
    strip_grid,
)
from genimg.explore.latent import (
    compared_latent,
    edit_latent,
    latent_picture,
    slider_values,
)
from genimg.models.latent import parse_seed, seeded_latents
from genimg.store.checkpoint import CheckpointError
from genimg.ui.context import ExploreContext
from genimg.ui.explore import dependent_dropdown
from genimg.ui.fields import LenientNumber, LenientSlider
from genimg.ui.guard import in_words
from genimg.ui.i18n import LATEX, message, register, request_language, t

SLIDER_COUNT = 16  # Gradio needs a fixed set of components: these are shown, hidden and relabelled per model
SLIDERS_PER_ROW = 4  # in the controls column beside the image; a narrow screen wraps them two a row
SLIDER_RANGE = 3.0  # sliders span ±3 standard deviations; a seed's value beyond that is shown clamped
SLIDER_STEP = 0.01
STRENGTH_RANGE = 5.0
DISPLAY_SIZE = 280  # images are upscaled (nearest neighbour) by the whole factor that comes closest to this
RANDOM_SEEDS = 1_000_000
STRIP_SIDE = 56  # direction strip cells are upscaled by the whole factor that comes closest to this
STRIPS_KEPT = 64  # direction strip grids cached (model, seed, class, sliders, ψ): revisiting a seed costs nothing
NO_COMPARE = ""  # the compare dropdown's "none" value
STATE_KEYS = ("model", "seed", "sliders", "direction", "strength", "truncation", "label", "compare")
FRAMED = "genimg-framed"  # class of an image whose picture starts below Gradio's label and buttons (LATENT_CSS)
# Styles of the Latent space and Interpolate tabs, put into the page's <head> by page_styles(). Gradio floats an
# image's label (top left) and its buttons (top right) over the picture, hiding the first interpolation frames and
# a corner of the Latent image; a band of padding at the top of the image box holds them instead (absolutely placed
# children sit in the padding box, the picture below it).
FRAMED_CSS = f".{FRAMED} .image-container {{ padding-top: 2.6rem; }}\n"
# Presenter view (the page's <body> has the class genimg-presenter): the Latent tab's row covers the screen, the
# image as tall as the screen on the left, every control in a scrolling column on the right (on a phone: the image
# the full width on top, the controls scrolling below it). Gradio's columns carry inline sizes, hence !important.
PRESENTER = "body.genimg-presenter"
PRESENTER_CSS = (
    "#latent-exit-presenter { display: none !important; }\n"
    f"{PRESENTER} #latent-enter-presenter {{ display: none !important; }}\n"
    f"{PRESENTER} #latent-exit-presenter {{ display: flex !important; position: sticky; top: 0; z-index: 3; }}\n"
    f"{PRESENTER} {{ overflow: hidden; }}\n"
    f"{PRESENTER} #latent-layout {{ position: fixed !important; inset: 0; z-index: 1000; margin: 0; padding: 8px;"
    " gap: 12px; flex-wrap: nowrap !important; background: var(--body-background-fill); }\n"
    f"{PRESENTER} #latent-view {{ position: static !important; flex: 1 1 auto !important; min-width: 0 !important;"
    " max-width: none !important; height: calc(100vh - 16px); overflow: hidden; }\n"
    f"{PRESENTER} #latent-view .image-container {{ height: calc(100vh - 6rem) !important; }}\n"
    f"{PRESENTER} #latent-view .image-container > button, {PRESENTER} #latent-view .image-frame"
    " { width: 100%; height: 100%; }\n"
    f"{PRESENTER} #latent-view img {{ width: 100%; height: 100%; max-height: none !important;"
    " object-fit: contain; }\n"
    f"{PRESENTER} #latent-controls {{ flex: 0 0 420px !important; max-width: 420px; min-width: 0 !important;"
    " height: calc(100vh - 16px); overflow-y: auto; flex-wrap: nowrap !important; }\n"
    # two sliders a row in the narrow column (a Gradio row of four would run off the screen)
    f"{PRESENTER} #latent-controls .row {{ flex-wrap: wrap !important; }}\n"
    f"{PRESENTER} #latent-controls > * {{ flex-shrink: 0 !important; }}\n"
    f"{PRESENTER} #latent-controls .row > .block {{ min-width: 40% !important; }}\n"
    # a phone: the overlay scrolls, the image pinned at its top, the controls passing under it
    "@media (max-width: 640px) {"
    f" {PRESENTER} #latent-layout {{ flex-direction: column !important; overflow-y: auto; }}"
    f" {PRESENTER} #latent-exit-presenter {{ position: fixed; top: auto; bottom: 12px; right: 12px; width: auto;"
    " z-index: 1001; }"
    f" {PRESENTER} #latent-view {{ position: sticky !important; top: -8px; z-index: 2; flex: 0 0 auto !important;"
    " height: auto; }"
    f" {PRESENTER} #latent-view .image-container {{ height: min(100vw, 55vh) !important; }}"
    f" {PRESENTER} #latent-controls {{ flex: 0 0 auto !important; max-width: none; height: auto;"
    " overflow: visible; }"
    " }\n")
LATENT_CSS = FRAMED_CSS + PRESENTER_CSS
# Browser code for the two buttons: the view is the page's own state (no server round trip); Escape leaves it too.
ENTER_PRESENTER_JS = """() => {
  document.body.classList.add("genimg-presenter");
  if (!window.genimgPresenterKeys) {
    window.genimgPresenterKeys = true;
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") document.body.classList.remove("genimg-presenter");
    });
  }
}"""
EXIT_PRESENTER_JS = """() => { document.body.classList.remove("genimg-presenter"); }"""

ENGLISH = {
    "latent.intro": (
        "### Latent space\n"
        "A generator turns a vector of numbers into an image: $z \\sim \\mathcal{N}(0, I)$, $x = G(z)$ "
        "(for a VAE, $G$ is the decoder). The **seed** picks $z$; each **slider** below is one coordinate $z_i$. "
        "Drag one and see what it controls: usually several things at once, because nothing in training asked "
        "single coordinates to mean anything. A flow's $z$ is a whole noise image, one number per pixel, so its "
        "sliders are instead the coordinates of $z$ along its first principal directions (below): moving slider "
        "PC$k$ by $\\delta$ is the step $z' = z + \\delta v_k$.\n\n"
        "**Principal directions** (GANSpace): we push thousands of random $z$ through the network's first layer, find the "
        "directions in which those activations vary most (PCA), and map each back to a unit vector $v$ in z-space. "
        "A step along one is $z' = z + \\alpha v$; PC1 is the biggest change the network makes, and the percentage "
        "is its share of the variance. For a flow, whose network gives a velocity, that first layer is the rough "
        "picture two Euler steps draw from the noise: the velocity at $t = 0$ only points from the noise towards the "
        "average picture, so it holds no direction of the data.\n\n"
        "**Truncation**: $z' = \\psi z$ pulls $z$ towards the centre of the distribution, where the generator was "
        "trained most; images get cleaner and more typical but less varied, and at $\\psi = 0$ every seed gives the "
        "same average image. Together: $z' = \\psi z + \\alpha v$.\n\n"
        "**Compare** renders the same $z$ with a second model: a GAN and a VAE turn the same numbers into different "
        "images, because nothing ties their latent spaces together."),
    "latent.model": "Model",
    "latent.compare": "Compare with",
    "latent.compare.info": "Optional: a second model that renders the same z.",
    "latent.seed": "Seed",
    "latent.random": "🎲 Random",
    "latent.class": "Class",
    "latent.truncation": "Truncation ψ",
    "latent.truncation.info": "z' = ψ·z: lower ψ trades variety for quality (1 = plain samples, 0 = the average image).",
    "latent.direction": "Principal direction",
    "latent.direction.info": "PCs of the first layer's activations, mapped back to z; the % is the variance each explains.",
    "latent.strength": "Strength α",
    "latent.strength.info": "z' = z + α·v along the chosen direction.",
    "latent.image": "Image",
    "latent.compare_image": "Compared model",
    "latent.sliders": "#### The sliders: z's coordinates\nEach slider starts at the seed's value (rounded to 0.01).",
    "latent.no_models": ("**No trained models were found.** Train one with `python -m genimg train ... --out "
                         "checkpoints/NAME` and reload the page."),
    "latent.note.all": "All {total} dimensions of z have a slider.",
    "latent.note.first": ("Showing the first {shown} of {total} dimensions; the other {rest} keep the seed's "
                          "values."),
    "latent.note.axes": ("z is a noise image of {total} pixels, so the {shown} sliders are its coordinates along "
                         "principal directions PC1 to PC{shown}; the rest of z (the other {rest} directions) keeps "
                         "the seed's values."),
    "latent.note.compare_same": "**{name}** renders exactly the same z.",
    "latent.note.compare_own": ("**{name}**'s z has {other} dimensions and this model's has {dim}, so it renders "
                                "the seed's own z of {other} dimensions (with the same ψ), without the slider and "
                                "direction changes."),
    "latent.error.model": "Pick a model from the list first.",
    "latent.error.compare": "Pick the model to compare with from the list (or none).",
    "latent.error.load": "This model could not be loaded: {detail}",
    "latent.error.seed": "The seed must be a whole number from 0 to 9,223,372,036,854,775,807.",
    "latent.error.number": "{name} must be a finite number; got {value}.",
    "latent.error.sliders": "This model has {expected} sliders; got {count} values.",
    "latent.error.class": "{value} is not a class of this model: choose one from the list.",
    "latent.error.direction": "{value} is not a direction of this model: choose PC1 to PC{count}.",
    "latent.error.no_directions": "No principal directions could be found for this model: {detail}",
    "latent.error.state": "This saved state cannot be used: {detail}",
    "latent.error.title": "Error",
    "latent.error.unexpected": "The image could not be drawn ({detail}). Try again, or pick another model.",
    "latent.warning.title": "Note",
    "latent.warning.clamped": "{name} goes from {low:g} to {high:g}: {value:g} was taken as {used:g}.",
    "latent.pc": "PC{number}",
    "latent.presenter": "🖥️ Presenter view",
    "latent.presenter.exit": "✕ Leave presenter view (Esc)",
    "latent.strips": "Along the principal directions",
    "latent.strips.caption": "A row per direction (PC1 at the top), α = −3 … +3 from left to right; the middle "
                             "column is the current z.",
}

CHINESE = {
    "latent.intro": (
        "### 隐空间\n"
        "生成器把一个数字向量变成一幅图像：$z \\sim \\mathcal{N}(0, I)$，$x = G(z)$（对 VAE 来说，$G$ 就是解码器）。"
        "**种子**决定 $z$；下面的每个**滑块**是 $z$ 的一个坐标 $z_i$。拖动一个滑块，看看它控制什么："
        "通常同时控制好几样东西，因为训练从来没有要求单个坐标具有某种含义。流模型的 $z$ 是一整幅噪声图像，每个像素一个数，"
        "所以它的滑块改为 $z$ 沿前几个主方向（见下文）的坐标：把滑块 PC$k$（主成分$k$）移动 $\\delta$，就是走一步 "
        "$z' = z + \\delta v_k$。\n\n"
        "**主方向**（GANSpace）：我们把几千个随机的 $z$ 送进网络的第一层，用主成分分析（PCA）找出这些激活值变化最大的方向，"
        "再把每个方向映射回 z 空间中的一个单位向量 $v$。沿它走一步就是 $z' = z + \\alpha v$；主成分1 是网络最大的变化，"
        "百分比是它解释的方差比例。对流模型来说，网络给出的是速度，这里的“第一层”换成从噪声出发、用欧拉法走两步画出的粗略图像："
        "$t = 0$ 时的速度只是从噪声指向平均图像，不含数据的任何方向。\n\n"
        "**截断**：$z' = \\psi z$ 把 $z$ 拉向分布的中心，那里是生成器训练得最充分的地方；图像会更干净、更典型，但多样性更低，"
        "当 $\\psi = 0$ 时每个种子都给出同一幅“平均”图像。合在一起：$z' = \\psi z + \\alpha v$。\n\n"
        "**对比**用第二个模型渲染同一个 $z$：GAN 和 VAE 会把同样的数字变成不同的图像，因为它们的隐空间之间没有任何联系。"),
    "latent.model": "模型",
    "latent.compare": "对比模型",
    "latent.compare.info": "可选：用第二个模型渲染同一个 z。",
    "latent.seed": "种子",
    "latent.random": "🎲 随机",
    "latent.class": "类别",
    "latent.truncation": "截断 ψ",
    "latent.truncation.info": "z' = ψ·z：ψ 越小，用多样性换取质量（1 = 普通采样，0 = 平均图像）。",
    "latent.direction": "主方向",
    "latent.direction.info": "第一层激活值的主成分，映射回 z 空间；百分比是每个方向解释的方差比例。",
    "latent.strength": "强度 α",
    "latent.strength.info": "沿所选方向：z' = z + α·v。",
    "latent.image": "图像",
    "latent.compare_image": "对比模型",
    "latent.sliders": "#### 滑块：z 的坐标\n每个滑块从种子对应的值开始（保留两位小数）。",
    "latent.no_models": ("**没有找到训练好的模型。** 用 `python -m genimg train ... --out checkpoints/NAME` "
                         "训练一个，然后刷新页面。"),
    "latent.note.all": "z 的全部 {total} 个维度都有滑块。",
    "latent.note.first": "显示 {total} 个维度中的前 {shown} 个；其余 {rest} 个保持种子的取值。",
    "latent.note.axes": ("z 是一幅有 {total} 个像素的噪声图像，所以这 {shown} 个滑块 PC1 到 PC{shown} 是它沿主方向"
                         "（主成分1 到 主成分{shown}）的坐标；z 的其余部分（其他 {rest} 个方向）保持种子的取值。"),
    "latent.note.compare_same": "**{name}** 渲染的是完全相同的 z。",
    "latent.note.compare_own": ("**{name}** 的 z 是 {other} 维的，而这个模型的 z 是 {dim} 维的，所以它渲染的是同一个种子"
                                "自己的 {other} 维 z（使用相同的 ψ），不包含滑块和主方向的改动。"),
    "latent.error.model": "请先从列表中选择一个模型。",
    "latent.error.compare": "请从列表中选择要对比的模型（或者不选）。",
    "latent.error.load": "无法加载这个模型：{detail}",
    "latent.error.seed": "种子必须是 0 到 9,223,372,036,854,775,807 之间的整数。",
    "latent.error.number": "{name} 必须是有限的数字；收到的是 {value}。",
    "latent.error.sliders": "这个模型有 {expected} 个滑块；收到了 {count} 个值。",
    "latent.error.class": "{value} 不是这个模型的类别：请从列表中选择。",
    "latent.error.direction": "{value} 不是这个模型的方向：请选择主成分1 到主成分{count}。",
    "latent.error.no_directions": "无法为这个模型找到主方向：{detail}",
    "latent.error.state": "无法使用这个保存的状态：{detail}",
    "latent.error.title": "出错了",
    "latent.error.unexpected": "无法画出这幅图像（{detail}）。请再试一次，或者换一个模型。",
    "latent.warning.title": "提示",
    "latent.warning.clamped": "{name} 的范围是 {low:g} 到 {high:g}：{value:g} 按 {used:g} 处理。",
    "latent.pc": "主成分{number}",
    "latent.presenter": "🖥️ 演示模式",
    "latent.presenter.exit": "✕ 退出演示模式（Esc）",
    "latent.strips": "沿主方向变化",
    "latent.strips.caption": "每行一个方向（最上面是主成分1），从左到右 α = −3 … +3；中间一列是当前的 z。",
}

register(ENGLISH, CHINESE)

_SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def failure(key: str, language: str = "en", title_key: str = "latent.error.title", **values: object) -> gr.Error:
    """A gr.Error whose title and sentence are both in the user's language (Gradio's default title is "Error")."""
    return gr.Error(message(key, language, **values), title=message(title_key, language))


def slider_label(index: int) -> str:
    """z₁, z₂, … for the slider of coordinate `index` (0-based)."""
    return "z" + str(index + 1).translate(_SUBSCRIPTS)


def shortened(value: Any) -> str:
    """A value as an error message shows it: its repr, cut at 24 characters (1e308 has 309 digits; a picker with
    allow_custom_value takes whatever is typed)."""
    shown = repr(value)
    return shown if len(shown) <= 24 else shown[:20] + "…"


def shown_dims(latent_dim: int) -> int:
    """How many sliders a model with this latent size gets."""
    return min(latent_dim, SLIDER_COUNT)


def display_scale(image_size: int) -> int:
    """The whole upscaling factor that brings `image_size` closest to DISPLAY_SIZE from below (at least 1)."""
    return max(1, DISPLAY_SIZE // image_size)


ImageArray = np.ndarray  # uint8 (H, W) or (H, W, 3)


class LatentHandlers:
    """The tab's callbacks and its state API, testable without a browser.

    Every value a user can send is checked here; problems raise gr.Error in the user's language
    (the `language` argument: "en" or "zh-CN").
    """

    def __init__(self, context: ExploreContext, directions: DirectionCache | None = None) -> None:
        self.context = context
        self.renderer = context.renderer
        self.directions_cache = directions if directions is not None else DirectionCache()
        self._strips: OrderedDict[tuple, ImageArray] = OrderedDict()  # least recently used first
        self._strips_lock = threading.Lock()
        # set by build_latent_tab: the components, for the lead's URL state and lesson wiring
        self.components: dict[str, Any] = {}

    # ------------------------------------------------------------------ validation
    def entry(self, model: Any, language: str = "en") -> ModelEntry:
        """The model for a dropdown value; nothing but a listed folder is ever opened."""
        entry = self.context.entry(model) if isinstance(model, str) else None
        if entry is None:
            raise failure("latent.error.model", language)
        return entry

    def compare_entry(self, compare: Any, language: str = "en") -> ModelEntry | None:
        if compare is None or compare == NO_COMPARE:
            return None
        entry = self.context.entry(compare) if isinstance(compare, str) else None
        if entry is None:
            raise failure("latent.error.compare", language)
        return entry

    @staticmethod
    def seed(value: Any, language: str = "en") -> int:
        """A whole number in [0, 2**63) (an int, or a float/str holding one), else gr.Error."""
        parsed = parse_seed(value)
        if parsed is None:
            raise failure("latent.error.seed", language)
        return parsed

    @staticmethod
    def number(value: Any, name: str, low: float, high: float, language: str = "en") -> float:
        """A finite number, clamped to [low, high]; NaN, ±inf and non-numbers raise gr.Error naming `name`."""
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise failure("latent.error.number", language, name=name, value=shortened(value))
        used = float(min(max(value, low), high))
        if used != value:  # typed into the slider's box beyond its range: drawn at the nearest end, and said so
            gr.Warning(message("latent.warning.clamped", language, name=name, low=low, high=high, value=value,
                               used=used), title=message("latent.warning.title", language))
        return used

    def sliders(self, values: Sequence[Any], entry: ModelEntry, seed: int, language: str = "en") -> list[float]:
        """The first slider_count(entry) values, checked and clamped to ±3; missing ones are the seed's values.

        Extra values are allowed only up to SLIDER_COUNT (the page always sends all 16; hidden ones are ignored).
        """
        count = self.slider_count(entry)
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            raise failure("latent.error.sliders", language, expected=count, count=repr(values))
        if len(values) > count and len(values) != SLIDER_COUNT:
            raise failure("latent.error.sliders", language, expected=count, count=len(values))
        chosen = [self.number(value, self.slider_name(entry, index), -SLIDER_RANGE, SLIDER_RANGE, language)
                  for index, value in enumerate(values[:count])]
        if len(chosen) < count:
            chosen += self.seed_sliders(entry, seed, language)[len(chosen):]
        return chosen

    # ------------------------------------------------------------------ what the sliders are
    def along_axes(self, entry: ModelEntry) -> bool:
        """True when the sliders are z's coordinates along the model's principal directions, not z's own first
        values: a model that draws by integrating an ODE from its latent (a flow) has a noise image for z, whose
        single pixels change nothing anyone can see."""
        return entry.capabilities.ode

    def slider_count(self, entry: ModelEntry) -> int:
        """How many sliders this model gets: one per principal direction the cache finds for a flow (at most
        SLIDER_COUNT), else shown_dims(D)."""
        if self.along_axes(entry):
            return min(SLIDER_COUNT, self.directions_cache.count, entry.latent_dim)
        return shown_dims(entry.latent_dim)

    def slider_name(self, entry: ModelEntry, index: int) -> str:
        """The label of slider `index` (0-based), the same in every language (a label beside a phone's narrow slider
        has room for about three characters): z₁, z₂, … or, along principal directions, PC1, PC2, …"""
        if self.along_axes(entry):
            return f"PC{index + 1}"
        return slider_label(index)

    def slider_axes(self, entry: ModelEntry, language: str = "en") -> torch.Tensor | None:
        """The axes the sliders move z along, (slider_count, D), or None when they are z's own first values."""
        if not self.along_axes(entry):
            return None
        network, _ = self._model(entry, language)
        try:
            found = self.directions_cache.get(network, entry.path)
        except (TypeError, ValueError, RuntimeError) as error:
            raise failure("latent.error.no_directions", language, detail=str(error)) from None
        count = self.slider_count(entry)
        if len(found) < count:  # a model whose first features vary in fewer ways than it has sliders
            raise failure("latent.error.no_directions", language,
                          detail=f"{len(found)} directions were found, {count} are needed for the sliders")
        return found.vectors[:count]

    def label(self, value: Any, entry: ModelEntry, compare: ModelEntry | None, language: str = "en") -> int | None:
        """The class index for the class picker; None when neither model is conditional (a class sent anyway, e.g.
        by a page that has not caught up with a model change yet, is ignored)."""
        source = class_source(entry, compare)
        if source is None:
            return None
        if value is None:
            return 0
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < source.num_classes:
            raise failure("latent.error.class", language, value=shortened(value))
        return value

    def direction(self, value: Any, entry: ModelEntry, language: str = "en") -> int | None:
        if value is None:
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        count = min(DEFAULT_COUNT, entry.latent_dim)
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < count:
            raise failure("latent.error.direction", language, value=shortened(value), count=count)
        return value

    # ------------------------------------------------------------------ library calls
    def _model(self, entry: ModelEntry, language: str):
        try:
            return self.renderer.model(entry.path)
        except (CheckpointError, OSError, ValueError, RuntimeError) as error:
            raise failure("latent.error.load", language, detail=str(error)) from None

    def directions(self, model: Any, language: str = "en") -> Directions:
        """The model's principal directions (read from its folder or computed on first use, then cached)."""
        entry = self.entry(model, language)
        network, _ = self._model(entry, language)
        try:
            return self.directions_cache.get(network, entry.path)
        except (TypeError, ValueError, RuntimeError) as error:
            raise failure("latent.error.no_directions", language, detail=str(error)) from None

    def direction_choices(self, model: Any, language: str = "en") -> list[tuple[str, int]]:
        """("PC1 · 12.3%", 0), … ("主成分1 · 12.3%" in Chinese) for the direction dropdown; [] when the model has
        none."""
        try:
            found = self.directions(model, language)
        except gr.Error:
            return []
        return [(f"{message('latent.pc', language, number=index + 1)} · {share:.1%}", index)
                for index, share in enumerate(found.explained_variance.tolist())]

    def seed_sliders(self, entry: ModelEntry, seed: int, language: str = "en") -> list[float]:
        """The slider positions for a seed, rounded to 0.01, within ±3: its z's first shown_dims(D) values, or its
        coordinates along the slider axes (a flow)."""
        return slider_values(seed, entry.latent_dim, self.slider_count(entry), SLIDER_RANGE,
                             self.slider_axes(entry, language))

    def _image(self, network, entry: ModelEntry, z: torch.Tensor, label: int | None) -> ImageArray:
        """One image of z (1, D), upscaled crisply: uint8 (H, W) or (H, W, 3). A class this model lacks (the class
        picker may list the compared model's classes) draws its first class."""
        chosen = None
        if entry.num_classes:
            chosen = label if label is not None and 0 <= label < entry.num_classes else 0
        array = latent_picture(network, z, chosen)
        return upscale(array, display_scale(array.shape[1]))

    def _render(self, entry: ModelEntry, compare: ModelEntry | None, seed: int, sliders: list[float],
                label: int | None, direction: int | None, strength: float, truncation: float,
                language: str) -> tuple[ImageArray, ImageArray | None]:
        """Checked values → (image, compared image or None) of z' = ψ·z + α·v (genimg.explore.latent.edit_latent)."""
        network, _ = self._model(entry, language)
        vector = None
        if direction is not None and strength != 0.0:
            try:
                found = self.directions_cache.get(network, entry.path)
            except (TypeError, ValueError, RuntimeError) as error:
                raise failure("latent.error.no_directions", language, detail=str(error)) from None
            if direction >= len(found):
                raise failure("latent.error.direction", language, value=repr(direction), count=len(found))
            vector = found.vectors[direction]
        z = edit_latent(seeded_latents(seed, 1, entry.latent_dim), sliders, truncation, vector, strength,
                        self.slider_axes(entry, language))
        image = self._image(network, entry, z, label)
        if compare is None:
            return image, None
        other, _ = self._model(compare, language)
        return image, self._image(other, compare, compared_latent(z, seed, compare.latent_dim, truncation), label)

    def _checked(self, model: Any, seed: Any, label: Any, direction: Any, strength: Any, truncation: Any,
                 compare: Any, sliders: Sequence[Any], language: str) -> dict[str, Any]:
        entry = self.entry(model, language)
        other = self.compare_entry(compare, language)
        chosen_seed = self.seed(seed, language)
        return {
            "entry": entry, "compare": other, "seed": chosen_seed,
            "sliders": self.sliders(sliders, entry, chosen_seed, language),
            "label": self.label(label, entry, other, language),
            "direction": self.direction(direction, entry, language),
            "strength": self.number(0.0 if strength is None else strength, message("latent.strength", language),
                                    -STRENGTH_RANGE, STRENGTH_RANGE, language),
            "truncation": self.number(1.0 if truncation is None else truncation,
                                      message("latent.truncation", language), 0.0, 1.0, language),
        }

    # ------------------------------------------------------------------ events
    @in_words("latent.error.unexpected", "latent.error.title")
    def render(self, model: Any, seed: Any, label: Any, direction: Any, strength: Any, truncation: Any,
               compare: Any, sliders: Sequence[Any], language: str = "en",
               preview: bool = False) -> tuple[ImageArray, ImageArray | None]:
        """The hot path (a slider moved): (image, compared image or None). `preview`: while a slider is dragged, a
        model that draws in many steps (a flow) draws a rough picture in few (its `previewing`); the others draw as
        always. `finish` then draws the full picture when the drag ends."""
        values = self._checked(model, seed, label, direction, strength, truncation, compare, sliders, language)
        with contextlib.ExitStack() as stack:
            if preview:
                for entry in (values["entry"], values["compare"]):
                    if entry is not None:
                        network, _ = self._model(entry, language)
                        stack.enter_context(network.previewing(network))
            return self._render(values["entry"], values["compare"], values["seed"], values["sliders"],
                                values["label"], values["direction"], values["strength"], values["truncation"],
                                language)

    def finish(self, model: Any, seed: Any, label: Any, direction: Any, strength: Any, truncation: Any,
               compare: Any, sliders: Sequence[Any], language: str = "en") -> tuple[Any, Any]:
        """A drag ended: the full pictures where the preview was rough (a flow is shown, or compared); gr.skip()
        for models whose preview is their picture."""
        entries = [self.context.entry(model), self.context.entry(compare) if compare else None]
        if not any(entry is not None and entry.capabilities.ode for entry in entries):
            return gr.skip(), gr.skip()
        return self.render(model, seed, label, direction, strength, truncation, compare, sliders, language)

    @in_words("latent.error.unexpected", "latent.error.title")
    def reseed(self, model: Any, seed: Any, label: Any, direction: Any, strength: Any, truncation: Any,
               compare: Any, language: str = "en") -> list[Any]:
        """A new seed: the 16 slider values (the seed's z) and both images, in one round trip."""
        entry = self.entry(model, language)
        positions = self.seed_sliders(entry, self.seed(seed, language), language)
        image, other = self.render(model, seed, label, direction, strength, truncation, compare, positions,
                                   language)
        return [*_pad(positions), image, _compare_update(other)]

    @in_words("latent.error.unexpected", "latent.error.title")
    def pick_model(self, model: Any, seed: Any, label: Any, truncation: Any, compare: Any,
                   language: str = "en") -> list[Any]:
        """A new model: sliders shown, labelled and set to the seed's z; directions listed (computed once per
        model); strength back to 0; the class picker for this pair of models; both images. One round trip."""
        entry = self.entry(model, language)
        other = self.compare_entry(compare, language)
        chosen_seed = self.seed(seed, language)
        source = class_source(entry, other)
        keep = source is not None and isinstance(label, int) and not isinstance(label, bool) and \
            0 <= label < source.num_classes
        state = {"model": str(entry.path), "seed": chosen_seed,
                 "sliders": self.seed_sliders(entry, chosen_seed, language),
                 "direction": 0, "strength": 0.0, "label": label if keep else None,
                 "truncation": self.number(1.0 if truncation is None else truncation,
                                           message("latent.truncation", language), 0.0, 1.0, language),
                 "compare": None if other is None else str(other.path)}
        return self._layout(state, language)

    @in_words("latent.error.unexpected", "latent.error.title")
    def pick_compare(self, model: Any, seed: Any, label: Any, direction: Any, strength: Any, truncation: Any,
                     compare: Any, sliders: Sequence[Any], language: str = "en") -> list[Any]:
        """A new model to compare with: the class picker (it may now be needed) and both images."""
        entry = self.entry(model, language)
        other = self.compare_entry(compare, language)
        source = class_source(entry, other)
        if source is None:
            label = None
        elif not (isinstance(label, int) and 0 <= label < source.num_classes):
            label = 0
        image, second = self.render(model, seed, label, direction, strength, truncation, compare, sliders, language)
        return [class_update(source, label), image, _compare_update(second)]

    @in_words("latent.error.unexpected", "latent.error.title")
    def notes(self, model: Any, compare: Any, language: str = "en") -> str:
        """The line under the images: how many dimensions have sliders, and what the compared model renders."""
        entry = self.context.entry(model) if isinstance(model, str) else None
        if entry is None:
            return ""
        total, shown = entry.latent_dim, self.slider_count(entry)
        if self.along_axes(entry):
            lines = [message("latent.note.axes", language, shown=shown, total=total, rest=total - shown)]
        else:
            lines = [message("latent.note.all", language, total=total) if total == shown else
                     message("latent.note.first", language, shown=shown, total=total, rest=total - shown)]
        other = self.context.entry(compare) if isinstance(compare, str) and compare else None
        if other is not None:
            if other.latent_dim == entry.latent_dim:
                lines.append(message("latent.note.compare_same", language, name=other.name))
            else:
                lines.append(message("latent.note.compare_own", language, name=other.name, other=other.latent_dim,
                                     dim=entry.latent_dim))
        return "\n\n".join(lines)

    @in_words("latent.error.unexpected", "latent.error.title")
    def strips(self, model: Any, seed: Any, label: Any, truncation: Any, compare: Any, sliders: Sequence[Any],
               language: str = "en") -> ImageArray | None:
        """The direction strips around the current z (the seed's z with the sliders, times ψ; no direction step):
        one picture, a row per principal direction (PC1 first) and a column per α in STRIP_STEPS, uint8 (H, W) or
        (H, W, 3). None when the model has no directions. The last STRIPS_KEPT results are kept."""
        values = self._checked(model, seed, label, None, 0.0, truncation, compare, sliders, language)
        entry = values["entry"]
        network, _ = self._model(entry, language)
        try:
            found = self.directions_cache.get(network, entry.path)
        except (TypeError, ValueError, RuntimeError):
            return None  # the direction picker says so; there is nothing to draw along
        chosen = None
        if entry.num_classes:
            chosen = values["label"] if values["label"] is not None and values["label"] < entry.num_classes else 0
        key = (id(network), str(entry.path), values["seed"], chosen, tuple(values["sliders"]), values["truncation"])
        with self._strips_lock:
            if key in self._strips:
                self._strips.move_to_end(key)
                return self._strips[key]
        z = edit_latent(seeded_latents(values["seed"], 1, entry.latent_dim), values["sliders"], values["truncation"],
                        axes=self.slider_axes(entry, language))
        images = direction_strips(network, z, found.vectors, STRIP_STEPS, chosen)
        grid = strip_grid(images, len(STRIP_STEPS), scale=max(1, STRIP_SIDE // images.shape[-1]))
        with self._strips_lock:
            self._strips[key] = grid
            while len(self._strips) > STRIPS_KEPT:
                self._strips.popitem(last=False)
        return grid

    @staticmethod
    def random_seed() -> int:
        return random.randrange(0, RANDOM_SEEDS)

    # ------------------------------------------------------------------ state (URL state, lesson bundles)
    @in_words("latent.error.unexpected", "latent.error.title")
    def state(self, model: Any, seed: Any, label: Any, direction: Any, strength: Any, truncation: Any,
              compare: Any, sliders: Sequence[Any], language: str = "en") -> dict[str, Any]:
        """The page's values as a checked, JSON-serialisable dict (keys: STATE_KEYS).

        {"model": folder path, "seed": int, "sliders": [float × slider_count], "direction": int (0 = PC1) or
        None, "strength": float, "truncation": float, "label": int or None, "compare": folder path or None}
        """
        values = self._checked(model, seed, label, direction, strength, truncation, compare, sliders, language)
        return {
            "model": str(values["entry"].path), "seed": values["seed"], "sliders": values["sliders"],
            "direction": values["direction"], "strength": values["strength"], "truncation": values["truncation"],
            "label": values["label"], "compare": None if values["compare"] is None else str(values["compare"].path),
        }

    def _state_values(self, state: Any, language: str) -> dict[str, Any]:
        if not isinstance(state, dict):
            detail = f"expected a dict, got {type(state).__name__}"
            raise failure("latent.error.state", language, detail=detail)
        unknown = sorted(set(state) - set(STATE_KEYS), key=str)
        if unknown:
            raise failure("latent.error.state", language,
                                   detail=f"unknown keys {unknown}; accepted: {', '.join(STATE_KEYS)}")
        if "model" not in state or "seed" not in state:
            raise failure("latent.error.state", language, detail="'model' and 'seed' are required")
        return {"model": state["model"], "seed": state["seed"], "label": state.get("label"),
                "direction": state.get("direction"), "strength": state.get("strength", 0.0),
                "truncation": state.get("truncation", 1.0), "compare": state.get("compare"),
                "sliders": state.get("sliders", [])}

    @in_words("latent.error.unexpected", "latent.error.title")
    def render_from_state(self, state: dict, language: str = "en") -> tuple[ImageArray, ImageArray | None]:
        """(image, compared image or None) for a state dict; the same pixels as the page shows for it.

        Missing optional keys take the page's defaults (sliders: the seed's values, direction: none,
        strength 0, truncation 1, label: the first class, compare: none).
        """
        return self.render(**self._state_values(state, language), language=language)

    @in_words("latent.error.unexpected", "latent.error.title")
    def apply_state(self, state: dict, language: str = "en") -> list[Any]:
        """gr.updates that put a state on the page, in the order of `components["state_outputs"]`:
        model, seed, truncation, compare, then what pick_model returns (16 sliders, direction, strength, class,
        image, compared image), then the direction strips around the state's z."""
        values = self._state_values(state, language)
        checked = self.state(**values, language=language)
        layout = self._layout(checked, language)
        strips = self.strips(checked["model"], checked["seed"], checked["label"], checked["truncation"],
                             checked["compare"] or NO_COMPARE, checked["sliders"], language)
        return [gr.update(value=checked["model"]), gr.update(value=checked["seed"]),
                gr.update(value=checked["truncation"]), gr.update(value=checked["compare"] or NO_COMPARE), *layout,
                strips]

    def _layout(self, state: dict[str, Any], language: str) -> list[Any]:
        """16 slider updates, direction, strength, class, image, compared image for a checked state."""
        entry = self.entry(state["model"], language)
        other = self.compare_entry(state["compare"], language)
        shown = self.slider_count(entry)
        sliders = [gr.update(visible=index < shown, label=self.slider_name(entry, index),
                             value=state["sliders"][index] if index < shown else 0.0)
                   for index in range(SLIDER_COUNT)]
        choices = self.direction_choices(state["model"], language)
        direction = state["direction"] if state["direction"] is not None and state["direction"] < len(choices) else 0
        direction_update = gr.update(choices=choices, value=direction if choices else None,
                                     interactive=bool(choices))
        label = self.label(state["label"], entry, other, language)
        image, second = self._render(entry, other, state["seed"], state["sliders"], label,
                                     direction if choices else None, state["strength"], state["truncation"], language)
        return [*sliders, direction_update, gr.update(value=state["strength"]),
                class_update(class_source(entry, other), label), image, _compare_update(second)]


def class_source(entry: ModelEntry, compare: ModelEntry | None) -> ModelEntry | None:
    """The model whose classes the class picker lists: the main one if conditional, else the compared one."""
    if entry.num_classes:
        return entry
    if compare is not None and compare.num_classes:
        return compare
    return None


def class_update(source: ModelEntry | None, label: int | None) -> dict:
    if source is None:
        return gr.update(choices=[], value=None, visible=False)
    choices = [(name, index) for index, name in enumerate(source.class_names)]
    return gr.update(choices=choices, value=label if label is not None else 0, visible=True)


def _compare_update(image: ImageArray | None) -> dict:
    return gr.update(value=image, visible=image is not None)


def _pad(positions: list[float]) -> list[float]:
    return positions + [0.0] * (SLIDER_COUNT - len(positions))


def _initial(handlers: LatentHandlers, model: str) -> dict[str, Any] | None:
    """The first model's layout at seed 0 as plain values, or None if it cannot be loaded (the page still opens;
    picking the model again shows the error)."""
    try:
        updates = handlers.pick_model(model, 0, None, 1.0, NO_COMPARE)
    except gr.Error:  # a broken checkpoint must not keep the page from opening (pick_model explains every failure)
        return None
    *sliders, direction, _, label, image, _ = updates
    values = [slider["value"] for slider in sliders[:handlers.slider_count(handlers.entry(model))]]
    try:
        strips = handlers.strips(model, 0, label["value"], 1.0, NO_COMPARE, values)
    except gr.Error:
        strips = None
    return {"sliders": sliders, "direction": direction, "label": label, "image": image, "strips": strips}


def page_styles() -> gr.HTML:
    """An empty block that puts LATENT_CSS into the page's <head> (so no other file has to carry these styles)."""
    return gr.HTML("", head=f"<style>{LATENT_CSS}</style>", container=False, padding=False,
                   elem_id="latent-styles", elem_classes="genimg-styles")


def build_latent_tab(context: ExploreContext) -> LatentHandlers:
    """Lay out the tab inside the current gr.Blocks and wire its events; the handlers keep the components."""
    handlers = LatentHandlers(context)
    gr.Markdown(t("latent.intro"), latex_delimiters=LATEX, elem_id="latent-intro")
    choices = context.choices()
    if not choices:
        gr.Markdown(t("latent.no_models"), elem_id="latent-no-models")
        return handlers
    first = choices[0][1]
    initial = _initial(handlers, first)
    hidden = {"visible": False, "value": 0.0, "label": ""}
    slider_start = initial["sliders"] if initial else [hidden] * SLIDER_COUNT
    direction_start = initial["direction"] if initial else {"choices": [], "value": None}
    label_start = initial["label"] if initial else {"choices": [], "value": None, "visible": False}

    # The image beside the controls (desktop) or above them (phone), pinned by CSS (#latent-view in app.py) so it
    # stays in view while the sliders scroll past: watching the picture change is the point of the tab.
    with gr.Row(equal_height=False, elem_id="latent-layout"):
        with gr.Column(scale=2, min_width=280, elem_id="latent-view"):
            with gr.Row():
                image = gr.Image(initial["image"] if initial else None, label=t("latent.image"), type="numpy",
                                 format="png", interactive=False, min_width=120, elem_id="latent-image",
                                 elem_classes=FRAMED)
                compare_image = gr.Image(None, label=t("latent.compare_image"), type="numpy", format="png",
                                         interactive=False, visible=False, min_width=120, elem_id="latent-compare",
                                         elem_classes=FRAMED)
            note = gr.Markdown(elem_id="latent-note")
            # for a projector: the image fills the screen, the controls stay beside it (PRESENTER_CSS)
            enter_presenter = gr.Button(t("latent.presenter"), size="sm", elem_id="latent-enter-presenter")
        with gr.Column(scale=3, min_width=300, elem_id="latent-controls"):
            exit_presenter = gr.Button(t("latent.presenter.exit"), size="sm", elem_id="latent-exit-presenter")
            model = gr.Dropdown(choices, value=first, label=t("latent.model"), elem_id="latent-model")
            compare = gr.Dropdown([("—", NO_COMPARE), *choices], value=NO_COMPARE, label=t("latent.compare"),
                                  info=t("latent.compare.info"), elem_id="latent-compare-model")
            context.register(model)
            context.register(compare, first=(("—", NO_COMPARE),))
            with gr.Row():
                seed = LenientNumber(value=0, precision=0, label=t("latent.seed"), elem_id="latent-seed")
                randomize = gr.Button(t("latent.random"), elem_id="latent-random")
            label = dependent_dropdown(label_start["choices"], value=label_start["value"],
                                       visible=label_start["visible"],
                                       label=t("latent.class"), elem_id="latent-class")
            truncation = LenientSlider(0.0, 1.0, value=1.0, step=0.01, label=t("latent.truncation"),
                                   info=t("latent.truncation.info"), elem_id="latent-truncation")
            direction = dependent_dropdown(direction_start["choices"], value=direction_start["value"],
                                           label=t("latent.direction"), info=t("latent.direction.info"),
                                           elem_id="latent-direction")
            strength = LenientSlider(-STRENGTH_RANGE, STRENGTH_RANGE, value=0.0, step=0.05, label=t("latent.strength"),
                                 info=t("latent.strength.info"), elem_id="latent-strength")
            # GANSpace's view of the directions, under the direction picker and its strength slider
            strips = gr.Image(initial["strips"] if initial else None, label=t("latent.strips"), type="numpy",
                              format="png", interactive=False, buttons=["download"], elem_id="latent-strips",
                              elem_classes=FRAMED)
            gr.Markdown(t("latent.strips.caption"), elem_id="latent-strips-caption")
            gr.Markdown(t("latent.sliders"), elem_id="latent-sliders-title")
            sliders = []
            for row in range(SLIDER_COUNT // SLIDERS_PER_ROW):
                with gr.Row():
                    for column in range(SLIDERS_PER_ROW):
                        index = row * SLIDERS_PER_ROW + column
                        start = slider_start[index]
                        sliders.append(LenientSlider(-SLIDER_RANGE, SLIDER_RANGE, value=start["value"], step=SLIDER_STEP,
                                                 label=start["label"], visible=start["visible"], min_width=140,
                                                 elem_id=f"latent-z{index}"))

    def render_event(request: gr.Request, model, seed, label, direction, strength, truncation, compare, *values):
        return handlers.render(model, seed, label, direction, strength, truncation, compare, values,
                               request_language(request), preview=True)

    def full_event(request: gr.Request, model, seed, label, direction, strength, truncation, compare, *values):
        return handlers.render(model, seed, label, direction, strength, truncation, compare, values,
                               request_language(request))

    def finish_event(request: gr.Request, model, seed, label, direction, strength, truncation, compare, *values):
        return handlers.finish(model, seed, label, direction, strength, truncation, compare, values,
                               request_language(request))

    def reseed_event(request: gr.Request, model, seed, label, direction, strength, truncation, compare):
        if seed is None:  # the box is being edited: wait for a number
            return [gr.skip()] * (SLIDER_COUNT + 2)
        return handlers.reseed(model, seed, label, direction, strength, truncation, compare,
                               request_language(request))

    def model_event(request: gr.Request, model, seed, label, truncation, compare):
        return handlers.pick_model(model, seed, label, truncation, compare, request_language(request))

    def compare_event(request: gr.Request, model, seed, label, direction, strength, truncation, compare, *values):
        return handlers.pick_compare(model, seed, label, direction, strength, truncation, compare, values,
                                     request_language(request))

    def notes_event(request: gr.Request, model, compare):
        return handlers.notes(model, compare, request_language(request))

    def strips_event(request: gr.Request, model, seed, label, truncation, compare, *values):
        if seed is None:
            return gr.skip()
        return handlers.strips(model, seed, label, truncation, compare, values, request_language(request))

    enter_presenter.click(None, None, None, js=ENTER_PRESENTER_JS, api_visibility="private")
    exit_presenter.click(None, None, None, js=EXIT_PRESENTER_JS, api_visibility="private")

    controls = [model, seed, label, direction, strength, truncation, compare]
    render_inputs = [*controls, *sliders]
    images = [image, compare_image]
    strip_inputs = [model, seed, label, truncation, compare, *sliders]
    redraw_strips = {"fn": strips_event, "inputs": strip_inputs, "outputs": strips, "show_progress": "hidden",
                     "api_visibility": "private"}
    gr.on([slider.input for slider in sliders] + [strength.input, truncation.input],
          render_event, render_inputs, images, trigger_mode="always_last", show_progress="hidden",
          api_name="latent_render")
    # A flow's preview while dragging is rough (few ODE steps): its full picture follows when the drag ends (a
    # keyboard move ends with a release too: genimg.ui.page_script). A pick of a direction or a class is no drag:
    # it draws the full picture at once.
    gr.on([slider.release for slider in sliders] + [strength.release, truncation.release],
          finish_event, render_inputs, images, trigger_mode="always_last", show_progress="hidden",
          api_visibility="private")
    gr.on([direction.input, label.input], full_event, render_inputs, images, trigger_mode="always_last",
          show_progress="hidden", api_visibility="private")
    model.input(model_event, [model, seed, label, truncation, compare], [*sliders, direction, strength, label, *images],
                show_progress="minimal", api_visibility="undocumented", api_name="latent_pick_model"
                ).then(**redraw_strips)
    seed.input(reseed_event, controls, [*sliders, *images], trigger_mode="always_last", show_progress="hidden",
               api_visibility="undocumented", api_name="latent_reseed").then(**redraw_strips)
    randomize.click(handlers.random_seed, None, seed, api_visibility="private").then(
        reseed_event, controls, [*sliders, *images], show_progress="hidden", api_visibility="private"
    ).then(**redraw_strips)
    compare.input(compare_event, render_inputs, [label, *images], show_progress="minimal",
                  api_visibility="undocumented", api_name="latent_pick_compare").then(**redraw_strips)
    # the strips follow the class and, once a drag ends, the sliders and ψ (not every step of a drag: 70 images)
    gr.on([label.input, truncation.release, *[slider.release for slider in sliders]], trigger_mode="always_last",
          **redraw_strips)
    gr.on(None, notes_event, [model, compare], note, show_progress="hidden", api_visibility="private")

    def direction_names_event(request: gr.Request, model):
        """The direction picker's names in the visitor's language (the page is built once, in English)."""
        return gr.update(choices=handlers.direction_choices(model, request_language(request)))

    # on load (and again with each model: the same names pick_model sends)
    gr.on(None, direction_names_event, [model], direction, show_progress="hidden", api_visibility="private")

    styles = page_styles()
    handlers.components = {
        "styles": styles, "model": model, "seed": seed, "label": label, "direction": direction, "strength": strength,
        "truncation": truncation, "compare": compare, "sliders": sliders, "image": image,
        "compare_image": compare_image, "note": note, "randomize": randomize, "strips": strips,
        "enter_presenter": enter_presenter, "exit_presenter": exit_presenter,
        # state(*[values of state_inputs]) ↔ apply_state(state) → updates for state_outputs
        "state_inputs": render_inputs,
        "state_outputs": [model, seed, truncation, compare, *sliders, direction, strength, label, *images, strips],
    }
    return handlers
