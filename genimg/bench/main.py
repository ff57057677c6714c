"""`python -m genimg bench <suite> [options]`: routes each suite to the `main` of the module that runs it.

Each suite's module is imported only when it is asked for, so `bench faults` does not load Gradio
(page-digits does) and `bench explore` does not load the training benchmark.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

# Every suite, with what it measures (the router's help lists them).
SUITES = {
    "explore": "the Explore handlers' latency, p50 / p95 (genimg/bench/explore.py)",
    "train": "training images/s against a PyTorch-examples baseline, and levers (genimg/bench/train.py)",
    "inference": "generator latency, images/s, FLOPs and % of peak (genimg/bench/inference.py)",
    "all": "explore + train + inference + the Train tab's time to digits in one report (genimg/bench/combined.py)",
    "digits": "seconds until a model from scratch draws recognisable digits (genimg/bench/digits.py)",
    "page-digits": "the same, from pressing Start in the served Train tab (genimg/bench/page.py)",
    "load": "simulated users on the Explore handlers, with memory over time (genimg/bench/load.py)",
    "faults": "SIGKILL mid-save, a full disk mid-save, a diverging run (genimg/bench/faults.py)",
    "playground": "frames/s the Playground tab delivers to a real browser, per family (genimg/bench/playground.py)",
}


def suite_main(suite: str) -> Callable[[list[str]], int]:
    """The `main(options)` of the module that runs `suite` (a SUITES name), imported now."""
    if suite == "explore":
        from genimg.bench.explore import main
    elif suite == "train":
        from genimg.bench.train import main
    elif suite == "inference":
        from genimg.bench.inference import main
    elif suite == "all":
        from genimg.bench.combined import main
    elif suite == "digits":
        from genimg.bench.digits import main
    elif suite == "page-digits":
        from genimg.bench.page import main
    elif suite == "load":
        from genimg.bench.load import main
    elif suite == "faults":
        from genimg.bench.faults import main
    elif suite == "playground":
        from genimg.bench.playground import main
    else:
        raise ValueError(f"bench suite {suite!r} is not one of {', '.join(SUITES)}")
    return main


def usage() -> str:
    width = max(map(len, SUITES))
    return "\n".join(["usage: python -m genimg bench <suite> [options]   (<suite> --help for its options)", "",
                      "suites:", *(f"  {name:{width}s}  {what}" for name, what in SUITES.items())])


def main(argv: list[str] | None = None) -> int:
    """Run `argv[0]`'s suite with the options after it; returns the suite's exit status (2 for a bad suite name)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments:
        print(f"{usage()}\n\npython -m genimg bench: error: name a suite", file=sys.stderr)
        return 2
    if arguments[0] in ("-h", "--help"):
        print(usage())
        return 0
    suite, options = arguments[0], arguments[1:]
    if suite not in SUITES:
        print(f"{usage()}\n\npython -m genimg bench: error: unknown suite {suite!r}; choose one of "
              f"{', '.join(SUITES)}", file=sys.stderr)
        return 2
    return suite_main(suite)(options)
