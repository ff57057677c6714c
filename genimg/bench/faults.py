"""Fault scenarios: `python -m genimg bench faults` kills, fills the disk under, and poisons real training runs.

1. A `python -m genimg train` process saving every step is killed with SIGKILL at random moments;
   after each kill the folder must load and the run must resume.
2. The disk fills up while a run writes a checkpoint (simulated: the weights file's write fails with
   ENOSPC half-way); the command must stop with a message about the disk, the previous checkpoint intact.
3. A run's weights turn to NaN; it must stop with the divergence alarm and keep the last good checkpoint.

Scenarios 2 and 3 run the command in a child process that injects the fault through the library's public
seams (genimg.store.checkpoint.intercept_writes, genimg.training.engine.before_each_step). Each scenario
returns a FaultOutcome; tests/bench/test_faults.py runs the same functions.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
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
from typing import BinaryIO

import torch
from torch import nn

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
def disk_full_from_save(save: int) -> Iterator[None]:
    """Make the weights file of the `save`-th checkpoint save in this process (counted from 1), and of every
    later one, fail half-way with ENOSPC, through genimg.store.checkpoint.intercept_writes."""
    from genimg.store.checkpoint import FileWrite, intercept_writes

    weights_files_begun = 0

    def half_then_full(file: BinaryIO) -> None:
        file.write(b"\0" * 65536)  # some bytes land before the disk runs out, as in life
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def until_the_disk_is_full(target: Path, write: FileWrite) -> FileWrite:
        nonlocal weights_files_begun
        if target.suffix != ".safetensors":  # one weights file per save; the disk fills during one
            return write
        weights_files_begun += 1
        return half_then_full if weights_files_begun >= save else write

    with intercept_writes(until_the_disk_is_full):
        yield


def full_disk_during_save(workdir: Path) -> FaultOutcome:
    """`python -m genimg train` with checkpoints every 2 steps; the disk is full from its second save (step 4)."""
    name = "full disk during a checkpoint save"
    folder = workdir / "full-disk-run"
    status, message = train_with_fault("disk-full-from-save", 2, [*TINY_RUN, "--steps", "10",
                                                                   "--checkpoint-every", "2", "--out", str(folder)])
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
    """Before optimisation step `step` (1-based) of any run in this process, fill the model's first weight with
    NaN, through genimg.training.engine.before_each_step."""
    from genimg.training.engine import before_each_step

    def poison(current_step: int, model: nn.Module) -> None:
        if current_step == step:
            with torch.no_grad():
                next(model.parameters()).fill_(math.nan)

    with before_each_step(poison):
        yield


def diverging_run(workdir: Path) -> FaultOutcome:
    """`python -m genimg train` whose weights become NaN at step 7; checkpoints every 3 steps."""
    name = "a training run that diverges"
    folder = workdir / "diverging-run"
    status, message = train_with_fault("nan-weights-at-step", 7, [*TINY_RUN, "--steps", "30",
                                                                  "--checkpoint-every", "3", "--out", str(folder)])
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


# ------------------------------------------------------------------------------------- the train command, with a fault
# Faults that the child process below can inject, each given the save or step from which it strikes.
FAULTS = {"disk-full-from-save": disk_full_from_save, "nan-weights-at-step": weights_turn_to_nan_at}


def train_with_fault(fault: str, at: int, train_arguments: list[str], timeout: float = 180) -> tuple[int, str]:
    """Run `python -m genimg train <train_arguments>` in a fresh interpreter with `fault` (a FAULTS name)
    injected from `at` on; returns its exit status and what it printed to stderr.

    The child is `python -m genimg.bench.faults <fault> <at> <train arguments>` (the end of this module),
    which sets the fault up through the library's public seams and then runs the `python -m genimg`
    program itself, so the command's own messages and exit statuses are what is checked.
    """
    if fault not in FAULTS:
        raise ValueError(f"fault {fault!r} is not one of {sorted(FAULTS)}")
    finished = subprocess.run([sys.executable, "-m", "genimg.bench.faults", fault, str(at), *train_arguments],
                              cwd=REPO_ROOT, env=_environment(), capture_output=True, text=True, timeout=timeout,
                              check=False)
    return finished.returncode, finished.stderr.strip()


def run_train_with_fault(argv: list[str]) -> None:
    """The child's side of `train_with_fault`: argv is [fault, at, train arguments…]; exits as the program does."""
    import runpy

    fault, at, *train_arguments = argv
    with FAULTS[fault](int(at)):
        sys.argv = ["genimg", "train", *train_arguments]
        # The `python -m genimg` program as a user starts it (its __main__), not the command line's functions.
        runpy.run_module("genimg", run_name="__main__", alter_sys=True)


def run_all(workdir: Path, kills: int = 3) -> list[FaultOutcome]:
    return [kill_during_saves(workdir, kills), full_disk_during_save(workdir), diverging_run(workdir)]


def main(argv: list[str]) -> int:
    """`python -m genimg bench faults [--kills N]`: one line per scenario; exit status 1 if any failed."""
    parser = argparse.ArgumentParser(prog="python -m genimg bench faults",
                                     description="SIGKILL mid-save, a full disk mid-save, and a diverging run")
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs in the first scenario (default 3)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(prefix="genimg-faults-") as workdir:
        outcomes = run_all(Path(workdir), args.kills)
    for outcome in outcomes:
        print(outcome.line(), flush=True)
    return 0 if all(outcome.passed for outcome in outcomes) else 1


if __name__ == "__main__":
    run_train_with_fault(sys.argv[1:])
