"""Time to recognisable digits *in the page*: press Start on the served Train tab, judge what it saved.

The Train tab is served by Gradio and driven through its API as a browser drives it; the clock starts
when Start is pressed, with a worker process already warmed up as the page does on load. So it counts
what a class waits through: handing the job to the worker, loading MNIST, building the model,
training, and the page's own overhead (worker process, event stream, Gradio's updates, checkpoints,
replay snapshots). Each step the run saves is judged afterwards on 256 samples from fixed latents, at
the time its files were written.

    python -m genimg bench page-digits [--budget 45] [--data-root ../shared/data]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from genimg.bench.digits import Snapshot, judge_snapshots
from genimg.config import SHIPPED_DIR, TrainConfig
from genimg.eval.judge import load_judge
from genimg.explore.catalog import Renderer
from genimg.models.loading import load_model
from genimg.recipes import PRESETS
from genimg.store.workspace import Workspaces
from genimg.ui.context import ExploreContext
from genimg.ui.train_tab import Limits, TrainHandlers, build_train_tab


def page_time_to_digits(*, data_root: str | None, budget_seconds: float = 45.0, threshold: float = 0.85,
                        judge_path: str | Path = SHIPPED_DIR / "mnist-judge", model_key: str = "dcgan",
                        steps: int | None = None, threads: int | None = None, saves: int | None = None,
                        samples: int | None = None) -> dict[str, Any]:
    """Serve the Train tab, press Start through Gradio's API as a browser would, press Stop after
    `budget_seconds`, then judge every step the run saved at the time it was saved. `saves`: steps the run keeps
    (default 100; 30 for a flow), `samples`: judged per step (default 256; 100 for a flow, whose every sample is an
    ODE of 80 network calls)."""
    import gradio as gr
    from gradio_client import Client

    preset = PRESETS[model_key]
    ode = preset.model_kind.family == "flow"
    saves = saves or (30 if ode else 100)
    samples = samples or (100 if ode else 256)
    root = Path(tempfile.mkdtemp(prefix="genimg-page-bench-"))
    workspaces = Workspaces(root)
    context = ExploreContext(Renderer("cpu"), [], workspaces=workspaces)
    limits = Limits.from_environment(on_gpu=False)
    if threads:
        limits = Limits(limits.max_steps, limits.max_seconds, limits.slots, threads)
    # More saved steps than the page's 20 (one every ~40 steps, about a second here), so the time of the
    # first recognisable step is known to about a second; each save costs the run a few milliseconds.
    trainer = TrainHandlers(context, workspaces, limits=limits, data_root=data_root, checkpoints=saves)
    with gr.Blocks() as demo:
        build_train_tab(context, trainer)
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    client = Client(url, verbose=False)
    trainer.pool.warm(wait_seconds=120)  # the page warms its worker when it loads, before anyone presses Start
    # More steps than the budget allows (~75 steps/s here): the run ends when the bench presses Stop.
    # (a flow: ~10 steps/s here; its 30 saves are spread over the steps asked for, so ask for about as many as it makes)
    steps = steps or int(budget_seconds * (12 if ode else 100))
    token = workspaces.issue().token  # what the page issues to a browser on load
    try:
        started = time.time()
        job = client.submit(model_key, "mnist", None, preset.recipe.latent_dim, steps, preset.recipe.batch_size,
                            preset.recipe.learning_rate, preset.recipe.lr_discriminator, 1.0, preset.recipe.gan_loss, token,
                            api_name="/train")
        time.sleep(max(0.0, started + budget_seconds - time.time()))
        client.predict(api_name="/stop")
        final = job.result(timeout=120)
        updates = job.outputs()
    finally:
        client.close()
        demo.close()
        trainer.pool.shutdown()
    run = workspaces.get(token).run_folders()[0]
    checkpoint = load_model(run)[2]
    config = TrainConfig.from_dict(checkpoint["training"])
    alarms = sorted({line.split(".**")[0].strip("*⚠ ") for update in updates if isinstance(update, (list, tuple))
                     and isinstance(update[5], str) for line in update[5].split("\n\n") if line.startswith("**⚠")})
    snapshots = []
    for folder in sorted((run / "steps").glob("step-*")):
        step = int(folder.name.split("-")[1])
        saved_at = (folder / "config.json").stat().st_mtime - started
        model, _, _ = load_model(folder)
        network = model.sampling_network()
        weights = {name: tensor.detach().clone() for name, tensor in network.state_dict().items()}
        snapshots.append(Snapshot(saved_at, step, step * config.batch_size, weights))
    judge, _ = load_judge(judge_path)
    points = judge_snapshots(config, snapshots, judge, sample_count=samples)
    def good(point: dict[str, Any]) -> bool:
        return point["mean_confidence"] >= threshold and point["classes_present"] == judge.num_classes

    reached = next((point for point in points if good(point)), None)
    # From when on every later saved step stays recognisable (the first crossing can dip back for a while).
    steady = next((point for index, point in enumerate(points) if all(good(later) for later in points[index:])),
                  None)
    return {"points": points, "seconds_to_threshold": reached["seconds"] if reached else None,
            "seconds_steady": steady["seconds"] if steady else None,
            "step_at_threshold": reached["step"] if reached else None, "threshold": threshold,
            "page_images_per_second": checkpoint["step"] * config.batch_size / checkpoint["elapsed_seconds"],
            "status": final[0], "threads": limits.threads, "alarms": alarms, "model": model_key,
            "config": config.to_dict()}


def format_report(result: dict[str, Any]) -> str:
    """The curve as a Markdown table, then one line with the times, the throughput and any alarm."""
    lines = [f"**The Train tab's time to recognisable digits** (served, {result['model']} preset)", "",
             "| seconds since Start | step | mean confidence | classes |", "|---|---|---|---|"]
    for point in result["points"]:
        lines.append(f"| {point['seconds']:.1f} | {point['step']} | {point['mean_confidence']:.3f} | "
                     f"{point['classes_present']} |")
    reached = result["seconds_to_threshold"]
    lines.append("")
    lines.append(f"Time to mean confidence ≥ {result['threshold']} with all 10 classes: "
                 + (f"{reached:.1f} s (step {result['step_at_threshold']})" if reached is not None else "not reached")
                 + (f", and every later saved step from {result['seconds_steady']:.1f} s" if result["seconds_steady"]
                    else "")
                 + f"; training throughput in the page (whole run): {result['page_images_per_second'] or 0:,.0f} "
                 f"images/s ({result['threads']} threads); health alarms raised: {', '.join(result['alarms']) or 'none'}.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m genimg bench page-digits",
                                     description="time from pressing Start in the Train tab to digits the judge "
                                                 "recognises")
    parser.add_argument("--data-root", default=None, help="where MNIST lives (default $GENIMG_DATA, else ./data)")
    parser.add_argument("--budget", type=float, default=45.0, help="seconds to train before pressing Stop")
    parser.add_argument("--threshold", type=float, default=0.85)
    parser.add_argument("--threads", type=int, default=None, help="the worker's CPU threads (default: all cores)")
    parser.add_argument("--model", choices=["dcgan", "cdcgan", "flow", "cflow"], default="dcgan",
                        help="the Train tab's preset (cdcgan, cflow: conditional, one class per sample in turn)")
    args = parser.parse_args(argv[1:] if argv[:1] == ["page-digits"] else argv)
    result = page_time_to_digits(data_root=args.data_root, budget_seconds=args.budget, threshold=args.threshold,
                                 threads=args.threads, model_key=args.model)
    print(format_report(result))
    reached = result["seconds_to_threshold"]
    return 0 if reached is not None else 1
