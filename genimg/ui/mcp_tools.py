"""Tools for AI assistants: with MCP on, the page's server also answers the Model Context Protocol.

Off unless asked for: `python app.py --mcp`, or GENIMG_MCP=1 (e.g. a Space's variable). The page then launches with
Gradio's MCP server (`launch(mcp_server=True)`; clients connect to <page>/gradio_api/mcp/) and lists exactly these
tools, each with typed, documented parameters:

    list_models()                                → text: each model's name, family, data, classes, abilities
    sample(model, seed, count, image_class)      → a picture: a grid of samples, the same as the Samples tab's
    interpolate(model, seed_a, seed_b, frames)   → a picture: a spherical walk between two seeds' latents
    encode(model, image, image_class)            → the picture the model draws back, and text: the latent code
    evaluate(model, samples)                     → text: judge FD and its floor, confidence, class shares, ...

Every other endpoint of the page stays callable by the page itself but out of the tool list (api_visibility
"undocumented"): an assistant never sees Train, Save or Delete. Models are named as the page lists them
("mnist-cdcgan"), never by a path on the server. Refusals are the page's own sentences, in English.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import gradio as gr
import numpy as np

from genimg.explore.catalog import ModelEntry
from genimg.ui.context import ExploreContext
from genimg.ui.encode_tab import EncodeHandlers
from genimg.ui.evaluate_tab import QUICK_SAMPLES, EvaluateHandlers
from genimg.ui.explore import EVERY_CLASS, ExploreHandlers
from genimg.ui.interpolate_tab import InterpolateHandlers

MCP_VARIABLE = "GENIMG_MCP"
MCP_FLAG = "--mcp"
TOOLS = ("list_models", "sample", "interpolate", "encode", "evaluate")
# The tools' endpoint names: the page has endpoints called "interpolate", "encode" and "evaluate" of its own, and Gradio
# would rename a second one; an MCP tool takes its name from its function, so the client still sees TOOLS.
ENDPOINTS = tuple(f"tool_{name}" for name in TOOLS)


def mcp_requested(argv: Sequence[str], environ: Mapping[str, str] = os.environ) -> bool:
    """True when the command line has --mcp or GENIMG_MCP is 1 / true / yes / on."""
    return MCP_FLAG in argv or environ.get(MCP_VARIABLE, "").strip().lower() in ("1", "true", "yes", "on")


class AssistantTools:
    """The tools' functions: each checks its arguments with the page's own handlers and answers in English."""

    def __init__(self, context: ExploreContext, evaluator: EvaluateHandlers | None = None) -> None:
        self.context = context
        self.explore = ExploreHandlers(context)
        self.interpolation = InterpolateHandlers(context)
        self.encoding = EncodeHandlers(context)
        self.evaluator = evaluator

    def _entry(self, model: Any) -> ModelEntry:
        """A model named as the page lists it → its entry; anything else is refused with the names on offer."""
        named = [entry for entry in self.context.entries if isinstance(model, str) and entry.name == model.strip()]
        if not named:
            names = ", ".join(sorted({entry.name for entry in self.context.entries}))
            shown = repr(model) if len(repr(model)) <= 60 else repr(model)[:56] + "…"
            raise gr.Error(f"No model is called {shown}. The models here: {names}.")
        return named[0]

    def list_models(self) -> str:
        """List the trained models this page offers, with what each one can do.

        Returns:
            One line per model: its name (what the other tools take), family (GAN, VAE or flow), the data it was
            trained on, its classes (for a conditional model) and its abilities (encode: a VAE's encoder or a
            flow's exact inverse).
        """
        lines = []
        for entry in self.context.entries:
            abilities = [words for words, present in (
                ("encode pictures", entry.capabilities.encoder or entry.capabilities.ode),
                ("judge pictures with its discriminator", entry.capabilities.discriminator)) if present]
            classes = f"classes {', '.join(entry.class_names)}" if entry.num_classes else "unconditional"
            lines.append(f"{entry.name}: {entry.family.upper() if entry.family != 'flow' else 'flow'}, trained on "
                         f"{entry.dataset}, {classes}" + (f"; can {' and '.join(abilities)}" if abilities else ""))
        return "\n".join(lines) or "No trained model is installed."

    def sample(self, model: str, seed: float = 0, count: float = 16, image_class: str = "") -> np.ndarray:
        """Draw a grid of samples from a trained model: the same seed gives the same pictures as the page's Samples tab.

        Args:
            model: The model's name, as list_models gives it (e.g. "mnist-cdcgan").
            seed: A whole number from 0 to 2**63 - 1 that picks the random latent vectors.
            count: How many samples, 1 to 64.
            image_class: For a conditional model, one class (e.g. "7") to draw only that class; empty: one column per class.

        Returns:
            A picture: the samples in a grid.
        """
        entry = self._entry(model)
        chosen = image_class.strip() if isinstance(image_class, str) and image_class.strip() else EVERY_CLASS
        return self.explore.samples(str(entry.path), seed, count, chosen)

    def interpolate(self, model: str, seed_a: float = 0, seed_b: float = 1, frames: float = 16) -> np.ndarray:
        """Walk through a model's latent space from one seed's latent vector to another's (spherical interpolation).

        Args:
            model: The model's name, as list_models gives it.
            seed_a: The seed of the first picture.
            seed_b: The seed of the last picture.
            frames: How many pictures along the way, 2 to 64.

        Returns:
            A picture: the frames in a row, from seed_a's picture to seed_b's.
        """
        entry = self._entry(model)
        view = self.interpolation.compute(str(entry.path), "seeds", seed_a, seed_b, None, None, frames)
        return view.strips["slerp"]

    def encode(self, model: str, image: Any, image_class: str = "") -> tuple[np.ndarray, str]:
        """Find the latent code of a picture: a VAE's encoder mean, or a flow's noise image found by running its ODE
        backwards; then draw it back.

        Args:
            model: The name of a VAE or flow model, as list_models gives it ("can encode pictures").
            image: The picture: a digit white on black, as in MNIST (a dark digit on white is inverted first).
            image_class: For a conditional model, the picture's class (e.g. "3").

        Returns:
            The picture the model draws back from the code, and a text with the code's numbers.
        """
        entry = self._entry(model)
        name = image_class.strip() if isinstance(image_class, str) and image_class.strip() else None
        if entry.num_classes and name is None:
            name = entry.class_names[0]
        if entry.capabilities.ode:
            picture, _noise, redrawn, _path, note = self.encoding.ode_round_trip(str(entry.path), name, "upload", None,
                                                                                 None, image)
            return redrawn, note
        _prepared, reconstruction, _chart, _map, table, note = self.encoding.encode(str(entry.path), name, name,
                                                                                   "upload", None, image)
        rows = [" | ".join(str(value) for value in row) for row in table.itertuples(index=False)]
        return reconstruction, "\n".join([note, "", " | ".join(str(column) for column in table.columns), *rows])

    def evaluate(self, model: str, samples: float = QUICK_SAMPLES, request: gr.Request = None) -> str:
        """Measure how good a model is: a judge (a classifier trained on real images) compares its samples with real
        test images. Takes minutes on a CPU; a repeat with the same settings answers from the kept result.

        Args:
            model: The model's name, as list_models gives it.
            samples: How many samples to judge: 2000 (quick) or 10000 (as in the model cards).

        Returns:
            A table: judge FD and its floor, FD divided by the floor, confidence, class shares, precision, recall.
        """
        entry = self._entry(model)
        if self.evaluator is None:
            raise gr.Error("Evaluation is not offered on this page.")
        text, *_ = self.evaluator.evaluate(str(entry.path), samples, ["precision_recall"], False, request=request)
        return text


def build_tools(tools: AssistantTools) -> None:
    """Lay the tools' inputs and outputs out hidden inside the current gr.Blocks and name their endpoints."""
    with gr.Column(visible=False, elem_id="assistant-tools"):
        model = gr.Textbox(label="model")
        seed, seed_b = gr.Number(0, label="seed", precision=None), gr.Number(1, label="seed_b", precision=None)
        count = gr.Number(16, label="count", precision=None)
        image_class = gr.Textbox("", label="image_class")
        image = gr.Image(type="filepath", label="image")  # saved in Gradio's upload folder, as the page's uploads
        samples = gr.Number(QUICK_SAMPLES, label="samples", precision=None)
        picture = gr.Image(type="numpy", format="png", label="picture")
        text = gr.Textbox(label="text")
        hidden = gr.Button(visible=False)
    hidden.click(tools.list_models, None, text, api_name="tool_list_models")
    hidden.click(tools.sample, [model, seed, count, image_class], picture, api_name="tool_sample")
    hidden.click(tools.interpolate, [model, seed, seed_b, count], picture, api_name="tool_interpolate")
    # Outside the queue: Gradio 6.31's MCP server returns a queued event's two outputs as one text of both; the
    # direct call returns a picture and a text (an encoding takes well under a second).
    hidden.click(tools.encode, [model, image, image_class], [picture, text], api_name="tool_encode", queue=False)
    hidden.click(tools.evaluate, [model, samples], text, api_name="tool_evaluate")


def hide_other_endpoints(demo: gr.Blocks) -> list[str]:
    """Leave only TOOLS in the page's API description (the MCP tool list); returns the names hidden."""
    hidden = []
    for dependency in demo.fns.values():
        if dependency.api_visibility == "public" and dependency.api_name not in ENDPOINTS:
            dependency.api_visibility = "undocumented"
            hidden.append(str(dependency.api_name))
    return hidden


__all__ = ["AssistantTools", "MCP_VARIABLE", "TOOLS", "build_tools", "hide_other_endpoints", "mcp_requested"]
