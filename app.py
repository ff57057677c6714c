"""genimg's page: `python app.py` opens it; the module-level `demo` is what Hugging Face Spaces runs."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from genimg.render import SHIPPED_DIR, Renderer, discover  # noqa: E402
from genimg.ui.explore import build_explore_tab  # noqa: E402


def model_folders() -> list[str]:
    """The shipped checkpoints, plus any folders listed in GENIMG_MODELS (separated like PATH)."""
    extra = [folder for folder in os.environ.get("GENIMG_MODELS", "").split(os.pathsep) if folder]
    return [str(SHIPPED_DIR), *extra]


def build_demo(folders: list[str] | None = None) -> gr.Blocks:
    renderer = Renderer()
    entries = discover(*(folders if folders is not None else model_folders()))
    with gr.Blocks(title="genimg — a latent-space lab") as demo:
        gr.Markdown("# genimg — a latent-space lab for GANs and VAEs")
        with gr.Tab("Explore"):
            build_explore_tab(renderer, entries)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch()
