"""GAN tab: find the z behind a drawing by optimisation (streamed step by step), and ask the discriminator how
real it finds a drawing, an upload or a sample."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import gradio as gr
import numpy as np
import pandas as pd
import torch

from genimg.explore.catalog import ModelEntry
from genimg.explore.encode import LatentMapCache, decode, to_picture
from genimg.explore.invert import (
    MAX_INVERSION_STEPS,
    MAX_RESTARTS,
    REFERENCE_COUNT,
    DiscriminatorReference,
    discriminator_reference,
    invert_generator,
    summarise_inversion,
    verdict,
)
from genimg.models.latent import seeded_latents
from genimg.ui.context import ExploreContext
from genimg.ui.encode_tab import (
    LATEX,
    SCALE,
    check_number,
    check_seed,
    class_index,
    class_update,
    draw_when_inked,
    load,
    page_styles,
    picture_out,
    prepare,
    read_picture,
    shared_cache,
    sketchpad,
    source_radio,
    upload_box,
)
from genimg.ui.explore import dependent_dropdown
from genimg.ui.fields import LenientSlider
from genimg.ui.guard import in_words
from genimg.ui.i18n import message, register, request_language, t
from genimg.ui.views import TabView, UrlKey, model_path, whole_number

MAX_INVERSION_SECONDS = 30.0
LEARNING_RATE = 0.05
MAX_PRIOR_WEIGHT = 1.0  # the handler's bound (the slider offers 0 to 0.05); the library accepts up to 10

EN = {
    "gan.tab": "GAN tools",
    "gan.intro": r"""
### Inside a GAN
A generator $G$ maps $z\sim\mathcal{N}(0,I)$ to an image; a discriminator $D$ scores images as real or generated.
They play
$$\min_G\max_D\; \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1-D(G(z)))].$$
""",
    "gan.no_gan": "**No GAN was found.** Train one (`python -m genimg train --model dcgan ...`) and reload the page.",
    "gan.model": "GAN",
    "gan.class": "Class",
    "gan.seed": "Seed (the target is the GAN's own sample)",
    "gan.sub_invert": "Invert a drawing",
    "gan.sub_ask": "Ask the discriminator",
    "gan.invert_intro": r"""
A GAN has no encoder: to find the $z$ behind an image $x$ we **invert** the generator by optimisation,
$$z^*=\arg\min_z\; \|G(z)-x\|^2 + \lambda\|z\|^2,$$
with Adam (learning rate 0.05), starting from the best few of 64 random latents and keeping the best run. The small
prior term $\lambda\|z\|^2$ keeps $z$ where the generator was trained. A target that $G$ drew itself (a seed) is
found almost exactly; for your own drawing you see the closest image that $G$ *can* draw.
""",
    "gan.steps": "Adam steps",
    "gan.restarts": "Parallel starts",
    "gan.prior": "Prior weight λ",
    "gan.run": "Invert",
    "gan.stop": "Stop",
    "gan.target_image": "Target x",
    "gan.reconstruction": "G(z*)",
    "gan.loss": "Pixel error of the best start while optimising",
    "gan.loss_axis": "pixel MSE",
    "gan.step_axis": "Adam step",
    "gan.ask_intro": r"""
$D$ outputs a logit $\ell$; $\sigma(\ell)=1/(1+e^{-\ell})$ is read as "probability real". It is **not a calibrated
probability**: $D$ is only trained to tell the current real and generated batches apart. Late in training, when
$G$ is good, an ideal $D$ would say ½ everywhere; a real one keeps chasing the generator's latest flaws, so its scores
drift from step to step and a clean drawing of yours can score lower than an odd sample. Compare scores between
images (the reference line below) rather than reading one as odds.
""",
    "gan.ask": "Ask D",
    "gan.judged": "What D sees",
    "gan.status": "step {step} of {steps} · loss {loss:.4f} · pixel MSE {mse:.4f} · ‖z‖/√D {norm:.2f}",
    "gan.status_done": "**Done** after {step} steps ({seconds:.1f} s): pixel MSE {mse:.4f} (from {first:.4f} at the "
                       "start, {factor:.1f}× lower), ‖z*‖/√D {norm:.2f}; D's score for G(z*): σ = {probability:.0%}.",
    "gan.status_stopped": "**Stopped** after {step} of {steps} steps ({seconds:.1f} s). The best reconstruction so far "
                          "is shown: pixel MSE {mse:.4f} (from {first:.4f} at the start), ‖z*‖/√D {norm:.2f}.",
    "gan.status_seed": "The target was drawn from z of seed {seed}: ‖z* − z‖/√D = {distance:.2f}.",
    "gan.status_twins": "A tiny error at a clear distance: different latents give nearly the same image.",
    "gan.verdict": "D's logit ℓ = **{logit:+.2f}**, σ(ℓ) = **{probability:.1%}** \"real\".",
    "gan.reference_fake": "For comparison, the mean over {count} of G's own samples: ℓ = {fake_logit:+.2f} "
                          "(σ {fake_probability:.0%}).",
    "gan.reference_real": "Over {count} real test images: ℓ = {real_logit:+.2f} (σ {real_probability:.0%}).",
}
ZH = {
    "gan.tab": "GAN 工具",
    "gan.intro": r"""
### GAN 的内部
生成器 $G$ 把 $z\sim\mathcal{N}(0,I)$ 映射成图像；判别器 $D$ 给图像打分，判断它是真实的还是生成的。二者进行博弈
$$\min_G\max_D\; \mathbb{E}_x[\log D(x)] + \mathbb{E}_z[\log(1-D(G(z)))].$$
""",
    "gan.no_gan": "**没有找到 GAN。** 请先训练一个（`python -m genimg train --model dcgan ...`），然后刷新页面。",
    "gan.model": "GAN",
    "gan.class": "类别",
    "gan.seed": "随机种子（目标是 GAN 自己的样本）",
    "gan.sub_invert": "反演手绘",
    "gan.sub_ask": "询问判别器",
    "gan.invert_intro": r"""
GAN 没有编码器：要找到图像 $x$ 背后的 $z$，我们通过优化来**反演**生成器，
$$z^*=\arg\min_z\; \|G(z)-x\|^2 + \lambda\|z\|^2,$$
使用 Adam（学习率 0.05），从 64 个随机隐向量中最好的几个出发，保留最好的一次。很小的先验项 $\lambda\|z\|^2$
让 $z$ 留在生成器训练过的区域。$G$ 自己画出的目标（随机种子）几乎能被精确找到；对你自己的手绘，你看到的是
$G$ *能*画出的最接近的图像。
""",
    "gan.steps": "Adam 步数",
    "gan.restarts": "并行起点数",
    "gan.prior": "先验权重 λ",
    "gan.run": "反演",
    "gan.stop": "停止",
    "gan.target_image": "目标 x",
    "gan.reconstruction": "G(z*)",
    "gan.loss": "优化过程中最佳起点的像素误差",
    "gan.loss_axis": "像素均方误差",
    "gan.step_axis": "Adam 步",
    "gan.ask_intro": r"""
$D$ 输出一个 logit $\ell$；$\sigma(\ell)=1/(1+e^{-\ell})$ 被当作“是真实图像的概率”。它**不是校准过的概率**：
$D$ 只被训练来区分当前的真实批次和生成批次。训练后期 $G$ 已经很好时，理想的 $D$ 处处输出 ½；实际的 $D$ 却一直在追逐
生成器最新的缺陷，所以它的分数会随训练步数漂移，你干净的手绘得分可能比一个古怪的样本还低。请在图像之间比较分数
（见下面的参考行），而不要把单个分数当成概率。
""",
    "gan.ask": "询问 D",
    "gan.judged": "D 看到的图像",
    "gan.status": "第 {step} / {steps} 步 · 损失 {loss:.4f} · 像素均方误差 {mse:.4f} · ‖z‖/√D {norm:.2f}",
    "gan.status_done": "**完成**，共 {step} 步（{seconds:.1f} 秒）：像素均方误差 {mse:.4f}（开始时 {first:.4f}，降低了 "
                       "{factor:.1f} 倍），‖z*‖/√D {norm:.2f}；D 对 G(z*) 的评分：σ = {probability:.0%}。",
    "gan.status_stopped": "**已停止**：完成 {step} / {steps} 步（{seconds:.1f} 秒）。下面是目前最好的重建：像素均方误差 "
                          "{mse:.4f}（开始时 {first:.4f}），‖z*‖/√D {norm:.2f}。",
    "gan.status_seed": "目标由随机种子 {seed} 的 z 生成：‖z* − z‖/√D = {distance:.2f}。",
    "gan.status_twins": "误差很小而距离明显：不同的隐向量可以生成几乎相同的图像。",
    "gan.verdict": "D 的 logit ℓ = **{logit:+.2f}**，σ(ℓ) = **{probability:.1%}**“真实”。",
    "gan.reference_fake": "作为对比，G 自己的 {count} 个样本的平均：ℓ = {fake_logit:+.2f}（σ {fake_probability:.0%}）。",
    "gan.reference_real": "{count} 张真实测试图像的平均：ℓ = {real_logit:+.2f}（σ {real_probability:.0%}）。",
}
register(EN, ZH)


def session_key(request: gr.Request | None) -> str:
    """Whose inversion a Stop is meant for: the browser tab's session (one key for calls without a page)."""
    return str(getattr(request, "session_hash", None) or "no-session")


class GanHandlers:
    """The tab's callbacks, testable without a browser. Every model path is resolved through `context`."""

    def __init__(self, context: ExploreContext, cache: LatentMapCache | None = None) -> None:
        self.context = context
        self.cache = cache or shared_cache()
        # Stop asks the running inversion of its session to end at its next report (≤ 0.25 s), which then says it
        # stopped and keeps the best reconstruction so far. (Gradio's `cancels` would end the stream silently.)
        self._stops: dict[str, threading.Event] = {}
        self._stops_lock = threading.Lock()
        self.view: TabView | None = None  # set by build_gan_tab: the view a link shares (genimg.ui.views)

    def restore(self, query: dict[str, str], language: str) -> list | None:
        """A shared view (?view=gan&model=…&class=…&seed=…&steps=…) → updates for (model, class, source, seed,
        steps); a seed in the address makes the seed the target. None when a value is not one the tab accepts."""
        path = model_path(self.context, query.get("model"))
        entry = self.context.entry(path)
        if entry is None or not entry.capabilities.discriminator:
            return None
        seed = whole_number(query["seed"], 0, 2**63 - 1) if "seed" in query else None
        steps = whole_number(query.get("steps", "200"), 20, MAX_INVERSION_STEPS)
        chosen = query.get("class")
        if steps is None or ("seed" in query and seed is None) or (chosen is not None and chosen not in
                                                                    (entry.class_names or ())):
            return None
        return [gr.update(value=path), class_update(entry, chosen),
                gr.update(value="seed") if seed is not None else gr.update(),
                gr.update(value=seed) if seed is not None else gr.update(), gr.update(value=steps)]

    def stop(self, request: gr.Request | None = None) -> None:
        """Ask this session's running inversion to stop; nothing happens when none is running."""
        with self._stops_lock:
            event = self._stops.get(session_key(request))
        if event is not None:
            event.set()

    def gan_choices(self) -> list[tuple[str, str]]:
        return self.context.choices(needs="discriminator")

    def model_changed(self, path: str | None, keep: str | None = None) -> dict:
        return class_update(self.context.entry(path), keep)

    def target(self, path: str | None, class_name: str | None, source: str | None, seed: Any, sketch: Any,
               upload: Any, language: str
               ) -> tuple[ModelEntry, Any, Any, int | None, torch.Tensor, torch.Tensor | None]:
        """→ entry, model, config, class index, the target (1, C, S, S) in [0, 1], and its z if it came from a seed."""
        entry, model, config = load(self.context, path, language, "discriminator")
        label = class_index(entry, class_name, language)
        if source == "seed":
            z = seeded_latents(check_seed(seed, language), 1, config.latent_dim)[0]
            return entry, model, config, label, decode(model, z, label), z
        picture = read_picture(source, sketch, upload, language)
        tensor, _ = prepare(picture, entry, config, language)
        return entry, model, config, label, tensor, None

    @in_words("encode.failed")
    def invert(self, path: str | None, class_name: str | None, source: str | None, seed: Any, sketch: Any,
               upload: Any, steps: Any, restarts: Any, prior_weight: Any, request: gr.Request | None = None
               ) -> Iterator[tuple[np.ndarray, np.ndarray, pd.DataFrame, str]]:
        """Stream (target, current best G(z), pixel-MSE curve, status) every few steps (≤ 0.25 s apart); after
        `stop` from the same session, one last update with the best so far and a status that says it stopped."""
        language = request_language(request)
        steps = int(check_number(steps, "gan.steps", 1, MAX_INVERSION_STEPS, language, whole=True))
        restarts = int(check_number(restarts, "gan.restarts", 1, MAX_RESTARTS, language, whole=True))
        prior_weight = check_number(prior_weight, "gan.prior", 0.0, MAX_PRIOR_WEIGHT, language)
        _, model, _, label, target, true_z = self.target(path, class_name, source, seed, sketch, upload, language)
        key, stop = session_key(request), threading.Event()
        with self._stops_lock:
            self._stops[key] = stop  # a new run replaces an older one of the same session
        try:
            yield from self._inversion(model, label, target, true_z, seed, steps, restarts, prior_weight, stop,
                                       language)
        finally:
            with self._stops_lock:
                if self._stops.get(key) is stop:
                    del self._stops[key]

    def _inversion(self, model: Any, label: int | None, target: torch.Tensor, true_z: torch.Tensor | None,
                   seed: Any, steps: int, restarts: int, prior_weight: float, stop: threading.Event, language: str
                   ) -> Iterator[tuple[np.ndarray, np.ndarray, pd.DataFrame, str]]:
        target_picture = to_picture(target, SCALE)
        rows: list[dict] = []
        first_mse = None
        started = time.monotonic()
        for report in invert_generator(model, target, label, steps=steps, lr=LEARNING_RATE, restarts=restarts,
                                       prior_weight=prior_weight, seed=0, max_seconds=MAX_INVERSION_SECONDS):
            first_mse = report.mse if first_mse is None else first_mse
            rows.append({"step": report.step, "mse": report.mse})
            if stop.is_set() and not report.done:
                status = message("gan.status_stopped", language, step=report.step, steps=steps,
                                 seconds=time.monotonic() - started, mse=report.mse, first=first_mse,
                                 norm=report.z_norm)
                yield target_picture, to_picture(report.image, SCALE), pd.DataFrame(rows), status
                return  # closing invert_generator ends its optimisation
            if report.done:
                summary = summarise_inversion(report, first_mse, model, label, true_z)
                status = message("gan.status_done", language, step=summary.step, seconds=time.monotonic() - started,
                                 mse=summary.mse, first=summary.first_mse, factor=summary.improvement,
                                 norm=summary.z_norm, probability=summary.verdict.probability)
                if summary.distance is not None:
                    status += "\n\n" + message("gan.status_seed", language, seed=check_seed(seed, language),
                                                 distance=summary.distance)
                    if summary.lookalike:
                        status += " " + message("gan.status_twins", language)
            else:
                status = message("gan.status", language, step=report.step, steps=steps, loss=report.loss,
                                 mse=report.mse, norm=report.z_norm)
            yield target_picture, to_picture(report.image, SCALE), pd.DataFrame(rows), status

    def reference(self, entry: ModelEntry, model: Any, config: Any, label: int | None) -> DiscriminatorReference:
        """D's mean logit on REFERENCE_COUNT of G's samples and, when the data set can be had, on real test images
        (computed once per model and class)."""
        def compute() -> DiscriminatorReference:
            data, _ = self.cache.dataset(entry.dataset, config.image_size, config.channels)
            return discriminator_reference(model, label, REFERENCE_COUNT, data)

        return self.cache.memo(model, ("reference", label), compute)

    @in_words("encode.failed")
    def ask(self, path: str | None, class_name: str | None, source: str | None, seed: Any, sketch: Any, upload: Any,
            request: gr.Request | None = None) -> tuple[np.ndarray, str]:
        """→ the image D judged, and its verdict with a reference line (Markdown)."""
        language = request_language(request)
        entry, model, config, label, target, _ = self.target(path, class_name, source, seed, sketch, upload, language)
        found = verdict(model, target, label)
        lines = [message("gan.verdict", language, logit=found.logit, probability=found.probability)]
        reference = self.reference(entry, model, config, label)
        lines.append(message("gan.reference_fake", language, count=reference.fake_count,
                             fake_logit=reference.fake_logit, fake_probability=reference.fake_probability))
        if reference.real_logit is not None:
            lines.append(message("gan.reference_real", language, count=reference.real_count,
                                 real_logit=reference.real_logit, real_probability=reference.real_probability))
        return to_picture(target, SCALE), "\n\n".join(lines)


def build_gan_tab(context: ExploreContext, cache: LatentMapCache | None = None) -> GanHandlers:
    """Lay out the tab inside the current gr.Blocks and wire its events (cache: default, the shared one)."""
    handlers = GanHandlers(context, cache)
    page_styles("gan-styles")
    private = dict(api_visibility="private")
    gr.Markdown(t("gan.intro"), latex_delimiters=LATEX)
    gans = handlers.gan_choices()
    if not gans:
        gr.Markdown(t("gan.no_gan"))
        return handlers
    update = class_update(context.entry(gans[0][1]))
    with gr.Row():
        model = gr.Dropdown(gans, value=gans[0][1], label=t("gan.model"), elem_id="gan-model")
        context.register(model, needs="discriminator")
        class_name = dependent_dropdown(update["choices"], value=update["value"], visible=update["visible"],
                                        label=t("gan.class"), elem_id="gan-class")
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            source = source_radio(True, "draw", elem_id="gan-source")
            seed = gr.Number(value=0, label=t("gan.seed"), elem_id="gan-seed")  # checked by check_seed
            sketch = sketchpad(elem_id="gan-sketch")
            upload = upload_box(elem_id="gan-upload")
        with gr.Column(scale=2):
            with gr.Tabs(overflow_behavior="wrap"):
                with gr.Tab(t("gan.sub_invert"), id="gan-invert"):
                    gr.Markdown(t("gan.invert_intro"), latex_delimiters=LATEX)
                    with gr.Row():
                        steps = LenientSlider(20, MAX_INVERSION_STEPS, value=200, step=10, label=t("gan.steps"),
                                          elem_id="gan-steps")
                        restarts = LenientSlider(1, 8, value=4, step=1, label=t("gan.restarts"), elem_id="gan-restarts")
                        prior = LenientSlider(0.0, 0.05, value=0.001, step=0.001, label=t("gan.prior"),
                                          elem_id="gan-prior")
                    with gr.Row():
                        run = gr.Button(t("gan.run"), variant="primary", elem_id="gan-run")
                        stop = gr.Button(t("gan.stop"), variant="stop", elem_id="gan-stop")
                    with gr.Row():
                        target_image = picture_out("gan.target_image", elem_id="gan-target")
                        reconstruction = picture_out("gan.reconstruction", elem_id="gan-reconstruction")
                    # Always sent a frame, never None: Gradio 6.31's LinePlot, cleared to None after it drew, throws
                    # "Cannot read properties of null (reading 'offsetWidth')" in the page.
                    loss_plot = gr.LinePlot(x="step", y="mse", label=t("gan.loss"), height=260,
                                            x_title=t("gan.step_axis"), y_title=t("gan.loss_axis"),
                                            elem_id="gan-loss")
                    status = gr.Markdown(elem_id="gan-status")
                with gr.Tab(t("gan.sub_ask"), id="gan-ask"):
                    gr.Markdown(t("gan.ask_intro"), latex_delimiters=LATEX)
                    ask = gr.Button(t("gan.ask"), variant="primary", elem_id="gan-ask-run")
                    with gr.Row():
                        judged = picture_out("gan.judged", elem_id="gan-judged")
                        verdict = gr.Markdown(elem_id="gan-verdict")
    inputs = [model, class_name, source, seed, sketch, upload]
    run.click(handlers.invert, [*inputs, steps, restarts, prior], [target_image, reconstruction, loss_plot, status],
              api_name="invert")
    # its own queue lane (no limit): a Stop must never wait behind the inversion it stops, nor behind anyone else's
    stop.click(handlers.stop, None, None, concurrency_limit=None, show_progress="hidden", **private)
    ask.click(handlers.ask, inputs, [judged, verdict], api_name="ask_discriminator")
    sketch.input(draw_when_inked, sketch, source, show_progress="hidden", **private)
    upload.upload(lambda: "upload", None, source, show_progress="hidden", **private)
    seed.input(lambda: "seed", None, source, show_progress="hidden", **private)
    model.change(handlers.model_changed, [model, class_name], class_name, **private)
    # The view a link or a lesson shares: the model, its class, the seed (when it is the target) and the steps.
    handlers.view = TabView(
        tab="gan", title_key="gan.tab",
        keys=(UrlKey("model", model, kind="path"), UrlKey("class", class_name), UrlKey("seed", seed),
              UrlKey("steps", steps, omit="200")),
        # the tab draws nothing until asked, so each setting of the view rewrites the address itself
        trigger=(model, class_name, seed, steps), restore=handlers.restore,
        outputs=[model, class_name, source, seed, steps])
    return handlers
