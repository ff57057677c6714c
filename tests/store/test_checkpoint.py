"""Checkpoint folders: round trips, atomic saves that survive crashes and full disks, and refusal of unsafe or broken files."""

from __future__ import annotations

import errno
import json
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from torch import nn

import genimg.store.checkpoint as checkpoint_module
from genimg.store.checkpoint import (
    FORMAT_VERSION,
    Checkpoint,
    CheckpointError,
    is_checkpoint,
    load_checkpoint,
    load_weights_into,
    read_config,
    save_checkpoint,
    update_metrics,
    write_file_atomic,
)

REPO_ROOT = Path(__file__).resolve().parents[2]


def assert_names(path: Path, message: str) -> None:
    """Messages name a folder by its name and a file by its folder and name, never by an absolute path
    (they reach a page's visitors)."""
    absolute = path.absolute()
    shown = absolute.name if absolute.is_dir() or not absolute.suffix else f"{absolute.parent.name}/{absolute.name}"
    assert shown in message, message
    assert str(absolute.parent) not in message, message
TEMP_PREFIX = ".genimg-tmp-"


class TinyNetwork(nn.Module):
    """Conv + BatchNorm + Linear: parameters, float buffers and an int64 num_batches_tracked buffer."""

    def __init__(self, channels: int = 4) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, channels, kernel_size=3, padding=1)  # (N, channels, 8, 8)
        self.norm = nn.BatchNorm2d(channels)  # (N, channels, 8, 8)
        self.head = nn.Linear(channels * 8 * 8, 2)  # (N, 2)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.norm(self.conv(images)))
        return self.head(features.flatten(1))


class CreatesFileWhenUnpickled:
    """A pickle payload that runs code on unpickling: it creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def trained_network_and_optimizer() -> tuple[TinyNetwork, torch.optim.Adam]:
    torch.manual_seed(0)
    network = TinyNetwork()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-3)
    loss = network(torch.randn(5, 3, 8, 8)).square().mean()  # train mode: updates BatchNorm statistics
    loss.backward()
    optimizer.step()
    return network, optimizer


def save_simple(folder: Path, step: int, *, with_training_state: bool = True, **keywords) -> Path:
    """A checkpoint whose every part records `step`, so any mix-up between saves is visible."""
    return save_checkpoint(
        folder,
        model_config={"kind": "test", "size": 16},
        weights={"weight": torch.full((16, 16), float(step)), "count": torch.tensor(step)},
        step=step,
        training_state={"step": step, "values": torch.full((8,), step)} if with_training_state else None,
        metrics={"step": step},
        **keywords,
    )


def assert_consistent(folder: Path, step: int | None = None) -> Checkpoint:
    loaded = load_checkpoint(folder, with_training_state=True)
    recorded = loaded.step
    assert step is None or recorded == step
    assert torch.equal(loaded.weights["weight"], torch.full((16, 16), float(recorded)))
    assert int(loaded.weights["count"]) == recorded
    assert loaded.metrics["step"] == recorded
    assert loaded.training_state["step"] == recorded
    return loaded


def temp_files(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.startswith(TEMP_PREFIX))


def data_files(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.endswith((".safetensors", ".pt")))


# ----------------------------------------------------------------------------- round trips


def test_round_trip_rebuilds_model_optimizer_and_metadata(tmp_path: Path) -> None:
    network, optimizer = trained_network_and_optimizer()
    rng_state = torch.get_rng_state()
    folder = tmp_path / "run"
    returned = save_checkpoint(
        folder,
        model_config={"kind": "tiny", "channels": 4},
        weights=network.state_dict(),
        step=1,
        training_state={
            "optimizer": optimizer.state_dict(),
            "torch_rng": rng_state,
            "step": 1,
            "python_rng": random.getstate(),
            "flags": {"ema": None, "scale": 0.5, "names": ["a", "b"]},
        },
        training={"learning_rate": 1e-3, "batch_size": 5},
        dataset="mnist",
        metrics={"loss": 0.25},
        extra={"notes": "first run"},
    )
    assert returned == folder
    assert is_checkpoint(folder)

    loaded = load_checkpoint(folder, with_training_state=True)
    assert loaded.step == 1
    assert loaded.metrics == {"loss": 0.25}
    assert loaded.model_config == {"kind": "tiny", "channels": 4}
    assert loaded.config["dataset"] == "mnist"
    assert loaded.config["training"] == {"learning_rate": 1e-3, "batch_size": 5}
    assert loaded.config["notes"] == "first run"
    assert loaded.config["format_version"] == FORMAT_VERSION
    assert loaded.weights["norm.num_batches_tracked"].dtype == torch.int64
    assert int(loaded.weights["norm.num_batches_tracked"]) == 1

    rebuilt = TinyNetwork(**{k: v for k, v in loaded.model_config.items() if k != "kind"})
    load_weights_into(rebuilt, loaded.weights, source=folder)
    network.eval()
    rebuilt.eval()
    images = torch.randn(2, 3, 8, 8)
    assert torch.equal(network(images), rebuilt(images))

    new_optimizer = torch.optim.Adam(rebuilt.parameters(), lr=1e-3)
    new_optimizer.load_state_dict(loaded.training_state["optimizer"])
    for key, state in optimizer.state_dict()["state"].items():
        assert torch.equal(new_optimizer.state_dict()["state"][key]["exp_avg"], state["exp_avg"])
    assert torch.equal(loaded.training_state["torch_rng"], rng_state)
    assert loaded.training_state["python_rng"] == random.getstate()
    assert loaded.training_state["flags"] == {"ema": None, "scale": 0.5, "names": ["a", "b"]}

    # The training state is only read when asked for.
    assert load_checkpoint(folder).training_state is None
    assert read_config(folder)["step"] == 1


def test_weights_with_shared_storage_and_views_are_saved(tmp_path: Path) -> None:
    base = torch.arange(12.0)
    tied = nn.Linear(3, 3)
    weights = {"encoder.weight": tied.weight, "decoder.weight": tied.weight, "view": base[2:8].view(2, 3).t()}
    save_checkpoint(tmp_path / "tied", model_config={"kind": "test"}, weights=weights, step=0)
    loaded = load_checkpoint(tmp_path / "tied")
    assert torch.equal(loaded.weights["encoder.weight"], tied.weight.detach())
    assert torch.equal(loaded.weights["decoder.weight"], tied.weight.detach())
    assert torch.equal(loaded.weights["view"], base[2:8].view(2, 3).t())


def test_later_step_replaces_files_and_removes_the_old_ones(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    assert data_files(folder) == ["training-00000001.pt", "weights-00000001.safetensors"]
    save_simple(folder, 2)
    assert data_files(folder) == ["training-00000002.pt", "weights-00000002.safetensors"]
    assert_consistent(folder, 2)
    save_simple(folder, 3, with_training_state=False)
    assert data_files(folder) == ["weights-00000003.safetensors"]
    assert read_config(folder)["training_state"] is None
    assert load_checkpoint(folder, with_training_state=True).training_state is None


def test_saving_the_same_step_twice_keeps_one_consistent_checkpoint(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    for repeat in range(3):
        save_checkpoint(
            folder,
            model_config={"kind": "test"},
            weights={"weight": torch.full((4,), float(repeat))},
            step=7,
            training_state={"repeat": repeat},
            metrics={"repeat": repeat},
        )
        loaded = load_checkpoint(folder, with_training_state=True)
        assert loaded.step == 7
        assert loaded.metrics["repeat"] == loaded.training_state["repeat"] == repeat
        assert torch.equal(loaded.weights["weight"], torch.full((4,), float(repeat)))
        assert len(data_files(folder)) == 2
    assert temp_files(folder) == []


def test_load_checkpoint_moves_weights_to_the_requested_device(tmp_path: Path) -> None:
    save_simple(tmp_path / "run", 1)
    assert load_checkpoint(tmp_path / "run", map_location=torch.device("cpu")).weights["weight"].device.type == "cpu"
    with pytest.raises(CheckpointError, match="not a device"):
        load_checkpoint(tmp_path / "run", map_location="no-such-device")
    if torch.cuda.is_available():
        loaded = load_checkpoint(tmp_path / "run", with_training_state=True, map_location="cuda")
        assert loaded.weights["weight"].device.type == "cuda"
        assert loaded.training_state["values"].device.type == "cuda"


# ----------------------------------------------------------------------------- crashes and full disks


def test_failed_config_replace_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    real_replace = os.replace

    def replace_failing_on_config(source, target):
        if Path(target).name == "config.json":
            raise OSError(errno.EIO, "Input/output error")
        return real_replace(source, target)

    monkeypatch.setattr(os, "replace", replace_failing_on_config)
    with pytest.raises(CheckpointError) as raised:
        save_simple(folder, 2)
    assert_names(folder, str(raised.value))
    assert "previous checkpoint" in str(raised.value)
    monkeypatch.undo()

    assert_consistent(folder, 1)
    assert temp_files(folder) == []
    assert data_files(folder) == ["training-00000001.pt", "weights-00000001.safetensors"]


def test_crash_after_weights_were_written_keeps_previous_and_next_save_cleans_up(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)

    class SimulatedKill(BaseException):
        """Stands for the process dying: save_checkpoint gets no chance to roll back."""

    def torch_save_that_dies(obj, file, *args, **kwargs):
        file.write(b"half of a training state")
        raise SimulatedKill

    monkeypatch.setattr(checkpoint_module.torch, "save", torch_save_that_dies)
    with pytest.raises(SimulatedKill):
        save_simple(folder, 2)
    monkeypatch.undo()

    assert "weights-00000002.safetensors" in data_files(folder)  # an orphan: config never named it
    assert_consistent(folder, 1)

    # Leftovers of a killed writer, next to files that belong to the user.
    stray = folder / f"{TEMP_PREFIX}0123456789abcdef-weights-00000002.safetensors"
    stray.write_bytes(b"partial")
    user_files = ["notes.txt", ".genimg-notes", "weights-backup.safetensors", "README.md"]
    for name in user_files:
        (folder / name).write_text("keep me")

    save_simple(folder, 3)
    assert_consistent(folder, 3)
    assert temp_files(folder) == []
    for name in user_files:
        assert (folder / name).read_text() == "keep me"
    assert data_files(folder) == ["training-00000003.pt", "weights-00000003.safetensors", "weights-backup.safetensors"]


def test_full_disk_during_fsync_raises_and_keeps_previous(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)

    def fsync_on_full_disk(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_on_full_disk)
    with pytest.raises(CheckpointError) as raised:
        save_simple(folder, 2)
    monkeypatch.undo()
    message = str(raised.value)
    assert_names(folder, message)
    assert "No space left" in message

    assert_consistent(folder, 1)
    assert temp_files(folder) == []
    assert data_files(folder) == ["training-00000001.pt", "weights-00000001.safetensors"]


def test_full_disk_while_writing_training_state_removes_partial_files(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)

    def torch_save_on_full_disk(obj, file, *args, **kwargs):
        file.write(b"x" * 1000)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_module.torch, "save", torch_save_on_full_disk)
    with pytest.raises(CheckpointError, match="No space left") as raised:
        save_simple(folder, 2)
    monkeypatch.undo()
    assert_names(folder, str(raised.value))
    assert_consistent(folder, 1)
    assert temp_files(folder) == []
    assert data_files(folder) == ["training-00000001.pt", "weights-00000001.safetensors"]


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_raises_and_keeps_previous(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    folder.chmod(0o555)
    try:
        with pytest.raises(CheckpointError, match="ermission denied") as raised:
            save_simple(folder, 2)
        assert_names(folder, str(raised.value))
    finally:
        folder.chmod(0o755)
    assert_consistent(folder, 1)


# Imports torch once, then on each "go" forks a writer that saves forever until the test kills it;
# forking keeps five real SIGKILLs mid-save well under the time of five fresh interpreter starts.
KILLED_WRITERS = """
import os, sys
sys.path.insert(0, sys.argv[1])
import torch
from genimg.store.checkpoint import is_checkpoint, load_checkpoint, save_checkpoint

folder = sys.argv[2]

def save_forever():
    torch.set_num_threads(1)
    step = load_checkpoint(folder).step if is_checkpoint(folder) else 0
    announced = False
    while True:
        step += 1
        for repeat in range(2):  # the second save of a step exercises the same-step path
            save_checkpoint(
                folder,
                model_config={"kind": "test", "size": 16},
                weights={"weight": torch.full((16, 16), float(step)), "count": torch.tensor(step),
                         "bulk": torch.full((256, 256), float(step))},
                step=step,
                training_state={"step": step, "repeat": repeat, "bulk": torch.full((256, 256), step)},
                metrics={"step": step, "repeat": repeat},
            )
            if not announced:
                print("saved", os.getpid(), flush=True)
                announced = True

for command in sys.stdin:
    if command.strip() != "go":
        break
    writer = os.fork()
    if writer == 0:
        try:
            save_forever()
        finally:
            os._exit(1)
    os.waitpid(writer, 0)
    print("reaped", flush=True)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL") or not hasattr(os, "fork"), reason="needs SIGKILL and fork")
def test_folder_stays_loadable_when_the_writer_is_killed(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "little")
    chooser = random.Random(seed)
    folder = tmp_path / "run"
    helper = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITERS, str(REPO_ROOT), str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    last_step = 0
    try:
        for kill_number in range(5):
            helper.stdin.write("go\n")
            helper.stdin.flush()
            line = helper.stdout.readline().split()
            assert line[:1] == ["saved"], f"writer did not start: {line} {helper.stderr.read() if helper.poll() is not None else ''}"
            time.sleep(chooser.uniform(0.0, 0.2))
            os.kill(int(line[1]), signal.SIGKILL)
            assert helper.stdout.readline().strip() == "reaped"

            context = f"random seed {seed}, kill {kill_number}"
            loaded = assert_consistent(folder)
            assert loaded.step > last_step, context
            assert loaded.metrics["repeat"] == loaded.training_state["repeat"], context
            assert torch.equal(loaded.weights["bulk"], torch.full((256, 256), float(loaded.step))), context
            last_step = loaded.step
    finally:
        helper.stdin.close()
        try:
            helper.wait(timeout=30)
        finally:
            helper.kill()
            helper.stdout.close()
            helper.stderr.close()

    save_simple(folder, last_step + 1)
    assert temp_files(folder) == []
    assert data_files(folder) == [f"training-{last_step + 1:08d}.pt", f"weights-{last_step + 1:08d}.safetensors"]


# ----------------------------------------------------------------------------- refusing bad checkpoints


def write_config(folder: Path, **changes) -> Path:
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    for key, value in changes.items():
        if value is ...:
            config.pop(key)
        else:
            config[key] = value
    config_path.write_text(json.dumps(config))
    return config_path


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_training_state_carrying_code_is_refused_and_not_run(tmp_path: Path) -> None:
    proof = tmp_path / "payload-is-live"
    pickle.loads(pickle.dumps(CreatesFileWhenUnpickled(proof))).close()
    assert proof.exists()  # the payload really runs code when unpickled the unsafe way

    folder = tmp_path / "run"
    save_simple(folder, 1)
    marker = tmp_path / "code-ran"
    training_path = folder / "training-00000001.pt"
    torch.save({"step": 1, "payload": CreatesFileWhenUnpickled(marker)}, training_path)
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(folder, with_training_state=True)
    assert not marker.exists()
    assert_names(training_path, str(raised.value))
    assert "other than plain tensors" in str(raised.value)

    # A bare pickle stream (not torch.save's zip) is refused the same way.
    training_path.write_bytes(pickle.dumps({"payload": CreatesFileWhenUnpickled(marker)}))
    with pytest.raises(CheckpointError, match="other than plain tensors"):
        load_checkpoint(folder, with_training_state=True)
    assert not marker.exists()
    # Loading for inference alone does not even open the training state.
    assert load_checkpoint(folder).step == 1


def test_weights_file_carrying_code_is_refused_and_not_run(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    marker = tmp_path / "code-ran"
    weights_path = folder / "weights-00000001.safetensors"
    weights_path.write_bytes(pickle.dumps({"weight": CreatesFileWhenUnpickled(marker)}))
    with pytest.raises(CheckpointError) as raised:
        load_checkpoint(folder)
    assert_names(weights_path, str(raised.value))
    assert not marker.exists()

    torch.save({"weight": CreatesFileWhenUnpickled(marker)}, weights_path)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(folder)
    assert not marker.exists()


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda data: data[: len(data) // 2], "not a readable safetensors file"),
        (lambda data: data[:-1], "not a readable safetensors file"),
        (lambda data: data[:5], "not a readable safetensors file"),
        (lambda data: b"", "empty"),
        (lambda data: (2**62).to_bytes(8, "little") + data[8:], "not a readable safetensors file"),
        (lambda data: b"\x00" * len(data), "not a readable safetensors file"),
    ],
    ids=["half", "one-byte-short", "five-bytes", "zero-bytes", "absurd-header-size", "zeros"],
)
def test_damaged_weights_are_refused(tmp_path: Path, damage, expected: str) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    weights_path = folder / "weights-00000001.safetensors"
    weights_path.write_bytes(damage(weights_path.read_bytes()))
    with pytest.raises(CheckpointError, match=expected) as raised:
        load_checkpoint(folder)
    assert_names(weights_path, str(raised.value))


def test_oversized_weights_are_refused_before_reading(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    monkeypatch.setattr(checkpoint_module, "MAX_WEIGHTS_BYTES", 100)
    with pytest.raises(CheckpointError, match="up to 100 bytes"):
        load_checkpoint(folder)


def test_truncated_training_state_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    training_path = folder / "training-00000001.pt"
    training_path.write_bytes(training_path.read_bytes()[:200])
    with pytest.raises(CheckpointError, match="truncated") as raised:
        load_checkpoint(folder, with_training_state=True)
    assert_names(training_path, str(raised.value))
    training_path.unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(folder, with_training_state=True)


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    save_checkpoint(folder, model_config={"kind": "tiny", "channels": 4}, weights=TinyNetwork(4).state_dict(), step=1)
    weights = load_checkpoint(folder).weights

    with pytest.raises(CheckpointError) as raised:
        load_weights_into(TinyNetwork(8), weights, source=folder)
    message = str(raised.value)
    assert_names(folder, message)
    assert "conv.weight: model expects (8, 3, 3, 3), file has (4, 3, 3, 3)" in message

    missing = {key: value for key, value in weights.items() if key != "head.bias"}
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\) the model needs: head.bias"):
        load_weights_into(TinyNetwork(4), missing, source=folder)

    unexpected = {**weights, "extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match=r"1 unexpected key\(s\) the model does not have: extra.weight"):
        load_weights_into(TinyNetwork(4), unexpected, source=folder)

    both = {**missing, "extra.weight": torch.zeros(1)}
    with pytest.raises(CheckpointError, match="missing key.*unexpected key"):
        load_weights_into(TinyNetwork(4), both, source=folder)


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"format_version": 2}, r"format_version 2; this genimg reads versions \[1\].*newer"),
        ({"format_version": 0}, r"format_version 0; this genimg reads versions \[1\]"),
        ({"format_version": "1"}, "format_version '1'; an integer is expected"),
        ({"format_version": True}, "an integer is expected"),
        ({"format_version": ...}, "no format_version"),
        ({"model": "dcgan"}, "model is 'dcgan'; a JSON object"),
        ({"model": {"latent_dim": 8}}, "kind None"),
        ({"model": {"kind": 3}}, "kind 3"),
        ({"step": -1}, "step is -1; a non-negative integer"),
        ({"step": 1.5}, "step is 1.5"),
        ({"step": "1"}, "step is '1'"),
        ({"step": ...}, "no step"),
        ({"metrics": [1, 2]}, "metrics is \\[1, 2\\]"),
        ({"dataset": 5}, "dataset is 5"),
        ({"weights": ...}, "no weights entry"),
        ({"weights": 5}, "weights is 5; a plain file name"),
        ({"weights": "missing.safetensors"}, "is missing"),
        ({"training_state": "../x.pt"}, "training_state is '../x.pt'"),
    ],
)
def test_configs_with_wrong_values_are_refused(tmp_path: Path, changes: dict, expected: str) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    config_path = write_config(folder, **changes)
    with pytest.raises(CheckpointError, match=expected) as raised:
        load_checkpoint(folder)
    assert_names(config_path, str(raised.value))
    with pytest.raises(CheckpointError):
        read_config(folder)


@pytest.mark.parametrize(
    "name",
    ["../../etc/passwd", "../outside.safetensors", "/etc/passwd", "sub/weights.safetensors", "sub\\w.safetensors",
     ".hidden.safetensors", "..", ".", "", "config.json", "weights\x00.safetensors", "a..b"],
)
def test_weights_names_that_leave_the_folder_are_refused(tmp_path: Path, name: str) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    # A valid weights file outside the folder must stay out of reach.
    (tmp_path / "outside.safetensors").write_bytes((folder / "weights-00000001.safetensors").read_bytes())
    config_path = write_config(folder, weights=name)
    with pytest.raises(CheckpointError, match="plain file name") as raised:
        load_checkpoint(folder)
    assert_names(config_path, str(raised.value))


def test_missing_and_unparsable_configs_are_refused(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nowhere")
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        load_checkpoint(a_file)

    folder = tmp_path / "run"
    folder.mkdir()
    assert not is_checkpoint(folder)
    with pytest.raises(CheckpointError, match="config.json is missing") as raised:
        load_checkpoint(folder)
    assert_names(folder / "config.json", str(raised.value))

    (folder / "config.json").write_text("{not json")
    assert is_checkpoint(folder)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_config(folder)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(CheckpointError, match="JSON list; a JSON object is expected"):
        read_config(folder)
    (folder / "config.json").write_bytes(b'{"a": "\xff"}')
    with pytest.raises(CheckpointError, match="not UTF-8"):
        read_config(folder)


# ----------------------------------------------------------------------------- refusing bad saves


@pytest.mark.parametrize(
    "keywords, expected",
    [
        ({"step": -3}, "step is -3"),
        ({"step": True}, "step is True"),
        ({"model_config": {"size": 1}}, "kind None"),
        ({"metrics": {"loss": float("nan")}}, r"metrics\['loss'\] is nan"),
        ({"metrics": {"loss": torch.tensor(1.0)}}, r"use \.item\(\)"),
        ({"training": {1: "a"}}, "JSON object keys must be strings"),
        ({"extra": {"step": 5}}, "reserved"),
        ({"dataset": 3}, "dataset is 3"),
        ({"weights": {}}, "non-empty dict"),
        ({"weights": {"w": [1.0]}}, r"weights\['w'\] is a list"),
        ({"weights": {"w": torch.zeros(2, dtype=torch.complex64)}}, "dtype torch.complex64"),
        ({"training_state": {"rng": object()}}, r"training_state\['rng'\] is a builtins.object"),
        ({"training_state": [1]}, "a dict or None is accepted"),
    ],
)
def test_bad_arguments_are_refused_before_touching_the_disk(tmp_path: Path, keywords: dict, expected: str) -> None:
    folder = tmp_path / "run"
    save_simple(folder, 1)
    arguments = {"model_config": {"kind": "test"}, "weights": {"w": torch.zeros(2)}, "step": 2, **keywords}
    with pytest.raises(CheckpointError, match=expected):
        save_checkpoint(folder, **arguments)
    assert_consistent(folder, 1)


def test_save_into_a_path_that_is_a_file_is_refused(tmp_path: Path) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(CheckpointError, match="not a folder"):
        save_simple(a_file, 1)


# ----------------------------------------------------------------------------- small helpers


def test_update_metrics_merges_into_the_config(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    save_checkpoint(folder, model_config={"kind": "test"}, weights={"w": torch.zeros(2)}, step=4, metrics={"loss": 1.5})
    update_metrics(folder, {"fid": 12.5, "negative_elbo_nats": 90.0})
    update_metrics(folder, {"fid": 11.0})
    loaded = load_checkpoint(folder)
    assert loaded.metrics == {"loss": 1.5, "fid": 11.0, "negative_elbo_nats": 90.0}
    assert loaded.step == 4
    assert temp_files(folder) == []
    with pytest.raises(CheckpointError, match="is nan"):
        update_metrics(folder, {"fid": float("nan")})
    with pytest.raises(CheckpointError, match="does not exist"):
        update_metrics(tmp_path / "nowhere", {"fid": 1.0})


def test_update_metrics_makes_an_old_config_portable(tmp_path: Path) -> None:
    """A config saved before paths were made portable loses its absolute out path on its next metrics update."""
    folder = tmp_path / "run"
    save_checkpoint(folder, model_config={"kind": "test"}, weights={"w": torch.zeros(2)}, step=4)
    config_path = folder / "config.json"
    config = json.loads(config_path.read_text())
    config["training"] = {"out": str(folder), "data_root": str(tmp_path / "data"), "steps": 4}
    config_path.write_text(json.dumps(config))
    update_metrics(folder, {"fid": 1.0})
    assert json.loads(config_path.read_text())["training"] == {"out": ".", "data_root": None, "steps": 4}
    assert str(tmp_path) not in config_path.read_text()


def test_read_model_file_reads_plain_files_and_refuses_links_specials_and_size(tmp_path: Path) -> None:
    from genimg.store.checkpoint import read_model_file

    plain = tmp_path / "card.md"
    plain.write_bytes(b"hello")
    assert read_model_file(plain, max_bytes=5) == b"hello"
    with pytest.raises(CheckpointError, match="5 bytes; genimg reads a card of at most 4 bytes"):
        read_model_file(plain, max_bytes=4, what="card")
    (tmp_path / "link.md").symlink_to(plain)
    with pytest.raises(CheckpointError, match="symbolic link"):
        read_model_file(tmp_path / "link.md", max_bytes=5)
    (tmp_path / "dangling.md").symlink_to(tmp_path / "nothing")
    with pytest.raises(CheckpointError, match="symbolic link"):
        read_model_file(tmp_path / "dangling.md", max_bytes=5)
    with pytest.raises(CheckpointError, match="not a regular file"):
        read_model_file(tmp_path, max_bytes=5)
    with pytest.raises(FileNotFoundError):
        read_model_file(tmp_path / "absent.md", max_bytes=5)


def test_write_file_atomic_writes_text_and_bytes(tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    write_file_atomic(card, "# Model card\nµ\n")
    assert card.read_text(encoding="utf-8") == "# Model card\nµ\n"
    write_file_atomic(card, b"replaced")
    assert card.read_bytes() == b"replaced"
    assert temp_files(tmp_path) == []
    with pytest.raises(CheckpointError, match="does not exist"):
        write_file_atomic(tmp_path / "missing" / "samples.png", b"png")
    with pytest.raises(CheckpointError, match="bytes or str is accepted"):
        write_file_atomic(card, 5)  # type: ignore[arg-type]


def test_write_file_atomic_failure_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    card = tmp_path / "README.md"
    write_file_atomic(card, "old")

    def fsync_on_full_disk(descriptor):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", fsync_on_full_disk)
    with pytest.raises(CheckpointError, match="No space left") as raised:
        write_file_atomic(card, "new")
    monkeypatch.undo()
    assert_names(card, str(raised.value))
    assert card.read_text() == "old"
    assert temp_files(tmp_path) == []
