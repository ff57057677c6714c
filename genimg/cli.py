"""Command line: `python -m genimg train | sample ...`; bad arguments get a message, never a traceback."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from genimg.config import SHIPPED_DIR, ConfigError, TrainConfig
from genimg.models import registry
from genimg.recipes import (
    add_recipe_options,
    non_negative_int,
    positive_int,
    train_config_from_options,
)

if TYPE_CHECKING:  # imported where used, so that `python -m genimg --help` stays quick
    from genimg.data.datasets import ImageData
    from genimg.training.distributed import Ranks

# The sample grid a folder ships (samples.png, about 20 KB) is copied by export; anything larger is not genimg's.
MAX_SAMPLES_BYTES = 16 * 1024 * 1024
# Test images the IWAE bound scores by default for a model trained on grey pixels (minutes on a CPU at k = 128).
DEFAULT_IWAE_IMAGES = 2_000


class UsageError(Exception):
    """A command-line value that parses but makes no sense; printed as `genimg: error: ...`."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m genimg", description="genimg: train, sample and study GANs and VAEs.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="{train,sample,eval,export,train-judge,bench}")

    train = commands.add_parser("train", help="train a model and write checkpoints",
                                description="Train a GAN or VAE; prints step, losses and images/s.")
    add_recipe_options(train)
    train.add_argument("--resume", default=None, help="checkpoint folder to continue; --steps is the new total "
                                                      "(and --lr-decay-from may start annealing it)")
    train.add_argument("--quiet", action="store_true", help="no progress bar; one line per checkpoint")
    train.add_argument("--threads", type=positive_int, default=None,
                       help="CPU threads for PyTorch (default: PyTorch's choice, one per core)")

    sample = commands.add_parser("sample", help="write a grid of samples from a checkpoint",
                                 description="Write a PNG grid of samples from a trained checkpoint.")
    sample.add_argument("--checkpoint", required=True, help="checkpoint folder")
    sample.add_argument("--seed", type=non_negative_int, default=0)
    sample.add_argument("--n", type=positive_int, default=64, help="number of samples (at most 1024)")
    sample.add_argument("--label", type=non_negative_int, default=None,
                        help="class for a conditional model (default: one class per column)")
    sample.add_argument("--scale", type=positive_int, default=2, help="nearest-neighbour upscaling (default 2)")
    sample.add_argument("--device", default="auto")
    sample.add_argument("--out", required=True, help="PNG file to write")

    evaluate = commands.add_parser("eval", help="measure a checkpoint's quality and write its model card",
                                   description="Classifier FD, confidence, class shares and conditional accuracy "
                                               "for generators; test −ELBO, an IWAE bound and active dimensions "
                                               "for VAEs. Writes the numbers into config.json and README.md.")
    evaluate.add_argument("--checkpoint", required=True)
    evaluate.add_argument("--judge", default=None,
                          help="judge classifier folder (default: checkpoints/<dataset>-judge when present)")
    evaluate.add_argument("--data-root", default=None)
    evaluate.add_argument("--samples", type=positive_int, default=10_000, help="generated samples (default 10000)")
    evaluate.add_argument("--seed", type=non_negative_int, default=0)
    evaluate.add_argument("--iwae-samples", "--iw-samples", dest="iw_samples", type=non_negative_int, default=128,
                          help="importance samples k per test image for the IWAE bound (default 128; 0 skips it; "
                               "k = 1000 is the binarised-MNIST papers' setting, decoded in bounded chunks)")
    evaluate.add_argument("--iwae-images", "--iw-images", dest="iw_images", type=positive_int, default=None,
                          help="first N test images for the IWAE bound (default: the whole test set for a model "
                               "trained with --binarise, else 2000)")
    evaluate.add_argument("--no-card", action="store_true", help="print only; leave the folder unchanged")
    evaluate.add_argument("--threads", type=positive_int, default=None)
    fidelity = evaluate.add_argument_group(
        "fidelity", "measures beyond FD, off by default (seconds for mnist-cdcgan on 2 CPU cores in brackets)")
    fidelity.add_argument("--precision-recall", action="store_true",
                          help="precision and recall of the samples on k-NN manifolds of judge features (~5 s)")
    fidelity.add_argument("--memorisation", action="store_true",
                          help="nearest training image of each sample, against test images' distances (~20 s)")
    fidelity.add_argument("--cas", action="store_true",
                          help="classification accuracy score: a recogniser trained on samples only, tested on "
                               "real images, beside one trained on real images (conditional models; ~2 min)")
    fidelity.add_argument("--all", action="store_true", help="all three")
    fidelity.add_argument("--neighbours", type=positive_int, default=3, help="k of the k-NN manifolds (default 3)")
    fidelity.add_argument("--memorisation-samples", type=positive_int, default=2_000,
                          help="samples searched against every training image (default 2000)")
    fidelity.add_argument("--memorisation-references", type=positive_int, default=2_000,
                          help="test images whose distances to the training images set the reference (default 2000)")
    fidelity.add_argument("--cas-images", type=positive_int, default=10_000,
                          help="generated (and real) images each recogniser trains on (default 10000)")
    fidelity.add_argument("--cas-epochs", type=positive_int, default=1, help="recogniser epochs (default 1)")

    export = commands.add_parser("export", help="copy a checkpoint without its optimiser state (for shipping), with "
                                 "its principal directions")
    export.add_argument("--checkpoint", required=True)
    export.add_argument("--out", required=True)

    directions = commands.add_parser(
        "directions", help="find a checkpoint's principal directions and save them in its folder, so that the "
                           "page's Latent tab reads them instead of finding them (a flow takes seconds)")
    directions.add_argument("--checkpoint", required=True)
    directions.add_argument("--threads", type=positive_int, default=None)

    judge = commands.add_parser("train-judge", help="train the classifier that judges generators of a dataset")
    judge.add_argument("--dataset", default="mnist")
    judge.add_argument("--data-root", default=None)
    judge.add_argument("--epochs", type=positive_int, default=3)
    judge.add_argument("--seed", type=non_negative_int, default=0)
    judge.add_argument("--out", required=True)
    judge.add_argument("--threads", type=positive_int, default=None)
    return parser


def _format_losses(losses: dict[str, float]) -> str:
    return " ".join(f"{name} {value:.4g}" for name, value in losses.items())


def command_train(args: argparse.Namespace) -> int:
    from genimg.store.checkpoint import load_checkpoint
    from genimg.training import distributed

    if args.out is None and args.resume is None:
        raise UsageError("--out is required: the checkpoint folder to write (for example checkpoints/my-dcgan)")
    if args.resume is not None:
        # A resumed run keeps its own settings; the command line may change steps, out and device.
        saved = load_checkpoint(args.resume)
        training = dict(saved.config.get("training") or {})
        kind = registry.get(saved.model_config.get("kind"))
        training.update(steps=args.steps or kind.recipe.steps, out=args.out or args.resume, device=args.device)
        if args.max_seconds is not None:
            training["max_seconds"] = args.max_seconds
        if args.lr_decay_from is not None:  # annealing the rest of a run: from this step to the new --steps
            training["lr_decay_from"] = args.lr_decay_from
        if args.data_root is not None:  # saved configs keep no absolute data root (see save_checkpoint)
            training["data_root"] = args.data_root
        config = TrainConfig.from_dict(training)
        data = None
    else:
        config, data = train_config_from_options(args)
        if Path(config.out).exists() and any(Path(config.out).iterdir()):
            raise UsageError(f"--out {config.out}: the folder exists and is not empty; choose a new folder "
                             "or continue it with --resume")

    _set_threads(args)
    if distributed.launched_by_torchrun():
        # One process of several started by torchrun: join the others (after every rank has checked its
        # arguments above, so none of them has written into --out yet) and leave the group at the end.
        with distributed.session(distributed.device_for_rank(config.device)) as ranks:
            return _show_training(args, config, data, ranks)
    return _show_training(args, config, data, distributed.SINGLE)


def _show_training(args: argparse.Namespace, config: TrainConfig, data: ImageData | None, ranks: Ranks) -> int:
    """Train and show the events; under torchrun only rank 0 prints, the other ranks train silently."""
    import torch
    from tqdm import tqdm

    from genimg.training import distributed
    from genimg.training.engine import (
        CheckpointSaved,
        Diverged,
        Finished,
        Progress,
        Started,
        Stopped,
        train,
    )

    bar = None
    device = None
    try:
        for event in train(config, data=data, resume=args.resume):
            if isinstance(event, Started):
                device = torch.device(event.device)
            if isinstance(event, (Finished, Stopped)) and ranks.distributed:
                # Every rank ends here at the same step: rank 0 reports each rank's last step.
                steps = distributed.gather_ints(ranks, event.step, device)
                if ranks.is_main:
                    print(f"genimg: {ranks.world_size} ranks ({ranks.backend}) trained to steps "
                          f"{', '.join(map(str, steps))}", flush=True)
            if not ranks.is_main:
                if isinstance(event, Diverged):
                    return 3
                continue
            if isinstance(event, Started):
                where = (f", {event.world_size} processes ({ranks.backend}), {config.batch_size // event.world_size} "
                         f"images each per step" if event.world_size > 1 else "")
                print(f"genimg: training {event.config.model.kind} ({event.parameters:,} parameters) on "
                      f"{event.dataset} ({event.dataset_size:,} images), device {event.device}, "
                      f"precision {event.precision}" + where
                      + (f", resumed at step {event.step}" if event.resumed_from else ""),
                      flush=True)
                if not args.quiet:
                    bar = tqdm(total=event.total_steps, initial=event.step, unit="step", dynamic_ncols=True,
                               file=sys.stdout)
            elif isinstance(event, Progress):
                if bar is not None:
                    bar.update(event.step - bar.n)
                    bar.set_postfix_str(f"{_format_losses(event.losses)} | {event.images_per_second:,.0f} img/s")
                elif args.quiet and event.step % config.checkpoint_every == 0:
                    print(f"step {event.step}: {_format_losses(event.losses)} | {event.images_per_second:,.0f} img/s",
                          flush=True)
            elif isinstance(event, CheckpointSaved) and bar is not None:
                bar.write(f"step {event.step}: checkpoint saved to {event.path}")
            elif isinstance(event, (Finished, Stopped)):
                if bar is not None:
                    bar.close()
                    bar = None
                how = "finished" if isinstance(event, Finished) else f"stopped ({event.reason})"
                print(f"genimg: {how} at step {event.step} after {event.elapsed_seconds:.1f} s; "
                      f"checkpoint: {event.path}", flush=True)
            elif isinstance(event, Diverged):
                if bar is not None:
                    bar.close()
                    bar = None
                print(f"genimg: training diverged at step {event.step}: the {event.loss_name} loss became "
                      f"{event.value}. Try a lower learning rate or spectral norm. Last good checkpoint: "
                      f"{event.path or 'none saved yet'}", file=sys.stderr)
                return 3
    finally:
        if bar is not None:
            bar.close()
    return 0


def command_sample(args: argparse.Namespace) -> int:
    import torch

    from genimg.data.imaging import grid_columns, grid_image, png_bytes, upscale
    from genimg.models.latent import class_labels, seeded_latents
    from genimg.models.loading import load_model, resolve_device

    if args.n > 1024:
        raise UsageError(f"--n {args.n}: at most 1024 samples fit one grid")
    if args.scale > 16:
        raise UsageError(f"--scale {args.scale}: choose 1 to 16")
    device = resolve_device(args.device)
    model, model_config, _ = load_model(args.checkpoint, device)
    classes = model_config.num_classes
    if args.label is not None:
        if not classes:
            raise UsageError(f"--label {args.label}: this model is not class-conditional")
        if args.label >= classes:
            raise UsageError(f"--label {args.label}: this model knows classes 0 to {classes - 1}")
        labels = torch.full((args.n,), args.label, dtype=torch.long, device=device)
        columns = grid_columns(args.n)
    else:
        labels = class_labels(args.n, classes, device)
        columns = grid_columns(args.n, classes)
    latents = seeded_latents(args.seed, args.n, model_config.latent_dim, device)
    with torch.inference_mode():
        images = model.generate(latents, labels)
    image = upscale(grid_image(images, columns=columns), args.scale)
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out {args.out}: the grid is written as PNG; give a file name ending in .png")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(png_bytes(image))
    print(f"genimg: wrote {args.n} samples (seed {args.seed}) to {out}")
    return 0


def _set_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None) is not None:
        import torch

        torch.set_num_threads(args.threads)


def command_eval(args: argparse.Namespace) -> int:
    from genimg.data.imaging import grid_columns, grid_image, png_bytes
    from genimg.eval.cards import write_card
    from genimg.eval.fidelity import FidelityOptions
    from genimg.eval.judge import load_judge
    from genimg.eval.metrics import evaluate, generate_samples
    from genimg.models.loading import load_model
    from genimg.store.checkpoint import update_metrics, write_file_atomic

    _set_threads(args)
    model, model_config, config = load_model(args.checkpoint, "cpu")
    dataset = config.get("dataset")
    if not dataset:
        raise UsageError(f"--checkpoint {args.checkpoint}: its config.json names no dataset to evaluate against")
    judge_path = Path(args.judge) if args.judge else SHIPPED_DIR / f"{dataset}-judge"
    judge = None
    if args.judge or judge_path.exists():
        judge, _judge_config = load_judge(judge_path)
        if (judge.channels, judge.image_size) != (model_config.channels, model_config.image_size):
            raise UsageError(f"--judge {judge_path}: it judges {judge.channels}×{judge.image_size}² images, the "
                             f"model makes {model_config.channels}×{model_config.image_size}²")
    elif not registry.get(model_config.kind).capabilities.encoder:  # nothing to measure without a judge
        raise UsageError(f"no judge classifier for {dataset!r} at {judge_path}; train one with "
                         f"`python -m genimg train-judge --dataset {dataset} --out {judge_path}`")
    fidelity = FidelityOptions(precision_recall=args.precision_recall or args.all,
                               memorisation=args.memorisation or args.all, cas=args.cas or args.all,
                               neighbours=args.neighbours, memorisation_samples=args.memorisation_samples,
                               memorisation_references=args.memorisation_references,
                               cas_images=args.cas_images, cas_epochs=args.cas_epochs)
    if fidelity.any and judge is None:
        raise UsageError(f"precision/recall, memorisation and CAS need a judge classifier for {dataset!r}; train "
                         f"one with `python -m genimg train-judge --dataset {dataset} --out {judge_path}`")
    if fidelity.cas and not args.all and not model_config.num_classes:
        raise UsageError("--cas: the classification accuracy score needs a class-conditional model")
    binarised = bool((config.get("training") or {}).get("binarise", False))
    # A binarised model's bound is the papers' number: over the whole test set unless a subset is asked for.
    iwae_images = args.iw_images if args.iw_images is not None else (None if binarised else DEFAULT_IWAE_IMAGES)
    result = evaluate(model, dataset, judge, data_root=args.data_root, sample_count=args.samples, seed=args.seed,
                      iwae_samples=args.iw_samples if registry.get(model_config.kind).capabilities.encoder else 0,
                      iwae_images=iwae_images, image_size=model_config.image_size,
                      channels=model_config.channels, fidelity=fidelity, binarised=binarised)
    table = result.table()
    print(f"genimg eval: {args.checkpoint} (step {config.get('step')}, {dataset}"
          f"{', binarised' if binarised else ''}, seed {args.seed}, {result.seconds:.0f} s)")
    print(table)
    if fidelity.cas and not model_config.num_classes:
        print("classification accuracy score: not measured (it needs a class-conditional model)")
    if result.nearest_pairs:
        closest = ", ".join(f"#{pair.sample_index} ↔ #{pair.training_index} ({pair.distance:.2f})"
                            for pair in result.nearest_pairs[:5])
        print(f"closest samples to training images (sample ↔ training image, pixel distance): {closest}")
    if result.stage_seconds:
        print("seconds: " + ", ".join(f"{stage} {seconds:.1f}" for stage, seconds in result.stage_seconds.items()))
    if not args.no_card:
        metrics = {name: (round(value, 5) if isinstance(value, float) else value)
                   for name, value in result.metrics.items()}
        if result.class_shares:
            metrics["class_shares"] = [round(share, 5) for share in result.class_shares]
        if result.steps_curve:
            metrics["steps_curve"] = result.steps_curve
        update_metrics(args.checkpoint, metrics)
        images, _ = generate_samples(model, grid_columns(64, model_config.num_classes) * 8, seed=0)
        write_file_atomic(Path(args.checkpoint) / "samples.png",
                          png_bytes(grid_image(images, columns=grid_columns(64, model_config.num_classes))))
        shown = Path(args.checkpoint)
        with_root = f" --data-root {shown_data_root(args.data_root)}" if args.data_root else ""
        command = f"python -m genimg eval --checkpoint checkpoints/{shown.name}{with_root}"
        if args.all:
            command += " --all"
        else:
            command += "".join(" " + flag for flag, asked in (("--precision-recall", args.precision_recall),
                                                        ("--memorisation", args.memorisation),
                                                        ("--cas", args.cas)) if asked)
        if args.seed:
            command += f" --seed {args.seed}"
        if args.iw_samples != 128:
            command += f" --iwae-samples {args.iw_samples}"
        if args.iw_images is not None:
            command += f" --iwae-images {args.iw_images}"
        write_card(args.checkpoint, table, command, result.seconds)
        print(f"genimg eval: wrote the numbers into {shown / 'config.json'} and {shown / 'README.md'}")
    return 0


def shown_data_root(data_root: str) -> str:
    """The data folder as a model card may show it: relative to the current folder when it is near (a card carries
    no server's absolute paths), else the placeholder DATA."""
    relative = os.path.relpath(os.path.abspath(data_root))
    return relative if relative.split(os.sep).count("..") <= 2 else "DATA"


def _save_directions(folder: str | Path) -> str:
    """Find the principal directions of the model in `folder` as the page's Latent tab does and save them there;
    → a few words saying what was written."""
    from genimg.explore.directions import DirectionCache, principal_directions, save_directions
    from genimg.models.loading import load_model

    model, _, _ = load_model(folder)
    settings = DirectionCache()  # the page's own count, samples and seed: the file is only read for those
    try:
        found = principal_directions(model, count=settings.count, samples=settings.samples, seed=settings.seed)
    except ValueError as error:  # a model whose first features do not vary: nothing to save, nothing to read
        return f"no principal directions: {error}"
    save_directions(folder, model, found, count=settings.count, samples=settings.samples, seed=settings.seed)
    return f"{len(found)} principal directions"


def command_directions(args: argparse.Namespace) -> int:
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    print(f"genimg: {args.checkpoint}: {_save_directions(args.checkpoint)} saved")
    return 0


def command_export(args: argparse.Namespace) -> int:
    from genimg.store.checkpoint import (
        load_checkpoint,
        read_model_file,
        save_checkpoint,
        write_file_atomic,
    )

    source = load_checkpoint(args.checkpoint)
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        raise UsageError(f"--out {args.out}: the folder exists and is not empty; choose a new folder")
    reserved = {"format_version", "genimg_version", "model", "training", "training_state", "weights", "dataset",
                "step", "metrics", "created"}
    extra = {key: value for key, value in source.config.items() if key not in reserved}
    save_checkpoint(out, model_config=source.model_config, weights=source.weights, step=source.step,
                    training=source.config.get("training"), dataset=source.config.get("dataset"),
                    metrics=source.metrics, extra=extra)
    try:  # read as every file of a model folder is: no link followed, capped in size
        samples = read_model_file(Path(args.checkpoint) / "samples.png", max_bytes=MAX_SAMPLES_BYTES,
                                  what="sample grid")
    except FileNotFoundError:
        samples = None
    if samples is not None:
        write_file_atomic(out / "samples.png", samples)
    found = _save_directions(out)
    print(f"genimg: exported step {source.step} of {args.checkpoint} to {out} (weights only, {found})")
    return 0


def command_train_judge(args: argparse.Namespace) -> int:
    from genimg.data.datasets import load_dataset
    from genimg.eval.judge import train_judge

    _set_threads(args)
    train_data = load_dataset(args.dataset, root=args.data_root, split="train")
    test_data = load_dataset(args.dataset, root=args.data_root, split="test")
    if train_data.labels is None:
        raise UsageError(f"--dataset {args.dataset}: a judge needs class labels, and this dataset has none")
    for progress in train_judge(train_data, test_data, epochs=args.epochs, seed=args.seed, out=args.out):
        if progress.test_accuracy is not None:
            print(f"epoch {progress.epoch}: loss {progress.loss:.4f}, test accuracy {progress.test_accuracy:.4%} "
                  f"({progress.seconds:.0f} s)", flush=True)
    print(f"genimg: judge saved to {args.out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        from genimg.bench.main import main as bench_main

        return bench_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    from genimg.data.datasets import DatasetError
    from genimg.store.checkpoint import CheckpointError

    handlers = {"train": command_train, "sample": command_sample, "eval": command_eval, "export": command_export,
                "train-judge": command_train_judge, "directions": command_directions}
    try:
        return handlers[args.command](args)
    except (UsageError, ConfigError, DatasetError, CheckpointError) as error:
        # One line, whatever the message holds (a shell script reads stderr line by line).
        print(f"genimg {args.command}: error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genimg: interrupted; the last checkpoint is kept", file=sys.stderr)
        return 130
    except OSError as error:
        print(f"genimg {args.command}: error: {error}", file=sys.stderr)
        return 1
