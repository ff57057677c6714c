"""Faults in real training runs: SIGKILL mid-save, a full disk mid-save, a diverging run (genimg/faults.py).

The unit-level cases live in tests/store/test_checkpoint.py (a forked writer killed mid-save, ENOSPC in fsync
and in torch.save) and tests/training/test_engine.py (a NaN loss ends the run); these drive the train command.
"""

from __future__ import annotations

import pytest

from genimg.bench.faults import diverging_run, full_disk_during_save, kill_during_saves


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
    assert faults.main(["faults"]) == 1
    assert capsys.readouterr().out.splitlines() == ["ok   a: fine", "FAIL b: broken"]
