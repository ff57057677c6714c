"""The state of a training run as the Train tab shows it, built by applying the engine's typed events.

A `RunView` holds what the page remembers about a tab's latest run: its loss curves and replay grids
(thinned to fixed caps so a long run stays bounded), the health monitor fed from its reports, its step,
speed and ETA, and a language-neutral `Status` (a message key and its values) that the page words in
the visitor's language. The page keeps one in gr.State, so it is a plain dataclass: deep-copyable, no
locks, no handles on processes.

    view = RunView(run="…/run-1", family="gan", title="DCGAN on Shapes")
    view.begin_session(config)
    for event in worker.events():           # the engine's events, decoded from the worker's lines
        view.apply(event)
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from genimg.config import TrainConfig
from genimg.store.workspace import STOPPED_FOR_BUDGET, STOPPED_FOR_DISK
from genimg.training.engine import (
    STOPPED_BY_USER,
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
from genimg.training.health import HealthMonitor
from genimg.training.worker import WorkerFailed, WorkerWarning

MAX_GRIDS = 400    # replay keeps at most this many sample grids (thinned evenly beyond it)
MAX_POINTS = 1000  # loss-curve points kept per run (thinned evenly beyond it)
# Weight of each new speed report in the smoothed speed the ETA is computed from (an exponential moving
# average over about 1 / SPEED_SMOOTHING reports, a few seconds at ten reports a second): one report's speed
# swings with data loading, sample grids and checkpoints, and an ETA from it jumped by minutes between updates.
SPEED_SMOOTHING = 0.1


@dataclass(frozen=True)
class Status:
    """What the run's status line says, without words: a message key (`starting`, `started`, `training`,
    `ended`, `diverged`, `failed`, or one the page sets itself) and the values its text is filled with.
    Numbers stay numbers (steps, seconds, images/s); the page formats and translates them."""

    key: str = ""
    values: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CurvePoint:
    """One report on the loss curves: the step and the mean of each reported value since the last one
    (generator / discriminator losses and D(x), D(G(z)) for a GAN; −ELBO, reconstruction and KL for a VAE)."""

    step: int
    values: dict[str, float]


@dataclass(frozen=True)
class ReplayGrid:
    """A sample grid kept for the replay: the step it was drawn at, the run's training seconds by then,
    and the picture, uint8 (H, W) for grey or (H, W, 3) for colour.

    The pixels are kept zlib-compressed: a tab keeps up to MAX_GRIDS of them for as long as its session
    lives, and a 274×274 colour grid of 64 samples takes 225 KB as pixels but about 45 KB compressed
    (about 3 ms to compress, 1 ms to read back, once per grid, every 1.5 s at most).
    """

    step: int
    elapsed_seconds: float
    shape: tuple[int, ...]
    compressed: bytes

    @classmethod
    def of(cls, step: int, elapsed_seconds: float, image: np.ndarray) -> ReplayGrid:
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise ValueError(f"a replay grid is a uint8 (H, W) or (H, W, 3) picture, not {image.dtype} "
                             f"{image.shape}")
        return cls(step, elapsed_seconds, image.shape, zlib.compress(np.ascontiguousarray(image).tobytes(), 1))

    @property
    def image(self) -> np.ndarray:
        """The picture, uint8 (H, W) or (H, W, 3), read-only."""
        return np.frombuffer(zlib.decompress(self.compressed), np.uint8).reshape(self.shape)


def append_thinned(items: list, item: Any, limit: int) -> None:
    """Append, and when over `limit` drop every other older item (keeping the first and the newest): the
    history stays bounded and still spans the whole run."""
    items.append(item)
    if len(items) > limit:
        del items[1:-1:2]


def eta_seconds(steps_left: int, batch_size: int, images_per_second: float,
                time_left: float | None = None) -> float | None:
    """Seconds until the run ends: the steps left at the current speed, or the time left before the run's
    time limit stops it if that comes sooner. None without a speed to go by.

    1,000 steps at batch 32 and 3,200 images/s take 10 s; with 4 s left before the limit, 4 s.
    """
    if images_per_second <= 0:
        return None
    eta = max(0, steps_left) * batch_size / images_per_second
    if time_left is not None:
        eta = min(eta, max(0.0, time_left))
    return eta


@dataclass
class RunView:
    """A tab's latest run as the page shows it. `apply` each event in order; the page reads the fields.

    run: the run's folder (None before a run was set up); family: "gan" or "vae" (picks the curves and
    the health checks); total / batch: the session's last step and batch size; time_limit_seconds: how
    long one session may train (the engine stops it then); elapsed_at_session_start: the run's training
    seconds when this session began (a resumed run brings its earlier time along).
    """

    run: str | None = None
    family: str = "gan"
    title: str = ""
    language: str = "en"
    total: int = 0
    batch: int = 64
    time_limit_seconds: float | None = None
    elapsed_at_session_start: float = 0.0
    step: int = 0
    images_per_second: float = 0.0
    smoothed_images_per_second: float = 0.0  # what the ETA goes by (SPEED_SMOOTHING)
    elapsed_seconds: float = 0.0
    rows: list[CurvePoint] = field(default_factory=list)
    grids: list[ReplayGrid] = field(default_factory=list)
    monitor: HealthMonitor | None = None  # None until a run is set up (then the page shows its alarms)
    status: Status = field(default_factory=Status)
    saved_step: int | None = None  # the newest step with a checkpoint on disk
    shown_grid: int | None = None  # the step of the newest grid the page has been sent
    warning: str | None = None     # the worker's latest warning (a replay step it could not keep)
    ended: bool = False            # the session's last event (an ending or a failure) has arrived
    quota_mb: float | None = None  # the workspace's disk share and the installation's budget, in MB, for the
    budget_mb: float | None = None  # message of a run stopped because the disk was full (the page sets them)

    # -- a session of training
    def begin_session(self, config: TrainConfig, family: str | None = None,
                      elapsed_before: float = 0.0) -> None:
        """Ready the view for a session that trains `config` (a new run, or more steps of this one).

        family: the model's family when known ("gan" or "vae"); it picks the health checks, and the
        monitor is started afresh if there is none yet or the family changed. elapsed_before: the run's
        training seconds so far (0 for a new run).
        """
        if family is not None and family != self.family:
            self.family, self.monitor = family, None
        if self.monitor is None:
            self.monitor = HealthMonitor(self.family)
        self.total, self.batch = config.steps, config.batch_size
        self.time_limit_seconds = config.max_seconds
        self.elapsed_at_session_start = self.elapsed_seconds = elapsed_before
        self.images_per_second = self.smoothed_images_per_second = 0.0
        self.ended = False

    # -- events
    def apply(self, event: Event | WorkerFailed | WorkerWarning) -> None:
        """Take one event of the run into the view: curves, grids, health, step, status."""
        if isinstance(event, Started):
            self.title = self.title or event.dataset
            self.total, self.batch = event.total_steps, event.config.batch_size
            self.time_limit_seconds = event.config.max_seconds
            self.images_per_second = self.smoothed_images_per_second = 0.0
            if event.resumed_from is not None:  # the checkpoint it resumed from is on disk
                self.saved_step = max(self.saved_step or 0, event.step)
            self.status = Status("started", {"title": self.title, "parameters": event.parameters,
                                             "images": event.dataset_size, "device": event.device,
                                             "precision": event.precision})
        elif isinstance(event, Progress):
            append_thinned(self.rows, CurvePoint(event.step, dict(event.losses)), MAX_POINTS)
            self.step = event.step
            self.images_per_second = event.images_per_second
            self._smooth_speed(event.images_per_second)
            self.elapsed_seconds = event.elapsed_seconds
            self._monitor().progress(event.step, event.losses, event.signals)
            self.status = Status("training", {"title": self.title, "speed": event.images_per_second,
                                              "elapsed": event.elapsed_seconds})
        elif isinstance(event, Samples):
            append_thinned(self.grids, ReplayGrid.of(event.step, self.elapsed_seconds, event.grid), MAX_GRIDS)
            self._monitor().samples(event.step, event.diversity)
        elif isinstance(event, CheckpointSaved):
            self.saved_step = event.step
        elif isinstance(event, (Finished, Stopped)):
            self.ended = True
            self.step = event.step
            reason = event.reason if isinstance(event, Stopped) else ""
            if reason.startswith(STOPPED_FOR_DISK):  # the workspace's share of the disk is full
                self.status = Status("disk_full", {"quota": _megabytes(self.quota_mb), "step": event.step,
                                                   "elapsed": event.elapsed_seconds})
            elif reason.startswith(STOPPED_FOR_BUDGET):  # the disk kept for all visitors is full
                self.status = Status("budget_full", {"budget": _megabytes(self.budget_mb), "step": event.step,
                                                     "elapsed": event.elapsed_seconds})
            else:
                why = "finished" if isinstance(event, Finished) else (
                    "by_user" if reason == STOPPED_BY_USER else "time_limit")
                self.status = Status("ended", {"why": why, "step": event.step, "elapsed": event.elapsed_seconds})
        elif isinstance(event, Diverged):
            self.ended = True
            self._monitor().diverged()
            self.status = Status("diverged", {"loss": event.loss_name, "value": event.value, "step": event.step,
                                              "kept": self.saved_step})
        elif isinstance(event, WorkerFailed):
            self.ended = True
            self.status = Status("failed", {"error": event.message})
        elif isinstance(event, WorkerWarning):
            self.warning = event.message
        elif not isinstance(event, EpochEnd):  # epochs are not shown
            raise TypeError(f"a run view cannot apply {type(event).__name__}; it takes the engine's events "
                            "and the worker's WorkerFailed / WorkerWarning")

    def _smooth_speed(self, images_per_second: float) -> None:
        """Fold one report's speed into the smoothed speed (the first report starts it; a report without a
        usable speed is skipped)."""
        if not (images_per_second > 0 and images_per_second < float("inf")):
            return
        if self.smoothed_images_per_second <= 0:
            self.smoothed_images_per_second = images_per_second
        else:
            self.smoothed_images_per_second += SPEED_SMOOTHING * (images_per_second - self.smoothed_images_per_second)

    def _monitor(self) -> HealthMonitor:
        if self.monitor is None:
            self.monitor = HealthMonitor(self.family)
        return self.monitor

    # -- what the page shows
    def eta(self) -> float | None:
        """Seconds until this session ends at its smoothed speed, capped by its time limit; None once it
        has ended or before its first report."""
        if self.ended or not self.step:
            return None
        time_left = None
        if self.time_limit_seconds is not None:
            time_left = self.time_limit_seconds - (self.elapsed_seconds - self.elapsed_at_session_start)
        return eta_seconds(self.total - self.step, self.batch, self.smoothed_images_per_second, time_left)

    def newest_grid_unshown(self) -> bool:
        """Whether a grid arrived since the page was last sent one; marks the newest as sent."""
        newest = self.grids[-1].step if self.grids else None
        unshown = newest != self.shown_grid
        self.shown_grid = newest
        return unshown

    def grid_position(self, index: int) -> int:
        """A replay slider's position clamped to the grids kept (0 when there are none)."""
        return min(max(0, index), max(0, len(self.grids) - 1))


def _megabytes(value: float | None) -> str:
    """A disk size in whole MB for a message ('?' when the page did not say it)."""
    return f"{value:.0f}" if value is not None else "?"


def ema_smooth(values: list[float], weight: float) -> list[float]:
    """A curve smoothed as TensorBoard does: an exponential moving average that keeps `weight` of the average
    and takes 1 − `weight` of each new value, debiased (divided by 1 − weight^n) so the first points are not
    pulled towards zero. weight 0 returns the values; NaN or infinite values are passed through unsmoothed
    and leave the average as it was. Same length as `values`.

    [1, 3] with weight 0.5: 1, then (0.5·1·0.5 + 0.5·3) / (1 − 0.25) = 2.33…
    """
    if not 0 <= weight < 1:
        raise ValueError(f"a smoothing weight is from 0 up to (not including) 1, not {weight!r}")
    smoothed, average, count = [], 0.0, 0
    for value in values:
        if not np.isfinite(value):
            smoothed.append(value)
            continue
        count += 1
        average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight ** count))
    return smoothed
