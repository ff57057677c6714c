"""The generator inference benchmark on tiny models: FLOPs, latency and the fraction of the measured peak."""

from __future__ import annotations

from genimg.bench.inference import run_inference_bench
from genimg.bench.measure import Plan, tiny_bench_models


def test_inference_bench_reports_flops_and_peak():
    plan = Plan(models=tiny_bench_models(), seconds=0.2, warmup_steps=2, threads=1, device="cpu", data_root=None,
                synthetic=True, levers=False, compile_timeout=1.0, loader_workers=0)
    report = run_inference_bench(plan, isolate=False)
    assert "Measured peak in this run" in report, report
    rows = {row[0]: row for row in ([cell.strip() for cell in line.strip("|").split("|")]
                                    for line in report.splitlines() if line.startswith("| "))}
    dcgan = rows["tiny DCGAN 28×28"]
    assert float(dcgan[2]) > 0  # MFLOP per image, counted by FlopCounterMode
    assert float(dcgan[3]) > 0  # batch-1 latency in ms
    assert dcgan[-1].endswith("%")


# ------------------------------------------------------------------------------------------- flows: time against steps
def cells(report: str, heading: str) -> list[list[str]]:
    """The rows of the Markdown table that follows the line starting with `heading` (header and |---| left out)."""
    lines = report.splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(heading))
    table = []
    for line in lines[start + 1:]:
        if line.startswith("#"):
            break
        if line.startswith("| "):
            table.append([cell.strip() for cell in line.strip("|").split("|")])
    return table[1:]  # the |---| line does not start with "| "


def test_a_flow_gets_a_table_of_sampling_time_against_ode_steps(tmp_path):
    """A flow checkpoint passed to the bench gets one row per (steps, solver) with its network evaluations per
    image; a model that draws in one pass gets no such table. Timings are only checked to be positive numbers."""
    import itertools

    from genimg.bench.inference import SMOKE_ODE_STEPS, ode_section_heading
    from genimg.models.flow import SOLVERS, Sampling
    from tests.kind_contract import save_tiny_checkpoint

    flow = save_tiny_checkpoint("flow", tmp_path / "tiny-cflow", num_classes=3)
    plan = Plan(models={"tiny-dcgan": tiny_bench_models()["tiny-dcgan"]}, seconds=0.2, warmup_steps=2, threads=1,
                device="cpu", data_root=None, synthetic=True, levers=False, compile_timeout=1.0, loader_workers=0)
    report = run_inference_bench(plan, isolate=False, checkpoints=[flow])
    assert report.count("#### ") == 1, report  # the flow's steps table; none for the DCGAN
    assert Sampling().guidance != 1  # a conditional flow's own guidance, which the bench draws with, doubles its calls
    rows = cells(report, ode_section_heading("tiny-cflow"))
    assert [(int(row[0]), row[1]) for row in rows] == list(itertools.product(SMOKE_ODE_STEPS, SOLVERS)), rows
    for steps, solver, calls, milliseconds, images_per_second in rows:
        assert int(calls) == int(steps) * (2 if solver == "heun" else 1) * 2, (steps, solver, calls)
        assert float(milliseconds) > 0 and float(images_per_second.replace(",", "")) > 0
    # The flow also gets the table every generator gets, drawn the way it draws by default.
    names = [line.strip("|").split("|")[0].strip() for line in report.splitlines() if line.startswith("| tiny")]
    assert names[0] == "tiny DCGAN 28×28" and len(names) == 2, names
    own = Sampling()
    assert names[1].startswith("tiny-cflow (") and f"{own.steps} {own.solver.capitalize()} steps" in names[1], names


def test_guidance_doubles_the_network_evaluations_of_a_conditional_flow_only():
    from genimg.bench.inference import network_evaluations
    from genimg.config import ModelConfig
    from genimg.models.flow import Sampling

    conditional, unconditional = (ModelConfig(kind="flow", latent_dim=784, num_classes=classes) for classes in (10, 0))
    for steps, solver in ((1, "euler"), (7, "heun")):
        calls = Sampling(steps=steps, solver=solver).network_calls
        assert calls == steps * (2 if solver == "heun" else 1)
        assert network_evaluations(Sampling(steps=steps, solver=solver, guidance=2.0), conditional) == 2 * calls
        assert network_evaluations(Sampling(steps=steps, solver=solver, guidance=1.0), conditional) == calls
        assert network_evaluations(Sampling(steps=steps, solver=solver, guidance=2.0), unconditional) == calls


def test_the_flows_measured_are_the_ones_found_or_named(tmp_path, capsys):
    """`--models` is searched for flows (a full run only); `--checkpoint` adds any checkpoint; a folder that is not
    one is refused by name."""
    import argparse

    import pytest

    from genimg.bench.inference import add_inference_arguments, extra_checkpoints
    from genimg.bench.measure import add_arguments
    from tests.kind_contract import save_tiny_checkpoint

    folder = tmp_path / "models"
    flow = save_tiny_checkpoint("flow", folder / "tiny-flow")
    save_tiny_checkpoint("dcgan", folder / "tiny-dcgan")
    (folder / "notes").mkdir()  # not a checkpoint: passed over
    named = save_tiny_checkpoint("dcgan", tmp_path / "elsewhere-dcgan")

    def parsed(*argv: str) -> argparse.Namespace:
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        add_inference_arguments(parser)
        return parser.parse_args(list(argv))

    assert extra_checkpoints(parsed("--models", str(folder))) == [flow.resolve()]
    assert extra_checkpoints(parsed("--models", str(folder), "--checkpoint", str(named))) == [flow.resolve(),
                                                                                              named.resolve()]
    assert extra_checkpoints(parsed("--models", str(folder), "--quick")) == []  # a smoke run: only what is named
    assert extra_checkpoints(parsed("--models", str(tmp_path / "nowhere"))) == []
    with pytest.raises(SystemExit):
        parsed("--checkpoint", str(folder / "notes"))
    assert "notes" in capsys.readouterr().err
