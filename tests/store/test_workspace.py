"""genimg.store.workspace: tokens that cannot name a path, model names that cannot leave the workspace, copying
a checkpoint's explorable part, the disk quota (oldest runs go first, saved models and the training run never),
and the clean-up of workspaces past their time-to-live.

tests/ui/test_train_tab.py covers the same through the Train tab (a full workspace refusing a run, one
eviction with a run kept, one expired workspace); these call the library directly.
"""

import os
import time
from pathlib import Path

import pytest
import torch

from genimg.store import workspace as workspace_module
from genimg.store.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_config,
    save_checkpoint,
)
from genimg.store.workspace import (
    TOKEN_PATTERN,
    Workspace,
    WorkspaceError,
    Workspaces,
    copy_checkpoint,
    folder_size,
    latest_checkpoint,
    new_token,
)


@pytest.fixture
def workspaces(tmp_path) -> Workspaces:
    return Workspaces(tmp_path / "root", quota_bytes=10_000, ttl_hours=1)


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A resumable run folder: weights, optimiser state, a sample grid."""
    folder = tmp_path / "run"
    save_checkpoint(folder, model_config={"kind": "dcgan", "latent_dim": 4}, weights={"w": torch.arange(6.0)},
                    step=5, training_state={"optimizer": {"moment": torch.ones(2)}}, dataset="shapes")
    (folder / "samples.png").write_bytes(b"\x89PNG sample grid")
    return folder


def make_run(workspace: Workspace, name: str, size: int) -> Path:
    """A run folder named as new_run names them (run-<date>-<time>-<hex>), holding `size` bytes."""
    run = workspace.runs / name
    run.mkdir(parents=True)
    (run / "weights.bin").write_bytes(b"x" * size)
    return run


def age(folder: Path, seconds: float) -> None:
    """Make `folder` and everything in it look last touched `seconds` ago."""
    then = time.time() - seconds
    for path in [folder, *folder.rglob("*")]:
        os.utime(path, (then, then))


# ------------------------------------------------------------------------------------------------ tokens
def test_new_tokens_are_valid_and_distinct():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200 and all(TOKEN_PATTERN.match(token) for token in tokens)


@pytest.mark.parametrize("token", [None, "", 123, "short", "../../../../etc/passwd", "a" * 21, "a" * 65,
                                   "abcdefghijklmnopqrstuvwxyz/..", "abcdefghijklmnopqrstu.vwxyz",
                                   "/abcdefghijklmnopqrstuvwxyz",
                                   "abcdefghijklmnopqrstuvwxyz\n"])
def test_a_malformed_token_is_refused(workspaces, token):
    with pytest.raises(WorkspaceError, match="no valid workspace"):
        workspaces.get(token)
    assert not workspaces.root.exists()  # refusing touches nothing


def test_a_token_names_its_folder_under_the_root(workspaces):
    token = new_token()
    workspace = workspaces.get(token)
    assert workspace.folder == workspaces.root / token and not workspace.folder.exists()
    assert workspace.runs.parent == workspace.models.parent == workspace.folder
    workspace.touch()
    assert workspace.folder.is_dir() and workspace.run_folders() == [] and workspace.model_folders() == []


# ------------------------------------------------------------------------------------------------ model names
@pytest.mark.parametrize("name", ["my model", "v1.2_final-b", "7", "A" * 40, "  padded  "])
def test_model_names_stay_inside_the_workspace(workspaces, name):
    workspace = workspaces.get(new_token())
    path = workspace.model_path(name)
    assert path.parent == workspace.models and path.name == name.strip()


@pytest.mark.parametrize("name", ["", "   ", None, "..", "../outside", "a/b", "a\\b", ".hidden", "-flag",
                                  "A" * 41, "名字", "line\nbreak", "/etc"])
def test_model_names_that_could_escape_or_confuse_are_refused(workspaces, name):
    with pytest.raises(WorkspaceError, match="is not accepted"):
        workspaces.get(new_token()).model_path(name)


def test_is_inside_accepts_only_folders_inside_a_workspace(workspaces, tmp_path):
    workspace = workspaces.get(new_token())
    model = workspace.models / "kept"
    model.mkdir(parents=True)
    assert workspaces.is_inside(model) and workspaces.is_inside(workspace.runs / "run-1")
    assert not workspaces.is_inside(workspaces.root) and not workspaces.is_inside(workspace.folder)
    assert not workspaces.is_inside(workspaces.root / "not-a-token" / "models" / "x")
    assert not workspaces.is_inside(tmp_path) and not workspaces.is_inside("/etc/passwd")
    assert not workspaces.is_inside(model / ".." / ".." / ".." / ".." / "elsewhere")  # .. is resolved first
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace.models / "link").symlink_to(outside)
    assert not workspaces.is_inside(workspace.models / "link")  # a link out of the workspace leads out


def test_a_workspace_owns_only_its_own_paths(workspaces):
    mine, theirs = workspaces.get(new_token()), workspaces.get(new_token())
    assert mine.owns(mine.models / "x") and mine.owns(mine.folder)
    assert not mine.owns(theirs.models / "x")
    assert not mine.owns(mine.folder / ".." / theirs.token / "models" / "x")
    assert not mine.owns(workspaces.root)


# ------------------------------------------------------------------------------------------------ copying
def test_copy_checkpoint_keeps_the_explorable_part_only(checkpoint, tmp_path):
    target = copy_checkpoint(checkpoint, tmp_path / "models" / "copy", card="# my card")
    assert target == tmp_path / "models" / "copy"
    config = read_config(target)
    source_config = read_config(checkpoint)
    assert config["training_state"] is None and source_config["training_state"] is not None  # source untouched
    assert {key: value for key, value in config.items() if key != "training_state"} == \
           {key: value for key, value in source_config.items() if key != "training_state"}
    assert sorted(path.name for path in target.iterdir()) == sorted(
        ["config.json", "README.md", "samples.png", config["weights"]])
    assert (target / "README.md").read_text() == "# my card"
    assert (target / "samples.png").read_bytes() == (checkpoint / "samples.png").read_bytes()
    assert torch.equal(load_checkpoint(target).weights["w"], torch.arange(6.0))
    source_weights, copied_weights = checkpoint / config["weights"], target / config["weights"]
    assert copied_weights.stat().st_ino == source_weights.stat().st_ino  # same file system: linked, not copied
    assert not list(tmp_path.glob("models/*.partial"))


def test_copy_checkpoint_falls_back_to_copying_when_links_fail(checkpoint, tmp_path, monkeypatch):
    def no_links(*arguments):
        raise OSError("links are not supported here")

    monkeypatch.setattr(workspace_module.os, "link", no_links)
    target = copy_checkpoint(checkpoint, tmp_path / "copy")
    weights = read_config(target)["weights"]
    assert (target / weights).read_bytes() == (checkpoint / weights).read_bytes()
    assert (target / weights).stat().st_ino != (checkpoint / weights).stat().st_ino
    assert not (target / "README.md").exists()  # no card given, none written


def test_copy_checkpoint_leaves_an_existing_target_alone(checkpoint, tmp_path):
    target = tmp_path / "copy"
    target.mkdir()
    (target / "mine.txt").write_text("keep")
    assert copy_checkpoint(checkpoint, target) == target
    assert [path.name for path in target.iterdir()] == ["mine.txt"]


def test_a_failed_copy_leaves_nothing_behind(checkpoint, tmp_path, monkeypatch):
    def failing_write(path, data):
        raise OSError("disk full")

    monkeypatch.setattr(workspace_module, "write_file_atomic", failing_write)
    with pytest.raises(OSError, match="disk full"):
        copy_checkpoint(checkpoint, tmp_path / "models" / "copy")
    assert list((tmp_path / "models").iterdir()) == []  # neither the target nor its .partial folder


def test_copying_something_that_is_not_a_checkpoint_is_refused(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError):
        copy_checkpoint(tmp_path / "empty", tmp_path / "copy")
    assert not (tmp_path / "copy").exists() and not (tmp_path / "copy.partial").exists()


# ------------------------------------------------------------------------------------------------ saved models
def test_save_list_and_delete_models(workspaces, checkpoint):
    workspace = workspaces.get(new_token())
    saved = workspace.save_model(checkpoint, " first ", card="card")
    assert saved == workspace.models / "first" and read_config(saved)["training_state"] is None
    with pytest.raises(WorkspaceError, match="already have a model named"):
        workspace.save_model(checkpoint, "first")
    workspace.save_model(checkpoint, "second")
    (workspace.models / "third.partial").mkdir()  # a copy under way
    (workspace.models / "no-config").mkdir()  # not a checkpoint
    assert [path.name for path in workspace.model_folders()] == ["first", "second"]
    workspace.delete_model("first")
    assert [path.name for path in workspace.model_folders()] == ["second"]
    with pytest.raises(WorkspaceError, match="no model named 'first'"):
        workspace.delete_model("first")
    with pytest.raises(WorkspaceError, match="is not accepted"):
        workspace.delete_model("../runs")
    assert checkpoint.is_dir() and read_config(checkpoint)["training_state"] is not None


def test_runs_are_listed_newest_first_and_only_readable_ones_are_checkpoints(workspaces, checkpoint):
    workspace = workspaces.get(new_token())
    names = ["run-20240101-120000-aaaa", "run-20240301-080000-bbbb", "run-20240201-230000-cccc"]
    for name in names:
        make_run(workspace, name, 10)
    (workspace.runs / "stray-file").write_text("not a run")
    assert [run.name for run in workspace.run_folders()] == sorted(names, reverse=True)
    fresh = workspace.new_run()
    assert fresh.is_dir() and fresh.parent == workspace.runs and fresh.name.startswith("run-")
    assert latest_checkpoint(fresh) is None and latest_checkpoint(checkpoint) == checkpoint


# ------------------------------------------------------------------------------------------------ quota
def test_folder_size_counts_linked_files_once(tmp_path):
    (tmp_path / "a").write_bytes(b"x" * 1000)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b").write_bytes(b"y" * 300)
    assert folder_size(tmp_path) == 1300
    os.link(tmp_path / "a", tmp_path / "sub" / "a-again")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert folder_size(tmp_path) == 1300


def test_under_quota_nothing_is_deleted(workspaces):
    workspace = workspaces.get(new_token())
    runs = [make_run(workspace, f"run-2024010{day}-000000-aaaa", 1000) for day in range(1, 4)]
    workspaces.check_quota(workspace)
    assert all(run.exists() for run in runs)
    assert workspace.used_bytes() == 3000 and workspaces.get(new_token()).used_bytes() == 0


def test_the_oldest_runs_go_first_and_only_as_many_as_needed(workspaces):
    workspace = workspaces.get(new_token())
    runs = [make_run(workspace, f"run-2024010{day}-000000-aaaa", 3000) for day in range(1, 6)]  # 15,000 bytes
    workspaces.check_quota(workspace)
    assert [run.exists() for run in runs] == [False, False, True, True, True]  # 9,000 < 10,000: enough room
    assert workspace.used_bytes() < workspaces.quota_bytes


def test_saved_models_and_the_training_run_are_never_evicted(workspaces, checkpoint):
    workspace = workspaces.get(new_token())
    oldest = make_run(workspace, "run-20240101-000000-aaaa", 4000)  # the one training now
    newer = make_run(workspace, "run-20240102-000000-aaaa", 4000)
    saved = workspace.save_model(checkpoint, "kept")
    (saved / "padding.bin").write_bytes(b"z" * 7000)
    with pytest.raises(WorkspaceError, match="in saved models"):
        workspaces.check_quota(workspace, keep=(oldest,))
    assert oldest.exists() and not newer.exists() and saved.exists()


def test_quota_and_lifetime_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_QUOTA_MB", "2.5")
    monkeypatch.setenv("GENIMG_WORKSPACE_TTL_HOURS", "0.5")
    monkeypatch.setenv("GENIMG_WORKSPACES", str(tmp_path / "from-env"))
    from_environment = Workspaces()
    assert from_environment.quota_bytes == int(2.5 * 2**20) and from_environment.ttl_seconds == 1800
    assert from_environment.root == (tmp_path / "from-env").resolve()
    given = Workspaces(tmp_path / "given", quota_bytes=5, ttl_hours=2)
    assert (given.quota_bytes, given.ttl_seconds, given.root) == (5, 7200, (tmp_path / "given").resolve())


# ------------------------------------------------------------------------------------------------ time to live
def test_clean_removes_only_expired_workspaces(workspaces):
    expired, recent, kept = (workspaces.get(new_token()) for _ in range(3))
    recently_used = workspaces.get(new_token())
    for workspace in (expired, recent, kept, recently_used):
        make_run(workspace, "run-20240101-000000-aaaa", 10)
    for workspace in (expired, kept, recently_used):
        age(workspace.folder, 2 * 3600)
    touched = recently_used.runs / "run-20240101-000000-aaaa" / "weights.bin"
    os.utime(touched)  # one file written just now keeps the whole workspace
    not_a_workspace = workspaces.root / "notes"
    not_a_workspace.mkdir()
    age(not_a_workspace, 2 * 3600)
    assert workspaces.clean(keep={kept.token}) == [expired.token]
    assert not expired.folder.exists()
    assert recent.folder.exists() and kept.folder.exists() and recently_used.folder.exists()
    assert not_a_workspace.exists()  # only folders named like tokens are ever deleted


def test_clean_without_a_root_does_nothing(tmp_path):
    assert Workspaces(tmp_path / "never-made", ttl_hours=0).clean() == []

