"""genimg.store.workspace: tokens the server signs (forged ones and ones signed with another secret refused,
creating nothing), the installation's secret (made once, private, shared by every process, or from the
environment), new workspaces limited per client address, tokens that cannot name a path, model names that cannot leave the workspace, copying
a checkpoint's explorable part, the disk quota (oldest runs go first, saved models and the training run never),
and the clean-up of workspaces past their time-to-live.

tests/ui/test_train_tab.py covers the same through the Train tab (a full workspace refusing a run, one
eviction with a run kept, one expired workspace); these call the library directly.
"""

import base64
import hashlib
import hmac
import os
import shutil
import stat
import threading
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
    ID_PATTERN,
    SECRET_FILE_NAME,
    TOKEN_PATTERN,
    IssueLimiter,
    TooManyWorkspaces,
    Workspace,
    WorkspaceError,
    Workspaces,
    copy_checkpoint,
    folder_size,
    latest_checkpoint,
)


@pytest.fixture(autouse=True)
def no_secret_in_the_environment(monkeypatch):
    """Each test's secret comes from its own folder unless the test sets GENIMG_SECRET itself."""
    monkeypatch.delenv("GENIMG_SECRET", raising=False)


@pytest.fixture
def workspaces(tmp_path) -> Workspaces:
    return Workspaces(tmp_path / "root", quota_bytes=10_000, ttl_hours=1, issue_burst=1000)


class Clock:
    """A clock the test moves by hand (the rate limit's time)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def expected_signature(secret: bytes, workspace_id: str) -> str:
    """HMAC-SHA256 of the id under the secret, as the token carries it (unpadded URL-safe base64)."""
    digest = hmac.new(secret, b"genimg-workspace:" + workspace_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def workspace_folders(root: Path) -> list[str]:
    return sorted(path.name for path in root.iterdir() if path.is_dir()) if root.is_dir() else []


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
def test_issued_tokens_are_an_id_and_its_signature_and_verify(workspaces):
    issued = [workspaces.issue("10.0.0.1") for _ in range(200)]
    assert len({workspace.id for workspace in issued}) == 200
    secret = workspaces.secret_path.read_bytes().strip()
    for workspace in issued:
        match = TOKEN_PATTERN.fullmatch(workspace.token)
        assert match is not None and match.groups() == (workspace.id, expected_signature(secret, workspace.id))
        assert ID_PATTERN.fullmatch(workspace.id)
        assert workspaces.get(workspace.token) == workspace
    assert workspace_folders(workspaces.root) == []  # issuing makes no folder; the first save does
    assert workspace.token not in repr(workspace)  # kept out of logs


@pytest.mark.parametrize("token", [None, "", 123, "short", "../../../../etc/passwd", "a" * 21, "a" * 65,
                                   "abcdefghijklmnopqrstuvwxyz/..", "abcdefghijklmnopqrstu.vwxyz",
                                   "/abcdefghijklmnopqrstuvwxyz", "abcdefghijklmnopqrstuvwxyz\n",
                                   "a" * 24,  # a token from before tokens were signed
                                   "a" * 24 + "." + "b" * 42, "a" * 24 + "." + "b" * 44, "../" + "a" * 22 + "." + "b" * 43,
                                   "a" * 24 + "." + "b" * 43 + "\n", "a" * 24 + ".." + "b" * 43])
def test_a_malformed_token_is_refused(workspaces, token):
    with pytest.raises(WorkspaceError, match="no valid workspace"):
        workspaces.get(token)
    assert not workspaces.root.exists()  # refusing touches nothing


def test_a_forged_token_is_refused_and_creates_nothing(workspaces, tmp_path):
    mine = workspaces.issue()
    mine.touch()
    other_installation = Workspaces(tmp_path / "elsewhere").issue()  # well formed, signed with another secret
    signature = mine.token.split(".")[1]
    forged = [
        "Q" * 24 + "." + "Z" * 43,                                           # made up outright
        f"{mine.id}.{('A' if signature[0] != 'A' else 'B')}{signature[1:]}",  # my id, one signature character changed
        f"{'x' * 24}.{signature}",                                           # my signature on another id
        f"{mine.id}x.{signature}",                                           # my signature, id lengthened
        other_installation.token,
    ]
    for token in forged:
        with pytest.raises(WorkspaceError, match="not issued by this server"):
            workspaces.get(token)
    assert workspace_folders(workspaces.root) == [mine.id]
    assert sorted(path.name for path in workspaces.root.iterdir()) == sorted([SECRET_FILE_NAME, mine.id])


def test_a_token_names_its_folder_by_its_id_under_the_root(workspaces):
    workspace = workspaces.issue()
    assert workspace.folder == workspaces.root / workspace.id and not workspace.folder.exists()
    assert workspace.runs.parent == workspace.models.parent == workspace.folder
    workspace.touch()
    assert workspace.folder.is_dir() and workspace.run_folders() == [] and workspace.model_folders() == []


# ------------------------------------------------------------------------------------------------ the secret
def test_the_secret_is_made_once_privately_and_serves_every_process(tmp_path):
    root = tmp_path / "root"
    first = Workspaces(root)
    token = first.issue().token
    assert stat.S_IMODE(first.secret_path.stat().st_mode) == 0o600
    secret = first.secret_path.read_bytes().strip()
    assert len(secret) == 64 and int(secret, 16) >= 0  # 32 random bytes as hex
    restarted = Workspaces(root)  # a new process on the same folder
    assert restarted.get(token).token == token
    assert restarted.secret_path.read_bytes().strip() == secret
    # The browser-side key is the same for the installation, differs between installations, reveals no secret.
    assert restarted.browser_key() == first.browser_key() != Workspaces(tmp_path / "other").browser_key()
    assert secret.decode() not in first.browser_key() and first.browser_key() not in secret.decode()


def test_processes_starting_together_agree_on_one_secret(tmp_path):
    root = tmp_path / "root"
    keys: list[str] = []
    starting = threading.Barrier(8)

    def start() -> None:
        installation = Workspaces(root)
        starting.wait()
        keys.append(installation.browser_key())

    threads = [threading.Thread(target=start) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(keys) == 8 and len(set(keys)) == 1
    assert sorted(path.name for path in root.iterdir()) == [SECRET_FILE_NAME]  # no temporary file left


def test_the_secret_can_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_SECRET", "s" * 40)
    one, two = Workspaces(tmp_path / "one"), Workspaces(tmp_path / "two")
    token = one.issue().token
    assert two.get(token).token == token  # two folders, one installation secret
    assert not (tmp_path / "one" / SECRET_FILE_NAME).exists()
    monkeypatch.setenv("GENIMG_SECRET", "s" * 41)
    with pytest.raises(WorkspaceError, match="not issued by this server"):
        Workspaces(tmp_path / "one").get(token)  # a changed secret invalidates every token
    monkeypatch.setenv("GENIMG_SECRET", "too short")
    with pytest.raises(ValueError, match="GENIMG_SECRET is too short.*9 characters, at least 32"):
        Workspaces(tmp_path / "one")


def test_a_damaged_or_linked_secret_file_is_refused_in_words(tmp_path):
    root = tmp_path / "short"
    root.mkdir()
    (root / SECRET_FILE_NAME).write_text("1234\n")
    with pytest.raises(WorkspaceError, match="too short.*remove it"):
        Workspaces(root).issue()
    linked = tmp_path / "linked"
    linked.mkdir()
    (tmp_path / "elsewhere.txt").write_text("f" * 64)
    (linked / SECRET_FILE_NAME).symlink_to(tmp_path / "elsewhere.txt")
    with pytest.raises(WorkspaceError, match="cannot be read"):
        Workspaces(linked).issue()


def test_a_secret_file_readable_by_others_is_made_private(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / SECRET_FILE_NAME).write_text("e" * 64 + "\n")
    os.chmod(root / SECRET_FILE_NAME, 0o644)
    token = Workspaces(root).issue().token
    assert stat.S_IMODE((root / SECRET_FILE_NAME).stat().st_mode) == 0o600
    assert token.split(".")[1] == expected_signature(b"e" * 64, token.split(".")[0])


# ------------------------------------------------------------------------------------------------ issue limit
def test_new_workspaces_are_limited_per_client_address(tmp_path):
    clock = Clock()
    workspaces = Workspaces(tmp_path / "root", issue_burst=3, issue_per_hour=60, clock=clock)
    issued = [workspaces.issue("203.0.113.7") for _ in range(3)]
    with pytest.raises(TooManyWorkspaces, match="too many new workspaces.*about 1 min") as refused:
        workspaces.issue("203.0.113.7")
    assert refused.value.retry_seconds == pytest.approx(60.0)  # one more every 60 s at 60 an hour
    assert workspaces.issue("198.51.100.2").token  # another address is not held back
    clock.now += 30
    with pytest.raises(TooManyWorkspaces) as refused:
        workspaces.issue("203.0.113.7")
    assert refused.value.retry_seconds == pytest.approx(30.0)
    clock.now += 30
    assert workspaces.issue("203.0.113.7").token
    with pytest.raises(TooManyWorkspaces):
        workspaces.issue("203.0.113.7")
    assert all(workspaces.get(workspace.token) == workspace for workspace in issued)  # issued ones stay valid
    assert workspace_folders(workspaces.root) == []


def test_the_issue_limit_refills_to_its_burst_and_no_further():
    clock = Clock()
    limiter = IssueLimiter(burst=2, per_hour=3600, clock=clock)
    clock.now += 10_000  # a long idle time refills to the burst, not beyond
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, pytest.approx(1.0)]  # the third waits 1 s


def test_the_issue_limit_forgets_addresses_within_a_bound():
    clock = Clock()
    limiter = IssueLimiter(burst=1, per_hour=3600, clock=clock, max_addresses=10)
    for index in range(50):
        limiter.take(f"10.0.0.{index}")
        clock.now += 0.01
    assert limiter.tracked_addresses <= 10  # even while every one of them is still held back
    assert limiter.take("10.0.0.49") > 0  # the most recent ones are remembered
    clock.now += 5  # all refilled
    limiter.take("10.0.1.1")
    assert limiter.tracked_addresses <= 10


def test_the_issue_limit_comes_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_WORKSPACE_BURST", "2")
    monkeypatch.setenv("GENIMG_WORKSPACES_PER_HOUR", "7.5")
    limiter = Workspaces(tmp_path / "root").limiter
    assert limiter.burst == 2 and limiter.per_second == pytest.approx(7.5 / 3600)
    monkeypatch.setenv("GENIMG_WORKSPACES_PER_HOUR", "lots")
    with pytest.raises(ValueError, match="GENIMG_WORKSPACES_PER_HOUR='lots' is not a number"):
        Workspaces(tmp_path / "root")
    with pytest.raises(ValueError, match="burst >= 1"):
        IssueLimiter(burst=0, per_hour=10)


# ------------------------------------------------------------------------------------------------ model names
@pytest.mark.parametrize("name", ["my model", "v1.2_final-b", "7", "A" * 40, "  padded  "])
def test_model_names_stay_inside_the_workspace(workspaces, name):
    workspace = workspaces.issue()
    path = workspace.model_path(name)
    assert path.parent == workspace.models and path.name == name.strip()


@pytest.mark.parametrize("name", ["", "   ", None, "..", "../outside", "a/b", "a\\b", ".hidden", "-flag",
                                  "A" * 41, "名字", "line\nbreak", "/etc"])
def test_model_names_that_could_escape_or_confuse_are_refused(workspaces, name):
    with pytest.raises(WorkspaceError, match="is not accepted"):
        workspaces.issue().model_path(name)


def test_is_inside_accepts_only_folders_inside_a_workspace(workspaces, tmp_path):
    workspace = workspaces.issue()
    model = workspace.models / "kept"
    model.mkdir(parents=True)
    assert workspaces.is_inside(model) and workspaces.is_inside(workspace.runs / "run-1")
    assert not workspaces.is_inside(workspaces.root) and not workspaces.is_inside(workspace.folder)
    assert not workspaces.is_inside(workspaces.root / "not-an-id" / "models" / "x")
    assert not workspaces.is_inside(tmp_path) and not workspaces.is_inside("/etc/passwd")
    assert not workspaces.is_inside(model / ".." / ".." / ".." / ".." / "elsewhere")  # .. is resolved first
    outside = tmp_path / "outside"
    outside.mkdir()
    (workspace.models / "link").symlink_to(outside)
    assert not workspaces.is_inside(workspace.models / "link")  # a link out of the workspace leads out


def test_a_workspace_owns_only_its_own_paths(workspaces):
    mine, theirs = workspaces.issue(), workspaces.issue()
    assert mine.owns(mine.models / "x") and mine.owns(mine.folder)
    assert not mine.owns(theirs.models / "x")
    assert not mine.owns(mine.folder / ".." / theirs.id / "models" / "x")
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


def test_a_sample_grid_linked_elsewhere_is_not_copied_into_a_saved_model(tmp_path, checkpoint):
    """A run folder whose samples.png links to a server file: saving it refuses, rather than copying that file
    into the visitor's workspace where the page would serve it."""
    secret = tmp_path / "server-secret.txt"
    secret.write_text("do not serve")
    source = tmp_path / "linked"
    shutil.copytree(checkpoint, source)
    (source / "samples.png").unlink(missing_ok=True)
    (source / "samples.png").symlink_to(secret)
    with pytest.raises(CheckpointError):
        copy_checkpoint(source, tmp_path / "copy")
    assert not (tmp_path / "copy").exists() and not (tmp_path / "copy.partial").exists()


# ------------------------------------------------------------------------------------------------ saved models
def test_save_list_and_delete_models(workspaces, checkpoint):
    workspace = workspaces.issue()
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
    workspace = workspaces.issue()
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
    workspace = workspaces.issue()
    runs = [make_run(workspace, f"run-2024010{day}-000000-aaaa", 1000) for day in range(1, 4)]
    workspaces.check_quota(workspace)
    assert all(run.exists() for run in runs)
    assert workspace.used_bytes() == 3000 and workspaces.issue().used_bytes() == 0


def test_the_oldest_runs_go_first_and_only_as_many_as_needed(workspaces):
    workspace = workspaces.issue()
    runs = [make_run(workspace, f"run-2024010{day}-000000-aaaa", 3000) for day in range(1, 6)]  # 15,000 bytes
    workspaces.check_quota(workspace)
    assert [run.exists() for run in runs] == [False, False, True, True, True]  # 9,000 < 10,000: enough room
    assert workspace.used_bytes() < workspaces.quota_bytes


def test_saved_models_and_the_training_run_are_never_evicted(workspaces, checkpoint):
    workspace = workspaces.issue()
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
    expired, recent, kept = (workspaces.issue() for _ in range(3))
    recently_used = workspaces.issue()
    for workspace in (expired, recent, kept, recently_used):
        make_run(workspace, "run-20240101-000000-aaaa", 10)
    for workspace in (expired, kept, recently_used):
        age(workspace.folder, 2 * 3600)
    touched = recently_used.runs / "run-20240101-000000-aaaa" / "weights.bin"
    os.utime(touched)  # one file written just now keeps the whole workspace
    not_a_workspace = workspaces.root / "notes"
    not_a_workspace.mkdir()
    age(not_a_workspace, 2 * 3600)
    assert workspaces.clean(keep={kept.id}) == [expired.id]
    assert not expired.folder.exists()
    assert recent.folder.exists() and kept.folder.exists() and recently_used.folder.exists()
    assert not_a_workspace.exists()  # only folders named like workspace ids are ever deleted
    assert workspaces.secret_path.is_file()  # and never the secret


def test_clean_without_a_root_does_nothing(tmp_path):
    assert Workspaces(tmp_path / "never-made", ttl_hours=0).clean() == []



# ------------------------------------------------------------------------------- the installation's budget
@pytest.fixture
def budgeted(tmp_path) -> Workspaces:
    """Workspaces sharing a 10,000-byte budget, each with a 6,000-byte share."""
    return Workspaces(tmp_path / "budgeted", quota_bytes=6_000, budget_bytes=10_000, ttl_hours=1, issue_burst=1000)


def used_long_ago(workspace: Workspace, seconds: float) -> None:
    """Make `workspace` look unused for `seconds` (its folders' times, which a visit or a write updates)."""
    age(workspace.folder, seconds)


def test_a_share_never_exceeds_the_budget(tmp_path):
    assert Workspaces(tmp_path, quota_bytes=50_000, budget_bytes=20_000).quota_bytes == 20_000


def test_making_room_evicts_the_workspaces_unused_the_longest_first(budgeted):
    oldest, older, recent, writer = (budgeted.issue() for _ in range(4))
    for workspace, unused_for in ((oldest, 3000), (older, 2000), (recent, 10)):
        make_run(workspace, "run-20240101-000000-aaaa", 3000)
        used_long_ago(workspace, unused_for)
    budgeted.check_quota(writer, needed_bytes=3000)  # 9,000 + 3,000 > 10,000: the oldest goes, only it
    assert oldest.evicted and not oldest.run_folders()
    assert not older.evicted and older.run_folders() and recent.run_folders()
    assert budgeted.total_bytes() + 3000 <= budgeted.budget_bytes
    budgeted.check_quota(writer, needed_bytes=6000)  # now the next oldest
    assert older.evicted and not recent.evicted


def test_a_visit_counts_as_use(budgeted):
    visited, other, writer = (budgeted.issue() for _ in range(3))
    for workspace in (visited, other):
        make_run(workspace, "run-20240101-000000-aaaa", 3000)
    used_long_ago(visited, 3000)
    used_long_ago(other, 2000)
    budgeted.get(visited.token)  # its owner opened the page again
    budgeted.check_quota(writer, needed_bytes=5000)
    assert other.evicted and not visited.evicted


def test_the_owner_is_told_once_and_can_work_again(budgeted):
    evicted, writer = budgeted.issue(), budgeted.issue()
    make_run(evicted, "run-20240101-000000-aaaa", 5000)
    evicted.save_model(make_checkpoint(evicted), "mine")
    used_long_ago(evicted, 100)
    budgeted.check_quota(writer, needed_bytes=6000)
    returning = budgeted.get(evicted.token)
    assert returning.evicted and not returning.model_folders() and not returning.run_folders()
    assert returning.take_eviction_notice() is True
    assert returning.take_eviction_notice() is False and not returning.evicted
    assert returning.new_run().is_dir()


def test_a_workspace_being_written_or_kept_is_never_evicted(budgeted):
    busy, kept, writer = (budgeted.issue() for _ in range(3))
    make_run(busy, "run-20240101-000000-aaaa", 4000)
    kept_run = make_run(kept, "run-20240101-000000-aaaa", 4000)
    used_long_ago(busy, 5000)
    used_long_ago(kept, 4000)
    with budgeted.writing(busy), pytest.raises(workspace_module.DiskFull, match="full with work in use") as caught:
        budgeted.check_quota(writer, keep=(kept_run,), needed_bytes=5000)
    assert caught.value.scope == "installation" and caught.value.limit == 10_000
    assert busy.run_folders() and kept.run_folders() and not busy.evicted and not kept.evicted
    budgeted.check_quota(writer, keep=(kept_run,), needed_bytes=5000)  # the writer has finished: now it goes
    assert busy.evicted and not kept.evicted


def test_a_write_past_the_workspaces_share_is_refused_naming_it(budgeted):
    workspace = budgeted.issue()
    training = make_run(workspace, "run-20240101-000000-aaaa", 4000)
    with pytest.raises(workspace_module.DiskFull, match="uses 0 MB of its 0 MB with what this step") as caught:
        budgeted.check_quota(workspace, keep=(training,), needed_bytes=2500)
    assert caught.value.scope == "workspace" and caught.value.used == 4000 and training.exists()
    guard = budgeted.disk_guard(workspace, training)
    assert guard(1000) is None
    assert guard(2500).startswith(workspace_module.STOPPED_FOR_DISK)


def test_a_run_folder_names_its_workspace(budgeted, tmp_path):
    workspace = budgeted.issue()
    run = workspace.new_run()
    assert workspace_module.workspace_of_run(run) == (budgeted.root, workspace.id)
    assert workspace_module.workspace_of_run(str(run)) == (budgeted.root, workspace.id)
    assert workspace_module.workspace_of_run(tmp_path / "not an id" / "runs" / "x") is None
    assert workspace_module.workspace_of_run(workspace.models / "mine") is None


def make_checkpoint(workspace: Workspace) -> Path:
    """A tiny real checkpoint in a run of `workspace` (for Save as)."""
    folder = workspace.runs / "run-20240102-000000-bbbb"
    save_checkpoint(folder, model_config={"kind": "dcgan", "image_size": 8}, weights={"w": torch.zeros(4)}, step=1)
    return folder
