"""genimg.explore.interpolate: lerp/slerp paths and their norms, class walks, frames, GIFs, frame strips,
drawings encoded to endpoints, and the folder the GIFs are written to.

(The Interpolate tab's handlers, refusals in the user's language and layout are tested in
tests/ui/test_interpolate_tab.py.)
"""

import io
import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genimg.data.pictures import ImageInputError, load_user_image, to_model_input
from genimg.explore.interpolate import (
    GIF_TARGET_SIDE,
    MAX_FRAMES,
    MIN_FRAMES,
    GifFolder,
    InterpolationError,
    check_frames,
    encode_drawing,
    frame_duration_ms,
    frame_strip,
    generate_mixed,
    gif_bytes,
    gif_scale,
    grey_levels,
    interpolate,
    interpolation_frames,
    latent_path,
    one_hot,
    to_frames,
)
from genimg.models.latent import seeded_latents
from tests.helpers import decode_gif, load_all


@pytest.fixture(scope="module")
def models(tiny_models) -> dict:
    """name → (model, ModelConfig) for the tiny checkpoints: gan, cgan, vae, vae2d, cvae (1×28×28, 10 classes)."""
    return load_all(tiny_models)


def gif_durations(data: bytes) -> list[int]:
    image = Image.open(io.BytesIO(data))
    durations = []
    for index in range(image.n_frames):
        image.seek(index)
        durations.append(image.info["duration"])
    return durations


def stroke_drawing() -> dict:
    """A Sketchpad value: one white vertical stroke on black, 280 × 280."""
    stroke = np.zeros((280, 280), np.uint8)
    stroke[60:220, 130:150] = 255
    return {"background": np.zeros((280, 280), np.uint8), "layers": [], "composite": stroke}


# ---------------------------------------------------------------------------------------------- moved from the tab
def test_slerp_keeps_the_norm_while_lerp_sags():
    dim = 256
    z0, z1 = seeded_latents(1, 1, dim)[0], seeded_latents(2, 1, dim)[0]
    lerp_norms = latent_path(z0, z1, 33, "lerp").norm(dim=1)
    slerp_norms = latent_path(z0, z1, 33, "slerp").norm(dim=1)
    ends = (z0.norm() + z1.norm()) / 2
    assert slerp_norms.min() > 0.97 * min(z0.norm(), z1.norm())
    assert slerp_norms.max() < 1.03 * max(z0.norm(), z1.norm())
    # two typical Gaussian samples are nearly perpendicular: the lerp midpoint is ≈ √(D/2) long
    assert abs(lerp_norms[16] / ends - 1 / math.sqrt(2)) < 0.08
    assert lerp_norms[16] < 0.8 * min(z0.norm(), z1.norm()) and lerp_norms.argmin() in range(12, 21)
    for path in (latent_path(z0, z1, 5, "lerp"), latent_path(z0, z1, 5, "slerp")):
        assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)
    with pytest.raises(InterpolationError, match="method"):
        latent_path(z0, z1, 5, "cubic")


def test_first_and_last_frames_are_the_endpoints_images(models):
    for name in ("gan", "vae"):
        model, config = models[name]
        z0, z1 = seeded_latents(3, 1, config.latent_dim)[0], seeded_latents(4, 1, config.latent_dim)[0]
        with torch.inference_mode():
            ends = to_frames(model.generate(torch.stack([z0, z1]), None))
        walk = interpolate(model, z0, z1, frames=7)
        for method in ("lerp", "slerp"):
            frames = walk.frames[method]
            assert frames.dtype == np.uint8 and frames.shape == (7, 28, 28)
            assert np.abs(frames[0].astype(int) - ends[0]).max() <= 1
            assert np.abs(frames[-1].astype(int) - ends[1]).max() <= 1
        assert walk.moving == "z" and walk.reference_norm == pytest.approx(math.sqrt(config.latent_dim))
        assert walk.norms["lerp"][3] < walk.norms["slerp"][3]
        single = interpolation_frames(model, z0, z1, frames=7, method="slerp")
        assert np.abs(single.astype(int) - walk.frames["slerp"]).max() <= 1


@pytest.mark.parametrize("name", ["cgan", "cvae"])
def test_class_walk_goes_from_class_a_to_class_b(models, name):
    model, config = models[name]
    z = seeded_latents(5, 1, config.latent_dim)[0]
    with torch.inference_mode():
        expected = to_frames(model.generate(torch.stack([z, z]), torch.tensor([2, 7])))
        # soft class input with exact one-hot rows is the model's own forward pass
        one_hot = torch.nn.functional.one_hot(torch.tensor([2, 7]), 10).float()
        assert torch.allclose(generate_mixed(model, torch.stack([z, z]), one_hot),
                              model.generate(torch.stack([z, z]), torch.tensor([2, 7])), atol=1e-5)
    walk = interpolate(model, z, z, frames=9, class_a=2, class_b=7)
    for method in ("lerp", "slerp"):
        frames = walk.frames[method]
        assert np.abs(frames[0].astype(int) - expected[0]).max() <= 1
        assert np.abs(frames[-1].astype(int) - expected[1]).max() <= 1
    assert walk.moving == "class" and walk.reference_norm == 1.0
    assert walk.norms["lerp"][4] == pytest.approx(1 / math.sqrt(2), abs=1e-4)
    assert np.allclose(walk.norms["slerp"], 1.0, atol=1e-4)
    with pytest.raises(InterpolationError, match="class"):
        interpolate(model, z, z, frames=4, class_a=0, class_b=10)


def test_gif_decodes_to_ping_pong_frames_of_the_right_size():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (6, 28, 28), dtype=np.uint8)
    frames = decode_gif(gif_bytes(grey, scale=3))
    assert len(frames) == 2 * 6 - 2 and frames[0].shape == (84, 84)
    assert np.array_equal(frames[0], np.repeat(np.repeat(grey[0], 3, 0), 3, 1))  # grey is exact
    assert np.array_equal(frames[6], np.repeat(np.repeat(grey[4], 3, 0), 3, 1))  # then backwards
    assert len(decode_gif(gif_bytes(grey, 50, ping_pong=False))) == 6
    colour = rng.integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    image = Image.open(io.BytesIO(gif_bytes(colour, scale=2)))
    assert image.n_frames == 6 and image.size == (32, 32) and image.info["loop"] == 0
    with pytest.raises(InterpolationError):
        gif_bytes(np.zeros((3, 8, 8), np.float32))
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    coarse = grey_levels(ramp, 64)
    assert len(np.unique(coarse)) == 64 and coarse.min() == 0 and coarse.max() == 255
    assert np.abs(coarse.astype(int) - ramp).max() <= 2
    assert np.array_equal(decode_gif(gif_bytes(ramp, levels=64, ping_pong=False))[0], coarse[0])
    strip = frame_strip(grey, columns=4, scale=2)
    assert strip.dtype == np.uint8 and strip.shape == (2 * (2 * 30 + 2), 2 * (4 * 30 + 2))


# ---------------------------------------------------------------------------------------------- paths
@pytest.mark.parametrize("frames", [MIN_FRAMES, MAX_FRAMES, 8, 8.0])
def test_frame_counts_in_range_are_accepted(frames):
    assert check_frames(frames) == int(frames) and type(check_frames(frames)) is int


@pytest.mark.parametrize("frames", [MIN_FRAMES - 1, MAX_FRAMES + 1, 7.5, True, None, "8", math.nan, math.inf])
def test_frame_counts_out_of_range_are_refused(frames):
    with pytest.raises(InterpolationError, match=r"frames = .* is not accepted"):
        check_frames(frames)


def test_one_hot_checks_the_class():
    assert one_hot(3, 5).tolist() == [0.0, 0.0, 0.0, 1.0, 0.0]
    for bad in (-1, 5, True, 2.0, "2", None):
        with pytest.raises(InterpolationError, match="is not accepted"):
            one_hot(bad, 5)


# ---------------------------------------------------------------------------------------------- walks
def test_a_walk_refuses_what_the_model_cannot_do(models):
    gan, config = models["gan"]
    cgan, _ = models["cgan"]
    z = seeded_latents(1, 1, config.latent_dim)[0]
    with pytest.raises(InterpolationError, match="do not fit"):
        interpolate(gan, z, seeded_latents(1, 1, config.latent_dim + 1)[0], frames=4)
    with pytest.raises(InterpolationError, match="at least one method"):
        interpolate(gan, z, z, frames=4, methods=())
    with pytest.raises(InterpolationError, match="choose class A"):
        interpolate(cgan, z, z, frames=4)
    with pytest.raises(InterpolationError, match="not class-conditional"):
        interpolate(gan, z, z, frames=4, class_a=1, class_b=2)
    with pytest.raises(InterpolationError, match="frames"):
        interpolate(gan, z, z, frames=MAX_FRAMES + 1)
    with pytest.raises(InterpolationError, match="class weights"):
        generate_mixed(cgan, z[None], None)


def test_a_walk_with_one_method_and_with_z_and_class_moving(models):
    cgan, config = models["cgan"]
    z0, z1 = seeded_latents(8, 2, config.latent_dim)
    walk = interpolate(cgan, z0, z1, frames=5, methods=("lerp",), class_a=1, class_b=6)
    assert list(walk.frames) == ["lerp"] and walk.count == 5 and walk.latent_dim == config.latent_dim
    assert walk.moving == "z"  # z moves too: its norm is what is plotted, against √D
    assert np.allclose(walk.norms["lerp"], latent_path(z0, z1, 5, "lerp").norm(dim=1).double().numpy())
    same_class = interpolate(cgan, z0, z1, frames=3, class_a=4)  # class B defaults to class A
    with torch.inference_mode():
        ends = to_frames(cgan.generate(torch.stack([z0, z1]), torch.tensor([4, 4])))
    assert np.abs(same_class.frames["slerp"][-1].astype(int) - ends[1]).max() <= 1


def test_unconditional_models_ignore_class_weights(models):
    gan, config = models["gan"]
    z = seeded_latents(2, 3, config.latent_dim)
    with torch.inference_mode():
        assert torch.equal(generate_mixed(gan, z, None), gan.generate(z, None))


# ---------------------------------------------------------------------------------------------- pictures
def test_to_frames_keeps_grey_flat_and_colour_last():
    grey = to_frames(torch.rand(3, 1, 5, 6))
    colour = to_frames(torch.rand(3, 3, 5, 6))
    assert grey.shape == (3, 5, 6) and colour.shape == (3, 5, 6, 3) and grey.dtype == colour.dtype == np.uint8
    images = torch.rand(2, 3, 4, 4)
    assert np.array_equal(to_frames(images)[1, 2, 3], (images[1, :, 2, 3] * 255).round().to(torch.uint8).numpy())


def test_frame_timing_and_scale():
    durations = [frame_duration_ms(count) for count in (1, 2, 8, 32, 64, 1000)]
    assert all(40 <= duration <= 500 and duration % 10 == 0 for duration in durations)
    assert durations == sorted(durations, reverse=True)  # more frames, shorter each
    assert gif_scale(28) * 28 <= GIF_TARGET_SIDE < (gif_scale(28) + 1) * 28
    assert gif_scale(GIF_TARGET_SIDE * 2) == 1 and gif_scale(0) >= 1


def test_grey_levels_keep_black_and_white_and_refuse_bad_counts():
    ramp = np.arange(256, dtype=np.uint8)
    assert grey_levels(ramp, 256) is ramp
    two = grey_levels(ramp, 2)
    assert set(np.unique(two).tolist()) == {0, 255} and two[100] == 0 and two[200] == 255
    for bad in (1, 257, 0):
        with pytest.raises(InterpolationError, match="levels"):
            grey_levels(ramp, bad)


def test_gif_timing_pauses_on_the_endpoints():
    frames = np.stack([np.full((4, 4), value, np.uint8) for value in (0, 80, 160, 240)])
    durations = gif_durations(gif_bytes(frames, 50, ping_pong=False, end_pause_ms=700))
    assert durations == [700, 50, 50, 700]
    default = gif_durations(gif_bytes(frames, 50))  # forward and back: 0 1 2 3 2 1
    assert len(default) == 6 and default[0] == default[3] == max(50, 400) and default[1] == 50
    for bad in (np.zeros((0, 4, 4), np.uint8), np.zeros((2, 4, 4, 4), np.uint8), np.zeros((4, 4), np.uint8)):
        with pytest.raises(InterpolationError, match="uint8"):
            gif_bytes(bad)


def test_frame_strip_of_colour_frames():
    frames = np.random.default_rng(1).integers(0, 256, (5, 6, 6, 3), dtype=np.uint8)
    strip = frame_strip(frames, columns=3, scale=1)
    assert strip.shape == (2 * 8 + 2, 3 * 8 + 2, 3)
    assert np.array_equal(strip[2:8, 2:8], frames[0]) and np.array_equal(strip[10:16, 2:8], frames[3])
    assert np.array_equal(frame_strip(frames, columns=3, scale=2)[::2, ::2], strip)


# ---------------------------------------------------------------------------------------------- drawings
def test_a_drawing_is_encoded_to_its_encoder_mean(models):
    vae, config = models["vae"]
    drawing = stroke_drawing()
    mean = encode_drawing(vae, drawing, config.channels, config.image_size)
    with torch.inference_mode():
        expected = vae.encode(to_model_input(load_user_image(drawing), config.channels, config.image_size))[0][0]
    assert mean.shape == (config.latent_dim,) and torch.allclose(mean, expected)
    cvae, cvae_config = models["cvae"]
    as_three = encode_drawing(cvae, drawing, 1, 28, label=3)
    assert as_three.shape == (cvae_config.latent_dim,)
    assert not torch.equal(as_three, encode_drawing(cvae, drawing, 1, 28, label=7))  # the class is an input


def test_drawings_that_cannot_be_encoded_are_refused(models, tmp_path):
    vae, _ = models["vae"]
    picture = tmp_path / "digit.png"
    Image.fromarray(stroke_drawing()["composite"]).save(picture)
    for path in (str(picture), picture, {"composite": str(picture)}):  # a path is never opened
        with pytest.raises(ImageInputError) as error:
            encode_drawing(vae, path, 1, 28)
        assert error.value.key == "image.bad_type"
    with pytest.raises(ImageInputError) as error:
        encode_drawing(vae, {"background": None, "layers": [], "composite": None}, 1, 28)
    assert error.value.key in ("image.missing", "image.empty_sketch")
    with pytest.raises(InterpolationError, match="dcgan has no encoder"):
        encode_drawing(models["gan"][0], stroke_drawing(), 1, 28)
    with pytest.raises(InterpolationError, match="choose the class"):
        encode_drawing(models["cvae"][0], stroke_drawing(), 1, 28)
    with pytest.raises(InterpolationError, match="class 10"):
        encode_drawing(models["cvae"][0], stroke_drawing(), 1, 28, label=10)


# ---------------------------------------------------------------------------------------------- GIF folder
def test_gif_folder_keeps_the_newest_files_whole(tmp_path):
    folder = GifFolder(tmp_path / "gifs", keep=3)
    paths = []
    for index in range(5):
        path = folder.save(b"GIF89a" + bytes([index]))
        os.utime(path, ns=(index * 10**9, index * 10**9))  # distinct ages, whatever the clock's resolution
        paths.append(path)
    folder.prune()
    kept = sorted(str(path) for path in (tmp_path / "gifs").iterdir())
    assert kept == sorted(paths[2:])  # the three newest
    assert all(Path(path).read_bytes() == b"GIF89a" + bytes([index]) for index, path in enumerate(paths) if index >= 2)
    assert not list((tmp_path / "gifs").glob("*.part"))  # no half-written file is ever left
    assert len(set(paths)) == 5  # every save gets its own name
