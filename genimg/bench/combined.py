"""`python -m genimg bench all`: the explore, train and inference suites and the Train tab's time to digits in one Markdown report."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from genimg.bench.explore import run_explore
from genimg.bench.inference import add_inference_arguments, extra_checkpoints, run_inference_bench
from genimg.bench.measure import Plan, report_main
from genimg.bench.train import run_train_bench
from genimg.config import SHIPPED_DIR
from genimg.data.datasets import mnist_available


def all_sections(plan: Plan, args: argparse.Namespace, progress: Callable[[str], None]) -> list[str]:
    """Explore latency, training images/s, generator inference, then (with real MNIST) the served Train tab."""
    sections = ["```\n" + run_explore(SHIPPED_DIR, args.repeats, with_training=False) + "\n```",
                run_train_bench(plan, progress=progress)]
    progress("generator inference")
    sections.append(run_inference_bench(plan, checkpoints=extra_checkpoints(args)))
    if not plan.synthetic and mnist_available(args.data_root):
        from genimg.bench.page import format_report, page_time_to_digits  # loads Gradio: only when it runs

        progress("the Train tab's time to recognisable digits")
        sections.append(format_report(page_time_to_digits(data_root=args.data_root, budget_seconds=40.0)))
    return sections


def add_all_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--repeats", type=int, default=300, help="explore: calls per handler")
    add_inference_arguments(parser)


def main(argv: list[str]) -> int:
    """`python -m genimg bench all [options]`; the report goes to stdout and to --out."""
    return report_main("all", argv, all_sections, extra_arguments=add_all_arguments,
                       description="every genimg benchmark in one report: explore, train, inference and the "
                                   "Train tab's time to recognisable digits")
