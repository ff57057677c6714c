"""Samples tab, the page's landing: a big grid from the best model with one line saying what it is; pick a model,
a seed and a class for more. The model card and its numbers wait in a closed accordion."""

from __future__ import annotations

import math
import random
from typing import Any

import gradio as gr
import numpy as np

from genimg.data.imaging import grid_columns
from genimg.explore.catalog import ModelEntry, rank_generators
from genimg.models.flow import drawing
from genimg.models.latent import MAX_SEED, parse_seed
from genimg.models.loading import on_zerogpu
from genimg.store.checkpoint import CheckpointError
from genimg.ui.cards_view import card_for_page
from genimg.ui.context import ExploreContext
from genimg.ui.flow_controls import build_flow_controls, check_work, sampling_for, shown_for
from genimg.ui.gpu import draw_grid
from genimg.ui.i18n import LATEX, message, register, request_language, t
from genimg.ui.views import LanguageRequest, TabView, UrlKey, model_path, whole_number

EVERY_CLASS = "*"
LANDING_SAMPLES = 64  # the most the count slider offers: a big grid sells the idea at a glance

ENGLISH = {
    "samples.tab": "Samples",
    "samples.intro": (
        "### Samples\n"
        "A **generator** turns a latent vector $z$ into an image, $x = G(z)$. The **seed** picks $z$ from a standard "
        "normal distribution, $z \\sim \\mathcal{N}(0, I)$, drawn on the CPU so that a seed shows the same images on "
        "every machine and every visit. A GAN's generator learned to fool a discriminator; a VAE's decoder learned to "
        "rebuild images from their codes; a flow model carries the noise image $z$ to a picture step by step along an "
        "ODE it learned. Conditional models also take the class they should draw. Each model's card "
        "(under **About this model**) says how it was trained and how good it is, in numbers."
    ),
    "samples.model": "Model",
    "samples.seed": "Seed",
    "samples.random": "🎲 Random",
    "samples.count": "Samples",
    "samples.class": "Class",
    "samples.every_class": "one class per column",
    "samples.grid": "Samples",
    "samples.none": "**No trained models were found.** Train one with `python -m genimg train ... --out "
                    "checkpoints/NAME` and reload the page.",
    "samples.pick_model": "Pick a model from the list first.",
    "samples.bad_seed": "The seed must be a whole number from 0 to 9,223,372,036,854,775,807.",
    "samples.bad_class": "{value} is not a class of {model}.",
    "samples.no_card": "*{model} has no model card.*",
    "samples.failed": "This model could not be used: {error}",
    "samples.bad_count": "The number of samples must be a number from 1 to 64.",
    "samples.skipped": "Some checkpoint folders could not be offered",
    "samples.about": "About this model",
    "samples.caption": "**{count} {things} drawn by a {family} ({model}) from random points in its latent space.** "
                       "Change the seed for {count} new ones.",
    "samples.caption_conditional": "**{count} {things} drawn by a conditional {family} ({model}) from random points "
                                   "in its latent space — one class per column.** Change the seed for {count} new ones.",
    "samples.caption_one_class": "**{count} {things} of class {label} drawn by a conditional {family} ({model}) from "
                                 "random points in its latent space.** Change the seed for {count} new ones.",
    "samples.things.mnist": "digits",
    "samples.things.fashion-mnist": "pieces of clothing",
    "samples.things.shapes": "shapes",
    "samples.things.other": "images",
    "samples.family.flow": "flow model",
}
CHINESE = {
    "samples.tab": "样本",
    "samples.intro": (
        "### 样本\n"
        "**生成器**把隐向量 $z$ 变成图像，$x = G(z)$。**种子**从标准正态分布中取出 $z$，$z \\sim \\mathcal{N}(0, I)$；"
        "它在 CPU 上生成，所以同一个种子在任何机器、任何时候都给出同样的图像。GAN 的生成器学会了骗过判别器；"
        "VAE 的解码器学会了从编码重建图像；流模型则沿着它学到的常微分方程（ODE），一步一步把噪声图像 $z$ 变成图片。条件模型还需要知道要画哪一类。模型卡（在 **关于这个模型** 中）用数字说明模型如何训练、效果如何。"
    ),
    "samples.model": "模型",
    "samples.seed": "种子",
    "samples.random": "🎲 随机",
    "samples.count": "样本数",
    "samples.class": "类别",
    "samples.every_class": "每列一个类别",
    "samples.grid": "样本",
    "samples.none": "**没有找到训练好的模型。** 请用 `python -m genimg train ... --out checkpoints/NAME` 训练一个，然后刷新页面。",
    "samples.pick_model": "请先从列表中选择一个模型。",
    "samples.bad_seed": "种子必须是 0 到 9,223,372,036,854,775,807 之间的整数。",
    "samples.bad_class": "{value} 不是 {model} 的类别。",
    "samples.no_card": "*{model} 没有模型卡。*",
    "samples.failed": "无法使用这个模型：{error}",
    "samples.bad_count": "样本数必须是 1 到 64 之间的数字。",
    "samples.skipped": "有些检查点文件夹无法使用",
    "samples.about": "关于这个模型",
    "samples.caption": "**{count} 个{things}，由{family}（{model}）从隐空间中的随机点生成。** 换一个种子，再看 {count} 个新的。",
    "samples.caption_conditional": "**{count} 个{things}，由条件{family}（{model}）从隐空间中的随机点生成——每列一个类别。** "
                                   "换一个种子，再看 {count} 个新的。",
    "samples.caption_one_class": "**{count} 个类别为 {label} 的{things}，由条件{family}（{model}）从隐空间中的随机点生成。** "
                                 "换一个种子，再看 {count} 个新的。",
    "samples.things.mnist": "数字",
    "samples.things.fashion-mnist": "服饰图像",
    "samples.things.shapes": "形状",
    "samples.things.other": "图像",
    "samples.family.flow": "流模型",
}
register(ENGLISH, CHINESE)


def family_name(entry: ModelEntry, language: str) -> str:
    """What a caption calls the model's family: "GAN" and "VAE" in every language; others in the visitor's."""
    key = f"samples.family.{entry.family}"
    return message(key, language) if key in ENGLISH else entry.model_kind.family_name


def landing_count(entry: ModelEntry) -> int:
    """How many samples the landing shows: up to 64, whole rows only (a conditional model's row has one column per
    class, so 10 digit classes give 60, six of each)."""
    columns = grid_columns(LANDING_SAMPLES, entry.num_classes)
    return max(columns, LANDING_SAMPLES // columns * columns)


def dependent_dropdown(choices: list, value: object = None, **options: object) -> gr.Dropdown:
    """A dropdown whose choices follow another control: a model's classes or its principal directions.

    Gradio checks a dropdown's value against the choices it last sent to the page, before any handler runs. When
    the model changes, events already on their way carry the old model's value (a dropdown sends `input` twice for
    one pick, a slider keeps sending), so Gradio refused them with "Value: 0 is not in the list of choices: []".
    These values are checked by the handlers instead, against the model they arrive with: a class sent for an
    unconditional model is ignored, anything else wrong is refused in the user's language.
    """
    return gr.Dropdown(choices, value=value, allow_custom_value=True, **options)


class ExploreHandlers:
    """The tab's callbacks, testable without a browser. Dropdown values are checkpoint folder paths, and only
    those the page offered are accepted."""

    def __init__(self, context: ExploreContext) -> None:
        self.context = context
        self.renderer = context.renderer
        self.view: TabView | None = None  # set by build_explore_tab: the view a link shares
        self.opening = None  # set by build_explore_tab: the page-load event that fills the caption

    def entry(self, path: str | None, language: str = "en"):
        entry = self.context.entry(path)
        if entry is None:
            raise gr.Error(message("samples.pick_model", language))
        return entry

    def class_choices(self, path: str | None, current: str | None = None) -> dict:
        """The class picker for a model; the picked class stays when the new model has it (a shared view sets the
        model and its class together, and the model's change must not undo the class)."""
        entry = self.context.entry(path)
        every = (t("samples.every_class"), EVERY_CLASS)
        if entry is None or not entry.num_classes:  # hidden, as the Latent tab's: "one class per column" would be false
            return gr.update(choices=[every], value=EVERY_CLASS, interactive=False, visible=False)
        value = current if current in entry.class_names else EVERY_CLASS
        return gr.update(choices=[every, *entry.class_names], value=value, interactive=True, visible=True)

    def card(self, path: str | None, request: gr.Request | None = None) -> str:
        """The model's card in the visitor's language (genimg.ui.cards_view); "" when no model is picked."""
        entry = self.context.entry(path)
        if entry is None:
            return ""
        language = request_language(request)
        text = card_for_page(entry, language) if entry.card else message("samples.no_card", language, model=entry.name)
        measured = self.context.measured(entry, language) if self.context.measured is not None else ""
        return text + "\n\n" + measured if measured else text

    def caption(self, path: str | None, count: float | None, chosen_class: str | None,
                request: gr.Request | None = None) -> str:
        """One line above the grid saying what it shows, in the visitor's language; "" when no model is picked."""
        language = request_language(request)
        entry = self.context.entry(path)
        if entry is None:
            return ""
        try:
            count = int(min(max(float(count), 1), 64))
        except (TypeError, ValueError, OverflowError):
            count = landing_count(entry)
        things_key = f"samples.things.{entry.dataset}"
        things = message(things_key if things_key in ENGLISH else "samples.things.other", language)
        family = family_name(entry, language)
        if language == "zh-CN" and family.isascii():  # a Latin name keeps a space from the Chinese before it
            family = " " + family
        values = {"count": count, "things": things, "family": family, "model": entry.name}
        if not entry.num_classes:
            return message("samples.caption", language, **values)
        if chosen_class in entry.class_names:
            return message("samples.caption_one_class", language, label=chosen_class, **values)
        return message("samples.caption_conditional", language, **values)

    def samples(self, path: str | None, seed: float | None, count: float, chosen_class: str | None,
                steps: float | None = None, solver: str | None = None, guidance: float | None = None,
                request: gr.Request | None = None) -> np.ndarray:
        """The grid. steps, solver, guidance: how a flow draws (genimg.ui.flow_controls; ignored for others)."""
        language = request_language(request)
        entry = self.entry(path, language)
        sampling = sampling_for(entry, steps, solver, guidance, language)
        seed = parse_seed(seed)
        if seed is None:
            raise gr.Error(message("samples.bad_seed", language))
        class_index = None
        if entry.num_classes and chosen_class not in (None, EVERY_CLASS):
            if chosen_class not in entry.class_names:
                raise gr.Error(message("samples.bad_class", language, value=repr(chosen_class), model=entry.name))
            class_index = entry.class_names.index(chosen_class)
        try:
            count = float(count if count not in (None, "") else 1)
        except (TypeError, ValueError):
            count = math.nan
        if not math.isfinite(count):
            raise gr.Error(message("samples.bad_count", language))
        count = int(min(max(count, 1), 64))
        check_work(entry, sampling, count, language)
        try:
            if on_zerogpu():  # the page's process has no CUDA there: the grid is drawn where the GPU is lent
                return draw_grid(str(entry.path), int(seed), count, class_index, sampling)
            with drawing(sampling):
                return self.renderer.sample_grid(entry.path, int(seed), count, class_index, scale=4)
        except (ValueError, CheckpointError) as error:
            raise gr.Error(message("samples.failed", language, error=error)) from None

    def first_grid(self, path: str, count: int = 16) -> np.ndarray | None:
        """The grid shown when the page opens; None (an empty image) if the model cannot be loaded."""
        try:
            return self.samples(path, 0, count, EVERY_CLASS)
        except Exception:  # noqa: BLE001 - a broken checkpoint must not keep the page from opening; picking it shows the error
            return None

    def flow_shown(self, path: str | None, steps: Any, solver: Any, guidance: Any,
                   request: gr.Request | None = None) -> list[Any]:
        """The flow controls for the picked model (shown only for a flow), with their note in the visitor's language."""
        return shown_for(self.context.entry(path), steps, solver, guidance, request_language(request))

    @staticmethod
    def random_seed() -> int:
        return random.randrange(0, 1_000_000)

    def restore(self, query: dict[str, str], language: str) -> list | None:
        """A shared Samples view (?view=samples&model=…&seed=…&count=…&class=…) → updates for `view.outputs`
        (model, seed, count, class, grid, card, caption); None when a value is not one the tab accepts."""
        path = model_path(self.context, query.get("model"))
        entry = self.context.entry(path)
        seed = whole_number(query.get("seed", "0"), 0, MAX_SEED)
        count = whole_number(query.get("count", str(landing_count(entry) if entry else 1)), 1, LANDING_SAMPLES)
        chosen_class = query.get("class", EVERY_CLASS)
        if entry is None or seed is None or count is None:
            return None
        if chosen_class != EVERY_CLASS and chosen_class not in entry.class_names:
            return None
        request = LanguageRequest(language)
        try:
            grid = self.samples(path, seed, count, chosen_class, request=request)
        except gr.Error:
            return None
        return [gr.update(value=path), gr.update(value=seed), gr.update(value=count),
                self.class_choices(path, chosen_class), grid, self.card(path, request),
                self.caption(path, count, chosen_class, request)]


def build_explore_tab(context: ExploreContext) -> ExploreHandlers:
    """Lay out the tab inside the current gr.Blocks and wire its events."""
    handlers = ExploreHandlers(context)
    choices = context.choices()
    if context.problems:
        with gr.Accordion(t("samples.skipped"), open=False, elem_id="samples-skipped"):
            gr.Markdown("\n".join(f"- `{line}`" for line in context.problems))
    if not choices:
        gr.Markdown(t("samples.intro"), latex_delimiters=LATEX)
        gr.Markdown(t("samples.none"))
        return handlers
    # The landing opens on the model whose samples measure best (catalog.rank_generators), not the first listed.
    best = rank_generators(context.entries, one_pass_first=context.renderer.device.type == "cpu")[0]
    first = str(best.path)
    first_count = landing_count(best)
    # Filled per visitor on load (its language and numbers): see the root_block.load below.
    caption = gr.Markdown(elem_id="samples-caption")
    with gr.Row(equal_height=False):
        # The grid comes first, so a phone (where columns stack) shows it before the controls.
        with gr.Column(scale=2, min_width=320):
            grid = gr.Image(handlers.first_grid(first, first_count), label=t("samples.grid"), type="numpy",
                            format="png", elem_id="samples-grid", interactive=False, show_label=False,
                            # no "share" button: it posts to Hugging Face discussions, not what the page shares
                            buttons=["download", "fullscreen"])
        with gr.Column(scale=1, min_width=240):
            model = gr.Dropdown(choices, value=first, label=t("samples.model"), elem_id="samples-model")
            context.register(model)
            with gr.Row():
                # No minimum: Gradio would refuse -3 in English before the handler; samples() says it in the
                # visitor's language.
                seed = gr.Number(value=0, precision=0, label=t("samples.seed"), elem_id="samples-seed")
                randomize = gr.Button(t("samples.random"), elem_id="samples-random")
            count = gr.Slider(1, 64, value=first_count, step=1, label=t("samples.count"), elem_id="samples-count")
            chosen_class = dependent_dropdown([(t("samples.every_class"), EVERY_CLASS)], value=EVERY_CLASS,
                                              visible=best.num_classes > 0, label=t("samples.class"),
                                              elem_id="samples-class")
            flow = build_flow_controls("samples", best)
    # The card's evaluation numbers and verdicts matter to someone comparing models, not at first sight.
    with gr.Accordion(t("samples.about"), open=False, elem_id="samples-about"):
        card = gr.Markdown(handlers.card(first), elem_id="samples-card")
    gr.Markdown(t("samples.intro"), latex_delimiters=LATEX)

    inputs = [model, seed, count, chosen_class, *flow.inputs]
    shown = model.change(handlers.class_choices, [model, chosen_class], chosen_class, api_visibility="private").then(
        handlers.card, model, card, api_visibility="private").then(handlers.samples, inputs, grid, api_name="samples")
    seed.submit(handlers.samples, inputs, grid, api_visibility="private")
    # A flow's controls show for a flow; dragging the steps redraws on release (each step is a network call).
    flow_inputs = [model, *flow.inputs]
    model.change(handlers.flow_shown, flow_inputs, flow.outputs, show_progress="hidden", api_visibility="private")
    for control in (flow.steps.release, flow.solver.input, flow.guidance.release):
        control(handlers.samples, inputs, grid, trigger_mode="always_last", api_visibility="private")
        control(handlers.flow_shown, flow_inputs, flow.outputs, show_progress="hidden", api_visibility="private")
    count.input(handlers.samples, inputs, grid, trigger_mode="always_last", show_progress="hidden",
                api_visibility="private")
    chosen_class.input(handlers.samples, inputs, grid, api_visibility="private")
    randomize.click(handlers.random_seed, None, seed, api_visibility="private").then(
        handlers.samples, inputs, grid, api_visibility="private")
    # The caption follows what the grid shows: model, count and class.
    caption_inputs = [model, count, chosen_class]
    # `opening`: what the page does as it opens; a shared view is restored after it (genimg.ui.share), or this
    # default caption could arrive last and replace the shared view's.
    handlers.opening = gr.context.Context.root_block.load(
        handlers.caption, caption_inputs, caption, show_progress="hidden", api_visibility="private").then(
        handlers.card, model, card, show_progress="hidden", api_visibility="private").then(  # in their language
        handlers.flow_shown, flow_inputs, flow.outputs, show_progress="hidden", api_visibility="private")
    shown.then(handlers.caption, caption_inputs, caption, show_progress="hidden", api_visibility="private")
    for trigger in (count.input, chosen_class.input):
        trigger(handlers.caption, caption_inputs, caption, show_progress="hidden", api_visibility="private")
    # The view a link or a lesson bundle shares (genimg.ui.views); the grid's change rewrites the address.
    handlers.view = TabView(
        tab="samples", title_key="samples.tab",
        keys=(UrlKey("model", model, kind="path"), UrlKey("seed", seed), UrlKey("count", count),
              UrlKey("class", chosen_class, omit=EVERY_CLASS)),
        trigger=grid, restore=handlers.restore, outputs=[model, seed, count, chosen_class, grid, card, caption])
    return handlers
