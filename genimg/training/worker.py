"""A training run in its own process, so the page stays responsive and the run gets its own CPU threads.

The page starts `python -m genimg.training.worker` ahead of time (importing torch takes seconds), then
hands it one `Job`. The worker streams the engine's events back, and stops cleanly (saving a checkpoint)
when it reads `Stop` or when stdin closes, which is what happens if the page's process dies. A crash
in a run can never take the page down with it.

Both directions speak typed messages, one JSON object a line, named by "type" (the class's name):
    worker → page  WorkerReady                      imports done, waiting for a job
    page → worker  Job                              the TrainConfig and where to read and keep things
    worker → page  Started, Progress, Samples, ...  the engine's own event classes (a grid as PNG)
    worker → page  WorkerWarning / WorkerFailed     a replay step not kept / a setup problem, in plain words
    page → worker  Stop
`decode_event` turns a worker's line back into the same event class the engine yielded (a grid into a
uint8 array, a config into a TrainConfig), so the page consumes the events exactly as the CLI does; a
line it cannot read raises WorkerError, naming what was wrong.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import io
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, Union

import numpy as np
from PIL import Image

from genimg.config import (
    ALLOCATOR_SETTINGS,  # glibc settings that speed up small-tensor training (genimg/__main__.py)
    PROJECT_ROOT,
    TrainConfig,
)
from genimg.training.engine import (
    CheckpointSaved,
    Diverged,
    EpochEnd,
    Event,
    Finished,
    Progress,
    Samples,
    Started,
    Stopped,
)

READY_TIMEOUT_S = 120.0
PROGRESS_INTERVAL_S = 0.1


class WorkerError(RuntimeError):
    """The worker could not be started, or sent (or was sent) a line that is not a message of this protocol."""


# ---------------------------------------------------------------------------------------------- messages
@dataclass(frozen=True)
class WorkerReady:
    """The worker has imported everything and waits for its job."""


@dataclass(frozen=True)
class WorkerWarning:
    """Something the run went on without, in plain words (e.g. a saved step that could not be kept for replay)."""

    message: str


@dataclass(frozen=True)
class WorkerFailed:
    """The run could not start or broke off, in plain words (bad settings, an unreadable upload, a crash)."""

    message: str


@dataclass(frozen=True)
class Job:
    """What the page asks a worker to train.

    resume: a run folder to continue from; upload: a .zip of the user's pictures to train on instead of
    `config.dataset`; snapshots: a folder where each saved step is also kept for the replay; threads:
    the run's CPU threads; classes_from_data: take the number of classes from the upload's sub-folders.
    quota_bytes, budget_bytes: the workspace's share and the installation's disk budget, enforced before each
    checkpoint when `config.out` is a workspace's run folder (Workspaces.job_limits(); when None, the
    worker reads GENIMG_QUOTA_MB and GENIMG_DISK_BUDGET_MB like the page does).
    """

    config: TrainConfig
    resume: str | None = None
    upload: str | None = None
    snapshots: str | None = None
    threads: int | None = None
    classes_from_data: bool = False
    quota_bytes: int | None = None
    budget_bytes: int | None = None

    def to_json(self) -> str:
        return encode_message(self)

    @classmethod
    def from_json(cls, line: str) -> Job:
        return _decode_as(line, cls)


@dataclass(frozen=True)
class Stop:
    """Save a checkpoint at the next step and end the run."""

    def to_json(self) -> str:
        return encode_message(self)

    @classmethod
    def from_json(cls, line: str) -> Stop:
        return _decode_as(line, cls)


# What Worker.events yields: the engine's events and the worker's own words about the run.
WorkerEvent = Event | WorkerFailed | WorkerWarning
# Every message a worker may send, and every one the page may send it, by the name on the wire.
EVENT_TYPES: dict[str, type] = {cls.__name__: cls for cls in (
    Started, Progress, EpochEnd, Samples, CheckpointSaved, Finished, Stopped, Diverged,
    WorkerReady, WorkerWarning, WorkerFailed)}
CONTROL_TYPES: dict[str, type] = {cls.__name__: cls for cls in (Job, Stop)}
# Fields that stay in the worker: Started.sampling_network is a live network, not part of the event's value.
_LOCAL_FIELDS = {"sampling_network"}


def encode_message(message: Any) -> str:
    """One message (an engine event, a worker message, a Job or Stop) as a JSON line without the newline.
    A grid travels as base64 PNG, a TrainConfig as its dict; NaN and infinities as JSON's NaN / Infinity."""
    encoded: dict[str, Any] = {"type": type(message).__name__}
    for item in dataclasses.fields(message):
        if item.name in _LOCAL_FIELDS:
            continue
        value = getattr(message, item.name)
        if isinstance(value, np.ndarray):
            from genimg.data.imaging import png_bytes

            value = base64.b64encode(png_bytes(value)).decode("ascii")
        elif isinstance(value, TrainConfig):
            value = value.to_dict()
        encoded[item.name] = value
    return json.dumps(encoded, allow_nan=True)


def decode_event(line: str) -> Event | WorkerReady | WorkerFailed | WorkerWarning:
    """A worker's line back as the class it was sent as: an engine event (Samples.grid a uint8 array,
    Started.config a TrainConfig) or a worker message. Raises WorkerError for anything else."""
    return _decode(line, EVENT_TYPES, "the training process")


def decode_control(line: str) -> Job | Stop:
    """A page's line to the worker back as a Job or Stop. Raises WorkerError for anything else."""
    return _decode(line, CONTROL_TYPES, "the page")


def _decode_as(line: str, cls: type) -> Any:
    message = _decode(line, CONTROL_TYPES, "the page")
    if not isinstance(message, cls):
        raise WorkerError(f"expected a {cls.__name__} message, got {type(message).__name__}")
    return message


def _shown(text: str) -> str:
    """At most 80 characters of a line or value, for an error message."""
    return text if len(text) <= 80 else text[:77] + "..."


def _decode(line: str, known: dict[str, type], sender: str) -> Any:
    try:
        message = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError):
        raise WorkerError(f"{sender} sent a line that is not JSON: {_shown(repr(line))}") from None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise WorkerError(f"{sender} sent a message without a \"type\": {_shown(repr(line))}")
    kind = message.pop("type")
    cls = known.get(kind)
    if cls is None:
        raise WorkerError(f"{sender} sent a message of unknown type {kind!r}; known types: {sorted(known)}")
    hints = _field_types(cls)
    fields = {item.name: item for item in dataclasses.fields(cls) if item.init and item.name not in _LOCAL_FIELDS}
    unknown = sorted(set(message) - set(fields))
    if unknown:
        raise WorkerError(f"{sender} sent a {kind} with unknown field(s) {unknown}; its fields are {sorted(fields)}")
    values = {}
    for name, item in fields.items():
        if name in message:
            values[name] = _field_value(message[name], hints[name], f"{kind}.{name}", sender)
        elif item.default is dataclasses.MISSING and item.default_factory is dataclasses.MISSING:
            raise WorkerError(f"{sender} sent a {kind} without its {name!r}")
    return cls(**values)


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """A message class's field types, resolved once (its module writes them as strings)."""
    return typing.get_type_hints(cls)


def _field_value(value: Any, hint: Any, where: str, sender: str) -> Any:
    """`value` read from JSON as the field's type `hint` says, or a WorkerError naming the field."""
    try:
        return _convert(value, hint)
    except (TypeError, ValueError, OSError) as error:
        detail = f": {error}" if str(error) else ""
        raise WorkerError(f"{sender} sent {where} = {_shown(repr(value))}; expected {_type_name(hint)}"
                          f"{detail}") from None


def _convert(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option)
            except (TypeError, ValueError, OSError):
                continue
        raise TypeError("")
    if hint is type(None):
        if value is None:
            return None
        raise TypeError("")
    if hint is bool or hint is str:
        if isinstance(value, hint):
            return value
        raise TypeError("")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise TypeError("")
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise TypeError("")
    if origin is dict:
        key_type, item_type = typing.get_args(hint)
        if not isinstance(value, dict):
            raise TypeError("")
        return {_convert(key, key_type): _convert(item, item_type) for key, item in value.items()}
    if hint is np.ndarray:  # a grid: base64 PNG → uint8 (H, W) or (H, W, 3)
        if not isinstance(value, str):
            raise TypeError("")
        return _decode_png(value)
    if hint is TrainConfig:
        from genimg.config import ConfigError

        try:
            return TrainConfig.from_dict(value)
        except ConfigError as error:
            raise ValueError(str(error)) from None
    raise TypeError(f"no JSON form for {_type_name(hint)}")


_TYPE_NAMES = {int: "a whole number", float: "a number", str: "a string", bool: "true or false", type(None): "null",
               np.ndarray: "a base64 PNG", TrainConfig: "a TrainConfig object"}


def _type_name(hint: Any) -> str:
    """A field's type in an error's words: 'a string or null', 'an object mapping a string to a number'."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(option) for option in typing.get_args(hint))
    if origin is dict:
        key_type, item_type = typing.get_args(hint)
        return f"an object mapping {_type_name(key_type)} to {_type_name(item_type)}"
    return _TYPE_NAMES.get(hint, getattr(hint, "__name__", str(hint)))


def _decode_png(text: str) -> np.ndarray:
    try:
        picture = Image.open(io.BytesIO(base64.b64decode(text.encode("ascii"), validate=True)))
        picture.load()
    except (ValueError, OSError, Image.DecompressionBombError) as error:
        raise ValueError(f"not a PNG image ({type(error).__name__})") from None
    if picture.mode not in ("L", "RGB"):
        raise ValueError(f"a grid must be grey (L) or colour (RGB), not {picture.mode}")
    return np.asarray(picture)


# ------------------------------------------------------------------------------------------ worker side
def _disk_guard(job: Job, config: TrainConfig) -> tuple[Any, contextlib.AbstractContextManager]:
    """For a run in a workspace: the engine's disk guard (the workspace's share and the installation's budget,
    checked before each checkpoint) and a context that holds the workspace busy so that making room for
    others never evicts it; (None, a no-op context) for a run elsewhere (the CLI's)."""
    from genimg.store.workspace import Workspace, Workspaces, workspace_of_run

    place = workspace_of_run(config.out) if config.out else None
    if place is None:
        return None, contextlib.nullcontext()
    root, workspace_id = place
    workspaces = Workspaces(root, quota_bytes=job.quota_bytes, budget_bytes=job.budget_bytes)
    workspace = Workspace(root, workspace_id, token="")  # the page checked the token; the worker never signs
    return workspaces.disk_guard(workspace, Path(config.out)), workspaces.writing(workspace)


def _snapshot(checkpoint: str, snapshots: Path, step: int) -> None:
    """Keep this saved step as an explorable checkpoint of its own (weights only, hard-linked when possible)."""
    from genimg.store.workspace import copy_checkpoint

    copy_checkpoint(Path(checkpoint), snapshots / f"step-{step:08d}")


def worker_main(commands: TextIO | None = None, output: TextIO | None = None) -> int:
    """Run one job read from `commands` (stdin), sending its events to `output` (stdout); 0 when the run
    ended (finished, stopped or diverged), 1 when it failed."""
    if output is None:
        output = sys.stdout
        sys.stdout = sys.stderr  # a library's stray print must not garble the event stream
    commands = commands if commands is not None else sys.stdin
    output_lock = threading.Lock()

    def emit(message: Any) -> None:
        line = encode_message(message)
        with output_lock:
            output.write(line + "\n")
            output.flush()

    import torch

    from genimg.config import ConfigError
    from genimg.data.datasets import DatasetError
    from genimg.store.checkpoint import CheckpointError
    from genimg.training.engine import train

    emit(WorkerReady())
    line = commands.readline()
    if not line.strip():
        return 0
    try:
        job = decode_control(line)
    except WorkerError as error:
        emit(WorkerFailed(f"the training process could not read its job: {error}"))
        return 1
    if isinstance(job, Stop):
        return 0
    stop = threading.Event()

    def watch_commands() -> None:
        for command in commands:  # EOF (the page went away) ends the loop, and the run stops too
            try:
                if isinstance(decode_control(command), Stop):
                    break
            except WorkerError as error:
                print(f"genimg worker: ignored a line from the page: {error}", file=sys.stderr, flush=True)
        stop.set()

    threading.Thread(target=watch_commands, daemon=True).start()
    if job.threads:
        torch.set_num_threads(job.threads)
    try:
        config = job.config
        data = None
        if job.upload:
            from genimg.data.uploads import load_zip

            data = load_zip(job.upload, image_size=config.model.image_size, channels=config.model.channels)
            if job.classes_from_data:
                if data.labels is None:
                    raise ConfigError("a conditional model needs classes: put your pictures in one sub-folder per "
                                      "class (at least two) before zipping, or choose an unconditional model")
                config = config.replace(model=dataclasses.replace(config.model, num_classes=data.num_classes))
        snapshots = Path(job.snapshots) if job.snapshots else None
        pending: Progress | None = None  # the latest Progress not yet sent
        last_progress = 0.0
        guard, writing = _disk_guard(job, config)
        with writing:
            for event in train(config, data=data, resume=job.resume, stop=stop, disk_guard=guard):
                if isinstance(event, Progress):
                    # On a GPU a run can report hundreds of times a second; the page shows at most a few updates
                    # a second, so send at most ten reports a second (each the mean over its last few steps).
                    pending = event
                    if time.monotonic() - last_progress < PROGRESS_INTERVAL_S:
                        continue
                if pending is not None:
                    emit(pending)
                    pending, last_progress = None, time.monotonic()
                if isinstance(event, Progress):
                    continue
                emit(event)
                if snapshots is not None and isinstance(event, CheckpointSaved):
                    try:
                        _snapshot(event.path, snapshots, event.step)
                    except OSError as error:  # a full disk costs the replay step, never the run's checkpoint
                        emit(WorkerWarning(f"step {event.step} could not be kept for replay: {error}"))
    except (ConfigError, DatasetError, CheckpointError, ValueError, OSError) as error:
        emit(WorkerFailed(str(error)))
        return 1
    except Exception as error:  # noqa: BLE001 - anything else is a bug, but the page must still hear about it
        emit(WorkerFailed(f"the training run failed: {type(error).__name__}: {error}"))
        return 1
    return 0


# -------------------------------------------------------------------------------------------- page side
class Worker:
    """One worker process from the page's side: start it, give it a job, read its events, stop it."""

    def __init__(self, threads: int | None = None, command: list[str] | None = None) -> None:
        """Start the process: `python -m genimg.training.worker`, or `command` (tests start stand-ins)."""
        environment = {**os.environ, **ALLOCATOR_SETTINGS, "PYTHONUNBUFFERED": "1"}
        if threads:
            environment["OMP_NUM_THREADS"] = str(threads)
        root = PROJECT_ROOT
        environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), environment.get("PYTHONPATH")]))
        self.process = subprocess.Popen(
            command or [sys.executable, "-m", "genimg.training.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, bufsize=1, env=environment, cwd=str(root))
        # Events as they arrive; a WorkerError for a line that could not be read; None at the end.
        self.messages: queue.Queue[WorkerEvent | WorkerError | None] = queue.Queue()
        self.ready = threading.Event()
        self.stderr_tail: list[str] = []
        self._stop_requested = False  # Stop pressed before the job was sent: sent right after it
        self._submitted = False
        self._send_lock = threading.Lock()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if not line.strip():
                continue
            try:
                message = decode_event(line)
            except WorkerError as error:
                self.messages.put(error)
                continue
            if isinstance(message, WorkerReady):
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

    def submit(self, job: Job) -> None:
        """Send the job once the process is ready (it imports torch first); a Stop asked meanwhile follows it."""
        if not self.ready.wait(READY_TIMEOUT_S) or not self.alive():
            raise WorkerError("the training process did not start: " + " / ".join(self.stderr_tail[-3:]))
        with self._send_lock:
            self._send(job.to_json())
            self._submitted = True
            if self._stop_requested:
                self._send(Stop().to_json())

    def _send(self, line: str) -> None:
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except (BrokenPipeError, OSError, ValueError):
            pass

    def stop(self) -> None:
        """Ask the run to save and end; returns at once. Works at any moment: before the job is sent (the Stop
        follows the job, and the run ends before its first step), while data loads, during a step."""
        with self._send_lock:
            self._stop_requested = True
            if self._submitted:
                self._send(Stop().to_json())

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

    def events(self, poll_seconds: float = 0.25) -> Iterator[WorkerEvent | None]:
        """The run's events as they come: the engine's event classes, WorkerWarning, and WorkerFailed (also
        when the process exits with an error). Yields None every `poll_seconds` when there is nothing new
        (so a caller can yield to the page and notice a cancellation); ends when the worker's output ends.
        Raises WorkerError when the worker sent a line that is not an event."""
        while True:
            try:
                message = self.messages.get(timeout=poll_seconds)
            except queue.Empty:
                yield None
                continue
            if isinstance(message, WorkerError):
                raise message
            if message is None:
                if self.process.poll() is None:
                    self.process.wait(5)
                if self.process.returncode not in (0, None):
                    tail = [line for line in self.stderr_tail if line.strip()][-2:]
                    yield WorkerFailed(f"the training process ended with code {self.process.returncode}"
                                       + (": " + " / ".join(tail) if tail else ""))
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


# ---------------------------------------------------------------------------------------------- the queue
class QueueRefused(Exception):
    """A training job was not let into the queue. `key` names the message for the page (genimg/store/limits.py:
    "limits.queue_full" with `minutes`, or "limits.one_job"); str() says it in English."""

    def __init__(self, key: str, minutes: int | None = None) -> None:
        self.key, self.minutes = key, minutes
        from genimg.store.limits import ENGLISH

        super().__init__(ENGLISH[key].format(minutes=minutes))


class Ticket:
    """One training job's place: waiting in line (position >= 1), running (0), or gone (ended, stopped, abandoned).

    The page's handler waits for its turn with `wait()`, attaches the worker once it has one, and calls
    `release()` when the run is over (in a `finally`); Stop calls `stop()` at any moment."""

    def __init__(self, queue: TrainingQueue, workspace: str, address: str,
                 reading: Callable[[], bool] | None) -> None:
        self.queue, self.workspace, self.address, self.reading = queue, workspace, address, reading
        self.state = "waiting"
        self.started_at: float | None = None
        self.stopped = False    # the user pressed Stop
        self.abandoned = False  # the page stopped reading for longer than the grace
        self.unread_since: float | None = None
        self.worker: Any = None

    @property
    def position(self) -> int:
        """0 while running, 1 for the first in line, ...; -1 once gone."""
        return self.queue.position(self)

    def wait(self, poll_seconds: float = 0.5) -> Iterator[int]:
        """Yields this ticket's place in line every `poll_seconds` while it waits (so the page can show it and
        notice a closed tab); ends when it may run, or at once when it was stopped or abandoned."""
        while True:
            position = self.position
            if position <= 0:
                return
            yield position
            time.sleep(poll_seconds)

    @property
    def may_run(self) -> bool:
        return self.position == 0

    def attach(self, worker: Any) -> None:
        """The worker that runs this job (anything with stop()); a Stop pressed before it existed reaches it."""
        with self.queue.lock:
            self.worker = worker
            stop = self.stopped or self.abandoned
        if stop:
            worker.stop()

    def stop(self) -> None:
        """Stop pressed: leave the line, or stop the run (also one whose worker is still starting)."""
        with self.queue.lock:
            self.stopped = True
            worker = self.worker
            self.queue._leave(self, running_stays=True)
        if worker is not None:
            worker.stop()

    def release(self) -> None:
        """The run is over (or never started): its slot or place goes to the next in line."""
        with self.queue.lock:
            self.queue._leave(self, running_stays=False)


def stream_reader(request: Any, most_unread: int = 40) -> Callable[[], bool]:
    """For TrainingQueue.enter(reading=...): whether the page that sent Gradio's `request` still reads its event
    stream, i.e. fewer than `most_unread` of the handler's updates wait unsent (a page that joined the queue and
    never listens, or stopped listening, lets them pile up; a closed tab ends the handler on its own).

    Reads Gradio's queue of messages per session (measured with Gradio 6.31); where that is not there, it
    answers True (the page keeps its place), so a Gradio upgrade cannot make honest users lose theirs."""
    session = getattr(request, "session_hash", None)
    try:
        messages = request.request.app.get_blocks()._queue.pending_messages_per_session
    except AttributeError:
        return lambda: True

    def reading() -> bool:
        pending = messages.get(session) if session is not None else None
        try:
            return pending is None or pending.qsize() < most_unread
        except AttributeError:
            return True

    return reading


class TrainingQueue:
    """A fair line for training runs, shared by every visitor of one page.

    `slots` runs at a time; at most `length` wait (GENIMG_QUEUE_LENGTH; QueueRefused "limits.queue_full" with
    the minutes until a place is likely free, from `run_seconds`, the longest a run may take); at most
    `per_address` jobs waiting or running per client address (GENIMG_JOBS_PER_ADDRESS) and one per workspace (QueueRefused "limits.one_job"), so one visitor
    cannot fill the line. A job whose page stops reading (its `reading()` false) for `grace_seconds` gives
    up its place, or is stopped if it runs. Thread-safe; `clock` is injectable for tests."""

    def __init__(self, slots: int = 1, length: int | None = None, *, run_seconds: float = 900.0,
                 per_address: int | None = None, grace_seconds: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        from genimg.store.limits import jobs_per_address, queue_length

        self.slots, self.length = slots, length if length is not None else queue_length()
        per_address = per_address if per_address is not None else jobs_per_address()
        if self.slots < 1 or self.length < 0 or per_address < 1 or not run_seconds > 0:
            raise ValueError(f"a training queue needs slots >= 1, length >= 0, per_address >= 1 and run_seconds > 0; "
                             f"got {slots!r}, {length!r}, {per_address!r}, {run_seconds!r}")
        self.run_seconds, self.per_address, self.grace_seconds, self.clock = (
            run_seconds, per_address, grace_seconds, clock)
        self.lock = threading.RLock()
        self.running: list[Ticket] = []
        self.waiting: list[Ticket] = []

    def enter(self, workspace: str, address: str | None,
              reading: Callable[[], bool] | None = None) -> Ticket:
        """A place for a workspace's job from a client address, running at once if a slot is free; `reading`
        tells whether the page still reads the job's stream. Raises QueueRefused."""
        address = address or "unknown"
        with self.lock:
            self._update()
            tickets = self.running + self.waiting
            if any(ticket.workspace == workspace for ticket in tickets) or (
                    sum(ticket.address == address for ticket in tickets) >= self.per_address):
                raise QueueRefused("limits.one_job")
            if len(self.running) >= self.slots and len(self.waiting) >= self.length:
                raise QueueRefused("limits.queue_full", self._minutes_until_a_place())
            ticket = Ticket(self, workspace, address, reading)
            self.waiting.append(ticket)
            self._update()
            return ticket

    def position(self, ticket: Ticket) -> int:
        with self.lock:
            self._update()
            if ticket in self.running:
                return 0
            if ticket in self.waiting:
                return self.waiting.index(ticket) + 1
            return -1

    def ticket_of(self, workspace: str) -> Ticket | None:
        """The workspace's job waiting or running, for its Stop button."""
        with self.lock:
            return next((ticket for ticket in self.running + self.waiting if ticket.workspace == workspace), None)

    def _minutes_until_a_place(self) -> int:
        now = self.clock()
        left = [max(0.0, ticket.started_at + self.run_seconds - now) for ticket in self.running
                if ticket.started_at is not None]
        return max(1, math.ceil((min(left) if left else self.run_seconds) / 60))

    def _leave(self, ticket: Ticket, running_stays: bool) -> None:
        """Take `ticket` out of the line; a running one keeps its slot until released when `running_stays`
        (its worker is still saving), and every ticket leaves on release."""
        if ticket in self.waiting:
            self.waiting.remove(ticket)
        elif ticket in self.running and not running_stays:
            self.running.remove(ticket)
        if not running_stays or ticket.state == "waiting":
            ticket.state = "ended"
        self._promote()

    def _update(self) -> None:
        """Give up the places of pages that stopped reading, then fill free slots from the head of the line."""
        now = self.clock()
        for ticket in self.running + self.waiting:
            if ticket.reading is None or ticket.abandoned:
                continue
            try:
                reading = bool(ticket.reading())
            except Exception:  # noqa: BLE001 - a probe that fails says nothing about the page: keep the place
                reading = True
            if reading:
                ticket.unread_since = None
            elif ticket.unread_since is None:
                ticket.unread_since = now
            elif now - ticket.unread_since > self.grace_seconds:
                ticket.abandoned = True
                if ticket in self.waiting:
                    self.waiting.remove(ticket)
                    ticket.state = "ended"
                elif ticket.worker is not None:
                    ticket.worker.stop()  # the run saves and ends; its handler releases the slot
        self._promote()

    def _promote(self) -> None:
        while len(self.running) < self.slots and self.waiting:
            ticket = self.waiting.pop(0)
            ticket.state, ticket.started_at = "running", self.clock()
            self.running.append(ticket)


if __name__ == "__main__":
    sys.exit(worker_main())
