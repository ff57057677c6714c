"""Model folders read defensively (issue 13): symlinks are never followed, cards and configs are capped in size
before they are read, absurd JSON (100,000 deep, a 5000-digit number) skips the model with one line in the app and
ends the command line with one line and status 2, and no message or saved config names an absolute server path.

Each test reproduces a visitor's attack on the code before this change: the card that was a link to /etc/passwd was
shown, the 200 MB card cost gigabytes, the deep config stopped the app at start and printed a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genimg.config import SHIPPED_DIR, ModelConfig
from genimg.explore.catalog import describe, discover
from genimg.models import build_model
from genimg.models.loading import load_model
from genimg.store.checkpoint import (
    MAX_CARD_BYTES,
    CheckpointError,
    load_checkpoint,
    read_config,
    save_checkpoint,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
SECRET_FILE = Path("/etc/passwd")
DEEP = 100_000
LONG_NUMBER = "9" * 5000


def save_model(folder: Path, *, training: dict | None = None) -> Path:
    """An untrained tiny DCGAN saved as a checkpoint folder with a card (loads and draws like a trained one)."""
    torch.manual_seed(0)
    config = ModelConfig(kind="dcgan", image_size=28, channels=1, latent_dim=4, num_classes=0, width=8)
    save_checkpoint(folder, model_config=config.to_dict(), weights=build_model(config).state_dict(), step=1,
                    dataset="mnist", training=training)
    (folder / "README.md").write_text(f"# {folder.name}\n\nAn honest card.\n", encoding="utf-8")
    return folder


def weights_of(folder: Path) -> Path:
    return folder / json.loads((folder / "config.json").read_text())["weights"]


def secret_line() -> str:
    """A line of the file an attacker links to, to look for in what the page would show."""
    return SECRET_FILE.read_text().splitlines()[0]


# ----------------------------------------------------------------------------------------------- symlinks
def test_a_card_linked_to_a_system_file_is_not_shown(tmp_path):
    honest = save_model(tmp_path / "honest")
    linked = save_model(tmp_path / "linked")
    (linked / "README.md").unlink()
    (linked / "README.md").symlink_to(SECRET_FILE)
    problems: list[str] = []
    entries = {entry.name: entry for entry in discover(tmp_path, problems=problems)}
    assert "An honest card" in entries["honest"].card
    assert secret_line() not in "".join(entry.card for entry in entries.values())
    assert secret_line() not in " ".join(problems)
    # One line says which card was ignored and why, naming the model by its folder name only.
    assert len(problems) == 1 and problems[0].startswith("linked") and "link" in problems[0]
    assert str(tmp_path) not in problems[0]
    assert describe(honest) is not None


@pytest.mark.parametrize("target", ["/proc/self/environ", "/etc/passwd"])
def test_a_card_linked_anywhere_is_not_read_even_by_describe(tmp_path, target):
    folder = save_model(tmp_path / "model")
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(target)
    entry = describe(folder)
    assert entry is not None and entry.card == ""


def test_a_card_linked_to_another_folders_card_is_not_followed_either(tmp_path):
    """Even a link to an honest file is refused: the folder, not the link's target, decides what is shown."""
    outside = tmp_path / "outside.md"
    outside.write_text("text from outside the model folder")
    folder = save_model(tmp_path / "models" / "model")
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(outside)
    entry = describe(folder)
    assert entry is not None and "outside" not in entry.card


@pytest.mark.parametrize("name", ["config.json", "weights"])
def test_a_linked_config_or_weights_file_skips_the_model(tmp_path, name):
    source = save_model(tmp_path / "source")
    folder = save_model(tmp_path / "models" / "model")
    path = weights_of(folder) if name == "weights" else folder / name
    target = weights_of(source) if name == "weights" else source / name
    path.unlink()
    path.symlink_to(target)
    with pytest.raises(CheckpointError, match="link"):
        load_checkpoint(folder)
    problems: list[str] = []
    assert discover(tmp_path / "models", problems=problems) == []
    assert len(problems) == 1 and problems[0].startswith("model:") and "link" in problems[0]


def test_a_linked_model_folder_is_skipped(tmp_path):
    source = save_model(tmp_path / "elsewhere" / "model")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "linked").symlink_to(source, target_is_directory=True)
    problems: list[str] = []
    assert discover(tmp_path / "models", problems=problems) == []
    assert len(problems) == 1 and problems[0].startswith("linked:") and "link" in problems[0]


def test_a_linked_training_state_is_refused(tmp_path):
    folder = save_model(tmp_path / "run")
    config = json.loads((folder / "config.json").read_text())
    torch.save({"step": 1}, tmp_path / "state.pt")
    (folder / "training-00000001.pt").symlink_to(tmp_path / "state.pt")
    config["training_state"] = "training-00000001.pt"
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="link"):
        load_checkpoint(folder, with_training_state=True)


def test_a_fifo_named_as_a_card_does_not_hang_discovery(tmp_path):
    folder = save_model(tmp_path / "model")
    (folder / "README.md").unlink()
    os.mkfifo(folder / "README.md")
    problems: list[str] = []
    [entry] = discover(tmp_path, problems=problems)
    assert entry.card == "" and len(problems) == 1 and "not a regular file" in problems[0]


# ----------------------------------------------------------------------------------------------- size caps
MEMORY_PROBE = """
import resource, sys
from genimg.explore.catalog import discover
def peak_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
before = peak_mb()
problems = []
entries = discover(sys.argv[1], problems=problems)
print(len(entries), round(peak_mb() - before, 1), len(problems))
"""


def test_discovering_a_folder_with_a_200_mb_card_costs_under_100_mb(tmp_path):
    folder = save_model(tmp_path / "huge-card")
    with open(folder / "README.md", "ab") as card:
        card.truncate(200 * 1024 * 1024)  # sparse: 200 MB to read, nothing on disk
    result = subprocess.run([sys.executable, "-c", MEMORY_PROBE, str(tmp_path)], capture_output=True, text=True,
                            cwd=REPO_ROOT, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    entries, grown_mb, problems = result.stdout.split()
    assert float(grown_mb) < 100, f"discovering grew the peak memory by {grown_mb} MB"
    assert entries == "1" and problems == "1"  # the model stays offered, its card is refused with a line


def test_an_oversized_card_is_refused_with_a_line_and_a_card_at_the_cap_is_kept(tmp_path):
    big = save_model(tmp_path / "big")
    (big / "README.md").write_bytes(b"x" * (MAX_CARD_BYTES + 1))
    fits = save_model(tmp_path / "fits")
    (fits / "README.md").write_bytes(b"y" * MAX_CARD_BYTES)
    problems: list[str] = []
    entries = {entry.name: entry for entry in discover(tmp_path, problems=problems)}
    assert entries["big"].card == "" and len(entries["fits"].card) == MAX_CARD_BYTES
    assert len(problems) == 1 and problems[0].startswith("big") and f"{MAX_CARD_BYTES:,}" in problems[0]


def test_an_oversized_config_is_refused_before_it_is_read(tmp_path):
    folder = save_model(tmp_path / "model")
    with open(folder / "config.json", "ab") as config:
        config.truncate(50 * 1024 * 1024)
    with pytest.raises(CheckpointError, match="bytes"):
        read_config(folder)


# ----------------------------------------------------------------------------------------------- absurd JSON
def hostile_config(folder: Path, attack: str) -> None:
    """Replace a sound config.json by one nested DEEP levels or holding a 5000-digit step."""
    config = (folder / "config.json").read_text()
    if attack == "deep":
        config = config.replace('"metrics": {}', '"metrics": {"x": ' + "[" * DEEP + "]" * DEEP + "}")
    else:
        config = config.replace('"step": 1', '"step": ' + LONG_NUMBER)
    assert config != (folder / "config.json").read_text()
    (folder / "config.json").write_text(config)


@pytest.mark.parametrize("attack", ["deep", "long-number"])
def test_an_absurd_config_skips_the_model_with_one_line(tmp_path, attack):
    save_model(tmp_path / "good")
    hostile_config(save_model(tmp_path / "bad"), attack)
    problems: list[str] = []
    entries = discover(tmp_path, problems=problems)
    assert [entry.name for entry in entries] == ["good"]
    assert len(problems) == 1 and problems[0].startswith("bad:") and "\n" not in problems[0]
    assert str(tmp_path) not in problems[0] and len(problems[0]) < 300
    with pytest.raises(CheckpointError):
        load_model(tmp_path / "bad")


@pytest.mark.parametrize("attack", ["deep", "long-number"])
def test_the_page_builds_with_an_absurd_config_and_lists_it_as_skipped(tmp_path, attack):
    import app
    from genimg.store.workspace import Workspaces

    save_model(tmp_path / "models" / "good")
    hostile_config(save_model(tmp_path / "models" / "bad"), attack)
    demo = app.build_demo([str(tmp_path / "models")], workspaces=Workspaces(tmp_path / "workspaces"))
    shown = [str(component["props"].get("value")) for component in demo.config["components"]
             if "bad:" in str(component.get("props", {}).get("value"))]
    assert len(shown) == 1  # the skipped accordion names it, in one line
    assert str(tmp_path) not in shown[0] and "Traceback" not in shown[0]


@pytest.mark.parametrize("command", ["sample", "eval", "export", "train"])
@pytest.mark.parametrize("attack", ["deep", "long-number"])
def test_the_command_line_says_one_line_and_exits_2_on_an_absurd_config(tmp_path, command, attack):
    folder = save_model(tmp_path / "bad")
    hostile_config(folder, attack)
    arguments = {"sample": ["--checkpoint", str(folder), "--out", str(tmp_path / "grid.png")],
                 "eval": ["--checkpoint", str(folder), "--no-card"],
                 "export": ["--checkpoint", str(folder), "--out", str(tmp_path / "exported")],
                 "train": ["--resume", str(folder), "--steps", "5"]}[command]
    result = subprocess.run([sys.executable, "-m", "genimg", command, *arguments],
                            capture_output=True, text=True, cwd=REPO_ROOT, timeout=300, check=False,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr[-2000:]
    assert "bad/config.json" in result.stderr and str(tmp_path) not in result.stderr


def test_the_command_line_refuses_a_linked_config_in_one_line(tmp_path):
    source = save_model(tmp_path / "source")
    folder = save_model(tmp_path / "linked")
    (folder / "config.json").unlink()
    (folder / "config.json").symlink_to(source / "config.json")
    result = subprocess.run([sys.executable, "-m", "genimg", "sample", "--checkpoint", str(folder), "--out",
                             str(tmp_path / "grid.png")], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=300, check=False, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "link" in result.stderr


# ----------------------------------------------------------------------------------------------- server paths
def test_messages_name_the_model_folder_never_an_absolute_path(tmp_path):
    folder = save_model(tmp_path / "run")
    weights_of(folder).unlink()
    with pytest.raises(CheckpointError) as missing_weights:
        load_model(folder)
    (folder / "config.json").write_text("{")
    with pytest.raises(CheckpointError) as broken_config:
        load_model(folder)
    with pytest.raises(CheckpointError) as missing_folder:
        load_model(tmp_path / "nowhere")
    for raised in (missing_weights, broken_config, missing_folder):
        message = str(raised.value)
        assert str(tmp_path) not in message and "/tmp" not in message, message
    assert "run/config.json" in str(broken_config.value)
    assert "nowhere" in str(missing_folder.value)


def test_a_saved_config_keeps_no_absolute_path(tmp_path):
    out = tmp_path / "runs" / "mine"
    training = {"out": str(out), "data_root": str(tmp_path / "data"), "dataset": "mnist", "steps": 3}
    save_model(out, training=training)
    saved = json.loads((out / "config.json").read_text())
    assert saved["training"]["out"] == "."  # the run folder itself, relative to the run folder
    assert saved["training"]["data_root"] is None
    assert saved["training"]["steps"] == 3
    assert str(tmp_path) not in (out / "config.json").read_text()


def test_a_relative_data_root_is_kept(tmp_path):
    out = save_model(tmp_path / "run", training={"out": "runs/x", "data_root": "../shared/data"})
    saved = json.loads((out / "config.json").read_text())["training"]
    assert saved["data_root"] == "../shared/data" and saved["out"] == "."


def absolute_paths(value: object) -> list[str]:
    """Every string inside a parsed JSON value that is an absolute path (or a folder: data set on one)."""
    if isinstance(value, dict):
        return [path for item in value.values() for path in absolute_paths(item)]
    if isinstance(value, list):
        return [path for item in value for path in absolute_paths(item)]
    if isinstance(value, str):
        text = value.removeprefix("folder:")
        return [value] if os.path.isabs(text) or text.startswith("~") else []
    return []


@pytest.mark.parametrize("folder", sorted(path.name for path in SHIPPED_DIR.iterdir()
                                          if (path / "config.json").is_file()))
def test_shipped_configs_hold_no_absolute_path(folder):
    config = json.loads((SHIPPED_DIR / folder / "config.json").read_text())
    assert absolute_paths(config) == []
