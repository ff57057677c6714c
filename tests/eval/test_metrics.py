"""Evaluation numbers are sane: FD floor below a bad generator, a perfect reconstruction scores 0 nats,
a judge fed its own class data agrees with the labels, and the eval command writes the model card."""

import json

import pytest
import torch
from torch import nn

from genimg.cli import main
from genimg.data.datasets import ImageData, make_shapes
from genimg.eval.judge import frechet_distance, load_judge, predict, train_judge
from genimg.eval.metrics import BLANK_TILE_SAMPLES, blank_tiles, generate_samples, iwae_bound, judge_samples, vae_test_terms
from genimg.models.vae import VAEBase
from genimg.store.checkpoint import load_checkpoint


@pytest.fixture(scope="module")
def shapes_judge(tmp_path_factory):
    """A judge trained for one short epoch on 28×28 shapes; good enough to tell shapes apart."""
    out = tmp_path_factory.mktemp("judge") / "shapes-judge"
    train = make_shapes(3000, image_size=28, seed=0, split="train")
    test = make_shapes(600, image_size=28, seed=0, split="test")
    progress = list(train_judge(train, test, epochs=4, batch_size=64, out=out))
    return out, progress[-1].test_accuracy, train, test


def test_frechet_distance_known_values():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(4000, 8, generator=generator)
    assert frechet_distance(features, features) == pytest.approx(0.0, abs=1e-6)
    shifted = features + torch.tensor([3.0] + [0.0] * 7)
    assert frechet_distance(features, shifted) == pytest.approx(9.0, rel=1e-3)
    scaled = features * 2  # Σ = 4I against I: tr(I) + tr(4I) − 2·tr(2I) = 8·(1 + 4 − 4)
    assert frechet_distance(features, scaled) == pytest.approx(8.0, rel=0.05)


def test_judge_learns_and_round_trips(shapes_judge):
    path, accuracy, _, test = shapes_judge
    assert accuracy > 0.9
    judge, config = load_judge(path)
    assert config["metrics"]["test_accuracy"] == pytest.approx(accuracy, abs=1e-4)
    probabilities, features = predict(judge, test.images[:50])
    assert probabilities.shape == (50, 3) and features.shape == (50, 128)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(50), atol=1e-5)


def test_floor_is_below_a_bad_generator_and_own_class_data_is_recognised(shapes_judge):
    path, _, train, test = shapes_judge
    judge, _ = load_judge(path)
    _, test_features = predict(judge, test.images)
    floor, _ = judge_samples(judge, train.images[:600], None, test_features)
    noise = (torch.rand(600, 3, 28, 28) * 255).to(torch.uint8)
    bad, _ = judge_samples(judge, noise, None, test_features)
    blurred = torch.nn.functional.avg_pool2d(test.images.float(), 5, 1, 2).round().to(torch.uint8)
    blurry, _ = judge_samples(judge, blurred, None, test_features)
    assert floor["classifier_fd"] < blurry["classifier_fd"] < bad["classifier_fd"]
    own, shares = judge_samples(judge, test.images, test.labels, test_features)
    assert own["conditional_accuracy"] > 0.9
    assert own["classes_covered"] == 3 and min(shares) > 0.2


class PerfectVAE(VAEBase):
    """Decodes every code to one fixed binary image with near-certain logits; posterior = prior."""

    def __init__(self, image: torch.Tensor) -> None:
        super().__init__()
        self.latent_dim, self.num_classes = 2, 0
        self._init_likelihood("bernoulli")
        self.logits = nn.Parameter(torch.where(image > 0.5, 30.0, -30.0))

    def encode(self, images, labels=None):
        zeros = torch.zeros(images.shape[0], 2)
        return zeros, zeros

    def decode(self, z, labels=None):
        return self.logits.expand(z.shape[0], -1, -1, -1)


def test_a_perfect_reconstruction_costs_zero_nats():
    image = (torch.rand(1, 1, 28, 28, generator=torch.Generator().manual_seed(1)) > 0.5).float()
    model = PerfectVAE(image[0])
    data = ImageData(images=(image * 255).to(torch.uint8).repeat(20, 1, 1, 1), labels=None, class_names=[],
                     name="one-image")
    terms = vae_test_terms(model, data)
    assert terms["neg_elbo"] == pytest.approx(0.0, abs=1e-6)
    assert terms["kl"] == pytest.approx(0.0, abs=1e-9) and terms["active_dimensions"] == 0
    assert iwae_bound(model, data, samples=16) == pytest.approx(0.0, abs=1e-6)


def test_iwae_bound_is_tighter_than_the_elbo_and_deterministic():
    from genimg.config import ModelConfig
    from genimg.models import build_model

    torch.manual_seed(0)
    model = build_model(ModelConfig(kind="vae", latent_dim=4, width=8)).eval()
    data = ImageData(images=(torch.rand(40, 1, 28, 28) * 255).to(torch.uint8), labels=None, class_names=[],
                     name="noise")
    elbo = vae_test_terms(model, data)["neg_elbo"]
    bound = iwae_bound(model, data, samples=64)
    assert bound <= elbo + 1.0
    assert bound == iwae_bound(model, data, samples=64)


def test_samples_are_deterministic_and_cycle_classes():
    from genimg.config import ModelConfig
    from genimg.models import build_model

    model = build_model(ModelConfig(kind="dcgan", num_classes=3, latent_dim=4, width=8)).eval()
    first, labels = generate_samples(model, 7, seed=5)
    second, _ = generate_samples(model, 7, seed=5)
    assert torch.equal(first, second) and labels.tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_blank_tiles_counts_flat_pictures_among_the_landing_grid_only():
    """A tile is blank when nothing is drawn on it (all black, all white or flat grey, whatever the noise under 10%);
    a faint or small shape is not blank; only the first 64 samples (the Samples tab's seed-0 grid) are looked at."""
    images = torch.zeros(100, 1, 28, 28, dtype=torch.uint8)
    images[:, :, 10:18, 10:18] = 200  # a square on every tile
    images[3] = 0  # all black
    images[7] = 255  # all white
    images[9] = 120 + torch.randint(0, 20, (1, 28, 28), generator=torch.Generator().manual_seed(0))  # flat grey noise
    images[11] = 0
    images[11, :, 12:14, 12:14] = 40  # a faint small shape: drawn
    images[70] = 0  # blank, but beyond the grid
    assert blank_tiles(images) == {"blank_tiles": 3, "blank_tile_samples": BLANK_TILE_SAMPLES, "blank_share": 0.04}
    assert blank_tiles(images[:5]) == {"blank_tiles": 1, "blank_tile_samples": 5, "blank_share": 0.2}
    colour = images.expand(-1, 3, -1, -1).clone()
    assert blank_tiles(colour)["blank_tiles"] == 3


def test_eval_command_writes_numbers_and_card_and_keeps_notes(tmp_path, shapes_judge, capsys):
    judge_path = shapes_judge[0]
    out = tmp_path / "shapes-vae"
    assert main(["train", "--model", "vae", "--dataset", "shapes", "--image-size", "28", "--data-limit", "256",
                 "--steps", "4", "--batch-size", "32", "--width", "8", "--latent-dim", "4", "--out", str(out),
                 "--quiet"]) == 0
    arguments = ["eval", "--checkpoint", str(out), "--judge", str(judge_path), "--samples", "300",
                 "--iw-samples", "8", "--iw-images", "100"]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    assert "classifier FD" in printed and "test negative ELBO" in printed
    metrics = json.loads((out / "config.json").read_text())["metrics"]
    for name in ("classifier_fd", "classifier_fd_floor", "mean_confidence", "test_neg_elbo", "test_iwae_nll",
                 "active_dimensions", "class_shares", "blank_tiles", "blank_tile_samples", "blank_share"):
        assert name in metrics
    card = (out / "README.md").read_text()
    assert metrics["blank_tile_samples"] == 64 and 0 <= metrics["blank_tiles"] <= 64
    assert "blank tiles among the first 64 samples" in printed
    assert f"{metrics['test_neg_elbo']:.2f}" in card and "python -m genimg train --model vae" in card
    card = card.replace("Nothing to add yet.", "Trained briefly on purpose.")
    (out / "README.md").write_text(card)
    assert main(arguments) == 0
    assert "Trained briefly on purpose." in (out / "README.md").read_text()

    exported = tmp_path / "shipped"
    assert main(["export", "--checkpoint", str(out), "--out", str(exported)]) == 0
    shipped = load_checkpoint(exported, with_training_state=True)
    assert shipped.training_state is None and shipped.metrics["test_neg_elbo"] == metrics["test_neg_elbo"]
    assert main(["train", "--resume", str(exported), "--steps", "8"]) == 2
    assert "holds no training state" in capsys.readouterr().err


def test_eval_refuses_a_judge_for_other_images(tmp_path, shapes_judge, capsys):
    out = tmp_path / "gan"
    assert main(["train", "--model", "dcgan", "--dataset", "shapes", "--data-limit", "64", "--steps", "2",
                 "--batch-size", "32", "--width", "8", "--out", str(out), "--quiet"]) == 0
    assert main(["eval", "--checkpoint", str(out), "--judge", str(shapes_judge[0]), "--samples", "50"]) == 2
    assert "judges 3×28²" in capsys.readouterr().err
