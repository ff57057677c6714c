"""Frames per second the Playground tab delivers to a real browser while training, per family and all three at once.

Serves the tab, opens it in headless Chromium, presses Play and counts the pictures the browser actually receives (a
MutationObserver on the view's <img> sources) over a few seconds; the updates per second come from the page's own
progress line. Then the library's updates/s on one thread (genimg.playground.bench), for comparison. With
`--transport image` the same GAN frames also go through a gr.Image generator, the alternative the tab does not use.

    python -m genimg bench playground [--seconds 5] [--families gan,vae,flow,all] [--transport image]
"""

from __future__ import annotations

import argparse
import re
import time
from typing import Any

CHROMIUM = "/usr/bin/chromium"
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"]
FAMILY_LABELS = {"gan": "GAN", "vae": "VAE", "flow": "Flow", "all": "All three side by side"}
COUNT_FRAMES = """(selector) => {
  window.benchFrames = 0;
  let last = null;
  const view = document.querySelector(selector);
  if (window.benchObserver) window.benchObserver.disconnect();  // one counter at a time, or each family counts twice
  window.benchObserver = new MutationObserver(() => {
    const image = view.querySelector('img');
    const source = image ? image.getAttribute('src') : null;
    if (source && source !== last) { last = source; window.benchFrames += 1; }
  });
  window.benchObserver.observe(view, {subtree: true, childList: true, attributes: true, attributeFilter: ['src']});
}"""


def _update_number(text: str) -> int | None:
    found = re.search(r"update ([\d,]+)", text)
    return int(found.group(1).replace(",", "")) if found else None


def browser_frames(families: list[str], seconds: float = 5.0, warm_up: float = 1.5) -> list[dict[str, Any]]:
    """Serve the Playground tab and measure, per family choice: frames the browser received per second and model
    updates per second while playing. One CPU thread for torch, as the page runs."""
    import gradio as gr
    import torch
    from playwright.sync_api import sync_playwright

    from genimg.ui.i18n import build_i18n
    from genimg.ui.playground_tab import build_playground_tab

    torch.set_num_threads(1)
    with gr.Blocks() as demo:
        build_playground_tab()
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True, i18n=build_i18n())
    results = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
            page = browser.new_page(locale="en-US", viewport={"width": 1366, "height": 900})
            page.goto(url)
            page.locator("#playground-view img").first.wait_for(timeout=60_000)
            for family in families:
                page.locator("#playground-family label").filter(has_text=FAMILY_LABELS[family]).click()
                count = 3 if family == "all" else 1
                page.wait_for_function(f"() => document.querySelectorAll('#playground-view img').length === {count}",
                                       timeout=60_000)
                page.locator("#playground-reset").click()
                page.wait_for_function("() => document.querySelector('#playground-status').innerText"
                                       ".includes('Reset:')", timeout=60_000)
                page.evaluate(COUNT_FRAMES, "#playground-view")
                page.locator("#playground-play").click()
                page.wait_for_function("() => window.benchFrames >= 2", timeout=60_000)
                time.sleep(warm_up)
                progress = page.locator("#playground-progress")  # the count while playing
                frames_before, update_before = page.evaluate("() => window.benchFrames"), _update_number(progress.inner_text())
                started = time.monotonic()
                time.sleep(seconds)
                frames_after, update_after = page.evaluate("() => window.benchFrames"), _update_number(progress.inner_text())
                elapsed = time.monotonic() - started
                page.locator("#playground-pause").click()
                page.wait_for_function("() => document.querySelector('#playground-status').innerText"
                                       ".includes('Paused at')", timeout=60_000)
                updates = (update_after - update_before) / elapsed if None not in (update_before, update_after) else None
                results.append({"family": family, "frames_per_second": (frames_after - frames_before) / elapsed,
                                "updates_per_second": updates, "frame_bytes": len(page.locator("#playground-view")
                                                                                .inner_html())})
            browser.close()
    finally:
        demo.close()
    return results


def image_transport_frames(seconds: float = 5.0, warm_up: float = 1.5) -> dict[str, Any]:
    """The tab's GAN frames (5 updates each) streamed through a gr.Image instead: frames the browser received per
    second, counted the same way."""
    import gradio as gr
    import torch
    from playwright.sync_api import sync_playwright

    from genimg.playground import views
    from genimg.playground.distributions import get_distribution
    from genimg.playground.render import render_view
    from genimg.playground.session import Playground

    torch.set_num_threads(1)

    def stream():
        playground = Playground(get_distribution("moons"), 0, families=("gan",))
        for _ in range(100_000):
            started = time.monotonic()
            for _ in range(5):
                playground.step()
            yield render_view(**views.main_view(playground.trainers["gan"], playground.real_points, 500))
            time.sleep(max(0.0, 0.05 - (time.monotonic() - started)))

    with gr.Blocks() as demo:
        image = gr.Image(elem_id="bench-image", format="png")
        button = gr.Button("Play", elem_id="bench-play")
        button.click(stream, None, image, show_progress="hidden")
    _, url, _ = demo.launch(server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1366, "height": 900})
            page.goto(url)
            page.locator("#bench-play").wait_for(timeout=60_000)
            page.evaluate(COUNT_FRAMES, "#bench-image")
            page.locator("#bench-play").click()
            page.wait_for_function("() => window.benchFrames >= 2", timeout=60_000)
            time.sleep(warm_up)
            before, started = page.evaluate("() => window.benchFrames"), time.monotonic()
            time.sleep(seconds)
            after = page.evaluate("() => window.benchFrames")
            rate = (after - before) / (time.monotonic() - started)
            browser.close()
    finally:
        demo.close()
    return {"family": "gan", "transport": "gr.Image", "frames_per_second": rate}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m genimg bench playground",
                                     description="frames per second the Playground tab delivers to a browser")
    parser.add_argument("--seconds", type=float, default=5.0, help="seconds of play measured per family")
    parser.add_argument("--families", default="gan,vae,flow,all", help="comma-separated: gan, vae, flow, all")
    parser.add_argument("--transport", choices=["html", "image"], default="html",
                        help="image: also stream the GAN's frames through a gr.Image, for comparison")
    args = parser.parse_args(argv[1:] if argv[:1] == ["playground"] else argv)
    families = [name.strip() for name in args.families.split(",") if name.strip()]
    unknown = [name for name in families if name not in FAMILY_LABELS]
    if unknown:
        parser.error(f"family {unknown[0]!r} is not accepted: one of {', '.join(FAMILY_LABELS)}")
    from genimg.playground.bench import updates_per_second

    print("**Playground: frames the browser receives while playing** (tab served alone, 1 torch thread, speed 5 "
          "updates per frame, headless Chromium)\n")
    print("| model | frames/s in the browser | updates/s in the page | view HTML (KB) |")
    print("|---|---|---|---|")
    for row in browser_frames(families, args.seconds):
        updates = f"{row['updates_per_second']:.0f}" if row["updates_per_second"] is not None else "?"
        print(f"| {row['family']} | {row['frames_per_second']:.1f} | {updates} | {row['frame_bytes'] / 1024:.0f} |")
    if args.transport == "image":
        row = image_transport_frames(args.seconds)
        print(f"\nThe GAN's frames through a gr.Image generator instead: {row['frames_per_second']:.1f} frames/s")
    print("\n**The library alone** (genimg.playground.bench.updates_per_second, one thread, two moons)\n")
    print("| model | updates/s | frame ms (views + picture) | picture ms |")
    print("|---|---|---|---|")
    for family in ("gan", "vae", "flow"):
        if family in families or "all" in families:
            row = updates_per_second(family, seconds=2.0)
            print(f"| {family} | {row['updates_per_second']:.0f} | {row['frame_ms']:.1f} | {row['render_ms']:.1f} |")
    return 0
