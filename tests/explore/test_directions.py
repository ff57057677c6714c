"""genimg.explore.directions: GANSpace principal directions of a generator's first layer, and their cache.

(The Latent space tab's use of them — the direction picker, moving an image along one — is tested in
tests/ui/test_latent_tab.py.)
"""

import gc
import threading
import weakref

import pytest
import torch
import torch.nn.functional as F

from genimg.config import ModelConfig
from genimg.explore import directions as directions_module
from genimg.explore.directions import (
    DirectionCache,
    first_layer_activations,
    principal_directions,
)
from genimg.models import build_model
from genimg.models.latent import seeded_latents
from genimg.models.loading import load_model

STRONG_DIMENSION = 5  # the latent dimension made to dominate in `with_a_strong_dimension`


@pytest.fixture(scope="module")
def models(tiny_models, wide_model) -> dict[str, torch.nn.Module]:
    """The tiny trained checkpoints (gan, cgan, vae, vae2d, cvae) and the wide GAN, loaded in eval mode."""
    folders = {**tiny_models, "wide-gan": wide_model}
    return {name: load_model(folder)[0] for name, folder in folders.items()}


def first_layer(model: torch.nn.Module) -> torch.Tensor:
    """The weight that maps z (and the one-hot class) into the first block, with one row or column per input."""
    return model.generator.net[0].weight if hasattr(model, "generator") else model.decoder_input.weight


def with_a_strong_dimension(kind: str, num_classes: int = 0, class_strength: float = 1.0) -> torch.nn.Module:
    """An untrained 12-D model whose first layer reacts ten times more to z[STRONG_DIMENSION] than to the rest
    (and `class_strength` times more to the class input)."""
    torch.manual_seed(0)
    model = build_model(ModelConfig(kind=kind, latent_dim=12, width=8, num_classes=num_classes)).eval()
    weight = first_layer(model)
    with torch.no_grad():
        if hasattr(model, "generator"):  # ConvTranspose2d weight: (inputs, out, k, k)
            weight[STRONG_DIMENSION] *= 10
            weight[12:] *= class_strength
        else:  # Linear weight: (out, inputs)
            weight[:, STRONG_DIMENSION] *= 10
            weight[:, 12:] *= class_strength
    return model


# ---------------------------------------------------------------------------------------------- directions
@pytest.mark.parametrize("name", ["gan", "cgan", "vae", "vae2d", "cvae", "wide-gan"])
def test_directions_are_unit_sorted_and_deterministic(models, name):
    model = models[name]
    first = principal_directions(model, samples=1024)
    again = principal_directions(model, samples=1024)
    assert first.vectors.shape == (min(10, model.latent_dim), model.latent_dim)
    assert torch.allclose(first.vectors.norm(dim=1), torch.ones(len(first)), atol=1e-5)
    assert torch.equal(first.vectors, again.vectors)
    assert torch.equal(first.explained_variance, again.explained_variance)
    shares = first.explained_variance
    assert bool((shares > 0).all()) and bool((shares <= 1).all()) and float(shares.sum()) <= 1 + 1e-5
    assert bool((shares[:-1] >= shares[1:]).all())
    other_seed = principal_directions(model, samples=1024, seed=1)
    assert not torch.equal(first.vectors, other_seed.vectors)


def test_fast_first_layer_matches_the_network(models):
    """The activations used for PCA (eval-mode projection and batch norm folded into one matrix product) are
    what running the network's own first layers gives."""
    for name in ("cgan", "cvae"):
        model = models[name]
        z = seeded_latents(5, 6, model.latent_dim)
        labels = torch.arange(6) % model.num_classes
        inputs = torch.cat([z, F.one_hot(labels, model.num_classes).float()], dim=1)  # (B, D + K)
        with torch.no_grad():
            fast = first_layer_activations(model, z, labels)
            if name == "cgan":  # transposed conv → batch norm → ReLU
                slow = model.generator.net[:3](inputs[:, :, None, None]).flatten(1)
            else:  # linear → batch norm → ReLU
                slow = model.decoder[:2](model.decoder_input(inputs).view(-1, *model.decoder_shape)).flatten(1)
        assert fast.shape == slow.shape and torch.allclose(fast, slow, atol=1e-5)


@pytest.mark.parametrize("kind", ["dcgan", "vae"])
def test_the_first_direction_is_the_dimension_the_network_reacts_to_most(kind):
    directions = principal_directions(with_a_strong_dimension(kind), samples=1024)
    assert float(directions.vectors[0, STRONG_DIMENSION]) > 0.95  # ≈ +e₅ (the sign: largest entry positive)
    assert float(directions.explained_variance[0]) > 2 * float(directions.explained_variance[1])


@pytest.mark.parametrize("kind", ["dcgan", "vae"])
def test_conditional_directions_describe_variation_within_a_class(kind):
    """z cannot change the class, so the class input's effect, however strong, is not a direction."""
    model = with_a_strong_dimension(kind, num_classes=10, class_strength=50.0)
    directions = principal_directions(model, samples=1024)
    assert float(directions.vectors[0, STRONG_DIMENSION]) > 0.95
    assert directions.samples % 10 == 0  # the same number of samples from every class


def test_direction_count_and_samples_are_bounded(models):
    vae2d = principal_directions(models["vae2d"], count=10, samples=1024)
    assert len(vae2d) == 2  # a 2-D z has two independent directions at most
    few = principal_directions(models["gan"], count=3, samples=10)
    assert len(few) == 3 and few.samples == directions_module.MIN_SAMPLES
    assert few.features == first_layer_activations(models["gan"], torch.zeros(1, models["gan"].latent_dim)).shape[1]
    with pytest.raises(ValueError, match="count = 0"):
        principal_directions(models["gan"], count=0)


def test_a_layer_that_ignores_z_has_no_directions():
    model = with_a_strong_dimension("dcgan")
    with torch.no_grad():
        first_layer(model).zero_()  # every z gives the same activations
    with pytest.raises(ValueError, match="do not vary with z"):
        principal_directions(model, samples=512)


# ---------------------------------------------------------------------------------------------- cache
def test_direction_cache_computes_once_across_threads(models, monkeypatch):
    model = models["gan"]
    calls = []
    real = directions_module.principal_directions

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(directions_module, "principal_directions", counting)
    cache = DirectionCache(samples=1024)
    results = []
    threads = [threading.Thread(target=lambda: results.append(cache.get(model))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and all(result is results[0] for result in results)
    assert cache.peek(model) is results[0]


def test_direction_cache_keeps_models_apart_and_forgets_dropped_ones(models):
    cache = DirectionCache(count=4, samples=512, seed=3)
    gan, vae = models["gan"], models["vae"]
    assert cache.peek(gan) is None  # peeking never computes
    found = cache.get(gan)
    assert cache.peek(vae) is None and cache.get(vae) is not found
    assert len(found) == 4 and found.seed == 3 and torch.equal(found.vectors,
                                                                 principal_directions(gan, count=4, samples=512,
                                                                                      seed=3).vectors)
    dropped = with_a_strong_dimension("dcgan")
    cache.get(dropped)
    still_there = weakref.ref(dropped)
    del dropped
    gc.collect()
    assert still_there() is None  # the cache does not keep a model alive that the renderer let go


# ---------------------------------------------------------------------------------------------- direction strips
def test_a_strip_is_the_generator_along_each_direction(models):
    """Row k, column j of direction_strips is exactly G(z + α_j·v_k) (one batched pass, same pixels as one at a time),
    for a GAN, a conditional GAN (its class kept) and a VAE's decoder."""
    from genimg.explore.directions import STRIP_STEPS, direction_strips, strip_grid
    from genimg.explore.latent import latent_picture

    for name, label in (("gan", None), ("cgan", 7), ("vae", None)):
        model = models[name]
        vectors = principal_directions(model, count=3, samples=512).vectors  # (3, D)
        z = seeded_latents(11, 1, model.latent_dim)
        images = direction_strips(model, z, vectors, STRIP_STEPS, label)
        assert images.shape[0] == 3 * len(STRIP_STEPS)
        for row in range(3):
            for column in (0, len(STRIP_STEPS) // 2, len(STRIP_STEPS) - 1):
                alone = latent_picture(model, z + STRIP_STEPS[column] * vectors[row], label)
                drawn = (images[row * len(STRIP_STEPS) + column].clamp(0, 1) * 255).round().to(torch.uint8)
                difference = (drawn[0].int() - torch.from_numpy(alone).int()).abs().max()
                assert difference <= 1, (name, row, column, difference)  # a batch may round one level apart
        # the ends of a row differ (the direction changes the image) and the middle column is z itself
        first, last = images[0], images[len(STRIP_STEPS) - 1]
        assert not torch.allclose(first, last)
        grid = strip_grid(images, len(STRIP_STEPS), scale=2)
        side = images.shape[-1]
        assert grid.shape == (2 * (3 * (side + 2) + 2), 2 * (len(STRIP_STEPS) * (side + 2) + 2))


def test_strips_refuse_directions_of_another_space(models):
    from genimg.explore.directions import direction_strips

    model = models["gan"]
    with pytest.raises(ValueError, match="expected \\(K, 8\\)"):
        direction_strips(model, torch.zeros(1, 8), torch.zeros(3, 5))
    with pytest.raises(ValueError, match="at least one"):
        direction_strips(model, torch.zeros(1, 8), torch.zeros(3, 8), steps=())


# ---------------------------------------------------------------------------------------------- flows
def test_a_trained_flows_directions_are_found_in_its_pictures_not_in_its_noise():
    """A flow's latent is a noise image, and its velocity at t = 0 is (at best) the mean picture minus that noise:
    principal axes found there are the noise's own, each explaining what pure noise would (the largest eigenvalue
    of N samples of F-dimensional white noise, as a share of the total: about (1 + √(F/N))² / F). Axes found in the
    pictures a trained flow draws explain many times more. Measured on the shipped mnist-flow: 0.24% each at t = 0
    (4,096 samples; the noise gives 0.26%), against 6.4% for the first axis of its rough pictures (1,000 samples;
    the noise gives 0.45%)."""
    from pathlib import Path

    folder = Path(__file__).resolve().parents[2] / "checkpoints" / "mnist-flow"
    if not folder.is_dir():
        pytest.skip("checkpoints/mnist-flow is not in this checkout")
    flow = load_model(folder)[0]
    found = principal_directions(flow, count=3)
    noise_share = (1 + (found.features / found.samples) ** 0.5) ** 2 / found.features
    assert found.samples <= flow.direction_samples  # what a flow can afford: four network calls per sample
    assert found.explained_variance[0] > 5 * noise_share, (found.explained_variance, noise_share)


def test_no_analysed_latent_is_a_seeds_own_z(models, monkeypatch):
    """Least squares fits the latents it is given, so a seed among them would sit unusually far along the directions
    (on a flow, 1,000 latents in 784 dimensions put the page's default seed 0 at 2.4 to 3.0 on 4 of 10 axes). The
    analysis leaves the draw's first row, seed `seed`'s own z, out."""
    seen = []
    original = directions_module.first_layer_activations

    def recording(model, z, labels=None):
        seen.append(z.detach().cpu().clone())
        return original(model, z, labels)

    monkeypatch.setattr(directions_module, "first_layer_activations", recording)
    principal_directions(models["gan"], count=3, samples=512, seed=4)
    analysed = seen[-1]
    own = seeded_latents(4, 1, analysed.shape[1])[0]
    assert analysed.shape[0] == 512
    assert not any(torch.equal(row, own) for row in analysed)
    assert torch.equal(analysed[0], seeded_latents(4, 2, analysed.shape[1])[1])  # the rest of the same draw


# ---------------------------------------------------------------------------------------------- saved directions
@pytest.fixture
def saved(tmp_path, tiny_models):
    """A copy of the tiny GAN's folder with its directions saved: (folder, model, directions)."""
    import shutil

    from genimg.explore.directions import save_directions

    folder = tmp_path / "gan"
    shutil.copytree(tiny_models["gan"], folder)
    model = load_model(folder)[0]
    found = principal_directions(model, count=4, samples=512, seed=0)
    save_directions(folder, model, found, count=4, samples=512, seed=0)
    return folder, model, found


def test_saved_directions_are_read_back_for_the_same_weights_and_settings_only(saved):
    from genimg.explore.directions import DIRECTIONS_FILE, load_directions

    folder, model, found = saved
    read = load_directions(folder, model, count=4, samples=512, seed=0)
    assert read is not None and torch.equal(read.vectors, found.vectors)
    assert torch.equal(read.explained_variance, found.explained_variance)
    assert (read.samples, read.seed, read.features) == (found.samples, found.seed, found.features)
    # other settings than the ones they were found with: found again, not read
    for settings in ({"count": 5, "samples": 512, "seed": 0}, {"count": 4, "samples": 1024, "seed": 0},
                     {"count": 4, "samples": 512, "seed": 1}):
        assert load_directions(folder, model, **settings) is None, settings
    # other weights (a model trained on, or another model saved under the same name)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] += 1e-3
    assert load_directions(folder, model, count=4, samples=512, seed=0) is None
    (folder / DIRECTIONS_FILE).unlink()
    assert load_directions(folder, load_model(folder)[0], count=4, samples=512, seed=0) is None


def test_the_cache_reads_saved_directions_instead_of_finding_them(saved, monkeypatch):
    folder, model, found = saved

    def refuse(*args, **kwargs):
        raise AssertionError("the directions were found again although they were saved")

    monkeypatch.setattr(directions_module, "principal_directions", refuse)
    cache = DirectionCache(count=4, samples=512, seed=0)
    assert torch.equal(cache.get(model, folder).vectors, found.vectors)
    with pytest.raises(AssertionError, match="found again"):  # without the folder, or for other settings
        DirectionCache(count=3, samples=512, seed=0).get(model, folder)


def _rewritten(folder, vectors=None, explained=None, metadata=None):
    """The saved file written again with some parts replaced (what a damaged or forged file holds)."""
    import json

    import safetensors.torch

    from genimg.explore.directions import DIRECTIONS_FILE

    path = folder / DIRECTIONS_FILE
    data = path.read_bytes()
    size = int.from_bytes(data[:8], "little")
    kept = json.loads(data[8:8 + size])["__metadata__"]
    tensors = safetensors.torch.load(data)
    tensors["vectors"] = tensors["vectors"] if vectors is None else vectors(tensors["vectors"])
    if explained is not None:
        tensors["explained_variance"] = explained(tensors["explained_variance"])
    path.write_bytes(safetensors.torch.save(tensors, metadata={**kept, **(metadata or {})}))


@pytest.mark.parametrize("damage", [
    "truncated", "garbage", "huge", "link", "nan", "not unit", "wrong width", "too many", "shares out of order",
    "shares above 1", "float64", "no digest", "analysed beyond samples",
])
def test_a_damaged_or_forged_directions_file_is_ignored_and_the_directions_found_again(saved, damage):
    from genimg.explore.directions import DIRECTIONS_FILE, MAX_DIRECTIONS_BYTES, load_directions

    folder, model, found = saved
    path = folder / DIRECTIONS_FILE
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    elif damage == "garbage":
        path.write_bytes(b"\xff" * 64)
    elif damage == "huge":
        path.write_bytes(path.read_bytes() + b" " * MAX_DIRECTIONS_BYTES)
    elif damage == "link":
        target = folder / "elsewhere.safetensors"
        path.rename(target)
        path.symlink_to(target)
    elif damage == "nan":
        _rewritten(folder, vectors=lambda v: v.clone().index_fill_(1, torch.tensor([0]), float("nan")))
    elif damage == "not unit":
        _rewritten(folder, vectors=lambda v: v * 2)
    elif damage == "wrong width":
        _rewritten(folder, vectors=lambda v: v[:, :-1] / v[:, :-1].norm(dim=1, keepdim=True))
    elif damage == "too many":
        _rewritten(folder, vectors=lambda v: torch.cat([v, v]), explained=lambda e: torch.cat([e, e]))
    elif damage == "shares out of order":
        _rewritten(folder, explained=lambda e: e.flip(0))
    elif damage == "shares above 1":
        _rewritten(folder, explained=lambda e: e + 1)
    elif damage == "float64":
        _rewritten(folder, vectors=lambda v: v.double())
    elif damage == "no digest":
        _rewritten(folder, metadata={"weights_sha256": "0" * 64})
    elif damage == "analysed beyond samples":
        _rewritten(folder, metadata={"analysed": str(10**30)})
    assert load_directions(folder, model, count=4, samples=512, seed=0) is None
    again = DirectionCache(count=4, samples=512, seed=0).get(model, folder)
    assert torch.equal(again.vectors, found.vectors)  # found again, the same as before


def test_export_and_the_directions_command_save_the_pages_directions(tmp_path, tiny_models):
    from genimg.cli import main
    from genimg.explore.directions import DIRECTIONS_FILE, load_directions

    out = tmp_path / "shipped"
    assert main(["export", "--checkpoint", str(tiny_models["vae"]), "--out", str(out)]) == 0
    page = DirectionCache()  # the Latent tab's settings
    model = load_model(out)[0]
    read = load_directions(out, model, count=page.count, samples=page.samples, seed=page.seed)
    expected = principal_directions(model, count=page.count, samples=page.samples, seed=page.seed)
    assert read is not None and torch.allclose(read.vectors, expected.vectors, atol=1e-5)
    (out / DIRECTIONS_FILE).unlink()
    assert main(["directions", "--checkpoint", str(out), "--threads", "1"]) == 0
    assert load_directions(out, model, count=page.count, samples=page.samples, seed=page.seed) is not None
