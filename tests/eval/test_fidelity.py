"""Fidelity measures tell copies, fresh images and noise apart: precision/recall on k-NN manifolds, memorisation
against the test images' distances, the classification accuracy score, evaluate's options and progress, the cache."""

import json

import pytest
import torch

from genimg.cli import main
from genimg.config import SHIPPED_DIR, ModelConfig
from genimg.data.datasets import ImageData, load_dataset, make_shapes
from genimg.eval.evaluation_cache import (
    EvaluationError,
    EvaluationOptions,
    cached_evaluation,
    evaluation_key,
)
from genimg.eval.fidelity import (
    MEMORISATION_PERCENTILE,
    FidelityOptions,
    classification_accuracy_score,
    knn_radii,
    memorisation,
    nearest_neighbours,
    precision_recall,
    recogniser_accuracy,
)
from genimg.eval.judge import load_judge
from genimg.eval.metrics import EVALUATION_STAGES, evaluate
from genimg.models import build_model
from genimg.store.checkpoint import save_checkpoint
from tests.helpers import blob_data

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: one thread is quickest and spares the other core

SIZE = 32  # the shipped shapes judge's size: no judge to train here


@pytest.fixture(scope="module")
def shapes_judge():
    """The shipped judge of the built-in shapes (3×32×32)."""
    return SHIPPED_DIR / "shapes-judge"


@pytest.fixture(scope="module")
def shapes_splits():
    """Small shapes splits: 1,500 training and 600 test images (the full sets make each test minutes long)."""
    return (make_shapes(1500, image_size=SIZE, seed=0, split="train"),
            make_shapes(600, image_size=SIZE, seed=0, split="test"))


def gaussian(count: int, seed: int, shift: float = 0.0, dimensions: int = 8) -> torch.Tensor:
    return torch.randn(count, dimensions, generator=torch.Generator().manual_seed(seed)) + shift


def test_knn_radius_is_the_kth_other_point():
    points = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    # Nearest others of 0: 1, 3, 7 → 2nd is 3; of 3: 1, 0, 7 → 2nd is 3; of 7: 3, 1, 0 → 2nd is 6.
    assert knn_radii(points, 2).tolist() == pytest.approx([3.0, 2.0, 3.0, 6.0])
    with pytest.raises(ValueError, match="k = 4"):
        knn_radii(points, 4)


def test_precision_and_recall_separate_realism_from_coverage():
    real = gaussian(1500, seed=0)
    same = precision_recall(real, gaussian(1500, seed=1))
    assert same["precision"] > 0.8 and same["recall"] > 0.8
    far = precision_recall(real, gaussian(1500, seed=2, shift=10.0))
    assert far["precision"] == 0.0 and far["recall"] == 0.0
    # Mode collapse: samples from one half of the real cloud only are realistic but cover half of it.
    fresh = gaussian(6000, seed=3)
    collapsed = precision_recall(real, fresh[fresh[:, 0] > 0][:1500])
    assert collapsed["precision"] > 0.8 and collapsed["recall"] < 0.65


def test_nearest_neighbours_finds_exact_copies_at_distance_zero():
    references = torch.rand(300, 50, generator=torch.Generator().manual_seed(0)) * 10
    chosen = torch.tensor([5, 17, 250, 5])
    distances, indices = nearest_neighbours(references[chosen], references, chunk=3)
    assert indices.tolist() == chosen.tolist() and distances.tolist() == [0.0] * 4


def test_memorisation_scores_copies_near_one_fresh_images_near_the_baseline_and_noise_zero():
    train = make_shapes(3000, image_size=SIZE, seed=0, split="train").images
    test = make_shapes(1200, image_size=SIZE, seed=0, split="test").images
    references, fresh = test[:600], test[600:]
    copies = train[torch.randperm(3000, generator=torch.Generator().manual_seed(1))[:300]]
    copied, pairs = memorisation(copies, train, references, pairs=5)
    assert copied["memorisation_share"] == 1.0 and copied["nearest_training_distance_median"] == 0.0
    assert [pair.distance for pair in pairs] == [0.0] * 5
    assert all(torch.equal(pair.sample, pair.training) and torch.equal(train[pair.training_index], pair.sample)
               for pair in pairs)
    drawn, pairs = memorisation(fresh, train, references, pairs=5)
    assert drawn["memorisation_baseline"] == MEMORISATION_PERCENTILE / 100
    assert drawn["memorisation_share"] < 3 * drawn["memorisation_baseline"]
    assert [pair.distance for pair in pairs] == sorted(pair.distance for pair in pairs)  # closest first
    noise = (torch.rand(300, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(2)) * 255).to(torch.uint8)
    noisy, _ = memorisation(noise, train, references)
    assert noisy["memorisation_share"] == 0.0
    assert noisy["nearest_training_distance_median"] > drawn["nearest_training_distance_median"]
    with pytest.raises(ValueError, match="one shape"):
        memorisation(noise[:, :1], train, references)


def test_cas_of_real_class_images_matches_real_data_and_wrong_classes_score_near_chance():
    # Class-dependent blobs (grayscale 28×28): a recogniser learns them in a few dozen steps.
    train, test = blob_data(600, num_classes=3, seed=0), blob_data(300, num_classes=3, seed=1)
    # A "conditional generator" that returns other real images of the requested class.
    pool = blob_data(600, num_classes=3, seed=2)
    good = classification_accuracy_score(pool.images, pool.labels, train, test, batch_size=32)
    assert good["cas_real_accuracy"] > 0.8
    assert abs(good["cas_accuracy"] - good["cas_real_accuracy"]) < 0.1
    assert good["cas_images"] == 600 and good["cas_ratio"] == pytest.approx(
        good["cas_accuracy"] / good["cas_real_accuracy"])
    # One that draws the next class instead of the requested one teaches a recogniser the wrong names.
    wrong = classification_accuracy_score(pool.images, (pool.labels + 1) % 3, train, test, batch_size=32)
    assert wrong["cas_accuracy"] < 0.2 and wrong["cas_real_accuracy"] == good["cas_real_accuracy"]


def test_a_recogniser_scores_the_same_whatever_the_global_random_state(shapes_splits):
    train, test = shapes_splits  # coloured shapes after 94 steps: far from 100 %, so dropout's draws would show
    torch.manual_seed(1)
    first = recogniser_accuracy(train, test, batch_size=32, epochs=2)
    torch.manual_seed(2)
    assert recogniser_accuracy(train, test, batch_size=32, epochs=2) == first and 0.5 < first < 1.0


def class_copier(train: ImageData, num_classes: int) -> torch.nn.Module:
    """A conditional DCGAN whose generate() returns training images of the requested classes (in [0, 1])."""
    model = build_model(ModelConfig(kind="dcgan", image_size=SIZE, channels=3, num_classes=num_classes,
                                    latent_dim=4, width=8)).eval()
    by_class = [train.images[train.labels == label] for label in range(num_classes)]

    def generate(latents: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        # Which image of the class: from the latent, so each sample is a fixed, different training image.
        picks = (latents[:, 0].abs() * 1e4).long()
        images = [by_class[label][pick % len(by_class[label])] for label, pick in zip(labels.tolist(), picks.tolist())]
        return torch.stack(images).float() / 255

    model.generate = generate
    return model


def test_evaluate_with_every_option_on_a_copying_conditional_model(shapes_judge, shapes_splits):
    judge, _ = load_judge(shapes_judge)
    train, test = shapes_splits
    options = FidelityOptions(precision_recall=True, memorisation=True, cas=True, memorisation_samples=200,
                              memorisation_references=300, pairs=4, cas_images=600, cas_epochs=2, cas_batch_size=32)
    reports = []
    result = evaluate(class_copier(train, 3), "shapes", judge, sample_count=600, fidelity=options,
                      progress=lambda fraction, stage: reports.append((fraction, stage)),
                      test_data=test, train_data=train)
    metrics = result.metrics
    assert metrics["memorisation_share"] == 1.0 and len(result.nearest_pairs) == 4
    assert metrics["precision"] > 0.7 and metrics["recall"] > 0.5
    # CAS ≈ real accuracy is shown on learnable blobs above; 37 steps on coloured shapes teach too little to compare.
    assert metrics["cas_images"] == 600 and 0 <= metrics["cas_accuracy"] <= 1
    assert metrics["cas_ratio"] == pytest.approx(metrics["cas_accuracy"] / metrics["cas_real_accuracy"])
    fractions = [fraction for fraction, _ in reports]
    assert fractions == sorted(fractions) and reports[-1] == (1.0, "done")
    assert {stage for _, stage in reports} == set(EVALUATION_STAGES) - {"likelihood", "steps"}  # not a flow
    assert set(result.stage_seconds) == {"loading", "judging", "precision_recall", "memorisation", "cas"}
    table = result.table()
    assert "precision" in table and "closer to a training image" in table and "classification accuracy" in table


def test_evaluate_without_options_measures_none_of_them_and_noise_has_no_precision(shapes_judge, shapes_splits):
    judge, _ = load_judge(shapes_judge)
    train, test = shapes_splits
    model = build_model(ModelConfig(kind="dcgan", image_size=SIZE, channels=3, latent_dim=4, width=8)).eval()
    plain = evaluate(model, "shapes", judge, sample_count=300, test_data=test, train_data=train)
    assert not {"precision", "memorisation_share", "cas_accuracy"} & set(plain.metrics)
    # An untrained generator draws noise-like images; CAS is asked for but skipped (not conditional).
    options = FidelityOptions(precision_recall=True, cas=True)
    noisy = evaluate(model, "shapes", judge, sample_count=600, fidelity=options, test_data=test, train_data=train)
    assert noisy.metrics["precision"] < 0.05 and "cas_accuracy" not in noisy.metrics


def test_fidelity_options_name_a_bad_value():
    with pytest.raises(ValueError, match="cas_images = 0"):
        FidelityOptions(cas_images=0)


@pytest.fixture()
def shapes_model(tmp_path):
    """An untrained conditional 28×28 shapes DCGAN saved as a checkpoint folder."""
    torch.manual_seed(0)
    config = ModelConfig(kind="dcgan", image_size=SIZE, channels=3, num_classes=3, latent_dim=4, width=8)
    folder = tmp_path / "shapes-cgan"
    save_checkpoint(folder, model_config=config.to_dict(), weights=build_model(config).state_dict(), step=0,
                    dataset="shapes")
    return folder


def test_cached_evaluation_reuses_results_and_leaves_the_model_folder_alone(shapes_model, shapes_judge,
                                                                            shapes_splits, tmp_path):
    train, test = shapes_splits
    cache = tmp_path / "cache"
    before = {path.name: path.read_bytes() for path in shapes_model.iterdir()}
    options = EvaluationOptions(sample_count=200, fidelity=FidelityOptions(memorisation=True, memorisation_samples=20,
                                                                           memorisation_references=40, pairs=3))

    def run(**settings):
        return cached_evaluation(shapes_model, options, cache, judge_dir=shapes_judge, test_data=test,
                                 train_data=train, **settings)

    first = run()
    assert not first.from_cache and len(list(cache.iterdir())) == 1
    reports = []
    again = run(progress=lambda fraction, stage: reports.append((fraction, stage)))
    assert again.from_cache and again.metrics == first.metrics and reports == [(1.0, "done")]
    assert [(pair.distance, pair.training_index) for pair in again.nearest_pairs] == [
        (pair.distance, pair.training_index) for pair in first.nearest_pairs]
    assert all(torch.equal(a.sample, b.sample) and torch.equal(a.training, b.training)
               for a, b in zip(again.nearest_pairs, first.nearest_pairs))
    # A damaged cache file is measured again and replaced.
    (cache_file,) = cache.iterdir()
    cache_file.write_text("{not json")
    repaired = run()
    assert not repaired.from_cache and repaired.metrics == first.metrics and run().from_cache
    assert {path.name: path.read_bytes() for path in shapes_model.iterdir()} == before


def test_the_cache_key_follows_weights_judge_and_options(shapes_judge):
    judge, _ = load_judge(shapes_judge)
    config = ModelConfig(kind="dcgan", image_size=SIZE, channels=3, num_classes=3, latent_dim=4, width=8)
    torch.manual_seed(0)
    model = build_model(config)
    options = EvaluationOptions()
    key = evaluation_key(model, config.to_dict(), "shapes", judge, options)
    assert key == evaluation_key(model, config.to_dict(), "shapes", judge, EvaluationOptions())
    assert key != evaluation_key(model, config.to_dict(), "shapes", judge, EvaluationOptions(sample_count=9_999))
    assert key != evaluation_key(model, config.to_dict(), "shapes", judge,
                                 EvaluationOptions(fidelity=FidelityOptions(cas=True)))
    assert key != evaluation_key(model, config.to_dict(), "shapes", None, options)
    assert key != evaluation_key(model, config.to_dict(), "mnist", judge, options)
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    assert key != evaluation_key(model, config.to_dict(), "shapes", judge, options)


def test_cached_evaluation_refuses_a_judge_for_other_images(tmp_path, shapes_judge):
    config = ModelConfig(kind="dcgan", image_size=28, channels=3, latent_dim=4, width=8)
    folder = tmp_path / "gan28"
    save_checkpoint(folder, model_config=config.to_dict(), weights=build_model(config).state_dict(), step=0,
                    dataset="shapes")
    with pytest.raises(EvaluationError, match="judges 3×32²"):
        cached_evaluation(folder, EvaluationOptions(sample_count=10), tmp_path / "cache", judge_dir=shapes_judge)


def test_eval_command_prints_and_stores_the_fidelity_numbers(shapes_model, shapes_judge, capsys, monkeypatch):
    import genimg.eval.metrics

    # The command's wiring is under test, not the data: the first 600 images of each split keep it short.
    load = genimg.eval.metrics.load_dataset
    monkeypatch.setattr(genimg.eval.metrics, "load_dataset",
                        lambda *args, **settings: load(*args, **{**settings, "limit": 600}))
    arguments = ["eval", "--checkpoint", str(shapes_model), "--judge", str(shapes_judge), "--samples", "300",
                 "--all", "--memorisation-samples", "20", "--memorisation-references", "40", "--cas-images", "300",
                 "--cas-epochs", "1", "--iw-samples", "0"]
    assert main(arguments) == 0
    printed = capsys.readouterr().out
    for label in ("precision", "recall", "closer to a training image", "classification accuracy score"):
        assert label in printed
    metrics = json.loads((shapes_model / "config.json").read_text())["metrics"]
    for name in ("precision", "recall", "memorisation_share", "memorisation_baseline", "cas_accuracy",
                 "cas_real_accuracy", "cas_ratio"):
        assert name in metrics
    assert main(["eval", "--checkpoint", str(shapes_model), "--judge", str(shapes_judge), "--samples", "200",
                 "--no-card"]) == 0
    assert "precision" not in capsys.readouterr().out


def test_mnist_training_images_are_memorised_and_test_images_are_not(shared_data_root):
    train = load_dataset("mnist", root=shared_data_root, split="train")
    test = load_dataset("mnist", root=shared_data_root, split="test")
    copied, pairs = memorisation(train.images[:200], train.images, test.images[:500], pairs=3)
    assert copied["memorisation_share"] == 1.0 and [pair.training_index for pair in pairs] == [
        pair.sample_index for pair in pairs]
    fresh, _ = memorisation(test.images[500:900], train.images, test.images[:500])
    assert fresh["memorisation_share"] < 3 * fresh["memorisation_baseline"]


def test_eval_command_refuses_cas_for_a_model_without_classes(tmp_path, shapes_judge, capsys):
    config = ModelConfig(kind="dcgan", image_size=SIZE, channels=3, latent_dim=4, width=8)
    folder = tmp_path / "unconditional"
    save_checkpoint(folder, model_config=config.to_dict(), weights=build_model(config).state_dict(), step=0,
                    dataset="shapes")
    assert main(["eval", "--checkpoint", str(folder), "--judge", str(shapes_judge), "--cas"]) == 2
    assert "needs a class-conditional model" in capsys.readouterr().err


def test_real_images_are_judged_once_per_judge_and_content(monkeypatch):
    """The test and training features every evaluation needs are computed once per judge and images."""
    from genimg.eval import metrics
    from genimg.eval.judge import Judge

    calls = []
    real_predict = metrics.predict
    monkeypatch.setattr(metrics, "predict", lambda judge, images: calls.append(len(images)) or real_predict(judge, images))
    torch.manual_seed(0)
    judge = Judge(channels=1, image_size=28, num_classes=10, width=4).eval()
    images = torch.randint(0, 256, (12, 1, 28, 28), dtype=torch.uint8)
    first = metrics.judged_real_images(judge, images)
    again = metrics.judged_real_images(judge, images.clone())  # same content, another tensor
    assert calls == [12] and torch.equal(first[1], again[1])
    changed = images.clone()
    changed[0, 0, 0, 0] ^= 1
    metrics.judged_real_images(judge, changed)  # one pixel differs: judged anew
    other = Judge(channels=1, image_size=28, num_classes=10, width=4).eval()
    metrics.judged_real_images(other, images)  # another judge: judged anew
    assert calls == [12, 12, 12]


def test_a_flows_evaluation_says_how_it_drew_and_judges_it_at_every_step_count(shapes_judge, shapes_splits,
                                                                               monkeypatch):
    from genimg.eval import metrics as metrics_module

    assert metrics_module.steps_curve_samples(10_000) == 1_000 and metrics_module.steps_curve_samples(500) == 100
    judge, _ = load_judge(shapes_judge)
    train, test = shapes_splits
    torch.manual_seed(0)
    flow = build_model(ModelConfig(kind="flow", image_size=SIZE, channels=3, num_classes=3,
                                   latent_dim=3 * SIZE * SIZE, width=8)).eval()
    reports = []
    result = evaluate(flow, "shapes", judge, sample_count=1_000, test_data=test, train_data=train,
                      progress=lambda fraction, stage: reports.append(stage))
    metrics = result.metrics
    assert (metrics["sampling_steps"], metrics["network_calls"], metrics["sampling_guidance"]) == (20, 80, 1.5)
    assert [row["steps"] for row in result.steps_curve] == [1, 2, 5, 10, 20, 50] and "steps" in reports
    assert all(0 <= row["mean_confidence"] <= 1 and 0 <= row["conditional_accuracy"] <= 1
               and row["seconds_per_image"] > 0 for row in result.steps_curve)
    assert all(row["samples"] == 100 for row in result.steps_curve)  # a tenth of the samples
    # the same (first) latents at the flow's own 20 steps: the curve's row is the main judgement of those samples
    at_twenty = next(row for row in result.steps_curve if row["steps"] == 20)
    first = evaluate(flow, "shapes", judge, sample_count=100, test_data=test, train_data=train)
    assert at_twenty["mean_confidence"] == pytest.approx(first.metrics["mean_confidence"], abs=1e-4)
    assert "at 50 ODE steps" in result.table()
