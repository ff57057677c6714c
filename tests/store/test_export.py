"""A saved model exported as one zip (genimg/store/export.py): config.json + .safetensors weights + README.md card,
loadable by genimg once unpacked; old exports removed, nothing else touched; a damaged folder refused."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
import torch

from genimg.models.loading import load_model
from genimg.store.checkpoint import CheckpointError
from genimg.store.export import export_model, export_name, remove_old_exports


@pytest.fixture
def model_folder(tiny_models, tmp_path) -> Path:
    """A copy of a tiny trained GAN with a model card, as Save as leaves it in a workspace."""
    folder = tmp_path / "models" / "my digits"
    shutil.copytree(tiny_models["gan"], folder)
    (folder / "README.md").write_text("# my digits\n\nTrained in genimg's Train tab.\n", encoding="utf-8")
    return folder


def test_the_zip_holds_config_weights_and_card_and_loads_back(model_folder, tmp_path):
    exported = export_model(model_folder, tmp_path / "exports", name="my digits")
    assert exported.name == "my-digits.zip" and exported.parent == tmp_path / "exports"
    with zipfile.ZipFile(exported) as archive:
        names = sorted(archive.namelist())
        archive.extractall(tmp_path / "unpacked")
    config = json.loads((model_folder / "config.json").read_text())
    assert names == sorted(["my-digits/config.json", f"my-digits/{config['weights']}", "my-digits/README.md"])
    assert config["weights"].endswith(".safetensors")
    unpacked = tmp_path / "unpacked" / "my-digits"
    assert (unpacked / "README.md").read_text(encoding="utf-8").startswith("# my digits")
    model, model_config, loaded = load_model(unpacked)
    original, _, _ = load_model(model_folder)
    assert loaded["training_state"] is None and model_config.kind == "dcgan"
    for (name, tensor), (_, expected) in zip(model.state_dict().items(), original.state_dict().items(), strict=True):
        assert torch.equal(tensor, expected), name  # the same weights, bit for bit


def test_a_model_without_a_card_gets_one_naming_it(model_folder, tmp_path):
    (model_folder / "README.md").unlink()
    exported = export_model(model_folder, tmp_path / "exports")
    with zipfile.ZipFile(exported) as archive:
        assert archive.read("my-digits/README.md").decode().startswith("# my-digits")


def test_old_exports_are_removed_and_nothing_else(model_folder, tmp_path):
    exports = tmp_path / "exports"
    exports.mkdir()
    old, fresh, unfinished = exports / "old.zip", exports / "fresh.zip", exports / ".x-0000.zip.partial"
    keep = [exports / "notes.txt", exports / "folder.zip"]  # not an export: a text file, a folder
    for path in (old, fresh, unfinished, keep[0]):
        path.write_bytes(b"x")
    keep[1].mkdir()
    outside = tmp_path / "outside.zip"
    outside.write_bytes(b"x")
    link = exports / "link.zip"
    link.symlink_to(outside)
    now = 1_000_000.0
    for path in (old, unfinished, keep[0]):
        os.utime(path, (now - 7200, now - 7200))
    os.utime(fresh, (now - 60, now - 60))
    exported = export_model(model_folder, exports, max_age_seconds=3600, now=now)
    assert not old.exists() and not unfinished.exists()
    assert fresh.exists() and exported.exists() and all(path.exists() for path in keep)
    assert link.is_symlink() and outside.exists()  # a link is never followed nor removed
    assert remove_old_exports(tmp_path / "missing", 0) == []


def test_a_folder_genimg_could_not_load_is_refused_and_leaves_no_zip(model_folder, tmp_path):
    config = json.loads((model_folder / "config.json").read_text())
    (model_folder / config["weights"]).unlink()
    with pytest.raises(CheckpointError, match="missing"):
        export_model(model_folder, tmp_path / "exports")
    assert list((tmp_path / "exports").glob("*")) == [] if (tmp_path / "exports").exists() else True


@pytest.mark.parametrize("name, expected", [("my digits", "my-digits"), ("../../etc/passwd", "etc-passwd"),
                                            ("  ", "model"), ("a/b\\c", "a-b-c"), ("x" * 100, "x" * 60)])
def test_export_names_are_plain_file_names(name, expected):
    assert export_name(name) == expected
