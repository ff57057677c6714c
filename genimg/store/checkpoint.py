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
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

import safetensors.torch
import torch

__all__ = [
    "FORMAT_VERSION",
    "SUPPORTED_FORMAT_VERSIONS",
    "CONFIG_FILE_NAME",
    "CheckpointError",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "read_config",
    "load_weights_into",
    "update_metrics",
    "write_file_atomic",
    "intercept_writes",
    "is_checkpoint",
]

FORMAT_VERSION = 1
SUPPORTED_FORMAT_VERSIONS = (1,)
CONFIG_FILE_NAME = "config.json"

# Size caps protect a user who opens a downloaded or damaged folder: a file this large is not a
# genimg model (the shipped DCGAN and VAE weigh a few MB), and reading it could exhaust memory.
MAX_CONFIG_BYTES = 16 * 1024 * 1024
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
    _check_step(step, where=f"save_checkpoint(step=...) for {_full(folder)}")
    _check_model_config(model_config, source=f"save_checkpoint(model_config=...) for {_full(folder)}")
    for name, value in (("model_config", model_config), ("training", training), ("metrics", metrics), ("extra", extra)):
        if value is not None:
            _check_plain_json(value, where=name, folder=folder)
            if not isinstance(value, dict):
                raise CheckpointError(
                    f"cannot save checkpoint to {_full(folder)}: {name} is a {type(value).__name__}; "
                    "a dict (JSON object) or None is accepted"
                )
    if dataset is not None and not isinstance(dataset, str):
        raise CheckpointError(
            f"cannot save checkpoint to {_full(folder)}: dataset is {dataset!r}; a string or None is accepted"
        )
    if extra:
        clashing = sorted(set(extra) & _RESERVED_KEYS)
        if clashing:
            raise CheckpointError(
                f"cannot save checkpoint to {_full(folder)}: extra keys {clashing} are reserved by the "
                f"checkpoint format; use other names (reserved: {sorted(_RESERVED_KEYS)})"
            )
    plain_weights = _plain_weights(weights, folder)
    plain_training_state = None
    if training_state is not None:
        if not isinstance(training_state, dict):
            raise CheckpointError(
                f"cannot save checkpoint to {_full(folder)}: training_state is a "
                f"{type(training_state).__name__}; a dict or None is accepted"
            )
        plain_training_state = _plain_training_state(training_state, "training_state", folder)

    if folder.exists() and not folder.is_dir():
        raise CheckpointError(
            f"cannot save checkpoint to {_full(folder)}: it exists and is not a folder; "
            "give a folder path (it is created if missing)"
        )
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CheckpointError(f"cannot save checkpoint to {_full(folder)}: creating the folder failed: {error}") from error

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
        "training": training if training is not None else {},
        "dataset": dataset,
        "step": step,
        "metrics": metrics if metrics is not None else {},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "weights": weights_name,
        "training_state": training_name,
        **(extra or {}),
    }
    config_text = json.dumps(config, indent=2, allow_nan=False) + "\n"

    try:
        weights_bytes = safetensors.torch.save(plain_weights, metadata={"format": "pt"})
    except Exception as error:  # safetensors reports its own problems with a bare exception type
        raise CheckpointError(
            f"cannot save checkpoint to {_full(folder)}: the weights could not be encoded as safetensors: {error}"
        ) from error

    written: list[Path] = []
    config_replaced = False
    try:
        _write_atomic(folder / weights_name, lambda file: file.write(weights_bytes), fsync_folder=False)
        written.append(folder / weights_name)
        del weights_bytes
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
            f"cannot save checkpoint to {_full(folder)}: {cause}; {state}. "
            "Free some disk space, check the folder's permissions, or choose another folder."
        ) from error

    _remove_unreferenced_files(folder, keep={weights_name, training_name}, previous=previous_files)
    return folder


def update_metrics(directory: str | os.PathLike[str], metrics: dict[str, Any]) -> None:
    """Merge `metrics` (plain JSON) into the checkpoint's recorded metrics, replacing config.json atomically."""
    folder = Path(directory)
    if not isinstance(metrics, dict):
        raise CheckpointError(
            f"cannot update metrics in {_full(folder / CONFIG_FILE_NAME)}: metrics is a "
            f"{type(metrics).__name__}; a dict is accepted"
        )
    _check_plain_json(metrics, where="metrics", folder=folder)
    config = read_config(folder)
    merged = dict(config.get("metrics") or {})
    merged.update(metrics)
    config["metrics"] = merged
    try:
        text = json.dumps(config, indent=2, allow_nan=False) + "\n"
    except ValueError as error:  # a hand-edited config may hold NaN, which strict JSON cannot
        raise CheckpointError(f"cannot update metrics in {_full(folder / CONFIG_FILE_NAME)}: {error}") from error
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
            f"cannot write {_full(target)}: data is a {type(data).__name__}; bytes or str is accepted"
        )
    if not target.parent.is_dir():
        raise CheckpointError(
            f"cannot write {_full(target)}: the folder {_full(target.parent)} does not exist; "
            "create it first (save_checkpoint creates checkpoint folders)"
        )
    try:
        _write_atomic(target, lambda file: file.write(payload), fsync_folder=True)
    except OSError as error:
        raise CheckpointError(
            f"cannot write {_full(target)}: {_describe_os_error(error)}; the previous file (if any) is unchanged"
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
            f"checkpoint folder {_full(folder)} does not exist; give a folder that holds a {CONFIG_FILE_NAME}"
        )
    if not folder.is_dir():
        raise CheckpointError(
            f"checkpoint path {_full(folder)} is not a folder; give a folder that holds a {CONFIG_FILE_NAME}"
        )
    config_path = folder / CONFIG_FILE_NAME
    if not config_path.is_file():
        raise CheckpointError(
            f"{_full(config_path)} is missing; a checkpoint folder must hold a {CONFIG_FILE_NAME} "
            "written by genimg (save_checkpoint)"
        )
    try:
        size = config_path.stat().st_size
        if size > MAX_CONFIG_BYTES:
            raise CheckpointError(
                f"{_full(config_path)} is {size} bytes; a checkpoint config is at most {MAX_CONFIG_BYTES} bytes"
            )
        text = config_path.read_text(encoding="utf-8")
    except OSError as error:
        raise CheckpointError(f"cannot read {_full(config_path)}: {_describe_os_error(error)}") from error
    except UnicodeDecodeError as error:
        raise CheckpointError(f"{_full(config_path)} is not UTF-8 text ({error}); a JSON object is expected") from error
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise CheckpointError(
            f"{_full(config_path)} is not valid JSON ({error}); a JSON object written by genimg is expected"
        ) from error
    _validate_config(config, config_path)
    weights_path = folder / config["weights"]
    if not weights_path.is_file():
        raise CheckpointError(
            f"{_full(config_path)} names the weights file {config['weights']!r}, but {_full(weights_path)} "
            "is missing; the folder is incomplete (copy the whole folder, or save it again)"
        )
    return config


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
            f"the weights from {_full(Path(source))} do not fit {type(module).__name__}: "
            + "; ".join(problems)
            + ". Weights load only into a model built from the same model config as the checkpoint."
        )
    try:
        module.load_state_dict(dict(weights), strict=True)
    except RuntimeError as error:
        raise CheckpointError(f"the weights from {_full(Path(source))} could not be copied into {type(module).__name__}: {error}") from error


# --------------------------------------------------------------------------------------------
# Validation helpers
# --------------------------------------------------------------------------------------------


def _validate_config(config: Any, config_path: Path) -> None:
    """Raise CheckpointError for the first field of a parsed config.json that genimg cannot trust."""
    where = _full(config_path)
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
                f"cannot save checkpoint to {_full(folder)}: {where} is {value}; JSON holds only finite numbers "
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
                    f"cannot save checkpoint to {_full(folder)}: {where} has the key {key!r} "
                    f"({type(key).__name__}); JSON object keys must be strings"
                )
            _check_plain_json(item, where=f"{where}[{key!r}]", folder=folder)
        return
    hint = " (use .item() or .tolist())" if isinstance(value, torch.Tensor) else ""
    raise CheckpointError(
        f"cannot save checkpoint to {_full(folder)}: {where} is a {type(value).__module__}.{type(value).__name__}"
        f"{hint}; plain JSON values are accepted (None, bool, int, finite float, str, list, dict with str keys)"
    )


def _plain_weights(weights: Mapping[str, torch.Tensor], folder: Path) -> dict[str, torch.Tensor]:
    """Independent, contiguous CPU copies of a state dict, as safetensors requires (no shared storage)."""
    if not isinstance(weights, Mapping) or not weights:
        raise CheckpointError(
            f"cannot save checkpoint to {_full(folder)}: weights is {type(weights).__name__} "
            f"{'(empty)' if isinstance(weights, Mapping) else ''}; a non-empty dict of name -> torch.Tensor "
            "(a model's state_dict()) is accepted"
        )
    plain = {}
    for key, tensor in weights.items():
        if not isinstance(key, str):
            raise CheckpointError(
                f"cannot save checkpoint to {_full(folder)}: weights has the key {key!r}; string keys are accepted"
            )
        if not isinstance(tensor, torch.Tensor):
            raise CheckpointError(
                f"cannot save checkpoint to {_full(folder)}: weights[{key!r}] is a {type(tensor).__name__}; "
                "torch.Tensor values are accepted"
            )
        _check_weight_dtype(tensor, f"weights[{key!r}]", f"cannot save checkpoint to {_full(folder)}")
        if tensor.layout != torch.strided:
            raise CheckpointError(
                f"cannot save checkpoint to {_full(folder)}: weights[{key!r}] has layout {tensor.layout}; "
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
                    f"cannot save checkpoint to {_full(folder)}: {where} has the key {key!r} "
                    f"({type(key).__name__}); str or int keys are accepted"
                )
            plain[key] = _plain_training_state(item, f"{where}[{key!r}]", folder)
        return plain
    hint = " (convert numpy arrays with torch.from_numpy)" if type(value).__module__.startswith("numpy") else ""
    raise CheckpointError(
        f"cannot save checkpoint to {_full(folder)}: {where} is a {type(value).__module__}.{type(value).__name__}{hint}; "
        "the training state accepts tensors, int, float, bool, str, None, lists, tuples and dicts"
    )


def _device(map_location: str | torch.device, folder: Path) -> torch.device:
    try:
        return torch.device(map_location)
    except (RuntimeError, TypeError) as error:
        raise CheckpointError(
            f"cannot load checkpoint {_full(folder)}: map_location {map_location!r} is not a device; "
            "a device such as 'cpu', 'cuda' or 'cuda:0' is accepted"
        ) from error


def _load_weights_file(path: Path, device: torch.device) -> dict[str, torch.Tensor]:
    try:
        size = path.stat().st_size
    except OSError as error:
        raise CheckpointError(f"cannot read weights file {_full(path)}: {_describe_os_error(error)}") from error
    if size == 0:
        raise CheckpointError(
            f"weights file {_full(path)} is empty (0 bytes); a safetensors file written by genimg is expected "
            "(the folder may have been copied while it was being written)"
        )
    if size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(
            f"weights file {_full(path)} is {size} bytes; genimg loads weights files up to {MAX_WEIGHTS_BYTES} bytes"
        )
    try:
        # safetensors parses only a JSON header and raw tensor bytes: no code can run from this file.
        weights = safetensors.torch.load_file(path, device=str(device))
    except Exception as error:  # SafetensorError, OSError, and device errors alike mean "unusable"
        raise CheckpointError(
            f"weights file {_full(path)} is not a readable safetensors file ({error}); it may be truncated, "
            "damaged, or another format. A .safetensors file written by genimg is expected"
        ) from error
    for key, tensor in weights.items():
        _check_weight_dtype(tensor, repr(key), f"weights file {_full(path)}")
    return weights


def _load_training_state_file(path: Path, map_location: torch.device, folder: Path) -> dict[str, Any]:
    try:
        size = path.stat().st_size
    except FileNotFoundError as error:
        raise CheckpointError(
            f"{_full(folder / CONFIG_FILE_NAME)} names the training state {path.name!r}, but {_full(path)} is "
            "missing; load without the training state, or copy the whole folder"
        ) from error
    except OSError as error:
        raise CheckpointError(f"cannot read training state {_full(path)}: {_describe_os_error(error)}") from error
    if size > MAX_TRAINING_STATE_BYTES:
        raise CheckpointError(
            f"training state {_full(path)} is {size} bytes; genimg loads training states up to "
            f"{MAX_TRAINING_STATE_BYTES} bytes"
        )
    try:
        # weights_only=True is the safety boundary: the restricted unpickler refuses every global
        # (class, function) that is not a tensor type or plain container, so no code runs.
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as error:
        raise CheckpointError(
            f"training state {_full(path)} holds something other than plain tensors and containers, "
            f"so genimg refused to unpickle it (nothing in it was run): {_first_line(error)}. "
            "A training state written by genimg's save_checkpoint is expected"
        ) from error
    except Exception as error:  # truncated zip archives, bad magic numbers, EOF: all mean "unusable"
        raise CheckpointError(
            f"training state {_full(path)} could not be read ({_first_line(error)}); it may be truncated or "
            "damaged. A training state written by genimg's save_checkpoint is expected"
        ) from error
    if not isinstance(state, dict):
        raise CheckpointError(
            f"training state {_full(path)} holds a {type(state).__name__}; a dict is expected"
        )
    return state


# --------------------------------------------------------------------------------------------
# File-system helpers
# --------------------------------------------------------------------------------------------


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
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
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
        where = f" ({error.filename})" if error.filename else ""
        return f"{error.strerror} [errno {error.errno}]{where}"
    return _first_line(error) or type(error).__name__


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _first_few(items: list[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")


def _full(path: Path) -> str:
    return str(path.absolute())


def _genimg_version() -> str:
    import genimg  # the package itself; already imported whenever this module is

    return getattr(genimg, "__version__", "unknown")
