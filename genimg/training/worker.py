"""A training run in its own process, so the page stays responsive and the run gets its own CPU threads.

The page starts `python -m genimg.worker` ahead of time (importing torch takes seconds), then hands it
one job as a JSON line on stdin. The worker streams the engine's events back as JSON lines on stdout,
and stops cleanly (saving a checkpoint) when it reads `stop` or when stdin closes, which is what
happens if the page's process dies. A crash in a run can never take the page down with it.

Protocol, one JSON object per line:
    worker → page  {"type": "ready"}                                  imports done, waiting for a job
    page → worker  {"config": TrainConfig dict, "resume": path|null, "upload": zip path|null,
                    "snapshots": folder|null, "threads": int|null}
    worker → page  {"type": "Started"|"Progress"|"Samples"|..., "step": ..., ...}  (Samples: "png" base64)
    worker → page  {"type": "error", "message": "..."}               a setup problem, in plain words
    page → worker  stop
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from genimg.config import (
    ALLOCATOR_SETTINGS,  # glibc settings that speed up small-tensor training (genimg/__main__.py)
    PROJECT_ROOT,
)

READY_TIMEOUT_S = 120.0
PROGRESS_INTERVAL_S = 0.1


# ------------------------------------------------------------------------------------------ worker side
def _event_to_json(event: Any) -> dict[str, Any]:
    from genimg.data.imaging import png_bytes

    message: dict[str, Any] = {"type": type(event).__name__}
    for item in dataclasses.fields(event):
        value = getattr(event, item.name)
        if item.name == "sampling_network":  # a live network stays in the worker
            continue
        if item.name == "grid":
            message["png"] = base64.b64encode(png_bytes(value)).decode("ascii")
        elif item.name == "config":
            message["config"] = value.to_dict()
        else:
            message[item.name] = value
    return message


def _snapshot(checkpoint: str, snapshots: Path, step: int) -> None:
    """Keep this saved step as an explorable checkpoint of its own (weights only, hard-linked when possible)."""
    from genimg.store.workspace import copy_checkpoint

    copy_checkpoint(Path(checkpoint), snapshots / f"step-{step:08d}")


def worker_main() -> int:
    output_lock = threading.Lock()

    def emit(message: dict[str, Any]) -> None:
        line = json.dumps(message, allow_nan=True)
        with output_lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    import torch

    from genimg.config import ConfigError, TrainConfig
    from genimg.data.datasets import DatasetError
    from genimg.store.checkpoint import CheckpointError
    from genimg.training.engine import CheckpointSaved, Progress, train

    emit({"type": "ready"})
    line = sys.stdin.readline()
    if not line.strip():
        return 0
    job = json.loads(line)
    stop = threading.Event()

    def watch_stdin() -> None:
        for command in sys.stdin:  # EOF (the page went away) ends the loop, and the run stops too
            if command.strip() == "stop":
                break
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    if job.get("threads"):
        torch.set_num_threads(int(job["threads"]))
    try:
        config = TrainConfig.from_dict(job["config"])
        data = None
        if job.get("upload"):
            from genimg.data.uploads import load_zip

            data = load_zip(job["upload"], image_size=config.model.image_size, channels=config.model.channels)
            if job.get("classes_from_data"):
                if data.labels is None:
                    raise ConfigError("a conditional model needs classes: put your pictures in one sub-folder per "
                                      "class (at least two) before zipping, or choose an unconditional model")
                config = config.replace(model=dataclasses.replace(config.model, num_classes=data.num_classes))
        snapshots = Path(job["snapshots"]) if job.get("snapshots") else None
        pending: Any = None  # the latest Progress not yet sent
        last_progress = 0.0
        for event in train(config, data=data, resume=job.get("resume"), stop=stop):
            if isinstance(event, Progress):
                # On a GPU a run can report hundreds of times a second; the page shows at most a few updates
                # a second, so send at most ten reports a second (each the mean over its last few steps).
                pending = event
                if time.monotonic() - last_progress < PROGRESS_INTERVAL_S:
                    continue
            if pending is not None:
                emit(_event_to_json(pending))
                pending, last_progress = None, time.monotonic()
            if isinstance(event, Progress):
                continue
            emit(_event_to_json(event))
            if snapshots is not None and isinstance(event, CheckpointSaved):
                try:
                    _snapshot(event.path, snapshots, event.step)
                except OSError as error:  # a full disk costs the replay step, never the run's checkpoint
                    emit({"type": "warning", "message": f"step {event.step} could not be kept for replay: {error}"})
    except (ConfigError, DatasetError, CheckpointError, ValueError, OSError) as error:
        emit({"type": "error", "message": str(error)})
        return 1
    except Exception as error:  # anything else is a bug, but the page must still hear about it
        emit({"type": "error", "message": f"the training run failed: {type(error).__name__}: {error}"})
        return 1
    return 0


# -------------------------------------------------------------------------------------------- page side
class WorkerError(RuntimeError):
    pass


class Worker:
    """One worker process from the page's side: start it, give it a job, read its events, stop it."""

    def __init__(self, threads: int | None = None) -> None:
        environment = {**os.environ, **ALLOCATOR_SETTINGS, "PYTHONUNBUFFERED": "1"}
        if threads:
            environment["OMP_NUM_THREADS"] = str(threads)
        root = PROJECT_ROOT
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), environment.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "genimg.training.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1, env=environment, cwd=str(root))
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.ready = threading.Event()
        self.stderr_tail: list[str] = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if message.get("type") == "ready":
                self.ready.set()
            else:
                self.messages.put(message)
        self.messages.put(None)  # end of stream
        self.ready.set()

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.stderr_tail = (self.stderr_tail + [line.rstrip()])[-20:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def submit(self, job: dict[str, Any]) -> None:
        if not self.ready.wait(READY_TIMEOUT_S) or not self.alive():
            raise WorkerError("the training process did not start: " + " / ".join(self.stderr_tail[-3:]))
        self._send(json.dumps(job))

    def _send(self, line: str) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def stop(self) -> None:
        """Ask the run to save and end; returns at once."""
        self._send("stop")

    def close(self, wait: float = 0.0) -> None:
        """Close stdin (the worker stops and saves), wait up to `wait` seconds, then let it finish alone."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
        except OSError:
            pass
        if wait:
            try:
                self.process.wait(wait)
            except subprocess.TimeoutExpired:
                pass
        threading.Thread(target=self.process.wait, daemon=True).start()  # reap it when it exits

    def events(self, poll_seconds: float = 0.25) -> Iterator[dict[str, Any] | None]:
        """Messages as they come; yields None every `poll_seconds` when there is nothing new (so a caller
        can yield to the page and notice a cancellation); ends when the worker's output ends."""
        while True:
            try:
                message = self.messages.get(timeout=poll_seconds)
            except queue.Empty:
                yield None
                continue
            if message is None:
                if self.process.poll() is None:
                    self.process.wait(5)
                if self.process.returncode not in (0, None):
                    tail = [line for line in self.stderr_tail if line.strip()][-2:]
                    yield {"type": "error", "message": f"the training process ended with code "
                           f"{self.process.returncode}" + (": " + " / ".join(tail) if tail else "")}
                return
            yield message


class WorkerPool:
    """Keeps one worker started ahead of time, so pressing Start does not wait for torch to import."""

    def __init__(self, threads: int | None = None, prewarm: bool = True) -> None:
        self.threads = threads
        self.prewarm = prewarm
        self._spare: Worker | None = None
        self._lock = threading.Lock()

    def warm(self, wait_seconds: float = 0.0) -> None:
        """Start a spare worker if there is none; optionally wait until it has imported everything."""
        with self._lock:
            if self._spare is None or not self._spare.alive():
                self._spare = Worker(self.threads)
            spare = self._spare
        if wait_seconds:
            spare.ready.wait(wait_seconds)

    def take(self) -> Worker:
        with self._lock:
            worker = self._spare if self._spare is not None and self._spare.alive() else None
            self._spare = None
        if worker is None:
            worker = Worker(self.threads)
        # The next spare is started when this run ends (see the Train tab), not now: importing torch
        # alongside a starting run would slow the run's first seconds, the ones a class watches.
        return worker

    def shutdown(self) -> None:
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.close()


def decode_png(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


if __name__ == "__main__":
    sys.exit(worker_main())
