"""The Train tab: settings refused in plain words, a run streamed from its worker process in order, Stop,
a closed tab, Save as into Explore, replay steps, zip uploads, quotas, and two users kept apart."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import fields
import io
import math
import re
import sys
import threading
import time
import zipfile
from pathlib import Path
from types import SimpleNamespace

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from genimg.config import ConfigError
from genimg.explore.catalog import Renderer
from genimg.models.loading import load_model
from genimg.store.workspace import Workspaces
from genimg.training.health import HealthMonitor
from genimg.training.runview import RunView, Status
from genimg.training.worker import Worker, WorkerPool
from genimg.ui.context import ExploreContext
from genimg.ui.i18n import message
from genimg.ui.train_tab import (
    DATASET_NAMES_SHOWN,
    GAN_LOSS_NAMES,
    PRESETS,
    Limits,
    RunOutputs,
    TrainHandlers,
    alarms_text,
    build_config,
    build_train_tab,
    plots,
    progress_html,
    run_title,
    status_text,
    step_model_name,
)

LIMITS = Limits(max_steps=5000, max_seconds=120.0, slots=1, threads=1)
SETTINGS = {"model_key": "dcgan", "dataset": "shapes", "upload": None, "latent_dim": 8, "steps": 40, "batch_size": 16,
            "lr_generator": 2e-4, "lr_discriminator": 2e-4, "beta": 1.0, "gan_loss": "nonsaturating"}


def session(name: str) -> SimpleNamespace:
    return SimpleNamespace(session_hash=name)


@pytest.fixture(scope="module")
def pool():
    workers = WorkerPool(threads=1)
    workers.warm()
    yield workers
    workers.shutdown()


@pytest.fixture
def trainer(tmp_path, pool):
    workspaces = Workspaces(tmp_path / "workspaces", quota_bytes=200 * 2**20, ttl_hours=24)
    context = ExploreContext(Renderer("cpu"), [], workspaces=workspaces)
    return TrainHandlers(context, workspaces, pool=pool, limits=LIMITS, width=8)


def run(trainer, token, request=None, **changes):
    """Every update the Start handler streams (not the "nothing new" ticks), as (status, view, outputs); the last one
    sent twice, as Gradio does with a generator's last values, is checked here (settled) and left out."""
    settings = {**SETTINGS, **changes}
    updates = []
    for output in trainer.start(*settings.values(), token, None, request or session("a")):
        if isinstance(output[-1], RunView):  # not a "nothing new" tick
            updates.append((output[0], output[-1], output))
    if len(updates) >= 2 and updates[-1][2][6] == gr.skip():  # a run that streamed (a refusal answers once)
        *updates, (_, _, last) = updates
        assert_settled(last, updates[-1][2])
    return updates


def assert_settled(last: tuple, ending: tuple) -> None:
    """`last` repeats the run's `ending` update, except what the visitor may change after the run ended (the replay,
    the plots, the samples): Gradio sends a generator's last values again when it ends, possibly after the visitor
    has moved the replay slider."""
    skipped = {"losses", "aux", "samples", "replay", "replay_image", "caption"}
    for index, item in enumerate(fields(RunOutputs)):
        if item.name in skipped:
            assert last[index] == gr.skip(), item.name
        else:
            assert last[index] is ending[index] or last[index] == ending[index], item.name
    assert ending[6] != gr.skip()  # the ending itself did put the replay on the last grid


# ------------------------------------------------------------------------------------------------ settings
@pytest.mark.parametrize("field, value, words", [
    ("lr_generator", 0, "learning rate (generator)"), ("lr_discriminator", -1e-3, "learning rate (discriminator)"),
    ("lr_generator", 0.5, "learning rate"), ("steps", 10**9, "steps"), ("steps", 0, "steps"),
    ("steps", 2.5, "whole number"), ("batch_size", 0, "batch size"), ("batch_size", 10**6, "batch size"),
    ("latent_dim", float("nan"), "latent size"), ("beta", float("inf"), "β"), ("latent_dim", "twelve", "not a number"),
    ("latent_dim", 10**308, "latent size"),
])
def test_absurd_settings_are_refused_naming_the_field(field, value, words):
    settings = {**SETTINGS, field: value}
    settings.pop("upload")
    with pytest.raises(ConfigError, match=re.escape(words)):
        build_config(*settings.values(), LIMITS)


def test_presets_build_valid_configs_for_every_dataset():
    for key in PRESETS:
        for dataset in ("mnist", "fashion-mnist", "cifar10", "shapes", "upload"):
            settings = {**SETTINGS, "model_key": key, "dataset": dataset}
            settings.pop("upload")
            config = build_config(*settings.values(), LIMITS)
            assert config.max_seconds == LIMITS.max_seconds and config.sample_every_seconds
            assert config.model.num_classes == (0 if not PRESETS[key].conditional or dataset == "upload"
                                                else {"shapes": 3}.get(dataset, 10))


def test_start_refuses_bad_settings_without_starting_anything(trainer):
    token = trainer.workspaces.issue().token
    updates = run(trainer, token, steps=10**9)
    assert len(updates) == 1 and "Not started" in updates[0][0] and "Steps = 1000000000" in updates[0][0]
    assert not trainer.workspaces.get(token).folder.exists()
    updates = run(trainer, "../../etc")
    assert "Not started" in updates[0][0] and "workspace" in updates[0][0]


@pytest.mark.parametrize("field, label_en, label_zh", [
    ("steps", "Steps", "步数"), ("batch_size", "Batch size", "批大小"), ("latent_dim", "Latent size", "隐空间维度")])
def test_a_fraction_in_a_whole_number_field_is_refused_naming_the_field_in_the_visitors_language(
        trainer, field, label_en, label_zh):
    """The page sends 2.5 as it was typed (the fields have no precision that would round it to 2 first)."""
    token = trainer.workspaces.issue().token
    chinese = SimpleNamespace(session_hash="zh", headers={"accept-language": "zh-CN,zh;q=0.9"}, query_params={})
    english = run(trainer, token, **{field: 2.5})
    assert len(english) == 1 and "Not started" in english[0][0]
    assert f"{label_en} must be a whole number" in english[0][0] and "2.5" in english[0][0]
    assert not english[0][1].run  # nothing was set up
    words = run(trainer, token, chinese, **{field: 2.5})[0][0]
    assert "**未开始：**" in words and f"{label_zh}必须是" in words and "整数" in words and "2.5" in words
    assert "must" not in words


def test_whole_number_fields_pass_the_typed_value_to_the_handler_unrounded(trainer):
    import gradio as gr

    with gr.Blocks() as demo:
        build_train_tab(trainer.context, trainer)
    fields = {component.elem_id: component for component in demo.blocks.values()
              if getattr(component, "elem_id", None) in ("train-steps", "train-batch", "train-latent")}
    assert len(fields) == 3
    for component in fields.values():
        assert component.preprocess(2.5) == 2.5


# ----------------------------------------------------------------------------------------------- streaming
def test_a_run_ends_with_its_last_update_settled_so_gradios_resend_leaves_the_replay_alone(trainer):
    """Gradio sends a generator's last values again when it ends; CI saw that put the replay slider back on the last
    grid after the visitor had moved it to the first. The stream's very last values leave the replay alone."""
    token = trainer.workspaces.issue().token
    streamed = [output for output in trainer.start(*{**SETTINGS, "steps": 20}.values(), token, None, session("a"))
                if isinstance(output[-1], RunView)]
    ending, last = streamed[-2], streamed[-1]
    assert "Run finished" in ending[0] and last[0] == ending[0]  # an API client's result is still the run's status
    assert_settled(last, ending)


def test_a_run_streams_in_order_and_saves_an_explorable_model(trainer):
    token = trainer.workspaces.issue().token
    updates = run(trainer, token, steps=40)
    statuses = [status for status, _, _ in updates]
    assert statuses[0].startswith("Starting")
    assert any(status.startswith("Training DCGAN on Shapes") for status in statuses)
    assert "Run finished" in statuses[-1] and "step 40" in statuses[-1]
    view = updates[-1][1]
    steps = [point.step for point in view.rows]
    assert steps == sorted(steps) and steps[-1] == 40
    assert {"generator", "discriminator", "d_real", "d_fake"} <= set(view.rows[-1].values)
    grid_steps = [grid.step for grid in view.grids]
    assert grid_steps[0] == 1 and grid_steps[-1] == 40 and grid_steps == sorted(grid_steps)
    outputs = updates[-1][2]
    losses, aux = outputs[2]["value"], outputs[3]["value"]
    assert outputs[2]["x_title"] == "step" and outputs[2]["y_title"] == "loss"
    assert set(losses["series"]) == {"generator loss", "discriminator loss", "generator loss · raw",
                                     "discriminator loss · raw"}  # smoothed by default, the raw curves faint
    assert set(aux["series"]) == {"D(x), real", "D(G(z)), generated", "D(x), real · raw", "D(G(z)), generated · raw"}
    assert outputs[4].dtype == np.uint8 and outputs[4].shape[2] == 3  # the sample grid, colour

    message, *updates_after = trainer.save_as("my shapes", token, view)
    assert "Saved **my shapes**" in message
    saved = trainer.workspaces.get(token).models / "my shapes"
    _, model_config, config = load_model(saved)
    assert config["step"] == 40 and config["training_state"] is None and model_config.width == 8
    entries = trainer.context.user_entries(trainer.workspaces.get(token))
    assert [entry.label for entry in entries] == ["★ my shapes · GAN · shapes"]
    assert trainer.context.entry(str(saved)) is not None  # the Explore handlers accept it
    assert "my shapes" in updates_after[-2]["choices"]
    assert "already have a model" in trainer.save_as("my shapes", token, view)[0]
    assert "not accepted" in trainer.save_as("../../outside", token, view)[0]
    assert not (trainer.workspaces.root.parent / "outside").exists()

    # Replay: any kept grid can be shown, and the step's checkpoint opened in Explore.
    image, caption = trainer.replay(0, view)
    assert image is not None and caption.startswith("Step 1,")
    message = trainer.open_step(len(view.grids) - 1, token, view)[0]
    assert "Step 40 is now in every Explore tab" in message
    opened = [entry.label for entry in trainer.context.user_entries(trainer.workspaces.get(token))]
    assert any(re.fullmatch(r"★ DCGAN step 40 - \d{1,2} [A-Z][a-z]{2} \d\d\.\d\d · GAN · shapes", label)
               for label in opened), opened
    assert trainer.open_step(len(view.grids) - 1, token, view)[1:] == trainer.open_step(  # opening it again
        len(view.grids) - 1, token, view)[1:]                                           # adds nothing new
    message = trainer.open_step(0, token, view)[0]
    assert "no checkpoint was saved at or before step 1" in message


def _run_folder(root: Path, name: str, kind: str = "dcgan", classes: int = 0) -> Path:
    """A run folder whose checkpoint says `kind` and `classes` (a kind genimg does not know: a bare config.json)."""
    import json

    import torch

    from genimg.store.checkpoint import save_checkpoint

    run = root / name
    run.mkdir(parents=True)
    if "/" in kind:
        (run / "config.json").write_text(json.dumps({"model": {"kind": kind, "num_classes": classes}, "step": 50}))
    else:
        save_checkpoint(run, model_config={"kind": kind, "latent_dim": 8, "width": 8, "num_classes": classes},
                        weights={"w": torch.zeros(3)}, step=50)
    return run


def test_saved_steps_get_readable_names_that_stay_safe_folder_names(tmp_path):
    from genimg.store.workspace import NAME_PATTERN

    run = _run_folder(tmp_path, "run-20261202-021552-e998")
    assert step_model_name(run, 50) == "DCGAN step 50 - 2 Dec 02.15"
    conditional = _run_folder(tmp_path, "run-20261231-235901-0a1b", classes=10)
    assert step_model_name(conditional, 50) == "Conditional DCGAN step 50 - 31 Dec 23.59"
    assert step_model_name(conditional, 123_456) == "Conditional DCGAN step 123456"  # no room for the time
    assert step_model_name(run, 50, distinct=True) == "DCGAN step 50 e998 - 2 Dec 02.15"
    vae = _run_folder(tmp_path, "run-20260105-090000-ffff", kind="vae")
    assert step_model_name(vae, 7).startswith("VAE step 7 - 5 Jan 09.00")
    odd = _run_folder(tmp_path, "run-odd", kind="some/thing:new", classes=2)  # a kind no preset offers
    for path, step in ((run, 50), (conditional, 123_456), (vae, 7), (odd, 3), (conditional, 10**30)):
        name = step_model_name(path, step)
        assert NAME_PATTERN.match(name), name
        assert f"step {step}" in name or len(f"step {step}") > 30


def test_a_saved_steps_name_reads_its_config_defensively(tmp_path):
    """Attack: a run's config.json nested 100,000 deep made the name's json.loads raise RecursionError out of
    Open this step; a symbolic link was followed. The name falls back to 'model' instead."""
    deep = tmp_path / "run-20261202-021552-aaaa"
    deep.mkdir()
    (deep / "config.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    assert step_model_name(deep, 5) == "model step 5 - 2 Dec 02.15"
    real = _run_folder(tmp_path / "elsewhere", "run-20261202-021552-bbbb")
    linked = tmp_path / "run-20261202-021552-cccc"
    linked.mkdir()
    (linked / "config.json").symlink_to(real / "config.json")
    assert step_model_name(linked, 5).startswith("model step 5")


def test_a_models_card_is_read_without_following_links_or_past_its_cap(tmp_path):
    """Attack: a saved model's README.md that is a link to a server file, or 200 MB, was read whole by the Train
    tab (Open this step compares cards). Now it reads as Explore does: no link followed, at most MAX_CARD_BYTES."""
    from genimg.store.checkpoint import MAX_CARD_BYTES
    from genimg.ui.train_tab import _card_text

    secret = tmp_path / "server-file"
    secret.write_text("root:x:0:0 (run run-1)", encoding="utf-8")
    linked, large, plain = (tmp_path / name for name in ("linked", "large", "plain"))
    for folder in (linked, large, plain):
        folder.mkdir()
    (linked / "README.md").symlink_to(secret)
    (large / "README.md").write_bytes(b"(run run-1) " + b"x" * MAX_CARD_BYTES)
    (plain / "README.md").write_bytes("# ★ mine (run run-1)\n".encode() + b"\xff")  # a stray byte: replaced
    assert _card_text(linked) == "" and _card_text(large) == ""
    assert _card_text(plain).startswith("# ★ mine (run run-1)") and _card_text(plain).endswith("\ufffd")
    assert _card_text(tmp_path / "missing") == ""


def test_resume_gives_the_worker_the_pages_data_folder_when_the_saved_config_has_none(tmp_path):
    """Saved configs keep no server path: a resumed run trains on the page's data folder, not the default one."""
    import torch

    from genimg.store.checkpoint import save_checkpoint

    workspaces = Workspaces(tmp_path / "ws", quota_bytes=200 * 2**20, ttl_hours=24)
    trainer = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces,
                            pool=WaitingPool(), limits=LIMITS, width=8, data_root=str(tmp_path / "data"))
    token = workspaces.issue().token
    run_folder = workspaces.get(token).new_run()
    settings = {**SETTINGS}
    settings.pop("upload")
    training = build_config(*settings.values(), LIMITS).to_dict()
    training.pop("data_root", None)
    save_checkpoint(run_folder, model_config=training["model"], weights={"w": torch.zeros(3)}, step=7,
                    training_state={"optimizer": {}}, training=training, dataset="shapes")
    stream = trainer.resume(10, token, None, page("192.0.2.1", "resuming"))
    try:
        assert first_update(stream).status.startswith("Starting"), "the resume did not start"
    finally:
        stream.close()
    job = trainer.pool.taken[0].jobs[0]
    assert job.config.data_root == str(tmp_path / "data") and job.config.steps == 17


def test_a_new_run_clears_the_previous_runs_samples_and_replay(trainer):
    """Start after a finished run: its first update empties the samples, the replay picture and caption and
    puts the replay slider back at 0, so the old run's pictures do not pass for the new one's."""
    token = trainer.workspaces.issue().token
    first = run(trainer, token, steps=20)[-1][2]
    named = RunOutputs(*first)
    assert named.replay_image is not None and named.samples is not None and named.caption  # something to clear
    updates = trainer.start(*{**SETTINGS, "steps": 20}.values(), token, first[-1], session("a"))
    try:
        opening = RunOutputs(*next(updates))
    finally:
        updates.close()  # stops the second run's worker
    assert opening.status.startswith("Starting")
    assert opening.samples is None and opening.replay_image is None and opening.caption == ""
    assert isinstance(opening.replay, dict) and opening.replay.get("value") == 0
    assert opening.replay.get("interactive") is False


def test_stop_is_honoured_and_only_for_its_own_tab(trainer):
    token = trainer.workspaces.issue().token
    updates: list = []
    def consume() -> None:  # keep every update as it arrives, as the page does
        for output in trainer.start(*{**SETTINGS, "steps": 4000}.values(), token, None, session("mine")):
            if isinstance(output[-1], RunView):
                updates.append((output[0], copy.copy(output[-1]), output))

    thread = threading.Thread(target=consume)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(u[1].step >= 5 for u in updates):
        time.sleep(0.2)
    assert trainer.stop(session("someone else")) == "Nothing is training in this tab."
    # The page's Stop leaves the status to the run's own stream (an answer of its own could reach the page after
    # the run's last update and cover it).
    assert trainer.stop_from_page(session("mine")) == gr.skip()
    thread.join(60)
    assert not thread.is_alive()
    *updates, (_, _, last) = updates  # the ending once more, settled (see assert_settled)
    assert_settled(last, updates[-1][2])
    final = updates[-1][0]
    assert "stopped by the user" in final
    statuses = [update[0] for update in updates]
    # "Stopping" shows when the run takes longer than a poll (a quarter second) to end; once shown, no step count
    # covers it, and the run's end follows it.
    stopping = [index for index, status in enumerate(statuses) if status.startswith("Stopping")]
    if stopping:
        assert stopping[0] < len(statuses) - 1
        assert all(status.startswith("Stopping") for status in statuses[stopping[0]:-1]), statuses[stopping[0]:]
    assert trainer.stop_from_page(session("mine")) == "Nothing is training in this tab."
    run_folder = Path(updates[-1][1].run)
    _, _, config = load_model(run_folder)
    assert 5 <= config["step"] < 4000

    # Resume continues the same run from its checkpoint.
    resumed = [output for output in trainer.resume(15, token, updates[-1][1], session("mine"))
               if isinstance(output[-1], RunView)]
    assert "Run finished" in resumed[-1][0]
    assert load_model(run_folder)[2]["step"] == config["step"] + 15


def test_a_closed_tab_stops_the_run_and_keeps_its_last_checkpoint(trainer):
    token = trainer.workspaces.issue().token
    stream = trainer.start(*{**SETTINGS, "steps": 4000}.values(), token, None, session("closing"))
    view = None
    for output in stream:
        if isinstance(output[-1], RunView):
            view = output[-1]
            if view.step >= 5:
                break
    stream.close()  # what Gradio does when the browser tab goes away
    run_folder = Path(view.run)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (run_folder / "config.json").exists():
        time.sleep(0.2)
    assert load_model(run_folder)[2]["step"] >= 5
    assert "closing" not in trainer.active


def test_two_users_cannot_see_or_stop_each_others_runs(trainer):
    first, second = (trainer.workspaces.issue().token for _ in range(2))
    updates = run(trainer, first, session("first"), steps=12)
    view = updates[-1][1]
    assert "Saved" in trainer.save_as("first model", first, view)[0]
    # The second user can neither save the first user's run nor list or open the first user's models.
    assert "no checkpoint" in trainer.save_as("stolen", second, view)[0]
    assert trainer.context.user_entries(trainer.workspaces.get(second)) == []
    assert trainer.context.entry(str(trainer.workspaces.root / "not-a-token" / "models" / "x")) is None
    assert trainer.context.entry("/etc") is None


def test_quota_refuses_new_runs_when_full(tmp_path, pool):
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=1000, ttl_hours=24)
    handlers = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces, pool=pool,
                             limits=LIMITS, width=8)
    token = workspaces.issue().token
    workspace = workspaces.get(token)
    workspace.touch()
    (workspace.folder / "big.bin").write_bytes(b"x" * 2000)
    updates = run(handlers, token)
    assert "Not started" in updates[0][0] and "MB" in updates[0][0]


def test_a_full_workspace_makes_room_by_deleting_old_runs_not_saved_models(tmp_path):
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=5000, ttl_hours=24)
    workspace = workspaces.issue()
    old_run, busy_run = workspace.new_run(), workspace.new_run()
    for run_folder in (old_run, busy_run):
        (run_folder / "weights.bin").write_bytes(b"x" * 3000)
    model = workspace.models / "kept"
    model.mkdir(parents=True)
    (model / "weights.bin").write_bytes(b"y" * 1000)
    workspaces.check_quota(workspace, keep=(busy_run,))
    assert not old_run.exists() and busy_run.exists() and model.exists()


def test_old_workspaces_are_cleaned(tmp_path):
    import os

    workspaces = Workspaces(tmp_path / "ws", ttl_hours=1)
    old, fresh = workspaces.issue(), workspaces.issue()
    for workspace in (old, fresh):
        workspace.new_run()
    long_ago = time.time() - 7200
    for path in [old.folder, *old.folder.rglob("*")]:
        os.utime(path, (long_ago, long_ago))
    assert workspaces.clean() == [old.id]
    assert fresh.folder.exists() and not old.folder.exists()


# ------------------------------------------------------------------------------------- the page's workspace
def visitor(host: str = "192.0.2.10", language: str = "en-US") -> SimpleNamespace:
    """A page request as the load event gets it: a client address and the browser's language."""
    return SimpleNamespace(session_hash=f"{host}-{language}", headers={"accept-language": language},
                           query_params={}, client=SimpleNamespace(host=host, port=50000))


def loaded(trainer, token, request=None) -> dict:
    """on_load's outputs by name: the token to store, the Train status, whether Start and Resume are enabled, the
    'Your models' list and usage line."""
    token_out, status, _, start, resume, *models = trainer.on_load(token, request or visitor())
    return {"token": token_out, "status": status, "start": start["interactive"], "resume": resume["interactive"],
            "yours": models[-2], "usage": models[-1]}


def test_a_page_without_a_valid_token_is_issued_a_signed_one(trainer):
    for held in (None, "", "not a token", "Q" * 24 + "." + "Z" * 43):  # none, junk, a forged one
        page = loaded(trainer, held)
        workspace = trainer.workspaces.get(page["token"])  # verifies: the server signed it
        assert page["token"] != held and not workspace.folder.exists()
        assert page["status"] == "" and page["yours"]["choices"] == [] and page["usage"].startswith("0 saved")
        assert page["start"] is True and page["resume"] is True  # disabled until the page holds a token
    assert not any(path.is_dir() for path in trainer.workspaces.root.iterdir())  # no folder for any of them


def test_a_page_with_its_token_gets_the_same_workspace_back(trainer):
    import torch

    from genimg.store.checkpoint import save_checkpoint

    token = loaded(trainer, None)["token"]
    workspace = trainer.workspaces.get(token)
    run_folder = workspace.new_run()
    save_checkpoint(run_folder, model_config={"kind": "dcgan", "latent_dim": 8, "width": 8},
                    weights={"w": torch.zeros(3)}, step=7,
                    training_state={"optimizer": {}}, dataset="shapes")
    workspace.models.mkdir(parents=True)
    for _ in range(2):  # a reload, then a restarted server (a new Workspaces and handlers on the same folder)
        page = loaded(trainer, token)
        assert page["token"] == token
        assert f"Your last run ({run_folder.name}) is kept at step 7" in page["status"] and "Resume" in page["status"]
        trainer = TrainHandlers(trainer.context, Workspaces(trainer.workspaces.root), pool=trainer.pool,
                                limits=LIMITS, width=8)
    chinese = loaded(trainer, token, visitor(language="zh-CN,zh;q=0.9"))
    assert "你上次的训练" in chinese["status"] and chinese["usage"].startswith("已保存 0 个模型")


def test_new_workspaces_are_rate_limited_per_address_with_a_message(tmp_path, pool):
    import gradio as gr

    workspaces = Workspaces(tmp_path / "ws", issue_burst=2, issue_per_hour=1)
    handlers = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces, pool=pool,
                             limits=LIMITS, width=8)
    tokens = [loaded(handlers, None, visitor("203.0.113.5"))["token"] for _ in range(2)]
    assert all(workspaces.get(token) for token in tokens)
    refused = loaded(handlers, None, visitor("203.0.113.5"))
    assert refused["token"] == gr.skip() and refused["usage"] == ""  # the browser keeps what it holds
    assert refused["start"] is False and refused["resume"] is False  # the status says why; a press could only fail
    assert refused["status"].startswith("**No workspace for this page:** too many new workspaces")
    assert "about 60 min" in refused["status"]  # one more an hour: the next in 60 min
    chinese = loaded(handlers, None, visitor("203.0.113.5", "zh-CN"))
    assert chinese["status"].startswith("**此页面没有工作区：**") and "约 60 分钟" in chinese["status"]
    assert workspaces.get(loaded(handlers, None, visitor("198.51.100.9"))["token"])  # another address: served
    assert loaded(handlers, tokens[0], visitor("203.0.113.5"))["token"] == tokens[0]  # a kept token: never limited


def test_the_client_address_is_read_where_a_visitor_cannot_write_it(monkeypatch):
    from genimg.ui.context import client_address

    def request(forwarded: str | None, host: str | None = "10.16.3.80") -> SimpleNamespace:
        headers = {} if forwarded is None else {"x-forwarded-for": forwarded}
        return SimpleNamespace(headers=headers, client=SimpleNamespace(host=host, port=1) if host else None)

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("GENIMG_PROXY_HOPS", raising=False)
    assert client_address(request("6.6.6.6, 203.0.113.9")) == "10.16.3.80"  # no proxy: the header is the visitor's
    assert client_address(None) == "unknown" and client_address(request(None, host=None)) == "unknown"
    monkeypatch.setenv("SPACE_ID", "someone/genimg")  # a Space: one proxy appends the visitor's address
    assert client_address(request("6.6.6.6, 203.0.113.9")) == "203.0.113.9"
    assert client_address(request(None)) == "10.16.3.80"  # no header: the connection's address
    monkeypatch.setenv("GENIMG_PROXY_HOPS", "2")
    assert client_address(request("6.6.6.6, 203.0.113.9, 10.0.0.2")) == "203.0.113.9"
    assert client_address(request("10.0.0.2")) == "10.16.3.80"  # fewer entries than proxies: not trusted
    monkeypatch.setenv("GENIMG_PROXY_HOPS", "two")
    with pytest.raises(ValueError, match="GENIMG_PROXY_HOPS='two' is not accepted"):
        client_address(request(None))


def test_the_token_is_kept_at_the_top_of_the_page_under_a_key_stable_across_restarts(tmp_path):
    import gradio as gr

    import app

    def token_component(demo):
        found = [block for block in demo.blocks.values() if isinstance(block, gr.BrowserState)]
        assert len(found) == 1
        return found[0]

    root = tmp_path / "ws"
    first, restarted = (app.build_demo(folders=[], workspaces=Workspaces(root)) for _ in range(2))
    other = app.build_demo(folders=[], workspaces=Workspaces(tmp_path / "elsewhere"))
    tokens = [token_component(demo) for demo in (first, restarted, other)]
    assert tokens[0].storage_key == tokens[1].storage_key == tokens[2].storage_key == "genimg-workspace"
    assert tokens[0].secret == tokens[1].secret == Workspaces(root).browser_key() != tokens[2].secret
    # Mounted with the page, not inside a tab (a tab not yet opened is not mounted when the page loads).
    parent, ancestors = tokens[0].parent, []
    while parent is not None:
        ancestors.append(type(parent).__name__)
        parent = getattr(parent, "parent", None)
    assert "Tab" not in ancestors and "Tabs" not in ancestors, ancestors


# ------------------------------------------------------------------------------------------------- uploads
def _zip_of_pictures(path: Path, classes: dict[str, int]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, count in classes.items():
            for index in range(count):
                buffer = io.BytesIO()
                Image.fromarray(np.full((20, 20, 3), 40 * index % 255, np.uint8)).save(buffer, "PNG")
                archive.writestr(f"{name}/{index}.png", buffer.getvalue())
    return path


def test_uploaded_zips_train_or_are_refused_clearly(trainer, tmp_path):
    token = trainer.workspaces.issue().token
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    updates = run(trainer, token, dataset="upload", upload=str(not_zip))
    assert "Training failed" in updates[-1][0] and "zip" in updates[-1][0].lower()
    assert "choose a .zip" in run(trainer, token, dataset="upload", upload=None)[0][0]

    good = _zip_of_pictures(tmp_path / "pets.zip", {"cats": 20, "dogs": 20})
    updates = run(trainer, token, model_key="cdcgan", dataset="upload", upload=str(good), steps=6, batch_size=8)
    assert "Run finished" in updates[-1][0]
    _, model_config, config = load_model(Path(updates[-1][1].run))
    assert model_config.num_classes == 2 and config["dataset"] == "upload:pets.zip"


def test_a_vae_run_reports_its_terms(trainer):
    updates = run(trainer, trainer.workspaces.issue().token, model_key="vae", steps=12, lr_generator=1e-3)
    view = updates[-1][1]
    assert "Run finished" in updates[-1][0]
    assert {"neg_elbo", "reconstruction", "kl"} <= set(view.rows[-1].values)
    assert set(updates[-1][2][3]["value"]["series"]) == {"KL (nats)", "KL (nats) · raw"}


# -------------------------------------------------------------------------------------------------- health
def test_health_alarms_need_a_persistent_symptom_and_clear_again():
    monitor = HealthMonitor("gan")
    monitor.progress(10, {"d_real": 0.5, "d_fake": 0.5}, {"generator_grad_norm": 2.0})
    for step in range(200, 240, 10):
        monitor.progress(step, {"d_real": 0.99, "d_fake": 0.01}, {"generator_grad_norm": 0.001})
    keys = [alarm.key for alarm in monitor.alarms]
    assert keys == ["discriminator_wins", "vanishing_gradients"]
    assert "Try:" in monitor.markdown()
    monitor.progress(250, {"d_real": 0.6, "d_fake": 0.4}, {"generator_grad_norm": 1.0})
    assert monitor.alarms == []

    monitor.samples(50, 0.9)
    monitor.samples(300, 0.2)
    assert monitor.alarms == []  # one low reading is not enough
    monitor.samples(310, 0.2)
    assert [alarm.key for alarm in monitor.alarms] == ["mode_collapse"]

    vae = HealthMonitor("vae")
    for step in range(100, 140, 10):
        vae.progress(step, {"kl": 0.1, "neg_elbo": 200.0}, {"active_dims": 0.0, "latent_dim": 16.0})
    assert [alarm.key for alarm in vae.alarms] == ["posterior_collapse"]
    vae.progress(150, {"kl": float("nan")})
    assert "divergence" in [alarm.key for alarm in vae.alarms]


def test_a_collapsed_generator_raises_the_mode_collapse_alarm_from_real_events():
    """The engine's diversity signal, on a generator whose output ignores z, trips the alarm."""
    import torch

    from genimg.training.engine import Samples, train
    from tests.helpers import blob_data, tiny_config

    config = tiny_config("dcgan", steps=4, sample_every=1, log_every=1)
    monitor = HealthMonitor("gan")
    diversities = []
    events = train(config, data=blob_data(64))
    for event in events:
        if isinstance(event, Samples):
            diversities.append(event.diversity)
    assert all(value is not None and value > 0 for value in diversities)
    # Identical samples have zero spread: two such reports after warm-up raise the alarm.
    monitor.samples(10, max(diversities))
    monitor.samples(200, 0.0)
    monitor.samples(210, 0.0)
    assert [alarm.key for alarm in monitor.alarms] == ["mode_collapse"]
    assert torch.isfinite(torch.tensor(diversities)).all()


# --------------------------------------------------------------------------------------- served end to end
def test_two_clients_stream_their_own_runs_through_the_served_app(tmp_path, pool, monkeypatch):
    """gradio_client: two users train at once; one stops, the other's run goes on to the end."""
    from gradio_client import Client

    import app

    # Both clients connect from 127.0.0.1: two jobs per address (a class behind one school address, say).
    monkeypatch.setenv("GENIMG_JOBS_PER_ADDRESS", "2")
    workspaces = Workspaces(tmp_path / "ws")
    limits = Limits(max_steps=5000, max_seconds=120.0, slots=2, threads=1)
    context = ExploreContext(Renderer("cpu"), [], workspaces=workspaces)
    trainer = TrainHandlers(context, workspaces, pool=pool, limits=limits, width=8)
    demo = app.build_demo(folders=[], trainer=trainer)
    _, url, _ = app.launch(demo, server_name="127.0.0.1", prevent_thread_lock=True, quiet=True)
    clients = [Client(url, verbose=False), Client(url, verbose=False)]
    try:
        tokens = [workspaces.issue().token for _ in clients]
        jobs = [client.submit(*{**SETTINGS, "steps": steps}.values(), token, api_name="/train")
                for client, token, steps in zip(clients, tokens, (3000, 60), strict=True)]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and "Training" not in str(jobs[0].outputs()[-1:]):
            time.sleep(0.3)
        assert clients[0].predict(api_name="/stop").startswith("Stopping")
        first = jobs[0].result(timeout=90)
        second = jobs[1].result(timeout=90)
        assert "stopped by the user" in first[0]
        assert "Run finished" in second[0] and "step 60" in second[0]
        assert len(jobs[1].outputs()) > 3  # streamed, not one answer at the end
        # Each user's run lives in their own workspace only.
        for token in tokens:
            runs = workspaces.get(token).run_folders()
            assert len(runs) == 1 and (runs[0] / "config.json").is_file()
    finally:
        for client in clients:
            client.close()
        demo.close()


def test_stop_while_waiting_in_the_queue_cancels_the_start(trainer):
    waiting = session("waiting")
    trainer.queued(waiting)
    assert trainer.stop(waiting).startswith("Cancelled")
    updates = run(trainer, trainer.workspaces.issue().token, waiting)
    assert len(updates) == 1 and "Cancelled while waiting" in updates[0][0]
    assert trainer.stop(waiting) == "Nothing is training in this tab."  # and the next Start is not cancelled


def test_messages_follow_the_visitors_language(trainer):
    chinese = SimpleNamespace(session_hash="zh", headers={"accept-language": "zh-CN,zh;q=0.9"}, query_params={})
    assert trainer.stop(chinese) == "此页面没有正在进行的训练。"
    assert trainer.stop(session("en")) == "Nothing is training in this tab."
    assert "**未保存：**" in trainer.save_as("x", trainer.workspaces.issue().token, None, chinese)[0]


# ------------------------------------------------------------------------------------ outputs and statuses
def test_the_run_events_outputs_are_listed_once_in_their_api_order(trainer):
    """`bench page-digits` and other API clients read a run's updates by position: the order stays."""
    import gradio as gr

    with gr.Blocks() as demo:
        build_train_tab(trainer.context, trainer)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    expected = ["train-status", "train-progress", "train-losses", "train-aux", "train-samples", "train-alarms",
                "train-replay", "train-replay-image", "train-replay-caption", "train-start", "train-stop",
                "train-resume", None]
    for name in ("train", "resume"):
        assert [component.elem_id for component in by_name[name].outputs] == expected
        assert len(by_name[name].outputs) == len(dataclasses.fields(RunOutputs))
    assert isinstance(by_name["train"].outputs[-1], gr.State)
    assert [component.elem_id for component in by_name["train"].inputs[:10]] == [
        "train-model", "train-dataset", "train-upload", "train-latent", "train-steps", "train-batch", "train-lr-g",
        "train-lr-d", "train-beta", "train-loss"]
    assert len(trainer._outputs(RunView(), running=False)) == len(expected)


@pytest.mark.parametrize("status, english, chinese", [
    (Status("ended", {"why": "by_user", "step": 12_345, "elapsed": 75.2}),
     "**Run stopped by the user** at step 12,345 after 1 min 15 s", "**训练已被用户停止**：第 12,345 步，用时 1 分 15 秒"),
    (Status("ended", {"why": "time_limit", "step": 40, "elapsed": 9.6}), "**Run stopped at the time limit** at step 40 after 10 s",
     "**训练已达到时间上限而停止**"),
    (Status("training", {"title": "VAE on Shapes", "speed": 1534.6, "elapsed": 3.0}),
     "Training VAE on Shapes · 1,535 images/s · 3 s elapsed", "每秒 1,535 张图片"),
    (Status("started", {"title": "DCGAN", "parameters": 1_234_567, "images": 60_000, "device": "cpu",
                        "precision": "bf16"}), "1,234,567 parameters, 60,000 images, on cpu (bf16)", "1,234,567 个参数"),
    (Status("diverged", {"loss": "generator", "value": float("nan"), "step": 31, "kept": 25}),
     "(generator became nan) at step 31. The last good checkpoint (step 25) is kept.", "第 25 步"),
    (Status("diverged", {"loss": "kl", "value": float("inf"), "step": 3, "kept": None}),
     "Nothing was saved before it.", "在此之前没有保存任何内容。"),
    (Status("failed", {"error": "not a zip file"}), "**Training failed:** not a zip file", "**训练失败：** not a zip file"),
    (Status(), "", ""),
])
def test_run_statuses_are_worded_in_the_visitors_language(status, english, chinese):
    assert english in status_text(status, "en")
    assert chinese in status_text(status, "zh-CN")
    if status.key:
        assert status_text(status, "en") != status_text(status, "zh-CN")


def test_every_status_the_code_sets_has_a_message_with_its_values_in_both_languages():
    """Statuses are message keys set in the tab and the run view (Status("ended", {...})); each must be a
    Train-tab message in both languages whose placeholders are all among the values the code gives it."""
    import ast

    from genimg.ui.i18n import message

    project = Path(__file__).resolve().parents[2]
    found: list[tuple[str, set[str], str]] = []
    for path in (project / "genimg" / "ui" / "train_tab.py", project / "genimg" / "training" / "runview.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Status" and node.args:
                key = node.args[0]
                assert isinstance(key, ast.Constant), f"{path.name}:{node.lineno}: a status key must be a literal"
                values = node.args[1] if len(node.args) > 1 else ast.Dict(keys=[], values=[])
                assert isinstance(values, ast.Dict), f"{path.name}:{node.lineno}: status values must be a dict literal"
                found.append((key.value, {item.value for item in values.keys}, f"{path.name}:{node.lineno}"))
    assert {"started", "training", "ended", "diverged", "failed", "starting", "not_started"} <= {
        key for key, _, _ in found}
    for key, names, where in found:
        for language in ("en", "zh-CN"):
            try:
                text = message(f"train.msg.{key}", language, **dict.fromkeys(names, "X"))
            except KeyError as error:  # an unregistered key, or a placeholder the code gives no value for
                pytest.fail(f"status {key!r} at {where} ({language}): {error}")
            assert text.strip()
    for why in ("finished", "by_user", "time_limit"):  # Status("ended", {"why": ...}) from the run view
        assert message(f"train.msg.{why}", "en") != message(f"train.msg.{why}", "zh-CN")


class StandInPool:
    """A pool whose worker is a stand-in process that sends a garbled line after its first event."""

    prewarm = False

    def take(self) -> Worker:
        stand_in = ("import sys; print('{\"type\": \"WorkerReady\"}', flush=True); sys.stdin.readline(); "
                    "print('{\"type\": \"EpochEnd\", \"step\": 1, \"epoch\": 1}'); print('oops', flush=True); "
                    "sys.stdin.readline()")
        return Worker(command=[sys.executable, "-c", stand_in])

    def warm(self, wait_seconds: float = 0.0) -> None:
        pass

    def shutdown(self) -> None:
        pass


def test_a_garbled_line_from_the_worker_ends_the_run_in_words_not_a_crash(tmp_path):
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=200 * 2**20, ttl_hours=24)
    handlers = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces,
                             pool=StandInPool(), limits=LIMITS, width=8)
    updates = run(handlers, handlers.workspaces.issue().token, session("garbled"))
    assert "Training failed" in updates[-1][0] and "not JSON: 'oops" in updates[-1][0]
    assert updates[-1][1].ended and "garbled" not in handlers.active
    outputs = updates[-1][2]
    assert outputs[9]["interactive"] is True and outputs[10]["interactive"] is False  # Start on, Stop off again


# ------------------------------------------------------------------------------------- reserved model names
CHINESE = SimpleNamespace(session_hash="zh", headers={"accept-language": "zh-CN,zh;q=0.9"}, query_params={})


@pytest.mark.parametrize("reserved", ["x.partial", "x.PARTIAL", "run 1.partial", " x.partial "])
def test_a_name_the_workspace_reserves_is_refused_in_the_visitors_language(trainer, reserved):
    """Attack: a model saved as 'x.partial' was hidden from every list (the workspace skips its unfinished
    copies by that suffix), and a later Save as 'x' deleted it (the unfinished copy of 'x' is 'x.partial')."""
    token = trainer.workspaces.issue().token
    view = run(trainer, token, steps=20)[-1][1]
    english = trainer.save_as(reserved, token, view, session("a"))[0]
    assert "Not saved" in english and "reserved" in english and ".partial" in english, english
    chinese = trainer.save_as(reserved, token, view, CHINESE)[0]
    assert "未保存" in chinese and "保留" in chinese, chinese
    models = trainer.workspaces.get(token).models
    assert not any(path.name.lower().endswith(".partial") for path in models.glob("*")) if models.is_dir() else True
    assert "Saved **x**" in trainer.save_as("x", token, view)[0]  # the plain name still saves
    assert [path.name for path in models.iterdir()] == ["x"]


def test_a_malformed_name_is_refused_in_the_visitors_language(trainer):
    token = trainer.workspaces.issue().token
    view = run(trainer, token, steps=20)[-1][1]
    chinese = trainer.save_as("../outside", token, view, CHINESE)[0]
    assert "未保存" in chinese and "../outside" in chinese and "字母" in chinese, chinese



# ------------------------------------------------------------------------------------------------ Chinese
# Latin-script words a Chinese page keeps: names of models, datasets, units and devices, letters of formulas.
KEPT_NAMES = {"dcgan", "gan", "vae", "mnist", "fashion", "cifar", "shapes", "zip", "cpu", "gpu", "cuda", "apple",
              "mps", "mb", "kl", "elbo", "nats", "nan", "hinge", "bf", "d", "g", "x", "z", "e", "log"}


def english_words(text: str) -> list[str]:
    """Latin-script words that are not kept names, in the text a visitor reads (HTML tags left out)."""
    shown = re.sub(r"<[^>]*>", " ", text)
    return [word for word in re.findall(r"[A-Za-z]+", shown) if word.lower() not in KEPT_NAMES]


def test_everything_the_tab_writes_during_a_run_reads_in_chinese(trainer):
    """The device line, the progress line with its ETA, the replay caption, run titles (every preset and dataset),
    the GAN loss names, every health alarm and the all-clear, the curves' names: Chinese but for names."""
    from genimg.training.health import ALARMS
    from genimg.training.runview import CurvePoint, ReplayGrid
    from genimg.ui.i18n import message
    from genimg.ui.train_tab import _duration, _replay_caption

    texts = {"device": trainer.device_text("zh-CN"), "progress": progress_html(1_234, 5_000, 3_725.0, "zh-CN"),
             "caption": _replay_caption([ReplayGrid.of(50, 75.0, np.zeros((4, 4), np.uint8))], 0, "zh-CN"),
             "duration": _duration(42, "zh-CN")}
    for key in PRESETS:
        for dataset in DATASET_NAMES_SHOWN:
            texts[f"title {key} {dataset}"] = run_title(key, dataset, "zh-CN")
    for key in GAN_LOSS_NAMES:
        texts[f"loss {key}"] = message(f"train.gan_loss.{key}", "zh-CN")
    monitor = HealthMonitor("gan")
    texts["all clear"] = alarms_text(monitor, "zh-CN")
    monitor.raised = dict(ALARMS)
    texts["alarms"] = alarms_text(monitor, "zh-CN")
    for family, values in (("gan", {"generator": 1.0, "discriminator": 1.2, "d_real": 0.6, "d_fake": 0.4}),
                           ("vae", {"neg_elbo": 90.0, "reconstruction": 80.0, "kl": 10.0}),
                           ("flow", {"loss": 0.3, "loss_near_noise": 0.5, "loss_middle": 0.3,
                                     "loss_near_picture": 0.1})):
        view = RunView(family=family, language="zh-CN", rows=[CurvePoint(1, values), CurvePoint(2, values)])
        texts[f"{family} curves"] = " ".join(" ".join(frame["series"]) for frame in plots(view))
    found = {name: english_words(text) for name, text in texts.items() if english_words(text)}
    assert found == {}
    assert "1,234" in texts["progress"] and "5,000" in texts["progress"] and "62 分 05 秒" in texts["progress"]
    assert texts["alarms"].count("⚠") == len(ALARMS)
    # ... and the English page says the same things in English
    assert "Training runs on **CPU (1 thread)**" in trainer.device_text("en")
    assert progress_html(1_234, 5_000, 3_725.0, "en").endswith("step 1,234 of 5,000 (25%) · about 62 min 05 s left</small>")
    monitor.raised = {"mode_collapse": ALARMS["mode_collapse"]}
    assert alarms_text(monitor, "en") == ALARMS["mode_collapse"].markdown()


def test_the_device_line_is_filled_in_the_visitors_language_on_load(trainer):
    chinese = visitor(language="zh-CN")
    english = trainer.on_load(None, visitor())[2]
    assert english.startswith("Training runs on") and trainer.on_load(None, chinese)[2].startswith("训练在")


# ------------------------------------------------------------------------------------------------- curves
def curve_view(family: str = "gan", language: str = "en", points: int = 30) -> RunView:
    from genimg.training.runview import CurvePoint

    noise = np.random.default_rng(0).normal(0, 0.5, points)
    rows = [CurvePoint(step, {"generator": 2.0 + noise[step - 1], "discriminator": 0.5 + 0.01 * step,
                              "d_real": 0.7, "d_fake": 0.3}) for step in range(1, points + 1)]
    return RunView(family=family, language=language, rows=rows)


def test_one_report_draws_no_curve_until_there_are_two():
    """One point alone gave the plot an axis of a single value (ticks like 1.000000). Before two reports the plots
    are left as they are: never sent None (a LinePlot that drew throws in the page) nor an empty frame (it then
    never draws lines again)."""
    import gradio as gr

    from genimg.ui.train_tab import plot_update

    assert plots(curve_view(points=1)) == (None, None)
    assert plot_update(None, "loss", "en") == gr.skip() and plot_update(None, "aux", "zh-CN") == gr.skip()


def test_a_new_runs_first_updates_never_send_the_plots_none(trainer):
    """A second run's first update (fewer than two reports) sent the plots None: the page threw 'Cannot read
    properties of null (reading offsetWidth)'. Every update of a run leaves them alone until it has curves."""
    import gradio as gr

    early = 0
    for output in trainer.start(*{**SETTINGS, "steps": 12}.values(), trainer.workspaces.issue().token, None,
                                session("curves")):
        result = RunOutputs(*output)
        assert result.losses is not None and result.aux is not None
        if isinstance(result.view, RunView) and len(result.view.rows) < 2:  # read as it is sent
            early += 1
            assert result.losses == gr.skip() and result.aux == gr.skip(), result.status
    assert early >= 1  # the "Starting" update at least
    losses, aux = plots(curve_view(points=2))
    assert losses is not None and aux is not None and set(losses["step"]) == {1, 2}


def test_smoothing_draws_the_raw_curve_faint_under_the_smoothed_one():
    from genimg.ui.train_tab import CurveSettings, plot_update

    view = curve_view()
    raw, _ = plots(view, CurveSettings(smoothing=0.0))
    assert set(raw["series"]) == {"generator loss", "discriminator loss"}
    losses, _ = plots(view, CurveSettings(smoothing=0.9))
    assert set(losses["series"]) == {"generator loss", "generator loss · raw", "discriminator loss",
                                     "discriminator loss · raw"}
    generator = losses[losses["series"] == "generator loss"]["value"].to_numpy()
    generator_raw = losses[losses["series"] == "generator loss · raw"]["value"].to_numpy()
    assert np.allclose(generator_raw, raw[raw["series"] == "generator loss"]["value"])  # the raw curve unchanged
    assert np.std(np.diff(generator)) < 0.5 * np.std(np.diff(generator_raw))  # the smoothed one far steadier
    update = plot_update(losses, "loss", "en", "gan", CurveSettings(smoothing=0.9))
    assert update["color_map"]["generator loss"] != update["color_map"]["generator loss · raw"]
    assert set(update["color_map"]) == set(losses["series"])
    chinese = plots(curve_view(language="zh-CN"), CurveSettings(smoothing=0.5))[0]
    assert "生成器损失 · 原始" in set(chinese["series"])


def test_the_log_scale_plots_log10_of_the_losses_and_says_so():
    from genimg.ui.train_tab import CurveSettings, plot_update

    view = curve_view()
    view.rows[3].values["discriminator"] = -0.2  # a hinge loss can go below zero: no logarithm, left out
    linear, linear_aux = plots(view, CurveSettings(smoothing=0.0))
    logarithmic, log_aux = plots(view, CurveSettings(smoothing=0.0, log_scale=True))
    generator = linear[linear["series"] == "generator loss"]["value"].to_numpy()
    logged = logarithmic[logarithmic["series"] == "generator loss"]["value"].to_numpy()
    assert np.allclose(logged, np.log10(generator[generator > 0]))
    assert len(logarithmic[logarithmic["series"] == "discriminator loss"]) == len(view.rows) - 1
    assert log_aux.equals(linear_aux)  # D(x), D(G(z)) stay probabilities
    assert plot_update(logarithmic, "loss", "en", "gan", CurveSettings(log_scale=True))["label"].startswith(
        "Losses, log₁₀ scale")
    assert "log₁₀" in plot_update(logarithmic, "loss", "zh-CN", "gan", CurveSettings(log_scale=True))["label"]
    assert plot_update(linear, "loss", "en", "gan", CurveSettings())["label"] == "Losses"
    # Gradio redraws a LinePlot with its old data when a title, colour or legend changes with the data: they don't
    settings = [CurveSettings(0.0), CurveSettings(0.9), CurveSettings(0.0, True), CurveSettings(0.9, True)]
    updates = [plot_update(frame, "loss", "en", "gan", curves) for frame, curves in zip(
        [plots(view, curves)[0] for curves in settings], settings, strict=True)]
    assert all("colors_in_legend" not in update for update in updates)  # a list: new at every update
    for key in ("x_title", "y_title", "color_title", "color_map"):
        assert all(update[key] == updates[0][key] for update in updates), key


def test_the_curve_settings_redraw_the_plots_and_hold_for_the_tabs_next_run(trainer):
    import gradio as gr

    token = trainer.workspaces.issue().token
    view = run(trainer, token, steps=30)[-1][1]
    losses, _ = trainer.redraw(0.0, True, view, session("a"))
    assert "log₁₀" in losses["label"] and not any("raw" in name for name in losses["value"]["series"])
    later = run(trainer, token, steps=30)[-1][2]  # this tab's next run is drawn the same way
    assert "log₁₀" in later[2]["label"] and not any("raw" in name for name in later[2]["value"]["series"])
    other = run(trainer, token, request=session("b"), steps=30)[-1][2]  # another tab keeps the defaults
    assert other[2]["label"] == "Losses" and any("raw" in name for name in other[2]["value"]["series"])
    for smoothing in (1.0, -0.5, "lots", float("nan")):
        with pytest.raises(gr.Error, match="平滑"):
            trainer.redraw(smoothing, False, view, CHINESE)


# ------------------------------------------------------------------------------ download, open in Latent space
def test_a_saved_model_downloads_as_a_zip_genimg_loads_and_nothing_else_does(trainer, tmp_path):
    import gradio as gr

    token = trainer.workspaces.issue().token
    view = run(trainer, token, steps=20)[-1][1]
    assert "Saved" in trainer.save_as("zip me", token, view)[0]
    exported = Path(trainer.download("zip me", token))
    assert exported.suffix == ".zip" and trainer.exports in exported.parents
    with zipfile.ZipFile(exported) as archive:
        archive.extractall(tmp_path)
    _, model_config, _ = load_model(tmp_path / "zip-me")
    assert model_config.width == 8
    other = trainer.workspaces.issue().token  # another visitor cannot download it by name
    for name, token_used, words in (("zip me", other, "no model named"), (None, token, "choose one of your models"),
                                    ("../zip me", token, "not accepted"), ("x.partial", token, "reserved")):
        with pytest.raises(gr.Error, match=words):
            trainer.download(name, token_used)
    with pytest.raises(gr.Error, match="未能下载"):
        trainer.download("missing", token, CHINESE)


def test_open_in_latent_space_selects_the_tab_with_the_saved_model_chosen(trainer):
    import gradio as gr

    with gr.Blocks(), gr.Tabs():
        with gr.Tab("Latent space", id="latent"):
            latent = gr.Dropdown([], elem_id="latent-model")
            trainer.context.register(latent)
            gr.Dropdown([]).input(lambda model: model, latent, latent, api_name="latent_pick_model")
        with gr.Tab("Train", id="train"):
            parts = build_train_tab(trainer.context, trainer)
    token = trainer.workspaces.issue().token
    view = run(trainer, token, steps=20)[-1][1]
    trainer.save_as("latent me", token, view)
    selected, dropdown = trainer.open_in_latent("latent me", token)
    saved = str(trainer.workspaces.get(token).models / "latent me")
    assert selected.selected == "latent" and dropdown["value"] == saved
    assert saved in [value for _, value in dropdown["choices"]]
    with pytest.raises(gr.Error, match="no model named"):
        trainer.open_in_latent("latent me", trainer.workspaces.issue().token)
    with pytest.raises(gr.Error, match="未能打开"):
        trainer.open_in_latent(None, token, CHINESE)
    assert parts["token"] is not None


# ------------------------------------------------------------------------------------------------ more settings
def test_more_settings_reach_the_config_where_they_apply():
    from genimg.ui.train_tab import MoreSettings

    more = MoreSettings(width=24, ema=0.999, spectral_norm=True, kl_warmup=300, seed=1234)
    gan = build_config(*list(SETTINGS.values())[:2], *list(SETTINGS.values())[3:], LIMITS, more=more)
    assert (gan.model.width, gan.ema_decay, gan.model.spectral_norm, gan.seed) == (24, 0.999, True, 1234)
    assert gan.kl_warmup_steps == 0  # a VAE's setting: not for a GAN
    vae = build_config("vae", "shapes", 8, 40, 16, 1e-3, 1e-3, 1.0, "nonsaturating", LIMITS, more=more)
    assert (vae.kl_warmup_steps, vae.model.spectral_norm, vae.model.width) == (300, False, 24)
    plain = build_config("vae", "shapes", 8, 40, 16, 1e-3, 1e-3, 1.0, "nonsaturating", LIMITS, width=8,
                         more=MoreSettings(width=0, ema=None, seed=0))  # the page's "not chosen": the recipe's
    assert plain.model.width == 8 and plain.ema_decay == PRESETS["vae"].recipe.ema_decay and plain.seed > 0


@pytest.mark.parametrize("field, value, english, chinese", [
    ("width", -1, "Width", "宽度"), ("width", 2.5, "whole number", "整数"), ("width", 10**6, "Width", "宽度"),
    ("ema", 1.0, "EMA", "EMA"), ("ema", -0.1, "EMA", "EMA"), ("ema", "lots", "not a number", "不是数字"),
    ("kl_warmup", -3, "KL warm-up", "KL 预热"), ("seed", -1, "Seed", "种子"), ("seed", 2**40, "Seed", "种子"),
    ("seed", 1.5, "whole number", "整数"),
])
def test_more_settings_are_refused_naming_the_field_in_both_languages(field, value, english, chinese):
    from genimg.ui.train_tab import FieldError, MoreSettings

    with pytest.raises(FieldError) as refused:
        build_config("vae", "shapes", 8, 40, 16, 1e-3, 1e-3, 1.0, "nonsaturating", LIMITS,
                     more=MoreSettings(**{field: value}))
    assert english in refused.value.words("en") and chinese in refused.value.words("zh-CN")


def test_more_settings_show_only_where_they_apply(trainer):
    import gradio as gr

    with gr.Blocks() as demo:
        build_train_tab(trainer.context, trainer)
    changed = next(function for function in demo.fns.values()
                   if getattr(function.fn, "__name__", "") == "preset_visibility")
    by_id = [component.elem_id for component in changed.outputs]
    for key, gan in (("dcgan", True), ("vae", False), ("cvae", False)):
        updates = dict(zip(by_id, changed.fn(key), strict=True))
        assert updates["train-spectral"]["visible"] is gan and updates["train-kl-warmup"]["visible"] is not gan
        assert updates["train-loss"]["visible"] is gan and "value" not in updates["train-loss"]
    # The numbers come from the browser (no round trip that could overwrite a field typed meanwhile): one event
    # without a server function, whose script holds every preset's numbers in the order of its outputs.
    numbers = next(function for function in demo.fns.values() if function.fn is None and function.js
                   and [component.elem_id for component in function.outputs][:2] == ["train-latent", "train-steps"])
    assert [component.elem_id for component in numbers.outputs] == [
        "train-latent", "train-steps", "train-batch", "train-lr-g", "train-lr-d", "train-loss", "train-ema"]
    script = numbers.js
    from genimg.recipes import PRESETS

    for key, chosen in PRESETS.items():
        assert f'"{key}": [{chosen.recipe.latent_dim}, {chosen.recipe.steps}, {chosen.recipe.batch_size}' in script
    start = next(function for function in demo.fns.values() if function.api_name == "train")
    assert [component.elem_id for component in start.inputs][-5:] == [
        "train-width", "train-ema", "train-spectral", "train-kl-warmup", "train-seed"]


# ------------------------------------------------------------------------------------------- the fair queue
class WaitingWorker:
    """A stand-in worker that trains nothing: it waits until stopped or closed (its run never ends on its own)."""

    def __init__(self) -> None:
        self.stopped = threading.Event()
        self.jobs: list = []

    def alive(self) -> bool:
        return not self.stopped.is_set()

    def submit(self, job) -> None:
        self.jobs.append(job)

    def stop(self) -> None:
        self.stopped.set()

    def close(self, wait: float = 0.0) -> None:
        self.stopped.set()

    def events(self, poll_seconds: float = 0.05):
        while not self.stopped.wait(poll_seconds):
            yield None


class WaitingPool:
    prewarm = False

    def __init__(self) -> None:
        self.taken: list[WaitingWorker] = []

    def take(self) -> WaitingWorker:
        self.taken.append(WaitingWorker())
        return self.taken[-1]

    def warm(self, wait_seconds: float = 0.0) -> None:
        pass

    def shutdown(self) -> None:
        pass


@pytest.fixture
def queued_trainer(tmp_path, monkeypatch):
    """Handlers with one training slot, the default line (one job per address) and stand-in workers."""
    monkeypatch.delenv("GENIMG_JOBS_PER_ADDRESS", raising=False)
    monkeypatch.delenv("GENIMG_QUEUE_LENGTH", raising=False)
    monkeypatch.delenv("GENIMG_PROXY_HOPS", raising=False)
    monkeypatch.delenv("SPACE_ID", raising=False)
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=200 * 2**20, ttl_hours=24)
    return TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces,
                         pool=WaitingPool(), limits=LIMITS, width=8)


def page(host: str, name: str, language: str = "en-US") -> SimpleNamespace:
    """A Start's request: a session of its own, from a client address, in a browser language."""
    return SimpleNamespace(session_hash=name, headers={"accept-language": language}, query_params={},
                           client=SimpleNamespace(host=host, port=50000))


def first_update(stream) -> RunOutputs:
    """The first update a Start streams that says something (not a 'nothing new' tick)."""
    for output in stream:
        if isinstance(output[-1], RunView):
            return RunOutputs(*output)
    raise AssertionError("the Start ended without an update")


def test_twelve_starts_from_one_address_leave_an_honest_visitor_first_in_line(queued_trainer):
    """Attack: twelve Starts from one visitor (each from a fresh workspace, as a script makes them) put an honest
    visitor at place 11 of 12. Now the visitor's address holds one job; the others are told so, and the honest
    visitor from another address is first in line behind the one running job."""
    trainer = queued_trainer
    attacker = "203.0.113.66"
    tokens = [trainer.workspaces.issue(attacker).token for _ in range(12)]
    streams = [trainer.start(*{**SETTINGS, "steps": 4000}.values(), token, None, page(attacker, f"attacker-{number}"))
               for number, token in enumerate(tokens)]
    honest_token = trainer.workspaces.issue("198.51.100.7").token
    honest = trainer.start(*SETTINGS.values(), honest_token, None, page("198.51.100.7", "honest"))
    try:
        answers = [first_update(stream) for stream in streams]
        admitted = [answer for answer in answers if answer.status.startswith("Starting")]
        refused = [answer for answer in answers if not answer.status.startswith("Starting")]
        assert len(admitted) == 1 and len(refused) == 11
        for answer in refused:
            assert answer.status == "**Not started:** " + message("limits.one_job", "en")
            assert answer.start["interactive"] is True and answer.stop["interactive"] is False
        assert len(trainer.pool.taken) == 1  # one worker: the refused Starts never reached one
        waiting = first_update(honest)
        assert "number 1 in line" in waiting.status and waiting.stop["interactive"] is True
        ticket = trainer.queue.ticket_of(trainer.workspaces.get(honest_token).id)
        assert ticket is not None and ticket.position == 1  # first in line, behind the running job only
        assert len(trainer.queue.waiting) == 1  # and no other job of the attacker waits anywhere
        # A refused Start left nothing on disk: one run folder among the attacker's twelve workspaces.
        assert sum(len(trainer.workspaces.get(token).run_folders()) for token in tokens) == 1
        # The attacker's running job ends: the honest visitor's run starts next.
        streams[answers.index(admitted[0])].close()
        assert first_update(honest).status.startswith("Starting")
        assert ticket.position == 0
    finally:
        for stream in (*streams, honest):
            stream.close()
    assert trainer.queue.running == [] and trainer.queue.waiting == []


def test_the_line_refuses_in_the_visitors_language_and_stop_leaves_it_while_waiting(queued_trainer):
    trainer = queued_trainer
    running = trainer.start(*SETTINGS.values(), trainer.workspaces.issue().token, None, page("192.0.2.1", "one"))
    waiting = trainer.start(*SETTINGS.values(), trainer.workspaces.issue().token, None, page("192.0.2.2", "two"))
    again = trainer.start(*SETTINGS.values(), trainer.workspaces.issue().token, None,
                          page("192.0.2.2", "three", "zh-CN,zh;q=0.9"))
    try:
        assert first_update(running).status.startswith("Starting")
        assert "number 1 in line" in first_update(waiting).status
        assert "你排在第 3 位" in status_text(Status("waiting", {"position": 3}), "zh-CN")
        refused = first_update(again).status
        assert refused == "**未开始：** " + message("limits.one_job", "zh-CN")
        # Stop while waiting in line: the Start leaves the line without starting anything.
        assert trainer.stop(page("192.0.2.2", "two")).startswith("Cancelled: your run leaves the queue")
        assert "Cancelled while waiting" in first_update(waiting).status
        assert len(trainer.pool.taken) == 1 and trainer.queue.waiting == []
        # Stop while running reaches the worker.
        assert trainer.stop(page("192.0.2.1", "one")).startswith("Stopping")
        assert trainer.pool.taken[0].stopped.is_set()
    finally:
        for stream in (running, waiting, again):
            stream.close()


def test_a_full_line_says_when_to_try_again(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_QUEUE_LENGTH", "1")
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=200 * 2**20, ttl_hours=24)
    trainer = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces,
                            pool=WaitingPool(), limits=LIMITS, width=8)
    streams = [trainer.start(*SETTINGS.values(), workspaces.issue().token, None, page(f"192.0.2.{number}", str(number)))
               for number in range(3)]
    try:
        assert first_update(streams[0]).status.startswith("Starting")
        assert "number 1 in line" in first_update(streams[1]).status
        minutes = math.ceil(LIMITS.max_seconds / 60)
        assert first_update(streams[2]).status == "**Not started:** " + message("limits.queue_full", "en",
                                                                                minutes=minutes)
    finally:
        for stream in streams:
            stream.close()


def test_the_run_events_let_every_job_of_the_line_reach_it(trainer):
    """Gradio's own queue must not hold waiting visitors back in its first-come order ahead of the fair line."""
    import gradio as gr

    with gr.Blocks() as demo:
        build_train_tab(trainer.context, trainer)
    by_name = {fn.api_name: fn for fn in demo.fns.values() if fn.api_name}
    for name in ("train", "resume"):
        assert by_name[name].concurrency_limit >= trainer.queue.slots + trainer.queue.length


# ------------------------------------------------------------------------------------------- the disk budget
def test_a_run_is_given_the_workspaces_share_and_the_servers_budget(tmp_path):
    """The worker enforces the disk limits while the run writes; without them it read the environment's, which
    are not this installation's when it was configured in code (a test, `bench load`)."""
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=7 * 2**20, budget_bytes=11 * 2**20, ttl_hours=24)
    trainer = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces,
                            pool=WaitingPool(), limits=LIMITS, width=8)
    stream = trainer.start(*SETTINGS.values(), workspaces.issue().token, None, page("192.0.2.1", "one"))
    try:
        first_update(stream)
    finally:
        stream.close()
    job = trainer.pool.taken[0].jobs[0]
    assert (job.quota_bytes, job.budget_bytes) == (7 * 2**20, 11 * 2**20)


def test_a_run_stopped_for_disk_says_so_in_both_languages():
    for key, values, english, chinese in (
            ("disk_full", {"quota": "300"}, "reached its 300 MB share", "300 MB 的磁盘份额"),
            ("budget_full", {"budget": "2048"}, "all visitors (2048 MB) is full", "（2048 MB）已被")):
        status = Status(key, {**values, "step": 120, "elapsed": 65.0})
        assert english in status_text(status, "en") and "Step 120, after 1 min 05 s" in status_text(status, "en")
        assert chinese in status_text(status, "zh-CN") and "第 120 步" in status_text(status, "zh-CN")
        assert "time limit" not in status_text(status, "en")


def test_a_visitor_whose_work_was_evicted_is_told_once_on_return(trainer):
    from genimg.store.workspace import EVICTED_FILE_NAME

    token = trainer.workspaces.issue().token
    workspace = trainer.workspaces.get(token)
    workspace.touch()
    (workspace.folder / EVICTED_FILE_NAME).write_text("", encoding="utf-8")
    budget = f"{trainer.workspaces.budget_bytes / 2**20:.0f}"
    status = loaded(trainer, token)["status"]
    assert status == message("limits.evicted", "en", budget=budget) and f"{budget} MB" in status
    assert loaded(trainer, token)["status"] == ""  # told once
    (workspace.folder / EVICTED_FILE_NAME).write_text("", encoding="utf-8")
    assert loaded(trainer, token, visitor(language="zh-CN"))["status"] == message("limits.evicted", "zh-CN",
                                                                                  budget=budget)


# ----------------------------------------------------------------------------------------------- compare two runs
@pytest.fixture(scope="module")
def compared(tmp_path_factory, pool):
    """One workspace with three finished tiny runs, oldest first: a DCGAN, a VAE, a DCGAN (30 steps each), and the
    tab's view of each."""
    root = tmp_path_factory.mktemp("compare")
    workspaces = Workspaces(root / "workspaces", quota_bytes=200 * 2**20, ttl_hours=24)
    trainer = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces, pool=pool,
                            limits=LIMITS, width=8)
    token = workspaces.issue().token
    views = []
    for model_key in ("dcgan", "vae", "dcgan"):
        views.append(run(trainer, token, model_key=model_key, steps=30)[-1][1])
        time.sleep(1.05)  # run folders are named by the second they start in
    return SimpleNamespace(trainer=trainer, token=token, views=views, names=[Path(view.run).name for view in views])


def chinese_visitor() -> SimpleNamespace:
    return SimpleNamespace(session_hash="zh", headers={"accept-language": "zh-CN,zh;q=0.9"}, query_params={})


def plotted(update: dict) -> dict[str, list[tuple[int, float]]]:
    """A compare chart's data as {series: [(step, value), …]} (only the visible ones are sent data)."""
    frame = update["value"]
    return {series: list(zip(part["step"], part["value"], strict=True)) for series, part in frame.groupby("series")}


def test_compare_lists_the_workspaces_runs_newest_first_with_the_tabs_run_chosen_first(compared):
    from genimg.ui.compare_runs import run_started

    first, second, *_ = compared.trainer.compare_open(compared.token, compared.views[0], 0.6)
    values = [value for _, value in first["choices"]]
    assert values == sorted(compared.names, reverse=True) and first["choices"] == second["choices"]
    assert first["value"] == compared.names[0]  # the run in the tab now
    assert second["value"] == compared.names[2]  # the newest other one
    labels = {value: label for label, value in first["choices"]}
    started = run_started(compared.names[0])
    assert labels[compared.names[0]] == (f"DCGAN on Shapes · {started.tm_mday} "
                                         f"{time.strftime('%b %H:%M:%S', started)} "
                                         "· step 30 · in this tab")
    assert labels[compared.names[1]].startswith("VAE on Shapes") and "in this tab" not in labels[compared.names[1]]
    chinese, *_ = compared.trainer.compare_open(compared.token, compared.views[0], 0.6, chinese_visitor())
    label = {value: label for label, value in chinese["choices"]}[compared.names[0]]
    assert label.startswith("DCGAN · Shapes 几何图形 · ") and label.endswith(" · 第 30 步 · 本页的训练")
    assert f"{started.tm_mon}月{started.tm_mday}日" in label
    # After a reload the tab has no run: the newest is first, the one before it second.
    first, second, *_ = compared.trainer.compare_open(compared.token, None, 0.6)
    assert (first["value"], second["value"]) == (compared.names[2], compared.names[1])


def test_two_gans_share_one_chart_per_quantity_and_their_grids_sit_side_by_side(compared):
    from genimg.ui.compare_runs import ALL_QUANTITIES

    gan_1, gan_2 = compared.names[0], compared.names[2]
    note, *outputs = compared.trainer.compare(gan_1, gan_2, compared.token, 0)
    charts = dict(zip(ALL_QUANTITIES, outputs[:len(ALL_QUANTITIES)], strict=True))
    grid_1, caption_1, grid_2, caption_2, colours = outputs[len(ALL_QUANTITIES):]
    blue, orange = "#2563eb", "#ea580c"  # the Train tab's first two curve colours, one per run
    assert colours[:4] == [dict(zip(sorted(plotted(charts["generator"])), (blue, orange), strict=True))] * 4
    assert colours[4:] == [None] * (len(ALL_QUANTITIES) - 4)
    recoloured = compared.trainer.recolour(colours)
    assert [update.get("color_map") for update in recoloured[:4]] == colours[:4]
    assert all(update is not None and not update.get("color_map") for update in recoloured[4:])  # skipped
    assert [key for key, chart in charts.items() if chart["visible"] is True] == ["generator", "discriminator",
                                                                                  "d_real", "d_fake"]
    assert all(chart == {"visible": "hidden", "__type__": "update"} for chart in outputs[4:7])
    for key, view in (("generator", compared.views[0]), ("d_fake", compared.views[2])):
        series = plotted(charts[key])
        assert len(series) == 2 and all(" — " not in chart["label"] for chart in charts.values() if chart["visible"] is True)
        number = 1 if view is compared.views[0] else 2
        name = next(name for name in series if name.startswith(f"{number} · DCGAN "))
        # smoothing 0: the chart holds exactly the run's reported values, at their steps
        assert series[name] == [(point.step, pytest.approx(point.values[key])) for point in view.rows]
    assert charts["generator"]["label"] == "generator loss" and charts["generator"]["y_title"] == "loss"
    assert charts["d_real"]["y_title"] == "value"
    for grid, caption, view in ((grid_1, caption_1, compared.views[0]), (grid_2, caption_2, compared.views[2])):
        saved = np.asarray(Image.open(Path(view.run) / "samples.png").convert("RGB"))
        assert np.array_equal(grid, saved)
        assert re.fullmatch(r"\*\*\d · DCGAN on Shapes\*\*: step 30 · [\d,]+ images/s · \d+ s of training  \n"
                            r"learning rates 0.0002 \(G\) / 0.0002 \(D\) · batch 16 · latent size 8", caption), caption
    assert note == ""  # same family, curves stored, no smoothing: nothing to warn about
    assert "smoothed as set above (0.6)" in compared.trainer.compare(gan_1, gan_2, compared.token, 0.6)[0]


def test_a_gan_and_a_vae_are_compared_where_they_can_and_each_chart_says_which_run_it_shows(compared):
    from genimg.ui.compare_runs import ALL_QUANTITIES, QUANTITIES

    vae, gan = compared.names[1], compared.names[2]
    note, *outputs = compared.trainer.compare(vae, gan, compared.token, 0.6)
    charts = dict(zip(ALL_QUANTITIES, outputs[:len(ALL_QUANTITIES)], strict=True))
    assert "different model families (VAE and GAN)" in note
    for key, chart in charts.items():
        if key in QUANTITIES["flow"]:  # neither run reports it
            assert chart["visible"] == "hidden"
            continue
        assert chart["visible"] is True
        (series,) = plotted(chart)
        expected = 1 if key in ("neg_elbo", "reconstruction", "kl") else 2
        assert series.startswith(f"{expected} · {'VAE' if expected == 1 else 'DCGAN'} ")
        assert chart["label"].endswith(f" — only run {expected} (a {'GAN' if expected == 1 else 'VAE'} does not "
                                       "report it)")
    note, *outputs = compared.trainer.compare(vae, gan, compared.token, 0.6, chinese_visitor())
    assert "不同的模型类别" in note and outputs[0]["label"] == "生成器损失 — 只有训练 2（VAE 不报告这个量）"
    assert outputs[0]["x_title"] == "步数"
    assert "第 30 步" in outputs[len(ALL_QUANTITIES) + 1] and "每秒" in outputs[len(ALL_QUANTITIES) + 1]
    assert "学习率 0.0002 · β 1 · 批大小 16 · 隐空间维度 8" in outputs[len(ALL_QUANTITIES) + 1]  # the VAE's settings


def test_a_run_compared_with_itself_gets_a_sentence_and_no_charts(compared):
    note, *outputs = compared.trainer.compare(compared.names[0], compared.names[0], compared.token, 0.6)
    assert note == "The same run is chosen twice: pick two different runs."
    assert all(chart == {"visible": "hidden", "__type__": "update"} for chart in outputs[:7])


def test_runs_are_compared_again_after_a_server_restart(compared):
    """A new server process on the same workspaces folder (new objects, no tab state): the curves come from disk."""
    root = compared.trainer.workspaces.root
    workspaces = Workspaces(root, quota_bytes=200 * 2**20, ttl_hours=24)
    restarted = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces,
                              pool=compared.trainer.pool, limits=LIMITS, width=8)
    first, second, _note, generator, *_ = restarted.compare_open(compared.token, None, 0)
    assert (first["value"], second["value"]) == (compared.names[2], compared.names[1])
    assert [name[:7] for name in plotted(generator)] == ["1 · DCG"]  # the GAN's curve, read back from its folder
    assert plotted(generator)[next(iter(plotted(generator)))] == [
        (point.step, pytest.approx(point.values["generator"])) for point in compared.views[2].rows]


@pytest.mark.parametrize("value", [
    "../../etc", "/etc/passwd", "run-20990101-000000-abcd", "run-x", {"path": "/etc/passwd"}, 5, ["a"], None, "",
    "runs/run-20260101-000000-abcd", "other workspace"])
def test_hostile_run_choices_are_refused_with_a_sentence_in_the_visitors_language(compared, tmp_path, value):
    """A forged name, a path, a run of another workspace (its exact folder name), a link to one: a sentence, never
    Gradio's bare 'Error', and nothing outside the visitor's workspace is read."""
    trainer = compared.trainer
    if value == "other workspace":
        other = trainer.workspaces.issue()
        value = other.new_run().name
        (other.runs / value / "config.json").write_text("{}")
    for language, visitor, start in (("en", None, "Not compared: "), ("zh-CN", chinese_visitor(), "未能比较：")):
        with pytest.raises(gr.Error) as refused:
            trainer.compare(compared.names[0], value, compared.token, 0.6, visitor)
        words = refused.value.message
        assert words.startswith(start) and len(words) > len(start) + 8
        assert "/etc" not in words.replace(repr(value)[:37], "")  # the value quoted at most, no server path
        assert str(trainer.workspaces.root) not in words


def test_a_link_in_the_runs_folder_and_a_forged_token_are_refused(compared):
    trainer = compared.trainer
    other = trainer.workspaces.issue()
    target = other.new_run()
    (target / "config.json").write_text("{}")
    link = trainer.workspaces.get(compared.token).runs / "run-20260101-000000-beef"
    link.symlink_to(target, target_is_directory=True)
    try:
        with pytest.raises(gr.Error, match="is not one of your runs"):
            trainer.compare(compared.names[0], link.name, compared.token, 0.6)
        assert link.name not in [value for _, value in trainer.compare_open(compared.token, None, 0.6)[0]["choices"]]
    finally:
        link.unlink()
    with pytest.raises(gr.Error, match="此页面还没有工作区"):
        trainer.compare(compared.names[0], compared.names[1], "forged-token", 0.6, chinese_visitor())


def test_stored_curves_keep_earlier_reports_and_are_read_defensively(tmp_path):
    from genimg.training.runview import CurvePoint
    from genimg.ui.compare_runs import CURVES_FILE_NAME, read_curves, save_curves

    run = tmp_path / "run-20260101-000000-abcd"
    run.mkdir()
    save_curves(run, "gan", [CurvePoint(5, {"generator": 1.0}), CurvePoint(10, {"generator": 2.0})])
    # resumed after a reload: the page's new view holds only the new reports; the earlier ones stay in front
    save_curves(run, "gan", [CurvePoint(15, {"generator": 3.0, "d_real": float("nan")}),
                             CurvePoint(20, {"generator": 4.0, "not a quantity": 1.0})])
    family, points = read_curves(run)
    assert family == "gan"
    assert [(point.step, point.values) for point in points] == [
        (5, {"generator": 1.0}), (10, {"generator": 2.0}), (15, {"generator": 3.0}), (20, {"generator": 4.0})]
    stored = run / CURVES_FILE_NAME
    for damaged in ("not json", "[" * 10_000 + "]" * 10_000, '{"family": "gan", "points": [[1, {"generator": "x"}]]}',
                    '{"family": "../etc", "points": []}'):
        stored.write_text(damaged)
        family, points = read_curves(run)
        assert points == [] or points[0].values == {}, damaged
    stored.unlink()
    secret = tmp_path / "secret.json"
    secret.write_text('{"format": 1, "family": "gan", "points": [[1, {"generator": 7.0}]]}')
    stored.symlink_to(secret)
    assert read_curves(run) == (None, [])  # a link is not followed


def test_every_refusal_about_the_workspace_reads_in_the_visitors_language(tmp_path, pool):
    """A Chinese page was answered in English whenever the workspace refused something: Start or Resume before the
    page had its token, a forged token, a full disk share, a name already taken, a model that is not there, nothing
    to resume or save yet. Each now reads in Chinese on a Chinese page and in English on an English one."""
    workspaces = Workspaces(tmp_path / "ws", quota_bytes=200 * 2**20, ttl_hours=24)
    handlers = TrainHandlers(ExploreContext(Renderer("cpu"), [], workspaces=workspaces), workspaces, pool=pool,
                             limits=LIMITS, width=8)
    forged = "Q" * 24 + "." + "Z" * 43
    fresh = workspaces.issue().token
    token = workspaces.issue().token
    view = run(handlers, token, steps=20)[-1][1]
    handlers.save_as("2024", token, view)  # names of digits: any Latin word left is English
    full = workspaces.issue()
    full.touch()
    (full.folder / "big.bin").write_bytes(b"x" * (201 * 2**20 // 1024 * 1024))

    def refusals(request) -> dict[str, str]:
        def resumed(held):
            return next(out for out in handlers.resume(10, held, None, request) if isinstance(out[-1], RunView))[0]

        return {
            "start, no token yet": run(handlers, "", request)[0][0],
            "start, forged token": run(handlers, forged, request)[0][0],
            "start, disk share full": run(handlers, full.token, request)[0][0],
            "resume, no token yet": resumed(None),
            "resume, nothing to resume": resumed(fresh),
            "save, nothing to save": handlers.save_as("x", fresh, None, request)[0],
            "save, name taken": handlers.save_as("2024", token, view, request)[0],
            "delete, no such model": handlers.delete("404", token, request)[0],
        }

    chinese = refusals(CHINESE)
    assert {name: english_words(text) for name, text in chinese.items() if english_words(text)} == {}
    assert all(text.startswith(("**未", "未")) for text in chinese.values()), chinese
    english = refusals(session("en"))
    assert "no valid workspace" in english["start, no token yet"] and "reload" in english["start, no token yet"]
    assert "200 MB" in english["start, disk share full"] and "200 MB" in chinese["start, disk share full"]
    assert "'2024'" in english["save, name taken"] and "'2024'" in chinese["save, name taken"]
    assert "'404'" in chinese["delete, no such model"]
