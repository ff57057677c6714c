"""The digits clock snapshots a run on schedule, judges every snapshot on the same latents, and finds the first
one that meets the bar; `bench digits` prints it."""

import itertools
import json

import pytest
import torch

from genimg.bench.digits import collect_snapshots, time_to_digits
from genimg.cli import main
from genimg.eval.judge import train_judge
from tests.helpers import blob_data, tiny_config


@pytest.fixture(scope="module")
def blob_judge(tmp_path_factory):
    """A two-class judge of blobs (left or right); a second or so of training."""
    out = tmp_path_factory.mktemp("judge") / "blobs-judge"
    train = blob_data(256, num_classes=2, seed=0)
    test = blob_data(64, num_classes=2, seed=1)
    list(train_judge(train, test, epochs=1, batch_size=32, out=out))
    return out


def test_snapshots_every_n_steps_count_images_and_copy_the_ema_weights():
    config = tiny_config(steps=6, ema_decay=0.9)
    result = collect_snapshots(config, budget_seconds=30, snapshot_every_steps=2, data=blob_data(64))
    snapshots = result["snapshots"]
    assert [snapshot.step for snapshot in snapshots] == [2, 4, 6]
    assert [snapshot.images_seen for snapshot in snapshots] == [32, 64, 96]
    assert all(later.seconds >= earlier.seconds for earlier, later in itertools.pairwise(snapshots))
    assert 0 < result["startup_seconds"] <= snapshots[0].seconds
    first, last = snapshots[0].weights, snapshots[-1].weights
    assert set(first) == set(last) and any(not torch.equal(first[name], last[name]) for name in first)
    assert result["steps"] == 6 and result["images_per_second"] > 0


def test_time_to_digits_curve_and_first_time_over_the_threshold(blob_judge):
    config = tiny_config(steps=8, ema_decay=0.99)
    result = time_to_digits(config, judge_path=blob_judge, threshold=0.5, budget_seconds=30,
                            snapshot_every_steps=2, data=blob_data(64), sample_count=32)
    assert len(result["curve"]) == 4
    for seconds, confidence, classes in result["curve"]:
        assert seconds > 0 and 0.5 <= confidence <= 1 and 1 <= classes <= 2  # two classes: top ≥ 1/2
    meeting = [point for point in result["points"] if point["classes_present"] == 2]
    expected = meeting[0] if meeting else None
    assert result["seconds_to_threshold"] == (expected["seconds"] if expected else None)
    assert result["images_to_threshold"] == (expected["images_seen"] if expected else None)
    never = time_to_digits(config, judge_path=blob_judge, threshold=1.01, budget_seconds=30,
                           snapshot_every_steps=4, data=blob_data(64), sample_count=32)
    assert never["seconds_to_threshold"] is None and len(never["curve"]) == 2


def test_time_to_digits_stops_at_the_budget_with_wall_clock_snapshots(blob_judge):
    config = tiny_config(steps=1_000_000)
    result = time_to_digits(config, judge_path=blob_judge, budget_seconds=1.5, snapshot_every_seconds=0.25,
                            data=blob_data(64), sample_count=16)
    seconds = [point["seconds"] for point in result["points"]]
    assert seconds and seconds[-1] <= 1.5 + 1.0  # the last step may run a little past the budget
    assert all(later - earlier >= 0.25 for earlier, later in itertools.pairwise(seconds))
    assert 0 < result["steps"] < 1_000_000


def test_bench_digits_command_prints_the_curve_and_writes_json(tmp_path, capsys):
    out = tmp_path / "digits.json"
    code = main(["bench", "digits", "--dataset", "shapes", "--data-limit", "128", "--width", "8", "--latent-dim", "8",
                 "--batch-size", "16", "--budget", "1", "--snapshot-every", "0.4", "--samples", "16", "--threads", "1",
                 "--json", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "time to digits" in printed or "not recognisable" in printed
    saved = json.loads(out.read_text())
    assert saved["points"] and saved["config"]["model"]["width"] == 8


def test_bench_digits_refuses_a_missing_judge(tmp_path, capsys):
    code = main(["bench", "digits", "--dataset", "shapes", "--data-limit", "64", "--width", "8", "--budget", "1",
                 "--judge", str(tmp_path / "nowhere")])
    assert code == 2
    assert "genimg bench digits: error" in capsys.readouterr().err
