"""Faults in real training runs: SIGKILL mid-save, a full disk mid-save, a diverging run (genimg/bench/faults.py).

The unit-level cases live in tests/store/test_checkpoint.py (a forked writer killed mid-save, ENOSPC in fsync
and in torch.save) and tests/training/test_engine.py (a NaN loss ends the run); these drive the train command,
and check the public seams the faults come through (checkpoint.intercept_writes, engine.before_each_step).
"""

from __future__ import annotations

import pytest
import torch

from genimg.bench.faults import (
    disk_full_from_save,
    diverging_run,
    full_disk_during_save,
    kill_during_saves,
    weights_turn_to_nan_at,
)
from genimg.store.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from genimg.training.engine import Diverged, Finished, train
from tests.helpers import blob_data, tiny_config


def test_full_disk_during_a_training_save_stops_with_a_clear_message(tmp_path):
    outcome = full_disk_during_save(tmp_path)
    assert outcome.passed, outcome.detail
    assert "No space left on device" in outcome.detail


def test_a_diverging_run_raises_the_alarm_and_keeps_the_last_good_checkpoint(tmp_path):
    outcome = diverging_run(tmp_path)
    assert outcome.passed, outcome.detail


@pytest.mark.slow  # four interpreter starts: about 20 s on 2 cores
def test_sigkill_of_the_train_command_mid_save_keeps_a_loadable_checkpoint(tmp_path):
    outcome = kill_during_saves(tmp_path, kills=3)
    assert outcome.passed, outcome.detail


def test_the_faults_command_prints_one_line_per_scenario(monkeypatch, capsys):
    from genimg.bench import faults
    from genimg.bench.faults import FaultOutcome

    monkeypatch.setattr(faults, "run_all", lambda workdir, kills: [FaultOutcome("a", True, "fine"),
                                                                   FaultOutcome("b", False, "broken")])
    assert faults.main([]) == 1
    assert capsys.readouterr().out.splitlines() == ["ok   a: fine", "FAIL b: broken"]


def save_step(folder, step: int) -> None:
    save_checkpoint(folder, model_config={"kind": "dcgan"}, weights={"w": torch.full((4,), float(step))}, step=step)


def test_the_full_disk_strikes_from_the_given_save_and_ends_with_the_block(tmp_path):
    folder = tmp_path / "run"
    with disk_full_from_save(2):
        save_step(folder, 1)
        with pytest.raises(CheckpointError, match="No space left on device"):
            save_step(folder, 2)
        with pytest.raises(CheckpointError, match="No space left on device"):
            save_step(folder, 3)
    assert load_checkpoint(folder).step == 1  # the save before the disk filled
    save_step(folder, 4)  # the disk has room again once the block is left
    assert load_checkpoint(folder).step == 4


def test_nan_weights_at_a_step_make_the_engine_raise_the_alarm_only_inside_the_block():
    with weights_turn_to_nan_at(3):
        events = list(train(tiny_config("dcgan", steps=8, log_every=1), data=blob_data(32)))
    assert isinstance(events[-1], Diverged) and events[-1].step == 3
    events = list(train(tiny_config("dcgan", steps=4, log_every=1), data=blob_data(32)))
    assert isinstance(events[-1], Finished)
