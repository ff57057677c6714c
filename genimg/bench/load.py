"""Load test: `python -m genimg bench load` has simulated users call the Explore handlers while a model trains.

Each user is a thread that calls the page's handlers directly (no HTTP, as `bench explore` does) in a
browser-like mix: slider moves, direction moves, new sample grids, drawings to encode, interpolations.
Meanwhile one `python -m genimg train` run uses the CPU as a teacher's run would. The report gives
requests, errors (expected: none), latency percentiles, and the process's resident memory sampled
every 100 requests, with its growth after warm-up (expected: flat, a few MB at most).
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from genimg.config import PROJECT_ROOT, SHIPPED_DIR

RSS_EVERY = 100
# How often each action comes up in a browser session: sliders dominate, interpolations are rarer.
ACTION_WEIGHTS = {"slider move": 40, "direction move": 20, "sample grid": 20, "encode a drawing": 15,
                  "interpolation with GIFs": 5}


def resident_megabytes() -> float:
    """This process's resident memory now (Linux /proc), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def build_actions(folder: Path) -> dict[str, Callable[[random.Random], object]]:
    """The Explore handlers, wired as `bench explore` wires them, each taking a user's random stream."""
    from genimg.bench.explore import explore_handlers, sketch_of_a_one
    from genimg.ui.explore import EVERY_CLASS

    handlers = explore_handlers(folder, "load")
    gan, vae, latent, interpolate = handlers.gan, handlers.vae, handlers.latent, handlers.interpolate
    encode, samples = handlers.encode, handlers.samples
    sliders = list(latent.state(gan, 7, None, 0, 0.0, 1.0, None, [], language="en")["sliders"])
    sketch = sketch_of_a_one()

    def slider_move(chooser: random.Random) -> object:
        moved = list(sliders)
        moved[chooser.randrange(len(moved))] = round(chooser.uniform(-3, 3), 2)
        return latent.render(gan, chooser.randrange(1000), None, 0, 0.0, 1.0, None, moved)

    return {
        "slider move": slider_move,
        "direction move": lambda chooser: latent.render(gan, 7, None, chooser.randrange(4),
                                                        round(chooser.uniform(-5, 5), 1), 1.0, None, sliders),
        "sample grid": lambda chooser: samples.samples(gan, chooser.randrange(10**6), 16, EVERY_CLASS),
        "encode a drawing": lambda chooser: encode.encode(vae, None, None, "draw", sketch, None),
        "interpolation with GIFs": lambda chooser: interpolate.compute(gan, "seeds", chooser.randrange(1000),
                                                                       chooser.randrange(1000), None, None, 16),
    }


@dataclass
class LoadReport:
    users: int
    seconds: float
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: Counter = field(default_factory=Counter)
    rss_samples: list[tuple[int, float]] = field(default_factory=list)  # (requests so far, MB)
    training: str = "no training run"
    training_failed: bool = False

    @property
    def requests(self) -> int:
        return sum(len(samples) for samples in self.latencies.values()) + sum(self.errors.values())

    @property
    def error_count(self) -> int:
        return sum(self.errors.values()) + int(self.training_failed)

    def memory_after_warmup(self) -> tuple[float, float, float]:
        """(first MB after warm-up, last MB, slope in MB per 1,000 requests); warm-up = the first quarter."""
        samples = self.rss_samples[max(1, len(self.rss_samples) // 4):] or self.rss_samples
        if len(samples) < 2:
            return (samples[0][1], samples[0][1], 0.0) if samples else (0.0, 0.0, 0.0)
        counts = [count for count, _ in samples]
        sizes = [size for _, size in samples]
        slope = statistics.linear_regression(counts, sizes).slope if len(set(counts)) > 1 else 0.0
        return sizes[0], sizes[-1], slope * 1000

    def lines(self, flat_megabytes: float) -> list[str]:
        every = [value for samples in self.latencies.values() for value in samples]
        elapsed = self.seconds
        arenas = os.environ.get("MALLOC_ARENA_MAX", "glibc's default")
        result = [(f"genimg bench load — {self.users} users for {elapsed:.0f} s, {torch.get_num_threads()} "
                   f"thread(s) per request, {os.cpu_count()} CPUs, MALLOC_ARENA_MAX {arenas}; {self.training}"),
                  (f"requests: {self.requests:,} ({self.requests / max(elapsed, 1e-9):,.0f}/s), "
                   f"errors: {self.error_count}"),
                  f"latency ms, all handlers: {format_percentiles(every)}"]
        for name, samples in self.latencies.items():
            result.append(f"  {name:26s} {format_percentiles(samples)}")
        for message, count in self.errors.most_common(5):
            result.append(f"  error ×{count}: {message}")
        if self.rss_samples:
            first, last, slope = self.memory_after_warmup()
            verdict = "flat" if last - first <= flat_megabytes else "GROWING"
            result.append(f"memory (RSS, every {RSS_EVERY} requests): {self.rss_samples[0][1]:.0f} MB at start, "
                          f"{first:.0f} MB after warm-up, {last:.0f} MB at the end "
                          f"({last - first:+.1f} MB, {slope:+.2f} MB per 1,000 requests): {verdict}")
        return result


def percentile(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def format_percentiles(samples: list[float]) -> str:
    if not samples:
        return "no requests"
    ordered = sorted(samples)
    return (f"p50 {statistics.median(ordered):7.2f}  p95 {percentile(ordered, 0.95):7.2f}  "
            f"p99 {percentile(ordered, 0.99):7.2f}  n {len(ordered):,}")


def start_training(seconds: float, data_root: str | None, folder: Path) -> tuple[subprocess.Popen, str]:
    """One `python -m genimg train` run (MNIST when present, else the built-in shapes), saving every 100 steps."""
    from genimg.data.datasets import mnist_available

    dataset = "mnist" if mnist_available(data_root) else "shapes"
    command = [sys.executable, "-m", "genimg", "train", "--model", "dcgan", "--dataset", dataset, "--image-size", "28",
               "--channels", "1", "--steps", "1000000", "--max-seconds", str(seconds + 120),
               "--checkpoint-every", "100", "--quiet", "--out", str(folder)]
    if data_root:
        command += ["--data-root", data_root]
    root = PROJECT_ROOT
    process = subprocess.Popen(command, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return process, dataset


def run_load(users: int = 20, seconds: float = 60.0, *, with_training: bool = False, min_requests: int = 0,
             folder: Path = SHIPPED_DIR, data_root: str | None = None) -> LoadReport:
    """Run the load; keeps going past `seconds` until `min_requests` (at most three times as long)."""
    torch.set_num_threads(int(os.environ.get("GENIMG_THREADS", "1")))  # as the app does
    actions = build_actions(folder)
    names, weights = list(ACTION_WEIGHTS), list(ACTION_WEIGHTS.values())
    report = LoadReport(users, seconds, latencies={name: [] for name in names})
    lock = threading.Lock()
    warmup = random.Random(-1)
    for name in names:  # first calls load models and build the latent map: a server does that before users come
        actions[name](warmup)
    report.rss_samples.append((0, resident_megabytes()))
    training_folder = Path(tempfile.mkdtemp(prefix="genimg-load-run-"))
    training = None
    if with_training:
        training, dataset = start_training(seconds, data_root, training_folder / "run")
        time.sleep(5)  # let it load its data and start stepping, as a teacher's run would be by then
    started = time.perf_counter()
    hard_stop = started + 3 * seconds
    done = threading.Event()

    def user(number: int) -> None:
        chooser = random.Random(number)
        while not done.is_set():
            name = chooser.choices(names, weights)[0]
            began = time.perf_counter()
            try:
                actions[name](chooser)
                failure = None
            except Exception as error:  # noqa: BLE001 -- every failure a user would see is counted, not raised
                failure = f"{name}: {type(error).__name__}: {error}"
            elapsed_ms = (time.perf_counter() - began) * 1000
            with lock:
                if failure is None:
                    report.latencies[name].append(elapsed_ms)
                else:
                    report.errors[failure] += 1
                count = report.requests
                if count % RSS_EVERY == 0:
                    report.rss_samples.append((count, resident_megabytes()))
                now = time.perf_counter()
                if (now - started >= seconds and count >= min_requests) or now >= hard_stop:
                    done.set()

    threads = [threading.Thread(target=user, args=(number,), daemon=True) for number in range(users)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        done.set()
        report.seconds = time.perf_counter() - started
        if training is not None:
            report.training, report.training_failed = finish_training(training, dataset, training_folder / "run")
    return report


def finish_training(process: subprocess.Popen, dataset: str, folder: Path) -> tuple[str, bool]:
    """Stop the training run; (one line about it, whether it failed on its own)."""
    from genimg.store.checkpoint import CheckpointError, read_config

    exit_status = process.poll()
    if exit_status is None:
        process.terminate()
        process.wait(timeout=60)
    error_text = process.stderr.read() if process.stderr else ""
    if process.stderr:
        process.stderr.close()
    try:
        step = read_config(folder)["step"]
    except CheckpointError:
        step = None
    reached = f"checkpoint at step {step:,}" if step is not None else "no checkpoint yet"
    if exit_status is not None and exit_status != 0:
        tail = " | ".join(error_text.strip().splitlines()[-2:])
        return f"training run on {dataset} FAILED (exit status {exit_status}): {tail}", True
    return f"one training run on {dataset} throughout ({reached})", False


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m genimg bench load",
                                     description="simulated users on the Explore handlers, optionally while a model trains")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--min-requests", type=int, default=1000, help="keep going until this many requests")
    parser.add_argument("--with-training", action="store_true", help="one python -m genimg train run meanwhile")
    parser.add_argument("--models", default=str(SHIPPED_DIR), help="folder of checkpoints (default: shipped)")
    parser.add_argument("--data-root", default=None, help="where MNIST lives for the training run")
    parser.add_argument("--flat-mb", type=float, default=5.0, help="growth after warm-up still called flat (MB)")
    args = parser.parse_args(argv)
    report = run_load(args.users, args.seconds, with_training=args.with_training, min_requests=args.min_requests,
                      folder=Path(args.models), data_root=args.data_root)
    print("\n".join(report.lines(args.flat_mb)))
    return 0 if report.error_count == 0 else 1
