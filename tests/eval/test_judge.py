"""The judge classifier: training on labelled data, predictions, loading refusals, and the Fréchet distance."""

import json

import pytest
import torch

from genimg.config import SHIPPED_DIR
from genimg.eval.judge import frechet_distance, load_judge, predict, train_judge
from genimg.store.checkpoint import CheckpointError
from tests.helpers import blob_data


def test_the_shipped_judges_load_and_classify_their_own_shape():
    for name, (channels, size, classes) in {"mnist-judge": (1, 28, 10), "shapes-judge": (3, 32, 3)}.items():
        judge, config = load_judge(SHIPPED_DIR / name)
        assert (judge.channels, judge.image_size, judge.num_classes) == (channels, size, classes)
        probabilities, features = predict(judge, torch.zeros(5, channels, size, size, dtype=torch.uint8))
        assert probabilities.shape == (5, classes) and features.shape == (5, 128)
        assert torch.allclose(probabilities.sum(dim=1), torch.ones(5), atol=1e-5)


def test_a_judge_learns_blobs_it_can_tell_apart(tmp_path):
    train, test = blob_data(256, num_classes=2, seed=0), blob_data(64, num_classes=2, seed=1)
    reports = list(train_judge(train, test, epochs=2, batch_size=32, seed=0, out=tmp_path / "judge"))
    assert reports[-1].test_accuracy > 0.9
    judge, config = load_judge(tmp_path / "judge")
    probabilities, _ = predict(judge, test.images)
    assert (probabilities.argmax(dim=1) == test.labels).float().mean() == pytest.approx(reports[-1].test_accuracy)


def test_a_judge_without_labels_is_refused():
    with pytest.raises(ValueError, match="needs labelled data"):
        list(train_judge(blob_data(32), blob_data(16), epochs=1))


def test_a_generator_checkpoint_is_not_a_judge(tmp_path):
    folder = SHIPPED_DIR / "mnist-dcgan"
    with pytest.raises(CheckpointError, match="is not a judge"):
        load_judge(folder)
    config = json.loads((SHIPPED_DIR / "mnist-judge" / "config.json").read_text())
    assert config["model"]["kind"] == "judge"


def test_frechet_distance_of_known_gaussians():
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(20_000, 4, generator=generator, dtype=torch.float64)
    b = torch.randn(20_000, 4, generator=generator, dtype=torch.float64) + torch.tensor([1.0, 0, 0, 0],
                                                                                       dtype=torch.float64)
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # same covariance, means 1 apart: the distance is ‖μa − μb‖² ≈ 1
    assert frechet_distance(a, b) == pytest.approx(1.0, abs=0.05)
    # same mean, covariance I against 4I in 4 dimensions: tr(I + 4I − 2·(4I)^½) = 4
    assert frechet_distance(a, 2 * a) == pytest.approx(4.0, rel=0.05)
