"""Encode tab: a VAE encodes your drawing (mean and spread per dimension, where it lands on the latent map),
the clickable latent map with its manifold grid, and latent arithmetic A − B + C for VAEs and GANs.

Also the pieces the GAN tab shares: the drawing pad, reading a drawing or an upload, and resolving a model.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch

from genimg.data.pictures import (
    MESSAGES_EN,
    MESSAGES_ZH,
    ImageInputError,
    default_style,
    load_user_image,
    needs_inversion,
    to_model_input,
)
from genimg.explore.catalog import ModelEntry, rank_encoders
from genimg.explore.encode import (
    ACTIVE_KL,
    CLASS_COLOURS,
    LatentMap,
    LatentMapCache,
    decode,
    encode_image,
    latent_arithmetic,
    manifold_grid,
    render_code_chart,
    to_picture,
)
from genimg.explore.latent import latent_norm, model_device
from genimg.explore.trajectory import noise_picture, round_trip
from genimg.explore.velocity import PARTICLES, VelocityField, calls_per_particle, draw_field, frame_of, velocity_field
from genimg.models import GenerativeModel
from genimg.models.latent import parse_seed, seeded_latents
from genimg.store.checkpoint import CheckpointError
from genimg.ui.context import ExploreContext
from genimg.ui.explore import dependent_dropdown
from genimg.ui.fields import LenientSlider
from genimg.ui.evaluate_tab import class_label
from genimg.ui.flow_controls import MAX_WORK, build_flow_controls, sampling_for, shown_for
from genimg.ui.guard import in_words
from genimg.ui.i18n import LATEX, message, register, request_language, t
from genimg.ui.views import TabView, UrlKey, model_path

LOG = logging.getLogger("genimg.page")
CANVAS = 280
SCALE = 8  # 28 px → 224 px on the page
# The round trip says it found the seed's noise when they differ by less than this share of the noise's own size
# (mean |z|, about 0.8): the flow squeezes many noises onto nearly the same picture, so the noise comes back less
# exactly than the picture does (mnist-cflow at 50 Heun steps, seed 0: picture within 0.0009 per pixel, noise 19% away
# at guidance 1.5, 9% at guidance 2).
SEED_FOUND = 0.15
TABLE_DIGITS = 3  # significant digits of the numbers table: μ, σ and KL are read by eye, not copied
TABLE_WIDTH = 320  # px the numbers table needs for its four columns (a phone is 390 px wide)

# Styles of the Encode and GAN tabs, put into the page's <head> by page_styles() (as the Latent tab does).
CSS = (
    # A picture's label (top left) and buttons (top right) float over its top corners, and a digit fills its picture:
    # a strip above the picture holds them instead.
    ".genimg-picture .image-container { padding-top: 36px; box-sizing: border-box; }\n"
    # one line, beside the buttons: a label that wrapped to a second line reached down into the picture
    ".genimg-picture [data-testid=block-label] { white-space: nowrap; overflow: hidden; text-overflow: ellipsis;"
    " max-width: calc(100% - 84px); }\n"
    # On a phone the latent maps take the whole width (the page's side margins too): points and the marker stay
    # big enough to see and to tap; Gradio's fullscreen button zooms further.
    "@media (max-width: 640px) { .genimg-wide { margin-left: -24px !important; margin-right: -24px !important;"
    " width: calc(100% + 48px) !important; max-width: none !important; flex-basis: calc(100% + 48px) !important; } }\n"
)

EN = {
    "encode.tab": "Encode",
    "encode.intro": r"""
### Encode your own drawing with a VAE
A VAE's **encoder** reads an image $x$ and answers with a distribution over codes,
$q(z|x)=\mathcal{N}(\mu,\operatorname{diag}\sigma^2)$; its **decoder** turns a code back into an image. Training
maximises the evidence lower bound (ELBO)
$$\log p(x) \ge \mathbb{E}_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x)\,\|\,p(z)),$$
a reconstruction term minus a pull of every $q(z|x)$ towards the prior $p(z)=\mathcal{N}(0,I)$. Codes are
sampled with the reparameterisation $z=\mu+\sigma\odot\epsilon$, $\epsilon\sim\mathcal{N}(0,I)$, so that
gradients reach $\mu$ and $\sigma$.
""",
    "encode.howto": """Draw a digit (white on black, like MNIST) or upload a picture. It is prepared the way MNIST was
made: the strokes are scaled into a 20 × 20 box and centred by their centre of mass in a 28 × 28 field; **dark ink
on light paper is inverted first**. You see the prepared input, the reconstruction decoder($\\mu$), every
dimension's mean $\\mu_i$ with its spread $\\pm\\sigma_i$ against the prior's band, and where the code lands on
the latent map.""",
    "encode.no_vae": "**No VAE was found.** Train one (`python -m genimg train --model vae --latent-dim 2 ...`) "
                     "and reload the page.",
    "encode.model": "VAE",
    "encode.model_info": "Starts on the VAE that fits the test images best (lowest −ELBO on its card); the 2-D one "
                         "draws the latent map.",
    "encode.class": "Class of your drawing",
    "encode.decode_as": "Decode as class",
    "encode.sub_encode": "Encode a drawing",
    "encode.sub_map": "Latent map",
    "encode.sub_arithmetic": "Latent arithmetic",
    "encode.source": "Use",
    "encode.source_draw": "the drawing",
    "encode.source_upload": "the uploaded picture",
    "encode.source_seed": "a seed",
    "encode.sketch": "Draw here (white on black)",
    "encode.upload": "…or upload a picture",
    "encode.run": "Encode",
    "encode.prepared": "Prepared input (28 × 28)",
    "encode.reconstruction": "Reconstruction: decoder(μ)",
    "encode.code": "μ (dot) ± σ (bar) per dimension; grey: prior ±1, ±2",
    "encode.on_map": "Where the code lands (ring: ±1σ)",
    "encode.table": "The numbers",
    "encode.map_intro": r"""
### The latent map
Every dot is the code $\mu$ of one test image, coloured by its class; the dashed circles are 1, 2 and 3 standard
deviations of the prior. The KL term keeps the cloud near the origin, the reconstruction term pulls the classes
apart. **Click anywhere on the map** to decode that point. With more than two latent dimensions the map shows the
plane of the first two principal axes of the codes (other directions set to 0). The grid decodes 20 × 20 points
spaced by the prior's quantiles, $z=(\Phi^{-1}(u),\Phi^{-1}(v))$ (Kingma & Welling 2014, fig. 4). A conditional
VAE is told the class separately, so its map holds only the *style* (slant, thickness) and the colours mix.
""",
    "encode.map": "Latent map: click a point to decode it",
    "encode.map_show": "Show the map",
    "encode.picked": "Decoded at the clicked point",
    "encode.manifold": "Manifold: a 20 × 20 grid over the prior's quantiles",
    "encode.arith_intro": r"""
### Latent arithmetic
Codes can be added and subtracted: $z = z_A - z_B + z_C$, then decoded. If a direction in latent space means
"thicker" or "slanted", $z_A - z_B$ isolates it and adding $z_C$ applies it to another image (Radford et al. 2016
averaged three examples per concept to make this reliable; single images are noisier). Each of A, B, C comes from a
seed ($z\sim\mathcal{N}(0,I)$) or, for a VAE, from a drawing or a picture (its encoder mean $\mu$).
""",
    "encode.arith_model": "Model (GAN or VAE)",
    "encode.arith_class": "Class (conditional models)",
    "encode.operand_a": "A",
    "encode.operand_b": "B (subtracted)",
    "encode.operand_c": "C",
    "encode.seed": "Seed",
    "encode.arith_run": "Compute A − B + C",
    "encode.result": "A − B + C",
    # messages returned by handlers
    "encode.pick_model": "Pick a model from the list first.",
    "encode.pick_vae": "This needs a VAE: pick one from the list.",
    "encode.pick_gan": "This needs a GAN: pick one from the list.",
    "encode.pick_class": "Pick a class for {model}: one of {classes}.",
    "encode.load_failed": "The model {model} could not be loaded: {error}",
    "encode.not_upload": "Only a picture uploaded on this page can be read: upload it again.",
    "encode.bad_seed": "Seed {value} is not accepted: a seed is a whole number from 0 to 9,223,372,036,854,775,807.",
    "encode.bad_number": "{name}: {value} is not accepted; enter a number from {low} to {high}.",
    "encode.bad_whole": "{name}: {value} is not accepted; enter a whole number from {low} to {high}.",
    "encode.failed": "This did not work ({detail}). Try again; if it keeps failing, pick another model or reload "
                     "the page.",
    "encode.bad_source": "Choose where the picture comes from: the drawing, an upload or a seed.",
    "encode.inverted": "Your picture has a light background, so it was **inverted** to light strokes on black, like "
                   "MNIST.",
    "encode.kl_summary": "KL(q(z|x) ‖ p(z)) = **{kl:.2f} nats**; **{active} of {dim}** dimensions are in use "
                     "(KL > {threshold} nats). In the others μ ≈ 0 and σ ≈ 1: the encoder says nothing there and the "
                     "prior wins.",
    "encode.chart_cut": "The chart shows the {shown} dimensions with the most KL, of {dim}.",
    "encode.map_test": "The map: codes of {count:,} test images of {dataset}.",
    # (the loader's reason is English and names server folders: it goes to the log, not into the page)
    "encode.map_samples": "The test images of {dataset} are not available here, so the map shows {count:,} of the "
                          "model's own samples, re-encoded (colours: the class they were drawn with).",
    "encode.map_pca": "Latent size {dim}: shown in the plane of the first two principal axes of the codes ({first:.0%} and "
                  "{second:.0%} of their variance); a click decodes a point of that plane, other directions 0.",
    "encode.picked_z": "Decoded z = ({values})",
    "encode.outside_map": "That click was outside the plot: click inside the square.",
    "encode.col_dim": "dimension",
    "encode.col_mean": "mean μ",
    "encode.col_sigma": "spread σ",
    "encode.col_kl": "KL (nats)",
    "encode.arith_needs_vae": "Only a VAE can encode a drawing or a picture; with a GAN choose seeds for A, B and C (or "
                          "find a drawing's z in the GAN tab).",
    "encode.arith_norms": "‖z‖/√D — A {a:.2f}, B {b:.2f}, C {c:.2f}, result {result:.2f}. Prior samples sit near 1; "
                      "a result far from 1 lies where the model was rarely trained and may decode poorly.",
    "encode.sub_ode": "Flow: run it backwards",
    "encode.ode_intro": (
        "A flow model draws by carrying a noise image $z$ along an ODE it learned, $dx/dt = v(x, t)$, from $t = 0$ "
        "(noise) to $t = 1$ (a picture). Run the same ODE **backwards** and a picture goes to the exact noise image "
        "that draws it: no encoder (a VAE's guess of a code) and no search (a GAN's inversion by gradient descent, "
        "which only comes close). The only error left is the solver's: fewer steps, larger error."),
    "encode.no_flow": "**No flow model was found.** Train one (`python -m genimg train --model flow --conditional "
                      "...`) and reload the page.",
    "encode.ode_model": "Flow model",
    "encode.ode_run": "Run the ODE backwards, then forwards",
    "encode.ode_noise": "The noise image found (z at t = 0)",
    "encode.ode_redrawn": "Drawn again from that noise",
    "encode.ode_path": "The way back to the picture: x at t = 0 … 1",
    "encode.pick_flow": "Pick a flow model from the list first.",
    "encode.field_heading": "### The velocity field, seen on a plane",
    "encode.field_intro": (
        "The seed's first drawings in Samples start as noise and are carried by the velocity the flow learned. "
        "A picture has hundreds of numbers, so the page shows the plane in which the finished drawings differ "
        "most (their two principal directions). **Dots**: where each drawing is at time $t$; **arrows**: its "
        "velocity $v(x_t, t)$ times 0.1, where it would be one frame later; **faint lines**: the whole way. "
        "Flow matching trains for straight ways, so a few big steps already land near the end."),
    "encode.field_run": "Draw the velocity field",
    "encode.field_time": "Time t (0 = noise, 1 = drawing)",
    "encode.field_picture": "Particles at time t, with their velocity",
    "encode.field_note": ("**{count} drawings** (the seed's first {count} in Samples) carried from noise to "
                          "pictures in {steps} {solver} steps, frame by frame: {calls} network calls, "
                          "{seconds:.1f} s. The plane holds {first:.0%} and {second:.0%} of the finished drawings' "
                          "spread. The ringed dot is the first drawing; its picture at time t is in the top left."),
    "encode.field_legend": "Colours: ",
    "encode.field_first": "Press **Draw the velocity field** first.",
    "encode.ode_note": ("**Round trip error: {error:.4f}** on average per pixel (worst pixel {worst:.3f}; pixels from "
                        "0 to 1), in {steps} {solver} steps each way: {calls} network calls, {seconds:.1f} s. "),
    "encode.ode_seed": ("The seed's own noise and the noise found differ by {distance:.3f} on average, {share} of "
                        "the noise's own size ({size:.2f}): the ODE found the latent that drew the picture. The noise "
                        "comes back less exactly than the picture, because the flow draws many nearby noises as "
                        "nearly the same picture."),
    "encode.ode_seed_far": ("The seed's own noise and the noise found differ by {distance:.3f} on average, {share} of "
                            "the noise's own size ({size:.2f}): the picture comes back, the noise only nearby. The "
                            "flow draws many nearby noises as nearly the same picture, so small errors of the solver "
                            "move the noise found more than the picture; more steps bring it closer."),
}
ZH = {
    "encode.tab": "编码",
    "encode.intro": r"""
### 用 VAE 编码你自己的手绘
VAE 的**编码器**读入图像 $x$，给出编码的一个分布 $q(z|x)=\mathcal{N}(\mu,\operatorname{diag}\sigma^2)$；
**解码器**再把编码变回图像。训练最大化证据下界（ELBO）
$$\log p(x) \ge \mathbb{E}_{q(z|x)}[\log p(x|z)] - \mathrm{KL}(q(z|x)\,\|\,p(z)),$$
即重建项减去把每个 $q(z|x)$ 拉向先验 $p(z)=\mathcal{N}(0,I)$ 的一项。编码用重参数化
$z=\mu+\sigma\odot\epsilon$，$\epsilon\sim\mathcal{N}(0,I)$ 采样，这样梯度可以传到 $\mu$ 和 $\sigma$。
""",
    "encode.howto": """画一个数字（黑底白字，和 MNIST 一样）或上传一张图片。它会按 MNIST 的制作方式预处理：笔画缩放到
20 × 20 的框内，再按质心放在 28 × 28 的中央；**浅色纸上的深色笔迹会先反色**。你会看到预处理后的输入、重建结果
解码器($\\mu$)、每一维的均值 $\\mu_i$ 及其离散度 $\\pm\\sigma_i$（与先验的范围对比），以及编码落在隐空间地图上的位置。""",
    "encode.no_vae": "**没有找到 VAE。** 请先训练一个（`python -m genimg train --model vae --latent-dim 2 ...`），"
                     "然后刷新页面。",
    "encode.model": "VAE",
    "encode.model_info": "默认选用在测试图像上拟合最好的 VAE（模型卡上的 −ELBO 最低）；二维 VAE 用来画隐空间地图。",
    "encode.class": "你画的类别",
    "encode.decode_as": "按此类别解码",
    "encode.sub_encode": "编码手绘",
    "encode.sub_map": "隐空间地图",
    "encode.sub_arithmetic": "隐向量运算",
    "encode.source": "使用",
    "encode.source_draw": "手绘",
    "encode.source_upload": "上传的图片",
    "encode.source_seed": "随机种子",
    "encode.sketch": "在这里画（黑底白字）",
    "encode.upload": "……或上传一张图片",
    "encode.run": "编码",
    "encode.prepared": "预处理后的输入（28 × 28）",
    "encode.reconstruction": "重建：解码器(μ)",
    "encode.code": "每一维的 μ（点）± σ（条）；灰色：先验 ±1、±2",
    "encode.on_map": "编码落在哪里（圆环：±1σ）",
    "encode.table": "具体数值",
    "encode.map_intro": r"""
### 隐空间地图
每个点是一张测试图像的编码 $\mu$，颜色表示类别；虚线圆是先验的 1、2、3 个标准差。KL 项让点云靠近原点，重建项把
各类分开。**点击地图上任意位置**即可解码该点。隐维度大于 2 时，地图显示编码的前两个主轴所张成的平面（其余方向取 0）。
网格按先验的分位数解码 20 × 20 个点，$z=(\Phi^{-1}(u),\Phi^{-1}(v))$（Kingma & Welling 2014，图 4）。
条件 VAE 的类别是单独给出的，所以它的地图只包含*风格*（倾斜、粗细），各种颜色会混在一起。
""",
    "encode.map": "隐空间地图：点击一个点来解码",
    "encode.map_show": "显示地图",
    "encode.picked": "点击位置的解码结果",
    "encode.manifold": "流形：在先验分位数上的 20 × 20 网格",
    "encode.arith_intro": r"""
### 隐向量运算
编码可以相加减：$z = z_A - z_B + z_C$，再解码。如果隐空间中某个方向表示“更粗”或“更斜”，$z_A - z_B$ 就把它
分离出来，加上 $z_C$ 就把它用到另一张图上（Radford 等人 2016 对每个概念取三个样本的平均，使结果更可靠；单张图像噪声更大）。
A、B、C 各自来自一个随机种子（$z\sim\mathcal{N}(0,I)$），或者对 VAE 来说，来自一幅手绘或图片（编码器的均值 $\mu$）。
""",
    "encode.arith_model": "模型（GAN 或 VAE）",
    "encode.arith_class": "类别（条件模型）",
    "encode.operand_a": "A",
    "encode.operand_b": "B（减去）",
    "encode.operand_c": "C",
    "encode.seed": "随机种子",
    "encode.arith_run": "计算 A − B + C",
    "encode.result": "A − B + C",
    "encode.pick_model": "请先从列表中选择一个模型。",
    "encode.pick_vae": "这里需要 VAE：请从列表中选择一个。",
    "encode.pick_gan": "这里需要 GAN：请从列表中选择一个。",
    "encode.pick_class": "请为 {model} 选择一个类别：{classes} 之一。",
    "encode.load_failed": "无法加载模型 {model}：{error}",
    "encode.not_upload": "只能读取在本页面上传的图片：请重新上传。",
    "encode.bad_seed": "不接受种子 {value}：种子必须是 0 到 9,223,372,036,854,775,807 之间的整数。",
    "encode.bad_number": "{name}：不接受 {value}；请输入 {low} 到 {high} 之间的数。",
    "encode.bad_whole": "{name}：不接受 {value}；请输入 {low} 到 {high} 之间的整数。",
    "encode.failed": "这一步没有成功（{detail}）。请再试一次；如果一直失败，请换一个模型或刷新页面。",
    "encode.bad_source": "请选择图片来源：手绘、上传或随机种子。",
    "encode.inverted": "你的图片背景较浅，所以已**反色**为黑底白字，和 MNIST 一样。",
    "encode.kl_summary": "KL(q(z|x) ‖ p(z)) = **{kl:.2f} 奈特**；{dim} 维中有 **{active}** 维在使用（KL > {threshold} 奈特）。"
                     "其余各维 μ ≈ 0、σ ≈ 1：编码器在那里没有提供信息，先验占了上风。",
    "encode.chart_cut": "图中显示 KL 最大的 {shown} 维（共 {dim} 维）。",
    "encode.map_test": "地图：{dataset} 的 {count:,} 张测试图像的编码。",
    "encode.map_samples": "这里没有 {dataset} 的测试图像，所以地图显示模型自己生成的 {count:,} 个样本再编码的结果"
                          "（颜色：生成时使用的类别）。",
    "encode.map_pca": "隐维度 {dim}：显示在编码前两个主轴张成的平面上（分别占方差的 {first:.0%} 和 {second:.0%}）；"
                  "点击解码的是该平面上的点，其余方向取 0。",
    "encode.picked_z": "解码的 z = ({values})",
    "encode.outside_map": "点击位置在图外：请点击方框之内。",
    "encode.col_dim": "维度",
    "encode.col_mean": "均值 μ",
    "encode.col_sigma": "离散度 σ",
    "encode.col_kl": "KL（奈特）",
    "encode.arith_needs_vae": "只有 VAE 能编码手绘或图片；对 GAN，请为 A、B、C 选择随机种子（或在 GAN 标签页中求出手绘对应的 z）。",
    "encode.arith_norms": "‖z‖/√D — A {a:.2f}，B {b:.2f}，C {c:.2f}，结果 {result:.2f}。先验样本大约在 1 附近；"
                      "结果离 1 很远时，它位于模型很少训练到的区域，解码效果可能较差。",
    "encode.sub_ode": "流模型：反向运行",
    "encode.ode_intro": (
        "流模型沿着它学到的常微分方程 $dx/dt = v(x, t)$，把噪声图像 $z$ 从 $t = 0$（噪声）带到 $t = 1$（图片）。"
        "把同一个方程**反向**运行，一张图片就会回到恰好能画出它的那张噪声图像：不需要编码器（VAE 对编码的估计），"
        "也不需要搜索（GAN 用梯度下降求逆，只能接近）。剩下的误差只来自求解器：步数越少，误差越大。"),
    "encode.no_flow": "**没有找到流模型。** 请先训练一个（`python -m genimg train --model flow --conditional ...`），然后刷新页面。",
    "encode.ode_model": "流模型",
    "encode.ode_run": "反向运行 ODE，再正向运行",
    "encode.ode_noise": "找到的噪声图像（t = 0 时的 z）",
    "encode.ode_redrawn": "从这张噪声重新生成",
    "encode.ode_path": "回到图片的路径：t = 0 … 1 时的 x",
    "encode.pick_flow": "请先从列表中选择一个流模型。",
    "encode.field_heading": "### 速度场：投影到一个平面上看",
    "encode.field_intro": (
        "这个种子在“样本”页的前几张图从噪声出发，被流模型学到的速度一路带走。一张图有几百个数，所以本页只显示"
        "最终图片彼此差别最大的那个平面（它们的两个主方向）。**圆点**：每张图在时间 $t$ 的位置；**箭头**：它的速度 "
        "$v(x_t, t)$ 乘以 0.1，即下一帧它会到的地方；**淡线**：整条路径。流匹配训练的目标就是直的路径，"
        "所以几大步就能走到终点附近。"),
    "encode.field_run": "画出速度场",
    "encode.field_time": "时间 t（0 = 噪声，1 = 图片）",
    "encode.field_picture": "时间 t 时的粒子及其速度",
    "encode.field_note": ("**{count} 张图**（该种子在“样本”页的前 {count} 张）从噪声逐帧带到图片，共 {steps} 步"
                          "（{solver}）：{calls} 次网络调用，用时 {seconds:.1f} 秒。这个平面包含最终图片差异的 "
                          "{first:.0%} 和 {second:.0%}。带圈的点是第一张图，它在时间 t 的样子显示在左上角。"),
    "encode.field_legend": "颜色：",
    "encode.field_first": "请先点击**画出速度场**。",
    "encode.ode_note": "**往返误差：平均每像素 {error:.4f}**（最差的像素 {worst:.3f}；像素取值 0 到 1），每个方向 {steps} 步"
                       "（{solver}）：{calls} 次网络调用，用时 {seconds:.1f} 秒。",
    "encode.ode_seed": "种子自己的噪声与找到的噪声平均相差 {distance:.3f}，是噪声本身大小（{size:.2f}）的 {share}："
                       "ODE 找到了画出这张图片的隐向量。噪声回得不如图片精确，因为流模型把许多相近的噪声画成几乎相同的图片。",
    "encode.ode_seed_far": "种子自己的噪声与找到的噪声平均相差 {distance:.3f}，是噪声本身大小（{size:.2f}）的 {share}："
                           "图片回来了，噪声只回到附近。流模型把许多相近的噪声画成几乎相同的图片，所以求解器的小误差对找到的噪声"
                           "影响比对图片更大；步数多一些会更接近。",
}
register(MESSAGES_EN, MESSAGES_ZH)
register(EN, ZH)


# ------------------------------------------------------------------------------------- shared pieces

_SHARED_CACHE: LatentMapCache | None = None
_SHARED_LOCK = threading.Lock()


def shared_cache() -> LatentMapCache:
    """The process-wide cache of latent maps, test images and D's reference scores that both tabs use by default."""
    global _SHARED_CACHE
    with _SHARED_LOCK:
        if _SHARED_CACHE is None:
            _SHARED_CACHE = LatentMapCache()
        return _SHARED_CACHE



def sketchpad(label_key: str = "encode.sketch", **extra: Any) -> gr.Sketchpad:
    """A pad that draws white on black at once (GRADIO.md's recipe), 280 × 280 like MNIST's 28 × 28 × 10."""
    return gr.Sketchpad(type="numpy", image_mode="L", canvas_size=(CANVAS, CANVAS), layers=False, transforms=(),
                        value={"background": np.zeros((CANVAS, CANVAS), np.uint8), "layers": [], "composite": None},
                        brush=gr.Brush(default_size=18, colors=["#ffffff"], color_mode="fixed"),
                        label=t(label_key), **extra)


def upload_box(label_key: str = "encode.upload", **extra: Any) -> gr.File:
    """An upload that hands over a path; the file is decoded by genimg.data.pictures, not by Gradio."""
    # No file_types: Gradio would refuse another file in English ("Invalid file type: … Only image allowed.");
    # read_picture refuses what is not a picture in the user's language.
    return gr.File(label=t(label_key), type="filepath", file_count="single", **extra)


def error(key: str, language: str, **values: Any) -> gr.Error:
    """A refusal for the page: a sentence in the user's language."""
    return gr.Error(message(key, language, **values))


def uploaded_path(value: Any, language: str) -> str:
    """The path of a file that Gradio's upload saved in its upload folder; anything else is refused."""
    path = getattr(value, "name", value)  # gr.File may hand over a NamedString
    if not isinstance(path, (str, os.PathLike)):
        raise error("image.missing", language)
    folder = Path(gr.utils.get_upload_folder()).resolve()  # GRADIO_TEMP_DIR, else <tmp>/gradio
    resolved = Path(path).resolve()
    if not resolved.is_relative_to(folder):
        raise error("encode.not_upload", language)
    return str(resolved)


def read_picture(source: str | None, sketch: Any, upload: Any, language: str) -> np.ndarray:
    """The chosen picture as float (H, W, 3) in [0, 1]; gr.Error in the user's language when it is unusable."""
    try:
        if source == "draw":
            return load_user_image(sketch)
        if source == "upload":
            if upload is None:
                raise ImageInputError("image.missing")
            return load_user_image(uploaded_path(upload, language))
    except ImageInputError as problem:
        raise error(problem.key, language, **problem.values) from None
    raise error("encode.bad_source", language)


def prepare(picture: np.ndarray, entry: ModelEntry, config: Any, language: str) -> tuple[torch.Tensor, bool]:
    """A loaded picture → the model's input (1, C, S, S), and whether it was inverted."""
    inverted = config.channels == 1 and needs_inversion(picture)
    try:
        tensor = to_model_input(picture, config.channels, config.image_size,
                                style=default_style(config.channels, config.image_size, entry.dataset), invert=inverted)
    except ImageInputError as problem:
        raise error(problem.key, language, **problem.values) from None
    return tensor, inverted


# What to ask for when a tab needs a capability the chosen model lacks.
PICK_MESSAGES = {None: "encode.pick_model", "encoder": "encode.pick_vae", "discriminator": "encode.pick_gan",
                 "ode": "encode.pick_flow"}


def load(context: ExploreContext, path: str | None, language: str, needs: str | None = None
         ) -> tuple[ModelEntry, GenerativeModel, Any]:
    """Resolve a dropdown value through the context (nothing else is read) and load the model; `needs` names the
    capability the caller uses ("encoder", "discriminator")."""
    entry = context.entry(path)
    if entry is None or (needs is not None and not getattr(entry.capabilities, needs)):
        raise error(PICK_MESSAGES[needs], language)
    try:
        model, config = context.renderer.model(entry.path)
    except (CheckpointError, OSError, ValueError) as problem:
        raise error("encode.load_failed", language, model=entry.name, error=str(problem)) from None
    return entry, model, config


def class_index(entry: ModelEntry, name: str | None, language: str) -> int | None:
    """The index of a class name for a conditional model; None for an unconditional one."""
    if not entry.num_classes:
        return None
    if name not in entry.class_names:
        raise error("encode.pick_class", language, model=entry.name, classes=", ".join(entry.class_names))
    return entry.class_names.index(name)


def class_update(entry: ModelEntry | None, keep: str | None = None) -> dict:
    """A class dropdown for `entry`: its classes when conditional, hidden otherwise."""
    if entry is None or not entry.num_classes:
        return gr.update(choices=[], value=None, visible=False)
    value = keep if keep in entry.class_names else entry.class_names[0]
    return gr.update(choices=list(entry.class_names), value=value, visible=True)


def significant(values: np.ndarray, digits: int = TABLE_DIGITS) -> list[float]:
    """Values rounded to `digits` significant digits, as Python floats: a float32 rounded with np.round still reads
    0.12300000339746475 once it is sent to the page (float32 cannot hold 0.123); 0.000123 keeps its digits too."""
    return [float(f"{value:.{digits}g}") for value in np.asarray(values, dtype=np.float64).ravel()]


def shown_value(value: Any, limit: int = 40) -> str:
    """A value as the user typed it, for a refusal: -3.0 → "-3", an empty box → "(empty)", shortened to `limit`."""
    if value is None or value == "":
        return "∅"
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        text = str(int(value))
    else:
        text = str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def check_seed(seed: Any, language: str) -> int:
    """A seed box's value → int in [0, 2**63); the refusal names the value in the user's language (the box has no
    `minimum` or `precision`: Gradio would refuse -3 in English, or round 2.5 to 2 without a word)."""
    parsed = parse_seed(seed)
    if parsed is None:
        raise error("encode.bad_seed", language, value=shown_value(seed))
    return parsed


def check_number(value: Any, name_key: str, low: float, high: float, language: str, whole: bool = False) -> float:
    """A slider's or number box's value, refused unless it is a finite number in [low, high] (a whole one when
    `whole`): the page lets a user type past a slider's ends, and Gradio's own check answers only in English."""
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not (math.isfinite(number) and low <= number <= high) or \
            (whole and not number.is_integer()):
        raise error("encode.bad_whole" if whole else "encode.bad_number", language, name=message(name_key, language),
                    value=shown_value(value), low=f"{low:,g}", high=f"{high:,g}")
    return number


def draw_when_inked(sketch: Any) -> Any:
    """The source radio's value after a Sketchpad `input`: "draw" once the pad holds a stroke, else unchanged.
    Gradio 6.31's Sketchpad sends `input` with no drawing when it first appears (a tab opened), which turned a
    "seed" the visitor had just picked back into "draw"; a stroke sends `input` when the next one starts."""
    composite = sketch.get("composite") if isinstance(sketch, dict) else None
    if composite is not None and np.asarray(composite).size and np.asarray(composite).max() > 0:
        return "draw"
    return gr.update()


# ---------------------------------------------------------------------------------------- handlers


class EncodeHandlers:
    """The tab's callbacks, testable without a browser. Every model path is resolved through `context`."""

    def __init__(self, context: ExploreContext, maps: LatentMapCache | None = None) -> None:
        self.context = context
        self.maps = maps or shared_cache()
        self.view: TabView | None = None  # set by build_encode_tab: the view a link shares (genimg.ui.views)

    def restore(self, query: dict[str, str], language: str) -> list | None:
        """A shared view (?view=encode&model=…&map=…) → updates for (the VAE to encode with, its two class
        pickers, the latent map's VAE); None when one names no VAE the page offers."""
        encoders = {path for _, path in self.vae_choices()}
        path = model_path(self.context, query.get("model"))
        map_path = model_path(self.context, query["map"]) if "map" in query else None
        if path not in encoders or ("map" in query and map_path not in encoders):
            return None
        classes = self.model_changed(path)
        return [gr.update(value=path), *classes, gr.update(value=map_path) if map_path else gr.update()]

    def warm_up(self) -> None:
        """Build the latent map of every VAE now (seconds each; e.g. in a background thread at start-up)."""
        for _, path in self.vae_choices():
            try:
                self.latent_map(path)
            except Exception:  # a broken checkpoint or data set shows its error when the map is asked for
                continue

    # -- model choice
    def vae_choices(self) -> list[tuple[str, str]]:
        """VAEs to encode a drawing with, the best first (genimg.explore.catalog.rank_encoders: lowest test −ELBO
        on its card among the unconditional VAEs of the first data set, else the largest latent space)."""
        order = {str(entry.path): position for position, entry in enumerate(rank_encoders(self.context.entries))}
        return sorted(self.context.choices(needs="encoder"), key=lambda choice: order.get(choice[1], len(order)))

    def map_choices(self) -> list[tuple[str, str]]:
        """VAEs for the latent map: 2-D unconditional ones first (their map is the latent space itself, no
        projection), then in the order of vae_choices."""
        preferred = {path for _, path in self.context.choices(needs="encoder", latent_dim=2, conditional=False)}
        return sorted(self.vae_choices(), key=lambda choice: choice[1] not in preferred)

    def model_changed(self, path: str | None, keep: str | None = None) -> tuple[dict, dict]:
        """Class pickers (encode-as, decode-as) for the chosen VAE."""
        entry = self.context.entry(path)
        return class_update(entry, keep), class_update(entry, keep)

    def latent_map(self, path: str | None, language: str = "en") -> tuple[ModelEntry, Any, LatentMap]:
        entry, model, config = load(self.context, path, language, "encoder")
        return entry, model, self.maps.get(model, entry.dataset, config.image_size, config.channels)

    def map_note(self, latent_map: LatentMap, language: str) -> str:
        if latent_map.source == "test":
            lines = [message("encode.map_test", language, count=len(latent_map.codes), dataset=latent_map.source_name)]
        else:
            LOG.info("latent map of %s from samples: %s", latent_map.source_name, latent_map.note)
            lines = [message("encode.map_samples", language, count=len(latent_map.codes),
                             dataset=latent_map.source_name)]
        if latent_map.latent_dim > 2:
            lines.append(message("encode.map_pca", language, dim=latent_map.latent_dim, first=latent_map.explained[0],
                                 second=latent_map.explained[1]))
        return "\n\n".join(lines)

    # -- encode a drawing
    @in_words("encode.failed")
    def encode(self, path: str | None, class_name: str | None, decode_name: str | None, source: str | None,
               sketch: Any, upload: Any, request: gr.Request | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, pd.DataFrame, str]:
        """→ prepared input, reconstruction, code chart, map with a marker, the numbers, a note (Markdown)."""
        language = request_language(request)
        entry, model, config = load(self.context, path, language, "encoder")
        label = class_index(entry, class_name, language)
        decode_label = class_index(entry, decode_name, language) if entry.num_classes and decode_name else label
        picture = read_picture(source, sketch, upload, language)
        tensor, inverted = prepare(picture, entry, config, language)
        encoding = encode_image(model, tensor, label, decode_label)
        latent_map = self.maps.get(model, entry.dataset, config.image_size, config.channels)
        mean, sigma, kl = encoding.mean.numpy(), encoding.sigma.numpy(), encoding.kl_per_dimension.numpy()
        chart, shown = render_code_chart(mean, sigma, kl)
        notes = []
        if inverted:
            notes.append(message("encode.inverted", language))
        notes.append(message("encode.kl_summary", language, kl=encoding.kl, active=encoding.active_dimensions(),
                             dim=len(kl), threshold=ACTIVE_KL))
        if shown < len(kl):
            notes.append(message("encode.chart_cut", language, shown=shown, dim=len(kl)))
        notes.append(self.map_note(latent_map, language))
        table = pd.DataFrame({message("encode.col_dim", language): [f"z{index + 1}" for index in range(len(mean))],
                              message("encode.col_mean", language): significant(mean),
                              message("encode.col_sigma", language): significant(sigma),
                              message("encode.col_kl", language): significant(kl)})
        return (to_picture(encoding.image, SCALE), to_picture(encoding.reconstruction, SCALE), chart,
                latent_map.with_marker(encoding.mean, encoding.sigma), table, "\n\n".join(notes))

    # -- latent map
    @in_words("encode.failed")
    def show_map(self, path: str | None, class_name: str | None, request: gr.Request | None = None
                 ) -> tuple[np.ndarray, np.ndarray, str, None, str]:
        """→ the map, the manifold grid, a note, and an empty clicked-point image and text."""
        language = request_language(request)
        entry, model, latent_map = self.latent_map(path, language)
        label = class_index(entry, class_name, language)
        grid = self.maps.memo(model, ("manifold", label), lambda: manifold_grid(model, latent_map.axes, label))
        return latent_map.image, grid, self.map_note(latent_map, language), None, ""

    @in_words("encode.failed")
    def pick(self, path: str | None, class_name: str | None, event: gr.SelectData,
             request: gr.Request | None = None) -> tuple[np.ndarray, np.ndarray, str]:
        """A click on the map (event.index = [x, y] in the picture's pixels) → map with a marker, decoded image, z."""
        language = request_language(request)
        entry, model, latent_map = self.latent_map(path, language)
        label = class_index(entry, class_name, language)
        try:
            # the centre of the clicked pixel; a forged event may carry no index, or no event at all
            x, y = (float(value) + 0.5 for value in getattr(event, "index", None)[:2])
        except (TypeError, ValueError, IndexError):
            raise error("encode.outside_map", language) from None
        z = latent_map.latent_at_pixel(x, y)
        if z is None:
            raise error("encode.outside_map", language)
        image = decode(model, z, label)
        values = ", ".join(f"{value:+.2f}" for value in z.tolist()[:8]) + (", …" if len(z) > 8 else "")
        return latent_map.with_marker(z), to_picture(image, SCALE), message("encode.picked_z", language, values=values)

    # -- arithmetic
    # -- a flow's ODE, run backwards
    def flow_choices(self) -> list[tuple[str, str]]:
        return self.context.choices(needs="ode")

    def flow_shown(self, path: str | None, steps: Any, solver: Any, guidance: Any,
                   request: gr.Request | None = None) -> list[Any]:
        """The flow controls for the picked flow (guidance only for a conditional one), in the visitor's language."""
        return shown_for(self.context.entry(path), steps, solver, guidance, request_language(request))

    @in_words("encode.failed")
    def ode_round_trip(self, path: str | None, class_name: str | None, source: str | None, seed: Any, sketch: Any,
                       upload: Any, steps: Any = None, solver: Any = None, guidance: Any = None,
                       request: gr.Request | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
        """→ the picture as the flow sees it, the noise image found, that noise drawn again, the path from noise to
        picture, and a note with the round trip's error (and, for a seed's picture, how close the seed's noise was)."""
        language = request_language(request)
        entry, model, config = load(self.context, path, language, needs="ode")
        sampling = sampling_for(entry, steps, solver, guidance, language)
        label = class_index(entry, class_name, language)
        seed_noise = None
        if source == "seed":  # the seed's drawing as the flow made it, before it was clipped to [0, 1] for the screen
            device = model_device(model)
            seed_noise = seeded_latents(check_seed(seed, language), 1, config.latent_dim)  # drawn on the CPU
            classes = torch.eye(entry.num_classes, device=device)[[label]] if label is not None else None
            with torch.no_grad():
                start = seed_noise.to(device).view(1, *model.image_shape)
                picture = ((model.integrate(start, classes, 0.0, 1.0, sampling) + 1) / 2).cpu()
        else:
            picture, _ = prepare(read_picture(source, sketch, upload, language), entry, config, language)
        trip = round_trip(model, picture, label, sampling)
        note = message("encode.ode_note", language, error=trip.error, worst=trip.worst, steps=sampling.steps,
                       solver=message(f"samples.solver_name.{sampling.solver}", language), calls=trip.network_calls,
                       seconds=trip.seconds)
        if seed_noise is not None:
            distance = float((trip.noise - seed_noise).abs().mean())
            size = float(seed_noise.abs().mean())
            note += message("encode.ode_seed" if distance < SEED_FOUND * size else "encode.ode_seed_far", language,
                            distance=distance, share=f"{distance / size:.0%}", size=size)
        shape = tuple(model.image_shape)
        return (to_picture(picture.clamp(0, 1), SCALE), to_picture(noise_picture(trip.noise, shape), SCALE),
                to_picture(trip.redrawn, SCALE), to_picture(trip.path, 4, columns=len(trip.path)), note)

    @in_words("encode.failed")
    def velocity_field(self, path: str | None, seed: Any, steps: Any = None, solver: Any = None, guidance: Any = None,
                       time_value: Any = 1.0, request: gr.Request | None = None
                       ) -> tuple[VelocityField, np.ndarray, str]:
        """→ the field (kept in the visitor's state), its picture at time `time_value`, and a note. As many of the
        seed's drawings as the page's work budget allows at these settings (40 at the flow's own; a whole number of
        rows of classes for a conditional flow)."""
        language = request_language(request)
        entry, model, _ = load(self.context, path, language, needs="ode")
        sampling = sampling_for(entry, steps, solver, guidance, language)
        frame = frame_of(check_number(time_value, "encode.field_time", 0, 1, language))
        per_drawing = calls_per_particle(sampling, bool(entry.num_classes) and sampling.guidance != 1.0)
        count = max(1, min(PARTICLES, MAX_WORK // per_drawing))
        if entry.num_classes and count >= entry.num_classes:
            count -= count % entry.num_classes
        field = velocity_field(model, check_seed(seed, language), sampling, particles=count)
        note = message("encode.field_note", language, count=field.count, steps=sampling.steps,
                       solver=message(f"samples.solver_name.{sampling.solver}", language), calls=field.network_calls,
                       seconds=field.seconds, first=field.explained[0], second=field.explained[1])
        if field.labels is not None:  # which colour is which class
            names = [class_label(name, language) for name in entry.class_names]
            note += "\n\n" + message("encode.field_legend", language) + " ".join(
                f'<span style="color:{CLASS_COLOURS[index % len(CLASS_COLOURS)]}">●</span> {name}'
                for index, name in enumerate(names))
        return field, draw_field(field, frame), note

    def field_frame(self, field: Any, time_value: Any, request: gr.Request | None = None) -> np.ndarray:
        """The kept field at another time: no network call."""
        language = request_language(request)
        if not isinstance(field, VelocityField):
            raise error("encode.field_first", language)
        return draw_field(field, frame_of(check_number(time_value, "encode.field_time", 0, 1, language)))

    def arithmetic_class(self, path: str | None) -> dict:
        return class_update(self.context.entry(path))

    def operand(self, entry: ModelEntry, model: Any, config: Any, label: int | None, source: str | None, seed: Any,
                sketch: Any, upload: Any, language: str) -> torch.Tensor:
        """One operand's z (D,): the seed's latent (as in Explore), or a VAE's encoder mean of a picture."""
        if source == "seed":
            return seeded_latents(check_seed(seed, language), 1, config.latent_dim)[0]
        if source not in ("draw", "upload"):
            raise error("encode.bad_source", language)
        if not (entry.capabilities.encoder or entry.capabilities.ode):
            raise error("encode.arith_needs_vae", language)
        picture = read_picture(source, sketch, upload, language)
        tensor, _ = prepare(picture, entry, config, language)
        if entry.capabilities.ode:  # a flow's exact latent: its ODE run backwards
            device = model_device(model)
            labels = torch.tensor([label], device=device) if label is not None else None
            with torch.no_grad():
                return model.invert(tensor.to(device), labels)[0].cpu()
        return encode_image(model, tensor, label).mean

    @in_words("encode.failed")
    def arithmetic(self, path: str | None, class_name: str | None,
                   source_a: str | None, seed_a: Any, sketch_a: Any, upload_a: Any,
                   source_b: str | None, seed_b: Any, sketch_b: Any, upload_b: Any,
                   source_c: str | None, seed_c: Any, sketch_c: Any, upload_c: Any,
                   request: gr.Request | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
        """→ pictures of A, B, C, A − B + C, and a note on the latents' norms."""
        language = request_language(request)
        entry, model, config = load(self.context, path, language)
        label = class_index(entry, class_name, language)
        operands = [self.operand(entry, model, config, label, *values, language) for values in
                    [(source_a, seed_a, sketch_a, upload_a), (source_b, seed_b, sketch_b, upload_b),
                     (source_c, seed_c, sketch_c, upload_c)]]
        images, result = latent_arithmetic(model, *operands, label=label)
        norms = [latent_norm(z) for z in (*operands, result)]
        note = message("encode.arith_norms", language, a=norms[0], b=norms[1], c=norms[2], result=norms[3])
        return (*(to_picture(images[index:index + 1], SCALE) for index in range(4)), note)


# ------------------------------------------------------------------------------------------- layout


def source_radio(with_seed: bool, value: str = "draw", **extra: Any) -> gr.Radio:
    choices = [(t("encode.source_draw"), "draw"), (t("encode.source_upload"), "upload")]
    if with_seed:
        choices.insert(0, (t("encode.source_seed"), "seed"))
    return gr.Radio(choices, value=value, label=t("encode.source"), **extra)


def picture_out(label_key: str, wide: bool = False, **extra: Any) -> gr.Image:
    """An output picture with its label and buttons above it (CSS); `wide`: the whole width on a phone."""
    return gr.Image(label=t(label_key), type="numpy", format="png", interactive=False,
                    buttons=["download", "fullscreen"],
                    elem_classes=["genimg-picture", *(["genimg-wide"] if wide else [])], **extra)


def page_styles(elem_id: str = "encode-styles") -> gr.HTML:
    """An empty block that puts CSS into the page's <head> (so no other file has to carry these styles)."""
    return gr.HTML("", head=f"<style>{CSS}</style>", container=False, padding=False, elem_id=elem_id,
                   elem_classes="genimg-styles")


def build_encode_tab(context: ExploreContext, maps: LatentMapCache | None = None) -> EncodeHandlers:
    """Lay out the tab inside the current gr.Blocks and wire its events (maps: default, the shared cache)."""
    handlers = EncodeHandlers(context, maps)
    page_styles()
    private = dict(api_visibility="private")
    gr.Markdown(t("encode.intro"), latex_delimiters=LATEX)
    vaes = handlers.vae_choices()
    with gr.Tabs(overflow_behavior="wrap"):  # every sub-tab in view on a phone
        with gr.Tab(t("encode.sub_encode"), id="encode-draw"):
            if not vaes:
                gr.Markdown(t("encode.no_vae"))
            else:
                with gr.Row():
                    model = gr.Dropdown(vaes, value=vaes[0][1], label=t("encode.model"), info=t("encode.model_info"),
                                        elem_id="encode-model")
                    context.register(model, needs="encoder")
                    update = class_update(context.entry(vaes[0][1]))
                    class_name = dependent_dropdown(update["choices"], value=update["value"],
                                                    visible=update["visible"],
                                                    label=t("encode.class"), elem_id="encode-class")
                    decode_name = dependent_dropdown(update["choices"], value=update["value"],
                                                     visible=update["visible"],
                                                     label=t("encode.decode_as"), elem_id="encode-decode-as")
                gr.Markdown(t("encode.howto"), latex_delimiters=LATEX)
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        source = source_radio(False, elem_id="encode-source")
                        sketch = sketchpad(elem_id="encode-sketch")
                        upload = upload_box(elem_id="encode-upload")
                        run = gr.Button(t("encode.run"), variant="primary", elem_id="encode-run")
                    with gr.Column(scale=2):
                        with gr.Row():
                            prepared = picture_out("encode.prepared", elem_id="encode-prepared")
                            reconstruction = picture_out("encode.reconstruction", elem_id="encode-reconstruction")
                        note = gr.Markdown(elem_id="encode-note")
                        chart = picture_out("encode.code", elem_id="encode-chart")
                with gr.Row():  # side by side on a desktop; on a phone one under the other, the table whole
                    marked = picture_out("encode.on_map", wide=True, elem_id="encode-on-map", min_width=TABLE_WIDTH)
                    with gr.Column(min_width=TABLE_WIDTH):
                        with gr.Accordion(t("encode.table"), open=False, elem_id="encode-numbers"):
                            table = gr.Dataframe(interactive=False, elem_id="encode-table")

                outputs = [prepared, reconstruction, chart, marked, table, note]
                inputs = [model, class_name, decode_name, source, sketch, upload]
                run.click(handlers.encode, inputs, outputs, api_name="encode")
                # Gradio 6.31's Sketchpad sends `input` when a stroke starts (with the canvas before it) and no
                # event when it ends, so the drawing is encoded on the button, not live; the event only flips the radio.
                sketch.input(draw_when_inked, sketch, source, show_progress="hidden", **private)
                upload.upload(lambda: "upload", None, source, show_progress="hidden", **private).then(handlers.encode, inputs, outputs,
                                                                              **private)
                model.change(handlers.model_changed, [model, class_name], [class_name, decode_name], **private)
                class_name.input(lambda name: name, class_name, decode_name, **private)

        with gr.Tab(t("encode.sub_map"), id="encode-map") as map_tab:
            gr.Markdown(t("encode.map_intro"), latex_delimiters=LATEX)
            if not vaes:
                gr.Markdown(t("encode.no_vae"))
            else:
                maps = handlers.map_choices()
                with gr.Row():
                    map_model = gr.Dropdown(maps, value=maps[0][1], label=t("encode.model"), elem_id="map-model")
                    context.register(map_model, needs="encoder")
                    update = class_update(context.entry(maps[0][1]))
                    map_class = dependent_dropdown(update["choices"], value=update["value"],
                                                   visible=update["visible"],
                                                   label=t("encode.decode_as"), elem_id="map-class")
                    show = gr.Button(t("encode.map_show"), elem_id="map-show")
                map_note = gr.Markdown(elem_id="map-note")
                with gr.Row():
                    map_image = gr.Image(label=t("encode.map"), type="numpy", format="png", interactive=False,
                                         buttons=["download", "fullscreen"], elem_classes=["genimg-picture", "genimg-wide"],
                                         elem_id="map-image", scale=3)
                    with gr.Column(scale=1, min_width=240):
                        picked = picture_out("encode.picked", elem_id="map-picked")
                        picked_z = gr.Markdown(elem_id="map-picked-z")
                manifold = picture_out("encode.manifold", elem_id="map-manifold", height=600)
                map_outputs = [map_image, manifold, map_note, picked, picked_z]
                map_inputs = [map_model, map_class]
                map_tab.select(handlers.show_map, map_inputs, map_outputs, **private)
                show.click(handlers.show_map, map_inputs, map_outputs, api_name="latent_map")
                map_model.change(lambda path, keep: handlers.model_changed(path, keep)[0], [map_model, map_class],
                                 map_class, **private).then(handlers.show_map, map_inputs, map_outputs, **private)
                map_class.input(handlers.show_map, map_inputs, map_outputs, **private)
                map_image.select(handlers.pick, map_inputs, [map_image, picked, picked_z], **private)

                # The view a link or a lesson shares: the VAE a drawing is encoded with and the map's VAE.
                handlers.view = TabView(
                    tab="encode", title_key="encode.tab",
                    keys=(UrlKey("model", model, kind="path"), UrlKey("map", map_model, kind="path")),
                    trigger=model, restore=handlers.restore, outputs=[model, class_name, decode_name, map_model])

        with gr.Tab(t("encode.sub_ode"), id="encode-ode"):
            gr.Markdown(t("encode.ode_intro"), latex_delimiters=LATEX)
            flows = handlers.flow_choices()
            if not flows:
                gr.Markdown(t("encode.no_flow"))
            else:
                with gr.Row():
                    ode_model = gr.Dropdown(flows, value=flows[0][1], label=t("encode.ode_model"), elem_id="ode-model")
                    context.register(ode_model, needs="ode")
                    update = class_update(context.entry(flows[0][1]))
                    ode_class = dependent_dropdown(update["choices"], value=update["value"], visible=update["visible"],
                                                   label=t("encode.class"), elem_id="ode-class")
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        ode_source = source_radio(True, "seed", elem_id="ode-source")
                        ode_seed = gr.Number(value=0, label=t("encode.seed"), elem_id="ode-seed")
                        ode_sketch = sketchpad(visible=False, elem_id="ode-sketch")
                        ode_upload = upload_box(visible=False, elem_id="ode-upload")
                        ode_flow = build_flow_controls("ode", context.entry(flows[0][1]), steps=50)
                        ode_run = gr.Button(t("encode.ode_run"), variant="primary", elem_id="ode-run")
                    with gr.Column(scale=2):
                        with gr.Row():
                            ode_pictures = [picture_out(key, elem_id=f"ode-{name}") for name, key in
                                            (("picture", "encode.prepared"), ("noise", "encode.ode_noise"),
                                             ("redrawn", "encode.ode_redrawn"))]
                        ode_note = gr.Markdown(elem_id="ode-note")
                ode_path = picture_out("encode.ode_path", wide=True, elem_id="ode-path")
                gr.Markdown(t("encode.field_heading"))
                gr.Markdown(t("encode.field_intro"), latex_delimiters=LATEX)
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        field_run = gr.Button(t("encode.field_run"), elem_id="field-run")
                        field_time = LenientSlider(0, 1, value=1, step=0.1, label=t("encode.field_time"),
                                                   elem_id="field-time")
                        field_note = gr.Markdown(elem_id="field-note")
                    with gr.Column(scale=2):
                        field_picture = picture_out("encode.field_picture", elem_id="field-picture")
                field_state = gr.State(None)
                ode_source.change(
                    lambda chosen: (gr.update(visible=chosen == "seed"), gr.update(visible=chosen == "draw"),
                                    gr.update(visible=chosen == "upload")),
                    ode_source, [ode_seed, ode_sketch, ode_upload], **private)
                ode_inputs = [ode_model, ode_class, ode_source, ode_seed, ode_sketch, ode_upload, *ode_flow.inputs]
                ode_outputs = [*ode_pictures, ode_path, ode_note]
                ode_run.click(handlers.ode_round_trip, ode_inputs, ode_outputs, api_name="ode_round_trip")
                field_run.click(handlers.velocity_field, [ode_model, ode_seed, *ode_flow.inputs, field_time],
                                [field_state, field_picture, field_note], api_name="velocity_field")
                field_time.input(handlers.field_frame, [field_state, field_time], field_picture,
                                 trigger_mode="always_last", show_progress="hidden", **private)
                ode_model.change(lambda path, keep: handlers.model_changed(path, keep)[0], [ode_model, ode_class],
                                 ode_class, **private)
                # On load (the note in the visitor's language) and whenever the model or a setting changes.
                gr.on(None, handlers.flow_shown, [ode_model, *ode_flow.inputs], ode_flow.outputs,
                      show_progress="hidden", **private)

        with gr.Tab(t("encode.sub_arithmetic"), id="encode-arithmetic"):
            gr.Markdown(t("encode.arith_intro"), latex_delimiters=LATEX)
            everything = context.choices()
            if not everything:
                gr.Markdown(t("encode.no_vae"))
                return handlers
            with gr.Row():
                arith_model = gr.Dropdown(everything, value=everything[0][1], label=t("encode.arith_model"),
                                          elem_id="arith-model")
                context.register(arith_model)
                update = class_update(context.entry(everything[0][1]))
                arith_class = dependent_dropdown(update["choices"], value=update["value"],
                                                 visible=update["visible"],
                                                 label=t("encode.arith_class"), elem_id="arith-class")
            operand_inputs = []
            with gr.Row():
                for letter, default_seed in (("a", 1), ("b", 2), ("c", 3)):
                    with gr.Column(min_width=200):
                        gr.Markdown(f"**{letter.upper()}**")
                        operand_source = source_radio(True, "seed", elem_id=f"arith-source-{letter}")
                        operand_seed = gr.Number(value=default_seed, label=t("encode.seed"),
                                                 elem_id=f"arith-seed-{letter}")
                        operand_sketch = sketchpad(visible=False, elem_id=f"arith-sketch-{letter}")
                        operand_upload = upload_box(visible=False, elem_id=f"arith-upload-{letter}")
                        operand_source.change(
                            lambda chosen: (gr.update(visible=chosen == "seed"), gr.update(visible=chosen == "draw"),
                                            gr.update(visible=chosen == "upload")),
                            operand_source, [operand_seed, operand_sketch, operand_upload], **private)
                        operand_inputs += [operand_source, operand_seed, operand_sketch, operand_upload]
            compute = gr.Button(t("encode.arith_run"), variant="primary", elem_id="arith-run")
            with gr.Row():
                pictures = [picture_out(key, elem_id=f"arith-out-{index}") for index, key in
                            enumerate(("encode.operand_a", "encode.operand_b", "encode.operand_c", "encode.result"))]
            arith_note = gr.Markdown(elem_id="arith-note")
            compute.click(handlers.arithmetic, [arith_model, arith_class, *operand_inputs], [*pictures, arith_note],
                          api_name="arithmetic")
            arith_model.change(handlers.arithmetic_class, arith_model, arith_class, **private)
    return handlers
