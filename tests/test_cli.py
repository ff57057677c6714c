"""The command line: train and sample end to end on the built-in data, and clear errors for bad arguments."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from genimg.cli import main
from genimg.store.checkpoint import load_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.run([sys.executable, "-m", "genimg", *arguments], capture_output=True, text=True,
                          env=environment, cwd=REPO_ROOT, timeout=300)


def test_train_then_sample_in_process(tmp_path, capsys):
    out = tmp_path / "shapes-vae"
    code = main(["train", "--model", "vae", "--dataset", "shapes", "--data-limit", "256", "--steps", "6",
                 "--batch-size", "32", "--width", "8", "--latent-dim", "4", "--out", str(out), "--quiet",
                 "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "finished at step 6" in printed
    checkpoint = load_checkpoint(out)
    assert checkpoint.config["model"]["likelihood"] == "gaussian"  # colour data defaults to a Gaussian decoder
    assert checkpoint.config["dataset"] == "shapes"

    grid = tmp_path / "grid.png"
    assert main(["sample", "--checkpoint", str(out), "--seed", "3", "--n", "16", "--scale", "2",
                 "--out", str(grid)]) == 0
    image = Image.open(grid)
    assert image.size == (2 * (4 * 34 + 2), 2 * (4 * 34 + 2))  # 4×4 cells of 32 px with 2 px gaps, doubled
    again = tmp_path / "again.png"
    main(["sample", "--checkpoint", str(out), "--seed", "3", "--n", "16", "--out", str(again)])
    assert grid.read_bytes() == again.read_bytes()  # a seed gives the same grid every time


def test_conditional_train_resume_and_label(tmp_path, capsys):
    out = tmp_path / "cgan"
    assert main(["train", "--model", "dcgan", "--conditional", "--dataset", "shapes", "--data-limit", "128",
                 "--steps", "4", "--batch-size", "32", "--width", "8", "--out", str(out), "--quiet",
                 "--checkpoint-every", "2"]) == 0
    assert load_checkpoint(out).config["model"]["num_classes"] == 3
    assert main(["train", "--resume", str(out), "--steps", "6", "--quiet"]) == 0
    assert "resumed at step 4" in capsys.readouterr().out
    assert load_checkpoint(out).step == 6
    assert load_checkpoint(out).config["training"]["lr_decay_from"] is None
    # annealing the rest of a run: the resumed run's settings say from where, and a start past the total is refused
    assert main(["train", "--resume", str(out), "--steps", "10", "--lr-decay-from", "6", "--quiet"]) == 0
    assert load_checkpoint(out).config["training"]["lr_decay_from"] == 6 and load_checkpoint(out).step == 10
    assert main(["train", "--resume", str(out), "--steps", "12", "--lr-decay-from", "12", "--quiet"]) == 2
    assert "lr_decay_from" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(out), "--label", "2", "--n", "4", "--out", str(tmp_path / "s.png")]) == 0
    assert main(["sample", "--checkpoint", str(out), "--label", "7", "--out", str(tmp_path / "t.png")]) == 2
    assert "classes 0 to 2" in capsys.readouterr().err


@pytest.mark.parametrize("arguments,needle", [
    (["train", "--steps", "-3", "--out", "x"], "--steps"),
    (["train", "--steps", "ten", "--out", "x"], "--steps"),
    (["train", "--model", "gan", "--out", "x"], "--model"),
    (["train", "--lr", "nan", "--out", "x"], "--lr"),
    (["sample", "--out", "x.png"], "--checkpoint"),
])
def test_argument_errors_name_the_argument(arguments, needle, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("arguments,needle", [
    (["train", "--dataset", "nope", "--out", "{tmp}/a"], "unknown dataset 'nope'"),
    (["train", "--dataset", "shapes", "--data-limit", "10", "--batch-size", "64", "--out", "{tmp}/b"], "batch_size = 64"),
    (["train", "--dataset", "shapes", "--lr", "-0.1", "--data-limit", "64", "--out", "{tmp}/c"], "lr_generator"),
    (["train", "--dataset", "shapes"], "--out is required"),
    (["train", "--dataset", "shapes", "--device", "cuda:7", "--data-limit", "64", "--out", "{tmp}/d"], "device"),
    (["sample", "--checkpoint", "{tmp}/missing", "--out", "{tmp}/x.png"], "does not exist"),
])
def test_bad_values_get_a_message_not_a_traceback(tmp_path, arguments, needle, capsys):
    arguments = [argument.replace("{tmp}", str(tmp_path)) for argument in arguments]
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert needle in error and "Traceback" not in error


def test_out_folder_is_never_overwritten(tmp_path, capsys):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    assert main(["train", "--dataset", "shapes", "--data-limit", "64", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "keep.txt").read_text() == "mine"


def test_module_entry_point_tampered_checkpoint(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--model", "vae", "--dataset", "shapes", "--data-limit", "64", "--steps", "2",
                 "--batch-size", "32", "--width", "8", "--out", str(out), "--quiet"]) == 0
    config = out / "config.json"
    config.write_text(config.read_text().replace('"weights": "', '"weights": "../../'))
    result = run_cli("sample", "--checkpoint", str(out), "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert "config.json" in result.stderr and "Traceback" not in result.stderr


def test_a_card_shows_no_absolute_data_folder(tmp_path, monkeypatch):
    """The eval command a model card repeats names the data folder relative to where it ran, or DATA when that
    folder is far away: no server's absolute path goes into a shipped card."""
    from genimg.cli import shown_data_root

    work = tmp_path / "work" / "main"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    assert shown_data_root(str(tmp_path / "work" / "shared" / "data")) == "../shared/data"
    assert shown_data_root("data") == "data"
    assert shown_data_root(str(tmp_path.parent / "elsewhere")) == "DATA"  # three levels up: far away
