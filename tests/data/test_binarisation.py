"""Dynamic binarisation: Bernoulli pixels with the grey level as mean, fresh each epoch, repeatable for a seed."""

import pytest
import torch

from genimg.data.datasets import (
    BatchStream,
    DatasetError,
    ImageData,
    binarise,
    binarised_copy,
)


def grey_levels(count: int = 32) -> ImageData:
    """count images 1×8×8, each pixel a grey level from a spread of 0..255 (levels repeat across images)."""
    levels = torch.tensor([0, 1, 30, 64, 128, 200, 254, 255], dtype=torch.uint8)
    images = levels.repeat(count * 8)[: count * 64].view(count, 1, 8, 8).contiguous()
    return ImageData(images=images, labels=torch.arange(count) % 2, class_names=["a", "b"], name="grey")


def test_each_pixel_is_one_with_probability_equal_to_its_grey_level():
    levels = torch.tensor([0, 1, 30, 64, 128, 200, 254, 255], dtype=torch.uint8)
    draws = 40_000
    images = levels.repeat(draws, 1)  # (draws, 8): every level drawn `draws` times
    binary = binarise(images, torch.Generator().manual_seed(3))
    assert binary.dtype == torch.uint8 and set(binary.unique().tolist()) <= {0, 255}
    observed = (binary == 255).double().mean(dim=0)  # (8,)
    expected = levels.double() / 255
    standard_error = (expected * (1 - expected) / draws).sqrt()
    # within 5 standard errors of a Bernoulli(v / 255) mean; black stays black and white stays white
    assert ((observed - expected).abs() <= 5 * standard_error + 1e-12).all(), (observed, expected)
    assert observed[0] == 0 and observed[-1] == 1


def test_binarise_refuses_float_images():
    with pytest.raises(DatasetError, match="uint8"):
        binarise(torch.rand(2, 1, 4, 4), torch.Generator())


def test_batches_differ_per_epoch_repeat_for_a_seed_and_resume_exactly():
    data = grey_levels(32)
    stream = BatchStream(data, batch_size=32, seed=7, binarise=True)  # one batch = one epoch, the same images
    first, _ = stream.next()
    second, _ = stream.next()
    assert set(first.unique().tolist()) <= {0, 255}
    same_seed = BatchStream(data, batch_size=32, seed=7, binarise=True)
    again_first, _ = same_seed.next()
    assert torch.equal(first, again_first)  # a seed repeats
    assert not torch.equal(first.sum(dim=0), second.sum(dim=0))  # a fresh draw in the next epoch
    other_seed, _ = BatchStream(data, batch_size=32, seed=8, binarise=True).next()
    assert not torch.equal(first.sum(dim=0), other_seed.sum(dim=0))
    grey, _ = BatchStream(data, batch_size=32, seed=7).next()
    assert len(grey.unique()) == 8  # without the flag the grey levels pass unchanged

    state = same_seed.state_dict()
    expected, _ = same_seed.next()
    resumed = BatchStream(data, batch_size=32, seed=0, binarise=True)
    resumed.load_state_dict(state)
    continued, _ = resumed.next()
    assert torch.equal(continued, expected)


def test_a_fixed_binarised_copy_repeats_for_its_seed_and_keeps_labels():
    data = grey_levels(16)
    copy = binarised_copy(data, seed=0)
    assert torch.equal(copy.images, binarised_copy(data, seed=0).images)
    assert not torch.equal(copy.images, binarised_copy(data, seed=1).images)
    assert torch.equal(copy.labels, data.labels) and copy.class_names == data.class_names
    assert set(copy.images.unique().tolist()) == {0, 255}
