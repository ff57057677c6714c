"""genimg's page: `python app.py` opens it; the module-level `demo` is what Hugging Face Spaces runs.

Wiring only: every tab lives in genimg/ui/, every computation in genimg/.
"""

import os
import sys

if __name__ == "__main__" and sys.platform.startswith("linux") and "MALLOC_ARENA_MAX" not in os.environ:
    # Gradio answers requests from a pool of threads; glibc gives each thread a memory arena of its own,
    # and under 20 simultaneous users the page's memory crept up ~20 MB per 6,000 requests. Two arenas kept
    # it flat (and requests no slower). The setting only works from process start, hence the re-execution.
    os.environ["MALLOC_ARENA_MAX"] = "2"
    try:
        os.execv(sys.executable, [sys.executable, *sys.argv])
    except OSError:
        pass

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr
import torch

from genimg.config import SHIPPED_DIR
from genimg.explore.catalog import Renderer, discover
from genimg.store.limits import cache_policy, launch_options
from genimg.store.workspace import Workspaces
from genimg.ui.context import ExploreContext
from genimg.ui.encode_tab import build_encode_tab
from genimg.ui.evaluate_tab import EvaluateHandlers, build_evaluate_tab, model_picker
from genimg.ui.explore import build_explore_tab
from genimg.ui.gan_tab import build_gan_tab
from genimg.ui.guard import GuardedBlocks
from genimg.ui.i18n import build_i18n, register, t
from genimg.ui.interpolate_tab import build_interpolate_tab
from genimg.ui.latent_tab import build_latent_tab
from genimg.ui.learn_tab import build_learn_tab
from genimg.ui.mcp_tools import AssistantTools, build_tools, hide_other_endpoints, mcp_requested
from genimg.ui.page_script import head
from genimg.ui.playground_tab import build_playground_tab
from genimg.ui.share import (
    ShareHandlers,
    build_share_panel,
    interpolate_view,
    latent_view,
)
from genimg.ui.train_tab import TrainHandlers, build_train_tab, workspace_token
from genimg.ui.views import TabView

register(
    {"app.title": "# genimg — a latent-space lab for GANs, VAEs and flows",
     "app.subtitle": "Move through the latent space of trained generative models: samples, sliders, "
                     "interpolations, your own drawings. Every model here was trained by genimg; its card gives its "
                     "numbers."},
    {"app.title": "# genimg — GAN、VAE 与流模型的隐空间实验室",
     "app.subtitle": "在训练好的生成模型的隐空间中漫游：样本、滑块、插值，还有你自己的手绘。这里的每个模型都由 genimg "
                     "训练，模型卡给出了它的各项指标。"},
)

TAB_TITLES = {"samples": "samples.tab", "latent": "latent.tab", "interpolate": "interp.tab", "encode": "encode.tab",
              "gan": "gan.tab", "train": "train.tab", "evaluate": "eval.tab", "playground": "playground.tab",
              "learn": "learn.tab"}

FONT_STACK = ('"Segoe UI"', '"Helvetica Neue"', "Helvetica", "Arial", '"Liberation Sans"', '"DejaVu Sans"',
              '"PingFang SC"', '"Hiragino Sans GB"', '"Microsoft YaHei"', '"Noto Sans CJK SC"', '"Source Han Sans SC"',
              '"Apple Color Emoji"', '"Segoe UI Emoji"', '"Noto Color Emoji"', "sans-serif")

# Pixel-art images stay crisp when the browser stretches them to the column width.
CSS = ("#samples-grid img, #latent-image img, #latent-compare img, .crisp img { image-rendering: pixelated; }\n"
       ".genimg-progress { height: 10px; background: #e5e7eb; border-radius: 5px; overflow: hidden; }\n"
       ".genimg-progress > div { height: 100%; background: #f97316; transition: width 0.3s; }\n"
       # The Train tab sends grids at their own size (cheaper to encode); the browser enlarges them.
       "#train-samples img, #train-replay-image img { width: 100%; height: 100%; object-fit: contain; }\n"
       # The Latent image and Interpolate's animations stay in view while the controls beside (desktop) or below
       # (phone) them scroll: sticky within their row, above the controls (whose labels have z-index 40);
       # flex-start, or the column would stretch to the row's height and have nowhere to move. The background
       # hides the controls scrolling underneath on a phone.
       # Gradio's page container has overflow: hidden, which turns it into the sticky element's scroll box (one that
       # never scrolls); clip cuts off the same overflow without being a scroll box.
       ".gradio-container { overflow: clip !important; }\n"
       "#latent-view, #interp-view { position: sticky; top: 0; align-self: flex-start; z-index: 100;"
       " background: var(--body-background-fill); padding-bottom: var(--spacing-md); }\n"
       # On a phone the pinned image takes at most about a third of the screen, leaving room for sliders below it.
       "@media (max-width: 640px) {"
       " #latent-view .image-container, #interp-view .image-container { height: 30vh; }"
       " #latent-view img, #interp-view img { max-height: 30vh; object-fit: contain; } }\n"
       # Gradio floats an image's buttons (fullscreen, download, share) over its top right corner, where they hid the
       # first samples of the grid; a band of padding at the top of the image box holds them instead.
       "#samples-grid .image-container { padding-top: 2.6rem; }\n"
       # One font stack for the whole page (Gradio's --font): Gradio's own Source Sans Pro mixed with a fallback
       # font inside one word (the heading read "GᴀN"), CJK fell to whatever the system picked, and 🎲 was a box.
       # Latin first, then Chinese (visitors' Mac, Windows, then Linux), then colour emoji.
       ":root, .gradio-container { --font: " + ", ".join(FONT_STACK) + " !important; }\n"
       "body, .gradio-container, .gradio-container button, .gradio-container input, .gradio-container textarea,"
       " .gradio-container select { font-family: var(--font); font-variant: normal; font-feature-settings: normal; }")


def model_folders() -> list[str]:
    """The shipped checkpoints, plus any folders listed in GENIMG_MODELS (separated like PATH)."""
    extra = [folder for folder in os.environ.get("GENIMG_MODELS", "").split(os.pathsep) if folder]
    return [str(SHIPPED_DIR), *extra]


def configure_threads() -> None:
    """One CPU thread per request: on a small CPU (a free Space has 2 cores), two threads per tiny
    forward pass contend with each other and with other requests; one is faster and steadier.
    GENIMG_THREADS overrides it."""
    if not torch.cuda.is_available():
        torch.set_num_threads(int(os.environ.get("GENIMG_THREADS", "1")))


def build_demo(folders: list[str] | None = None, workspaces: Workspaces | None = None,
               trainer: TrainHandlers | None = None, evaluator: EvaluateHandlers | None = None,
               mcp: bool = False) -> gr.Blocks:
    """The page. Tests pass their own model folders, workspaces folder, Train and Evaluate tab handlers. `mcp`: also
    the tools for AI assistants (genimg/ui/mcp_tools.py), the only endpoints listed; launch with mcp_server=True."""
    problems: list[str] = []
    entries = discover(*(folders if folders is not None else model_folders()), problems=problems)
    workspaces = workspaces or (trainer.workspaces if trainer is not None else Workspaces())
    context = ExploreContext(Renderer(), entries, problems, workspaces=workspaces)
    # GuardedBlocks: every failure reaches the visitor as a sentence in their language (genimg/ui/guard.py);
    # delete_cache: Gradio's copies of uploads and results are removed once they are an hour old (store/limits.py).
    with GuardedBlocks(title="genimg — a latent-space lab", delete_cache=cache_policy()) as demo:
        token = workspace_token(workspaces)  # at the top, not in the Train tab: see workspace_token
        gr.Markdown(t("app.title"))
        gr.Markdown(t("app.subtitle"))
        # "wrap": on a phone the tab bar takes two rows instead of hiding 5 of 7 tabs behind Gradio's "•••" menu
        tab_components: dict[str, gr.Tab] = {}
        views: dict[str, TabView | None] = {}
        with gr.Tabs(elem_id="tabs", overflow_behavior="wrap") as tabs:
            # A tab's elem_id is "tab-<id>": genimg.ui.views writes a tab's view to the address only while it is shown.
            with gr.Tab(t("samples.tab"), id="samples", elem_id="tab-samples") as tab_components["samples"]:
                samples = build_explore_tab(context)
                views["samples"] = samples.view
            with gr.Tab(t("latent.tab"), id="latent", elem_id="tab-latent") as tab_components["latent"]:
                latent = build_latent_tab(context)
            with gr.Tab(t("interp.tab"), id="interpolate", elem_id="tab-interpolate") as tab_components["interpolate"]:
                interpolate = build_interpolate_tab(context)
            with gr.Tab(t("encode.tab"), id="encode", elem_id="tab-encode") as tab_components["encode"]:
                views["encode"] = getattr(build_encode_tab(context), "view", None)
            with gr.Tab(t("gan.tab"), id="gan", elem_id="tab-gan") as tab_components["gan"]:
                views["gan"] = getattr(build_gan_tab(context), "view", None)
            evaluate_model = model_picker(context)  # before the Train tab, which adds saved models to every list
            with gr.Tab(t("train.tab"), id="train", elem_id="tab-train") as tab_components["train"]:
                trainer = trainer or TrainHandlers(context, workspaces)
                trainer.context = context
                train = build_train_tab(context, trainer, token)
            with gr.Tab(t("eval.tab"), id="evaluate", elem_id="tab-evaluate") as tab_components["evaluate"]:
                evaluator = build_evaluate_tab(context, evaluator, data_root=trainer.data_root, model=evaluate_model)
            with gr.Tab(t("playground.tab"), id="playground", elem_id="tab-playground") as tab_components["playground"]:
                build_playground_tab()
            with gr.Tab(t("learn.tab"), id="learn", elem_id="tab-learn") as tab_components["learn"]:
                build_learn_tab()
        # What the page does as it opens, in order; a view named by the address is restored after it, or a default
        # arriving late (Interpolate's modes, Samples' caption) would replace the shared one.
        opening = samples.opening
        if context.entries:
            views["latent"] = latent_view(latent)
            views["interpolate"] = interpolate_view(interpolate)
            opening = (opening.then if opening is not None else demo.load)(
                interpolate.controls, interpolate.control_inputs, interpolate.control_outputs,
                api_visibility="private").then(interpolate.on_load, None, interpolate.outputs,
                                               api_visibility="private")
        # Every tab has an address (?view=<id>); a tab without a declared view just opens. Tab order.
        page_views = [views.get(name) or TabView(tab=name, title_key=TAB_TITLES[name]) for name in tab_components]
        share = ShareHandlers(context, page_views, interpolate if context.entries else None)
        build_share_panel(share, tabs, tab_components, after=opening)
        demo.load(train["on_load"], train["token"], train["load_outputs"], api_visibility="private")
        if mcp:
            build_tools(AssistantTools(context, evaluator))
    if mcp:
        hide_other_endpoints(demo)
    demo.share_handlers = share  # the page's views, for tests and tools: share.views, share.inputs
    return demo


def launch(demo: gr.Blocks, **options):
    """Launch with the translations and styles (tests call this too). Gradio's run history is off: it would
    keep every call's inputs in the browser and list them on a page of its own, the workspace token included."""
    settings = {"i18n": build_i18n(), "css": CSS, "head": head(), "run_history": False, **launch_options()}
    return demo.launch(**{**settings, **options})  # the upload cap (max_file_size) from GENIMG_UPLOAD_MB


# Tools for AI assistants (MCP) only when asked for: `python app.py --mcp`, or GENIMG_MCP=1 (e.g. a Space's variable).
MCP = mcp_requested(sys.argv)
demo = build_demo(mcp=MCP)

if __name__ == "__main__":
    configure_threads()
    launch(demo, mcp_server=MCP)
