"""Self-describing checkpoint folders (config.json + safetensors weights + training state), saved atomically and loaded safely."""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import pickle
import re
import secrets
import stat
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import safetensors.torch
import torch

from genimg.store import safejson

__all__ = [
    "CONFIG_FILE_NAME",
    "FORMAT_VERSION",
    "MAX_CARD_BYTES",
    "MAX_CONFIG_BYTES",
    "SUPPORTED_FORMAT_VERSIONS",
    "Checkpoint",
    "CheckpointError",
    "intercept_writes",
    "is_checkpoint",
    "load_checkpoint",
    "load_weights_into",
    "read_config",
    "read_model_file",
    "save_checkpoint",
    "update_metrics",
    "write_file_atomic",
]

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
CONFIG_FILE_NAME = "config.json"

# Size caps protect a user who opens a downloaded or damaged folder: a file this large is not a
# genimg model (the shipped DCGAN and VAE weigh a few MB), and reading it could exhaust memory.
# A genimg config.json is about 2 KB; 1 MiB leaves room for long metric lists and nothing absurd. A model card
# is about 3 KB; 256 KiB holds a long hand-written one, and the page renders it as Markdown on every visit.
MAX_CONFIG_BYTES = 1024 * 1024
MAX_CARD_BYTES = 256 * 1024
# A config nests 3 deep and its longest number is about 20 characters (safejson refuses more, before parsing).
MAX_CONFIG_DEPTH = 32
MAX_CONFIG_DIGITS = 100
MAX_WEIGHTS_BYTES = 2 * 1024**3
MAX_TRAINING_STATE_BYTES = 8 * 1024**3

# A file name that a config may reference: one plain name inside the checkpoint folder.
_SAFE_FILE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")
# Files that save_checkpoint itself creates, and may therefore delete once no config references them.
_OWN_WEIGHTS_FILE = re.compile(r"^weights-\d{8,}(-1)?\.safetensors$")
_OWN_TRAINING_FILE = re.compile(r"^training-\d{8,}(-1)?\.pt$")
# Temporary files: a half-written file is only ever under this name, never under its final one.
_TEMP_PREFIX = ".genimg-tmp-"
_TEMP_FILE = re.compile(r"^\.genimg-tmp-[0-9a-f]{16}-[A-Za-z0-9._-]+$")

_RESERVED_KEYS = frozenset(
    {
        "format_version",
        "genimg_version",
        "model",
        "training",
        "dataset",
        "step",
        "metrics",
        "created",
        "weights",
        "training_state",
    }
)

# Temp files this process is writing right now, so that a save in one thread never removes
# the temp file of a model card being written by another thread of the same app.
_temp_files_in_flight: set[Path] = set()
_temp_files_lock = threading.Lock()

# Fills an open temp file (binary) with a file's bytes.
FileWrite = Callable[[BinaryIO], Any]
# Given a file's final path and its FileWrite, returns the FileWrite to use instead; see intercept_writes.
WriteInterceptor = Callable[[Path, FileWrite], FileWrite]
_write_interceptor: WriteInterceptor | None = None


class CheckpointError(Exception):
    """A checkpoint folder could not be read or written; the message names the file, the problem, and what would work."""


@dataclass(frozen=True)
class Checkpoint:
    """One loaded checkpoint folder.

    `weights` maps state-dict keys to plain tensors on the requested device; `training_state` is the
    nested dict saved for resuming, or None unless it was asked for and the folder has one.
    """

    path: Path
    config: dict[str, Any]
    weights: dict[str, torch.Tensor]
    training_state: dict[str, Any] | None = None

    @property
    def model_config(self) -> dict[str, Any]:
        """The model's constructor arguments, including its `kind` ("dcgan", "vae", ...)."""
        return self.config["model"]

    @property
    def step(self) -> int:
        """The training step at which the checkpoint was saved (0 for an untrained model)."""
        return self.config["step"]

    @property
    def metrics(self) -> dict[str, Any]:
        """Quality numbers recorded with the checkpoint (possibly empty)."""
        return self.config.get("metrics") or {}


# --------------------------------------------------------------------------------------------
# Saving
# --------------------------------------------------------------------------------------------


def save_checkpoint(
    directory: str | os.PathLike[str],
    *,
    model_config: dict[str, Any],
    weights: Mapping[str, torch.Tensor],
    step: int,
    training_state: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    dataset: str | None = None,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write a checkpoint folder so that it is readable at every instant, even if the process is killed.

    `model_config` holds the model's constructor arguments as plain JSON with a string `kind`;
    `weights` is the model's state dict (any device; saved as contiguous CPU tensors in safetensors);
    `training_state` is an optional nested dict of tensors, numbers, strings, None, lists, tuples and
    dicts (optimizer state, RNG states, ...), written with torch.save and read back with
    `weights_only=True`. `training`, `metrics` and `extra` must be plain JSON.

    Weights and training state go to new step-stamped files first, then config.json (which names
    them) is replaced atomically, and only then are files that nothing references deleted. One
    process at a time should write a given folder. Returns the folder's path.
    """
    folder = Path(directory)
    config_path = folder / CONFIG_FILE_NAME

    # Check everything before touching the disk, so that a bad argument never costs a checkpoint.
    _check_step(step, where=f"save_checkpoint(step=...) for {_name(folder)}")
    _check_model_config(model_config, source=f"save_checkpoint(model_config=...) for {_name(folder)}")
    for name, value in (("model_config", model_config), ("training", training), ("metrics", metrics), ("extra", extra)):
        if value is not None:
            _check_plain_json(value, where=name, folder=folder)
            if not isinstance(value, dict):
                raise CheckpointError(
                    f"cannot save checkpoint to {_name(folder)}: {name} is a {type(value).__name__}; "
                    "a dict (JSON object) or None is accepted"
                )
    if dataset is not None and not isinstance(dataset, str):
        raise CheckpointError(
            f"cannot save checkpoint to {_name(folder)}: dataset is {dataset!r}; a string or None is accepted"
        )
    if extra:
        clashing = sorted(set(extra) & _RESERVED_KEYS)
        if clashing:
            raise CheckpointError(
                f"cannot save checkpoint to {_name(folder)}: extra keys {clashing} are reserved by the "
                f"checkpoint format; use other names (reserved: {sorted(_RESERVED_KEYS)})"
            )
    plain_weights = _plain_weights(weights, folder)
    plain_training_state = None
    if training_state is not None:
        if not isinstance(training_state, dict):
            raise CheckpointError(
                f"cannot save checkpoint to {_name(folder)}: training_state is a "
                f"{type(training_state).__name__}; a dict or None is accepted"
            )
        plain_training_state = _plain_training_state(training_state, "training_state", folder)

    if folder.exists() and not folder.is_dir():
        raise CheckpointError(
            f"cannot save checkpoint to {_name(folder)}: it exists and is not a folder; "
            "give a folder path (it is created if missing)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"cannot save checkpoint to {_name(folder)}: creating the folder failed: {error}") from error

    _remove_stray_temp_files(folder)
    previous_files = _referenced_files_leniently(config_path)

    weights_name = _fresh_file_name("weights", step, ".safetensors", previous_files)
    training_name = (
        _fresh_file_name("training", step, ".pt", previous_files) if plain_training_state is not None else None
    )
    config = {
        "format_version": FORMAT_VERSION,
        "genimg_version": _genimg_version(),
        "model": model_config,
        "training": _portable_training(training, folder) if training is not None else {},
        "dataset": dataset,
        "step": step,
        "metrics": metrics if metrics is not None else {},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "weights": weights_name,
        "training_state": training_name,
        **(extra or {}),
    }
    config_text = json.dumps(config, indent=2, allow_nan=False) + "\n"

    try:
        weights_bytes = safetensors.torch.save(plain_weights, metadata={"format": "pt"})
    except Exception as error:  # safetensors reports its own problems with a bare exception type
        raise CheckpointError(
            f"cannot save checkpoint to {_name(folder)}: the weights could not be encoded as safetensors: {error}"
        ) from error

    written: list[Path] = []
    config_replaced = False
    try:
        _write_atomic(folder / weights_name, lambda file: file.write(weights_bytes), fsync_folder=False)
        written.append(folder / weights_name)
        weights_bytes = b""  # free the encoded copy before the training state is written
        if training_name is not None:
            _write_atomic(
                folder / training_name, lambda file: torch.save(plain_training_state, file), fsync_folder=False
            )
            written.append(folder / training_name)
        # The new files' names must be on disk before a config that points at them.
        _fsync_folder(folder)
        _write_atomic(config_path, lambda file: file.write(config_text.encode("utf-8")), fsync_folder=False)
        config_replaced = True
        _fsync_folder(folder)
    except (OSError, RuntimeError, pickle.PicklingError) as error:
        if not config_replaced:
            # The old config never referenced these names (see _fresh_file_name), so they are orphans.
            for path in written:
                _remove_quietly(path)
        cause = _describe_os_error(error)
        state = (
            "the new checkpoint was written but flushing the folder failed"
            if config_replaced
            else "the previous checkpoint in the folder is unchanged"
        )
        raise CheckpointError(
            f"cannot save checkpoint to {_name(folder)}: {cause}; {state}. "
            "Free some disk space, check the folder's permissions, or choose another folder."
        ) from error

    _remove_unreferenced_files(folder, keep={weights_name, training_name}, previous=previous_files)
    return folder


def update_metrics(directory: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Merge `metrics` (plain JSON) into the checkpoint's recorded metrics, replacing config.json atomically."""
    folder = Path(directory)
    if not isinstance(metrics, dict):
        raise CheckpointError(
            f"cannot update metrics in {_shown(folder / CONFIG_FILE_NAME)}: metrics is a "
            f"{type(metrics).__name__}; a dict is accepted"
        )
    _check_plain_json(metrics, where="metrics", folder=folder)
    config = read_config(folder)
    merged = dict(config.get("metrics") or {})
    merged.update(metrics)
    config["metrics"] = merged
    if isinstance(config.get("training"), dict):  # configs saved before paths were made portable
        config["training"] = _portable_training(config["training"], folder)
    try:
        text = json.dumps(config, indent=2, allow_nan=False) + "\n"
    except ValueError as error:  # a hand-edited config may hold NaN, which strict JSON cannot
        raise CheckpointError(f"cannot update metrics in {_shown(folder / CONFIG_FILE_NAME)}: {error}") from error
    write_file_atomic(folder / CONFIG_FILE_NAME, text)


def write_file_atomic(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Replace `path` with `data` (str is written as UTF-8) so that readers see the old or the new file, never a part.

    Writes a temp file in the same folder, flushes and fsyncs it, renames it over `path`, then
    fsyncs the folder. Used for config.json, model cards (README.md) and sample grids (samples.png).
    """
    target = Path(path)
    if isinstance(data, str):
        payload = data.encode("utf-8")
    elif isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
    else:
        raise CheckpointError(
            f"cannot write {_shown(target)}: data is a {type(data).__name__}; bytes or str is accepted"
        )
    if not target.parent.is_dir():
        raise CheckpointError(
            f"cannot write {_shown(target)}: the folder {_shown(target.parent)} does not exist; "
            "create it first (save_checkpoint creates checkpoint folders)"
        )
    try:
        _write_atomic(target, lambda file: file.write(payload), fsync_folder=True)
    except OSError as error:
        raise CheckpointError(
            f"cannot write {_shown(target)}: {_describe_os_error(error)}; the previous file (if any) is unchanged"
        ) from error


@contextlib.contextmanager
def intercept_writes(interceptor: WriteInterceptor) -> Iterator[None]:
    """While the block runs, every file that this process writes through this module (save_checkpoint's
    weights, training state and config.json, update_metrics, write_file_atomic) is filled by
    `interceptor(path, write)(temp_file)` instead of `write(temp_file)`; `path` is the file's final path.

    A seam for fault injection: `python -m genimg bench faults` returns a writer that writes part of a
    weights file and then raises OSError(ENOSPC), to check end to end that a full disk stops a run with a
    clear message and leaves the previous checkpoint intact. The temp file, rename and cleanup stay the
    real ones. One interceptor at a time; the previous one (normally none) is back after the block.
    """
    global _write_interceptor
    previous, _write_interceptor = _write_interceptor, interceptor
    try:
        yield
    finally:
        _write_interceptor = previous


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def is_checkpoint(directory: str | os.PathLike[str]) -> bool:
    """True when the folder has a config.json (no deeper validation; use read_config for that)."""
    return (Path(directory) / CONFIG_FILE_NAME).is_file()


def read_config(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate and return a checkpoint's config.json without reading its weights (cheap; for listing models).

    Also checks that the weights file it names exists.
    """
    folder = Path(directory)
    if not folder.exists():
        raise CheckpointError(
            f"checkpoint folder {_name(folder)} does not exist; give a folder that holds a {CONFIG_FILE_NAME}"
        )
    if not folder.is_dir():
        raise CheckpointError(
            f"checkpoint path {_name(folder)} is not a folder; give a folder that holds a {CONFIG_FILE_NAME}"
        )
    config_path = folder / CONFIG_FILE_NAME
    try:
        data = read_model_file(config_path, max_bytes=MAX_CONFIG_BYTES, what="checkpoint config")
    except FileNotFoundError:
        raise CheckpointError(
            f"{_shown(config_path)} is missing; a checkpoint folder must hold a {CONFIG_FILE_NAME} "
            "written by genimg (save_checkpoint)"
        ) from None
    try:
        config = safejson.loads(data, max_depth=MAX_CONFIG_DEPTH, max_digits=MAX_CONFIG_DIGITS,
                                max_bytes=MAX_CONFIG_BYTES)
    except safejson.SafeJSONError as error:
        raise CheckpointError(
            f"{_shown(config_path)} is refused: {error}"
        ) from None
    _validate_config(config, config_path)
    weights_path = folder / config["weights"]
    try:
        _check_plain_file(weights_path, os.lstat(weights_path).st_mode, "weights file")
    except FileNotFoundError:
        raise CheckpointError(
            f"{_shown(config_path)} names the weights file {config['weights']!r}, but {_shown(weights_path)} "
            "is missing; the folder is incomplete (copy the whole folder, or save it again)"
        ) from None
    except OSError as error:
        raise CheckpointError(f"cannot read weights file {_shown(weights_path)}: {_describe_os_error(error)}") from None
    return config


def read_model_file(path: str | os.PathLike[str], *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of one file of a model folder (config.json, README.md, samples.png), read defensively.

    The file is opened without following a symbolic link (O_NOFOLLOW), must be a regular file (not a FIFO or a
    device, which could block or never end), and is refused when larger than `max_bytes`, before anything is read
    (at most max_bytes + 1 bytes are ever read, should it grow meanwhile). `what` names the file in messages
    ("model card"). Raises CheckpointError, naming the file by its folder and name only; FileNotFoundError passes
    through unchanged for callers to whom a missing file is normal.
    """
    target = Path(path)
    descriptor = _open_plain_file(target, what)
    try:
        size = os.fstat(descriptor).st_size
        if size > max_bytes:
            raise CheckpointError(
                f"{what} {_shown(target)} is {size:,} bytes; genimg reads a {what} of at most {max_bytes:,} bytes"
            )
        chunks = []
        left = max_bytes + 1
        while left > 0:
            chunk = os.read(descriptor, min(left, 1024 * 1024))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
    except OSError as error:
        raise CheckpointError(f"cannot read {what} {_shown(target)}: {_describe_os_error(error)}") from None
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise CheckpointError(
            f"{what} {_shown(target)} grew past {max_bytes:,} bytes while it was read; genimg reads a {what} of at "
            f"most {max_bytes:,} bytes"
        )
    return data


def load_checkpoint(
    directory: str | os.PathLike[str],
    *,
    with_training_state: bool = False,
    map_location: str | torch.device = "cpu",
) -> Checkpoint:
    """Read a checkpoint folder: validated config, weights on `map_location`, and optionally the training state.

    Nothing is unpickled except the training state, and that only with `torch.load(weights_only=True)`,
    which refuses anything other than tensors and plain containers.
    """
    folder = Path(directory)
    config = read_config(folder)
    device = _device(map_location, folder)
    weights = _load_weights_file(folder / config["weights"], device)
    training_state = None
    if with_training_state and config.get("training_state") is not None:
        training_state = _load_training_state_file(folder / config["training_state"], device, folder)
    return Checkpoint(path=folder, config=config, weights=weights, training_state=training_state)


def load_weights_into(
    module: torch.nn.Module, weights: Mapping[str, torch.Tensor], *, source: Path | str
) -> None:
    """Copy `weights` into `module` strictly: every key present on both sides, with equal shapes.

    All disagreements are reported together in one CheckpointError that names `source` (the
    checkpoint folder or file the weights came from).
    """
    expected = module.state_dict()
    missing = [key for key in expected if key not in weights]
    unexpected = [key for key in weights if key not in expected]
    mismatched = [
        f"{key}: model expects {tuple(expected[key].shape)}, file has {tuple(weights[key].shape)}"
        for key in expected
        if key in weights and tuple(expected[key].shape) != tuple(weights[key].shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s) the model needs: {_first_few(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s) the model does not have: {_first_few(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatch(es): {_first_few(mismatched)}")
    if problems:
        raise CheckpointError(
            f"the weights from {_shown(Path(source))} do not fit {type(module).__name__}: "
            + "; ".join(problems)
            + ". Weights load only into a model built from the same model config as the checkpoint."
        )
    try:
        module.load_state_dict(dict(weights), strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"the weights from {_shown(Path(source))} could not be copied into {type(module).__name__}: {error}") from error


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _validate_config(config: Any, config_path: Path) -> None:
    """Raise CheckpointError for the first field of a parsed config.json that genimg cannot trust."""
    where = _shown(config_path)
    if not isinstance(config, dict):
        raise CheckpointError(f"{where} holds a JSON {type(config).__name__}; a JSON object is expected")
    if "format_version" not in config:
        raise CheckpointError(
            f"{where} has no format_version; genimg reads checkpoint format versions {list(SUPPORTED_FORMAT_VERSIONS)}"
        )
    version = config["format_version"]
    if not _is_int(version):
        raise CheckpointError(
            f"{where} has format_version {version!r}; an integer is expected "
            f"(genimg reads versions {list(SUPPORTED_FORMAT_VERSIONS)})"
        )
    if version not in SUPPORTED_FORMAT_VERSIONS:
        hint = "it was written by a newer genimg; upgrade genimg" if version > FORMAT_VERSION else "it is unknown"
        raise CheckpointError(
            f"{where} has format_version {version}; this genimg reads versions "
            f"{list(SUPPORTED_FORMAT_VERSIONS)} ({hint})"
        )
    _check_model_config(config.get("model"), source=f"{where}: model")
    if "step" not in config:
        raise CheckpointError(f"{where} has no step; a non-negative integer is expected")
    _check_step(config["step"], where=where)
    for key in ("training", "metrics"):
        if config.get(key) is not None and not isinstance(config[key], dict):
            raise CheckpointError(f"{where}: {key} is {config[key]!r}; a JSON object is expected")
    if config.get("dataset") is not None and not isinstance(config["dataset"], str):
        raise CheckpointError(f"{where}: dataset is {config['dataset']!r}; a string or null is expected")
    if "weights" not in config:
        raise CheckpointError(f"{where} has no weights entry; the name of a .safetensors file in the folder is expected")
    _check_file_name(config["weights"], key="weights", where=where, allow_none=False)
    _check_file_name(config.get("training_state"), key="training_state", where=where, allow_none=True)


def _check_file_name(name: Any, *, key: str, where: str, allow_none: bool) -> None:
    """Refuse anything but one plain file name inside the folder (no paths, no '..', no hidden files)."""
    if name is None and allow_none:
        return
    if (
        not isinstance(name, str)
        or not _SAFE_FILE_NAME.match(name)
        or name in (".", "..")
        or ".." in name
        or name == CONFIG_FILE_NAME
    ):
        raise CheckpointError(
            f"{where}: {key} is {name!r}; a plain file name inside the checkpoint folder is expected "
            "(letters, digits, '.', '_', '-'; no folders, no '..', not starting with '.')"
        )


def _check_model_config(model_config: Any, *, source: str) -> None:
    if not isinstance(model_config, dict):
        raise CheckpointError(
            f"{source} is {model_config!r}; a JSON object with a string 'kind' (e.g. \"dcgan\" or \"vae\") is expected"
        )
    kind = model_config.get("kind")
    if not isinstance(kind, str) or not kind:
        raise CheckpointError(
            f"{source} has kind {kind!r}; a non-empty string naming the model family (e.g. \"dcgan\" or \"vae\") is expected"
        )


def _portable_training(training: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The training settings as saved: no absolute server path, since configs travel with shared models and
    their contents reach the page.

    `out` is the run folder itself, so it is saved as "." (relative to the run folder; a resumed run is always
    given its folder again). Any other absolute path (a data root) is saved relative to the run folder when it
    lies inside it, else as null (the default data root when the run is resumed elsewhere). Relative paths, as a
    user typed them, are kept.
    """
    portable = dict(training)
    if "out" in portable and portable["out"] is not None:
        portable["out"] = "."
    run_folder = os.path.abspath(folder)
    for key, value in training.items():
        if key == "out" or not isinstance(value, str) or not os.path.isabs(os.path.expanduser(value)):
            continue
        absolute = os.path.abspath(os.path.expanduser(value))
        inside = absolute == run_folder or absolute.startswith(run_folder + os.sep)
        portable[key] = os.path.relpath(absolute, run_folder) if inside else None
    return portable


def _check_step(step: Any, *, where: str) -> None:
    if not _is_int(step) or step < 0:
        raise CheckpointError(f"{where}: step is {step!r}; a non-negative integer is expected")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_plain_json(value: Any, *, where: str, folder: Path) -> None:
    """Refuse values that JSON would silently change or cannot hold (tensors, NaN, non-string keys)."""
    if value is None or isinstance(value, (bool, int, str)):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise CheckpointError(
                f"cannot save checkpoint to {_name(folder)}: {where} is {value}; JSON holds only finite numbers "
                "(record a non-finite value as null or a string)"
            )
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _check_plain_json(item, where=f"{where}[{index}]", folder=folder)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise CheckpointError(
                    f"cannot save checkpoint to {_name(folder)}: {where} has the key {key!r} "
                    f"({type(key).__name__}); JSON object keys must be strings"
                )
            _check_plain_json(item, where=f"{where}[{key!r}]", folder=folder)
        return
    hint = " (use .item() or .tolist())" if isinstance(value, torch.Tensor) else ""
    raise CheckpointError(
        f"cannot save checkpoint to {_name(folder)}: {where} is a {type(value).__module__}.{type(value).__name__}"
        f"{hint}; plain JSON values are accepted (None, bool, int, finite float, str, list, dict with str keys)"
    )


def _plain_weights(weights: Mapping[str, torch.Tensor], folder: Path) -> dict[str, torch.Tensor]:
    """Independent, contiguous CPU copies of a state dict, as safetensors requires (no shared storage)."""
    if not isinstance(weights, Mapping) or not weights:
        raise CheckpointError(
            f"cannot save checkpoint to {_name(folder)}: weights is {type(weights).__name__} "
            f"{'(empty)' if isinstance(weights, Mapping) else ''}; a non-empty dict of name -> torch.Tensor "
            "(a model's state_dict()) is accepted"
        )
    plain = {}
    for key, tensor in weights.items():
        if not isinstance(key, str):
            raise CheckpointError(
                f"cannot save checkpoint to {_name(folder)}: weights has the key {key!r}; string keys are accepted"
            )
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"cannot save checkpoint to {_name(folder)}: weights[{key!r}] is a {type(tensor).__name__}; "
                "torch.Tensor values are accepted"
            )
        _check_weight_dtype(tensor, f"weights[{key!r}]", f"cannot save checkpoint to {_name(folder)}")
        if tensor.layout != torch.strided:
            raise CheckpointError(
                f"cannot save checkpoint to {_name(folder)}: weights[{key!r}] has layout {tensor.layout}; "
                "dense (strided) tensors are accepted"
            )
        # Cloning breaks any storage shared between entries (tied weights, views), which safetensors refuses.
        plain[key] = tensor.detach().to("cpu", copy=True).contiguous()
    return plain


def _check_weight_dtype(tensor: torch.Tensor, name: str, context: str) -> None:
    dtype = tensor.dtype
    if dtype.is_complex or not (dtype.is_floating_point or dtype == torch.bool or _is_integer_dtype(dtype)):
        raise CheckpointError(
            f"{context}: {name} has dtype {dtype}; floating-point, integer or bool tensors are accepted"
        )


def _is_integer_dtype(dtype: torch.dtype) -> bool:
    try:
        return not dtype.is_floating_point and not dtype.is_complex and dtype != torch.bool and torch.iinfo(dtype) is not None
    except TypeError:  # quantized and other exotic dtypes have no integer range
        return False


def _plain_training_state(value: Any, where: str, folder: Path) -> Any:
    """A copy of the training state with tensors on CPU, refusing anything weights_only loading would reject."""
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if type(value) in (list, tuple):
        items = [_plain_training_state(item, f"{where}[{index}]", folder) for index, item in enumerate(value)]
        return items if type(value) is list else tuple(items)
    if isinstance(value, dict) and type(value).__module__ in ("builtins", "collections"):
        plain = {}
        for key, item in value.items():
            if not (isinstance(key, (str, int))):
                raise CheckpointError(
                    f"cannot save checkpoint to {_name(folder)}: {where} has the key {key!r} "
                    f"({type(key).__name__}); str or int keys are accepted"
                )
            plain[key] = _plain_training_state(item, f"{where}[{key!r}]", folder)
        return plain
    hint = " (convert numpy arrays with torch.from_numpy)" if type(value).__module__.startswith("numpy") else ""
    raise CheckpointError(
        f"cannot save checkpoint to {_name(folder)}: {where} is a {type(value).__module__}.{type(value).__name__}{hint}; "
        "the training state accepts tensors, int, float, bool, str, None, lists, tuples and dicts"
    )


def _device(map_location: str | torch.device, folder: Path) -> torch.device:
    try:
        return torch.device(map_location)
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(
            f"cannot load checkpoint {_name(folder)}: map_location {map_location!r} is not a device; "
            "a device such as 'cpu', 'cuda' or 'cuda:0' is accepted"
        ) from error


def _load_weights_file(path: Path, device: torch.device) -> dict[str, torch.Tensor]:
    try:
        descriptor = _open_plain_file(path, "weights file")
    except FileNotFoundError:
        raise CheckpointError(f"weights file {_shown(path)} is missing; copy the whole checkpoint folder") from None
    try:
        return _load_weights_descriptor(path, descriptor, device)
    finally:
        os.close(descriptor)


def _load_weights_descriptor(path: Path, descriptor: int, device: torch.device) -> dict[str, torch.Tensor]:
    size = os.fstat(descriptor).st_size
    if size == 0:
        raise CheckpointError(
            f"weights file {_shown(path)} is empty (0 bytes); a safetensors file written by genimg is expected "
            "(the folder may have been copied while it was being written)"
        )
    if size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(
            f"weights file {_shown(path)} is {size} bytes; genimg loads weights files up to {MAX_WEIGHTS_BYTES} bytes"
        )
    try:
        # safetensors parses only a JSON header and raw tensor bytes: no code can run from this file.
        # Read through the descriptor opened without following links, so the file checked is the file read.
        weights = safetensors.torch.load_file(_descriptor_path(descriptor, path), device=str(device))
    except Exception as error:  # SafetensorError, OSError, and device errors alike mean "unusable"
        raise CheckpointError(
            f"weights file {_shown(path)} is not a readable safetensors file ({error}); it may be truncated, "
            "damaged, or another format. A .safetensors file written by genimg is expected"
        ) from error
    for key, tensor in weights.items():
        _check_weight_dtype(tensor, repr(key), f"weights file {_shown(path)}")
    return weights


def _load_training_state_file(path: Path, map_location: torch.device, folder: Path) -> dict[str, Any]:
    try:
        descriptor = _open_plain_file(path, "training state")
    except FileNotFoundError:
        raise CheckpointError(
            f"{_shown(folder / CONFIG_FILE_NAME)} names the training state {path.name!r}, but {_shown(path)} is "
            "missing; load without the training state, or copy the whole folder"
        ) from None
    with os.fdopen(descriptor, "rb") as file:
        return _load_training_state(path, file, map_location)


def _load_training_state(path: Path, file: BinaryIO, map_location: torch.device) -> dict[str, Any]:
    size = os.fstat(file.fileno()).st_size
    if size > MAX_TRAINING_STATE_BYTES:
        raise CheckpointError(
            f"training state {_shown(path)} is {size} bytes; genimg loads training states up to "
            f"{MAX_TRAINING_STATE_BYTES} bytes"
        )
    try:
        # weights_only=True is the safety boundary: the restricted unpickler refuses every global
        # (class, function) that is not a tensor type or plain container, so no code runs.
        state = torch.load(file, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"training state {_shown(path)} holds something other than plain tensors and containers, "
            f"so genimg refused to unpickle it (nothing in it was run): {_first_line(error)}. "
            "A training state written by genimg's save_checkpoint is expected"
        ) from error
    except Exception as error:  # truncated zip archives, bad magic numbers, EOF: all mean "unusable"
        raise CheckpointError(
            f"training state {_shown(path)} could not be read ({_first_line(error)}); it may be truncated or "
            "damaged. A training state written by genimg's save_checkpoint is expected"
        ) from error
    if not isinstance(state, dict):
        raise CheckpointError(
            f"training state {_shown(path)} holds a {type(state).__name__}; a dict is expected"
        )
    return state


# --------------------------------------------------------------------------------------------
# File-system helpers
# --------------------------------------------------------------------------------------------


def _open_plain_file(path: Path, what: str) -> int:
    """A read-only descriptor of `path`, refusing a symbolic link (not followed) and anything but a regular file.

    Raises CheckpointError, or FileNotFoundError when nothing is there.
    """
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    if not getattr(os, "O_NOFOLLOW", 0) and os.path.islink(path):  # where O_NOFOLLOW is missing (Windows)
        raise CheckpointError(_link_message(path, what))
    try:
        descriptor = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno == errno.ELOOP or os.path.islink(path):
            raise CheckpointError(_link_message(path, what)) from None
        raise CheckpointError(f"cannot read {what} {_shown(path)}: {_describe_os_error(error)}") from None
    try:
        _check_plain_file(path, os.fstat(descriptor).st_mode, what)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _check_plain_file(path: Path, mode: int, what: str) -> None:
    """Refuse a symbolic link (from lstat) or anything but a regular file (a folder, a FIFO, a device)."""
    if stat.S_ISLNK(mode):
        raise CheckpointError(_link_message(path, what))
    if not stat.S_ISREG(mode):
        raise CheckpointError(
            f"{what} {_shown(path)} is not a regular file; a model folder holds plain files only"
        )


def _link_message(path: Path, what: str) -> str:
    return (f"{what} {_shown(path)} is a symbolic link; genimg follows no links inside a model folder "
            "(copy the file into the folder instead)")


def _descriptor_path(descriptor: int, path: Path) -> str:
    """A path that opens exactly the file behind `descriptor` (Linux's /proc/self/fd), else `path` itself."""
    proc_path = f"/proc/self/fd/{descriptor}"
    return proc_path if os.path.exists(proc_path) else str(path)


def _write_atomic(target: Path, write: Callable[[BinaryIO], Any], *, fsync_folder: bool) -> None:
    """Write through `write` into a temp file next to `target`, fsync it, and rename it over `target`.

    The temp file is removed on any failure (including KeyboardInterrupt); OSError propagates.
    """
    temp = target.parent / f"{_TEMP_PREFIX}{secrets.token_hex(8)}-{_temp_suffix(target.name)}"
    if _write_interceptor is not None:  # fault injection only (see intercept_writes)
        write = _write_interceptor(target, write)
    with _temp_files_lock:
        _temp_files_in_flight.add(temp)
    try:
        descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o644)
        with os.fdopen(descriptor, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, target)
    except BaseException:
        _remove_quietly(temp)
        raise
    finally:
        with _temp_files_lock:
            _temp_files_in_flight.discard(temp)
    if fsync_folder:
        _fsync_folder(target.parent)


def _temp_suffix(name: str) -> str:
    """The target's name made safe for the temp-file pattern (so cleanup recognizes it)."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "file"


def _fsync_folder(folder: Path) -> None:
    """Make renames inside `folder` durable; a no-op where folders cannot be opened (Windows)."""
    if os.name == "nt":
        return
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError as error:
        # Some file systems cannot fsync a directory; that is not a failed write.
        if error.errno not in (errno.EINVAL, errno.EBADF, errno.ENOTSUP, errno.EACCES):
            raise
    finally:
        os.close(descriptor)


def _remove_stray_temp_files(folder: Path) -> None:
    """Delete genimg temp files left by a process that was killed mid-write; never touch other files."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    with _temp_files_lock:
        in_flight = set(_temp_files_in_flight)
    for entry in entries:
        if _TEMP_FILE.match(entry.name) and entry.is_file(follow_symlinks=False):
            path = folder / entry.name
            if path not in in_flight:
                _remove_quietly(path)


def _referenced_files_leniently(config_path: Path) -> set[str]:
    """Names the current config.json references, or nothing if it is absent or unreadable."""
    try:
        config = safejson.loads(read_model_file(config_path, max_bytes=MAX_CONFIG_BYTES), max_bytes=MAX_CONFIG_BYTES,
                                max_depth=MAX_CONFIG_DEPTH, max_digits=MAX_CONFIG_DIGITS)
    except (OSError, CheckpointError, safejson.SafeJSONError):
        return set()
    if not isinstance(config, dict):
        return set()
    names = set()
    for key in ("weights", "training_state"):
        name = config.get(key)
        try:
            _check_file_name(name, key=key, where="", allow_none=False)
        except CheckpointError:
            continue
        names.add(name)
    return names


def _fresh_file_name(stem: str, step: int, suffix: str, referenced: set[str]) -> str:
    """`{stem}-{step:08d}{suffix}`, or its `-1` twin when the current config still references that name.

    Never overwriting a referenced file keeps an old checkpoint fully consistent even when the same
    step is saved twice and the process dies between two of the renames.
    """
    name = f"{stem}-{step:08d}{suffix}"
    if name in referenced:
        name = f"{stem}-{step:08d}-1{suffix}"
    return name


def _remove_unreferenced_files(folder: Path, *, keep: set[str | None], previous: set[str]) -> None:
    """Delete files the new config no longer references: genimg's own step files and the old config's files."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name in keep:
            continue
        # The old config's own files go too (e.g. a shipped "model.safetensors"), but only weight-like
        # names, so that a hand-edited config naming README.md can never make a save delete it.
        previous_data_file = name in previous and name.endswith((".safetensors", ".pt"))
        if _OWN_WEIGHTS_FILE.match(name) or _OWN_TRAINING_FILE.match(name) or previous_data_file:
            _remove_quietly(folder / name)


def _remove_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass  # best effort: a leftover file is harmless, and the next save tries again


def _describe_os_error(error: BaseException) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror} [errno {error.errno}]"  # without error.filename: an absolute path
    return _first_line(error) or type(error).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _first_few(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _shown(path: Path) -> str:
    """A file as messages show it: its folder's name and its own ("mnist-vae/config.json"), never the absolute path
    (messages reach a page's visitors, and the server's folders are none of their business)."""
    parts = Path(os.path.abspath(path)).parts[1:]
    return "/".join(parts[-2:]) or "/"


def _name(folder: Path) -> str:
    """A checkpoint folder as messages show it: its name only."""
    return Path(os.path.abspath(folder)).name or "/"


def _genimg_version() -> str:
    import genimg  # the package itself; already imported whenever this module is

    return getattr(genimg, "__version__", "unknown")
