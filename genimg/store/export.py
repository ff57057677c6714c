"""A saved model as one zip to download: its config.json, its weights (.safetensors) and its README.md card.

Pure file work below the page: `export_model` reads a model folder (checked as genimg's loader checks it), writes
`<name>.zip` into a folder the caller gives (the zip holds one folder, `<name>/`, which genimg loads once
unpacked), and removes that folder's exports older than `max_age_seconds` (a download is fetched within
seconds; old zips would only take disk space). Nothing outside that folder is written or removed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
import zipfile
from pathlib import Path

from genimg.store.checkpoint import (
    CONFIG_FILE_NAME,
    MAX_CARD_BYTES,
    MAX_CONFIG_BYTES,
    CheckpointError,
    read_config,
    read_model_file,
)

CARD_FILE_NAME = "README.md"
EXPORT_SUFFIX = ".zip"
PARTIAL_SUFFIX = ".zip.partial"  # a zip being written; renamed into place when complete
DEFAULT_MAX_AGE_SECONDS = 3600.0
# Names in the zip (and of the zip): the workspace's safe model names, spaces turned into '-', nothing else.
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def export_name(name: str) -> str:
    """The zip's (and its folder's) name for a model name: 'my digits' → 'my-digits'; 'model' if nothing is left."""
    cleaned = _UNSAFE.sub("-", name.strip()).strip("-.")
    return cleaned[:60] or "model"


def export_model(model_folder: str | os.PathLike[str], into: str | os.PathLike[str], *, name: str | None = None,
                 max_age_seconds: float = DEFAULT_MAX_AGE_SECONDS, now: float | None = None) -> Path:
    """Write `<into>/<name>.zip` holding `<name>/config.json`, `<name>/<weights>.safetensors` and `<name>/README.md`
    (the folder's card, or a one-line one naming the model when it has none); returns the zip's path.

    The config is the folder's, validated (CheckpointError for a folder genimg could not load) and without
    training state; the weights are copied as they are. Exports in `into` older than `max_age_seconds` (by
    modification time, against `now`, default the clock) and unfinished ones of any age but this call's are
    removed first. A zip is written under a temporary name and renamed, so a download never sees half a zip.
    """
    folder = Path(model_folder)
    config = read_config(folder)  # validates the config and that its weights file is a plain file
    weights = str(config["weights"])
    if not weights.endswith(".safetensors"):
        raise CheckpointError(f"the weights file {weights!r} of {folder.name} is not a .safetensors file; "
                              "only safetensors weights are exported")
    shown = export_name(name if name is not None else folder.name)
    config["training_state"] = None  # an export is for exploring and loading, not for resuming
    config_bytes = (json.dumps(config, indent=2) + "\n").encode()
    if len(config_bytes) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"the config of {folder.name} is too large to export")
    try:
        card = read_model_file(folder / CARD_FILE_NAME, max_bytes=MAX_CARD_BYTES, what="model card")
    except FileNotFoundError:
        card = f"# {shown}\n\nA model trained with genimg. Load it with `genimg.models.loading.load_model`.\n".encode()

    target = Path(into)
    target.mkdir(parents=True, exist_ok=True)
    remove_old_exports(target, max_age_seconds, now=now)
    final = target / f"{shown}{EXPORT_SUFFIX}"
    partial = target / f".{shown}-{secrets.token_hex(4)}{PARTIAL_SUFFIX}"
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(f"{shown}/{CONFIG_FILE_NAME}", config_bytes)
            archive.write(folder / weights, f"{shown}/{weights}")
            archive.writestr(f"{shown}/{CARD_FILE_NAME}", card)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def remove_old_exports(into: str | os.PathLike[str], max_age_seconds: float, *, now: float | None = None) -> list[Path]:
    """Remove the zips (finished or not) in `into` last modified more than `max_age_seconds` before `now`; other
    files and folders are left alone, and so are links. Returns what was removed."""
    moment = time.time() if now is None else now
    removed = []
    folder = Path(into)
    if not folder.is_dir():
        return removed
    for path in folder.iterdir():
        if not (path.name.endswith(EXPORT_SUFFIX) or path.name.endswith(PARTIAL_SUFFIX)):
            continue
        try:
            status = path.lstat()
        except OSError:
            continue
        if path.is_symlink() or not path.is_file() or moment - status.st_mtime <= max_age_seconds:
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
