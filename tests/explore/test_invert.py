"""genimg.explore.invert: batched discriminator logits with a class per image, σ(ℓ), D's verdict and its reference
means, an inversion's reports and its summary.

(Inversion recovering a generated target and its refused settings are tested in tests/explore/test_encode.py; the
GAN tab around all this in tests/ui/test_encode_tab.py.)
"""

import math

import pytest
import torch

from genimg.config import ModelConfig
from genimg.data.datasets import ImageData
from genimg.explore.encode import decode, sample_images
from genimg.explore.invert import (
    LOOKALIKE_DISTANCE,
    InversionStep,
    discriminator_logits,
    discriminator_reference,
    invert_generator,
    probability_real,
    summarise_inversion,
    verdict,
)
from genimg.models import build_model
from genimg.models.latent import seeded_latents
from tests.helpers import blob_data


@pytest.fixture(scope="module")
def gans():
    torch.manual_seed(0)
    return {name: build_model(ModelConfig(kind="dcgan", latent_dim=8, width=8, num_classes=classes)).eval()
            for name, classes in (("gan", 0), ("cgan", 10))}


def per_image(gan, images, labels):
    """D's logits one image at a time, straight from the network (its inputs in [-1, 1])."""
    with torch.inference_mode():
        return torch.cat([gan.discriminator(images[index:index + 1] * 2 - 1, labels[index:index + 1])
                          for index in range(len(images))])


# ---------------------------------------------------------------------------------------------- logits
def test_one_batched_pass_with_a_class_per_image_matches_one_pass_per_image(gans):
    cgan = gans["cgan"]
    images = torch.rand(6, 1, 28, 28)
    labels = torch.tensor([0, 9, 3, 3, 7, 1])
    batched = discriminator_logits(cgan, images, labels)
    assert batched.shape == (6,) and batched.dtype == torch.float32
    assert torch.allclose(batched, per_image(cgan, images, labels), atol=1e-5)
    # each image is asked about its own class: not the same as asking about one class for all
    assert not torch.allclose(batched, discriminator_logits(cgan, images, 3))
    assert torch.allclose(discriminator_logits(cgan, images, 3), per_image(cgan, images, torch.full((6,), 3)),
                          atol=1e-5)


def test_logits_refuse_labels_that_do_not_fit(gans):
    cgan, images = gans["cgan"], torch.rand(3, 1, 28, 28)
    with pytest.raises(ValueError, match=r"shape \(2,\) .* expected \(3,\)"):
        discriminator_logits(cgan, images, torch.tensor([1, 2]))
    with pytest.raises(ValueError, match=r"classes \[3, 10\] .* 0 to 9"):
        discriminator_logits(cgan, images, torch.tensor([3, 10, 3]))
    with pytest.raises(ValueError, match="class"):
        discriminator_logits(cgan, images, None)
    # an unconditional D has no class input: whatever is passed is ignored
    gan = gans["gan"]
    plain = discriminator_logits(gan, images)
    assert torch.equal(discriminator_logits(gan, images, torch.tensor([1, 2, 3])), plain)
    assert torch.equal(discriminator_logits(gan, images, 4), plain)


# ---------------------------------------------------------------------------------------------- σ and the verdict
def test_probability_real_is_the_logistic_function_without_overflow():
    assert probability_real(0.0) == 0.5
    for logit in (-7.5, -1.0, 0.3, 2.0, 12.0):
        assert probability_real(logit) == pytest.approx(1 / (1 + math.exp(-logit)), rel=1e-12)
        assert probability_real(logit) + probability_real(-logit) == pytest.approx(1.0, abs=1e-15)
    assert probability_real(1000.0) == 1.0 and probability_real(-1000.0) == 0.0  # exp(1000) would overflow


def test_verdict_is_ds_logit_for_the_image_and_its_sigma(gans):
    image = torch.rand(1, 1, 28, 28)
    found = verdict(gans["cgan"], image, 4)
    assert found.logit == float(discriminator_logits(gans["cgan"], image, 4)[0])
    assert found.probability == probability_real(found.logit)
    assert found.logit != verdict(gans["cgan"], image, 5).logit


# ---------------------------------------------------------------------------------------------- reference means
def test_reference_over_samples_only_without_real_images(gans):
    gan = gans["gan"]
    reference = discriminator_reference(gan, None, 12)
    images, _ = sample_images(gan, 12, seed=0)
    assert reference.fake_count == 12 and reference.real_logit is None and reference.real_count == 0
    assert reference.fake_logit == pytest.approx(float(discriminator_logits(gan, images).mean()), abs=1e-6)
    assert reference.fake_probability == probability_real(reference.fake_logit) and reference.real_probability is None


def test_reference_of_a_class_uses_only_that_class(gans):
    cgan = gans["cgan"]
    real = blob_data(40, 28, 1, num_classes=10)
    reference = discriminator_reference(cgan, 3, 12, real)
    samples, _ = sample_images(cgan, 12, seed=0)
    assert reference.fake_logit == pytest.approx(float(discriminator_logits(cgan, samples, 3).mean()), abs=1e-6)
    threes = real.images[real.labels == 3].float() / 255  # 4 of the 40 blobs
    assert reference.real_count == len(threes) == 4
    assert reference.real_logit == pytest.approx(float(discriminator_logits(cgan, threes, 3).mean()), abs=1e-6)
    # no class: samples cycle through the classes, real images are scored with their own labels, first `count`
    mixed = discriminator_reference(cgan, None, 12, real)
    cycled = torch.arange(12) % 10
    assert mixed.fake_logit == pytest.approx(float(per_image(cgan, samples, cycled).mean()), abs=1e-5)
    first = real.images[:12].float() / 255
    assert mixed.real_count == 12
    assert mixed.real_logit == pytest.approx(float(per_image(cgan, first, real.labels[:12]).mean()), abs=1e-5)


def test_reference_leaves_out_real_images_it_cannot_score(gans):
    unlabelled = blob_data(20, 28, 1)
    assert discriminator_reference(gans["cgan"], 2, 8, unlabelled).real_logit is None  # a conditional D needs labels
    assert discriminator_reference(gans["gan"], None, 8, unlabelled).real_count == 8
    only_some = ImageData(images=unlabelled.images, labels=torch.zeros(20, dtype=torch.long), class_names=["0"],
                          name="zeros")
    assert discriminator_reference(gans["cgan"], 5, 8, only_some).real_logit is None  # no image of class 5


# ---------------------------------------------------------------------------------------------- inversion reports
def test_reports_carry_the_best_latent_and_its_image(gans):
    cgan = gans["cgan"]
    target = decode(cgan, seeded_latents(5, 1, 8)[0], 6)
    reports = list(invert_generator(cgan, target, 6, steps=20, restarts=2, candidates=8, report_every=5))
    losses = [report.loss for report in reports]
    assert losses == sorted(losses, reverse=True)  # the best so far never gets worse
    last = reports[-1]
    assert torch.allclose(last.image, decode(cgan, last.z, 6), atol=1e-6)  # G(z*) drawn as the asked class
    assert last.z_norm == pytest.approx(float(last.z.norm()) / math.sqrt(8))


def step(z, mse):
    return InversionStep(step=40, loss=mse, mse=mse, z=torch.tensor(z), image=torch.zeros(1, 1, 28, 28), done=True)


def test_summary_of_an_inversion():
    last = step([3.0, 4.0, 0.0, 0.0], 0.002)
    summary = summarise_inversion(last, first_mse=0.5)
    assert (summary.step, summary.mse, summary.first_mse) == (40, 0.002, 0.5)
    assert summary.improvement == pytest.approx(250.0) and summary.z_norm == pytest.approx(2.5)
    assert summary.verdict is None and summary.distance is None and summary.lookalike is False
    # from a known z: the distance ‖z* − z‖/√D, and a lookalike when it is clear while the error fell 100-fold
    near = summarise_inversion(last, 0.5, true_z=torch.tensor([3.0, 4.0, 0.0, 0.4]))
    assert near.distance == pytest.approx(0.2) and near.lookalike is False
    far = summarise_inversion(last, 0.5, true_z=torch.tensor([3.0, 4.0, 0.0, 2.0]))
    assert far.distance == pytest.approx(1.0) and far.distance > LOOKALIKE_DISTANCE and far.lookalike is True
    assert summarise_inversion(step([3.0, 4.0, 0.0, 0.0], 0.01), 0.5, true_z=torch.zeros(4)).lookalike is False
    assert summarise_inversion(step([0.0, 0.0, 0.0, 0.0], 0.0), 0.5).improvement == pytest.approx(0.5e12)


def test_summary_asks_d_about_the_found_image(gans):
    image = torch.rand(1, 1, 28, 28)
    last = InversionStep(10, 0.1, 0.1, torch.zeros(8), image, True)
    summary = summarise_inversion(last, 0.2, gans["cgan"], 7)
    assert summary.verdict == verdict(gans["cgan"], image, 7)
