"""Fault scenarios: `python -m genimg bench faults` kills, fills the disk under, and poisons real training runs.

1. A `python -m genimg train` process saving every step is killed with SIGKILL at random moments;
   after each kill the folder must load and the run must resume.
2. The disk fills up while a run writes a checkpoint (simulated: the weights file's write fails with
   ENOSPC half-way); the command must stop with a message about the disk, the previous checkpoint intact.
3. A run's weights turn to NaN; it must stop with the divergence alarm and keep the last good checkpoint.

Each scenario returns a FaultOutcome; tests/bench/test_faults.py runs the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import math
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import torch

from genimg.config import PROJECT_ROOT

REPO_ROOT = PROJECT_ROOT
# A model that trains many steps a second on 2 cores, on the built-in shapes (offline, no download).
TINY_RUN = ["--model", "dcgan", "--dataset", "shapes", "--image-size", "28", "--channels", "1", "--data-limit", "256",
            "--batch-size", "16", "--width", "8", "--latent-dim", "8", "--log-every", "1", "--sample-every", "1000000",
            "--quiet", "--threads", "1"]


@dataclass(frozen=True)
class FaultOutcome:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'ok  ' if self.passed else 'FAIL'} {self.name}: {self.detail}"


def _environment() -> dict[str, str]:
    # GENIMG_KEEP_MALLOC: no re-exec, so the pid we kill is the training process from its first instant.
    return {**os.environ, "GENIMG_KEEP_MALLOC": "1", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def _saved_step(folder: Path) -> int | None:
    from genimg.store.checkpoint import CheckpointError, read_config

    try:
        return int(read_config(folder)["step"])
    except CheckpointError:
        return None


def _check_loads(folder: Path) -> int:
    """Load the folder as the page and a resumed run would; returns its step. Raises CheckpointError if broken."""
    from genimg.models.loading import load_model
    from genimg.store.checkpoint import load_checkpoint

    load_model(folder)
    checkpoint = load_checkpoint(folder, with_training_state=True)
    if checkpoint.training_state is None or int(checkpoint.training_state["step"]) != checkpoint.step:
        raise AssertionError(f"{folder}: the training state does not match the checkpoint's step {checkpoint.step}")
    return checkpoint.step


# ------------------------------------------------------------------------------------- 1. SIGKILL mid-save
def kill_during_saves(workdir: Path, kills: int = 3, seed: int | None = None) -> FaultOutcome:
    """Start (then resume) a run that saves a checkpoint every step, SIGKILL it at random moments `kills` times.

    After every kill the folder must load and hold a later step than before; at the end a resumed run
    must finish normally.
    """
    name = "SIGKILL during checkpoint saves"
    if not hasattr(signal, "SIGKILL"):
        return FaultOutcome(name, True, "skipped: this system has no SIGKILL")
    seed = seed if seed is not None else int.from_bytes(os.urandom(4), "little")
    chooser = random.Random(seed)
    folder = workdir / "killed-run"
    steps_seen: list[int] = []
    mid_save = 0
    for kill in range(kills):
        first = kill == 0
        command = [sys.executable, "-m", "genimg", "train", *TINY_RUN, "--steps", "1000000", "--checkpoint-every", "1"]
        command += ["--out", str(folder)] if first else ["--resume", str(folder)]
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=_environment(), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE)
        try:
            before = steps_seen[-1] if steps_seen else 0
            deadline = time.monotonic() + 120
            while (_saved_step(folder) or 0) <= before:  # wait until this process has saved at least once
                if process.poll() is not None or time.monotonic() > deadline:
                    error = process.stderr.read().decode(errors="replace") if process.stderr else ""
                    return FaultOutcome(name, False, f"the run did not save (seed {seed}): {error.strip()[-300:]}")
                time.sleep(0.02)
            time.sleep(chooser.uniform(0.0, 0.3))  # it saves every step, so a random moment is mostly mid-save
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            if process.stderr:
                process.stderr.close()
        # A half-written temp file left behind is the evidence that the kill landed in the middle of a save.
        mid_save += any(path.name.startswith(".genimg-tmp-") for path in folder.iterdir())
        try:
            step = _check_loads(folder)
        except Exception as error:  # noqa: BLE001 -- any failure to load is the finding
            return FaultOutcome(name, False, f"after kill {kill + 1} (seed {seed}) the folder does not load: {error}")
        if steps_seen and step < steps_seen[-1]:
            return FaultOutcome(name, False, f"after kill {kill + 1} the checkpoint went back from step "
                                             f"{steps_seen[-1]} to {step} (seed {seed})")
        steps_seen.append(step)
    target = steps_seen[-1] + 3
    finished = subprocess.run([sys.executable, "-m", "genimg", "train", "--resume", str(folder), "--steps", str(target)],
                              cwd=REPO_ROOT, env=_environment(), capture_output=True, text=True, timeout=180, check=False)
    if finished.returncode != 0 or _check_loads(folder) != target:
        return FaultOutcome(name, False, f"resuming after the kills failed: {finished.stderr.strip()[-300:]}")
    return FaultOutcome(name, True, f"killed {kills}× while saving every step ({mid_save} kill(s) caught a file "
                                    f"half-written), at steps {', '.join(map(str, steps_seen))}; "
                                    f"each time the last checkpoint loaded and the run resumed to step {target} "
                                    f"(seed {seed})")


# ------------------------------------------------------------------------------------- 2. full disk mid-save
@contextlib.contextmanager
def disk_full_from_step(step: int) -> Iterator[None]:
    """Make every checkpoint save from `step` on fail half-way through its weights file with ENOSPC."""
    from genimg.store import checkpoint as checkpoint_module

    original = checkpoint_module._write_atomic

    def write_until_the_disk_is_full(target: Path, write: Any, *, fsync_folder: bool) -> None:
        parts = target.name.split("-")
        if target.name.startswith("weights-") and parts[1].split(".")[0].isdigit() and int(parts[1][:8]) >= step:
            def half_then_full(file: BinaryIO) -> None:
                file.write(b"\0" * 65536)  # some bytes land before the disk runs out, as in life
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            return original(target, half_then_full, fsync_folder=fsync_folder)
        return original(target, write, fsync_folder=fsync_folder)

    checkpoint_module._write_atomic = write_until_the_disk_is_full
    try:
        yield
    finally:
        checkpoint_module._write_atomic = original


def full_disk_during_save(workdir: Path) -> FaultOutcome:
    """`python -m genimg train` (in this process) with checkpoints every 2 steps; the disk is full from step 4."""
    from genimg.cli import main as cli_main

    name = "full disk during a checkpoint save"
    folder = workdir / "full-disk-run"
    errors = io.StringIO()
    with disk_full_from_step(4), contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        status = cli_main(["train", *TINY_RUN, "--steps", "10", "--checkpoint-every", "2", "--out", str(folder)])
    message = errors.getvalue().strip()
    if status == 0:
        return FaultOutcome(name, False, "the run reported success although its checkpoint could not be written")
    if "No space left on device" not in message or "previous checkpoint" not in message:
        return FaultOutcome(name, False, f"the message does not say the disk is full: {message!r}")
    try:
        step = _check_loads(folder)
    except Exception as error:  # noqa: BLE001 -- any failure to load is the finding
        return FaultOutcome(name, False, f"the previous checkpoint does not load: {error}")
    leftovers = sorted(path.name for path in folder.iterdir() if path.name.startswith(".genimg-tmp-"))
    if step != 2 or leftovers:
        return FaultOutcome(name, False, f"expected the step-2 checkpoint and no temp files, found step {step}, "
                                         f"{leftovers}")
    return FaultOutcome(name, True, f"exit status {status}, message: {message.splitlines()[-1][:160]}…; "
                                    f"the step-2 checkpoint still loads")


# ------------------------------------------------------------------------------------- 3. divergence
@contextlib.contextmanager
def weights_turn_to_nan_at(step: int) -> Iterator[None]:
    """Before optimisation step `step` (1-based), fill the model's first weight with NaN."""
    from genimg.training import engine

    original_gan, original_vae = engine._Run.gan_step, engine._Run.vae_step

    def poison(run: Any) -> None:
        if run.step + 1 == step:
            with torch.no_grad():
                next(run.model.parameters()).fill_(math.nan)

    def gan_step(run: Any, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        poison(run)
        return original_gan(run, images, labels)

    def vae_step(run: Any, images: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        poison(run)
        return original_vae(run, images, labels)

    engine._Run.gan_step, engine._Run.vae_step = gan_step, vae_step
    try:
        yield
    finally:
        engine._Run.gan_step, engine._Run.vae_step = original_gan, original_vae


def diverging_run(workdir: Path) -> FaultOutcome:
    """`python -m genimg train` (in this process) whose weights become NaN at step 7; checkpoints every 3 steps."""
    from genimg.cli import main as cli_main

    name = "a training run that diverges"
    folder = workdir / "diverging-run"
    errors = io.StringIO()
    with weights_turn_to_nan_at(7), contextlib.redirect_stderr(errors), contextlib.redirect_stdout(io.StringIO()):
        status = cli_main(["train", *TINY_RUN, "--steps", "30", "--checkpoint-every", "3", "--out", str(folder)])
    message = errors.getvalue().strip()
    if status != 3 or "diverged" not in message:
        return FaultOutcome(name, False, f"expected the divergence alarm (exit status 3), got {status}: {message!r}")
    try:
        step = _check_loads(folder)
        from genimg.models.loading import load_model

        model, _, _ = load_model(folder)
    except Exception as error:  # noqa: BLE001 -- any failure to load is the finding
        return FaultOutcome(name, False, f"the last good checkpoint does not load: {error}")
    finite = all(torch.isfinite(parameter).all() for parameter in model.parameters())
    if step != 6 or not finite:
        return FaultOutcome(name, False, f"expected finite weights from step 6, found step {step}, finite {finite}")
    return FaultOutcome(name, True, f"exit status 3 with the alarm ({message.splitlines()[0][:110]}…); "
                                    f"the step-6 checkpoint loads with finite weights")


def run_all(workdir: Path, kills: int = 3) -> list[FaultOutcome]:
    return [kill_during_saves(workdir, kills), full_disk_during_save(workdir), diverging_run(workdir)]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m genimg bench faults",
                                     description="SIGKILL mid-save, a full disk mid-save, and a diverging run")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs in the first scenario (default 3)")
    args = parser.parse_args(argv[1:])
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="genimg-faults-") as workdir:
        outcomes = run_all(Path(workdir), args.kills)
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    return 0 if all(outcome.passed for outcome in outcomes) else 1
