"""genimg.data.imaging: float images to uint8, grids with their gaps, crisp upscaling, PNG bytes, grid columns."""

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.data.imaging import grid_columns, grid_image, png_bytes, to_uint8, upscale
from genimg.models.latent import class_labels

GAP = 48  # the dark grey between grid cells (documented in grid_image)


def random_images(count: int, channels: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """uint8 (count, channels, height, width), never the gap's grey, so a cell cannot pass for a gap."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (count, channels, height, width), generator=generator, dtype=torch.uint8)
    images[images == GAP] = GAP + 1
    return images


def test_to_uint8_rounds_and_clamps():
    images = torch.tensor([-0.5, 0.0, 0.25, 1.0, 7.0], dtype=torch.float64).reshape(1, 1, 1, 5)
    pixels = to_uint8(images)
    assert pixels.dtype == torch.uint8 and pixels.shape == (1, 1, 1, 5) and pixels.device.type == "cpu"
    assert pixels.flatten().tolist() == [0, 0, round(0.25 * 255), 255, 255]
    assert to_uint8(torch.rand(2, 3, 4, 4, requires_grad=True)).dtype == torch.uint8  # detached, no error


@pytest.mark.parametrize(("count", "columns", "padding"), [(5, 3, 2), (8, 8, 2), (7, 2, 0), (6, 4, 5)])
def test_grey_grid_places_each_image_in_its_cell(count, columns, padding):
    height, width = 4, 6
    images = random_images(count, 1, height, width)
    grid = grid_image(images, columns=columns, padding=padding)
    rows = math.ceil(count / columns)
    assert grid.dtype == np.uint8
    assert grid.shape == (rows * (height + padding) + padding, columns * (width + padding) + padding)
    cell_seen = np.zeros(grid.shape, bool)
    for index in range(count):
        row, column = divmod(index, columns)  # reading order
        top, left = padding + row * (height + padding), padding + column * (width + padding)
        assert np.array_equal(grid[top:top + height, left:left + width], images[index, 0].numpy()), index
        cell_seen[top:top + height, left:left + width] = True
    assert (grid[~cell_seen] == GAP).all()  # gaps and empty cells are the dark grey


def test_colour_grid_is_height_width_channels():
    images = random_images(3, 3, 5, 5, seed=1)
    grid = grid_image(images, columns=3, padding=1)
    assert grid.shape == (5 + 2, 3 * 6 + 1, 3)
    assert np.array_equal(grid[1:6, 1:6], images[0].permute(1, 2, 0).numpy())
    assert np.array_equal(grid[1:6, 13:18], images[2].permute(1, 2, 0).numpy())


def test_grid_columns_are_clamped_and_floats_match_uint8():
    images = random_images(3, 1, 4, 4, seed=2)
    assert np.array_equal(grid_image(images, columns=50), grid_image(images, columns=3))  # no empty columns
    assert np.array_equal(grid_image(images, columns=0), grid_image(images, columns=1))  # at least one column
    as_float = images.float() / 255.0
    assert np.array_equal(grid_image(as_float, columns=2), grid_image(images, columns=2))
    single = random_images(1, 1, 4, 4, seed=3)
    assert np.array_equal(grid_image(single), single[0, 0].numpy())  # one image: no frame around it


def test_upscale_repeats_pixels():
    image = np.arange(6, dtype=np.uint8).reshape(2, 3)
    big = upscale(image, 3)
    assert big.shape == (6, 9) and big.dtype == np.uint8
    for row in range(2):
        for column in range(3):
            assert (big[3 * row:3 * row + 3, 3 * column:3 * column + 3] == image[row, column]).all()
    colour = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(upscale(colour, 2)[::2, ::2], colour) and upscale(colour, 2).shape == (4, 4, 3)
    for factor in (1, 0, -2):
        assert upscale(image, factor) is image


@pytest.mark.parametrize("shape", [(7, 5), (7, 5, 3)])
def test_png_bytes_round_trip(shape):
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    data = png_bytes(image)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    decoded = Image.open(io.BytesIO(data))
    assert decoded.mode == ("L" if len(shape) == 2 else "RGB")
    assert np.array_equal(np.asarray(decoded), image)


@pytest.mark.parametrize("count", [1, 2, 4, 5, 9, 16, 17, 64, 300])
def test_unconditional_grids_are_near_square_and_at_most_eight_wide(count):
    columns = grid_columns(count)
    assert 1 <= columns <= 8
    assert columns == 8 or columns * columns >= count  # as square as possible until 8 columns
    assert columns == 1 or (columns - 1) ** 2 < count  # and no wider than needed


@pytest.mark.parametrize("num_classes", [2, 3, 5, 10, 16])
def test_conditional_grids_show_one_class_per_column(num_classes):
    count = 4 * num_classes
    columns = grid_columns(count, num_classes)
    assert columns >= num_classes and columns % num_classes == 0
    labels = class_labels(count, num_classes).reshape(-1, columns)  # the grid's rows
    assert (labels == labels[0]).all()  # each column holds a single class
    assert sorted(set(labels[0].tolist())) == list(range(num_classes))  # and every class has a column


def test_many_classes_fall_back_to_the_plain_layout():
    assert grid_columns(100, 100) == grid_columns(100)
    assert grid_columns(30, 0) == grid_columns(30)
