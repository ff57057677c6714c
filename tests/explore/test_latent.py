"""genimg.explore.latent: the z the Latent tab's controls describe (z' = ψ·z + α·v with sliders), the z a compared
model draws, slider start values, norms, class tensors and one picture of a z.

(The tab's validation and layout around these are tested in tests/ui/test_latent_tab.py.)
"""

import math

import numpy as np
import pytest
import torch

from genimg.config import ModelConfig
from genimg.data.imaging import to_uint8
from genimg.explore.latent import (
    axis_coordinates,
    class_tensor,
    compared_latent,
    edit_latent,
    latent_distance,
    latent_norm,
    latent_picture,
    slider_values,
)
from genimg.models import build_model
from genimg.models.latent import seeded_latents


# ---------------------------------------------------------------------------------------------- edit_latent
def test_edit_latent_replaces_scales_then_steps():
    """Sliders replace z's first values, ψ scales the whole z, then α·v is added: worked out by hand."""
    z = torch.tensor([1.0, 2.0, -3.0, 4.0])
    direction = torch.tensor([0.0, 0.0, 1.0, 0.0])
    edited = edit_latent(z, sliders=[0.5, -1.0], truncation=0.5, direction=direction, strength=2.0)
    # [0.5, -1, -3, 4] · 0.5 = [0.25, -0.5, -1.5, 2]; + 2 · e₃ = [0.25, -0.5, 0.5, 2]
    assert edited.shape == (1, 4) and edited.dtype == torch.float32
    assert edited.tolist() == [[0.25, -0.5, 0.5, 2.0]]
    assert z.tolist() == [1.0, 2.0, -3.0, 4.0]  # the seed's z is not changed


def _oblique_axes(count: int, dim: int, seed: int = 0) -> torch.Tensor:
    """count unit axes in R^dim that are independent but not orthogonal (as least-squares GANSpace directions are)."""
    generator = torch.Generator().manual_seed(seed)
    raw = torch.randn(count, dim, generator=generator) + 0.3 * torch.randn(1, dim, generator=generator)
    return raw / raw.norm(dim=1, keepdim=True)


def test_axis_coordinates_split_z_into_the_axes_and_a_remainder_orthogonal_to_them():
    axes = _oblique_axes(5, 40)
    assert (axes @ axes.T - torch.eye(5)).abs().max() > 0.1  # really oblique: the test would pass trivially else
    z = seeded_latents(3, 1, 40)[0]
    coordinates = axis_coordinates(z, axes)
    remainder = z - coordinates @ axes
    assert coordinates.shape == (5,)
    assert (axes @ remainder).abs().max() < 1e-5  # nothing of the remainder lies along any axis
    # worked by hand on orthonormal axes: the coordinates are the dot products
    assert axis_coordinates(torch.tensor([3.0, -2.0, 5.0]), torch.eye(3)[:2]).tolist() == [3.0, -2.0]


def test_sliders_along_axes_set_zs_coordinates_and_move_it_along_the_axis_alone():
    """A slider moved by δ along axis k is the step z + δ·v_k (the direction picker's step), whatever the axes'
    angles; the coordinates become the sliders' values and the rest of z is kept."""
    axes = _oblique_axes(4, 30, seed=1)
    z = seeded_latents(9, 1, 30)
    start = axis_coordinates(z, axes).tolist()
    assert torch.allclose(edit_latent(z, start, axes=axes), z, atol=1e-5)  # the seed's own values change nothing
    moved = list(start)
    moved[2] += 0.75
    edited = edit_latent(z, moved, axes=axes)
    assert torch.allclose(edited, z + 0.75 * axes[2], atol=1e-5)
    assert torch.allclose(edited, edit_latent(z, start, axes=axes, direction=axes[2], strength=0.75), atol=1e-5)
    chosen = [1.0, -2.0, 0.5, 3.0]
    assert torch.allclose(axis_coordinates(edit_latent(z, chosen, axes=axes), axes), torch.tensor(chosen), atol=1e-4)
    # fewer sliders than axes: the first ones; ψ then scales the whole z
    assert torch.allclose(edit_latent(z, chosen[:2], truncation=0.5, axes=axes),
                          0.5 * edit_latent(z, chosen[:2], axes=axes), atol=1e-6)
    # slider start values: the seed's coordinates along the first 3 axes (oblique axes: a set's coordinates depend on
    # which axes are in it), rounded and clamped
    values = slider_values(9, 30, 3, 1.0, axes)
    assert values == [round(min(max(value, -1.0), 1.0), 2) for value in axis_coordinates(z, axes[:3]).tolist()]
    with pytest.raises(ValueError, match="at least 4 rows of 30"):
        edit_latent(z, chosen, axes=axes[:3])


def test_edit_latent_order_matters_truncation_does_not_scale_the_step():
    z = torch.tensor([2.0, 2.0])
    direction = torch.tensor([1.0, 0.0])
    assert edit_latent(z, truncation=0.0, direction=direction, strength=3.0).tolist() == [[3.0, 0.0]]
    assert edit_latent(z, truncation=0.0).tolist() == [[0.0, 0.0]]


def test_edit_latent_without_edits_is_the_seeds_z():
    z = seeded_latents(5, 1, 8)
    assert torch.equal(edit_latent(z), z) and edit_latent(z) is not z
    assert torch.equal(edit_latent(z[0]), z)  # (D,) is accepted too
    # no step when α = 0 or no direction is chosen
    vector = torch.ones(8)
    assert torch.equal(edit_latent(z, direction=vector, strength=0.0), z)
    assert torch.equal(edit_latent(z, direction=None, strength=4.0), z)


def test_edit_latent_matches_the_formula_on_a_seeds_z():
    """The exact float32 numbers of ψ·z + α·v with the first K values from the sliders."""
    z = seeded_latents(11, 1, 100)
    sliders = [0.01 * index - 0.07 for index in range(16)]
    vector = torch.nn.functional.normalize(seeded_latents(3, 1, 100)[0], dim=0)
    expected = z.clone()
    expected[0, :16] = torch.tensor(sliders)
    expected = 0.7 * expected + (-2.5) * vector
    got = edit_latent(z, sliders, 0.7, vector, -2.5)
    assert torch.equal(got, expected)
    assert torch.equal(got[0, 16:], (0.7 * z[0, 16:] - 2.5 * vector[16:]))  # dimensions past the sliders: the seed's


def test_edit_latent_refuses_what_it_cannot_draw():
    z = torch.zeros(4)
    with pytest.raises(ValueError, match="5 slider values .* 4 dimensions"):
        edit_latent(z, sliders=[0.0] * 5)
    with pytest.raises(ValueError, match=r"shape \(3,\) .* expected \(4,\)"):
        edit_latent(z, direction=torch.ones(3), strength=1.0)
    for bad in (math.nan, math.inf):
        with pytest.raises(ValueError, match="truncation"):
            edit_latent(z, truncation=bad)


# ---------------------------------------------------------------------------------------------- compared_latent
def test_compared_latent_same_size_is_the_edited_z():
    edited = edit_latent(seeded_latents(9, 1, 8), [1.0] * 8, 0.5)
    assert compared_latent(edited, 9, 8, 0.5) is edited


def test_compared_latent_other_size_is_the_seeds_own_z_truncated():
    edited = edit_latent(seeded_latents(9, 1, 8), [1.0] * 8, 0.5, torch.ones(8), 1.0)
    own = compared_latent(edited, 9, 2, 0.5)
    assert own.shape == (1, 2)
    assert torch.equal(own, seeded_latents(9, 1, 2) * 0.5)
    assert not torch.equal(own, compared_latent(edited, 10, 2, 0.5))  # the seed decides it


# ---------------------------------------------------------------------------------------------- slider values
def test_slider_values_are_the_seeds_z_rounded_and_clamped():
    count = 4000  # enough draws of N(0, 1) that some lie beyond ±3
    values = slider_values(21, count, count, 3.0)
    z = seeded_latents(21, 1, count)[0]
    assert len(values) == count
    assert values == [round(min(max(value, -3.0), 3.0), 2) for value in z.tolist()]
    assert any(abs(value) > 3 for value in z.tolist()) and max(abs(value) for value in values) == 3.0
    assert all(abs(value - round(value, 2)) < 1e-12 for value in values)
    # the first `count` dimensions of a larger z, within another limit
    assert slider_values(21, 100, 16, 1.0) == [round(min(max(value, -1.0), 1.0), 2)
                                               for value in seeded_latents(21, 1, 100)[0, :16].tolist()]


# ---------------------------------------------------------------------------------------------- norms
def test_latent_norm_and_distance():
    assert latent_norm(torch.tensor([3.0, 4.0, 0.0, 0.0])) == pytest.approx(2.5)  # 5 / √4
    assert latent_distance(torch.tensor([3.0, 4.0]), torch.tensor([3.0, 4.0])) == 0.0
    assert latent_distance(torch.tensor([1.0, 1.0]), torch.tensor([-1.0, 1.0])) == pytest.approx(2 / math.sqrt(2))
    prior = seeded_latents(0, 1, 10_000)[0]
    assert latent_norm(prior) == pytest.approx(1.0, abs=0.02)  # a prior sample sits near 1


# ---------------------------------------------------------------------------------------------- class tensors and pictures
@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {name: build_model(ModelConfig(kind=kind, latent_dim=8, width=8, num_classes=classes, channels=channels,
                                          image_size=28 if channels == 1 else 32,
                                          likelihood="bernoulli" if channels == 1 else "gaussian")).eval()
            for name, (kind, classes, channels) in {"gan": ("dcgan", 0, 1), "cgan": ("dcgan", 10, 1),
                                                    "colour-vae": ("vae", 0, 3)}.items()}


def test_class_tensor(models):
    assert class_tensor(models["gan"], 3) is None and class_tensor(models["gan"], None) is None
    labels = class_tensor(models["cgan"], 7, count=3)
    assert labels.tolist() == [7, 7, 7] and labels.dtype == torch.long
    for bad in (None, -1, 10):
        with pytest.raises(ValueError, match="class .* from 0 to 9"):
            class_tensor(models["cgan"], bad)


def test_latent_picture_is_the_generators_image_as_uint8(models):
    z = seeded_latents(4, 1, 8)
    grey = latent_picture(models["gan"], z)
    with torch.inference_mode():
        expected = to_uint8(models["gan"].generate(z))[0, 0].numpy()
    assert grey.shape == (28, 28) and grey.dtype == np.uint8 and np.array_equal(grey, expected)

    five, two = latent_picture(models["cgan"], z, 5), latent_picture(models["cgan"], z, 2)
    with torch.inference_mode():
        expected = to_uint8(models["cgan"].generate(z, torch.tensor([5])))[0, 0].numpy()
    assert np.array_equal(five, expected) and not np.array_equal(five, two)
    with pytest.raises(ValueError, match="class"):
        latent_picture(models["cgan"], z, None)

    colour = latent_picture(models["colour-vae"], z)
    with torch.inference_mode():
        expected = to_uint8(models["colour-vae"].generate(z))[0].permute(1, 2, 0).numpy()
    assert colour.shape == (32, 32, 3) and np.array_equal(colour, expected)
