"""What `bench train` and `bench inference` share: the models measured, one measurement in a fresh interpreter, the plan and the report command.

Both suites import this module and neither imports the other's measuring code, so the two stay free of
an import cycle; `bench all` (genimg/bench/combined.py) puts their reports together.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from genimg.config import PROJECT_ROOT, SHIPPED_DIR, ModelConfig
from genimg.data.datasets import mnist_available

RESULT_PREFIX = "GENIMG-BENCH-RESULT "
MALLOC_VARIABLES = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_ARENA_MAX")
WORKER_FLAG = "--worker"


# ------------------------------------------------------------------------------------------- what to measure
@dataclass(frozen=True)
class BenchModel:
    """One model kind as shipped: its network, the data it trains on and its batch size."""

    name: str
    title: str
    dataset: str
    model: dict[str, Any]
    batch_size: int
    training: dict[str, Any] = field(default_factory=dict)


# Used when a shipped checkpoint is missing: the same settings its config.json records.
FALLBACK_MODELS = {
    "mnist-dcgan": ("DCGAN 28×28, depth 1", "mnist", ModelConfig(kind="dcgan", latent_dim=100, width=64, depth=1), 64),
    "mnist-cdcgan": ("conditional DCGAN 28×28, depth 1", "mnist",
                     ModelConfig(kind="dcgan", latent_dim=100, width=64, depth=1, num_classes=10), 64),
    "mnist-vae": ("VAE 28×28 (z 32, width 64, depth 1)", "mnist",
                  ModelConfig(kind="vae", latent_dim=32, width=64, depth=1), 128),
    "mnist-cvae": ("conditional VAE 28×28 (z 16, width 32)", "mnist",
                   ModelConfig(kind="vae", latent_dim=16, width=32, num_classes=10), 128),
    "shapes-dcgan": ("DCGAN 32×32 colour (shapes)", "shapes",
                     ModelConfig(kind="dcgan", image_size=32, channels=3, latent_dim=100, width=64), 64),
}
# Training settings that only concern bookkeeping; the benchmark sets its own.
_BOOKKEEPING = ("steps", "out", "device", "precision", "log_every", "sample_every", "checkpoint_every",
                "max_seconds", "data_root", "data_limit", "batch_size", "model", "dataset")


def bench_models(folder: Path = SHIPPED_DIR) -> dict[str, BenchModel]:
    """The shipped models' settings, read from their config.json (falling back to the recorded defaults)."""
    from genimg.store.checkpoint import CheckpointError, read_config

    models = {}
    for name, (title, dataset, model, batch_size) in FALLBACK_MODELS.items():
        training: dict[str, Any] = {}
        try:
            config = read_config(folder / name)
            model = ModelConfig.from_dict(config["model"])
            training = dict(config.get("training") or {})
            batch_size = int(training.get("batch_size", batch_size))
        except (CheckpointError, ValueError, KeyError):
            pass
        kept = {key: value for key, value in training.items() if key not in _BOOKKEEPING}
        models[name] = BenchModel(name, title, dataset, model.to_dict(), batch_size, kept)
    return models


def tiny_bench_models() -> dict[str, BenchModel]:
    """Small networks for the smoke test: the same code paths in a fraction of a second."""
    tiny = {"kind": "dcgan", "image_size": 28, "channels": 1, "latent_dim": 8, "num_classes": 0, "width": 8,
            "likelihood": "bernoulli", "spectral_norm": False, "depth": 0}
    return {
        "tiny-dcgan": BenchModel("tiny-dcgan", "tiny DCGAN 28×28", "synthetic", tiny, 16),
        "tiny-cvae": BenchModel("tiny-cvae", "tiny conditional VAE 28×28", "synthetic",
                                {**tiny, "kind": "vae", "num_classes": 10}, 16),
    }


@dataclass(frozen=True)
class Measurement:
    """One measurement, run in its own process: `mode` says which loop, the rest how."""

    mode: str  # "baseline" or "engine" (genimg/bench/train.py), "inference" (genimg/bench/inference.py)
    model: BenchModel | None = None
    batch_size: int | None = None
    precision: str = "fp32"
    allocator: bool = True
    channels_last: bool = False
    compile_mode: str | None = None  # torch.compile mode, e.g. "default" or "reduce-overhead" (CUDA graphs)
    device: str = "cpu"
    threads: int = 2
    seconds: float = 5.0
    warmup_steps: int = 10
    loader_workers: int = 0
    data_root: str | None = None
    synthetic: bool = False
    inference_models: tuple[BenchModel, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Measurement:
        values = json.loads(text)
        if values.get("model") is not None:
            values["model"] = BenchModel(**values["model"])
        values["inference_models"] = tuple(BenchModel(**model) for model in values.get("inference_models", ()))
        return cls(**values)


# ------------------------------------------------------------------------------------------- the machine
def synchronizer(device: torch.device) -> Callable[[], None]:
    """A function that waits for the device's queued work (nothing to wait for on a CPU)."""
    return torch.cuda.synchronize if device.type == "cuda" else (lambda: None)


def machine_line(device: str, threads: int) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        where = f"{torch.cuda.get_device_name(torch.device(device))}, CUDA {torch.version.cuda}"
    else:
        where = f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, {threads} thread(s)"
    return f"{where}, torch {torch.__version__}, Python {platform.python_version()}"


# ------------------------------------------------------------------------------------------- one measurement
# A measurement's body: runs in the process it is given, returns plain JSON (a dict of figures).
MeasurementBody = Callable[[Measurement], dict[str, Any]]


def run_here(body: MeasurementBody, measurement: Measurement) -> dict[str, Any]:
    """Run `body` in this process with the measurement's thread count."""
    torch.set_num_threads(measurement.threads)
    return body(measurement)


def worker_environment(measurement: Measurement) -> dict[str, str]:
    from genimg.config import ALLOCATOR_SETTINGS

    environment = {name: value for name, value in os.environ.items() if name not in MALLOC_VARIABLES}
    environment.update(OMP_NUM_THREADS=str(measurement.threads), MKL_NUM_THREADS=str(measurement.threads),
                       GENIMG_KEEP_MALLOC="1", PYTHONWARNINGS="ignore")
    if measurement.allocator:
        environment.update(ALLOCATOR_SETTINGS)
    return environment


def measure(measurement: Measurement, body: MeasurementBody, *, isolate: bool = True,
            timeout: float = 300) -> dict[str, Any]:
    """Run `body(measurement)` in a fresh interpreter (or in this one when `isolate` is false, for tests).

    The fresh interpreter runs `python -m <body's module> --worker <measurement as JSON>`, so the module
    that defines `body` hands its command line to `worker_main(body, ...)` when run as a program. Returns
    the body's dict, or {"error": "..."} when it failed or ran past `timeout` seconds.
    """
    if not isolate:
        try:
            return run_here(body, measurement)
        except Exception as error:  # noqa: BLE001 -- any failure becomes a "failed" cell, as in a worker
            return {"error": f"{type(error).__name__}: {error}"}
    if body.__module__ == "__main__":
        raise ValueError(f"measure: {body.__qualname__} is defined in __main__; give a body defined in an "
                         "importable module (genimg.bench.train or genimg.bench.inference)")
    command = [sys.executable, "-m", body.__module__, WORKER_FLAG, measurement.to_json()]
    try:
        finished = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout,
                                  cwd=PROJECT_ROOT, env=worker_environment(measurement))
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {timeout:.0f} s"}
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX):])
    last_lines = " | ".join(finished.stderr.strip().splitlines()[-3:])
    return {"error": f"exit status {finished.returncode}: {last_lines or 'no output'}"}


def worker_main(body: MeasurementBody, argv: list[str]) -> int:
    """The worker's side of `measure`: argv is [--worker, measurement JSON]; prints the result on one line."""
    if len(argv) != 2 or argv[0] != WORKER_FLAG:
        print(f"genimg bench worker: expected {WORKER_FLAG} <measurement JSON>, got {argv!r}; "
              "measurements start with python -m genimg bench train or inference", file=sys.stderr)
        return 2
    result = run_here(body, Measurement.from_json(argv[1]))
    print(RESULT_PREFIX + json.dumps(result), flush=True)
    return 0


# ------------------------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class Plan:
    """What one `bench train`, `bench inference` or `bench all` run measures; `quick` trims it to a smoke run."""

    models: dict[str, BenchModel]
    seconds: float
    warmup_steps: int
    threads: int
    device: str
    data_root: str | None
    synthetic: bool
    levers: bool
    compile_timeout: float
    loader_workers: int

    def measurement(self, mode: str, model: BenchModel, **changes: Any) -> Measurement:
        base = Measurement(mode=mode, model=model, device=self.device, threads=self.threads, seconds=self.seconds,
                           warmup_steps=self.warmup_steps, data_root=self.data_root, synthetic=self.synthetic,
                           loader_workers=self.loader_workers)
        return replace(base, **changes)


def make_plan(args: argparse.Namespace) -> Plan:
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.synthetic:
        models = tiny_bench_models()
    else:
        models = bench_models(Path(args.models))
        if args.quick:
            models = {name: models[name] for name in ("mnist-dcgan", "mnist-cvae")}
        elif args.kinds:
            models = {name: models[name] for name in args.kinds}
    data_root = args.data_root
    if not args.synthetic and not mnist_available(data_root):
        print(f"genimg bench: MNIST not found under {data_root or 'the data root'}; measuring shapes models only "
              "(give --data-root)", file=sys.stderr)
        models = {name: model for name, model in models.items() if model.dataset != "mnist"}
    return Plan(models=models, seconds=args.seconds or (1.5 if args.quick else 5.0),
                warmup_steps=3 if args.quick else 10, threads=args.threads, device=device, data_root=data_root,
                synthetic=args.synthetic, levers=not args.no_levers and not args.quick,
                compile_timeout=args.compile_timeout, loader_workers=args.loader_workers)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: two models, short windows, no levers")
    parser.add_argument("--seconds", type=float, default=None, help="timed seconds per measurement (default 5)")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads per measurement (default 2)")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--data-root", default=None, help="where MNIST lives (default $GENIMG_DATA, else ./data)")
    parser.add_argument("--kinds", nargs="+", choices=sorted(FALLBACK_MODELS), default=None,
                        help="only these models")
    parser.add_argument("--no-levers", action="store_true", help="skip the one-lever-at-a-time table")
    parser.add_argument("--compile-timeout", type=float, default=150.0,
                        help="give torch.compile at most this many seconds, compilation included")
    parser.add_argument("--loader-workers", type=int, default=0,
                        help="baseline DataLoader workers (default 0: on 2 cores, workers compete with training)")
    parser.add_argument("--synthetic", action="store_true", help="tiny models on random data (no download)")
    parser.add_argument("--models", default=str(SHIPPED_DIR),
                        help="folder of checkpoints whose settings are measured (default: shipped)")


# Builds a report's sections from the plan, the parsed arguments and a progress printer.
SectionBuilder = Callable[[Plan, argparse.Namespace, Callable[[str], None]], list[str]]


def report_main(suite: str, argv: list[str], sections: SectionBuilder, *, description: str,
                extra_arguments: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """`python -m genimg bench <suite> [options]` for the Markdown-report suites (train, inference, all).

    argv holds the options after the suite's name; the report goes to stdout and to --out.
    """
    parser = argparse.ArgumentParser(prog=f"python -m genimg bench {suite}", description=description)
    add_arguments(parser)
    parser.add_argument("--out", default=None, help="also write the Markdown report to this file")
    if extra_arguments is not None:
        extra_arguments(parser)
    args = parser.parse_args(argv)
    plan = make_plan(args)
    if not plan.models:
        print("genimg bench: nothing to measure", file=sys.stderr)
        return 2

    def progress(text: str) -> None:
        print(f"  measuring {text} ...", file=sys.stderr, flush=True)

    started = time.perf_counter()
    built = sections(plan, args, progress)
    command = "python -m genimg bench " + " ".join([suite, *argv])
    report = "\n\n".join(built) + f"\n\nCommand: `{command}` ({time.perf_counter() - started:.0f} s).\n"
    print(report)
    if args.out:
        Path(args.out).write_text(report, encoding="utf-8")
    return 0
