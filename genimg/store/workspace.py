"""Per-user workspaces for models trained in the page: runs, saved models, a disk quota, clean-up.

A workspace is a folder named by a random token that only its browser knows (kept in the browser's
local storage), so a user finds their models again after closing the tab, and nobody else can name
them. Layout:

    <root>/<token>/runs/<run id>/            the engine's checkpoint folder for one run (resumable)
    <root>/<token>/runs/<run id>/steps/step-N  each saved step, weights only, for replay → Explore
    <root>/<token>/models/<name>/             models saved with "Save as" (weights only), listed in Explore

Shipped checkpoints live elsewhere and are never written. Workspaces untouched for `ttl_hours` are
deleted, and each is held to `quota_bytes`.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from genimg.config import PROJECT_ROOT
from genimg.store.checkpoint import (
    CONFIG_FILE_NAME,
    CheckpointError,
    read_config,
    write_file_atomic,
)

TOKEN_PATTERN = re.compile(r"[A-Za-z0-9_-]{22,64}")  # always used with fullmatch: "$" would pass a final newline
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,39}$")
DEFAULT_ROOT = PROJECT_ROOT / "workspaces"
DEFAULT_QUOTA_MB = 300
DEFAULT_TTL_HOURS = 24.0


class WorkspaceError(ValueError):
    pass


def new_token() -> str:
    return secrets.token_urlsafe(18)  # 144 random bits: not guessable


def folder_size(folder: Path) -> int:
    """Bytes used under `folder` (hard-linked files counted once)."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for path in folder.rglob("*"):
        try:
            status = path.lstat()
        except OSError:
            continue
        if not path.is_file() or path.is_symlink() or (status.st_dev, status.st_ino) in seen:
            continue
        seen.add((status.st_dev, status.st_ino))
        total += status.st_size
    return total


def copy_checkpoint(source: Path, target: Path, card: str | None = None) -> Path:
    """Copy a checkpoint folder's explorable part (config, weights, sample grid) to `target`, without the
    optimiser state. Weights are hard-linked when possible: the engine never rewrites a weights file (each
    save writes a new step-stamped one), so a link is as safe as a copy and costs no space."""
    config = read_config(source)
    if target.exists():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    try:
        weights = str(config["weights"])
        try:
            os.link(source / weights, partial / weights)
        except OSError:
            shutil.copy2(source / weights, partial / weights)
        if (source / "samples.png").is_file():
            shutil.copy2(source / "samples.png", partial / "samples.png")
        config["training_state"] = None
        write_file_atomic(partial / CONFIG_FILE_NAME, (json.dumps(config, indent=2) + "\n").encode())
        if card:
            write_file_atomic(partial / "README.md", card.encode())
        partial.rename(target)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


@dataclass(frozen=True)
class Workspace:
    root: Path
    token: str

    @property
    def folder(self) -> Path:
        return self.root / self.token

    @property
    def runs(self) -> Path:
        return self.folder / "runs"

    @property
    def models(self) -> Path:
        return self.folder / "models"

    def touch(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        os.utime(self.folder)

    def new_run(self) -> Path:
        self.touch()
        run = self.runs / (time.strftime("run-%Y%m%d-%H%M%S-") + secrets.token_hex(2))
        run.mkdir(parents=True)
        return run

    def run_folders(self) -> list[Path]:
        """This workspace's runs, newest first."""
        if not self.runs.is_dir():
            return []
        return sorted((path for path in self.runs.iterdir() if path.is_dir()), key=lambda p: p.name, reverse=True)

    def model_folders(self) -> list[Path]:
        if not self.models.is_dir():
            return []
        return sorted(path for path in self.models.iterdir()
                      if path.is_dir() and not path.name.endswith(".partial") and (path / CONFIG_FILE_NAME).is_file())

    def model_path(self, name: str) -> Path:
        name = (name or "").strip()
        if not NAME_PATTERN.match(name):
            raise WorkspaceError(f"the name {name!r} is not accepted: use 1–40 letters, digits, spaces, '-', '_' "
                                 "or '.', starting with a letter or digit")
        return self.models / name

    def save_model(self, checkpoint: Path, name: str, card: str | None = None) -> Path:
        target = self.model_path(name)
        if target.exists():
            raise WorkspaceError(f"you already have a model named {name!r}; choose another name or delete that one")
        self.touch()
        return copy_checkpoint(checkpoint, target, card)

    def delete_model(self, name: str) -> None:
        target = self.model_path(name)
        if not target.is_dir():
            raise WorkspaceError(f"there is no model named {name!r} in your workspace")
        shutil.rmtree(target)

    def used_bytes(self) -> int:
        return folder_size(self.folder) if self.folder.is_dir() else 0

    def owns(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.folder.resolve())
        except ValueError:
            return False
        return True


class Workspaces:
    """The folder holding every workspace, with its quota and time-to-live."""

    def __init__(self, root: str | os.PathLike | None = None, quota_bytes: int | None = None,
                 ttl_hours: float | None = None) -> None:
        self.root = Path(root or os.environ.get("GENIMG_WORKSPACES") or DEFAULT_ROOT).resolve()
        megabytes = float(os.environ.get("GENIMG_QUOTA_MB", DEFAULT_QUOTA_MB))
        self.quota_bytes = quota_bytes if quota_bytes is not None else int(megabytes * 2**20)
        self.ttl_seconds = 3600.0 * (ttl_hours if ttl_hours is not None
                                     else float(os.environ.get("GENIMG_WORKSPACE_TTL_HOURS", DEFAULT_TTL_HOURS)))

    def get(self, token: str | None) -> Workspace:
        """The workspace for a browser's token; a malformed token is refused (it could name a path)."""
        if not isinstance(token, str) or not TOKEN_PATTERN.fullmatch(token):
            raise WorkspaceError("this page has no valid workspace; reload the page")
        return Workspace(self.root, token)

    def check_quota(self, workspace: Workspace, keep: tuple[Path, ...] = ()) -> None:
        """Make room by deleting the oldest runs (never saved models, never a run in `keep`); refuse if still full."""
        kept = {path.resolve() for path in keep}
        used = workspace.used_bytes()
        for run in reversed(workspace.run_folders()):  # oldest first: runs are scratch, saved models are kept
            if used < self.quota_bytes:
                break
            if run.resolve() in kept:
                continue
            shutil.rmtree(run, ignore_errors=True)
            used = workspace.used_bytes()
        if used >= self.quota_bytes:
            raise WorkspaceError(f"your workspace uses {used / 2**20:.0f} MB of its {self.quota_bytes / 2**20:.0f} MB "
                                 "in saved models; delete one (Your models, below) before training more")

    def is_inside(self, path: str | Path) -> bool:
        """Whether `path` is a folder inside some workspace (for the Explore tabs' whitelist)."""
        try:
            relative = Path(path).resolve().relative_to(self.root)
        except (ValueError, OSError):
            return False
        return len(relative.parts) >= 3 and bool(TOKEN_PATTERN.fullmatch(relative.parts[0]))

    def clean(self, keep: set[str] = frozenset()) -> list[str]:
        """Delete workspaces untouched for longer than the time-to-live (except tokens in `keep`)."""
        removed = []
        if not self.root.is_dir():
            return removed
        cutoff = time.time() - self.ttl_seconds
        for folder in self.root.iterdir():
            if not folder.is_dir() or folder.name in keep or not TOKEN_PATTERN.fullmatch(folder.name):
                continue
            try:
                newest = max([folder.stat().st_mtime] + [path.stat().st_mtime for path in folder.rglob("*")])
            except OSError:
                continue
            if newest < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder.name)
        return removed


def latest_checkpoint(run: Path) -> Path | None:
    """The run folder itself if it holds a readable checkpoint."""
    try:
        read_config(run)
    except CheckpointError:
        return None
    return run
