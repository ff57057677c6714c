"""Two of a visitor's runs side by side (the Train tab's "Compare two runs"): curves kept in each run's folder, its latest grid.

A run folder (genimg/store/workspace.py) holds the run's checkpoint: config.json (step, training seconds, images/s at
the last save) and samples.png (the grid at that save), but not the loss curves, which live in the page's RunView while
the run streams. So the Train tab writes the curves beside the checkpoint (curves.json, at each checkpoint and when the
run ends) and a comparison reads them back: runs survive a reload, a second tab and a server restart. Everything read
from a run folder is read defensively (no symbolic link followed, a size cap, shapes checked), since the folder is on a
shared server; a run is only ever named by its folder name, checked against the visitor's own workspace.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image

from genimg.store import safejson
from genimg.store.checkpoint import CheckpointError, read_config, read_model_file
from genimg.store.workspace import Workspace, WorkspaceError
from genimg.training.runview import MAX_POINTS, CurvePoint, append_thinned, ema_smooth
from genimg.ui.i18n import message, register

CURVES_FILE_NAME = "curves.json"
CURVES_FORMAT = 1
MAX_CURVES_BYTES = 2 * 2**20  # MAX_POINTS reports of a few values each take about 100 KB
MAX_GRID_BYTES = 16 * 2**20   # as copy_checkpoint reads a checkpoint's samples.png
MAX_RUNS_LISTED = 50          # the newest runs offered; a workspace's disk share keeps far fewer in practice
# Workspace.new_run names every run so: run-YYYYMMDD-HHMMSS-xxxx. Nothing else names a run here.
RUN_NAME = re.compile(r"run-(\d{8})-(\d{6})-[0-9a-f]{4}")
# Each quantity a run reports, by family, in the order the charts show them (the engine's loss names).
QUANTITIES = {"gan": ("generator", "discriminator", "d_real", "d_fake"),
              "vae": ("neg_elbo", "reconstruction", "kl"),
              "flow": ("loss", "loss_near_noise", "loss_middle", "loss_near_picture")}
ALL_QUANTITIES = tuple(key for keys in QUANTITIES.values() for key in keys)
# What a caption says of a run's settings (the training config's, latent_dim the model's): what a class changes
# between two runs it compares.
SETTINGS_SHOWN = ("lr_generator", "lr_discriminator", "beta", "batch_size", "latent_dim")

register(
    {"train.compare": "Compare two runs", "train.compare_first": "First run", "train.compare_second": "Second run",
     "train.compare_button": "Compare",
     "train.compare_intro": "Pick two of your runs (newest first): their curves share one chart per quantity, and "
                            "their latest samples sit side by side.",
     "train.compare_grid_first": "Latest samples of the first run",
     "train.compare_grid_second": "Latest samples of the second run"},
    {"train.compare": "比较两次训练", "train.compare_first": "第一次训练", "train.compare_second": "第二次训练",
     "train.compare_button": "比较",
     "train.compare_intro": "选两次你的训练（最新的在前）：每个量的曲线画在同一张图上，最新的样本并排显示。",
     "train.compare_grid_first": "第一次训练的最新样本", "train.compare_grid_second": "第二次训练的最新样本"},
)
# Sentences of a comparison, as the Train tab's messages (train.msg.<key>, worded by its `say`): (English, Chinese).
MESSAGES = {
    "compare_choose": ("pick a run in both lists", "请在两个列表中各选一次训练"),
    "compare_unknown": ("{run} is not one of your runs; pick one from the list",
                        "{run} 不是你的训练；请从列表中选择"),
    "compare_empty": ("{run} has no saved checkpoint yet; let it train a little longer or pick another run",
                      "{run} 还没有保存检查点；让它再训练一会儿，或选另一次训练"),
    "compare_refused": ("Not compared: {error}", "未能比较：{error}"),
    "compare_no_workspace": ("this page has no workspace yet; reload it", "此页面还没有工作区；请重新加载页面"),
    "compare_none": ("No runs to compare yet: train one with **Start** (your runs stay here after a reload).",
                     "还没有可比较的训练：点 **开始** 训练一次（重新加载页面后你的训练仍在这里）。"),
    "compare_one": ("Only one run so far: train another one to compare the two.",
                    "目前只有一次训练：再训练一次即可比较两者。"),
    "compare_same": ("The same run is chosen twice: pick two different runs.", "两个列表选了同一次训练：请选两次不同的训练。"),
    "compare_choice": ("{title} · {when} · step {step}", "{title} · {when} · 第 {step} 步"),
    "compare_this_tab": ("{label} · in this tab", "{label} · 本页的训练"),
    "compare_when": ("{day} {month} {time}", "{month}{day}日 {time}"),  # month: "Dec" / "12月"
    "compare_series": ("{number} · {model} {time}", "{number} · {model} {time}"),
    "compare_only": ("only run {number} (a {family} does not report it)", "只有训练 {number}（{family} 不报告这个量）"),
    "compare_families": (("The two runs are of different model families ({first} and {second}): they share no "
                          "quantity, so each chart shows the one run that reports it."),
                         "两次训练属于不同的模型类别（{first} 和 {second}）：没有共同的量，所以每张图只显示报告该量的那次训练。"),
    "compare_no_curves": (("Run {number} has no stored curves (it trained before runs kept them): only its samples "
                           "are shown."), "训练 {number} 没有保存曲线（它训练时还不保存曲线）：只显示它的样本。"),
    "compare_smoothed": ("Curves smoothed as set above ({smoothing}).", "曲线按上方的设置平滑（{smoothing}）。"),
    "compare_caption": ("**{number} · {title}**: step {step} · {speed} images/s · {elapsed} of training",
                        "**{number} · {title}**：第 {step} 步 · 每秒 {speed} 张图片 · 训练用时 {elapsed}"),
    "compare_settings_gan": (("learning rates {lr_generator} (G) / {lr_discriminator} (D) · batch {batch_size} · latent "
                             "size {latent_dim}"),
                             "学习率 {lr_generator}（G）/ {lr_discriminator}（D）· 批大小 {batch_size} · 隐空间维度 {latent_dim}"),
    "compare_settings_vae": ("learning rate {lr_generator} · β {beta} · batch {batch_size} · latent size {latent_dim}",
                             "学习率 {lr_generator} · β {beta} · 批大小 {batch_size} · 隐空间维度 {latent_dim}"),
    "compare_settings_flow": ("learning rate {lr_generator} · batch {batch_size}", "学习率 {lr_generator} · 批大小 {batch_size}"),
    "compare_no_grid": ("no sample grid was saved with this run", "这次训练没有保存样本网格"),
}
register({f"train.msg.{key}": english for key, (english, _) in MESSAGES.items()},
         {f"train.msg.{key}": chinese for key, (_, chinese) in MESSAGES.items()})


class RunRefused(WorkspaceError):
    """A run choice refused: str() in English, `words(language)` in the visitor's language. `problem`: "choose" (none
    chosen), "unknown" (not one of this workspace's runs: a forged name, a path, another visitor's run) or "empty"
    (one of theirs without a checkpoint yet)."""

    def __init__(self, problem: str, shown: str = "") -> None:
        self.problem, self.shown = problem, shown
        super().__init__(self.words("en"))

    def words(self, language: str) -> str:
        return message(f"train.msg.compare_{self.problem}", language, run=self.shown)


def shown_value(value: Any) -> str:
    """A chosen value as a message may quote it: its repr, cut to 40 characters (a forged value can be anything)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "…"


def run_started(name: str) -> time.struct_time | None:
    """When a run started, from its folder name (run-YYYYMMDD-HHMMSS-xxxx), or None for any other name."""
    match = RUN_NAME.fullmatch(name)
    if match is None:
        return None
    try:
        return time.strptime(match.group(1) + match.group(2), "%Y%m%d%H%M%S")
    except ValueError:
        return None


def comparable_runs(workspace: Workspace | None) -> list[Path]:
    """The workspace's runs that can be compared (a readable checkpoint), newest first, at most MAX_RUNS_LISTED."""
    if workspace is None:
        return []
    runs = []
    for run in workspace.run_folders():
        if len(runs) >= MAX_RUNS_LISTED:
            break
        if RUN_NAME.fullmatch(run.name) and not run.is_symlink() and (run / "config.json").is_file():
            runs.append(run)
    return runs


def resolve_run(workspace: Workspace, value: Any) -> Path:
    """The run folder a dropdown's value names, or RunRefused: only the exact folder name of one of `workspace`'s own
    runs is accepted (never a path, whatever it points at)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RunRefused("choose")
    if not isinstance(value, str) or not RUN_NAME.fullmatch(value):
        raise RunRefused("unknown", shown_value(value))
    run = workspace.runs / value
    if not run.is_dir() or run.is_symlink() or not workspace.owns(run):
        raise RunRefused("unknown", shown_value(value))
    if not (run / "config.json").is_file():
        raise RunRefused("empty", shown_value(value))
    return run


# ------------------------------------------------------------------------------------------------ stored curves
def save_curves(run: Path, family: str, rows: list[CurvePoint]) -> None:
    """Keep a run's curves in its folder (curves.json), for comparing it after the page is gone. `rows`: the reports
    this page saw; reports already stored from before them (a run resumed after a reload starts a fresh view) are
    kept in front, and the whole is thinned to MAX_POINTS. Written atomically; raises OSError."""
    if not rows or family not in QUANTITIES:
        return
    earlier = [point for point in read_curves(run)[1] if point.step < rows[0].step]
    points: list[CurvePoint] = []
    for point in [*earlier, *rows]:
        append_thinned(points, point, MAX_POINTS)
    data = {"format": CURVES_FORMAT, "family": family,
            "points": [[point.step, {key: float(value) for key, value in point.values.items()
                                     if key in ALL_QUANTITIES and math.isfinite(float(value))}]
                       for point in points]}
    _write_atomic(run / CURVES_FILE_NAME, json.dumps(data, separators=(",", ":"), allow_nan=False).encode())


def _write_atomic(target: Path, payload: bytes) -> None:
    """Replace `target` with `payload` through a temporary file of the same folder, never following a link. Not
    checkpoint.write_file_atomic: its temporary names are the ones a training worker's next save clears from the same
    folder as leftovers (it cannot know this process is writing one), which would break a write in flight."""
    temporary = target.with_name(f".{target.name}-{secrets.token_hex(8)}.writing")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def read_curves(run: Path) -> tuple[str | None, list[CurvePoint]]:
    """A run's stored curves: (family, reports in step order), or (None, []) when it has none or they cannot be read
    (a damaged, oversized or linked file is treated as no curves: the comparison says so instead of failing)."""
    try:
        data = safejson.loads(read_model_file(run / CURVES_FILE_NAME, max_bytes=MAX_CURVES_BYTES, what="curves file"),
                              max_bytes=MAX_CURVES_BYTES, max_depth=4, allow_nan=False)
    except (FileNotFoundError, CheckpointError, safejson.SafeJSONError, OSError):
        return None, []
    if not isinstance(data, dict) or data.get("family") not in QUANTITIES or not isinstance(data.get("points"), list):
        return None, []
    points = []
    for item in data["points"][:MAX_POINTS]:
        if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], int) and isinstance(item[1], dict)):
            continue
        values = {key: float(value) for key, value in item[1].items()
                  if key in ALL_QUANTITIES and isinstance(value, (int, float)) and not isinstance(value, bool)
                  and math.isfinite(value)}
        points.append(CurvePoint(item[0], values))
    points.sort(key=lambda point: point.step)
    return data["family"], points


# ------------------------------------------------------------------------------------------------- a run's summary
@dataclass
class RunSummary:
    """What a comparison shows of one run: its folder name, model kind, whether it is conditional, dataset and family
    (from its checkpoint), step, training seconds and images/s at its last save, its latest grid (uint8 (H, W) or
    (H, W, 3), None without one), its stored curve reports and the settings that tell two runs apart."""

    name: str
    kind: str
    conditional: bool
    dataset: str
    family: str | None
    step: int
    elapsed_seconds: float | None
    images_per_second: float | None
    grid: np.ndarray | None = None
    points: list[CurvePoint] = field(default_factory=list)
    settings: dict[str, float] = field(default_factory=dict)  # SETTINGS_SHOWN that its config holds as numbers


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(
        value) else None


def summarize(run: Path, family_of: Any) -> RunSummary:
    """A run folder's summary. `family_of(kind)`: the family of a model kind ("gan", "vae", …; None when unknown).
    Raises CheckpointError when the run's config.json cannot be read."""
    config = read_config(run)
    model = config.get("model") if isinstance(config.get("model"), dict) else {}
    metrics = config.get("metrics") if isinstance(config.get("metrics"), dict) else {}
    kind = str(model.get("kind"))
    stored_family, points = read_curves(run)
    step = config.get("step")
    summary = RunSummary(name=run.name, kind=kind, conditional=bool(model.get("num_classes")),
                         dataset=str(config.get("dataset")), family=family_of(kind) or stored_family,
                         step=step if isinstance(step, int) and not isinstance(step, bool) else 0,
                         elapsed_seconds=_number(config.get("elapsed_seconds")),
                         images_per_second=_number(metrics.get("images_per_second")), points=points)
    training = config.get("training") if isinstance(config.get("training"), dict) else {}
    for name in SETTINGS_SHOWN:
        value = _number((model if name == "latent_dim" else training).get(name))
        if value is not None:
            summary.settings[name] = value
    try:
        with Image.open(io.BytesIO(read_model_file(run / "samples.png", max_bytes=MAX_GRID_BYTES,
                                                   what="sample grid"))) as picture:
            if picture.width * picture.height <= 4096 * 4096:  # a decompression bomb is not drawn
                summary.grid = np.asarray(picture.convert("RGB" if picture.mode not in ("L",) else "L"))
    except (FileNotFoundError, CheckpointError, OSError, ValueError, Image.DecompressionBombError):
        summary.grid = None
    return summary


def quantity_frame(key: str, runs: list[tuple[str, RunSummary]], smoothing: float) -> pd.DataFrame:
    """One chart's data in long format (step, value, series): quantity `key` of each (series name, run) that reports
    it, smoothed as the Train tab's curves are (`smoothing`, 0 = raw). Typed columns, also when empty."""
    rows: list[tuple[int, float, str]] = []
    for name, summary in runs:
        steps = [point.step for point in summary.points if key in point.values]
        values = [point.values[key] for point in summary.points if key in point.values]
        if smoothing > 0:
            values = ema_smooth(values, smoothing)
        rows.extend((step, value, name) for step, value in zip(steps, values, strict=True))
    frame = pd.DataFrame(rows, columns=["step", "value", "series"])
    return frame.astype({"step": "int64", "value": "float64", "series": "str"})
