"""genimg.models.latent: seeds as a page sends them, seeded latents that mean the same on every device, class
labels for a grid, and the lerp / slerp paths between two latents."""

import itertools
import math

import pytest
import torch

from genimg.models.latent import (
    MAX_SEED,
    class_labels,
    lerp,
    parse_seed,
    seeded_latents,
    slerp,
)


# ---------------------------------------------------------------------------------------------- parse_seed
@pytest.mark.parametrize(("value", "expected"), [
    (0, 0), (7, 7), (MAX_SEED, MAX_SEED), (7.0, 7), ("12", 12), (" 12 ", 12), ("12.0", 12), ("1e3", 1000),
    (str(MAX_SEED), MAX_SEED), (float(2**62), 2**62),
])
def test_parse_seed_accepts_whole_numbers_as_the_page_sends_them(value, expected):
    parsed = parse_seed(value)
    assert parsed == expected and type(parsed) is int


@pytest.mark.parametrize("value", [
    None, True, False, -1, -0.5, 1.5, MAX_SEED + 1, 2**64, float(2**64), math.nan, math.inf, -math.inf, "", "  ",
    "abc", "0x10", "1e400", "-3", "nan", "inf", [3], (3,), {"seed": 3}, b"3",
])
def test_parse_seed_refuses_what_is_not_a_seed(value):
    assert parse_seed(value) is None


# ---------------------------------------------------------------------------------------------- seeded_latents
def test_seeded_latents_are_the_same_on_every_call_and_standard_normal():
    first = seeded_latents(123, 2000, 16)
    assert first.shape == (2000, 16) and first.dtype == torch.float32 and first.device.type == "cpu"
    assert torch.equal(first, seeded_latents(123, 2000, 16))
    assert not torch.equal(first, seeded_latents(124, 2000, 16))
    assert abs(float(first.mean())) < 0.05 and abs(float(first.std()) - 1.0) < 0.05  # N(0, I): 32,000 draws
    assert torch.equal(seeded_latents(123, 5, 16), first[:5])  # a grid's first images do not depend on its size
    assert torch.equal(seeded_latents(MAX_SEED, 1, 4), seeded_latents(MAX_SEED, 1, 4))


def test_seeded_latents_ignore_and_keep_the_global_random_state():
    torch.manual_seed(0)
    before = seeded_latents(5, 3, 8)
    state = torch.get_rng_state()
    torch.manual_seed(99)
    torch.rand(10)
    after = seeded_latents(5, 3, 8)
    assert torch.equal(before, after)  # whatever the global generator did
    torch.set_rng_state(state)
    seeded_latents(5, 3, 8)
    assert torch.equal(torch.get_rng_state(), state)  # and it is not advanced


def test_seeded_latents_are_drawn_on_the_cpu_then_moved(monkeypatch):
    """A seed means the same numbers on any device: the draw always uses a CPU generator."""
    drawn_with = []
    real_randn = torch.randn

    def recording_randn(*arguments, **keywords):
        drawn_with.append(keywords["generator"].device.type)
        assert "device" not in keywords
        return real_randn(*arguments, **keywords)

    monkeypatch.setattr(torch, "randn", recording_randn)
    on_meta = seeded_latents(9, 3, 4, device="meta")  # a device with no random numbers of its own at all
    assert drawn_with == ["cpu"] and on_meta.device.type == "meta" and on_meta.shape == (3, 4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU to compare against")
def test_seeded_latents_are_identical_on_cuda():
    assert torch.equal(seeded_latents(42, 8, 32, device="cuda").cpu(), seeded_latents(42, 8, 32))


@pytest.mark.parametrize("seed", [-1, MAX_SEED + 1, 1.0, True, "3", None])
def test_seeded_latents_refuse_a_bad_seed(seed):
    with pytest.raises(ValueError, match=r"seed = .* is not accepted"):
        seeded_latents(seed, 1, 4)


# ---------------------------------------------------------------------------------------------- class_labels
def test_class_labels_cycle_through_the_classes():
    assert class_labels(7, 0) is None  # unconditional
    labels = class_labels(7, 3)
    assert labels.tolist() == [0, 1, 2, 0, 1, 2, 0] and labels.dtype == torch.long
    assert class_labels(2, 10).tolist() == [0, 1]
    assert class_labels(4, 2, device="meta").device.type == "meta"


# ---------------------------------------------------------------------------------------------- lerp and slerp
def orthogonal_pair(length_a: float = 1.0, length_b: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    return torch.tensor([length_a, 0.0, 0.0]), torch.tensor([0.0, length_b, 0.0])


def test_lerp_is_the_straight_line():
    start, end = seeded_latents(1, 2, 6)
    fractions = torch.tensor([0.0, 0.25, 0.5, 1.0])
    path = lerp(start, end, fractions)
    assert path.shape == (4, 6)
    assert torch.equal(path[0], start) and torch.allclose(path[3], end)
    assert torch.allclose(path[2], (start + end) / 2)
    assert torch.allclose(path[1], 0.75 * start + 0.25 * end)
    assert lerp(start, end, fractions.double()).dtype == torch.float32  # the latents' dtype, not the fractions'


def test_slerp_follows_the_great_circle_at_constant_speed():
    start, end = orthogonal_pair()
    path = slerp(start, end, torch.linspace(0, 1, 5))
    assert path.shape == (5, 3) and torch.allclose(path[0], start) and torch.allclose(path[-1], end, atol=1e-6)
    assert torch.allclose(path.norm(dim=1), torch.ones(5))  # stays on the unit circle
    angles = [math.atan2(float(point[1]), float(point[0])) for point in path]
    assert all(abs(b - a - math.pi / 8) < 1e-5 for a, b in itertools.pairwise(angles))  # equal steps of 90°/4
    assert torch.allclose(path[2], torch.tensor([1.0, 1.0, 0.0]) / math.sqrt(2))


def test_slerp_interpolates_the_norms_linearly():
    start, end = orthogonal_pair(2.0, 4.0)
    fractions = torch.linspace(0, 1, 9)
    path = slerp(start, end, fractions)
    assert torch.allclose(path.norm(dim=1), 2.0 + 2.0 * fractions, atol=1e-5)
    lerp_norms = lerp(start, end, fractions).norm(dim=1)
    assert bool((lerp_norms[1:-1] < path.norm(dim=1)[1:-1]).all())  # the straight line cuts inside


def test_slerp_of_nearly_parallel_latents_is_the_straight_line():
    start = seeded_latents(3, 1, 8)[0]
    end = 2.5 * start
    fractions = torch.linspace(0, 1, 6)
    assert torch.allclose(slerp(start, end, fractions), lerp(start, end, fractions))


def test_slerp_stays_finite_at_the_degenerate_ends():
    start = seeded_latents(4, 1, 8)[0]
    fractions = torch.linspace(0, 1, 7)
    for end in (-start, torch.zeros(8)):  # opposite directions; a zero latent
        path = slerp(start, end, fractions)
        assert torch.isfinite(path).all()
        assert torch.allclose(path[0], start, atol=1e-5) and torch.allclose(path[-1], end, atol=1e-5)
