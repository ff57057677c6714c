"""Attacks on the disk, end to end through the training worker: a flood of fresh workspaces, each training a run,
stays under the installation's budget (the workspaces unused the longest are evicted, and their owners are told
on return); a run that would pass its workspace's share stops cleanly and its last checkpoint still loads."""

from __future__ import annotations

import io
import os
import threading

import pytest

from genimg.models.loading import load_model
from genimg.store.limits import CHINESE, ENGLISH
from genimg.store.workspace import Workspaces, folder_size
from genimg.training.engine import CheckpointSaved, Finished, Stopped
from genimg.training.worker import Job, WorkerFailed, decode_event, worker_main
from tests.training.test_worker import TINY


def train_in_worker(job: Job) -> list:
    """worker_main in this process with `job`, its stdin held open like the page holds it (a closed stdin
    means the page went away and stops the run); the messages it sent, once the run has ended."""
    read_end, write_end = os.pipe()
    commands = os.fdopen(read_end, "r")
    writer = os.fdopen(write_end, "w")
    writer.write(job.to_json() + "\n")
    writer.flush()
    output = io.StringIO()
    try:
        worker_main(commands, output)
    finally:
        writer.close()  # the worker's command thread sees the end and exits
    return [decode_event(line) for line in output.getvalue().splitlines()]


def run_job(workspace, steps: int, checkpoint_every: int) -> tuple:
    run = workspace.new_run()
    config = TINY.replace(out=str(run), steps=steps, checkpoint_every=checkpoint_every)
    return run, train_in_worker(Job(config=config, snapshots=str(run / "steps"), threads=1))


def test_a_flood_of_fresh_workspaces_stays_under_the_budget_and_the_oldest_are_told(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_DISK_BUDGET_MB", "2")  # room for about four tiny runs
    monkeypatch.setenv("GENIMG_QUOTA_MB", "1")
    workspaces = Workspaces(tmp_path / "workspaces", issue_burst=1000)
    budget = 2 * 2**20
    flood = []
    for number in range(10):
        workspace = workspaces.issue(f"203.0.113.{number}")
        run, events = run_job(workspace, steps=6, checkpoint_every=3)
        flood.append((workspace, run))
        assert isinstance(events[-1], Finished), events[-1]  # each new writer gets its room
        used = folder_size(workspaces.root)
        assert used <= budget, f"after {number + 1} fresh workspaces the workspaces hold {used:,} bytes"
    first, _ = flood[0]
    last, last_run = flood[-1]
    assert load_model(last_run)[2]["step"] == 6  # the newest work is whole
    returning = workspaces.get(first.token)
    assert returning.evicted and not returning.run_folders()
    assert returning.take_eviction_notice() and not returning.take_eviction_notice()  # told once
    assert not workspaces.get(last.token).evicted
    assert "{budget}" in ENGLISH["limits.evicted"] and "{budget}" in CHINESE["limits.evicted"]


def test_a_run_that_would_pass_its_share_stops_and_keeps_its_last_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setenv("GENIMG_QUOTA_MB", "0.8")  # one tiny checkpoint (~0.5 MB) fits, two do not
    workspaces = Workspaces(tmp_path / "workspaces", issue_burst=1000)
    workspace = workspaces.issue("198.51.100.7")
    run, events = run_job(workspace, steps=30, checkpoint_every=3)
    ending = events[-1]
    assert not any(isinstance(event, WorkerFailed) for event in events)
    assert isinstance(ending, Stopped), ending
    assert "disk" in ending.reason and ending.step < 30
    saved = [event.step for event in events if isinstance(event, CheckpointSaved)]
    assert saved and ending.path == str(run)
    assert workspace.used_bytes() <= workspaces.quota_bytes
    _, _, config = load_model(run)
    assert config["step"] == saved[-1]


def test_a_run_in_a_busy_workspace_is_never_evicted_by_another_writer(tmp_path, monkeypatch):
    """While one workspace trains, a flood of others writing cannot delete its run."""
    monkeypatch.setenv("GENIMG_DISK_BUDGET_MB", "2")  # the training run and one other, while each writes
    monkeypatch.setenv("GENIMG_QUOTA_MB", "1")
    workspaces = Workspaces(tmp_path / "workspaces", issue_burst=1000)
    training = workspaces.issue("192.0.2.1")
    with workspaces.writing(training):  # as a worker holds it for its run
        run, _ = run_job(training, steps=6, checkpoint_every=3)
        for number in range(3):
            _, others = run_job(workspaces.issue(f"192.0.2.{10 + number}"), steps=6, checkpoint_every=3)
            assert isinstance(others[-1], Finished), others[-1]
        assert load_model(run)[2]["step"] == 6 and not training.evicted
    assert folder_size(workspaces.root) <= 2 * 2**20


@pytest.fixture(autouse=True)
def _one_thread():
    """The worker sets torch's thread count for its run; keep the test process's own setting afterwards."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    assert threading.active_count() < 50
