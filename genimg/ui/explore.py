"""Explore tab: pick a trained model, a seed and a class, and see a grid of its samples."""

from __future__ import annotations

import random

import gradio as gr
import numpy as np

from ..checkpoint import CheckpointError
from ..render import ModelEntry, Renderer

EVERY_CLASS = "one class per column"
INTRO = """
A **generator** turns a latent vector *z* into an image. The **seed** picks *z* from a standard normal
distribution (drawn on the CPU, so a seed shows the same images on every machine). A GAN's generator learned
to fool a discriminator; a VAE's decoder learned to rebuild images from their codes. Conditional models also take
the class they should draw.
"""


class ExploreHandlers:
    """The tab's callbacks, testable without a browser."""

    def __init__(self, renderer: Renderer, entries: list[ModelEntry]) -> None:
        self.renderer = renderer
        self.entries = {entry.label: entry for entry in entries}

    def entry(self, label: str | None) -> ModelEntry:
        if label not in self.entries:
            raise gr.Error("Pick a model from the list first.")
        return self.entries[label]

    def class_choices(self, label: str | None) -> dict:
        entry = self.entries.get(label)
        if entry is None or not entry.num_classes:
            return gr.update(choices=[EVERY_CLASS], value=EVERY_CLASS, interactive=False)
        return gr.update(choices=[EVERY_CLASS, *entry.class_names], value=EVERY_CLASS, interactive=True)

    def card(self, label: str | None) -> str:
        entry = self.entries.get(label)
        if entry is None:
            return ""
        text = entry.card or f"*{entry.name} has no model card.*"
        # the card's image links are relative to its folder, which the page does not serve
        return "\n".join(line for line in text.splitlines() if not line.startswith("!["))

    def samples(self, label: str | None, seed: float | None, count: float, chosen_class: str | None) -> np.ndarray:
        entry = self.entry(label)
        if seed is None or not float(seed).is_integer() or not 0 <= seed < 2**63:
            raise gr.Error("The seed must be a whole number from 0 to 9,223,372,036,854,775,807.")
        class_index = None
        if entry.num_classes and chosen_class not in (None, EVERY_CLASS):
            if chosen_class not in entry.class_names:
                raise gr.Error(f"{chosen_class!r} is not a class of {entry.name}.")
            class_index = entry.class_names.index(chosen_class)
        try:
            return self.renderer.sample_grid(entry.path, int(seed), int(count), class_index, scale=4)
        except (ValueError, CheckpointError) as error:
            raise gr.Error(str(error)) from None

    def first_grid(self, label: str) -> np.ndarray | None:
        """The grid shown when the page opens; None (an empty image) if the model cannot be loaded."""
        try:
            return self.samples(label, 0, 16, EVERY_CLASS)
        except Exception:  # a broken checkpoint must not keep the page from opening; picking it shows the error
            return None

    @staticmethod
    def random_seed() -> int:
        return random.randrange(0, 1_000_000)


def build_explore_tab(renderer: Renderer, entries: list[ModelEntry]) -> ExploreHandlers:
    """Lay out the tab inside the current gr.Blocks and wire its events."""
    handlers = ExploreHandlers(renderer, entries)
    labels = list(handlers.entries)
    gr.Markdown(INTRO)
    if not labels:
        gr.Markdown("**No trained models were found.** Train one with `python -m genimg train ... "
                    "--out checkpoints/NAME` and reload the page.")
        return handlers
    with gr.Row():
        with gr.Column(scale=1):
            model = gr.Dropdown(labels, value=labels[0], label="Model", elem_id="model")
            with gr.Row():
                seed = gr.Number(value=0, precision=0, minimum=0, label="Seed", elem_id="seed")
                randomize = gr.Button("🎲 Random", elem_id="random-seed")
            count = gr.Slider(1, 64, value=16, step=1, label="Samples", elem_id="count")
            chosen_class = gr.Dropdown([EVERY_CLASS], value=EVERY_CLASS, label="Class", elem_id="class")
        with gr.Column(scale=2):
            grid = gr.Image(handlers.first_grid(labels[0]), label="Samples", type="numpy", format="png",
                            elem_id="grid", interactive=False)
    card = gr.Markdown(handlers.card(labels[0]), elem_id="card")

    inputs = [model, seed, count, chosen_class]
    model.change(handlers.class_choices, model, chosen_class, api_visibility="private").then(
        handlers.card, model, card, api_visibility="private").then(handlers.samples, inputs, grid, api_name="samples")
    seed.submit(handlers.samples, inputs, grid, api_visibility="private")
    count.input(handlers.samples, inputs, grid, trigger_mode="always_last", show_progress="hidden",
                api_visibility="private")
    chosen_class.input(handlers.samples, inputs, grid, api_visibility="private")
    randomize.click(handlers.random_seed, None, seed, api_visibility="private").then(
        handlers.samples, inputs, grid, api_visibility="private")
    return handlers
